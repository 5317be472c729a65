"""Collators: only what transformers lacks (BERT pretraining masks, word-vector blocks).

BERT pretraining uses `DataCollatorForPreTraining` below. Causal-LM blocks from
`pretraining.pack_for_causal_lm` all have the same length and already carry `labels` (and `position_ids`),
so they need no collator of ours: use `transformers.default_data_collator`, which stacks every column.
`DataCollatorForLanguageModeling(mlm=False)` would do for unpacked, padded text, but it rebuilds the labels
from the inputs (discarding the -100 that packing puts at document starts), drops the labels of every token
equal to the pad token (all EOS labels when pad = eos, as with GPT-2's tokenizer), and does not pad
`position_ids`.
"""

import os
from dataclasses import dataclass
from typing import Any

import torch
from tokenizers import models
from transformers import DataCollatorForLanguageModeling

from ..errors import UserError


@dataclass
class DataCollatorForPreTraining(DataCollatorForLanguageModeling):
    """Pads BERT pretraining instances and masks them for MLM anew at every batch (so every epoch sees new
    masks), passing `token_type_ids` and `next_sentence_label` through.

    It is transformers' `DataCollatorForLanguageModeling` (mlm=True): each token is selected with probability
    `mlm_probability` (0.15) and a selected token becomes [MASK] with probability `mask_replace_prob` (0.8), a
    random token with probability `random_replace_prob` (0.1), or stays as it is; `labels` holds the original
    id at selected positions and -100 elsewhere. Special tokens ([CLS], [SEP], [PAD], [UNK], ...) are never
    selected; they are found by id, so instances need no `special_tokens_mask` column.

    Two changes, both for whole-word masking (`whole_word_mask=True`), where a word is a piece followed by its
    `##` continuation pieces (WordPiece tokenizers only):
    - words come from the ids themselves: transformers groups pieces from an `offset_mapping`, which NSP
      instances built from token ids do not have (and which would glue punctuation to the word before it);
    - the 80/10/10 split still applies to every token of a selected word, as in google-research/bert
      (transformers switches to 100% [MASK] under whole-word masking).
    As in transformers, each word is selected with probability `mlm_probability`, which in expectation selects
    that share of the tokens too, as BERT's whole-word masking does.

    With `pack_to` (a row length, the instances' max_seq_length), the batch's instances go into as few rows of
    that many tokens as first-fit-decreasing finds (DataCollatorWithPacking), one after another, `position_ids`
    restarting at 0 for each: BERT keeps attention inside each instance and pools each one's [CLS]
    (models.bert), so nothing is computed on padding but the rows' ends. `next_sentence_label` then lists the instances in reading order (row by row)
    and the batch holds the same instances and losses as unpacked, in fewer rows.
    """

    pack_to: int | None = None

    def __post_init__(self):
        if self.return_tensors != "pt":
            raise ValueError("DataCollatorForPreTraining builds PyTorch batches only (return_tensors='pt')")
        whole_word_mask, self.whole_word_mask = self.whole_word_mask, False
        super().__post_init__()  # validates the probabilities without turning off the 10% random / 10% kept
        self.whole_word_mask = whole_word_mask
        self._special_ids = torch.tensor(sorted(self.tokenizer.all_special_ids))
        if whole_word_mask:
            model = self.tokenizer.backend_tokenizer.model
            if not isinstance(model, models.WordPiece):
                raise UserError(
                    f"whole-word masking needs a WordPiece tokenizer ('##' continuation pieces), not {type(model).__name__}"
                )
            is_continuation = torch.zeros(len(self.tokenizer), dtype=torch.bool)
            for token, token_id in self.tokenizer.get_vocab().items():
                is_continuation[token_id] = token.startswith(model.continuing_subword_prefix)
            self._is_continuation = is_continuation

    def torch_call(self, examples):
        if self.pack_to is None:
            return super().torch_call(examples)
        if self.seed is not None and (
            not isinstance(self.generator, torch.Generator) or self._generator_pid != os.getpid()
        ):
            self.create_rng("pt")
        batch = DataCollatorWithPacking(self.tokenizer, self.pack_to)(examples)
        batch["input_ids"], batch["labels"] = self.torch_mask_tokens(batch["input_ids"])
        return batch

    def torch_mask_tokens(self, inputs, special_tokens_mask=None, offset_mapping=None):
        if special_tokens_mask is None:
            special_tokens_mask = torch.isin(inputs, self._special_ids)
        if self.whole_word_mask:
            offset_mapping = self._piece_offsets(inputs)
        return super().torch_mask_tokens(
            inputs, special_tokens_mask=special_tokens_mask, offset_mapping=offset_mapping
        )

    def _piece_offsets(self, inputs: torch.Tensor) -> torch.Tensor:
        """(start, end) offsets that transformers' whole-word masking reads as words: a `##` piece starts
        where the piece before it ends; any other token starts one character later (after a space)."""
        ends = 2 * torch.arange(1, inputs.shape[1] + 1).expand_as(inputs)
        starts = ends - 2 + (~self._is_continuation[inputs]).long()
        return torch.stack([starts, ends], dim=-1)


