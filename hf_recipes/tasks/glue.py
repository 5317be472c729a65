"""Sequence classification and regression: the GLUE tasks, and the machinery `custom` reuses.

`SequenceClassificationTask` turns one or two text columns plus a label column into model inputs for any
`AutoModelForSequenceClassification` head (single-label, multi-label or regression). `GlueTask` adds the
GLUE readers — the Hub's `nyu-mll/glue`, or the original release TSVs under `<data_dir>/glue/<Folder>/` —
and GLUE's metric for each task. The files are read as every TSV is (hf_recipes.data.tables: quotes are text,
MRPC's byte-order mark is skipped); CoLA's train/dev files have no header.

Splits and schema match the Hub dataset: `sentence` (or a pair such as `sentence1`/`sentence2`), `label`
(a ClassLabel, or a float for STS-B), `idx`; test splits carry label -1, as on the Hub.
"""

import dataclasses
import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from .. import metrics as M
from ..data.tables import cached_dataset, header, read_rows
from ..errors import UserError
from .base import Task, build_task, find_dir, logits_of

# ---------------------------------------------------------------------------------------------------------
# Generic sequence classification


def tokenize_sequence_classification(
    batch: dict[str, list],
    *,
    tokenizer,
    max_length: int,
    text_columns: Sequence[str],
    label_column: str,
    problem_type: str,
    num_labels: int | None,
) -> dict[str, list]:
    """Batched map function: text (or a text pair) → input ids; `label` → `labels` (int, float, or a
    multi-hot float vector for multi-label rows that hold a list of label ids)."""
    texts = [[text if text is not None else "" for text in batch[column]] for column in text_columns]
    encoded = tokenizer(*texts, truncation=True, max_length=max_length)
    if label_column in batch:
        labels = batch[label_column]
        if problem_type == "multi_label":
            hot = np.zeros((len(labels), num_labels), dtype=np.float32)
            for row, ids in enumerate(labels):
                hot[row, list(ids)] = 1.0
            encoded["labels"] = hot.tolist()
        elif problem_type == "regression":
            encoded["labels"] = [float(label) for label in labels]
        else:
            encoded["labels"] = [int(label) for label in labels]
    return dict(encoded)


@dataclasses.dataclass(kw_only=True)
class SequenceClassificationTask(Task):
    """One text or a pair of texts → one label (single_label), a set of labels (multi_label) or a number
    (regression)."""

    text_columns: tuple[str, ...] = ("sentence",)
    label_column: str = "label"

    def preprocess(self, tokenizer, max_length: int | None = None, *, split: str = "train"):
        return functools.partial(
            tokenize_sequence_classification,
            tokenizer=tokenizer,
            max_length=max_length or self.default_max_length,
            text_columns=tuple(self.text_columns),
            label_column=self.label_column,
            problem_type=self.problem_type,
            num_labels=self.num_labels,
        )

    def _drop_missing_labels(self, split: datasets.Dataset) -> datasets.Dataset:
        if self.label_column in split.column_names and self.problem_type != "multi_label":
            if len(split) and set(split.unique(self.label_column)) <= {-1, -1.0}:
                return split.remove_columns(self.label_column)
        return split

    def decode(self, logits: np.ndarray) -> np.ndarray:
        """Logits → predictions: class ids, multi-hot rows (logit > 0, i.e. sigmoid > 0.5) or values."""
        if self.problem_type == "regression":
            return logits.reshape(len(logits), -1)[:, 0]
        if self.problem_type == "multi_label":
            return (logits > 0).astype(int)
        return logits.argmax(-1) if logits.ndim > 1 else logits

    def scores(self, predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
        if self.problem_type == "regression":
            return M.regression_scores(predictions, references)
        if self.problem_type == "multi_label":
            return M.multi_label_scores(predictions, references)
        return {
            **M.accuracy(predictions, references),
            "macro_f1": M.f1(predictions, references, "macro")["f1"],
        }

    def compute_metrics(self, eval_pred) -> dict[str, float]:
        predictions = self.decode(logits_of(eval_pred.predictions))
        references = np.asarray(eval_pred.label_ids)
        return self.scores(predictions, references)

    def write_pictures(self, out: Path, model, tokenizer, examples, output) -> list[Path]:
        """confusion_matrix.png for single-label tasks."""
        if self.problem_type != "single_label":
            return []
        from ..plots import plot_confusion_matrix

        predicted = logits_of(output.predictions).argmax(-1)
        title = f"{out.name}: {self.name} ({self.eval_split})"
        return [
            plot_confusion_matrix(
                output.label_ids, predicted, self.label_names, out / "confusion_matrix.png", title
            )
        ]

    def predictions(self, examples, features, raw_predictions, *, tokenizer=None) -> list[dict[str, Any]]:
        logits = logits_of(raw_predictions)
        predicted = self.decode(logits)
        names = self.label_names
        rows = []
        has_labels = self.label_column in self._drop_missing_labels(examples).column_names
        for i, example in enumerate(examples):
            row = {column: example[column] for column in self.text_columns}
            if self.problem_type == "regression":
                row["prediction"] = float(predicted[i])
                if has_labels:
                    row["label"] = float(example[self.label_column])
            elif self.problem_type == "multi_label":
                row["prediction"] = [names[j] for j in np.flatnonzero(predicted[i])]
                if has_labels:
                    row["label"] = [names[j] for j in example[self.label_column]]
            else:
                probabilities = np.exp(logits[i] - logits[i].max())
                probabilities /= probabilities.sum()
                row["prediction"] = names[int(predicted[i])]
                row["score"] = float(probabilities[int(predicted[i])])
                if has_labels:
                    row["label"] = names[int(example[self.label_column])]
            rows.append(row)
        return rows


# ---------------------------------------------------------------------------------------------------------
# GLUE


@dataclasses.dataclass(frozen=True)
class GlueSpec:
    """How one GLUE task's release files map to the Hub schema."""

    folder: str  # under <data_dir>/glue/
    text_columns: dict[str, str]  # Hub column → column in the TSV header
    label_column: str | None  # label column in the TSV header
    label_names: tuple[str, ...] | None  # None: regression
    metrics: tuple[str, ...]  # GLUE's reported metrics, the first is the main one
    files: dict[str, str]  # split → file name
    headerless: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # split → field names


_PAIR = {"sentence1": "sentence1", "sentence2": "sentence2"}
_DEFAULT_FILES = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}

