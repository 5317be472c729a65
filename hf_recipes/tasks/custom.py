"""`custom`: fine-tune on the user's own CSV / TSV / JSON / JSON Lines files.

    get_task("custom", task_type="single_label", train_file="train.csv", validation_file="dev.csv",
             text_columns=["review"], label_column="stars")

task_type: single_label, multi_label, regression, token_classification, question_answering. Files are read
by extension: .csv (comma, quotes honoured), .tsv (tab, quotes NOT special, as GLUE's files need), .json /
.jsonl (records or JSON lines; for QA also a SQuAD-format .json). CSV/TSV cells are read as text and parsed
here, so a column's type never depends on pandas' guess.

- single_label / regression / multi_label: one text column or a pair (`text_columns`), `label_column`.
  Multi-label cells are lists (JSON) or strings split on `label_separator`.
- token_classification: `text_columns` = the words column (lists, or whitespace-separated strings),
  `label_column` = the tags column (same forms, same length); IOB1 tags are normalised to IOB2.
- question_answering: `question_column`, `context_column`, `answers_column` (SQuAD's
  {"text": [...], "answer_start": [...]}, or the answer text, found in the context), optional `id_column`.

Labels are discovered from the training file (numeric order when they are all integers, else sorted; "O"
first for tags) and become the model's id2label / label2id; or they are given (`labels`, e.g. a fine-tuned
model's id2label, so an evaluation needs no training file). Without a validation file, `validation_fraction`
of the training rows are held out (seed 42). Every problem with the files — a missing file or column, an
empty file, an unparsable cell, a label in validation that training never saw — is ONE UserError line that
names the file and the column.
"""

import dataclasses
import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets

from .. import metrics as M
from ..data.tables import EXTENSIONS, cached_dataset, read_table
from ..errors import UserError
from .base import Task, option, select_splits, values
from .glue import SequenceClassificationTask
from .ner import TokenClassificationTask
from .qa import SQUAD_FEATURES, QuestionAnsweringTask, read_squad

TASK_TYPES = ("single_label", "multi_label", "regression", "token_classification", "question_answering")
_TASK_TYPE_ALIASES = {
    "single-label": "single_label",
    "classification": "single_label",
    "text_classification": "single_label",
    "multi-label": "multi_label",
    "multilabel": "multi_label",
    "token-classification": "token_classification",
    "ner": "token_classification",
    "question-answering": "question_answering",
    "qa": "question_answering",
}
_SPLIT_STEMS = {"train": ("train",), "validation": ("validation", "valid", "dev", "val"), "test": ("test",)}


# ---------------------------------------------------------------------------------------------------------
# Reading files


def _require_columns(table: datasets.Dataset, path: Path, wanted: dict[str, str]) -> None:
    """wanted: column → the option that names it."""
    for column, option_name in wanted.items():
        if column not in table.column_names:
            raise UserError(
                f"{path}: no column {column!r} (columns: {', '.join(table.column_names)}); "
                f"set {option_name} to one of them"
            )


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _label_key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _sorted_labels(keys: set[str]) -> list[str]:
    if all(key.lstrip("-").isdigit() for key in keys):
        return sorted(keys, key=int)
    return sorted(keys)


def _listing(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


# Map functions (module level, bound with functools.partial: datasets can fingerprint and cache them).


def _encode_single(batch, *, column: str, label2id: dict[str, int]):
    return {column: [label2id[_label_key(v)] for v in batch[column]]}


def _encode_multi(batch, *, column: str, label2id: dict[str, int], separator: str):
    return {column: [[label2id[k] for k in _multi_keys(v, separator)] for v in batch[column]]}


def _encode_float(batch, *, column: str):
    return {column: [float(v) for v in batch[column]]}


def _encode_tokens(batch, *, tokens_column: str, tags_column: str, label2id: dict[str, int]):
    return {
        "tokens": [_as_list(v) for v in batch[tokens_column]],
        "tags": [[label2id[t] for t in M.iob1_to_iob2(_as_list(v))] for v in batch[tags_column]],
    }


def _encode_answers(batch, *, context_column: str, answers_column: str):
    return {answers_column: [_answers(a, c)[0] for a, c in zip(batch[answers_column], batch[context_column])]}


def _multi_keys(value: Any, separator: str) -> list[str]:
    if isinstance(value, list | tuple):
        return [_label_key(v) for v in value]
    if _is_missing(value):
        return []
    return [part.strip() for part in str(value).split(separator) if part.strip()]


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value).split() if value is not None else []


