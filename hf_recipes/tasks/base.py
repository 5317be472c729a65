"""The Task interface every fine-tuning task implements, and the helpers the task modules share.

A fine-tuning job is a thin loop over one `Task`:

    task = get_task("sst2")                                   # or get_task("custom", task_type=..., ...)
    raw = task.load(data_dir)                                 # DatasetDict, Hub or original release files
    features = task.prepare(raw, tokenizer, max_length)       # datasets.map(batched=True) on every split
    model = getattr(transformers, task.auto_model).from_pretrained(checkpoint, **task.model_kwargs())
    trainer = Trainer(model, args, train_dataset=features[task.train_split],
                      eval_dataset=features[task.eval_split], data_collator=task.data_collator(tokenizer, model),
                      compute_metrics=task.compute_metrics_fn(tokenizer=tokenizer, examples=raw[task.eval_split],
                                                              features=features[task.eval_split]))
    output = trainer.predict(features[task.eval_split])
    rows = task.predictions(raw[task.eval_split], features[task.eval_split], output.predictions, tokenizer=tokenizer)

A task is a dataclass: the fields made with `option(...)` are what a user may set (`get_task(name, **options)`,
a recipe's `task:` section); the other fields are fixed by the registry entry.

What differs between tasks in how a model is trained on them is here too, so that the fine-tuning job has no
`if` on the kind of task: the TrainingArguments class and defaults, the text a new tokenizer learns from, the
config fields a model built from scratch takes from it, how the model decodes, and the pictures of the final
model (a confusion matrix, attention maps).
"""

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import datasets
import numpy as np

from ..errors import UserError

# problem_type → (AutoModel class, transformers config.problem_type)
PROBLEM_TYPES: dict[str, tuple[str, str | None]] = {
    "single_label": ("AutoModelForSequenceClassification", "single_label_classification"),
    "multi_label": ("AutoModelForSequenceClassification", "multi_label_classification"),
    "regression": ("AutoModelForSequenceClassification", "regression"),
    "token_classification": ("AutoModelForTokenClassification", None),
    "question_answering": ("AutoModelForQuestionAnswering", None),
    "seq2seq": ("AutoModelForSeq2SeqLM", None),
    "captioning": ("AutoModelForImageTextToText", None),
}

# Head of a model (its Auto class) → the `transformers.pipeline` task that serves it, also the Hub's pipeline
# tag; heads without a pipeline get none. A task can name a narrower one (translation for a seq2seq task).
PIPELINE_TAGS = {
    "AutoModelForCausalLM": "text-generation",
    "AutoModelForMaskedLM": "fill-mask",
    "AutoModelForPreTraining": "fill-mask",
    "AutoModelForSequenceClassification": "text-classification",
    "AutoModelForTokenClassification": "token-classification",
    "AutoModelForQuestionAnswering": "question-answering",
    "AutoModelForSeq2SeqLM": "text2text-generation",
    "AutoModelForImageTextToText": "image-text-to-text",
    "AutoModel": "feature-extraction",
}

IGNORE_INDEX = -100  # label id that the losses, the collators and our metrics skip


def option(default: Any, doc: str = "") -> Any:
    """A user-settable task field (everything else on a task is fixed by its registry entry)."""
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"option": doc})
    return dataclasses.field(default=default, metadata={"option": doc})


