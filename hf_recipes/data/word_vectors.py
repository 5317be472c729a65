"""Training examples for word vectors, built from a corpus of documents once and cached by `datasets`:

- word2vec and FastText read running text: every line of a document is a sentence of word ids (words outside
  the vocabulary dropped, as word2vec and gensim drop them), packed into blocks of up to `block_size` ids with
  `position_ids` restarting at 0 where a sentence starts (`word_blocks`). The models draw their windows
  inside sentences from those.
- GloVe reads the co-occurrence counts X_ij: how often word j stands within `window` words of word i, each
  occurrence weighted 1/distance, summed over the corpus without a dense V×V matrix (sorted int64 keys, reduced
  chunk by chunk: `cooccurrences`), then cut into examples of `entries_per_example` entries in a random order
  (`cooccurrence_examples`).
- The models need the corpus count of every word (`RowsInMemory.word_counts`): subsampling and the noise
  distribution.
- Training reads the examples from memory (`RowsInMemory`), not from Arrow, which would cost a third of a step.

Everything is vectorised (numpy/torch over whole chunks of the corpus); no Python loop visits a word.
"""

from __future__ import annotations

from collections.abc import Iterator

import datasets
import numpy as np
import torch

# Corpus tokens a co-occurrence chunk covers: its pairs (window x 2 per token) are sorted at once.
COOCCURRENCE_CHUNK = 2_000_000


def sentence_ids(batch: dict, *, tokenizer, drop_ids: list[int]) -> dict[str, list]:
    """Batched `Dataset.map` function: documents (`text`) → one row of word ids per non-empty line, without the
    ids in `drop_ids` (unknown words, special tokens)."""
    lines = [line for text in batch["text"] for line in text.split("\n") if line.strip()]
    encoded = tokenizer(lines, add_special_tokens=False, verbose=False)["input_ids"] if lines else []
    dropped = np.asarray(drop_ids, dtype=np.int64)
    rows = []
    for ids in encoded:
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[~np.isin(ids, dropped)]
        if ids.size:
            rows.append(ids.tolist())
    return {"input_ids": rows}


def word_blocks(batch: dict, *, block_size: int) -> dict[str, list]:
    """Batched `Dataset.map` function: sentences of word ids → blocks of at most `block_size` ids (the last
    block of a map batch shorter), `position_ids` 0 where a sentence starts and at every block start (a
    sentence longer than a block is cut there, as word2vec cuts at 10,000 words)."""
    lengths = np.asarray([len(ids) for ids in batch["input_ids"]], dtype=np.int64)
    if not lengths.sum():
        return {"input_ids": [], "position_ids": []}
    ids = np.concatenate([np.asarray(row, dtype=np.int64) for row in batch["input_ids"] if len(row)])
    starts = np.zeros(ids.size, dtype=bool)
    starts[np.cumsum(lengths[lengths > 0])[:-1]] = True
    starts[0] = True
    index = np.arange(ids.size)
    starts[index % block_size == 0] = True
    position = index - np.maximum.accumulate(np.where(starts, index, 0))
    cuts = np.arange(block_size, ids.size, block_size)
    return {
        "input_ids": [block.tolist() for block in np.split(ids, cuts)],
        "position_ids": [block.tolist() for block in np.split(position, cuts)],
    }


