"""`custom`: the user's own CSV/TSV/JSON(L) files for every task type, and the one-line errors."""

import json

import numpy as np
import pytest
from transformers import EvalPrediction

from hf_recipes.errors import UserError
from hf_recipes.tasks import IGNORE_INDEX, get_task


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _jsonl(path, rows):
    return _write(path, "".join(json.dumps(row) + "\n" for row in rows))


def _one_line_error(task_or_options, data_dir, cache_dir, *needles):
    task = get_task("custom", **task_or_options) if isinstance(task_or_options, dict) else task_or_options
    with pytest.raises(UserError) as error:
        task.load(data_dir, cache_dir=cache_dir)
    message = str(error.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, message
    return message


# ---------------------------------------------------------------------------------------------------------
# The task types


def test_single_label_csv(tmp_path, cache_dir, handmade_tokenizer):
    _write(tmp_path / "train.csv", 'review,stars\n"Paris, France",good\nthe seine,bad\nnew york,good\n')
    _write(tmp_path / "dev.csv", "review,stars\nwashington,bad\n")
    _write(tmp_path / "test.csv", "review\njohn lives in paris\n")
    task = get_task("custom", text_columns="review", label_column="stars")
    raw = task.load(tmp_path, cache_dir=cache_dir)  # train/dev/test found by name in the data dir
    assert task.label_names == ["bad", "good"]
    assert task.model_kwargs() == {
        "num_labels": 2,
        "id2label": {0: "bad", 1: "good"},
        "label2id": {"bad": 0, "good": 1},
        "problem_type": "single_label_classification",
    }
    assert raw["train"][0] == {"review": "Paris, France", "stars": 1}
    assert raw["validation"]["stars"][:] == [0] and raw["test"].column_names == ["review"]
    features = task.prepare(raw, handmade_tokenizer, max_length=16)
    assert features["train"][0]["labels"] == 1 and "labels" not in features["test"].column_names
    scores = task.compute_metrics(EvalPrediction(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([1, 1])))
    assert scores == {"accuracy": 0.5, "macro_f1": pytest.approx(1 / 3)}


def test_given_labels_need_no_training_file(tmp_path, cache_dir):
    _write(tmp_path / "dev.csv", "text,label\nparis,pos\nrome,neg\n")
    task = get_task("custom", validation_file="dev.csv", labels=["pos", "neg"])  # e.g. a model's id2label
    raw = task.load(tmp_path, cache_dir=cache_dir)
    assert list(raw) == ["validation"] and raw["validation"]["label"][:] == [0, 1]
    assert task.id2label == {0: "pos", 1: "neg"}
    _write(tmp_path / "dev.csv", "text,label\nparis,meh\n")
    _one_line_error(task, tmp_path, cache_dir, "dev.csv", "'meh'", "`labels` option")


def test_integer_labels_keep_numeric_order_and_pairs(tmp_path, cache_dir, handmade_tokenizer):
    rows = [{"a": "paris", "b": "france", "y": y} for y in (10, 2, 1, 2, 10, 1, 2, 1, 10, 2)]
    _jsonl(tmp_path / "train.jsonl", rows)
    task = get_task("custom", train_file="train.jsonl", text_columns=["a", "b"], label_column="y")
    raw = task.load(tmp_path, cache_dir=cache_dir)  # no validation file: 10% held out
    assert task.label_names == ["1", "2", "10"]
    assert (len(raw["train"]), len(raw["validation"])) == (9, 1)
    row = task.prepare(raw, handmade_tokenizer, 16)["train"][0]
    assert 1 in row["token_type_ids"]  # a pair


def test_names_label_a_files_values(tmp_path, cache_dir):
    """task.names: NSMC-style 0 / 1 in the files, negative / positive in the model and its predictions."""
    _write(tmp_path / "train.csv", "text,label\nawful,0\ngreat,1\nbad,0\nfine,1\n")
    _write(tmp_path / "validation.csv", "text,label\nsuperb,1\n")
    task = get_task("custom", names=["negative", "positive"])
    raw = task.load(tmp_path, cache_dir=cache_dir)
    assert task.id2label == {0: "negative", 1: "positive"}
    assert raw["train"]["label"][:] == [0, 1, 0, 1] and raw["validation"].features["label"].names == [
        "negative",
        "positive",
    ]
    _write(tmp_path / "more.csv", "text,label\nmeh,0\nwow,1\n")  # evaluate --file reads the file's values
    assert task.load_file([tmp_path / "more.csv"], "more")["label"][:] == [0, 1]
    with pytest.raises(UserError, match="3 names for the 2 labels"):
        get_task("custom", names=["a", "b", "c"]).load(tmp_path, cache_dir=cache_dir)


def test_multi_label_and_regression(tmp_path, cache_dir, handmade_tokenizer):
    text = 'text\ttopics\tscore\nparis "city\tgeo,city\t4.5\nthe seine\tgeo\t1\nrome\t\t0\n'
    _write(tmp_path / "train.tsv", text)
    files = {"train_file": "train.tsv", "validation_file": "train.tsv"}
    multi = get_task("custom", task_type="multi-label", label_column="topics", **files)
    raw = multi.load(tmp_path, cache_dir=cache_dir)
    assert multi.label_names == ["city", "geo"]
    assert multi.model_kwargs()["problem_type"] == "multi_label_classification"
    assert raw["train"]["text"][:] == ['paris "city', "the seine", "rome"]  # TSV: quotes are plain characters
    features = multi.prepare(raw, handmade_tokenizer, 16)
    assert features["train"]["labels"][:] == [[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
    scores = multi.compute_metrics(EvalPrediction(np.array([[3.0, -2.0]]), np.array([[1.0, 0.0]])))
    assert scores["subset_accuracy"] == 1.0

    regression = get_task("custom", task_type="regression", label_column="score", **files)
    raw = regression.load(tmp_path, cache_dir=cache_dir)
    assert regression.model_kwargs() == {"num_labels": 1, "problem_type": "regression"}
    assert raw["train"]["score"][:] == [4.5, 1.0, 0.0]
    assert isinstance(regression.prepare(raw, handmade_tokenizer, 16)["train"][0]["labels"], float)


def test_token_classification_jsonl_and_strings(tmp_path, cache_dir, handmade_tokenizer):
    _jsonl(
        tmp_path / "train.jsonl",
        [
            {"words": ["John", "lives", "in", "Washington"], "ner": ["I-PER", "O", "O", "I-LOC"]},  # IOB1
            {"words": "New York is a city", "ner": "B-LOC I-LOC O O O"},  # whitespace-separated strings
        ],
    )
    _jsonl(tmp_path / "valid.jsonl", [{"words": ["Paris"], "ner": ["B-LOC"]}])
    task = get_task("custom", task_type="token_classification", text_columns="words", label_column="ner")
    raw = task.load(tmp_path, cache_dir=cache_dir)
    assert task.label_names == ["O", "B-LOC", "I-LOC", "B-PER"]
    assert raw["train"][0] == {"tokens": ["John", "lives", "in", "Washington"], "tags": [3, 0, 0, 1]}
    assert task.auto_model == "AutoModelForTokenClassification"
    row = task.prepare(raw, handmade_tokenizer, 16)["train"][0]
    assert row["labels"][:3] == [IGNORE_INDEX, 3, 0] and row["labels"][4:7] == [1, IGNORE_INDEX, IGNORE_INDEX]

    _jsonl(tmp_path / "valid.jsonl", [{"words": ["Paris", "France"], "ner": ["B-LOC"]}])
    _one_line_error(task, tmp_path, cache_dir, "valid.jsonl", "row 1", "'words'", "'ner'")


def test_question_answering(tmp_path, cache_dir, handmade_tokenizer):
    context = "Paris is the capital of France."
    _jsonl(
        tmp_path / "train.jsonl",
        [
            {"q": "What is the capital of France?", "c": context, "a": "Paris"},  # text only: found
            {"q": "Which country?", "c": context, "a": {"text": ["France"], "answer_start": [24]}},
        ],
    )
    options = dict(task_type="qa", question_column="q", context_column="c", answers_column="a")
    task = get_task("custom", **options, validation_fraction=0.5)
    raw = task.load(tmp_path, cache_dir=cache_dir)
    rows = sorted(raw["train"].to_list() + raw["validation"].to_list(), key=lambda r: r["q"])
    assert [r["a"] for r in rows] == [
        {"text": ["Paris"], "answer_start": [0]},
        {"text": ["France"], "answer_start": [24]},
    ]
    assert task.model_kwargs() == {} and task.auto_model == "AutoModelForQuestionAnswering"
    features = task.prepare(raw, handmade_tokenizer, max_length=32)
    assert "example_id" in features["validation"].column_names

    _jsonl(tmp_path / "train.jsonl", [{"q": "Who?", "c": context, "a": "Rome"}] * 2)
    _one_line_error(
        get_task("custom", **options), tmp_path, cache_dir, "train.jsonl", "row 1", "'a'", "'Rome'"
    )


def test_squad_format_json(tmp_path, cache_dir):
    data = {
        "data": [
            {
                "title": "Paris",
                "paragraphs": [
                    {
                        "context": "Paris is the capital of France.",
                        "qas": [
                            {
                                "id": "x1",
                                "question": "Capital?",
                                "answers": [{"text": "Paris", "answer_start": 0}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    _write(tmp_path / "train.json", json.dumps(data))
    _write(tmp_path / "dev.json", json.dumps(data))
    task = get_task("custom", task_type="question_answering")
    raw = task.load(tmp_path, cache_dir=cache_dir)
    assert raw["validation"][0]["id"] == "x1" and raw["validation"][0]["answers"]["text"] == ["Paris"]


# ---------------------------------------------------------------------------------------------------------
# Errors: one line, naming the file and the column


def test_missing_column(tmp_path, cache_dir):
    _write(tmp_path / "train.csv", "sentence,label\nparis,a\nrome,b\n")
    message = _one_line_error(
        {}, tmp_path, cache_dir, "train.csv", "'text'", "sentence, label", "text_columns"
    )
    assert message.startswith(str(tmp_path / "train.csv"))
    _one_line_error(
        {"text_columns": "sentence", "label_column": "stars"}, tmp_path, cache_dir, "train.csv", "'stars'"
    )
    _write(tmp_path / "dev.csv", "sentence\nparis\n")  # a labelled split needs the label column
    _one_line_error({"text_columns": "sentence"}, tmp_path, cache_dir, "dev.csv", "'label'", "label_column")


def test_empty_files(tmp_path, cache_dir):
    _write(tmp_path / "train.csv", "")
    _one_line_error({}, tmp_path, cache_dir, "train.csv", "empty")
    _write(tmp_path / "train.csv", "  \n\n")
    _one_line_error({}, tmp_path, cache_dir, "train.csv", "empty")
    _write(tmp_path / "train.csv", "text,label\n")
    _one_line_error({}, tmp_path, cache_dir, "train.csv", "no rows")
    _write(tmp_path / "train.csv", "text,label\nparis,a\nrome,b\n")
    _write(tmp_path / "dev.jsonl", "")
    _one_line_error({}, tmp_path, cache_dir, "dev.jsonl", "empty")


def test_unseen_label(tmp_path, cache_dir):
    _write(tmp_path / "train.csv", "text,label\nparis,pos\nrome,neg\n")
    _write(tmp_path / "dev.csv", "text,label\nparis,pos\nberlin,neutral\n")
    _one_line_error(
        {}, tmp_path, cache_dir, "dev.csv", "row 2", "'label'", "'neutral'", "train.csv", "labels: neg, pos"
    )
    _jsonl(tmp_path / "train.jsonl", [{"text": "a", "labels": ["x", "y"]}, {"text": "b", "labels": ["y"]}])
    _jsonl(tmp_path / "dev.jsonl", [{"text": "c", "labels": ["z"]}])
    options = {"task_type": "multi_label", "train_file": "train.jsonl", "validation_file": "dev.jsonl"}
    _one_line_error(
        {**options, "label_column": "labels"}, tmp_path, cache_dir, "dev.jsonl", "'labels'", "'z'"
    )


def test_other_user_errors(tmp_path, cache_dir):
    _write(tmp_path / "train.csv", "text,label\nparis,1.5\nrome,x\n")
    _one_line_error({"task_type": "regression"}, tmp_path, cache_dir, "train.csv", "row 2", "'label'", "'x'")
    _one_line_error({"train_file": "nope.csv"}, tmp_path, cache_dir, "nope.csv", "not found")
    _write(tmp_path / "train.xlsx", "x")
    _one_line_error({"train_file": "train.xlsx"}, tmp_path, cache_dir, "train.xlsx", ".csv")
    _write(tmp_path / "broken.jsonl", '{"text": "a", "label": 1}\n{"text": \n')
    _one_line_error({"train_file": "broken.jsonl"}, tmp_path, cache_dir, "broken.jsonl", "JSON")
    _one_line_error({}, None, cache_dir, "train_file")
    with pytest.raises(UserError, match="task_type 'ranking'"):
        get_task("custom", task_type="ranking")
    with pytest.raises(UserError, match="unknown option 'doc_stride'"):
        get_task("custom", doc_stride=64)  # a QA option on a single-label task