@dataclasses.dataclass(kw_only=True)
class Task:
    """One fine-tuning task: where its data is, how it becomes model inputs, which head, which metric."""

    name: str
    problem_type: str  # a key of PROBLEM_TYPES
    description: str = ""
    hub_dataset: str | None = None  # load_dataset(hub_dataset, hub_config) when no data_dir is given
    hub_config: str | None = None
    label_names: list[str] | None = None  # index = class id; None for regression, QA, seq2seq
    train_split: str = "train"
    eval_split: str = "validation"
    test_split: str | None = "test"
    main_metric: str = "loss"  # for TrainingArguments.metric_for_best_model
    greater_is_better: bool = True
    default_max_length: int = 128

    # The model writes its output token by token (seq2seq): evaluation decodes with `generate`.
    generates: ClassVar[bool] = False

    def __post_init__(self):
        if self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"{self.name}: unknown problem_type {self.problem_type!r}")

    # ---- options -------------------------------------------------------------------------------------
    @classmethod
    def options(cls) -> dict[str, str]:
        """Name → help of every user-settable field."""
        return {f.name: f.metadata["option"] for f in dataclasses.fields(cls) if "option" in f.metadata}

    # ---- the model side --------------------------------------------------------------------------------
    @property
    def auto_model(self) -> str:
        """Name of the transformers AutoModel class to load the checkpoint with."""
        return PROBLEM_TYPES[self.problem_type][0]

    @property
    def pipeline_task(self) -> str:
        """The `transformers.pipeline` task that serves the fine-tuned output directory."""
        return PIPELINE_TAGS[self.auto_model]

    @property
    def num_labels(self) -> int | None:
        if self.problem_type == "regression":
            return 1
        return len(self.label_names) if self.label_names is not None else None

    @property
    def id2label(self) -> dict[int, str] | None:
        return dict(enumerate(self.label_names)) if self.label_names is not None else None

    @property
    def label2id(self) -> dict[str, int] | None:
        return (
            {label: i for i, label in enumerate(self.label_names)} if self.label_names is not None else None
        )

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `AutoModelFor*.from_pretrained` (they end up in the saved config)."""
        if self.problem_type in ("question_answering", "seq2seq", "captioning"):
            return {}
        if self.problem_type == "regression":
            return {"num_labels": 1, "problem_type": "regression"}
        if self.label_names is None:
            raise RuntimeError(
                f"task {self.name}: call load() first, the labels are discovered from the data"
            )
        kwargs: dict[str, Any] = {
            "num_labels": self.num_labels,
            "id2label": self.id2label,
            "label2id": self.label2id,
        }
        if PROBLEM_TYPES[self.problem_type][1] is not None:
            kwargs["problem_type"] = PROBLEM_TYPES[self.problem_type][1]
        return kwargs

    # ---- data --------------------------------------------------------------------------------------------
    def load(
        self,
        data_dir: str | Path | None = None,
        *,
        cache_dir: str | Path | None = None,
        splits: Sequence[str] | None = None,
    ) -> datasets.DatasetDict:
        """The raw splits: from the Hub (`hub_dataset`) when `data_dir` is None, else from the original
        release files under `data_dir` (laid out as ../shared/data: glue/SST-2/train.tsv, ...).
        `splits` keeps only those (and, for release files, reads only those where it can)."""
        cache_dir = str(cache_dir) if cache_dir is not None else None
        wanted = tuple(splits) if splits is not None else None
        if data_dir is None:
            raw = self.load_hub(cache_dir=cache_dir)
        else:
            raw = self.load_files(Path(data_dir), cache_dir=cache_dir, splits=wanted)
        return select_splits(raw, wanted, self.name)

    def load_sampled(
        self, data_dir: str | Path | None, limits: dict[str, int | None], seed: int
    ) -> datasets.DatasetDict:
        """The splits named in `limits`, each cut to its limit of random rows (seed `seed`; the release files are
        often sorted, by label or by source, so the first rows would not do); None keeps a whole split."""
        raw = self.load(data_dir, splits=list(limits))
        for split, limit in limits.items():
            if limit is not None and limit < len(raw[split]):
                raw[split] = raw[split].shuffle(seed=seed).select(range(limit)).flatten_indices()
            if len(raw[split]) == 0:
                raise UserError(f"task {self.name}: the {split} split is empty")
        return raw

    def load_hub(self, *, cache_dir: str | None = None) -> datasets.DatasetDict:
        if self.hub_dataset is None:
            raise UserError(f"task {self.name} has no Hub dataset: give a data directory (--data-dir)")
        try:
            raw = datasets.load_dataset(self.hub_dataset, self.hub_config, cache_dir=cache_dir)
        except (ConnectionError, OSError) as error:
            where = self.hub_dataset + (f" ({self.hub_config})" if self.hub_config else "")
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise UserError(
                f"could not load the Hub dataset {where}: {first}; offline, pass --data-dir with the release files"
            ) from None
        return self.from_hub(raw)

    def from_hub(self, raw: datasets.DatasetDict) -> datasets.DatasetDict:
        """Bring a Hub dataset to the schema `load_files` produces (default: unchanged)."""
        return raw

    def load_file(
        self, paths: Sequence[Path], split: str, *, cache_dir: str | None = None
    ) -> datasets.Dataset:
        """Rows of one more file in the format of the task's own files (`hf-recipes evaluate --file`), in the
        schema `load_files` gives, under the split name `split`."""
        raise UserError(f"task {self.name}: scoring a file of its own is not supported; use --split")

    def load_files(
        self, data_dir: Path, *, cache_dir: str | None = None, splits: Sequence[str] | None = None
    ) -> datasets.DatasetDict:
        raise UserError(
            f"task {self.name} cannot read local files; leave the data directory out to use the Hub"
        )

    # ---- preprocessing -----------------------------------------------------------------------------------
    def preprocess(self, tokenizer, max_length: int | None = None, *, split: str = "train") -> Callable:
        """A deterministic function for `Dataset.map(fn, batched=True)`: a batch of raw rows → model inputs
        (+ `labels`). `split` is "train" or "eval" (only QA makes them differ). Module-level functions bound
        with functools.partial, so that datasets can fingerprint them and reuse its cache."""
        raise NotImplementedError

    def prepare(
        self,
        dataset: datasets.DatasetDict,
        tokenizer,
        max_length: int | None = None,
        *,
        num_proc: int | None = None,
    ) -> datasets.DatasetDict:
        """`preprocess` mapped over every split, raw columns removed. Splits without labels (GLUE's test
        sets, label -1 everywhere) lose their label column first, so they yield inputs only."""
        out = {}
        for split_name, split in dataset.items():
            role = "train" if split_name == self.train_split else "eval"
            split = self._drop_missing_labels(split)
            out[split_name] = split.map(
                self.preprocess(tokenizer, max_length, split=role),
                batched=True,
                remove_columns=split.column_names,
                num_proc=num_proc,
                desc=f"{self.name}: tokenizing {split_name}",
            )
        return datasets.DatasetDict(out)

    def _drop_missing_labels(self, split: datasets.Dataset) -> datasets.Dataset:
        return split

    def data_collator(self, tokenizer, model=None):
        """A transformers collator for the features `prepare` produces (dynamic padding)."""
        from transformers import DataCollatorWithPadding

        check_pad_token(tokenizer, self.name)
        return DataCollatorWithPadding(tokenizer)

    # ---- metrics and outputs -----------------------------------------------------------------------------
    def compute_metrics(self, eval_pred) -> dict[str, float]:
        """`Trainer(compute_metrics=...)` for tasks whose metric needs nothing but logits and labels."""
        raise NotImplementedError(f"task {self.name}: use compute_metrics_fn(...)")

    def compute_metrics_fn(
        self, *, tokenizer=None, examples=None, features=None
    ) -> Callable[[Any], dict[str, float]]:
        """The function to give `Trainer(compute_metrics=...)`. QA needs the eval examples and features (to
        map logits back to context text); seq2seq needs the tokenizer (to decode). Others ignore them."""
        return self.compute_metrics

    def predictions(self, examples, features, raw_predictions, *, tokenizer=None) -> list[dict[str, Any]]:
        """One JSON-serialisable row per example (inputs, gold, prediction) for a predictions file."""
        raise NotImplementedError

    # ---- training (the fine-tuning job asks; seq2seq tasks answer differently) ----------------------------
    @property
    def training_arguments_class(self) -> type:
        """The TrainingArguments class a recipe's `training` section is checked against and built into."""
        from transformers import TrainingArguments

        return TrainingArguments

    def training_defaults(self) -> dict[str, Any]:
        """TrainingArguments this task sets unless the recipe does: the checkpoint it calls best."""
        return {"metric_for_best_model": self.main_metric, "greater_is_better": self.greater_is_better}

    def train_tokenizer(
        self,
        make: Callable[[Callable[[], Iterable[str]]], Any],
        train: datasets.Dataset,
        separate: bool = False,
    ):
        """A new tokenizer for a model built from scratch: `make(texts)` trains one on the strings `texts()`
        yields; by default on every text column of the training split. (`separate`: one vocabulary per side of
        a seq2seq task; the recipe allows it only there.)"""
        columns = [
            name for name, feature in train.features.items() if getattr(feature, "dtype", None) == "string"
        ]
        if not columns:
            raise UserError(f"tokenizer: task {self.name} has no text column to train a tokenizer on")
        return make(lambda: (text for column in columns for text in values(train, column)))

    def config_fields(self, tokenizer, field_names: set[str]) -> dict[str, Any]:
        """Config fields of a model built from scratch that follow from this task and its tokenizer (beyond
        the vocabulary size and special tokens every model takes); `field_names` are the family's fields."""
        return {}

    def configure_model(self, model, args, settings: dict[str, Any], max_length: int) -> None:
        """Last settings of the model before training (a seq2seq task's GenerationConfig)."""

    def save_with_model(self, out: Path, model, tokenizer) -> None:
        """Files the saved model needs beside its weights and tokenizer (a captioner: its processor)."""

    def write_pictures(self, out: Path, model, tokenizer, examples, output) -> list[Path]:
        """Pictures of the final model on the eval examples (`output`: Trainer.predict's), written to `out`."""
        return []

    def describe(self) -> dict[str, Any]:
        """What a model card (hf_recipes.model_card) says about the task."""
        return {
            "task": self.name,
            "problem_type": self.problem_type,
            "dataset": self.hub_dataset,
            "dataset_config": self.hub_config,
            "auto_model": self.auto_model,
            "pipeline": self.pipeline_task,
            "main_metric": self.main_metric,
            "labels": self.label_names,
            "options": {name: getattr(self, name) for name in self.options()},
        }