@dataclass
class DataCollatorWithPacking:
    """Fine-tuning batches without padding inside rows: the batch's examples (tokenized features) go into as
    few rows of `pack_to` tokens as first-fit-decreasing finds, one after another, `position_ids` restarting at
    0 for each, so that a model that reads packed rows (BERT: attention and [CLS] pooling per sequence) computes
    nothing on padding but the rows' ends. Sequence-level columns (`labels`: a class, a value, a multi-hot row;
    BERT pretraining's `next_sentence_label`) list the examples in reading order, one per sequence as the
    model's pooled outputs come; with `token_labels`, each
    token's label follows its token (`label_pad_token_id` on padding). For training only: the batch's order
    changes, so evaluation, whose predictions pair with examples, keeps the padding collator."""

    tokenizer: Any
    pack_to: int
    token_labels: bool = False
    label_pad_token_id: int = -100

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        lengths = [len(feature["input_ids"]) for feature in features]
        if max(lengths) > self.pack_to:
            raise ValueError(f"an example of {max(lengths)} tokens does not fit rows of {self.pack_to}")
        rows = first_fit_decreasing(lengths, self.pack_to)
        width = max(sum(lengths[i] for i in row) for row in rows)
        token_keys = [key for key in ("input_ids", "token_type_ids") if key in features[0]]
        if self.token_labels:
            token_keys.append("labels")
        fill = {"input_ids": self.tokenizer.pad_token_id, "labels": self.label_pad_token_id}
        batch = {
            key: torch.full((len(rows), width), fill.get(key, 0), dtype=torch.long) for key in token_keys
        }
        batch["position_ids"] = torch.zeros(len(rows), width, dtype=torch.long)
        batch["attention_mask"] = torch.zeros(len(rows), width, dtype=torch.long)
        for r, row in enumerate(rows):
            used = sum(lengths[i] for i in row)
            for key in token_keys:
                batch[key][r, :used] = torch.cat([torch.as_tensor(features[i][key]) for i in row])
            batch["position_ids"][r, :used] = torch.cat([torch.arange(lengths[i]) for i in row])
            batch["attention_mask"][r, :used] = 1
        order = [index for row in rows for index in row]
        for key in features[0].keys() - {*token_keys, *TOKEN_MASKS}:  # one value per example: labels, NSP's
            batch[key] = torch.as_tensor([features[i][key] for i in order])
        return batch


# Per-token columns the packed batch builds anew (or that masking finds by id): not copied from the features.
TOKEN_MASKS = ("attention_mask", "position_ids", "special_tokens_mask")


def first_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Indices of `lengths` in rows of at most `capacity` in total: longest first, each into the first row with
    room for it (close to the fewest rows possible: at most 11/9 of them, and 6/9 of a row)."""
    rows, room = [], []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        row = next((r for r, free in enumerate(room) if lengths[index] <= free), None)
        if row is None:
            row = len(rows)
            rows.append([])
            room.append(capacity)
        rows[row].append(index)
        room[row] -= lengths[index]
    return rows


def pad_blocks(examples: list[dict]) -> dict[str, torch.Tensor]:
    """Word-vector blocks (`input_ids`, `position_ids` of up to a block's length) stacked, right-padded to the
    longest with `attention_mask` 0 (the models train on no padding). A batch of one is passed as it is."""
    longest = max(len(example["input_ids"]) for example in examples)
    batch = {
        key: torch.zeros(len(examples), longest, dtype=torch.long)
        for key in ("input_ids", "position_ids", "attention_mask")
    }
    for row, example in enumerate(examples):
        length = len(example["input_ids"])
        batch["input_ids"][row, :length] = torch.as_tensor(example["input_ids"])
        batch["position_ids"][row, :length] = torch.as_tensor(example["position_ids"])
        batch["attention_mask"][row, :length] = 1
    return batch