def _answers(value: Any, context: str) -> tuple[dict[str, list], str | None]:
    """A cell of the answers column → SQuAD's {"text", "answer_start"} (and an error text, or None)."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    if isinstance(value, dict):
        texts = value.get("text") or []
        starts = value.get("answer_start")
        texts = [texts] if isinstance(texts, str) else list(texts)
        if starts is None:
            starts = [context.find(t) for t in texts]
        starts = [starts] if isinstance(starts, int) else [int(s) for s in starts]
        if len(starts) != len(texts):
            return {"text": [], "answer_start": []}, "answer texts and answer_start have different lengths"
    elif _is_missing(value):
        texts, starts = [], []
    else:
        texts = [str(value)]
        starts = [context.find(texts[0])]
    for text, start in zip(texts, starts):
        if start < 0 or context[start : start + len(text)] != text:
            return {"text": [], "answer_start": []}, f"answer {text!r} is not in the context at {start}"
    return {"text": texts, "answer_start": starts}, None


# ---------------------------------------------------------------------------------------------------------
# The custom task


@dataclasses.dataclass(kw_only=True)
class CustomFiles:
    """Options shared by every custom task type: where the files are and which columns matter."""

    task_type: str = option(
        "single_label", "single_label | multi_label | regression | token_classification | question_answering"
    )
    train_file: str | None = option(None, "training file (.csv .tsv .json .jsonl), relative to the data dir")
    validation_file: str | None = option(
        None, "validation file (default: <data_dir>/validation.* or a held-out share)"
    )
    test_file: str | None = option(None, "optional test file (labels optional)")
    text_columns: list[str] | None = option(
        None, "text column, or two for a pair (token classification: the words)"
    )
    label_column: str | None = option(None, "label column (default 'label'; token classification: 'tags')")
    label_separator: str = option(",", "separator of labels inside a multi-label cell")
    validation_fraction: float = option(
        0.1, "share of training rows held out when there is no validation file"
    )
    labels: list[str] | None = option(
        None,
        "the label set, in id order (default: discovered from the training file; e.g. a model's id2label)",
    )
    names: list[str] | None = option(
        None,
        "a name for each label, in id order (e.g. [negative, positive] for a file's 0 and 1): the model's "
        "id2label and the predictions use them; single_label and multi_label only",
    )

    def _files(self, data_dir: Path | None) -> dict[str, Path]:
        given = {"train": self.train_file, "validation": self.validation_file, "test": self.test_file}
        files: dict[str, Path] = {}
        for split, name in given.items():
            if name is not None:
                path = Path(name).expanduser()
                files[split] = path if path.is_absolute() or data_dir is None else data_dir / path
            elif data_dir is not None:
                found = [data_dir / f"{stem}{ext}" for stem in _SPLIT_STEMS[split] for ext in EXTENSIONS]
                found = [p for p in found if p.is_file()]
                if found:
                    files[split] = found[0]
        if "train" not in files and (self.labels is None or not files):
            where = f" and no train{{{','.join(EXTENSIONS)}}} in {data_dir}" if data_dir is not None else ""
            raise UserError(f"task custom: no training file; set train_file=<path>{where}")
        return files

    def load(
        self,
        data_dir: str | Path | None = None,
        *,
        cache_dir: str | Path | None = None,
        splits: Sequence[str] | None = None,
    ) -> datasets.DatasetDict:
        cache_dir = str(cache_dir) if cache_dir is not None else None
        files = self._files(Path(data_dir) if data_dir is not None else None)
        tables = {split: self.read(path, cache_dir) for split, path in files.items()}
        if self.labels is not None:
            self.label_names = [str(label) for label in self.labels]
            source = "the `labels` option"
        else:
            self.discover(tables["train"], files["train"])
            source = f"the training file {files['train']}"
        self._name_labels()
        out = {split: self.normalise(table, files[split], split, source) for split, table in tables.items()}
        if "validation" not in out and "train" in out:
            if len(out["train"]) < 2:
                raise UserError(
                    f"{files['train']}: too few rows to hold out a validation share; give validation_file"
                )
            held_out = out["train"].train_test_split(test_size=self.validation_fraction, seed=42)
            out["train"], out["validation"] = held_out["train"], held_out["test"]
        return select_splits(datasets.DatasetDict(out), splits, self.name)

    def load_file(
        self, paths: Sequence[Path], split: str, *, cache_dir: str | None = None
    ) -> datasets.Dataset:
        """Another file of the training file's kind, read and checked the same way (after `load`, which set
        the labels)."""
        if len(paths) != 1 or not paths[0].is_file():
            raise UserError(f"task custom: --file takes one existing file, got {', '.join(map(str, paths))}")
        return self.normalise(self.read(paths[0], cache_dir), paths[0], split, "the training file")

    def _name_labels(self) -> None:
        """Put `names` in place of the label values of the files (kept in `_keys` to read more files by)."""
        if self.names is None or getattr(self, "_keys", None) is not None:
            return
        if self.task_type not in ("single_label", "multi_label"):
            raise UserError(
                f"task custom: names: only for single_label and multi_label, not {self.task_type}"
            )
        if len(self.names) != len(self.label_names) or len(set(map(str, self.names))) != len(self.names):
            raise UserError(
                f"task custom: names: {len(self.names)} names for the {len(self.label_names)} labels "
                f"{_listing(self.label_names)}; give one distinct name each, in that order"
            )
        self._keys, self.label_names = self.label_names, [str(name) for name in self.names]

    @property
    def label_keys(self) -> dict[str, int]:
        """The labels as the files write them → their ids."""
        return {key: i for i, key in enumerate(getattr(self, "_keys", None) or self.label_names)}

    # Hooks for each task type.
    def read(self, path: Path, cache_dir: str | None) -> datasets.Dataset:
        return read_table(path, cache_dir)

    def discover(self, train: datasets.Dataset, path: Path) -> None:
        """Set label_names from the training table (no-op where there are none)."""

    def normalise(
        self, table: datasets.Dataset, path: Path, split: str, label_source: str
    ) -> datasets.Dataset:
        raise NotImplementedError


@dataclasses.dataclass(kw_only=True)
class CustomSequenceClassificationTask(CustomFiles, SequenceClassificationTask):
    """The label stays in the user's column (`label_column`), re-encoded: class ids, lists of ids, floats."""

    def __post_init__(self):
        super().__post_init__()
        self.text_columns = _as_columns(self.text_columns, ["text"])
        if not 1 <= len(self.text_columns) <= 2:
            raise UserError(
                f"task custom: text_columns takes one column or a pair, got {len(self.text_columns)}"
            )
        self.label_column = self.label_column or "label"
        if self.label_column in self.text_columns:
            raise UserError(
                f"task custom: column {self.label_column!r} cannot be both a text and the label column"
            )

    def _label_keys(self, table: datasets.Dataset, path: Path) -> list[list[str]]:
        keys = []
        for row, value in enumerate(values(table, self.label_column), start=1):
            if self.problem_type == "multi_label":
                keys.append(_multi_keys(value, self.label_separator))
            elif _is_missing(value):
                raise UserError(f"{path}: row {row}: column {self.label_column!r} is empty")
            else:
                keys.append([_label_key(value)])
        return keys

    def discover(self, train: datasets.Dataset, path: Path) -> None:
        _require_columns(
            train, path, {**{c: "text_columns" for c in self.text_columns}, self.label_column: "label_column"}
        )
        if self.problem_type == "regression":
            return
        seen = {key for keys in self._label_keys(train, path) for key in keys}
        if len(seen) < 2 and self.problem_type == "single_label":
            raise UserError(
                f"{path}: column {self.label_column!r} has {len(seen)} distinct label(s); need at least 2"
            )
        self.label_names = _sorted_labels(seen)

    def normalise(self, table, path, split, label_source):
        has_labels = self.label_column in table.column_names
        columns = {c: "text_columns" for c in self.text_columns}
        if split != "test" or has_labels:
            columns[self.label_column] = "label_column"
        _require_columns(table, path, columns)
        for column in self.text_columns:
            for row, value in enumerate(values(table, column), start=1):
                if value is not None and not isinstance(value, str):
                    raise UserError(
                        f"{path}: row {row}: column {column!r} holds {type(value).__name__}, expected text"
                    )
        table = table.select_columns(self.text_columns + ([self.label_column] if has_labels else []))
        if not has_labels:
            return table
        label = self.label_column
        if self.problem_type == "regression":
            for row, value in enumerate(values(table, label), start=1):
                try:
                    float(value)
                except (TypeError, ValueError):
                    raise UserError(
                        f"{path}: row {row}: column {label!r} holds {value!r}, expected a number"
                    ) from None
            function = functools.partial(_encode_float, column=label)
            label_feature = datasets.Value("float32")
        else:
            known = self.label_keys
            for row, keys in enumerate(self._label_keys(table, path), start=1):
                unseen = [k for k in keys if k not in known]
                if unseen:
                    raise UserError(
                        f"{path}: row {row}: column {label!r} has label {unseen[0]!r}, not in {label_source} "
                        f"(labels: {_listing(list(known))})"
                    )
            label_class = datasets.ClassLabel(names=self.label_names)
            if self.problem_type == "multi_label":
                function = functools.partial(
                    _encode_multi, column=label, label2id=known, separator=self.label_separator
                )
                label_feature = datasets.Sequence(label_class)
            else:
                function = functools.partial(_encode_single, column=label, label2id=known)
                label_feature = label_class
        features = datasets.Features(
            {**{c: datasets.Value("string") for c in self.text_columns}, label: label_feature}
        )
        return table.map(function, batched=True, features=features, desc=f"custom: labels of {path.name}")


