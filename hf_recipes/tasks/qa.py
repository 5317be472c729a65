"""Extractive question answering: SQuAD v1.1, and the machinery `custom` reuses.

Preprocessing and post-processing follow transformers' examples/pytorch/question-answering (run_qa.py and
utils_qa.py). A context longer than `max_length` becomes several features, windows that overlap by
`doc_stride` tokens; each feature's labels are the answer's start/end token, or the [CLS] position when
the answer is not inside that window. Evaluation features also keep `example_id` and the `offset_mapping`
(None outside the context), which `postprocess` uses to map the best start/end pair — searched among the
`n_best_size` top starts × ends of every window, at most `max_answer_length` tokens — back to context text.
Trainer drops those two columns before batching (they are not `forward` arguments), and the evaluation
features keep their start/end labels so that Trainer computes an eval loss and calls compute_metrics.

SQuAD answers: `{"text": [...], "answer_start": [...]}` (character offsets into the context). EM and F1
use the official normalisation (metrics.normalize_answer).
"""

import collections
import dataclasses
import functools
import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa

from .. import metrics as M
from ..data.tables import cached_dataset
from ..errors import UserError
from .base import (
    Task,
    build_task,
    find_dir,
    option,
    require_fast_tokenizer,
    values,
)

SQUAD_FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "title": datasets.Value("string"),
        "context": datasets.Value("string"),
        "question": datasets.Value("string"),
        "answers": datasets.Sequence(
            {"text": datasets.Value("string"), "answer_start": datasets.Value("int32")}
        ),
    }
)


# ---------------------------------------------------------------------------------------------------------
# Preprocessing


def _trim_questions(tokenizer, questions: list[str], budget: int) -> list[str]:
    """Cut questions longer than `budget` tokens (at a token boundary): the context must keep more room
    than doc_stride, or the Rust tokenizer panics."""
    encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for question, offsets in zip(questions, encoded["offset_mapping"]):
        out.append(question[: offsets[budget - 1][1]] if len(offsets) > budget else question)
    return out


