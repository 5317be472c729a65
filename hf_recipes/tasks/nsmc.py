"""`nsmc`: the Naver Sentiment Movie Corpus (e9t/nsmc), Korean movie reviews labelled negative / positive.

Read from `<data_dir>/nsmc/{train,dev}.txt` (the release's `id<TAB>document<TAB>label` layout, as
../shared/data holds it: 35,000 training and 5,000 evaluation reviews cut from the released test file), or from
the Hub's `e9t/nsmc` (150,000 / 50,000: its `test` split is the evaluation split here). Informal Korean with
spacing errors, ㅋㅋ and ㅠㅠ, English and digits mixed in: every tokenizer hf_recipes trains keeps its Hangul
syllables whole (NFC). Scored by accuracy, as the published results (LSTM/CNN from scratch on the full 150k:
~0.83-0.86; KoBERT: ~0.90).
"""

import functools
from typing import Any

import datasets

from .base import build_task
from .glue import GlueSpec, GlueTask

SPEC = GlueSpec(
    folder="nsmc",
    text_columns={"document": "document"},
    label_column="label",
    label_names=("negative", "positive"),
    metrics=("accuracy",),
    files={"train": "train.txt", "validation": "dev.txt"},
)


class NsmcTask(GlueTask):
    def from_hub(self, raw: datasets.DatasetDict) -> datasets.DatasetDict:
        """The Hub's train / test splits as train / validation, with the local files' columns."""
        out = {}
        for ours, theirs in (("train", "train"), ("validation", "test")):
            split = raw[theirs].map(lambda row, index: {"idx": index}, with_indices=True)
            out[ours] = split.select_columns(["document", "label", "idx"]).cast(self.features())
        return datasets.DatasetDict(out)


def nsmc_task(**options: Any) -> NsmcTask:
    fixed = dict(
        name="nsmc",
        problem_type="single_label",
        description="NSMC: the sentiment of Korean movie reviews",
        hub_dataset="e9t/nsmc",
        label_names=list(SPEC.label_names),
        test_split=None,
        main_metric="accuracy",
        text_columns=tuple(SPEC.text_columns),
        spec=SPEC,
    )
    return build_task(NsmcTask, fixed, options)


TASKS = {"nsmc": functools.partial(nsmc_task)}
