"""Multi30k: line-aligned readers, direction switch, text_target preprocessing, BLEU on detokenized text."""

import numpy as np
import pytest
from datasets import DatasetDict
from transformers import DataCollatorForSeq2Seq, EvalPrediction

from hf_recipes.errors import UserError
from hf_recipes.tasks import IGNORE_INDEX, get_task


def test_multi30k_line_counts(shared_data, cache_dir):
    raw = get_task("multi30k").load(shared_data, cache_dir=cache_dir)
    assert {split: len(ds) for split, ds in raw.items()} == {
        "train": 29_000,
        "validation": 1_014,
        "test": 1_000,  # test_2016_flickr, the standard test set
        "test_2017_flickr": 1_000,
        "test_2018_flickr": 1_071,
    }
    assert raw["train"][0] == {
        "en": "Two young, White males are outside near many bushes.",
        "de": "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
    }


def test_direction_and_preprocessing(shared_data, cache_dir, bpe_tokenizer):
    de_en, en_de = get_task("multi30k"), get_task("multi30k", source_lang="en", target_lang="de")
    raw = de_en.load(shared_data, cache_dir=cache_dir, splits=["validation"])
    raw = DatasetDict({"validation": raw["validation"].select(range(16))})
    example = raw["validation"][0]
    for task, source, target in ((de_en, "de", "en"), (en_de, "en", "de")):
        features = task.prepare(raw, bpe_tokenizer, max_length=64)["validation"]
        assert set(features.column_names) == {"input_ids", "attention_mask", "labels"}
        assert bpe_tokenizer.decode(features[0]["input_ids"], skip_special_tokens=True) == example[source]
        assert bpe_tokenizer.decode(features[0]["labels"], skip_special_tokens=True) == example[target]
    with pytest.raises(UserError, match="source_lang and target_lang"):
        get_task("multi30k", target_lang="de")
    prefixed = get_task("multi30k", source_prefix="translate German to English: ", max_target_length=4)
    row = prefixed.prepare(raw, bpe_tokenizer, max_length=64)["validation"][0]
    assert bpe_tokenizer.decode(row["input_ids"]).startswith("translate German to English: ")
    assert len(row["labels"]) == 4
    collator = de_en.data_collator(bpe_tokenizer)
    assert isinstance(collator, DataCollatorForSeq2Seq)
    features = de_en.prepare(raw, bpe_tokenizer, max_length=64)["validation"]
    batch = collator([features[i] for i in range(4)])
    assert (batch["labels"] == IGNORE_INDEX).any() and batch["labels"].shape[0] == 4


def test_bleu_of_identical_text_is_100(shared_data, cache_dir, bpe_tokenizer):
    task = get_task("multi30k")
    raw = task.load(shared_data, cache_dir=cache_dir, splits=["test"])
    examples = raw["test"].select(range(50))
    features = task.prepare(DatasetDict({"test": examples}), bpe_tokenizer, max_length=128)["test"]
    # "Generated" ids = the reference tokens, padded with -100 as Trainer pads across batches.
    labels = features["labels"][:]
    width = max(map(len, labels))
    generated = np.full((len(labels), width), IGNORE_INDEX)
    for i, row in enumerate(labels):
        generated[i, : len(row)] = row
    compute = task.compute_metrics_fn(tokenizer=bpe_tokenizer, examples=examples)
    scores = compute(EvalPrediction(predictions=generated, label_ids=generated))
    assert scores["bleu"] == pytest.approx(100.0) and scores["gen_len"] > 5
    # Without the examples the references come from the decoded labels: still 100 for an exact tokenizer.
    from_labels = task.compute_metrics_fn(tokenizer=bpe_tokenizer)
    assert from_labels(EvalPrediction(generated, generated))["bleu"] == pytest.approx(100.0)
    worse = generated.copy()
    worse[:, 1:4] = generated[::-1, 1:4]
    assert compute(EvalPrediction(predictions=worse, label_ids=generated))["bleu"] < 90
    rows = task.predictions(examples, features, generated, tokenizer=bpe_tokenizer)
    assert rows[0]["prediction"] == rows[0]["reference"] == examples[0]["en"]


def test_misaligned_files_are_one_line(tmp_path, cache_dir):
    folder = tmp_path / "multi30k"
    folder.mkdir()
    for stem in ("train", "val", "test_2016_flickr"):
        (folder / f"{stem}.en").write_text("A dog runs.\nA cat sleeps.\n", encoding="utf-8")
        (folder / f"{stem}.de").write_text("Ein Hund rennt.\nEine Katze schläft.\n", encoding="utf-8")
    assert len(get_task("multi30k").load(tmp_path, cache_dir=cache_dir)["train"]) == 2
    (folder / "val.de").write_text("Ein Hund rennt.\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"not line-aligned: .*val.en has 2, .*val.de has 1 lines") as error:
        get_task("multi30k").load(tmp_path, cache_dir=cache_dir)
    assert "\n" not in str(error.value)
