"""A recipe's corpus as a `DatasetDict` of documents (column "text", one document per row).

The source is either local files (with `--data-dir`, or when the recipe names no Hub dataset) or a Hub
dataset (for users with network). Both go through `datasets` and are cached: the documents are written once as
Arrow (hf_recipes.data.tables.cached_dataset), keyed on each file's size and modification time, so an edited
file is read again and an unchanged one is not. Tables are read as everywhere else (hf_recipes.data.tables).

With `data.streaming`, `stream_documents` gives the same documents as `datasets.IterableDataset`s instead: read
as training consumes them, nothing written first.
"""

from __future__ import annotations

import codecs
import os
import platform
import re
from pathlib import Path

from datasets import Dataset, DatasetDict, Features, IterableDataset, IterableDatasetDict, Value, load_dataset

from ..config import DataSpec, LocalSource
from ..errors import UserError
from .pretraining import iter_documents
from .tables import EXTENSIONS, cached_dataset, read_table, suffix

# One document per row; declared, so that a corpus without documents is an empty dataset (and our error).
DOCUMENTS = Features({"text": Value("string")})


def load_documents(spec: DataSpec, data_dir: str | None, seed: int = 0) -> DatasetDict:
    """Splits "train" and (when the source has one, or `validation_fraction` carves one) "validation"."""
    if spec.builtin is not None:
        # the Python version is part of the cache key: each release ships its own reference text
        corpus = {"name": spec.builtin, "python": platform.python_version()}
        documents = DatasetDict(train=cached_dataset(_documents_from_builtin, DOCUMENTS, [], None, **corpus))
        return _carve_validation(documents["train"], spec.validation_fraction or 0.1)
    use_local = data_dir is not None or spec.hub is None
    if use_local and not spec.local:
        raise UserError("data.local: the recipe names no local files to read from --data-dir")
    splits = {}
    names = spec.local if use_local else (spec.hub.splits or {"train": "train", "validation": "validation"})
    for split in names:
        if use_local:
            files = _local_files(spec, split, data_dir)
            sources = [str(path) for path, _ in files]
            groupings = [grouping for _, grouping in files]
            splits[split] = cached_dataset(
                _documents_from_files, DOCUMENTS, sources, None, split, paths=sources, groupings=groupings
            )
        else:
            hub = (spec.hub.path, spec.hub.name, names[split])
            splits[split] = cached_dataset(
                _documents_from_hub, DOCUMENTS, [], None, split, hub=hub, spec=_grouping(spec)
            )
    if "train" not in splits:
        raise UserError(f"data: no `train` split among {sorted(splits)}")
    documents = DatasetDict(splits)
    if "validation" not in documents and spec.validation_fraction:
        documents = _carve_validation(documents["train"], spec.validation_fraction)
    for split, dataset in documents.items():
        if len(dataset) == 0:
            raise UserError(
                f"data: the {split} split has no documents (empty files, or a wrong text_column?)"
            )
    return documents


def stream_documents(spec: DataSpec, data_dir: str | None) -> IterableDatasetDict:
    """`load_documents` as streams (`data.streaming`): nothing is read until training iterates, and nothing is
    written, so a corpus larger than memory or disk trains without a preprocessing pass.

    Local files give the very documents `load_documents` makes (the same reader, text files line by line; each
    file is a shard of the stream); a table (CSV, JSON, Parquet) is still converted to Arrow whole when the
    stream reaches it. A Hub dataset streams with `load_dataset(..., streaming=True)`; its rows group into
    documents within batches of `HUB_ROWS` rows (for `blank_line`/`title`, a document across two batches becomes
    two). The streams can say where they are (`state_dict()`), from which a resumed run goes on
    (hf_recipes.data.streaming). The recipe's check refuses what a stream cannot do (`validation_fraction`,
    `builtin`)."""
    use_local = data_dir is not None or spec.hub is None
    if use_local and not spec.local:
        raise UserError("data.local: the recipe names no local files to read from --data-dir")
    names = spec.local if use_local else (spec.hub.splits or {"train": "train", "validation": "validation"})
    if "train" not in names:
        raise UserError(f"data: no `train` split among {sorted(names)}")
    splits = {}
    for split in names:
        if use_local:
            files = _local_files(spec, split, data_dir)
            splits[split] = IterableDataset.from_generator(
                _documents_from_files,
                features=DOCUMENTS,
                gen_kwargs={
                    "paths": [str(path) for path, _ in files],
                    "groupings": [grouping for _, grouping in files],
                },
            )
        else:
            splits[split] = _stream_from_hub(spec, names[split])
    return IterableDatasetDict(splits)


