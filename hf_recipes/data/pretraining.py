"""From a raw corpus to pretraining examples: documents, sentences, BERT's NSP pairs, causal-LM blocks.

Pipelines, from a dataset of documents with a "text" column (one document per row, its lines joined by
newlines: what `split_documents` gives, joined, or hf_recipes.data.loading), each step a batched
`datasets.Dataset.map`, so it is cached and runs under `main_process_first`:

    BERT (MLM + NSP)
        ds = ds.map(tokenize_sentences, batched=True, remove_columns=["text"],
                    fn_kwargs={"tokenizer": tok, "drop_pattern": WIKITEXT_HEADING_PATTERN})
        ds = ds.map(nsp_instances_map, batched=True, with_indices=True, batch_size=1000,
                    remove_columns=["sentences"],
                    fn_kwargs={"cls_token_id": tok.cls_token_id, "sep_token_id": tok.sep_token_id,
                               "max_seq_length": 128, "seed": 42})
        collator = DataCollatorForPreTraining(tok)                        (hf_recipes.data.collators)

    GPT (causal LM)
        ds = ds.map(lambda b: tok(b["text"], add_special_tokens=False), batched=True, remove_columns=["text"])
        ds = ds.map(pack_for_causal_lm, batched=True, batch_size=1000, remove_columns=["input_ids", ...],
                    fn_kwargs={"block_size": 1024, "eos_token_id": tok.eos_token_id, "reset_position_ids": True})
        collator = transformers.default_data_collator    (the blocks already carry labels and position_ids)

The NSP builder follows google-research/bert's create_pretraining_data.py step by step (see
`create_nsp_instances`); masking is left to the collator, so it is drawn anew for every batch (RoBERTa's
dynamic masking) instead of being frozen into the dataset.
"""

import random
import re
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from ..errors import UserError

# WikiText: ` = Title = ` starts an article; ` = = Section = = ` (any depth) is a heading inside it.
WIKITEXT_TITLE_PATTERN = r"^ = [^=].* = $"
WIKITEXT_HEADING_PATTERN = r"^\s*(= )+.*?( =)+\s*$"  # also matches once stripped: "= = Section = ="
DOCUMENT_BOUNDARIES = ("blank_line", "title", "row")


def split_documents(
    lines: Iterable[str], boundary: str = "blank_line", title_pattern: str = WIKITEXT_TITLE_PATTERN
) -> list[list[str]]:
    """Group a corpus's lines into documents, each a list of its non-blank lines (paragraphs), stripped.

    boundary:
        "blank_line": a blank line ends a document (BERT's pretraining input format: one sentence per line,
            documents separated by blank lines).
        "title": a line matching `title_pattern` (checked before stripping, without the line break) starts a
            new document and is its first line; blank lines are dropped. The default pattern is WikiText's
            ` = Title = `; section headings ` = = Section = = ` do not start documents.
        "row": every item of `lines` is one document (a file, a dataset row); it is split at its line breaks.
    """
    return list(iter_documents(lines, boundary, title_pattern))


def iter_documents(
    lines: Iterable[str], boundary: str = "blank_line", title_pattern: str = WIKITEXT_TITLE_PATTERN
) -> Iterator[list[str]]:
    """`split_documents`, one document at a time: reads `lines` only as far as the document it yields, so a
    streamed file is never held whole."""
    if boundary not in DOCUMENT_BOUNDARIES:
        raise UserError(f"document boundary {boundary!r} is not one of {', '.join(DOCUMENT_BOUNDARIES)}")
    title = re.compile(title_pattern)
    document: list[str] = []
    for item in lines:
        for line in item.splitlines() if boundary == "row" else [item.rstrip("\r\n")]:
            if (boundary == "blank_line" and not line.strip()) or (
                boundary == "title" and title.search(line)
            ):
                if document:
                    yield document
                document = []
            if line.strip():
                document.append(line.strip())
        if boundary == "row" and document:
            yield document
            document = []
    if document:
        yield document


