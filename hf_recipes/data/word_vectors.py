"""Training examples for word vectors, built from a corpus of documents once and cached by `datasets`:

- word2vec and FastText read running text: every line of a document is a sentence of word ids (words outside
  the vocabulary dropped, as word2vec and gensim drop them), packed into blocks of up to `block_size` ids with
  `position_ids` restarting at 0 where a sentence starts (`word_blocks`). The models draw their windows
  inside sentences from those.
- GloVe reads the co-occurrence counts X_ij: how often word j stands within `window` words of word i, each
  occurrence weighted 1/distance, summed over the corpus without a dense V×V matrix (sorted int64 keys, reduced
  chunk by chunk: `cooccurrences`), then cut into examples of `entries_per_example` entries in a random order
  (`cooccurrence_examples`).
- The models need the corpus count of every word (`word_counts`): subsampling and the noise distribution.

Everything is vectorised (numpy/torch over whole chunks of the corpus); no Python loop visits a word.
"""

from __future__ import annotations

from collections.abc import Iterator

import datasets
import numpy as np
import pyarrow as pa
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


def word_counts(dataset: datasets.Dataset, vocab_size: int, column: str = "input_ids") -> torch.Tensor:
    """How often every id occurs in `dataset[column]` (rows of ids), as a LongTensor of `vocab_size`."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for table in dataset.with_format("arrow").iter(batch_size=10_000):
        flat = table[column].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        counts += np.bincount(flat, minlength=vocab_size)
    return torch.from_numpy(counts)


def mean_length(dataset: datasets.Dataset, column: str = "input_ids") -> float:
    """The mean number of ids per row of `dataset[column]` (the words of a block: the last block of each map
    batch is shorter than block_size)."""
    total = 0
    for table in dataset.with_format("arrow").iter(batch_size=10_000):
        total += len(table[column].combine_chunks().flatten())
    return total / max(len(dataset), 1)


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
) -> datasets.Dataset:
    """The entries in a random order (seeded), `entries_per_example` per example (`rows`, `columns`, `counts`
    lists; the last example padded with count 0, which the model skips)."""
    order = torch.randperm(rows.shape[0], generator=torch.Generator().manual_seed(seed))
    padded = -(-rows.shape[0] // entries_per_example) * entries_per_example
    offsets = pa.array(np.arange(0, padded + 1, entries_per_example, dtype=np.int32))

    def column(tensor: torch.Tensor, dtype) -> pa.ListArray:
        values = np.zeros(padded, dtype=dtype)
        values[: rows.shape[0]] = tensor[order].numpy()
        return pa.ListArray.from_arrays(offsets, pa.array(values))

    table = pa.table(
        {
            "rows": column(rows, np.int32),
            "columns": column(columns, np.int32),
            "counts": column(counts, np.float32),
        }
    )
    return datasets.Dataset(datasets.table.InMemoryTable(table)).with_format("torch")


__all__ = [
    "cooccurrence_examples",
    "cooccurrences",
    "mean_length",
    "sentence_ids",
    "word_blocks",
    "word_counts",
]
