"""`word_order`: a labelled task that ships with Python, for the quickstart and for tests.

Is a sentence of the Python Language Reference (the `python_reference` corpus the quickstart pretrains on,
from `pydoc_data`, no download) in its original word order, or were its words shuffled? Every distinct
sentence of 6 to 40 words gives two rows, itself (`original`) and a permuted copy (`shuffled`), so each split
is balanced exactly and a model is shown the two versions of the same words: only word order tells them
apart, which a bag of words cannot learn.

By default the whole sentence is shuffled (`window: 0`, `keep_ends: false`), so a sentence-final period
usually lands inside the sentence: a cue a small model can find. The harder settings are options: `window: 3`
permutes three consecutive words only, and `keep_ends: true` never moves the first and last words. Measured on
the BERT-tiny of recipes/pretrain/python_reference_bert.yaml (2 layers, 128 wide) with 300 fine-tuning steps, both harder settings, pretrained
or not, stay at chance (train loss 0.693 throughout), while the default reaches 0.70 to 0.82 from random
weights (three seeds).

The splits follow the pretraining corpus's own: `validation` is made of the last `validation_fraction` of the
topics, the ones the quickstart holds out from pretraining (`data.validation_fraction` of
recipes/pretrain/quickstart.yaml), so evaluation sentences were seen neither in pretraining nor in
fine-tuning. The shuffles depend only on `seed` and each sentence's position: the data is the same on every
run and machine (for one Python version, whose release ships its own reference text).
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
    window: int = option(0, "consecutive words permuted in a sentence's shuffled copy; 0: all of them")
    keep_ends: bool = option(False, "never move a sentence's first and last words")
    min_words: int = option(6, "shortest sentence kept, in words")
    max_words: int = option(40, "longest sentence kept, in words")
    validation_fraction: float = option(
        0.15, "last share of the corpus's topics that makes the validation split (as the pretraining's)"
    )
    seed: int = option(0, "seed of the shuffles")

    def __post_init__(self):
        super().__post_init__()
        if self.window == 1 or self.window < 0:
            raise UserError(
                f"task {self.name}: window must be 0 (all words) or at least 2, got {self.window}"
            )
        least = max(self.window, 2) + (2 if self.keep_ends else 0)  # words to permute, then the fixed ends
        if self.min_words < least:
            raise UserError(
                f"task {self.name}: min_words must leave room for the window"
                f"{' and the fixed first and last words' if self.keep_ends else ''} (at least {least}), "
                f"got {self.min_words}"
            )

    def load(
        self,
        data_dir: str | Path | None = None,
        *,
        cache_dir: str | Path | None = None,
        splits: Sequence[str] | None = None,
    ) -> datasets.DatasetDict:
        """Built from the corpus that ships with Python, whatever `data_dir` says (there are no files)."""
        from ..config import DataSpec
        from ..data.loading import load_documents

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
                keep_ends=self.keep_ends,
                min_words=self.min_words,
                max_words=self.max_words,
                seed=f"{self.seed}:{split}",
                seen=seen,
            )
            out[split] = datasets.Dataset.from_dict(rows, features=features, split=split)
        return select_splits(datasets.DatasetDict(out), splits, self.name)


def word_order_rows(
    documents: Sequence[str],
    *,
    window: int,
    keep_ends: bool,
    min_words: int,
    max_words: int,
    seed: str,
    seen: set[str],
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
                shuffled = shuffle_window(words, window, random.Random(f"{seed}:{index}"), keep_ends)
                index += 1
                if shuffled is None:  # e.g. "a a a" everywhere: no permutation changes the sentence
                    continue
                sentences += [text, " ".join(shuffled)]
                labels += [0, 1]
    return {"sentence": sentences, "label": labels}


def shuffle_window(
    words: list[str], window: int, rng: random.Random, keep_ends: bool = True
) -> list[str] | None:
    """`words` with `window` consecutive words (0: all of them; with `keep_ends`, never the first or the last)
    permuted so that the word sequence changes; None when no window allows it."""
    first, end = (1, len(words) - 1) if keep_ends else (0, len(words))
    size = window or end - first
    starts = list(range(first, end - size + 1))
    rng.shuffle(starts)
    for start in starts:
        stretch = words[start : start + size]
        if len(set(stretch)) < 2:
            continue
        permuted = stretch[:]
        while permuted == stretch:
            rng.shuffle(permuted)
        return words[:start] + permuted + words[start + size :]
    return None


def word_order_task(**options: Any) -> WordOrderTask:
    fixed = dict(
        name="word_order",
        problem_type="single_label",
        description="built-in: original vs shuffled sentences of the Python Language Reference",
        label_names=list(LABELS),
        test_split=None,
        main_metric="accuracy",
        text_columns=("sentence",),
        default_max_length=64,
    )
    return build_task(WordOrderTask, fixed, options)


TASKS = {"word_order": word_order_task}
