"""GLUE: the readers on the real release files, the metric each task reports, preprocessing."""

import numpy as np
import pytest
from datasets import DatasetDict
from transformers import DataCollatorWithPadding, EvalPrediction

from hf_recipes.errors import UserError
from hf_recipes.tasks import get_task

# (split → rows) as the shared data README states them.
COUNTS = {
    "sst2": {"validation": 872},  # train (67,349) is left out to keep the test fast
    "cola": {"train": 8_551, "validation": 1_043},
    "mrpc": {"train": 3_667, "validation": 408},
    "stsb": {"train": 5_749, "validation": 1_500},
}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_readers_on_the_release_files(name, shared_data, cache_dir):
    raw = get_task(name).load(shared_data, cache_dir=cache_dir, splits=[*COUNTS[name], "test"])
    assert {split: len(raw[split]) for split in COUNTS[name]} == COUNTS[name]
    assert set(raw["test"].unique("label")) == {-1}  # unlabelled, as on the Hub


def test_reader_details(shared_data, cache_dir):
    sst2 = get_task("sst2").load(shared_data, cache_dir=cache_dir, splits=["validation"])["validation"]
    assert sst2[0] == {"sentence": "it 's a charming and often affecting journey . ", "label": 1, "idx": 0}
    assert sst2.features["label"].names == ["negative", "positive"]

    cola = get_task("cola").load(shared_data, cache_dir=cache_dir)["validation"]
    assert cola[0]["sentence"] == "The sailors rode the breeze clear of the rocks." and cola[0]["label"] == 1

    mrpc = get_task("mrpc").load(shared_data, cache_dir=cache_dir)
    # The BOM would otherwise glue itself to "Quality" and the label column would not be found.
    first = mrpc["train"][0]
    assert first["label"] == 1 and first["sentence1"].startswith("Amrozi accused his brother")
    assert sorted(mrpc["validation"].unique("label")) == [0, 1]
    # QUOTE_NONE: an unbalanced quote stays in its cell instead of swallowing the rows after it.
    assert (
        mrpc["validation"][0]["sentence2"]
        == '" The foodservice pie business does not fit our long-term growth strategy .'
    )

    stsb = get_task("stsb").load(shared_data, cache_dir=cache_dir)["validation"]
    assert stsb[0]["label"] == pytest.approx(5.0) and stsb[1]["label"] == pytest.approx(4.75)
    assert str(stsb.features["label"].dtype) == "float32"


def _eval_pred(logits, labels):
    return EvalPrediction(predictions=np.asarray(logits, dtype=np.float32), label_ids=np.asarray(labels))


def test_metric_choice_per_glue_task():
    logits = [[2.0, -1.0], [0.5, 1.5], [-1.0, 0.2], [1.0, 0.0]]  # predictions 0, 1, 1, 0
    labels = [0, 1, 0, 0]
    assert get_task("sst2").compute_metrics(_eval_pred(logits, labels)) == {"accuracy": pytest.approx(0.75)}
    cola = get_task("cola").compute_metrics(_eval_pred(logits, labels))
    assert set(cola) == {"matthews_correlation"} and cola["matthews_correlation"] == pytest.approx(
        0.57735, abs=1e-4
    )
    mrpc = get_task("mrpc").compute_metrics(_eval_pred(logits, labels))
    assert mrpc == {"f1": pytest.approx(2 / 3), "accuracy": pytest.approx(0.75)}
    for name in ("rte", "qnli", "wnli", "mnli"):
        assert set(get_task(name).compute_metrics(_eval_pred(logits, labels))) == {"accuracy"}
    assert set(get_task("qqp").compute_metrics(_eval_pred(logits, labels))) == {"f1", "accuracy"}
    stsb = get_task("stsb").compute_metrics(_eval_pred([[0.1], [2.0], [3.9], [5.0]], [0.0, 2.5, 3.0, 4.8]))
    assert set(stsb) == {"pearson", "spearmanr"} and stsb["spearmanr"] == pytest.approx(1.0)
    # Models that return extra outputs hand Trainer a tuple: the logits come first.
    tupled = EvalPrediction(
        predictions=(np.asarray(logits), np.zeros((4, 3, 8))), label_ids=np.asarray(labels)
    )
    assert get_task("sst2").compute_metrics(tupled) == {"accuracy": pytest.approx(0.75)}


