"""Tokenizer training: each kind set up as its model family expects, saved and reloaded through
AutoTokenizer unchanged, special token ids exposed; errors are one-line UserErrors."""

import pytest
from transformers import AutoTokenizer

import tests.data as shared
from hf_recipes.checkpoints import load_tokenizer
from hf_recipes.data.tokenization import TOKENIZER_KINDS, special_token_ids, train_tokenizer
from hf_recipes.errors import UserError


@pytest.fixture(scope="module")
def wikitext_lines(shared_data) -> tuple[str, ...]:
    return shared.wikitext_lines(shared_data)


@pytest.fixture(scope="module")
def tokenizers(shared_data, wikitext_lines) -> dict:
    """One tokenizer of each kind: the shared WordPiece, the others (vocabulary 1,000) from the first 600 lines."""
    return {
        kind: shared.wordpiece_tokenizer(shared_data)
        if kind == "wordpiece"
        else train_tokenizer(wikitext_lines[:600], kind, 1000)
        for kind in TOKENIZER_KINDS
    }


@pytest.mark.parametrize("kind", TOKENIZER_KINDS)
def test_save_and_reload_through_autotokenizer_is_identical(kind, tokenizers, wikitext_lines, tmp_path):
    tokenizer = tokenizers[kind]
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert load_tokenizer(tmp_path).get_vocab() == reloaded.get_vocab() == tokenizer.get_vocab()

    texts = [line for line in wikitext_lines[1000:1100] if line.strip()] + ["Ünïcode ✓ and  two  spaces\n"]
    assert reloaded(texts).data == tokenizer(texts).data
    assert reloaded(texts[0], texts[1]).data == tokenizer(texts[0], texts[1]).data
    assert special_token_ids(reloaded) == special_token_ids(tokenizer)
    assert reloaded.model_input_names == tokenizer.model_input_names
    ids = tokenizer(texts[0])["input_ids"]
    assert reloaded.decode(ids) == tokenizer.decode(ids)


def test_wordpiece_is_set_up_as_bert(tokenizers):
    tokenizer = tokenizers["wordpiece"]
    assert tokenizer.convert_ids_to_tokens(list(range(5))) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert special_token_ids(tokenizer) == {
        "pad_token_id": 0,
        "unk_token_id": 1,
        "cls_token_id": 2,
        "sep_token_id": 3,
        "mask_token_id": 4,
    }
    encoded = tokenizer("The Lobster.", "It is blue")
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    first_sep = tokens.index("[SEP]")
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and tokens.count("[SEP]") == 2
    assert tokens[1:first_sep] == tokenizer.tokenize("the lobster.")  # lowercased, as bert-base-uncased
    assert encoded["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)
    assert "token_type_ids" in tokenizer.model_input_names
    pieces = tokenizer.tokenize("unbelievably crustaceans")
    assert any(piece.startswith("##") for piece in pieces)
    assert tokenizer.decode(tokenizer("unbelievably crustaceans", add_special_tokens=False)["input_ids"]) == (
        "unbelievably crustaceans"
    )
    # The `##` pieces reserved for training (see below) are ordinary vocabulary, not added special tokens.
    assert sorted(tokenizer.added_tokens_decoder) == [0, 1, 2, 3, 4]
    assert "##e" in tokenizer.get_vocab() and "##e" not in tokenizer.tokenize("##e")


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_training_twice_on_one_corpus_gives_the_same_tokenizer(kind, wikitext_lines):
    """A run is reproducible from its recipe only if its tokenizer is: 🤗 tokenizers numbers WordPiece's `##`
    pieces in hash-map order (huggingface/tokenizers#1794), and without the fix every training, even in one
    process, learns a different vocabulary. A one-shot iterator is accepted although WordPiece reads it twice."""
    corpus = wikitext_lines[:1200]
    first, *others = (train_tokenizer(iter(corpus), kind, 2000).backend_tokenizer.to_str() for _ in range(3))
    assert all(other == first for other in others)


def test_byte_level_bpe_is_set_up_as_gpt2_and_decodes_exactly(tokenizers):
    tokenizer = tokenizers["bpe"]
    assert tokenizer.bos_token == tokenizer.eos_token == tokenizer.unk_token == "<|endoftext|>"
    assert tokenizer.pad_token == "<|pad|>" and tokenizer.pad_token_id != tokenizer.eos_token_id
    text = " Homarus  gammarus\n\tis ünïcode 😀 <|endoftext|>"
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.unk_token_id not in ids[:-1] and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids) == text
    assert tokenizer.model_input_names == ["input_ids", "attention_mask"]


def test_char_tokenizer_has_every_character_and_round_trips_shakespeare(shared_data, tmp_path):
    text = (shared_data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    tokenizer = train_tokenizer([text], "char")
    characters = sorted(set(text))
    assert len(characters) == 65 and len(tokenizer) == 65 + 3  # + <|endoftext|> <|pad|> <|unk|>
    assert tokenizer.convert_ids_to_tokens(list(range(3, 68))) == characters  # sorted, as nanoGPT
    sample = text[:200_000]
    ids = tokenizer(sample)["input_ids"]
    assert len(ids) == len(sample) and tokenizer.decode(ids) == sample
    assert tokenizer("é")["input_ids"] == [tokenizer.unk_token_id]
    tokenizer.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path).decode(ids) == sample