@dataclasses.dataclass(kw_only=True)
class CustomTokenClassificationTask(CustomFiles, TokenClassificationTask):
    tags_column: str = "tags"

    def __post_init__(self):
        super().__post_init__()
        columns = _as_columns(self.text_columns, ["tokens"])
        if len(columns) != 1:
            raise UserError(
                f"task custom: token classification takes one words column in text_columns, got {columns}"
            )
        self.text_columns = columns
        self.label_column = self.label_column or "tags"

    def _rows(self, table: datasets.Dataset, path: Path):
        words_column, tags_column = self.text_columns[0], self.label_column
        for row, (words, tags) in enumerate(
            zip(values(table, words_column), values(table, tags_column)), start=1
        ):
            words, tags = _as_list(words), M.iob1_to_iob2(_as_list(tags))
            if len(words) != len(tags):
                raise UserError(
                    f"{path}: row {row}: {len(words)} words in column {words_column!r} but {len(tags)} tags in "
                    f"column {tags_column!r}"
                )
            yield row, tags

    def discover(self, train: datasets.Dataset, path: Path) -> None:
        _require_columns(
            train, path, {self.text_columns[0]: "text_columns", self.label_column: "label_column"}
        )
        seen = {tag for _, tags in self._rows(train, path) for tag in tags}
        if not seen:
            raise UserError(f"{path}: column {self.label_column!r} holds no tags")
        self.label_names = (["O"] if "O" in seen else []) + sorted(
            seen - {"O"}, key=lambda t: (t[2:], t[:2]) if t[1:2] == "-" else (t, "")
        )

    def normalise(self, table, path, split, label_source):
        words_column, tags_column = self.text_columns[0], self.label_column
        if split == "test" and tags_column not in table.column_names:
            _require_columns(table, path, {words_column: "text_columns"})
            return table.map(
                _words_only,
                fn_kwargs={"column": words_column},
                batched=True,
                remove_columns=table.column_names,
                features=datasets.Features({"tokens": datasets.Sequence(datasets.Value("string"))}),
            )
        _require_columns(table, path, {words_column: "text_columns", tags_column: "label_column"})
        known = self.label2id
        for row, tags in self._rows(table, path):
            unseen = [t for t in tags if t not in known]
            if unseen:
                raise UserError(
                    f"{path}: row {row}: column {tags_column!r} has tag {unseen[0]!r}, not in {label_source} "
                    f"(tags: {_listing(self.label_names)})"
                )
        return table.map(
            functools.partial(
                _encode_tokens, tokens_column=words_column, tags_column=tags_column, label2id=known
            ),
            batched=True,
            remove_columns=table.column_names,
            features=datasets.Features(
                {
                    "tokens": datasets.Sequence(datasets.Value("string")),
                    "tags": datasets.Sequence(datasets.ClassLabel(names=self.label_names)),
                }
            ),
            desc=f"custom: tags of {path.name}",
        )