class RowsInMemory(torch.utils.data.Dataset):
    """Examples whose fields are rows of numbers of one length per example (word-vector blocks: `input_ids`,
    `position_ids`; GloVe entries: `rows`, `columns`, `counts`), held as one flat tensor per field: an example
    is a slice of each. The training set of the word-vector recipes: a step trains on ~1,200 words in ~3 ms on
    a CPU, and reading its example from Arrow through `datasets`' torch formatting took ~0.9 ms of it."""

    def __init__(self, offsets: torch.Tensor, fields: dict[str, torch.Tensor]):
        for name, values in fields.items():
            if values.shape[0] != int(offsets[-1]):
                raise ValueError(
                    f"{name} has {values.shape[0]} values, the offsets end at {int(offsets[-1])}"
                )
        self.offsets = offsets.tolist()
        self.fields = fields

    @classmethod
    def from_dataset(cls, dataset: datasets.Dataset) -> RowsInMemory:
        """From a dataset of list columns whose rows have one length per example (integers become int64, as
        `datasets`' torch formatting gives them)."""
        table = dataset.with_format("arrow")[:]
        fields, lengths = {}, None
        for name in table.column_names:
            column = table[name].combine_chunks()
            values = torch.from_numpy(column.flatten().to_numpy(zero_copy_only=False).copy())
            fields[name] = values.long() if not values.is_floating_point() else values
            column_lengths = column.value_lengths().to_numpy(zero_copy_only=False)
            if lengths is not None and not np.array_equal(lengths, column_lengths):
                raise ValueError(f"the rows of {name} differ in length from those of {table.column_names[0]}")
            lengths = column_lengths
        offsets = np.zeros(len(table) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(torch.from_numpy(offsets), fields)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start, end = self.offsets[index], self.offsets[index + 1]
        return {name: values[start:end] for name, values in self.fields.items()}

    def head(self, count: int) -> RowsInMemory:
        """The first `count` examples."""
        end = self.offsets[count]
        return RowsInMemory(
            torch.tensor(self.offsets[: count + 1]), {k: v[:end] for k, v in self.fields.items()}
        )

    def word_counts(self, vocab_size: int, field: str = "input_ids") -> torch.Tensor:
        """How often every id occurs in `field`, as a LongTensor of `vocab_size`."""
        return torch.bincount(self.fields[field], minlength=vocab_size)

    def mean_length(self) -> float:
        """The mean number of values per example (the words of a block: the last block of each map batch is
        shorter than block_size)."""
        return self.offsets[-1] / max(len(self), 1)


def _sentences(dataset: datasets.Dataset) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, sentence number of each id) over `dataset`'s sentences, in chunks of about COOCCURRENCE_CHUNK ids."""
    first = 0
    for table in dataset.with_format("arrow").iter(batch_size=max(1, COOCCURRENCE_CHUNK // 50)):
        column = table["input_ids"].combine_chunks()
        lengths = np.diff(column.offsets.to_numpy())
        ids = column.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
        yield ids, np.repeat(np.arange(first, first + lengths.size), lengths)
        first += lengths.size


def cooccurrences(
    dataset: datasets.Dataset,
    vocab_size: int,
    *,
    window: int = 10,
    symmetric: bool = True,
    distance_weighting: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The co-occurrence counts of the sentences in `dataset` (rows of word ids) as (rows, columns, counts):
    X_ij sums, over every pair of words of one sentence at most `window` apart, 1/distance (or 1) for word i on
    the left of j, and, with `symmetric`, for i on the right too (GloVe's defaults)."""
    keys, values = torch.empty(0, dtype=torch.long), torch.empty(0)
    for ids, sentence in _sentences(dataset):
        ids_t, sentence_t = torch.from_numpy(ids), torch.from_numpy(sentence)
        chunk_keys, chunk_values = [], []
        for distance in range(1, window + 1):
            same = sentence_t[:-distance] == sentence_t[distance:]
            left, right = ids_t[:-distance][same], ids_t[distance:][same]
            weight = 1.0 / distance if distance_weighting else 1.0
            chunk_keys.append(left * vocab_size + right)
            if symmetric:
                chunk_keys.append(right * vocab_size + left)
            chunk_values += [torch.full((left.shape[0],), weight)] * (2 if symmetric else 1)
        keys, values = _reduce(torch.cat([keys, *chunk_keys]), torch.cat([values, *chunk_values]))
    return keys // vocab_size, keys % vocab_size, values


def _reduce(keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The sum of `values` per distinct key, keys sorted."""
    unique, inverse = torch.unique(keys, return_inverse=True)
    return unique, torch.zeros(unique.shape[0], dtype=values.dtype).index_add_(0, inverse, values)


def cooccurrence_examples(
    rows: torch.Tensor, columns: torch.Tensor, counts: torch.Tensor, entries_per_example: int, seed: int
) -> RowsInMemory:
    """The entries in a random order (seeded), `entries_per_example` per example (`rows`, `columns`, `counts`;
    the last example padded with count 0, which the model skips)."""
    order = torch.randperm(rows.shape[0], generator=torch.Generator().manual_seed(seed))
    padded = -(-rows.shape[0] // entries_per_example) * entries_per_example

    def field(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        values = torch.zeros(padded, dtype=dtype)
        values[: rows.shape[0]] = tensor[order].to(dtype)
        return values

    offsets = torch.arange(0, padded + 1, entries_per_example)
    fields = {"rows": field(rows, torch.long), "columns": field(columns, torch.long)}
    return RowsInMemory(offsets, {**fields, "counts": field(counts, torch.float32)})


__all__ = [
    "RowsInMemory",
    "cooccurrence_examples",
    "cooccurrences",
    "sentence_ids",
    "word_blocks",
]
