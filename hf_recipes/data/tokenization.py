"""Train tokenizers on a corpus with 🤗 tokenizers, or load existing ones.

Five kinds, each set up as the model family that made it famous:

- `"wordpiece"`: BERT. BertNormalizer's cleanup, lowercasing by default (as bert-base-uncased; accents are
  kept unless `strip_accents`), BertPreTokenizer, `##`
  continuation pieces, [PAD] [UNK] [CLS] [SEP] [MASK], and a post-processor that builds
  `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]` with token_type_ids 0 for A and 1 for B.
- `"bpe"`: GPT-2's byte-level BPE. Every string is encodable (no unknown tokens) and decodes back exactly.
  `<|endoftext|>` is bos, eos and unk, as in GPT-2; a separate `<|pad|>` is the pad token, so padding can
  be told apart from the end-of-document token (labels at EOS are then never dropped as padding).
- `"char"`: one token per character seen in the corpus (sorted, as nanoGPT's shakespeare_char), plus
  `<|endoftext|>` (bos/eos), `<|pad|>` and `<|unk|>`; decoding gives the text back exactly.
- `"unigram"`: SentencePiece-style Unigram LM over Metaspace (`▁`) pieces, with ALBERT's special tokens
  (`<pad>`, `<unk>`, [CLS] = bos, [SEP] = eos, [MASK]) and BERT's pair template, so it serves both BERT-style
  and GPT-style models.
- `"word"`: word2vec's, FastText's and GloVe's vocabulary of whole words: NFC (lowercasing if asked), split
  into runs of word characters and of punctuation, the words seen `min_frequency` times (word2vec's
  min_count), the most frequent first; `<pad>` and `<unk>`. `word_tokenizer` builds one for a given word list
  (the words of an imported vector file).

Every kind normalises text to NFC: Korean, Japanese, Chinese, Arabic and emoji come back from
decode(encode(text)) as they went in (WordPiece: up to its spacing around punctuation and unknown pieces).

Training the same kind on the same corpus gives the same tokenizer, byte for byte, for "wordpiece" (see
`_wordpiece_tokenizer`), "bpe", "char" and "word". "unigram" does not quite: 🤗 tokenizers' Unigram trainer learns the
same pieces every time, but their scores differ in the last digits and ties between pieces come out in a
different order, so a few ids move between runs; save the trained tokenizer (every job does) to reuse it.

Every tokenizer is a `PreTrainedTokenizerFast` that `save_pretrained` writes and `AutoTokenizer` reads back
unchanged; `special_token_ids` gives the ids to write into a model config.

For seq2seq models, `append_eos` makes a tokenizer end every sequence with its end-of-sequence token (so a
decoder trained on the targets learns to stop), and `seq2seq_tokenizer` joins a source and a target tokenizer
into one with two vocabularies (`tokenization_seq2seq.HfrSeq2SeqTokenizer`).
"""

from collections.abc import Iterable, Mapping, Sequence

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from ..errors import UserError
from .morphemes import MARK, continuation_pieces, mark_morphemes
from .tokenization_seq2seq import HfrSeq2SeqTokenizer

TOKENIZER_KINDS = ("wordpiece", "bpe", "char", "unigram", "word")

# Role -> token, in the order the tokens get their ids (so [PAD] is 0 for BERT, as its config expects).
_DEFAULT_SPECIAL_TOKENS = {
    "wordpiece": {
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "mask_token": "[MASK]",
    },
    "bpe": {
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|pad|>",
    },
    "char": {
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|pad|>",
        "unk_token": "<|unk|>",
    },
    "word": {"pad_token": "<pad>", "unk_token": "<unk>"},
    "unigram": {
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "mask_token": "[MASK]",
        "bos_token": "[CLS]",
        "eos_token": "[SEP]",
    },
}
_SPECIAL_ROLES = ("pad_token", "unk_token", "bos_token", "eos_token", "cls_token", "sep_token", "mask_token")