GLUE: dict[str, GlueSpec] = {
    "sst2": GlueSpec(
        "SST-2", {"sentence": "sentence"}, "label", ("negative", "positive"), ("accuracy",), _DEFAULT_FILES
    ),
    "cola": GlueSpec(
        "CoLA",
        {"sentence": "sentence"},
        "label",
        ("unacceptable", "acceptable"),
        ("matthews_correlation",),
        _DEFAULT_FILES,
        headerless={s: ("source", "label", "original_label", "sentence") for s in ("train", "validation")},
    ),
    "mrpc": GlueSpec(
        "MRPC",
        {"sentence1": "#1 String", "sentence2": "#2 String"},
        "Quality",
        ("not_equivalent", "equivalent"),
        ("f1", "accuracy"),
        _DEFAULT_FILES,
    ),
    "stsb": GlueSpec("STS-B", _PAIR, "score", None, ("pearson", "spearmanr"), _DEFAULT_FILES),
    "qqp": GlueSpec(
        "QQP",
        {"question1": "question1", "question2": "question2"},
        "is_duplicate",
        ("not_duplicate", "duplicate"),
        ("f1", "accuracy"),
        _DEFAULT_FILES,
    ),
    "mnli": GlueSpec(
        "MNLI",
        {"premise": "sentence1", "hypothesis": "sentence2"},
        "gold_label",
        ("entailment", "neutral", "contradiction"),
        ("accuracy",),
        {
            "train": "train.tsv",
            "validation_matched": "dev_matched.tsv",
            "validation_mismatched": "dev_mismatched.tsv",
            "test_matched": "test_matched.tsv",
            "test_mismatched": "test_mismatched.tsv",
        },
    ),
    "qnli": GlueSpec(
        "QNLI",
        {"question": "question", "sentence": "sentence"},
        "label",
        ("entailment", "not_entailment"),
        ("accuracy",),
        _DEFAULT_FILES,
    ),
    "rte": GlueSpec("RTE", _PAIR, "label", ("entailment", "not_entailment"), ("accuracy",), _DEFAULT_FILES),
    "wnli": GlueSpec("WNLI", _PAIR, "label", ("not_entailment", "entailment"), ("accuracy",), _DEFAULT_FILES),
}


