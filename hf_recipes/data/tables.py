"""Reading tables, one way for every part of hf_recipes (a task's files, a corpus's TSV column, GLUE's releases):

- `.csv`: comma-separated, quotes honoured; `.tsv`: tab-separated, quotes NOT special (GLUE's files hold
  unbalanced `"`, which csv.QUOTE_NONE reads as text); both UTF-8 with or without a byte-order mark (MRPC has
  one), every cell kept as text (a column's type never depends on a parser's guess);
- `.json` (records, or a list of them) and `.jsonl` (a record a line), `.parquet`: through datasets' builders.

`read_rows` yields the rows of a CSV/TSV file as dicts; `read_table` gives any table file as a `Dataset`, and
every problem with a file (missing, empty, a header without rows, a column named twice, unparsable) is one
`UserError` line naming it. Rows we parse ourselves become a Dataset through `cached_dataset`: written once as
Arrow in the datasets cache and memory-mapped from there, as `load_dataset` results are.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
from datasets.exceptions import DatasetGenerationError
from datasets.fingerprint import Hasher

from ..errors import UserError

DELIMITED = {".csv": ",", ".tsv": "\t"}
BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}
EXTENSIONS = (*DELIMITED, *BUILDERS)


def read_rows(
    path: str | Path, *, fieldnames: Sequence[str] | None = None, format: str | None = None
) -> Iterator[dict[str, str | None]]:
    """The rows of a CSV or TSV file as {column: text} (None where a row is too short); `fieldnames` names the
    columns of a file without a header line (GLUE's CoLA); `format` ("csv", "tsv") overrides the extension."""
    path = Path(path)
    delimiter = DELIMITED[suffix(path, format)]
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(
            handle, fieldnames=list(fieldnames) if fieldnames else None, delimiter=delimiter, quoting=quoting
        )
        yield from reader


def header(path: str | Path, format: str | None = None) -> list[str]:
    """The column names of a CSV or TSV file (its first line)."""
    path = Path(path)
    delimiter = DELIMITED[suffix(path, format)]
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle, delimiter=delimiter, quoting=quoting), [])


def suffix(path: Path, format: str | None = None) -> str:
    """The table type of a file: `format` when given ("tsv" for a tab-separated `train.txt`), else its
    extension, lowercased, with the dot."""
    return f".{format.lower()}" if format else path.suffix.lower()


def read_table(path: str | Path, cache_dir: str | None = None, format: str | None = None) -> datasets.Dataset:
    """A table file as a Dataset (cached as Arrow): CSV/TSV cells as text, JSON/JSONL/Parquet as they are.
    The extension says which, or `format` ("csv", "tsv", "json", "jsonl", "parquet") for any file name."""
    path = Path(path)
    _check_not_empty(path)
    kind = suffix(path, format)
    if kind in DELIMITED:
        columns = header(path, format)
        if len(set(columns)) != len(columns):
            duplicate = next(name for name in columns if columns.count(name) > 1)
            raise UserError(f"{path}: column {duplicate!r} appears twice in the header")
        features = datasets.Features({name: datasets.Value("string") for name in columns})
        table = cached_dataset(
            _delimited_rows, features, [path], cache_dir, path=str(path), columns=columns, format=format
        )
        if len(table) == 0:
            raise UserError(f"{path}: no rows, only the header {DELIMITED[kind].join(columns)!r}")
        return table
    if kind not in BUILDERS:
        raise UserError(
            f"{path}: unsupported file type {kind or '(none)'!r}; expected one of {', '.join(EXTENSIONS)}"
        )
    try:
        table = datasets.load_dataset(
            BUILDERS[kind], data_files={"data": str(path)}, split="data", cache_dir=cache_dir
        )
    except (DatasetGenerationError, ValueError, OSError) as error:
        cause = error.__cause__ or error
        if "corresponds to no data" in str(cause):  # e.g. a JSON file holding []
            raise UserError(f"{path}: no rows") from None
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise UserError(f"{path}: could not be read as {BUILDERS[kind].upper()}: {first}") from None
    if len(table) == 0:
        raise UserError(f"{path}: no rows")
    return table


def _delimited_rows(
    path: str, columns: list[str], format: str | None = None
) -> Iterator[dict[str, str | None]]:
    for row in read_rows(path, format=format):
        if any(
            (cell or "").strip() for cell in row.values() if isinstance(cell, str)
        ):  # blank lines are no rows
            yield {column: row.get(column) for column in columns}


def _check_not_empty(path: Path) -> None:
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if not head.strip() and path.stat().st_size <= len(head):
        raise UserError(f"{path}: the file is empty (expected a header line and rows)")


# --- rows we parse ourselves, cached as Arrow -----------------------------------------------------------------


def file_stamp(*paths: Path) -> str:
    """Identity of files' content for a cache key: path, size and mtime (a changed file is re-read)."""
    parts = []
    for path in paths:
        stat = Path(path).stat()
        parts.append(f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def cached_dataset(
    reader: Callable[..., Iterator[dict]],
    features: datasets.Features,
    sources: Sequence[Path],
    cache_dir: str | None,
    split: str = "train",
    chunk_rows: int = 10_000,
    **kwargs: Any,
) -> datasets.Dataset:
    """The rows `reader(**kwargs)` yields, written once as an Arrow file in the datasets cache and
    memory-mapped from there, like a `load_dataset` result (so `map` caches next to it). The file is keyed on
    the reader's code, its arguments, the features and the sources' size and mtime: a changed file or reader
    is read again. Rows are written `chunk_rows` at a time, so a corpus larger than memory goes through.
    (Dataset.from_generator does the same, 5-10x slower: it encodes row by row.) `reader` must be a
    module-level function; a UserError it raises reaches the caller as it is."""
    key = Hasher.hash([reader, kwargs, features.to_dict(), file_stamp(*sources)])
    root = Path(cache_dir) if cache_dir is not None else Path(datasets.config.HF_DATASETS_CACHE)
    path = root / "hf_recipes_tables" / f"{reader.__name__}-{split}-{key}.arrow"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        schema = features.arrow_schema
        try:
            with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
                columns: dict[str, list] = {name: [] for name in features}
                for row in reader(**kwargs):
                    for name, column in columns.items():
                        column.append(row[name])
                    if len(columns[next(iter(columns))]) >= chunk_rows:
                        writer.write_table(pa.Table.from_pydict(columns, schema=schema))
                        columns = {name: [] for name in features}
                writer.write_table(pa.Table.from_pydict(columns, schema=schema))
            os.replace(partial, path)  # atomic: processes reading the same files never see half a file
        finally:
            partial.unlink(missing_ok=True)
    return datasets.Dataset.from_file(
        str(path), info=datasets.DatasetInfo(features=features), split=datasets.NamedSplit(split)
    )


__all__ = ["EXTENSIONS", "cached_dataset", "file_stamp", "header", "read_rows", "read_table", "suffix"]