def train_tokenizer(
    texts: Iterable[str],
    kind: str,
    vocab_size: int | None = None,
    *,
    lowercase: bool | None = None,
    strip_accents: bool = False,
    min_frequency: int = 2,
    special_tokens: Mapping[str, str] | None = None,
    morphemes: str | None = None,
) -> PreTrainedTokenizerFast:
    """Train a `kind` tokenizer ("wordpiece", "bpe", "char", "unigram", or "word": whole words) on `texts`.

    vocab_size: the target vocabulary including special tokens; required for the subword kinds. For "char"
        the vocabulary is every character of the corpus, and `vocab_size`, if given, is only checked as an
        upper bound.
    lowercase: lowercase before anything else; `None` means the kind's usual choice (True for "wordpiece", as
        bert-base-uncased; False otherwise, so BPE and char tokenizers reproduce the text exactly).
    strip_accents: drop combining marks (é → e, as bert-base-uncased does), for the subword and char kinds.
        Off by default. Every kind normalises to NFC (composed characters) last, so a Hangul syllable stays
        one character whether or not accents are stripped: decode(encode(text)) == NFC(text).
    min_frequency: how often a merge/piece must occur to enter the vocabulary ("wordpiece" and "bpe";
        🤗 tokenizers' Unigram trainer has no such setting, and "char" keeps every character).
    special_tokens: overrides of the kind's default special tokens by role, e.g. `{"pad_token": "<pad>"}`;
        roles are pad/unk/bos/eos/cls/sep/mask_token.
    morphemes: "kiwi" learns a "wordpiece" or "bpe" vocabulary that does not merge across the morphemes of a
        Korean word (`hf_recipes.data.morphemes`); the tokenizer itself stays the kind's ordinary one.
    """
    if kind not in TOKENIZER_KINDS:
        raise UserError(f"tokenizer kind {kind!r} is not one of {', '.join(TOKENIZER_KINDS)}")
    unknown = set(special_tokens or {}) - set(_SPECIAL_ROLES)
    if unknown:
        raise UserError(
            f"unknown special token role(s) {sorted(unknown)}: allowed are {', '.join(_SPECIAL_ROLES)}"
        )
    if morphemes is not None and kind not in ("wordpiece", "bpe"):
        raise UserError(f"tokenizer.morphemes: for the wordpiece and bpe kinds only, not {kind}")
    if kind != "char" and (vocab_size is None or vocab_size < 1):
        raise UserError(f"a {kind} tokenizer needs a positive vocab_size, got {vocab_size!r}")
    specials = {**_DEFAULT_SPECIAL_TOKENS[kind], **(special_tokens or {})}
    special_list = list(dict.fromkeys(specials.values()))  # ids in this order, duplicates (bos = eos) once
    lowercase = (kind == "wordpiece") if lowercase is None else lowercase

    normalizer = _normalizer(lowercase, strip_accents)
    if kind == "char":
        tokenizer = _char_tokenizer(texts, special_list, specials["unk_token"], normalizer, vocab_size)
    elif kind == "word":
        tokenizer = _word_tokenizer(
            texts, vocab_size, min_frequency, special_list, specials["unk_token"], lowercase
        )
    elif kind == "wordpiece":
        tokenizer = _wordpiece_tokenizer(
            texts, vocab_size, min_frequency, special_list, specials["unk_token"], normalizer, morphemes
        )
    else:
        tokenizer, trainer = _untrained_subword_tokenizer(
            kind, vocab_size, min_frequency, special_list, specials["unk_token"], normalizer
        )
        _train(tokenizer, trainer, texts, morphemes)
    if "cls_token" in specials:  # BERT's input layout, with segment ids
        cls, sep = specials["cls_token"], specials["sep_token"]
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0",
            pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
            special_tokens=[(cls, tokenizer.token_to_id(cls)), (sep, tokenizer.token_to_id(sep))],
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        **specials,
        model_input_names=(
            ["input_ids", "token_type_ids", "attention_mask"]
            if "cls_token" in specials
            else ["input_ids", "attention_mask"]
        ),
        # Only WordPiece loses the spacing around punctuation; the others must decode to the text verbatim.
        clean_up_tokenization_spaces=kind == "wordpiece",
    )