def _words_only(batch, *, column: str):
    return {"tokens": [_as_list(v) for v in batch[column]]}


@dataclasses.dataclass(kw_only=True)
class CustomQuestionAnsweringTask(CustomFiles, QuestionAnsweringTask):
    question_column: str = option("question", "question column (QA)")
    context_column: str = option("context", "context column (QA)")
    answers_column: str = option("answers", "answers column (QA): SQuAD dicts or the answer text")
    id_column: str = option("id", "question id column (QA; row numbers when absent)")

    def read(self, path: Path, cache_dir: str | None) -> datasets.Dataset:
        if path.suffix.lower() == ".json" and _is_squad_json(path):
            return cached_dataset(read_squad, SQUAD_FEATURES, [path], cache_dir, path=str(path))
        return read_table(path, cache_dir)

    def normalise(self, table, path, split, label_source):
        columns = {self.question_column: "question_column", self.context_column: "context_column"}
        has_answers = self.answers_column in table.column_names
        if split != "test" or has_answers:
            columns[self.answers_column] = "answers_column"
        _require_columns(table, path, columns)
        if self.id_column not in table.column_names:
            table = table.add_column(self.id_column, [f"{split}-{i}" for i in range(len(table))])
        if not has_answers:
            table = table.add_column(self.answers_column, [{"text": [], "answer_start": []}] * len(table))
        else:
            contexts = values(table, self.context_column)
            for row, value in enumerate(values(table, self.answers_column), start=1):
                _, problem = _answers(value, contexts[row - 1])
                if problem:
                    raise UserError(f"{path}: row {row}: column {self.answers_column!r}: {problem}")
        table = table.select_columns(
            [self.id_column, self.question_column, self.context_column, self.answers_column]
        )
        if table.features[self.answers_column] == SQUAD_FEATURES["answers"]:
            return table.cast_column(self.id_column, datasets.Value("string"))
        return table.map(
            functools.partial(
                _encode_answers, context_column=self.context_column, answers_column=self.answers_column
            ),
            batched=True,
            features=datasets.Features(
                {
                    self.id_column: datasets.Value("string"),
                    self.question_column: datasets.Value("string"),
                    self.context_column: datasets.Value("string"),
                    self.answers_column: SQUAD_FEATURES["answers"],
                }
            ),
            desc=f"custom: answers of {path.name}",
        )


