"""The Korean tokenizer benchmark of `make bench` (`--only korean_tokenizers`): WordPiece and byte-level BPE
vocabularies of 8,000 (bert_mlm_nsmc's size) trained on NSMC's 35,000 training reviews, each with and without
`tokenizer.morphemes: kiwi`, scored on the 5,000 reviews of dev.txt, which none of them saw:

- tokens per review, and the share of [UNK] tokens (WordPiece);
- how the pieces of a word line up with its morphemes as kiwipiepy analyses them (the same joints the
  trainer was kept from merging across): `joint_recall`, the share of morpheme joints inside words where a
  piece ends, and `cut_precision`, the share of cuts between pieces of a word that fall on a morpheme joint;
- whole words: the share of dev words encoded as one piece.

Needs ../shared/data/nsmc and kiwipiepy (the `korean` extra).
"""

from __future__ import annotations

import time
import unicodedata
from pathlib import Path

from hf_recipes.data.morphemes import MARK, mark_morphemes
from hf_recipes.data.tokenization import train_tokenizer

VOCAB_SIZE = 8000


def _reviews(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]  # id<TAB>document<TAB>label, with a header
    return [unicodedata.normalize("NFC", line.split("\t")[1]) for line in lines]


def _joints(marked: str) -> set[int]:
    """Positions in the unmarked text where a morpheme starts inside a word."""
    positions, offset = set(), 0
    for index, char in enumerate(marked):
        if char == MARK:
            positions.add(index - offset)
            offset += 1
    return positions


def _scores(tokenizer, texts: list[str], joints: list[set[int]]) -> dict:
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    tokens = hits = cuts = total_joints = words = whole = unknown = 0
    for text, ids, offsets, joint in zip(texts, encoded["input_ids"], encoded["offset_mapping"], joints):
        tokens += len(ids)
        unknown += sum(token == tokenizer.unk_token_id for token in ids) if tokenizer.unk_token else 0
        # byte-level BPE: a piece may end inside a character (offsets repeat): each cut position counts once;
        # its pieces start at the space before a word (Ġ), which is a word boundary, not a cut
        starts = {start for start, end in offsets if end > start}
        cut = {s for s in starts if s > 0 and not text[s - 1].isspace() and not text[s].isspace()}
        cuts += len(cut)
        hits += len(cut & joint)
        total_joints += len(joint)
        for word_start, word in _words(text):
            words += 1
            whole += not any(word_start < s < word_start + len(word) for s in cut)
    return {
        "tokens_per_review": round(tokens / len(texts), 2),
        "unk_share": round(unknown / tokens, 4),
        "joint_recall": round(hits / total_joints, 3),
        "cut_precision": round(hits / cuts, 3) if cuts else None,
        "whole_words": round(whole / words, 3),
    }


def _words(text: str):
    start = None
    for index, char in enumerate(text + " "):
        if char.isspace():
            if start is not None:
                yield start, text[start:index]
            start = None
        elif start is None:
            start = index


def run(args) -> list[dict]:
    folder = Path(args.data_dir) / "nsmc"
    if not (folder / "train.txt").is_file():
        raise SystemExit(f"korean_tokenizers: no {folder}/train.txt (see ../shared/data/README.md)")
    train, dev = _reviews(folder / "train.txt"), _reviews(folder / "dev.txt")
    joints = [_joints(marked) for marked in mark_morphemes(dev, normalize=str)]
    rows = []
    for kind in ("wordpiece", "bpe"):
        for morphemes in (None, "kiwi"):
            started = time.perf_counter()
            tokenizer = train_tokenizer(train, kind, VOCAB_SIZE, lowercase=True, morphemes=morphemes)
            seconds = time.perf_counter() - started
            row = {
                "benchmark": "korean_tokenizers",
                "kind": kind,
                "morphemes": morphemes or "-",
                "vocabulary": len(tokenizer),
                "train_s": round(seconds, 1),
                **_scores(tokenizer, dev, joints),
            }
            rows.append(row)
            print(row, flush=True)
    return rows