def _normalizer(lowercase: bool, strip_accents: bool) -> normalizers.Normalizer:
    """Lowercasing and accent stripping as asked, then NFC. Stripping accents goes through NFD, which also
    takes every Hangul syllable apart into its jamo (한 → ᄒ ᅡ ᆫ); NFC puts them back together, so Korean keeps
    its syllables (and a vocabulary spends no pieces on lone jamo) whatever is asked."""
    steps = [normalizers.NFD(), normalizers.StripAccents()] if strip_accents else []
    steps += [normalizers.Lowercase()] if lowercase else []
    return normalizers.Sequence([*steps, normalizers.NFC()])


def _wordpiece_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    min_frequency: int,
    special_list: list[str],
    unk_token: str,
    normalizer: normalizers.Normalizer,
    morphemes: str | None = None,
) -> Tokenizer:
    """BERT's WordPiece tokenizer trained on `texts`, the same vocabulary on every run.

    🤗 tokenizers (0.23) numbers the `##` continuation pieces in hash-map order while it splits the corpus into
    characters, and breaks ties between equally frequent merges by those numbers, so two trainings on one corpus
    can learn different vocabularies (huggingface/tokenizers#1794). Handing the trainer every continuation piece
    up front, sorted, as reserved tokens fixes their numbers and with them every tie-break. `texts` is read twice
    (characters, then training): a one-shot iterator is first turned into a list.
    """
    tokenizer, trainer = _untrained_subword_tokenizer(
        "wordpiece", vocab_size, min_frequency, special_list, unk_token, normalizer
    )
    if morphemes is not None:
        texts = list(mark_morphemes(texts, tokenizer.normalizer.normalize_str, morphemes))
    elif iter(texts) is texts:
        texts = list(texts)
    characters: set[str] = set()
    for text in texts:
        characters.update(text)
    normalized = {char for raw in characters for char in tokenizer.normalizer.normalize_str(raw)}
    # A character continues a word only where the pre-tokenizer keeps it inside one (punctuation is split off).
    inside = (char for char in normalized if len(tokenizer.pre_tokenizer.pre_tokenize_str(f"a{char}a")) == 1)
    continuations = sorted({f"##{char}" for char in inside} - set(special_list))
    trainer.special_tokens = special_list + continuations
    _train(tokenizer, trainer, texts, morphemes, marked=morphemes is not None)
    # The continuation pieces are ordinary vocabulary, not special tokens: rebuild the tokenizer around the
    # trained vocabulary (ids unchanged) with only the real special tokens added.
    vocabulary = tokenizer.get_vocab(with_added_tokens=False)
    if morphemes is not None:
        vocabulary = continuation_pieces(vocabulary, prefix="##")
        # Renaming makes a piece learned both at a morpheme's start and inside one (`##었`) one piece: learn
        # as many more as were lost, while the corpus has more to learn, then keep the first `vocab_size` (the
        # pieces are in the order they were learned).
        for _ in range(4):
            if (
                len(vocabulary) >= vocab_size
                or len(tokenizer.get_vocab(with_added_tokens=False)) < trainer.vocab_size
            ):
                break
            trainer.vocab_size += vocab_size - len(vocabulary)
            _train(tokenizer, trainer, texts, morphemes, marked=True)
            vocabulary = continuation_pieces(tokenizer.get_vocab(with_added_tokens=False), prefix="##")
        vocabulary = {token: i for token, i in vocabulary.items() if i < vocab_size}
    trained = Tokenizer(models.WordPiece(vocab=vocabulary, unk_token=unk_token))
    trained.normalizer, trained.pre_tokenizer, trained.decoder = (
        tokenizer.normalizer,
        tokenizer.pre_tokenizer,
        tokenizer.decoder,
    )
    trained.add_special_tokens(special_list)
    return trained


