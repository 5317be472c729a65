"""Fixtures for the task tests: small real tokenizers built with 🤗 tokenizers (no Hub), a private datasets
cache, and a hand-made WordPiece whose splits the alignment tests know in advance."""

import itertools
from pathlib import Path

import datasets
import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

datasets.disable_progress_bars()

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# Words the hand-made vocabulary splits: "washington" → wash ##ing ##ton, "johnson" → john ##son.
HANDMADE_VOCAB = (
    BERT_SPECIALS
    + (
        "john lives in new york wash ##ing ##ton ##son . , ? who where does live is the capital of city "
        "a an paris france river seine flows through it was founded by romans museum louvre famous "
        "what which country when century 3rd bc"
    ).split()
)

FALLBACK_CORPUS = [
    "the quick brown fox jumps over the lazy dog .",
    "a man is playing a guitar on the street .",
    "Paris is the capital of France and it lies on the Seine .",
    "EU rejects German call to boycott British lamb .",
    "Ein Mann spielt Gitarre auf der Straße .",
] * 50


def _bert_wrapper(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


@pytest.fixture(scope="session")
def handmade_tokenizer() -> PreTrainedTokenizerFast:
    """Lower-casing WordPiece over HANDMADE_VOCAB: splits are known in advance."""
    tokenizer = Tokenizer(models.WordPiece({t: i for i, t in enumerate(HANDMADE_VOCAB)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return _bert_wrapper(tokenizer)


def _corpus(shared: Path | None) -> list[str]:
    if shared is None or not shared.is_dir():
        return FALLBACK_CORPUS
    lines: list[str] = []
    for path, n in (
        ("glue/SST-2/train.tsv", 2000),
        ("glue/STS-B/train.tsv", 1000),
        ("conll2003_iob2/train.txt", 6000),
        ("multi30k/train.en", 1000),
        ("multi30k/train.de", 1000),
        ("squad/dev-v1.1.json", 0),
    ):
        file = shared / path
        if not file.is_file():
            continue
        with file.open(encoding="utf-8-sig") as handle:
            if n:
                lines.extend(line.strip() for line in itertools.islice(handle, n))
            else:
                lines.append(handle.read(400_000))
    return lines


@pytest.fixture(scope="session")
def wordpiece_tokenizer(tmp_path_factory) -> PreTrainedTokenizerFast:
    """A 4,000-token uncased WordPiece trained here on a few thousand lines of the shared datasets, saved and
    reloaded through AutoTokenizer, as a fine-tuning job would get it."""
    from tests.conftest import SHARED_DATA

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=4000, special_tokens=BERT_SPECIALS, show_progress=False)
    tokenizer.train_from_iterator(_corpus(SHARED_DATA), trainer=trainer)
    folder = tmp_path_factory.mktemp("wordpiece")
    _bert_wrapper(tokenizer).save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="session")
def bpe_tokenizer(tmp_path_factory) -> PreTrainedTokenizerFast:
    """A byte-level BPE (decodes back to the exact text), trained on the shared corpus."""
    from tests.conftest import SHARED_DATA

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        special_tokens=["<pad>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(SHARED_DATA), trainer=trainer)
    eos = tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", eos)])
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>")
    folder = tmp_path_factory.mktemp("bpe")
    wrapped.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> str:
    """A datasets cache of the test session's own (the user's ~/.cache stays untouched)."""
    return str(tmp_path_factory.mktemp("hf_datasets_cache"))
