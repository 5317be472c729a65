"""The word-vector verbs of `hf-recipes` (their arguments: hf_recipes/cli.py): neighbours, analogy, similarity,
project, export-vectors and import-vectors.

VECTORS is a trained embedding model (word2vec, FastText, GloVe: an output directory or a Hub id) or a
word-vector file in the word2vec text/binary format (fastText's .vec, word2vec's .bin, GloVe's .txt).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from transformers.utils import logging as transformers_logging

from ..errors import UserError
from ..word_vectors import WordVectors, projection

transformers_logging.disable_progress_bar()  # one query answered: no "Loading weights" bars on stderr


def neighbours(args: argparse.Namespace) -> int:
    vectors = WordVectors.load(args.vectors, trust_remote_code=args.trust_remote_code)
    for word in args.words:
        found = vectors.neighbours(word, args.top)
        where = "" if word in vectors else "  (not in the vocabulary: from its character n-grams)"
        print(f"{word}{where}")
        for other, score in found:
            print(f"  {score:.3f}  {other}")
    return 0


def analogy(args: argparse.Namespace) -> int:
    vectors = WordVectors.load(args.vectors, trust_remote_code=args.trust_remote_code)
    if args.file is not None:
        if args.words:
            raise UserError("analogy: give three words or --file, not both")
        result = vectors.evaluate_analogies(args.file, args.restrict_vocab, args.method)
        print(json.dumps(result, indent=2))
        return 0
    if len(args.words) != 3:
        raise UserError(f"analogy: expected three words a b c (a : b :: c : ?), got {len(args.words)}")
    a, b, c = args.words
    print(f"{a} : {b} :: {c} : ?   ({'3CosAdd' if args.method == 'add' else '3CosMul'})")
    for word, score in vectors.analogy(a, b, c, args.top, args.method):
        print(f"  {score:.3f}  {word}")
    return 0


def similarity(args: argparse.Namespace) -> int:
    vectors = WordVectors.load(args.vectors, trust_remote_code=args.trust_remote_code)
    print(json.dumps(vectors.evaluate_similarity(args.file), indent=2))
    return 0


def project(args: argparse.Namespace) -> int:
    from ..plots import plot_word_map

    vectors = WordVectors.load(args.vectors, trust_remote_code=args.trust_remote_code)
    if len(args.words) < 3:
        raise UserError(f"project: give at least three words, got {len(args.words)}")
    points = projection(torch.stack([vectors.vector(word) for word in args.words]), args.method)
    output = plot_word_map(points, args.words, Path(args.output), f"{args.vectors} ({args.method.upper()})")
    print(output)
    return 0


def export_vectors(args: argparse.Namespace) -> int:
    from ..data.vector_files import write_vectors

    vectors = WordVectors.load(args.vectors, trust_remote_code=args.trust_remote_code)
    path = write_vectors(args.output, vectors.words, vectors.vectors.numpy(), binary=args.binary)
    print(
        f"{path}: {len(vectors.words)} words x {vectors.vectors.shape[1]} ({'binary' if args.binary else 'text'})"
    )
    return 0


def import_vectors(args: argparse.Namespace) -> int:
    from ..data.vector_files import read_vectors

    words, vectors = read_vectors(args.file, binary=args.binary)
    output = WordVectors(words, torch.from_numpy(vectors)).save_pretrained(args.output_dir, args.lowercase)
    print(f"{output}: {len(words)} words x {vectors.shape[1]}; AutoModel and AutoTokenizer load it")
    return 0


__all__ = ["analogy", "export_vectors", "import_vectors", "neighbours", "project", "similarity"]