def test_prepare_single_sentence_and_pairs(shared_data, cache_dir, wordpiece_tokenizer):
    task = get_task("mrpc")
    raw = task.load(shared_data, cache_dir=cache_dir)
    raw = DatasetDict({name: split.select(range(200)) for name, split in raw.items()})
    features = task.prepare(raw, wordpiece_tokenizer, max_length=64)
    train = features["train"]
    assert set(train.column_names) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    row = train[0]
    assert row["labels"] == 1 and len(row["input_ids"]) <= 64
    assert row["token_type_ids"][0] == 0 and row["token_type_ids"][-1] == 1  # the pair is encoded as a pair
    assert "labels" not in features["test"].column_names  # test labels are -1: dropped, inputs only
    batch = task.data_collator(wordpiece_tokenizer)([train[i] for i in range(4)])
    assert batch["input_ids"].shape[0] == 4 and batch["labels"].tolist() == train["labels"][:4]
    assert isinstance(task.data_collator(wordpiece_tokenizer), DataCollatorWithPadding)

    stsb = get_task("stsb")
    stsb_features = stsb.prepare(
        stsb.load(shared_data, cache_dir=cache_dir, splits=["validation"]), wordpiece_tokenizer, 64
    )
    assert isinstance(stsb_features["validation"][0]["labels"], float)


def test_prepare_is_cached(shared_data, cache_dir, wordpiece_tokenizer):
    task = get_task("cola")
    raw = task.load(shared_data, cache_dir=cache_dir)
    first = task.prepare(raw, wordpiece_tokenizer, max_length=32)
    again = get_task("cola").prepare(
        get_task("cola").load(shared_data, cache_dir=cache_dir), wordpiece_tokenizer, 32
    )
    assert (
        first["validation"]._fingerprint == again["validation"]._fingerprint
    )  # deterministic map function → cache hit
    assert first["validation"].cache_files == again["validation"].cache_files


def test_sentence_pairs_with_string_labels(tmp_path, cache_dir, handmade_tokenizer):
    """RTE/QNLI-style files: a header, a pair, labels given by name; the test file has no label column."""
    folder = tmp_path / "glue" / "RTE"
    folder.mkdir(parents=True)
    (folder / "train.tsv").write_text(
        "index\tsentence1\tsentence2\tlabel\n"
        '0\tParis is the capital of France.\tParis is in France "really.\tentailment\n'
        "1\tThe Seine flows through Paris.\tThe Louvre was founded by Romans.\tnot_entailment\n",
        encoding="utf-8",
    )
    (folder / "dev.tsv").write_text(
        "index\tsentence1\tsentence2\tlabel\n0\tJohn lives in New York.\tJohn lives in a city.\tentailment\n",
        encoding="utf-8",
    )
    (folder / "test.tsv").write_text(
        "index\tsentence1\tsentence2\n0\tWho lives in Paris?\tJohn does.\n", encoding="utf-8"
    )
    task = get_task("rte")
    raw = task.load(tmp_path, cache_dir=cache_dir)
    assert (
        raw["train"]["label"][:] == [0, 1] and raw["train"][0]["sentence2"] == 'Paris is in France "really.'
    )
    assert raw["test"][0]["label"] == -1
    features = task.prepare(raw, handmade_tokenizer, max_length=32)
    assert features["validation"][0]["labels"] == 0 and 1 in features["validation"][0]["token_type_ids"]

    (folder / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"dev.tsv: row 1 has label 'maybe'") as error:
        task.load(tmp_path, cache_dir=cache_dir)
    assert "\n" not in str(error.value)


def test_predictions_rows(shared_data, cache_dir):
    task = get_task("sst2")
    raw = task.load(shared_data, cache_dir=cache_dir, splits=["validation"])["validation"].select(range(3))
    rows = task.predictions(raw, None, np.array([[3.0, 0.0], [0.0, 3.0], [0.0, 0.0]]))
    assert [r["prediction"] for r in rows] == ["negative", "positive", "negative"]
    assert rows[0]["label"] == "positive" and rows[0]["sentence"].startswith("it 's a charming")
    assert rows[0]["score"] == pytest.approx(np.exp(3) / (np.exp(3) + 1))


def test_nsmc_reads_the_korean_reviews_with_named_labels(shared_data, cache_dir):
    if not (shared_data / "nsmc" / "train.txt").is_file():
        pytest.skip(f"{shared_data / 'nsmc'} is absent (see ../shared/data/README.md)")
    task = get_task("nsmc")
    raw = task.load(shared_data, cache_dir=cache_dir)
    assert {split: len(raw[split]) for split in raw} == {"train": 35_000, "validation": 5_000}
    assert sum(raw["train"]["label"]) == 17_670  # the shared data README's count of positive reviews
    assert raw["train"][0] == {"document": "굳 ㅋ", "label": 1, "idx": 0}
    assert raw["train"].features["label"].names == ["negative", "positive"]
    assert task.id2label == {0: "negative", 1: "positive"} and task.main_metric == "accuracy"
    # the texts are as the file holds them (NFC Hangul), quotes included
    assert any('"' in text for text in raw["train"]["document"][:2000])