# Words that end in a period without ending a sentence. Company suffixes (Inc., Ltd.) are left out: they end
# sentences more often than not.
_ABBREVIATIONS = frozenset(
    "mr mrs ms messrs dr prof rev hon st mt ft jr sr lt col gen capt cmdr sgt gov sen rep pres no nos vs "
    "fig figs vol vols pp ch op ed eds approx ca cf al var subsp sp spp "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_OPENERS = "\"'([{“‘«"
_CLOSERS = "\"')]}”’»"
_NOT_A_SENTENCE_START = ",;:.!?)]}%-–—"


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences with rules made for WikiText's tokenised lines, which also work on
    ordinary prose (no model or downloaded data needed, unlike nltk's punkt).

    A sentence ends at a word ending in `.`, `?` or `!` (a standalone ` . ` as in WikiText, or attached as in
    prose) when the next word can start a sentence (not lowercase, not `,;:)` and the like). Closing brackets
    and a closing quote (a `"` after an odd number of them in the paragraph; WikiText's quotes are all `"`) right
    after the period stay with the sentence. A period after an abbreviation (Mr., St., No., ...), an initial
    (H., J.) or a dotted acronym (U.S., e.g.) ends nothing, nor does an ellipsis; WikiText's decimal
    ` @.@ ` contains no terminal word. Returns substrings of `text` (inner spacing kept), none empty.
    """
    matches = list(re.finditer(r"\S+", text))
    words, spans = [match.group() for match in matches], [match.span() for match in matches]
    sentences, first = [], 0  # first: index of the current sentence's first word
    i = 0
    while i < len(words):
        if not _ends_sentence(words[i], words[i - 1] if i > first else ""):
            i += 1
            continue
        last = i
        while last + 1 < len(words) and _closes(words[last + 1], text[: spans[last][1]]):
            last += 1
        if last + 1 < len(words) and _starts_sentence(words[last + 1]):
            sentences.append(text[spans[first][0] : spans[last][1]])
            first = last + 1
        i = last + 1
    if first < len(words):
        sentences.append(text[spans[first][0] : spans[-1][1]])
    return sentences


def _ends_sentence(word: str, previous: str) -> bool:
    core = word.rstrip(_CLOSERS)
    if not core or core[-1] not in ".!?":
        return False
    if core[-1] in "!?":
        return True
    if (
        core == "."
    ):  # tokenised text; WikiText still splits a few abbreviations off their period (Mt . Olympus)
        return not (previous[:1].isupper() and previous.lower() in _ABBREVIATIONS)
    body = core[:-1].lstrip(_OPENERS)
    if not body or set(body) == {"."}:  # an ellipsis: inside quotes and titles more often than at an end
        return False
    initial = len(body) == 1 and body.isalpha()
    return not (initial or "." in body or body.lower() in _ABBREVIATIONS)


def _starts_sentence(word: str) -> bool:
    return not (word[0].islower() or word[0] in _NOT_A_SENTENCE_START)


def _closes(word: str, before: str) -> bool:
    """Whether `word`, standing right after a sentence's final punctuation, closes a bracket or quote; a `"`
    closes when the text `before` it holds an odd number of them (a quote may span several sentences)."""
    if word == '"':
        return before.count('"') % 2 == 1
    return all(char in _CLOSERS and char != '"' for char in word)


def tokenize_sentences(
    batch: dict, *, tokenizer, column: str = "text", split_lines: bool = True, drop_pattern: str | None = None
) -> dict:
    """Batched `Dataset.map` function: documents in `column` (each a string of lines, or a list of lines) →
    `"sentences"`, each document a list of sentences as token-id lists (no special tokens).

    Lines are cut with `split_sentences` unless `split_lines=False` (input already one sentence per line,
    as bert_sample_text). Lines matching `drop_pattern` are skipped, e.g. WIKITEXT_HEADING_PATTERN to leave
    out titles and section headings as BERT did with Wikipedia's headers. Sentences that tokenise to nothing
    and documents left empty are dropped, so the number of rows may change: remove the input columns.
    """
    drop = re.compile(drop_pattern) if drop_pattern else None
    documents = []
    for document in batch[column]:
        lines = document.splitlines() if isinstance(document, str) else document
        lines = [line for line in lines if line.strip() and not (drop and drop.search(line))]
        documents.append(
            [sentence for line in lines for sentence in (split_sentences(line) if split_lines else [line])]
        )
    flat = [sentence for document in documents for sentence in document]
    ids = iter(tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else [])
    tokenized = [
        [sentence for sentence in (next(ids) for _ in document) if sentence] for document in documents
    ]
    return {"sentences": [document for document in tokenized if document]}


def create_nsp_instances(
    documents: Sequence[Sequence[Sequence[int]]],
    *,
    cls_token_id: int,
    sep_token_id: int,
    max_seq_length: int = 128,
    short_seq_prob: float = 0.1,
    dupe_factor: int = 1,
    seed: int | str = 0,
) -> dict[str, list]:
    """BERT's next-sentence-prediction instances from `documents` (each a list of sentences, each a list of
    token ids), as columns `input_ids` = `[CLS] A [SEP] B [SEP]`, `token_type_ids` (0 up to the first [SEP],
    1 after) and `next_sentence_label` (0: B follows A in the document, 1: B is random). Deterministic for a seed.

    As create_pretraining_data.py: each document is walked sentence by sentence, gathering a chunk until it
    reaches the target length (max_seq_length - 3, or with probability `short_seq_prob` a random length in
    [2, max_seq_length - 3], to resemble short fine-tuning inputs). A random split point makes A; with
    probability 1/2 (always when the chunk is one sentence) B is a run of sentences from a random other
    document, long enough for the target, and the chunk's sentences after A are put back to start the next
    chunk; otherwise B is the rest of the chunk. The longer of A and B then loses tokens, from the front or the
    back at random, until the pair fits. Every document is used `dupe_factor` times, with new random choices.

    One difference: the short target is drawn again for every instance, where the original draws it once per
    document (so on a corpus of a few long documents, such as WikiText's articles, its share of short
    instances swings far from `short_seq_prob`). Masking is not done here: it belongs to the collator.
    """
    if max_seq_length < 5:
        raise UserError(f"max_seq_length must leave room for [CLS] A [SEP] B [SEP], got {max_seq_length}")
    rng = random.Random(seed)
    documents = [[list(s) for s in document if len(s)] for document in documents]
    documents = [document for document in documents if document]
    columns: dict[str, list] = {"input_ids": [], "token_type_ids": [], "next_sentence_label": []}
    for _ in range(dupe_factor):
        for index in range(len(documents)):
            for tokens_a, tokens_b, is_random_next in _pairs_from_document(
                documents, index, max_seq_length - 3, short_seq_prob, rng
            ):
                columns["input_ids"].append([cls_token_id, *tokens_a, sep_token_id, *tokens_b, sep_token_id])
                columns["token_type_ids"].append([0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1))
                columns["next_sentence_label"].append(int(is_random_next))
    return columns


def _pairs_from_document(documents, index, max_num_tokens, short_seq_prob, rng):
    """Yield (tokens_a, tokens_b, is_random_next) for documents[index]; see create_nsp_instances."""

    def target_length():
        return rng.randint(2, max_num_tokens) if rng.random() < short_seq_prob else max_num_tokens

    document = documents[index]
    target = target_length()
    chunk, chunk_length, i = [], 0, 0
    while i < len(document):
        chunk.append(document[i])
        chunk_length += len(document[i])
        if i == len(document) - 1 or chunk_length >= target:
            a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
            tokens_a = [token for sentence in chunk[:a_end] for token in sentence]
            is_random_next = len(chunk) == 1 or rng.random() < 0.5
            if is_random_next:
                # Ten tries to avoid the same document, as the original (it only happens with one document).
                for _ in range(10):
                    other = rng.randint(0, len(documents) - 1)
                    if other != index:
                        break
                other_document = documents[other]
                tokens_b = []
                for sentence in other_document[rng.randint(0, len(other_document) - 1) :]:
                    tokens_b.extend(sentence)
                    if len(tokens_b) >= target - len(tokens_a):
                        break
                i -= len(chunk) - a_end  # put back the unused sentences: they start the next chunk
            else:
                tokens_b = [token for sentence in chunk[a_end:] for token in sentence]
            _truncate_pair(tokens_a, tokens_b, max_num_tokens, rng)
            yield tokens_a, tokens_b, is_random_next
            chunk, chunk_length = [], 0
            target = target_length()
        i += 1


def _truncate_pair(tokens_a: list, tokens_b: list, max_num_tokens: int, rng: random.Random) -> None:
    """Drop tokens, one at a time, from the longer of A and B (B on a tie), at its front or back at random,
    until both fit in max_num_tokens."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def nsp_instances_map(
    batch: dict,
    indices: list[int],
    *,
    cls_token_id: int,
    sep_token_id: int,
    max_seq_length: int = 128,
    short_seq_prob: float = 0.1,
    dupe_factor: int = 1,
    seed: int = 0,
    column: str = "sentences",
) -> dict[str, list]:
    """Batched `Dataset.map` function (with `with_indices=True`) over a dataset of documents (`column`: lists
    of sentence token ids, as `tokenize_sentences` makes) → `create_nsp_instances` columns.

    Random B segments come from the other documents of the same map batch, so the batch should hold many
    documents (batch_size=1000 is plenty; the whole corpus when it has few, e.g. WikiText-2's 60 articles).
    A batch of one document gets its "random" B from itself, as the original does with a one-document corpus.
    Each batch is seeded from `seed` and its first index: the result is the same on every run with the same
    batching, whichever process maps it. Remove every input column: the number of rows changes.
    """
    return create_nsp_instances(
        batch[column],
        cls_token_id=cls_token_id,
        sep_token_id=sep_token_id,
        max_seq_length=max_seq_length,
        short_seq_prob=short_seq_prob,
        dupe_factor=dupe_factor,
        seed=f"{seed}/{indices[0]}",
    )


def pack_for_causal_lm(
    batch: dict,
    *,
    block_size: int,
    eos_token_id: int | None = None,
    reset_position_ids: bool = False,
    column: str = "input_ids",
) -> dict[str, list]:
    """Batched `Dataset.map` function: concatenate the batch's tokenised documents (`column`, tokenised
    without special tokens), each followed by `eos_token_id` when given, and cut the stream into blocks of
    `block_size` tokens, as transformers' run_clm.py and GPT-2 do. The tail shorter than a block is dropped
    (at most block_size - 1 tokens per map batch), so every block is full and needs no padding.

    Returns `input_ids` and `labels` (a copy; the model shifts them), ready for `default_data_collator`.
    With `reset_position_ids`, also `position_ids` that restart at 0 at every document start (and at every
    block start), from which HfrGPTModel keeps attention inside each document; the label of each document's
    first token is then -100, since it would be predicted from the end of the previous document that its
    position can no longer see (as transformers' DataCollatorWithFlattening does).
    """
    tail = [eos_token_id] if eos_token_id is not None else []
    documents = [list(document) + tail for document in batch[column] if len(document)]
    num_blocks = sum(len(document) for document in documents) // block_size
    if num_blocks == 0:
        return {"input_ids": [], "labels": []} | ({"position_ids": []} if reset_position_ids else {})
    input_ids = np.concatenate(documents)[: num_blocks * block_size].reshape(num_blocks, block_size)
    blocks = {"input_ids": input_ids.tolist()}
    if not reset_position_ids:
        return blocks | {"labels": input_ids.tolist()}

    doc_starts = np.zeros(num_blocks * block_size, dtype=bool)
    starts = np.cumsum([0] + [len(document) for document in documents[:-1]])
    doc_starts[starts[starts < doc_starts.size]] = True
    doc_starts = doc_starts.reshape(num_blocks, block_size)
    restarts = doc_starts.copy()
    restarts[:, 0] = True  # a document cut by a block boundary goes on from position 0 in the next block
    columns = np.arange(block_size)
    last_restart = np.maximum.accumulate(np.where(restarts, columns, 0), axis=1)
    labels = np.where(doc_starts, -100, input_ids)
    return blocks | {"labels": labels.tolist(), "position_ids": (columns - last_restart).tolist()}
