"""Shared by the data tests: WikiText-2 valid, a WordPiece tokenizer trained on part of it, and its documents
as tokenised sentences, each built once per test session (and never modified by a test)."""

import functools
from pathlib import Path

from hf_recipes.data.pretraining import WIKITEXT_HEADING_PATTERN, split_documents, tokenize_sentences
from hf_recipes.data.tokenization import train_tokenizer


@functools.cache
def wikitext_lines(shared_data: Path) -> tuple[str, ...]:
    return tuple((shared_data / "wikitext-2" / "valid.txt").read_text(encoding="utf-8").splitlines())


@functools.cache
def wordpiece_tokenizer(shared_data: Path):
    """A 2,000-token WordPiece vocabulary from the first 1,200 lines (a fifth of the file): quick to train."""
    return train_tokenizer(wikitext_lines(shared_data)[:1200], "wordpiece", 2000)


@functools.cache
def wikitext_sentences(shared_data: Path) -> list:
    """WikiText-2 valid's 60 articles as lists of tokenised sentences, titles and headings left out."""
    documents = split_documents(wikitext_lines(shared_data), boundary="title")
    return tokenize_sentences(
        {"text": documents}, tokenizer=wordpiece_tokenizer(shared_data), drop_pattern=WIKITEXT_HEADING_PATTERN
    )["sentences"]