def prepare_qa_features(
    batch: dict[str, list],
    *,
    tokenizer,
    max_length: int,
    doc_stride: int,
    question_column: str,
    context_column: str,
    answers_column: str,
    id_column: str,
    for_eval: bool,
) -> dict[str, list]:
    """Batched map function: (question, context, answers) rows → windowed features with start/end labels;
    with `for_eval` also `example_id` and `offset_mapping` (None on non-context tokens)."""
    pad_on_right = tokenizer.padding_side == "right"  # question first, unless the model pads on the left
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=True) - doc_stride - 1
    if budget < 1:
        raise UserError(
            f"QA: max_length {max_length} leaves no room for a question with doc_stride {doc_stride}"
        )
    questions = _trim_questions(tokenizer, [q.lstrip() for q in batch[question_column]], budget)
    contexts = batch[context_column]
    encoded = tokenizer(
        questions if pad_on_right else contexts,
        contexts if pad_on_right else questions,
        truncation="only_second" if pad_on_right else "only_first",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    sample_map = encoded.pop("overflow_to_sample_mapping")
    context_id = 1 if pad_on_right else 0
    starts, ends, example_ids, offset_mappings = [], [], [], []
    for i, offsets in enumerate(encoded["offset_mapping"]):
        input_ids = encoded["input_ids"][i]
        cls_index = input_ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in input_ids else 0
        sequence_ids = encoded.sequence_ids(i)
        sample = sample_map[i]
        answers = batch[answers_column][sample]
        start, end = cls_index, cls_index
        if answers["answer_start"]:
            start_char = answers["answer_start"][0]
            end_char = start_char + len(answers["text"][0])
            first = sequence_ids.index(context_id)
            last = len(sequence_ids) - 1 - sequence_ids[::-1].index(context_id)
            if offsets[first][0] <= start_char and offsets[last][1] >= end_char:
                start = first
                while start <= last and offsets[start][0] <= start_char:
                    start += 1
                start -= 1
                end = last
                while end >= first and offsets[end][1] >= end_char:
                    end -= 1
                end += 1
        starts.append(start)
        ends.append(end)
        if for_eval:
            example_ids.append(batch[id_column][sample])
            offset_mappings.append([o if s == context_id else None for o, s in zip(offsets, sequence_ids)])
    encoded["start_positions"], encoded["end_positions"] = starts, ends
    if for_eval:
        encoded["example_id"], encoded["offset_mapping"] = example_ids, offset_mappings
    else:
        encoded.pop("offset_mapping")
    return dict(encoded)


# ---------------------------------------------------------------------------------------------------------
# Post-processing


def _offsets(features: datasets.Dataset) -> tuple[np.ndarray, ...]:
    """The `offset_mapping` column as flat arrays, read in Arrow (converting 10k × 384 nested lists to Python
    takes seconds): feature i's tokens are positions rows[i]:rows[i+1] of char_start / char_end / in_context."""
    column = features.with_format("arrow")["offset_mapping"]
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    rows = column.offsets.to_numpy()  # absolute positions in column.values, whatever the slicing
    tokens = column.values  # one [start, end] list per token, null outside the context
    in_context = tokens.is_valid().to_numpy(zero_copy_only=False)
    chars = tokens.values.to_numpy(zero_copy_only=False)
    if not len(chars):
        empty = np.zeros(len(in_context), dtype=np.int64)
        return rows, empty, empty, in_context
    pair = np.minimum(tokens.offsets.to_numpy()[:-1], len(chars) - 2)
    return rows, chars[pair], chars[pair + 1], in_context


def postprocess_qa_predictions(
    examples: datasets.Dataset,
    features: datasets.Dataset,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    *,
    n_best_size: int = 20,
    max_answer_length: int = 30,
    id_column: str = "id",
    context_column: str = "context",
) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]:
    """Logits of every feature → the best answer text per example (and its n-best list). A candidate is a
    (start, end) pair among the `n_best_size` highest start and end logits of one window, both inside the
    context, end ≥ start, at most `max_answer_length` tokens; its score is start + end logit. An example
    with no valid candidate gets "". `start_logits`/`end_logits`: (features × length), rows aligned with
    `features`, extra columns (padding) ignored."""
    if len(features) != len(start_logits):
        raise ValueError(f"{len(start_logits)} rows of logits for {len(features)} features")
    by_example: dict[str, list[int]] = collections.defaultdict(list)
    for index, example_id in enumerate(values(features, "example_id")):
        by_example[example_id].append(index)
    rows, char_start, char_end, in_context = _offsets(features)

    answers: dict[str, str] = {}
    n_best: dict[str, list[dict[str, Any]]] = {}
    for example_id, context in zip(values(examples, id_column), values(examples, context_column)):
        candidates = []
        for index in by_example.get(example_id, []):
            first_token, length = rows[index], rows[index + 1] - rows[index]  # logits beyond length: padding
            starts = np.asarray(start_logits[index][:length], dtype=np.float64)
            ends = np.asarray(end_logits[index][:length], dtype=np.float64)
            context_mask = in_context[first_token : first_token + length]
            # The n_best highest starts × ends (ties: the earlier position first), kept where valid.
            s = np.argsort(-starts, kind="stable")[:n_best_size][:, None]
            e = np.argsort(-ends, kind="stable")[:n_best_size][None, :]
            valid = context_mask[s] & context_mask[e] & (e >= s) & (e - s + 1 <= max_answer_length)
            scores = np.where(valid, starts[s] + ends[e], -np.inf)
            order = np.argsort(-scores, axis=None, kind="stable")[: int(valid.sum())][:n_best_size]
            for i, j in zip(*np.unravel_index(order, scores.shape)):
                first = int(char_start[first_token + s[i, 0]])
                last = int(char_end[first_token + e[0, j]])
                candidates.append(
                    {"text": context[first:last], "score": float(scores[i, j]), "start": first, "end": last}
                )
        candidates.sort(key=lambda c: c["score"], reverse=True)
        n_best[example_id] = candidates[:n_best_size]
        answers[example_id] = candidates[0]["text"] if candidates else ""
    return answers, n_best


# ---------------------------------------------------------------------------------------------------------
# Tasks


