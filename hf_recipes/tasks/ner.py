"""Token classification (NER): CoNLL-2003, and the machinery `custom` reuses.

Words come pre-split; the tokenizer splits them further. Each word's label goes to its FIRST sub-token and
every other position gets -100 (ignored by the loss and the metric), found through the fast tokenizer's
`word_ids()`. With `label_all_tokens` the other sub-tokens of a word are trained too (a `B-X` word's
continuation pieces get `I-X`), as transformers' run_ner.py does; evaluation always scores the first
sub-token of each word, so the entity F1 is the word-level one that conlleval reports.

Tags are IOB2 inside the toolkit. Files may be IOB1 (CoNLL-2003 as released) or IOB2: they are normalised
on reading (`metrics.iob1_to_iob2`, a no-op on IOB2).
"""

import dataclasses
import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from .. import metrics as M
from ..data.tables import cached_dataset
from ..errors import UserError
from .base import (
    IGNORE_INDEX,
    Task,
    build_task,
    check_pad_token,
    find_dir,
    logits_of,
    option,
    require_fast_tokenizer,
    values,
)

# The Hub dataset's label order, so that id2label matches models fine-tuned from it.
CONLL2003_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def continuation_ids(label_names: Sequence[str]) -> list[int]:
    """For each label id, the id a word's later sub-tokens get under label_all_tokens (B-X → I-X)."""
    index = {name: i for i, name in enumerate(label_names)}
    return [
        index.get("I-" + name[2:], i) if name.startswith("B-") else i for i, name in enumerate(label_names)
    ]


def tokenize_and_align_labels(
    batch: dict[str, list],
    *,
    tokenizer,
    max_length: int,
    tokens_column: str,
    tags_column: str,
    label_all_tokens: bool,
    continuation: Sequence[int],
) -> dict[str, list]:
    """Batched map function: words → sub-token input ids; word tags → `labels` on first sub-tokens, -100
    on special tokens and (unless label_all_tokens) on the other sub-tokens of a word."""
    encoded = tokenizer(
        batch[tokens_column], is_split_into_words=True, truncation=True, max_length=max_length
    )
    if tags_column in batch:
        all_labels = []
        for row, tags in enumerate(batch[tags_column]):
            labels, previous = [], None
            for word in encoded.word_ids(row):
                if word is None:
                    labels.append(IGNORE_INDEX)
                elif word != previous:
                    labels.append(int(tags[word]))
                else:
                    labels.append(continuation[tags[word]] if label_all_tokens else IGNORE_INDEX)
                previous = word
            all_labels.append(labels)
        encoded["labels"] = all_labels
    return dict(encoded)


def read_conll(path: str, label_names: Sequence[str] | None) -> Iterator[dict[str, Any]]:
    """Sentences of a CoNLL column file: `token [POS chunk] TAG` a line (the tag is the last column), a
    blank line between sentences, `-DOCSTART-` lines skipped. Tags normalised to IOB2; with `label_names`
    they must be among them (else a UserError naming file and line) and are returned as ids."""
    index = {name: i for i, name in enumerate(label_names)} if label_names is not None else None

    def sentence(n: int, rows: list[tuple[int, list[str]]]) -> dict[str, Any]:
        tags = M.iob1_to_iob2([parts[-1] for _, parts in rows])
        if index is not None:
            for (line_number, _), tag in zip(rows, tags):
                if tag not in index:
                    raise UserError(
                        f"{path}:{line_number}: tag {tag!r} is not a label of this task ({', '.join(label_names)})"
                    )
            tags = [index[tag] for tag in tags]
        four = all(len(parts) >= 4 for _, parts in rows)
        return {
            "id": str(n),
            "tokens": [parts[0] for _, parts in rows],
            "pos_tags": [parts[1] if four else "" for _, parts in rows],
            "chunk_tags": [parts[2] if four else "" for _, parts in rows],
            "ner_tags": tags,
        }

    rows: list[tuple[int, list[str]]] = []
    count = 0
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts or parts[0] == "-DOCSTART-":
                if rows:
                    yield sentence(count, rows)
                    count, rows = count + 1, []
                continue
            if len(parts) < 2:
                raise UserError(
                    f"{path}:{line_number}: expected `token ... tag` columns, got {line.strip()!r}"
                )
            rows.append((line_number, parts))
    if rows:
        yield sentence(count, rows)