# ---------------------------------------------------------------------------------------------------------
# Helpers shared by the task modules


def values(dataset: datasets.Dataset, column: str) -> list:
    """A whole column as a Python list, fast (iterating `dataset[column]` decodes row by row in datasets 4+)."""
    return dataset[column][:]


def logits_of(predictions) -> np.ndarray:
    """Trainer hands `predictions` as an array, or a tuple when the model returns extra outputs."""
    if isinstance(predictions, tuple | list):
        predictions = predictions[0]
    return np.asarray(predictions)


def select_splits(raw: datasets.DatasetDict, splits: Sequence[str] | None, task: str) -> datasets.DatasetDict:
    if splits is None:
        return raw
    missing = [split for split in splits if split not in raw]
    if missing:
        raise UserError(f"task {task}: no split {missing[0]!r} (splits: {', '.join(raw)})")
    return datasets.DatasetDict({split: raw[split] for split in splits})


def build_task(cls: type[Task], fixed: dict[str, Any], options: dict[str, Any]) -> Task:
    """`cls(**fixed, **options)`, refusing in one line any option the task does not have."""
    allowed = cls.options()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        listing = ", ".join(allowed) if allowed else "none"
        raise UserError(f"task {fixed.get('name')}: unknown option {unknown[0]!r} (options: {listing})")
    return cls(**fixed, **options)


def find_dir(data_dir: Path, *candidates: str, must_contain: str) -> Path:
    """The first of data_dir/candidate (or data_dir itself) that holds `must_contain`."""
    for candidate in (*candidates, "."):
        folder = data_dir / candidate
        if (folder / must_contain).is_file():
            return folder
    expected = data_dir / candidates[0] / must_contain if candidates else data_dir / must_contain
    raise UserError(f"{expected}: file not found (expected the original release files under {data_dir})")


def check_pad_token(tokenizer, task: str) -> None:
    if getattr(tokenizer, "pad_token", None) is None:
        raise UserError(
            f"task {task}: the tokenizer has no pad token, batches cannot be padded; "
            "set one (e.g. tokenizer.pad_token = tokenizer.eos_token and model.config.pad_token_id to match)"
        )


def require_fast_tokenizer(tokenizer, task: str, why: str) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(
            f"task {task}: needs a fast (Rust `tokenizers`) tokenizer for {why}; got {type(tokenizer).__name__}"
        )


def write_jsonl(rows: Sequence[dict], path: str | Path) -> Path:
    """Write prediction rows, one JSON object a line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
