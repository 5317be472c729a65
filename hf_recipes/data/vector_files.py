"""Word-vector files in the word2vec formats that gensim's `KeyedVectors.load_word2vec_format` reads and writes,
so that vectors move between hf_recipes, gensim, word2vec.c, fastText and GloVe:

- text: a header line `<words> <dimensions>`, then `word v1 v2 ... vD` per line (fastText's `.vec`); GloVe's
  `.txt` files are the same without the header, and are read too;
- binary (word2vec.c's `.bin`): the same header line, then per word its UTF-8 bytes, a space and D float32
  values (little-endian), optionally followed by a newline (word2vec.c writes one, gensim does not).

Writing is exact in both formats: binary holds the float32 bits, and text the shortest decimal that reads back
as the same float32.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import UserError


def write_vectors(path: str | Path, words: list[str], vectors: np.ndarray, binary: bool = False) -> Path:
    """Write `words` and their `vectors` (len(words) × D) to `path` in the word2vec text or binary format; the
    file appears whole or not at all."""
    path = Path(path)
    vectors = np.asarray(vectors, dtype="<f4")
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(f"{len(words)} words but vectors of shape {vectors.shape}")
    for word in words:
        if not word or any(char.isspace() for char in word):
            raise UserError(
                f"{path}: the word {word!r} is empty or holds whitespace, which the format cannot"
            )
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with partial.open("wb") as file:
        file.write(f"{len(words)} {vectors.shape[1]}\n".encode())
        if binary:
            for word, row in zip(words, vectors):
                file.write(word.encode("utf-8") + b" " + row.tobytes() + b"\n")
        else:
            for word, row in zip(words, vectors):
                values = " ".join(np.format_float_positional(value, unique=True, trim="-") for value in row)
                file.write(f"{word} {values}\n".encode())
    os.replace(partial, path)
    return path


def read_vectors(path: str | Path, binary: bool | None = None) -> tuple[list[str], np.ndarray]:
    """The words and float32 vectors of a word2vec text or binary file (`binary=None`: guessed from the bytes
    after the header), or of a GloVe text file (no header). Problems are one `UserError` line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    with path.open("rb") as file:
        first = file.readline()
        sample = file.read(4096)
    header = _header(first)
    if binary is None:
        binary = header is not None and not _is_text(sample)
    if binary:
        if header is None:
            raise UserError(f"{path}: a binary vector file starts with a '<words> <dimensions>' line")
        return _read_binary(path, *header)
    return _read_text(path, header)


def _header(line: bytes) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) == 2 and all(part.isdigit() for part in parts):
        return int(parts[0]), int(parts[1])
    return None


def _is_text(sample: bytes) -> bool:
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start > len(sample) - 4  # a character cut by the end of the sample
    return b"\0" not in sample


def _read_binary(path: Path, count: int, size: int) -> tuple[list[str], np.ndarray]:
    data = path.read_bytes()
    position = data.index(b"\n") + 1
    words, vectors = [], np.empty((count, size), dtype=np.float32)
    width = 4 * size
    for row in range(count):
        while data[position : position + 1] == b"\n":  # word2vec.c's newline after the previous vector
            position += 1
        space = data.find(b" ", position)
        if space < 0 or space + 1 + width > len(data):
            raise UserError(f"{path}: ends after {row} of the {count} vectors its header announces")
        try:
            words.append(data[position:space].decode("utf-8"))
        except UnicodeDecodeError:
            raise UserError(f"{path}: word {row + 1} is not UTF-8") from None
        vectors[row] = np.frombuffer(data, dtype="<f4", count=size, offset=space + 1)
        position = space + 1 + width
    return words, vectors


def _read_text(path: Path, header: tuple[int, int] | None) -> tuple[list[str], np.ndarray]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text (byte {error.start}), nor a binary word2vec file") from None
    if header is not None:
        lines = lines[1:]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise UserError(f"{path}: no vectors")
    words, rows = [], []
    size = header[1] if header else len(lines[0].split()) - 1
    for number, line in enumerate(lines, start=2 if header else 1):
        parts = line.rstrip().split(" ")
        if len(parts) != size + 1:
            raise UserError(f"{path}: line {number} has {len(parts) - 1} values, expected {size}")
        words.append(parts[0])
        rows.append(parts[1:])
    if header is not None and header[0] != len(words):
        raise UserError(f"{path}: {len(words)} vectors, the header announces {header[0]}")
    try:
        vectors = np.asarray(rows, dtype=np.float32)
    except ValueError as error:
        raise UserError(f"{path}: a value is not a number ({error})") from None
    return words, vectors


__all__ = ["read_vectors", "write_vectors"]