HUB_ROWS = 10_000  # rows of a streamed Hub dataset grouped into documents at a time


def _stream_from_hub(spec: DataSpec, split: str) -> IterableDataset:
    path, name = spec.hub.path, spec.hub.name
    if spec.document_boundary == "file":
        raise UserError(
            "data.document_boundary: `file` (the whole split one document) cannot stream from the Hub; use row, "
            "blank_line or title"
        )
    try:
        rows = load_dataset(path, name, split=split, streaming=True)
    except Exception as error:  # network, a wrong name or split: one line, not the datasets traceback
        message = " ".join(str(error).split())[:300]
        raise UserError(
            f"data.hub: cannot stream {path}{'/' + name if name else ''} split {split!r}: {message}"
        ) from None
    if rows.column_names is not None and spec.text_column not in rows.column_names:
        raise UserError(
            f"data.text_column: {path} has no column {spec.text_column!r}; it has {rows.column_names}"
        )
    return rows.select_columns([spec.text_column]).map(
        _group_rows,
        batched=True,
        batch_size=HUB_ROWS,
        remove_columns=[spec.text_column],
        fn_kwargs={"spec": _grouping(spec)},
        features=DOCUMENTS,
    )


def _group_rows(batch: dict, spec: dict) -> dict:
    """Batched `IterableDataset.map` function: a batch of rows → its documents (`_group`)."""
    return {"text": [document["text"] for document in _group(batch[spec["text_column"]], spec, whole="")]}


def _local_files(spec: DataSpec, split: str, data_dir: str | None) -> list[tuple[Path, dict]]:
    """Each file of the split with how it divides into documents (the data section's way, or its own)."""
    entries = spec.local[split]
    root = Path(data_dir) if data_dir is not None else Path.cwd()
    files = []
    for entry in [entries] if isinstance(entries, str | LocalSource) else entries:
        grouping = _grouping(spec)
        if isinstance(entry, LocalSource):
            own = {
                "boundary": entry.document_boundary,
                "text_column": entry.text_column,
                "format": entry.format,
            }
            grouping.update({key: value for key, value in own.items() if value is not None})
            entry = entry.path
        path = Path(entry).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise UserError(f"data.local.{split}: file not found: {path}")
        if grouping["format"] is None and path.suffix.lower() not in EXTENSIONS and not _is_text(path):
            raise UserError(
                f"data.local.{split}: {path.name}: unsupported format: not UTF-8 text, nor a table "
                f"({', '.join(EXTENSIONS)})"
            )
        files.append((path, grouping))
    return files


def _is_text(path: Path, probe: int = 1 << 16) -> bool:
    """Whether the file's start decodes as UTF-8: plain text under any name (corpus.txt, README, Moses-style
    parallel files such as train.en), not a binary document (.docx, .pdf, .gz)."""
    with path.open("rb") as file:
        head = file.read(probe)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < probe)
    except UnicodeDecodeError:
        return False
    return b"\0" not in head


def _grouping(spec: DataSpec) -> dict:
    # Only what changes the documents goes into the generator's arguments (and so into its cache key).
    return {
        "boundary": spec.document_boundary,
        "title_pattern": spec.title_pattern,
        "text_column": spec.text_column,
        "format": spec.format,
    }