def conll_features(label_names: Sequence[str]) -> datasets.Features:
    strings = datasets.Sequence(datasets.Value("string"))
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "tokens": strings,
            "pos_tags": strings,
            "chunk_tags": strings,
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=list(label_names))),
        }
    )


@dataclasses.dataclass(kw_only=True)
class TokenClassificationTask(Task):
    """Pre-split words → one tag per word."""

    problem_type: str = "token_classification"
    tokens_column: str = "tokens"
    tags_column: str = "ner_tags"
    main_metric: str = "f1"
    label_all_tokens: bool = option(
        False, "also train on a word's later sub-tokens (B-X → I-X); eval is per word"
    )

    def preprocess(self, tokenizer, max_length: int | None = None, *, split: str = "train"):
        require_fast_tokenizer(tokenizer, self.name, "word_ids() label alignment")
        return functools.partial(
            tokenize_and_align_labels,
            tokenizer=tokenizer,
            max_length=max_length or self.default_max_length,
            tokens_column=self.tokens_column,
            tags_column=self.tags_column,
            label_all_tokens=self.label_all_tokens and split == "train",
            continuation=tuple(continuation_ids(self.label_names)),
        )

    def data_collator(self, tokenizer, model=None):
        from transformers import DataCollatorForTokenClassification

        check_pad_token(tokenizer, self.name)
        return DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE_INDEX)

    def tag_sequences(self, predictions, label_ids) -> tuple[list[list[str]], list[list[str]]]:
        """(gold, predicted) tag names at the labelled positions. `predictions`: logits (batch × length ×
        labels) or already ids (batch × length, e.g. from preprocess_logits_for_metrics)."""
        predictions = np.asarray(predictions)
        if predictions.ndim == 3:
            predictions = predictions.argmax(-1)
        names = self.label_names
        gold, predicted = [], []
        for prediction_row, label_row in zip(predictions, np.asarray(label_ids)):
            keep = label_row != IGNORE_INDEX
            gold.append([names[i] for i in label_row[keep]])
            predicted.append([names[i] for i in prediction_row[keep]])
        return gold, predicted

    def compute_metrics(self, eval_pred) -> dict[str, float]:
        gold, predicted = self.tag_sequences(logits_of(eval_pred.predictions), eval_pred.label_ids)
        return M.seqeval_scores(gold, predicted)

    def predictions(self, examples, features, raw_predictions, *, tokenizer=None) -> list[dict[str, Any]]:
        """Per word: the prediction of its first sub-token ("O" for a word cut off by max_length)."""
        if tokenizer is None:
            raise ValueError("predictions() of a token-classification task needs the tokenizer")
        predicted_ids = np.asarray(logits_of(raw_predictions))
        if predicted_ids.ndim == 3:
            predicted_ids = predicted_ids.argmax(-1)
        names = self.label_names
        rows = []
        lengths = [len(ids) for ids in values(features, "input_ids")]
        for i, example in enumerate(examples):
            words = example[self.tokens_column]
            length = lengths[i]
            word_ids = tokenizer(
                words, is_split_into_words=True, truncation=True, max_length=length
            ).word_ids()
            tags = ["O"] * len(words)
            previous = None
            for position, word in enumerate(word_ids):
                if word is not None and word != previous:
                    tags[word] = names[int(predicted_ids[i][position])]
                previous = word
            row = {"tokens": list(words), "prediction": M.iob1_to_iob2(tags)}
            if self.tags_column in example:
                row["tags"] = [names[t] for t in example[self.tags_column]]
            rows.append(row)
        return rows


