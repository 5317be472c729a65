"""Korean morpheme boundaries for subword vocabularies (`tokenizer.morphemes: kiwi`), drawn by kiwipiepy.

A Korean word (eojeol) is a stem with its endings run together: 먹었다 = 먹 + 었 + 다, 재밌었어요 = 재밌 + 었 + 어요.
A WordPiece or BPE trainer that sees whole words merges across those joints wherever that is frequent and
spends its vocabulary on stems glued to endings; Korean BERTs such as KLUE's learn their vocabulary from
morpheme-segmented text instead. Here the analyser only draws the joints the trainer may not merge across, and
the text keeps its surface form (contracted forms stay whole: 했다 = 했 | 다, not 하 + 었 + 다):

- WordPiece: the morphemes after the first in a word are learned as `##` continuation pieces (`먹`, `##었`,
  `##다`), as they appear when the word is encoded whole;
- byte-level BPE: a morpheme after the first is a pre-token without the leading space (`Ġ먹`, `었다`), which
  is how byte-level BPE marks a continuation.

Only training sees the analyser. The trained tokenizer is the kind's ordinary pipeline, so it saves to
tokenizer.json and loads anywhere (AutoTokenizer, pipeline, the Hub) without kiwipiepy; encoding a word
greedily with a morpheme-shaped vocabulary then mostly cuts it at its morphemes.

kiwipiepy is the optional `korean` extra: `pip install "hf-recipes[korean]"`.
"""

import functools
from collections.abc import Callable, Iterable, Iterator

from ..errors import UserError

MORPHEME_ANALYZERS = ("kiwi",)

# Put between two morphemes of one word while a vocabulary is trained (a private-use character: no text has
# it, and a character the texts do bring is removed first). Only the training pipeline ever sees it.
MARK = "\ue000"

_BATCH = 2048  # texts per call to the analyser (it works through a batch on several threads)


@functools.cache
def _kiwi():
    try:
        from kiwipiepy import Kiwi
    except ImportError:
        raise UserError(
            "tokenizer.morphemes: kiwi needs kiwipiepy, which is not installed: pip install 'hf-recipes[korean]'"
        ) from None
    return Kiwi()


def mark_morphemes(
    texts: Iterable[str], normalize: Callable[[str], str], analyzer: str = "kiwi"
) -> Iterator[str]:
    """Each text normalised by `normalize` (the tokenizer's own normalizer, so the analyser reads what the
    trainer will), with `MARK` between every two morphemes that are written together in one word."""
    if analyzer not in MORPHEME_ANALYZERS:
        raise UserError(
            f"tokenizer.morphemes: {analyzer!r} is not a morpheme analyser; one of {', '.join(MORPHEME_ANALYZERS)}"
        )
    kiwi = _kiwi()
    batch: list[str] = []
    for text in texts:
        batch.append(normalize(text.replace(MARK, "")))
        if len(batch) == _BATCH:
            yield from _marked(kiwi, batch)
            batch = []
    if batch:
        yield from _marked(kiwi, batch)


def _marked(kiwi, texts: list[str]) -> Iterator[str]:
    for text, morphemes in zip(texts, kiwi.tokenize(texts)):
        # A joint is where a morpheme starts right after a non-space character; a contraction's morphemes share
        # their start (했 = 하 + 었), so a set of starts cuts the surface form only where it can be cut.
        joints = sorted(
            {
                m.start
                for m in morphemes
                if 0 < m.start < len(text) and not text[m.start - 1].isspace() and not text[m.start].isspace()
            }
        )
        edges = [0, *joints, len(text)]
        yield MARK.join(text[start:end] for start, end in zip(edges, edges[1:]))


def continuation_pieces(vocabulary: dict[str, int], prefix: str) -> dict[str, int]:
    """A WordPiece vocabulary learned on marked words (`먹`, `MARK었다`) as the pieces of unmarked ones: a
    piece `MARK...` is the continuation `prefix...` (the same piece, when learned inside a word too, keeps its
    first id); the bare `MARK` goes. Ids stay in their order, renumbered without gaps."""
    renamed: dict[str, int] = {}
    for token in sorted(vocabulary, key=vocabulary.__getitem__):
        if token == MARK:
            continue
        renamed.setdefault(prefix + token[1:] if token.startswith(MARK) else token, len(renamed))
    return renamed
