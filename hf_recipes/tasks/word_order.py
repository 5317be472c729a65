"""`word_order`: a labelled task that ships with Python, for the quickstart and for tests.

Is a sentence of the Python Language Reference (the `python_reference` corpus the quickstart pretrains on,
from `pydoc_data`, no download) in its original word order, or was a short stretch of it shuffled? Every
distinct sentence of 6 to 40 words gives two rows, itself (`original`) and a copy with `window` consecutive inner
words permuted (`shuffled`), so each split is balanced exactly and a model is shown the two versions of the
same words: only word order tells them apart, which a bag of words cannot learn and which masked-LM
pretraining on the same kind of text teaches (so it is a task on which pretraining visibly helps).

The splits follow the pretraining corpus's own: `validation` is made of the last `validation_fraction` of the
topics, the ones the quickstart holds out from pretraining (`data.validation_fraction` of
recipes/pretrain/quickstart.yaml), so evaluation sentences were seen neither in pretraining nor in
fine-tuning. The shuffles depend only on `seed` and each sentence's position: the data is the same on every
run and machine (for one Python version, whose release ships its own reference text).

The first and last words never move: a capitalised first word or a final period in the middle of a sentence
would give the answer away without any sense of word order.
"""

import dataclasses
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets

from ..data.pretraining import split_sentences
from ..errors import UserError
from .base import build_task, option, select_splits
from .glue import SequenceClassificationTask

LABELS = ["original", "shuffled"]


@dataclasses.dataclass(kw_only=True)
class WordOrderTask(SequenceClassificationTask):
    window: int = option(3, "consecutive inner words permuted in a sentence's shuffled copy")
    min_words: int = option(6, "shortest sentence kept, in words")
    max_words: int = option(40, "longest sentence kept, in words")
    validation_fraction: float = option(
        0.15, "last share of the corpus's topics that makes the validation split (as the pretraining's)"
    )
    seed: int = option(0, "seed of the shuffles")

    def __post_init__(self):
        super().__post_init__()
        if self.window < 2:
            raise UserError(f"task {self.name}: window must be at least 2 words, got {self.window}")
        if self.min_words < self.window + 2:
            raise UserError(
                f"task {self.name}: min_words must leave room for the window and the fixed first and last "
                f"words (at least {self.window + 2}), got {self.min_words}"
            )

    def load(
        self,
        data_dir: str | Path | None = None,
        *,
        cache_dir: str | Path | None = None,
        splits: Sequence[str] | None = None,
    ) -> datasets.DatasetDict:
        """Built from the corpus that ships with Python, whatever `data_dir` says (there are no files)."""
        from ..data.loading import load_documents
        from ..recipe import DataSpec

        spec = DataSpec(builtin="python_reference", validation_fraction=self.validation_fraction)
        documents = load_documents(spec, None)
        features = datasets.Features(
            {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=LABELS)}
        )
        out, seen = {}, set()
        # Training first: validation then leaves out the sentences training topics also hold (the reference
        # repeats whole sections across topics), which the pretraining saw too.
        for split in ("train", "validation"):
            rows = word_order_rows(
                documents[split]["text"][:],
                window=self.window,
                min_words=self.min_words,
                max_words=self.max_words,
                seed=f"{self.seed}:{split}",
                seen=seen,
            )
            out[split] = datasets.Dataset.from_dict(rows, features=features, split=split)
        return select_splits(datasets.DatasetDict(out), splits, self.name)


def word_order_rows(
    documents: Sequence[str], *, window: int, min_words: int, max_words: int, seed: str, seen: set[str]
) -> dict[str, list]:
    """`{"sentence": [...], "label": [...]}`: each kept sentence, then its shuffled copy (label 1). Sentences in
    `seen` are left out and the others added to it, so that no sentence is used twice."""
    sentences, labels = [], []
    index = 0
    for document in documents:
        for line in document.splitlines():
            for sentence in split_sentences(line):
                words = sentence.split()
                text = " ".join(words)
                if text in seen or not min_words <= len(words) <= max_words:
                    continue
                seen.add(text)
                # A string seed is hashed with SHA-512 by random.Random: the same on every run and machine.
                shuffled = shuffle_window(words, window, random.Random(f"{seed}:{index}"))
                index += 1
                if shuffled is None:  # e.g. "a a a" everywhere: no permutation changes the sentence
                    continue
                sentences += [text, " ".join(shuffled)]
                labels += [0, 1]
    return {"sentence": sentences, "label": labels}


def shuffle_window(words: list[str], window: int, rng: random.Random) -> list[str] | None:
    """`words` with `window` consecutive inner words (never the first or the last) permuted so that the word
    sequence changes; None when no window allows it."""
    starts = list(range(1, len(words) - window))  # the window ends before the last word
    rng.shuffle(starts)
    for start in starts:
        stretch = words[start : start + window]
        if len(set(stretch)) < 2:
            continue
        permuted = stretch[:]
        while permuted == stretch:
            rng.shuffle(permuted)
        return words[:start] + permuted + words[start + window :]
    return None


def word_order_task(**options: Any) -> WordOrderTask:
    fixed = dict(
        name="word_order",
        problem_type="single_label",
        description="built-in: original vs locally shuffled sentences of the Python Language Reference",
        label_names=list(LABELS),
        test_split=None,
        main_metric="accuracy",
        text_columns=("sentence",),
        default_max_length=64,
    )
    return build_task(WordOrderTask, fixed, options)


TASKS = {"word_order": word_order_task}