def _train(
    tokenizer: Tokenizer,
    trainer: trainers.Trainer,
    texts: Iterable[str],
    morphemes: str | None,
    marked: bool = False,
) -> None:
    """`tokenizer.train_from_iterator`, or with `morphemes` on the texts cut at their morphemes
    (`hf_recipes.data.morphemes`; `marked`: `texts` are already normalised and cut). The trainer then reads them
    without the normalizer (it ran before the analyser) and with a pre-tokenizer that splits at each mark
    first: WordPiece keeps the mark on the morpheme after it (`MARK었다`, renamed `##었다` afterwards), byte-level
    BPE drops it (`었다`, a pre-token without Ġ). Both are put back as they were for encoding."""
    if morphemes is None:
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return
    normalizer, pre_tokenizer = tokenizer.normalizer, tokenizer.pre_tokenizer
    if not marked:
        texts = mark_morphemes(texts, normalizer.normalize_str, morphemes)
    keep = "merged_with_next" if isinstance(tokenizer.model, models.WordPiece) else "removed"
    tokenizer.normalizer = None
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(MARK, behavior=keep), pre_tokenizer]
    )
    try:
        tokenizer.train_from_iterator(texts, trainer=trainer)
    finally:
        tokenizer.normalizer, tokenizer.pre_tokenizer = normalizer, pre_tokenizer


def _untrained_subword_tokenizer(
    kind: str,
    vocab_size: int,
    min_frequency: int,
    special_list: list[str],
    unk_token: str,
    normalizer: normalizers.Normalizer,
) -> tuple[Tokenizer, trainers.Trainer]:
    """The pipeline (normalizer, pre-tokenizer, model, decoder) of a subword kind, and the trainer that learns
    its vocabulary."""
    if kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=unk_token))
        # BERT's cleanup (control characters dropped, whitespace unified, CJK ideographs spaced apart), then
        # our lowercasing / accents / NFC: BertNormalizer's own strip_accents would leave Hangul decomposed
        tokenizer.normalizer = normalizers.Sequence(
            [normalizers.BertNormalizer(lowercase=False, strip_accents=False), normalizer]
        )
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece(prefix="##")
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=special_list,
            continuing_subword_prefix="##",
            show_progress=False,
        )
    elif kind == "bpe":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.normalizer = normalizer
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=special_list,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
    else:  # unigram
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.normalizer = normalizer
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size,
            special_tokens=special_list,
            unk_token=unk_token,
            show_progress=False,
        )
    return tokenizer, trainer


def _word_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    min_frequency: int,
    special_list: list[str],
    unk_token: str,
    lowercase: bool,
) -> Tokenizer:
    """Whole words, as word vectors need them (word2vec, FastText, GloVe): NFC (and lowercase), split into
    runs of word characters and runs of punctuation; every word seen `min_frequency` times, the most frequent
    first (ties alphabetically: the same vocabulary on every run), at most `vocab_size` with the special
    tokens. Other words are `unk_token`."""
    tokenizer = _words_pipeline(Tokenizer(models.WordLevel(unk_token=unk_token)), lowercase)
    trainer = trainers.WordLevelTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=special_list, show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def _words_pipeline(tokenizer: Tokenizer, lowercase: bool) -> Tokenizer:
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), *([normalizers.Lowercase()] if lowercase else [])]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tokenizer


def word_tokenizer(words: Sequence[str], lowercase: bool) -> PreTrainedTokenizerFast:
    """A word tokenizer (as `train_tokenizer(kind="word")` makes) for a given vocabulary, e.g. the words of a
    word-vector file: the special tokens `<pad>` and `<unk>` get ids 0 and 1, `words[i]` id i + 2 (a word given
    twice keeps its first id)."""
    specials = _DEFAULT_SPECIAL_TOKENS["word"]
    vocabulary: dict[str, int] = {}
    for token in [*specials.values(), *words]:
        vocabulary.setdefault(token, len(vocabulary))
    model = models.WordLevel(vocab=vocabulary, unk_token=specials["unk_token"])
    tokenizer = _words_pipeline(Tokenizer(model), lowercase)
    tokenizer.add_special_tokens(list(specials.values()))
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, **specials, model_input_names=["input_ids", "attention_mask"]
    )


