"""The task registry and the parts of the Task interface every task shares."""

import pytest

from hf_recipes.errors import UserError
from hf_recipes.tasks import Task, get_task, task_names

EXPECTED = {
    "sst2": ("single_label", "AutoModelForSequenceClassification", "accuracy"),
    "cola": ("single_label", "AutoModelForSequenceClassification", "matthews_correlation"),
    "mrpc": ("single_label", "AutoModelForSequenceClassification", "f1"),
    "stsb": ("regression", "AutoModelForSequenceClassification", "pearson"),
    "rte": ("single_label", "AutoModelForSequenceClassification", "accuracy"),
    "qnli": ("single_label", "AutoModelForSequenceClassification", "accuracy"),
    "conll2003": ("token_classification", "AutoModelForTokenClassification", "f1"),
    "squad": ("question_answering", "AutoModelForQuestionAnswering", "f1"),
    "multi30k": ("seq2seq", "AutoModelForSeq2SeqLM", "bleu"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_tasks(name):
    task = get_task(name)
    assert isinstance(task, Task) and task.name == name
    assert (task.problem_type, task.auto_model, task.main_metric) == EXPECTED[name]
    assert task.hub_dataset  # the real Hub path stays, even though the tests cannot reach it
    pipelines = {"token_classification": "token-classification", "question_answering": "question-answering"}
    expected = pipelines.get(task.problem_type, "translation" if task.generates else "text-classification")
    assert task.pipeline_task == expected
    assert task.describe()["task"] == name


def test_names_aliases_and_errors():
    assert {"sst2", "cola", "mrpc", "stsb", "conll2003", "squad", "multi30k", "custom"} <= set(task_names())
    assert get_task("SST-2").name == "sst2" and get_task("sts-b").name == "stsb"
    assert (get_task("multi30k_en_de").source_lang, get_task("multi30k_en_de").target_lang) == ("en", "de")
    with pytest.raises(UserError, match="unknown task 'sst3'") as error:
        get_task("sst3")
    assert "\n" not in str(error.value)
    with pytest.raises(UserError, match="unknown option 'doc_strid'.*doc_stride"):
        get_task("squad", doc_strid=64)
    assert get_task("squad", doc_stride=64).doc_stride == 64


def test_model_kwargs():
    sst2 = get_task("sst2").model_kwargs()
    assert sst2 == {
        "num_labels": 2,
        "id2label": {0: "negative", 1: "positive"},
        "label2id": {"negative": 0, "positive": 1},
        "problem_type": "single_label_classification",
    }
    assert get_task("stsb").model_kwargs() == {"num_labels": 1, "problem_type": "regression"}
    ner = get_task("conll2003").model_kwargs()
    assert ner["num_labels"] == 9 and ner["id2label"][1] == "B-PER" and "problem_type" not in ner
    assert get_task("squad").model_kwargs() == {}
    assert get_task("multi30k").model_kwargs() == {}
    with pytest.raises(RuntimeError, match="load"):
        get_task("custom", train_file="x.csv").model_kwargs()  # labels are discovered by load()


def test_hub_failure_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="nyu-mll/glue") as error:
        get_task("sst2").load(None)
    assert "\n" not in str(error.value) and "--data-dir" in str(error.value)


def test_missing_data_dir_is_one_line(tmp_path):
    with pytest.raises(UserError, match="SST-2/train.tsv: file not found") as error:
        get_task("sst2").load(tmp_path)
    assert "\n" not in str(error.value)