def read_glue_tsv(
    path: str,
    text_columns: dict[str, str],
    label_column: str | None,
    label_names: tuple[str, ...] | None,
    fieldnames: tuple[str, ...] | None,
) -> Iterator[dict[str, Any]]:
    """Rows of a GLUE TSV in the Hub schema. Labels: an index ("0"/"1"), a label name ("entailment"),
    a float (STS-B); a row without one (the test files) gets -1. Rows too short for the needed fields are
    skipped (QQP's train file has a few), as the Hub's converter did."""
    columns = list(fieldnames) if fieldnames else header(path, "tsv")  # NSMC's are .txt
    missing = [c for c in text_columns.values() if c not in columns]
    if missing:
        raise UserError(f"{path}: no column {missing[0]!r} in the header (found: {', '.join(columns)})")
    labelled = label_column is not None and label_column in columns
    index = {name: i for i, name in enumerate(label_names or ())}
    for idx, row in enumerate(read_rows(path, fieldnames=fieldnames, format="tsv")):
        texts = {out: row.get(column) for out, column in text_columns.items()}
        if any(text is None for text in texts.values()):
            continue
        label: float | int = -1
        value = (row.get(label_column) or "").strip() if labelled else ""
        if value:
            if label_names is None:
                label = float(value)
            elif value in index:
                label = index[value]
            elif value.lstrip("-").isdigit() and 0 <= int(value) < len(index):
                label = int(value)
            else:
                raise UserError(
                    f"{path}: row {idx + 1} has label {value!r}, expected one of {', '.join(index)}"
                )
        yield {**texts, "label": label, "idx": idx}


@dataclasses.dataclass(kw_only=True)
class GlueTask(SequenceClassificationTask):
    """A GLUE task: `load()` reads the Hub's nyu-mll/glue or the original TSVs; GLUE's metrics."""

    spec: GlueSpec

    def features(self) -> datasets.Features:
        label = (
            datasets.Value("float32")
            if self.label_names is None
            else datasets.ClassLabel(names=self.label_names)
        )
        return datasets.Features(
            {
                **{c: datasets.Value("string") for c in self.text_columns},
                "label": label,
                "idx": datasets.Value("int32"),
            }
        )

    def load_files(
        self, data_dir: Path, *, cache_dir: str | None = None, splits: Sequence[str] | None = None
    ) -> datasets.DatasetDict:
        first = self.spec.files[self.train_split]
        folder = find_dir(data_dir, f"glue/{self.spec.folder}", self.spec.folder, must_contain=first)
        out = {}
        for split, file_name in self.spec.files.items():
            if splits is not None and split not in splits:
                continue
            path = folder / file_name
            if not path.is_file():
                if split in (self.train_split, self.eval_split):
                    raise UserError(f"{path}: file not found (the {split} split of {self.name})")
                continue
            out[split] = self._read(path, split, cache_dir, self.spec.headerless.get(split))
        return datasets.DatasetDict(out)

    def _read(self, path: Path, split: str, cache_dir: str | None, fieldnames) -> datasets.Dataset:
        return cached_dataset(
            read_glue_tsv,
            self.features(),
            [path],
            cache_dir,
            split=split,
            path=str(path),
            text_columns=self.spec.text_columns,
            label_column=self.spec.label_column,
            label_names=self.spec.label_names,
            fieldnames=fieldnames,
        )

    def load_file(
        self, paths: Sequence[Path], split: str, *, cache_dir: str | None = None
    ) -> datasets.Dataset:
        """A TSV with the release's header (e.g. a GLUE dev file, NSMC's id/document/label rows)."""
        (path,) = _one_file(paths, self.name)
        # laid out as the evaluation file is (CoLA's have no header)
        return self._read(path, split, cache_dir, self.spec.headerless.get(self.eval_split))

    def scores(self, predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
        out: dict[str, float] = {}
        for name in self.spec.metrics:
            if name == "accuracy":
                out.update(M.accuracy(predictions, references))
            elif name == "f1":
                out.update(M.f1(predictions, references, "binary"))
            elif name == "matthews_correlation":
                out.update(M.matthews_correlation(predictions, references))
            elif name == "pearson":
                out.update(M.pearson_spearman(predictions, references))
        return out


def _one_file(paths: Sequence[Path], task: str) -> tuple[Path]:
    if len(paths) != 1:
        raise UserError(f"task {task}: --file takes one file, got {len(paths)}")
    if not paths[0].is_file():
        raise UserError(f"{paths[0]}: file not found")
    return (paths[0],)


def glue_task(config: str, **options: Any) -> GlueTask:
    spec = GLUE[config]
    fixed = dict(
        name=config,
        problem_type="single_label" if spec.label_names else "regression",
        description=f"GLUE {spec.folder}: "
        + ("sentence pair" if len(spec.text_columns) > 1 else "single sentence"),
        hub_dataset="nyu-mll/glue",
        hub_config=config,
        label_names=list(spec.label_names) if spec.label_names else None,
        eval_split="validation_matched" if config == "mnli" else "validation",
        test_split="test_matched" if config == "mnli" else "test",
        main_metric=spec.metrics[0],
        text_columns=tuple(spec.text_columns),
        spec=spec,
    )
    return build_task(GlueTask, fixed, options)


TASKS = {config: functools.partial(glue_task, config) for config in GLUE}
ALIASES = {"sst-2": "sst2", "sts-b": "stsb"}
