"""Training examples from a streamed corpus (`data.streaming: true`) that a resumed run continues where it
stopped.

transformers' Trainer resumes mid-epoch by reading and dropping the batches it already trained on
(`skip_first_batches`): for a stream that means reading, tokenizing and packing everything again, and
`datasets`' own shuffle buffer is not part of `IterableDataset.state_dict()` (loading a state refills the
buffer from further on, so the resumed run trains on other examples than the uninterrupted one). Here instead:

- the examples are shuffled in windows (`shuffle_window`): a batched `IterableDataset.map` over
  `data.shuffle_buffer` examples at a time, each window permuted by a generator seeded from the seed, the pass
  over the corpus and the window's first index. A window is a function of the stream, so `state_dict()` covers
  it: resuming re-reads at most the current window (datasets restarts a batched map at its batch's start) and
  permutes it the same way;
- `ResumableStream` reads the stream pass after pass (each pass shuffled anew) and notes its `state_dict()`
  after every batch it hands out; the trainer (hf_recipes.training) writes the position of the last batch it
  trained on into each checkpoint (`POSITION`), and a resumed run loads it instead of skipping batches.
  Batches the DataLoader had read ahead are not counted as trained: they are read again after a resume.

The stream is read in the main process (`dataloader_num_workers: 0`, which the recipe check requires). Under
several processes accelerate dispatches an `IterableDataset` (process 0 reads the batches of all and sends each
its share) or, with `dispatch_batches: false`, every process reads the whole stream and keeps its share: either
way a batch of every process takes `world_size` batches of the stream, the same examples in the same order as
one process with a `world_size` times larger batch.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from datasets import IterableDataset as StreamedDataset

POSITION = "stream_position.json"  # in each checkpoint: the pass and datasets state to resume the stream from


def shuffle_window(batch: dict, indices: list[int], *, seed: list[int]) -> dict:
    """Batched `IterableDataset.map` function (with `with_indices=True`): the batch's rows in an order drawn
    from `seed` and the batch's first index, the same on every read of the same window."""
    order = np.random.default_rng([*seed, indices[0]]).permutation(len(indices))
    return {column: [values[i] for i in order] for column, values in batch.items()}


class ResumableStream(torch.utils.data.IterableDataset):
    """The training examples of a streamed corpus, pass after pass: `passes(n)` is the stream of pass n.

    `position(examples)` is where the stream stands after the first `examples` examples of the current
    iteration (known at every multiple of `batch_size` among the last `remember` of them); `resume(folder)`
    makes the next iteration start from the position saved in a checkpoint folder."""

    def __init__(self, passes: Callable[[int], StreamedDataset], batch_size: int, remember: int = 64):
        self.passes, self.batch_size = passes, batch_size
        self.next_pass, self.start = 0, None
        self.positions: deque[tuple[int, int, dict | None]] = deque(maxlen=remember)
        self.finished_at: int | None = None  # examples of the current iteration once it has ended

    def __iter__(self) -> Iterator[dict]:
        number, dataset = self.next_pass, self.passes(self.next_pass)
        if self.start is not None:
            dataset.load_state_dict(self.start)
        self.positions.clear()
        self.positions.append((0, number, self.start))
        self.finished_at = None
        read = 0
        for read, example in enumerate(dataset, 1):
            if read % self.batch_size == 0:  # the state counts the example just read
                self.positions.append((read, number, dataset.state_dict()))
            yield example
        self.next_pass, self.start, self.finished_at = number + 1, None, read

    def position(self, examples: int) -> dict:
        """{"pass", "state"} after `examples` examples of the current iteration. Past the end of a pass (a last
        batch that was not full counts as full) is the start of the next: a resumed run that started at the end
        of a pass would read an empty epoch, on which the Trainer stops."""
        if self.finished_at is not None and examples >= self.finished_at:
            return {"pass": self.next_pass, "state": None}
        for read, number, state in reversed(self.positions):
            if read == examples:
                return {"pass": number, "state": state}
        noted = [read for read, _, _ in self.positions]
        raise RuntimeError(f"stream position after {examples} examples not noted (noted: {noted})")

    def save_position(self, folder: str | Path, examples: int) -> None:
        Path(folder, POSITION).write_text(json.dumps(self.position(examples)) + "\n")

    def resume(self, folder: str | Path | None) -> bool:
        """Start the next iteration where the checkpoint `folder` stopped (from the beginning for None);
        False when the checkpoint has no saved position (the Trainer then skips its batches the slow way)."""
        self.next_pass, self.start = 0, None
        saved = Path(folder, POSITION) if folder is not None else None
        if saved is None or not saved.is_file():
            return False
        position = json.loads(saved.read_text())
        self.next_pass, self.start = position["pass"], position["state"]
        return True

    def head(self, count: int) -> Dataset:
        """The first `count` examples of the first pass, in memory."""
        return Dataset.from_list(list(self.passes(0).take(count)))