def _documents_from_files(paths: list[str], groupings: list[dict]):
    for path, spec in zip(paths, groupings):
        path = Path(path)
        table = spec["format"] != "text" and suffix(path, spec["format"]) in EXTENSIONS
        if table:
            yield from _group(_table_rows(path, spec["text_column"], spec["format"]), spec, whole="\n")
        elif spec["boundary"] == "file":
            yield {
                "text": path.read_text(encoding="utf-8")
            }  # exactly as written: char-level LMs learn the layout too
        else:
            with path.open(encoding="utf-8") as file:
                # line by line (a streamed file is never read whole): each line's splitlines() cuts where the
                # whole text's would (U+2028 and the like too), so the documents are the same
                yield from _group((line for raw in file for line in raw.splitlines()), spec, whole=None)


def _documents_from_hub(hub: tuple[str, str | None, str], spec: dict):
    path, name, split = hub
    try:
        rows = load_dataset(path, name, split=split)
    except Exception as error:  # network, a wrong name or split: one line, not the datasets traceback
        message = " ".join(str(error).split())[:300]
        raise UserError(
            f"data.hub: cannot load {path}{'/' + name if name else ''} split {split!r}: {message}"
        ) from None
    if spec["text_column"] not in rows.column_names:
        raise UserError(
            f"data.text_column: {path} has no column {spec['text_column']!r}; it has {rows.column_names}"
        )
    yield from _group(rows[spec["text_column"]], spec, whole="")


def _documents_from_builtin(name: str, python: str):
    """The Python Language Reference as it ships with CPython (pydoc_data.topics): one document per topic,
    its prose paragraphs re-joined into single lines; indented blocks (code, grammar) and the underlines of
    headings are left out."""
    from pydoc_data.topics import topics

    for topic in sorted(topics):
        paragraphs = []
        for block in re.split(r"\n\s*\n", topics[topic]):
            lines = block.splitlines()
            if not lines or lines[0].startswith((" ", "\t")) or set(block.strip()) <= set("*=-~^"):
                continue
            paragraphs.append(
                " ".join(line.strip() for line in lines if not set(line.strip()) <= set("*=-~^"))
            )
        if paragraphs:
            yield {"text": "\n".join(paragraphs)}


def _group(rows: list[str], spec: dict, whole: str | None):
    """Documents from rows of text: the whole source as one (its rows joined by `whole`), one per row, or
    split at blank lines / titles."""
    boundary = spec["boundary"]
    if boundary == "file":
        yield {"text": whole.join(rows)}
    elif boundary == "row":
        for row in rows:
            if row.strip():
                yield {"text": row}
    else:
        for document in iter_documents(rows, boundary=boundary, title_pattern=spec["title_pattern"]):
            yield {"text": "\n".join(document)}


def _table_rows(path: Path, column: str, format: str | None = None) -> list[str]:
    table = read_table(path, format=format)
    if column not in table.column_names:
        raise UserError(f"{path}: no column {column!r} (data.text_column); columns: {table.column_names}")
    return [text for text in table[column] if text is not None]


def _carve_validation(train: Dataset, fraction: float) -> DatasetDict:
    """The last `fraction` of the training text becomes validation: of its characters when the corpus is one
    document (nanoGPT's 90/10 split of tinyshakespeare), else of its documents, in order (no shuffling, so
    validation text never neighbours training text)."""
    if not 0 < fraction < 1:
        raise UserError(f"data.validation_fraction: expected a number between 0 and 1, got {fraction}")
    if len(train) == 1:
        text = train[0]["text"]
        cut = int(len(text) * (1 - fraction))
        return DatasetDict(
            train=Dataset.from_dict({"text": [text[:cut]]}),
            validation=Dataset.from_dict({"text": [text[cut:]]}),
        )
    cut = int(len(train) * (1 - fraction))
    if cut == 0 or cut == len(train):
        raise UserError(
            f"data.validation_fraction: {fraction} of {len(train)} documents leaves a split empty"
        )
    return DatasetDict(train=train.select(range(cut)), validation=train.select(range(cut, len(train))))


def num_proc(spec: DataSpec) -> int | None:
    """datasets.map workers: the recipe's choice, else none (the machines here have 2 cores)."""
    if spec.num_proc is not None:
        return spec.num_proc
    return None if (os.cpu_count() or 1) <= 2 else min(8, (os.cpu_count() or 1) // 2)
