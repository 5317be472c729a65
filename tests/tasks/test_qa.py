"""Extractive QA: doc_stride windows, start/end labels, n-best post-processing, the SQuAD article split."""

import numpy as np
import pytest
from datasets import Dataset, DatasetDict
from transformers import EvalPrediction

from hf_recipes import metrics as M
from hf_recipes.errors import UserError
from hf_recipes.tasks import get_task
from hf_recipes.tasks.qa import postprocess_qa_predictions

# 22 context tokens with the hand-made vocabulary; "John Johnson" = john john ##son, context tokens 19-21.
CONTEXT = (
    "Paris is the capital of France. The river Seine flows through Paris. It was founded by John Johnson."
)
QUESTION = "Who founded the Louvre?"  # 5 tokens: who founded the louvre ?


def _examples(question=QUESTION, answer="John Johnson"):
    start = CONTEXT.index(answer)
    return Dataset.from_dict(
        {
            "id": ["q1"],
            "question": [question],
            "context": [CONTEXT],
            "answers": [{"text": [answer], "answer_start": [start]}],
        }
    )


def _features(tokenizer, examples, max_length=22, doc_stride=4, split="eval"):
    task = get_task("squad", doc_stride=doc_stride)
    fn = task.preprocess(tokenizer, max_length=max_length, split=split)
    return task, examples.map(fn, batched=True, remove_columns=examples.column_names)


def _oracle_logits(features, width):
    """Logits that point at each feature's labelled start/end (the [CLS] label scores like any position)."""
    start = np.zeros((len(features), width), dtype=np.float32)
    end = np.zeros((len(features), width), dtype=np.float32)
    for i, (s, e) in enumerate(zip(features["start_positions"][:], features["end_positions"][:])):
        if s != 0:
            start[i, s], end[i, e] = 10.0, 10.0
    return start, end


def test_answer_only_in_the_second_window(handmade_tokenizer):
    task, features = _features(handmade_tokenizer, _examples())
    # 3 specials + 5 question tokens leave 14 context tokens a window; stride 4: windows 1-14 and 11-22.
    assert len(features) == 2
    first, second = features[0], features[1]
    assert first["example_id"] == second["example_id"] == "q1"
    # The answer (context tokens 19-21) is not inside the first window: its labels point at [CLS].
    assert (first["start_positions"], first["end_positions"]) == (0, 0)
    s, e = second["start_positions"], second["end_positions"]
    assert handmade_tokenizer.convert_ids_to_tokens(second["input_ids"][s : e + 1]) == [
        "john",
        "john",
        "##son",
    ]
    assert CONTEXT[second["offset_mapping"][s][0] : second["offset_mapping"][e][1]] == "John Johnson"
    # Offsets are kept for context tokens only.
    assert second["offset_mapping"][0] is None and second["offset_mapping"][1] is None  # [CLS], "who"
    question_end = second["input_ids"].index(handmade_tokenizer.sep_token_id)
    assert all(o is None for o in second["offset_mapping"][: question_end + 1])

    start, end = _oracle_logits(features, width=24)
    start[0, 3], end[0, 3] = 4.0, 4.0  # a weaker candidate in the first window ("capital"?) must lose
    answers, n_best = task.postprocess(_examples(), features, (start, end))
    assert answers == {"q1": "John Johnson"}
    assert n_best["q1"][0]["score"] == pytest.approx(20.0) and len(n_best["q1"]) <= task.n_best_size
    assert M.squad_scores(answers, task.references(_examples())) == {"exact_match": 100.0, "f1": 100.0}


def test_train_features_have_no_offsets(handmade_tokenizer):
    _, features = _features(handmade_tokenizer, _examples(), split="train")
    assert set(features.column_names) == {
        "input_ids",
        "token_type_ids",
        "attention_mask",
        "start_positions",
        "end_positions",
    }
    assert (
        features["start_positions"][:] == [0, features[1]["start_positions"]]
        and features[1]["start_positions"] > 0
    )