@dataclasses.dataclass(kw_only=True)
class QuestionAnsweringTask(Task):
    """A question and a context → the answer span in the context."""

    problem_type: str = "question_answering"
    question_column: str = "question"
    context_column: str = "context"
    answers_column: str = "answers"
    id_column: str = "id"
    main_metric: str = "f1"
    default_max_length: int = 384
    doc_stride: int | None = option(
        None, "overlap in tokens between windows of a long context (default max_length // 3)"
    )
    n_best_size: int = option(20, "start and end candidates searched per window")
    max_answer_length: int = option(30, "longest answer in tokens")

    def preprocess(self, tokenizer, max_length: int | None = None, *, split: str = "train"):
        require_fast_tokenizer(tokenizer, self.name, "offset mappings")
        max_length = max_length or self.default_max_length
        doc_stride = self.doc_stride if self.doc_stride is not None else max_length // 3  # 128 at 384
        if doc_stride >= max_length:
            raise UserError(
                f"task {self.name}: doc_stride {doc_stride} must be below max_length {max_length}"
            )
        return functools.partial(
            prepare_qa_features,
            tokenizer=tokenizer,
            max_length=max_length,
            doc_stride=doc_stride,
            question_column=self.question_column,
            context_column=self.context_column,
            answers_column=self.answers_column,
            id_column=self.id_column,
            for_eval=split != "train",
        )

    def postprocess(self, examples, features, raw_predictions) -> tuple[dict[str, str], dict[str, list]]:
        """(Trainer predictions: start and end logits) → ({id: answer text}, {id: n-best list})."""
        start_logits, end_logits = raw_predictions[:2]
        return postprocess_qa_predictions(
            examples,
            features,
            start_logits,
            end_logits,
            n_best_size=self.n_best_size,
            max_answer_length=self.max_answer_length,
            id_column=self.id_column,
            context_column=self.context_column,
        )

    def references(self, examples) -> dict[str, list[str]]:
        answers = values(examples, self.answers_column)
        return {qid: list(a["text"]) for qid, a in zip(values(examples, self.id_column), answers)}

    def metrics_from_predictions(self, examples, features, raw_predictions) -> dict[str, float]:
        answers, _ = self.postprocess(examples, features, raw_predictions)
        return M.squad_scores(answers, self.references(examples))

    def _compute_metrics(self, eval_pred, *, examples, features) -> dict[str, float]:
        return self.metrics_from_predictions(examples, features, eval_pred.predictions)

    def compute_metrics_fn(self, *, tokenizer=None, examples=None, features=None):
        if examples is None or features is None:
            raise ValueError(
                "QA compute_metrics needs the eval examples and their features (prepare()'s output)"
            )
        return functools.partial(self._compute_metrics, examples=examples, features=features)

    def predictions(self, examples, features, raw_predictions, *, tokenizer=None) -> list[dict[str, Any]]:
        answers, n_best = self.postprocess(examples, features, raw_predictions)
        rows = []
        for row in examples:
            qid = row[self.id_column]
            rows.append(
                {
                    "id": qid,
                    "question": row[self.question_column],
                    "prediction": answers[qid],
                    "answers": list(row[self.answers_column]["text"]),
                    "n_best": [{"text": c["text"], "score": c["score"]} for c in n_best[qid][:5]],
                }
            )
        return rows


def read_squad(path: str) -> Iterator[dict[str, Any]]:
    """Questions of a SQuAD JSON file (`{"data": [{"title", "paragraphs": [{"context", "qas"}]}]}`)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)["data"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise UserError(f"{path}: not a SQuAD JSON file ({type(error).__name__}: {error})") from None
    for article in data:
        title = article.get("title", "")
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                yield {
                    "id": str(qa["id"]),
                    "title": title,
                    "context": paragraph["context"],
                    "question": qa["question"],
                    "answers": {
                        "text": [a["text"] for a in qa.get("answers", [])],
                        "answer_start": [int(a["answer_start"]) for a in qa.get("answers", [])],
                    },
                }


def split_by_article(dataset: datasets.Dataset, eval_fraction: float) -> datasets.DatasetDict:
    """Articles (titles) ordered by the MD5 of their title; the first `eval_fraction` of them (at least one)
    are the validation split, the rest train. No article is in both; the same files give the same split."""
    titles = values(dataset, "title")
    unique = sorted(set(titles), key=lambda t: hashlib.md5(t.encode("utf-8")).hexdigest())
    if len(unique) < 2:
        raise UserError(f"cannot split by article: the file has {len(unique)} article(s)")
    n_eval = min(len(unique) - 1, max(1, round(eval_fraction * len(unique))))
    eval_titles = set(unique[:n_eval])
    train_rows = [i for i, t in enumerate(titles) if t not in eval_titles]
    eval_rows = [i for i, t in enumerate(titles) if t in eval_titles]
    return datasets.DatasetDict(
        {"train": dataset.select(train_rows), "validation": dataset.select(eval_rows)}
    )


@dataclasses.dataclass(kw_only=True)
class SquadTask(QuestionAnsweringTask):
    """SQuAD v1.1: the Hub's rajpurkar/squad, or `<data_dir>/squad/{train,dev}-v1.1.json`; with only the dev
    file, it is split by article into train and validation (`eval_fraction` of the articles)."""

    eval_fraction: float = option(0.2, "share of articles held out when only dev-v1.1.json exists")

    def load_files(
        self, data_dir: Path, *, cache_dir: str | None = None, splits: Sequence[str] | None = None
    ) -> datasets.DatasetDict:
        folder = find_dir(data_dir, "squad", must_contain="dev-v1.1.json")
        dev, train = folder / "dev-v1.1.json", folder / "train-v1.1.json"

        def read(path: Path, split: str) -> datasets.Dataset:
            return cached_dataset(read_squad, SQUAD_FEATURES, [path], cache_dir, split=split, path=str(path))

        if train.is_file():
            return datasets.DatasetDict(
                {"train": read(train, "train"), "validation": read(dev, "validation")}
            )
        return split_by_article(read(dev, "validation"), self.eval_fraction)


def squad(**options: Any) -> SquadTask:
    fixed = dict(
        name="squad",
        description="SQuAD v1.1 extractive question answering",
        hub_dataset="rajpurkar/squad",
        test_split=None,
    )
    return build_task(SquadTask, fixed, options)


TASKS = {"squad": squad}