def _is_squad_json(path: Path) -> bool:
    with path.open(encoding="utf-8") as handle:
        start = handle.read(4096).lstrip()
    return start.startswith("{") and '"data"' in start


def _as_columns(value: Any, default: list[str]) -> list[str]:
    if value is None:
        return list(default)
    return [value] if isinstance(value, str) else list(value)


_CLASSES: dict[str, type[Task]] = {
    "single_label": CustomSequenceClassificationTask,
    "multi_label": CustomSequenceClassificationTask,
    "regression": CustomSequenceClassificationTask,
    "token_classification": CustomTokenClassificationTask,
    "question_answering": CustomQuestionAnsweringTask,
}
_MAIN_METRIC = {"single_label": "accuracy", "multi_label": "micro_f1", "regression": "pearson"}


def custom(**options: Any) -> Task:
    task_type = str(options.pop("task_type", "single_label")).strip().lower()
    task_type = _TASK_TYPE_ALIASES.get(task_type, task_type)
    if task_type not in TASK_TYPES:
        raise UserError(f"task custom: task_type {task_type!r} is not one of {', '.join(TASK_TYPES)}")
    cls = _CLASSES[task_type]
    allowed = cls.options()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UserError(f"task custom: unknown option {unknown[0]!r} (options: {', '.join(allowed)})")
    fixed: dict[str, Any] = dict(
        name="custom",
        problem_type=task_type,
        task_type=task_type,
        description=f"custom {task_type} task",
        test_split="test",
    )
    if task_type in _MAIN_METRIC:
        fixed["main_metric"] = _MAIN_METRIC[task_type]
    return cls(**fixed, **options)


TASKS = {"custom": custom}