@dataclasses.dataclass(kw_only=True)
class Conll2003Task(TokenClassificationTask):
    """CoNLL-2003 English NER: the Hub dataset, or `<data_dir>/conll2003_iob2/{train,dev,test}.txt` (also
    `conll2003/` or the data directory itself; `valid.txt` for dev.txt), or files of any name (`files`), e.g.
    the original release: `task.files='{train: eng.train, validation: eng.testa, test: eng.testb}'`."""

    files: dict = option(
        {}, "split -> file, relative to --data-dir (train, validation, test), in place of the default names"
    )

    def __post_init__(self):
        super().__post_init__()
        unknown = sorted(set(self.files) - {"train", "validation", "test"})
        if unknown or (self.files and not {"train", "validation"} <= set(self.files)):
            raise UserError(
                f"task {self.name}: files: expected train and validation (and optionally test) -> a file each, "
                f"got {sorted(self.files)}"
            )

    def load_files(
        self, data_dir: Path, *, cache_dir: str | None = None, splits: Sequence[str] | None = None
    ) -> datasets.DatasetDict:
        if self.files:
            folder, files = data_dir, {split: str(name) for split, name in self.files.items()}
        else:
            folder = find_dir(data_dir, "conll2003_iob2", "conll2003", must_contain="train.txt")
            files = {"train": "train.txt", "validation": "dev.txt", "test": "test.txt"}
            if not (folder / "dev.txt").is_file() and (folder / "valid.txt").is_file():
                files["validation"] = "valid.txt"
        out = {}
        for split, file_name in files.items():
            if splits is not None and split not in splits:
                continue
            path = folder / file_name
            if not path.is_file():
                if split == "test" and "test" not in self.files:
                    continue
                raise UserError(f"{path}: file not found (the {split} split of {self.name})")
            out[split] = cached_dataset(
                read_conll,
                conll_features(self.label_names),
                [path],
                cache_dir,
                split=split,
                path=str(path),
                label_names=tuple(self.label_names),
            )
        return datasets.DatasetDict(out)

    def load_file(
        self, paths: Sequence[Path], split: str, *, cache_dir: str | None = None
    ) -> datasets.Dataset:
        """A CoNLL file (IOB1 or IOB2) under any name."""
        if len(paths) != 1 or not paths[0].is_file():
            raise UserError(
                f"task {self.name}: --file takes one existing CoNLL file, got {', '.join(map(str, paths))}"
            )
        return cached_dataset(
            read_conll,
            conll_features(self.label_names),
            [paths[0]],
            cache_dir,
            split=split,
            path=str(paths[0]),
            label_names=tuple(self.label_names),
        )

    def from_hub(self, raw: datasets.DatasetDict) -> datasets.DatasetDict:
        """Hub copies differ in how they store the tags (ClassLabel ids in some order, or strings): bring them
        to ids in CONLL2003_LABELS order."""
        feature = raw[next(iter(raw))].features[self.tags_column]
        inner = getattr(feature, "feature", None)
        if isinstance(inner, datasets.ClassLabel) and list(inner.names) == self.label_names:
            return raw
        source_names = list(inner.names) if isinstance(inner, datasets.ClassLabel) else None
        index = {name: i for i, name in enumerate(self.label_names)}

        def convert(batch):
            tags = batch[self.tags_column]
            if source_names is not None:
                tags = [[source_names[t] for t in row] for row in tags]
            return {self.tags_column: [[index[t] for t in M.iob1_to_iob2(row)] for row in tags]}

        target = datasets.Sequence(datasets.ClassLabel(names=self.label_names))
        return datasets.DatasetDict(
            {
                name: split.map(
                    convert,
                    batched=True,
                    features=datasets.Features({**split.features, self.tags_column: target}),
                )
                for name, split in raw.items()
            }
        )


def conll2003(**options: Any) -> Conll2003Task:
    fixed = dict(
        name="conll2003",
        description="CoNLL-2003 English named entities (PER, ORG, LOC, MISC)",
        hub_dataset="lhoestq/conll2003",
        label_names=list(CONLL2003_LABELS),
    )
    return build_task(Conll2003Task, fixed, options)


TASKS = {"conll2003": conll2003}
ALIASES = {"conll": "conll2003", "conll03": "conll2003"}