def _char_tokenizer(
    texts: Iterable[str],
    special_list: list[str],
    unk_token: str,
    normalizer: normalizers.Normalizer,
    vocab_size: int | None,
) -> Tokenizer:
    """A WordLevel tokenizer whose words are single characters: the special tokens first, then every character
    of the (normalised) corpus in sorted order; decoding concatenates the characters back."""
    chars: set[str] = set()
    for text in texts:
        chars.update(normalizer.normalize_str(text))
    vocab = {token: i for i, token in enumerate(special_list + sorted(chars - set(special_list)))}
    if vocab_size is not None and len(vocab) > vocab_size:
        raise UserError(
            f"the corpus has {len(vocab) - len(special_list)} distinct characters, which with "
            f"{len(special_list)} special tokens exceed vocab_size={vocab_size}: raise vocab_size or leave it unset"
        )
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk_token))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizers.Split(
        Regex(r"[\s\S]"), behavior="isolated"
    )  # [\s\S]: newlines too
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens(special_list)
    return tokenizer


def append_eos(tokenizer: PreTrainedTokenizerFast) -> PreTrainedTokenizerFast:
    """Make every encoded sequence end with the tokenizer's eos token (`A </s>`, pairs `A </s> B </s>`), as
    T5's and Marian's tokenizers do, unless it already does; in place, and returned. A CLS/SEP template is
    replaced; byte-level BPE's own post-processor stays in front."""
    eos, eos_id = tokenizer.eos_token, tokenizer.eos_token_id
    if eos is None:
        raise UserError(
            "tokenizer: a seq2seq model needs an end-of-sequence token to learn where to stop, and this tokenizer "
            "has none (wordpiece): use bpe, unigram or char, or set tokenizer.special_tokens.eos_token"
        )
    if tokenizer("a")["input_ids"][-1:] == [eos_id]:
        return tokenizer
    backend = tokenizer.backend_tokenizer
    template = processors.TemplateProcessing(
        single=f"$A:0 {eos}:0", pair=f"$A:0 {eos}:0 $B:1 {eos}:1", special_tokens=[(eos, eos_id)]
    )
    if isinstance(backend.post_processor, processors.ByteLevel):
        template = processors.Sequence([backend.post_processor, template])
    backend.post_processor = template
    return tokenizer


def seq2seq_tokenizer(
    source: PreTrainedTokenizerFast, target: PreTrainedTokenizerFast
) -> HfrSeq2SeqTokenizer:
    """One tokenizer with the vocabularies of `source` (inputs) and `target` (`text_target=`, decoding), for
    models with separate source and target embeddings. Both must have the same special tokens at the same
    ids (two tokenizers trained with the same kind and special tokens do)."""
    roles = {
        role: getattr(source, role) for role in _SPECIAL_ROLES if getattr(source, role, None) is not None
    }
    for role, token in roles.items():
        if getattr(target, f"{role}_id") != getattr(source, f"{role}_id"):
            raise UserError(f"tokenizer: the source and target {role} ({token!r}) have different ids")
    return HfrSeq2SeqTokenizer(
        tokenizer_object=source.backend_tokenizer,
        target_tokenizer_object=target.backend_tokenizer,
        model_input_names=source.model_input_names,
        clean_up_tokenization_spaces=source.clean_up_tokenization_spaces,
        **roles,
    )


def special_token_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """The ids of the tokenizer's special tokens, keyed as model configs name them (`pad_token_id`,
    `bos_token_id`, `eos_token_id`, `unk_token_id`, `cls_token_id`, `sep_token_id`, `mask_token_id`); roles the
    tokenizer does not have are left out."""
    ids = {f"{role}_id": getattr(tokenizer, f"{role}_id") for role in _SPECIAL_ROLES}
    return {name: token_id for name, token_id in ids.items() if token_id is not None}