def test_unigram_uses_metaspace_pieces_and_the_bert_layout(tokenizers):
    tokenizer = tokenizers["unigram"]
    pieces = tokenizer.tokenize("The lobster is blue")
    assert pieces[0].startswith("▁") and "".join(pieces).replace("▁", " ").strip() == "The lobster is blue"
    assert {"cls_token_id", "sep_token_id", "mask_token_id", "pad_token_id", "eos_token_id"} <= set(
        special_token_ids(tokenizer)
    )
    encoded = tokenizer("a b", "c")
    assert (
        encoded["input_ids"][0] == tokenizer.cls_token_id
        and encoded["input_ids"][-1] == tokenizer.sep_token_id
    )
    assert encoded["token_type_ids"][-1] == 1 and encoded["token_type_ids"][0] == 0


def test_special_tokens_can_be_renamed(wikitext_lines):
    tokenizer = train_tokenizer(wikitext_lines[:300], "wordpiece", 500, special_tokens={"pad_token": "<pad>"})
    assert tokenizer.pad_token == "<pad>" and tokenizer.pad_token_id == 0
    assert tokenizer("a")["input_ids"][0] == tokenizer.cls_token_id


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: train_tokenizer(["a b"], "sentencepiece", 100), "tokenizer kind 'sentencepiece'"),
        (lambda: train_tokenizer(["a b"], "bpe"), "needs a positive vocab_size"),
        (
            lambda: train_tokenizer(["a b"], "bpe", 100, special_tokens={"padding": "<p>"}),
            "unknown special token",
        ),
        (lambda: train_tokenizer(["abcdef"], "char", 5), "exceed vocab_size=5"),
        (lambda: load_tokenizer("./no/such/tokenizer"), "does not exist"),
    ],
)
def test_mistakes_are_one_line_user_errors(call, message):
    with pytest.raises(UserError, match=message) as error:
        call()
    assert "\n" not in str(error.value)


def test_load_tokenizer_reports_a_folder_without_tokenizer_files(tmp_path):
    with pytest.raises(UserError, match="cannot load tokenizer") as error:
        load_tokenizer(tmp_path)
    assert "\n" not in str(error.value)


SCRIPTS = [
    "이 영화 정말 재밌었어요! 배우들의 연기가 최고였다 ㅋㅋ",
    "東京の映画館で、とても面白い映画を見ました。",
    "我们昨天看了一部非常好看的电影。",
    "شاهدنا فيلما رائعا أمس في السينما.",
    "Loved it 😍🎬👍🏽 — 10/10, café naïve façade",
    "mixed 한국어 and English, 日本語 と 中文 😀 text",
]


@pytest.fixture(scope="module")
def multilingual_corpus(shared_data) -> list[str]:
    """The first 3,000 NSMC reviews (Korean) and every line above, 50 times over."""
    path = shared_data / "nsmc" / "train.txt"
    if not path.is_file():
        pytest.skip(f"{path} is absent (see ../shared/data/README.md)")
    reviews = [line.split("\t")[1] for line in path.read_text(encoding="utf-8").splitlines()[1:3001]]
    return reviews + SCRIPTS * 50


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "char", "unigram"])
def test_every_script_comes_back_whole_and_hangul_keeps_its_syllables(kind, multilingual_corpus):
    """decode(encode(text)) is the NFC text (WordPiece: up to its spaces around punctuation), for decomposed
    (NFD) input too; a vocabulary trained on Korean spends no pieces on the lone jamo that NFD would leave."""
    import unicodedata

    tokenizer = train_tokenizer(multilingual_corpus, kind, 3000, lowercase=False)
    for text in SCRIPTS + multilingual_corpus[:200:7]:
        for given in (text, unicodedata.normalize("NFD", text)):
            decoded = tokenizer.decode(tokenizer(given, add_special_tokens=False)["input_ids"])
            if kind == "wordpiece":  # it puts spaces around punctuation and between CJK ideographs
                assert "".join(decoded.split()) == "".join(text.split()), (given, decoded)
            else:
                assert decoded == text, (given, decoded)
    lone_jamo = [token for token in tokenizer.get_vocab() if any("\u1100" <= c <= "\u11ff" for c in token)]
    assert lone_jamo == []


def test_accents_are_stripped_only_when_asked_and_never_from_hangul(multilingual_corpus):
    kept = train_tokenizer(multilingual_corpus, "wordpiece", 3000)  # lowercase, as bert-base-uncased
    stripped = train_tokenizer(multilingual_corpus, "wordpiece", 3000, strip_accents=True)
    text = "Café 한국어 naïve"
    assert kept.backend_tokenizer.normalizer.normalize_str(text) == "café 한국어 naïve"
    assert stripped.backend_tokenizer.normalizer.normalize_str(text) == "cafe 한국어 naive"
