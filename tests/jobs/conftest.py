"""Checkpoints and tokenizers the fine-tuning tests share (test_finetune.py, test_peft.py)."""

import itertools

import pytest
import torch
import transformers

import hf_recipes  # noqa: F401  (registers our model families with the AutoClasses)
from hf_recipes.data.tokenization import train_tokenizer
from hf_recipes.models.bert import HfrBertConfig


@pytest.fixture(scope="module")
def corpus(shared_data) -> list[str]:
    """A few thousand lines of the shared datasets, to train the tokenizers on."""
    lines = []
    for path, count in (
        ("glue/SST-2/train.tsv", 3000),
        ("glue/STS-B/train.tsv", 1000),
        ("glue/MRPC/train.tsv", 1000),
        ("conll2003_iob2/train.txt", 6000),
        ("multi30k/train.en", 1000),
        ("multi30k/train.de", 1000),
    ):
        with (shared_data / path).open(encoding="utf-8-sig") as handle:
            lines += [line.strip() for line in itertools.islice(handle, count)]
    with (shared_data / "squad/dev-v1.1.json").open(encoding="utf-8") as handle:
        lines.append(handle.read(300_000))
    return lines


@pytest.fixture(scope="module")
def bpe_tokenizer(corpus):
    """GPT-2's kind of tokenizer (byte-level BPE), trained by hf_recipes."""
    return train_tokenizer(corpus, "bpe", 1000)


@pytest.fixture(scope="module")
def bert_checkpoint(corpus, tmp_path_factory):
    """Our BERT as pretraining leaves it (a ForPreTraining checkpoint, no task head) with a WordPiece trained
    by hf_recipes; the weights are random, which is all these runs need."""
    folder = tmp_path_factory.mktemp("hfr_bert")
    tokenizer = train_tokenizer(corpus, "wordpiece", 2000)
    config = HfrBertConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    transformers.AutoModelForPreTraining.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