def test_postprocess_rules(handmade_tokenizer):
    examples = _examples()
    task, features = _features(handmade_tokenizer, examples, max_length=40, doc_stride=8)
    assert len(features) == 1
    offsets = features[0]["offset_mapping"]
    position = {}  # context word → its first token position
    for i, o in enumerate(offsets):
        if o is not None:
            position.setdefault(CONTEXT[o[0] : o[1]].lower(), i)
    start = np.zeros((1, 48), dtype=np.float32)
    end = np.zeros((1, 48), dtype=np.float32)

    def best(**kwargs):
        answers, _ = postprocess_qa_predictions(examples, features, start, end, **kwargs)
        return answers["q1"]

    start[0, position["paris"]], end[0, position["france"]] = 9.0, 9.0  # "Paris ... France": 6 tokens
    start[0, position["seine"]], end[0, position["seine"]] = 5.0, 5.0
    assert best() == "Paris is the capital of France"
    assert best(max_answer_length=5) == "Seine"  # the longer span is over the limit
    start[0, 0], end[0, 0] = 50.0, 50.0  # [CLS] and question tokens are never answers
    start[0, 2], end[0, 2] = 50.0, 50.0
    assert best() == "Paris is the capital of France"
    start[0, position["capital"]], end[0, position["paris"]] = 30.0, 0.0  # end before start: rejected
    assert best() in {"Paris is the capital of France", "capital of France"}
    answers, _ = postprocess_qa_predictions(examples, features.select([]), start[:0], end[:0])
    assert answers == {"q1": ""}  # no feature, no candidate: empty answer


def test_long_question_is_trimmed_instead_of_crashing(handmade_tokenizer):
    long_question = " ".join(["who"] * 40) + " founded the louvre?"
    _, features = _features(
        handmade_tokenizer, _examples(question=long_question), max_length=24, doc_stride=4
    )
    assert all(len(ids) <= 24 for ids in features["input_ids"][:])
    with pytest.raises(UserError, match="doc_stride"):
        _features(handmade_tokenizer, _examples(), max_length=8, doc_stride=6)


def test_compute_metrics_fn_for_trainer(handmade_tokenizer):
    examples = _examples()
    task, features = _features(handmade_tokenizer, examples)
    start, end = _oracle_logits(features, width=22)
    compute = task.compute_metrics_fn(examples=examples, features=features)
    labels = (np.array(features["start_positions"][:]), np.array(features["end_positions"][:]))
    assert compute(EvalPrediction(predictions=(start, end), label_ids=labels)) == {
        "exact_match": 100.0,
        "f1": 100.0,
    }
    rows = task.predictions(examples, features, (start, end))
    assert rows[0]["prediction"] == "John Johnson" and rows[0]["answers"] == ["John Johnson"]


def test_article_split(shared_data, cache_dir):
    task = get_task("squad")
    raw = task.load(shared_data, cache_dir=cache_dir)
    assert set(raw) == {"train", "validation"}
    assert len(raw["train"]) + len(raw["validation"]) == 10_570
    train_titles, eval_titles = set(raw["train"].unique("title")), set(raw["validation"].unique("title"))
    assert not train_titles & eval_titles and len(train_titles | eval_titles) == 48
    assert len(eval_titles) == round(0.2 * 48)
    again = get_task("squad").load(shared_data, cache_dir=cache_dir)
    assert again["validation"]["id"][:] == raw["validation"]["id"][:]  # deterministic
    other = get_task("squad", eval_fraction=0.1).load(shared_data, cache_dir=cache_dir)
    assert set(other["validation"].unique("title")) < eval_titles  # a prefix of the same order
    first = raw["validation"][0]
    assert first["context"][first["answers"]["answer_start"][0] :].startswith(first["answers"]["text"][0])


def test_real_squad_windows_round_trip(shared_data, cache_dir, wordpiece_tokenizer):
    """Oracle logits from the preprocessing labels must give back the gold answers after post-processing:
    checks start/end labelling, windows, offsets and the mapping back to context text together."""
    task = get_task("squad", doc_stride=32)
    raw = task.load(shared_data, cache_dir=cache_dir, splits=["validation"])
    examples = raw["validation"].select(range(150))
    features = task.prepare(DatasetDict({"validation": examples}), wordpiece_tokenizer, max_length=128)[
        "validation"
    ]
    assert len(features) > len(examples)  # long contexts were windowed
    start, end = _oracle_logits(features, width=128)
    scores = task.metrics_from_predictions(examples, features, (start, end))
    assert scores["exact_match"] > 95.0 and scores["f1"] > 97.0
