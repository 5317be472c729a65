"""Zero-, one- and few-shot classification with a causal language model, as GPT-3 was evaluated (Brown et al.
2020, section 2): no gradient step, only a prompt.

A prompt is `k` demonstrations drawn from the training split, each an example rendered with the task's
template followed by the verbaliser of its label, then the query example rendered the same way without its
answer:

    Review: a gorgeous , witty , seductive movie .
    Sentiment: positive

    Review: the story is far-flung , illogical , and plain stupid .
    Sentiment:

The predicted label is the one whose verbaliser (" positive", " negative") the model finds most likely after
the prompt: log P(verbaliser | prompt), summed over the verbaliser's tokens and, by default, divided by their
number (GPT-3's per-token normalisation: without it a verbaliser of several tokens loses to a one-token one
for its length alone; for one-token verbalisers, as SST-2's, both give the same answer). Optionally the scores
are calibrated (Zhao et al. 2021, "Calibrate before use"): the same demonstrations with a content-free query
("N/A") measure the model's bias towards each verbaliser, which is subtracted.

Scoring is batched: prompts of similar length are left-padded together (positions counted over real tokens
only, so padding changes nothing), one forward pass gives the next-token distribution after every prompt, which
scores one-token verbalisers at once; longer verbalisers continue from the prompts' KV cache, copied once per
label. Demonstrations are drawn per eval example with a seed (the k-shot demonstrations are the first k of
the same draw for every k, so the k's are compared on the same examples); when a prompt exceeds the model's
context, the demonstrations farthest from the query are dropped (the count actually used is reported).
"""

from __future__ import annotations

import inspect
import random
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import metrics as M
from ..compat import CACHE_NAME, output_cache
from ..errors import UserError
from ..tasks.base import Task


@dataclass(frozen=True)
class PromptFormat:
    """How an example becomes text: `template` renders its text columns ({sentence}, {sentence1}, ...),
    `verbalizers[i]` is the answer text of label i, `separator` comes between demonstrations."""

    template: str
    verbalizers: tuple[str, ...]
    separator: str = "\n\n"

    def fields(self) -> list[str]:
        return [name for _, name, _, _ in string.Formatter().parse(self.template) if name]

    def render(self, row: Mapping[str, Any], label: int | None = None) -> str:
        text = self.template.format_map({name: _text(row[name]) for name in self.fields()})
        return text if label is None else text + self.verbalizers[label]


# Templates and verbalisers in GPT-3's style for the built-in single-label tasks (label-id order).
FORMATS: dict[str, PromptFormat] = {
    "sst2": PromptFormat("Review: {sentence}\nSentiment:", (" negative", " positive")),
    "cola": PromptFormat("Sentence: {sentence}\nIs this sentence grammatical? Answer:", (" no", " yes")),
    "mrpc": PromptFormat(
        "Sentence 1: {sentence1}\nSentence 2: {sentence2}\nDo they mean the same thing? Answer:",
        (" no", " yes"),
    ),
    "qqp": PromptFormat(
        "Question 1: {question1}\nQuestion 2: {question2}\nDo they ask the same thing? Answer:",
        (" no", " yes"),
    ),
    "qnli": PromptFormat(
        "Question: {question}\nSentence: {sentence}\nDoes the sentence answer the question? Answer:",
        (" yes", " no"),
    ),
    "rte": PromptFormat("{sentence1}\nQuestion: {sentence2} True or False?\nAnswer:", (" True", " False")),
    "wnli": PromptFormat("{sentence1}\nQuestion: {sentence2} True or False?\nAnswer:", (" False", " True")),
    "mnli": PromptFormat(
        "{premise}\nQuestion: {hypothesis} True, False or Neither?\nAnswer:", (" True", " Neither", " False")
    ),
    "word_order": PromptFormat("Sentence: {sentence}\nWord order:", (" original", " shuffled")),
}

CONTENT_FREE = "N/A"  # the query text of calibration (Zhao et al. 2021)


def prompt_format(
    task: Task,
    template: str | None = None,
    verbalizers: Sequence[str] | Mapping[str, str] | None = None,
    separator: str | None = None,
) -> PromptFormat:
    """The task's format with the user's `template` / `verbalizers` / `separator` on top. A task without a
    built-in format (custom) gets `Text: {column}` lines and its label names as verbalisers."""
    if task.problem_type != "single_label" or not task.label_names:
        raise UserError(
            f"task {task.name}: prompting scores one verbaliser per label, so it takes single-label "
            f"classification tasks; {task.name} is {task.problem_type}"
        )
    columns = list(getattr(task, "text_columns", ()))
    default = FORMATS.get(task.name)
    if default is None:
        lines = [f"{column.replace('_', ' ').capitalize()}: {{{column}}}" for column in columns]
        default = PromptFormat(
            "\n".join(lines) + "\nLabel:", tuple(" " + name.replace("_", " ") for name in task.label_names)
        )
    if isinstance(verbalizers, Mapping):
        unknown = sorted(set(verbalizers) - set(task.label_names))
        missing = [name for name in task.label_names if name not in verbalizers]
        if unknown or missing:
            raise UserError(
                f"verbalizers: {'unknown label ' + repr(unknown[0]) if unknown else 'no verbaliser for label ' + repr(missing[0])}"
                f"; task {task.name} has labels {task.label_names}"
            )
        verbalizers = [verbalizers[name] for name in task.label_names]
    fmt = PromptFormat(
        template if template is not None else default.template,
        tuple(verbalizers) if verbalizers is not None else default.verbalizers,
        separator if separator is not None else default.separator,
    )
    if len(fmt.verbalizers) != len(task.label_names):
        raise UserError(
            f"verbalizers: {len(fmt.verbalizers)} given, task {task.name} has {len(task.label_names)} labels "
            f"({', '.join(task.label_names)}); give one per label, in that order, or a label: text mapping"
        )
    if len(set(fmt.verbalizers)) != len(fmt.verbalizers) or not all(fmt.verbalizers):
        raise UserError(f"verbalizers: must be distinct and non-empty, got {list(fmt.verbalizers)}")
    unknown = [name for name in fmt.fields() if name not in columns]
    if unknown or not fmt.fields():
        what = f"{{{unknown[0]}}} is not a text column" if unknown else "it names no text column"
        raise UserError(
            f"template: {what} of task {task.name}; use {', '.join('{' + c + '}' for c in columns)}"
        )
    return fmt


# --- prompts ---------------------------------------------------------------------------------------------


class PromptEncoder:
    """Token ids of prompts and verbalisers for one tokenizer, within a context of `max_length` tokens.

    Prompts start with the tokenizer's bos token (else eos): the document boundary a causal LM saw before
    every document during pretraining. Whitespace at the end of a rendered prompt moves to the front of the
    verbalisers ("Answer: " + "yes" scores as "Answer:" + " yes"), as byte-level BPE tokenises words with
    their leading space."""

    def __init__(self, tokenizer, fmt: PromptFormat, max_length: int):
        self.tokenizer, self.fmt = tokenizer, fmt
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.prefix = [start] if start is not None else []
        probe = fmt.render({name: "x" for name in fmt.fields()})
        self.moved = probe[len(probe.rstrip(" ")) :]
        self.verbalizer_ids = [self.encode(self.moved + text) for text in fmt.verbalizers]
        if any(not ids for ids in self.verbalizer_ids):
            raise UserError(f"verbalizers: one of {list(fmt.verbalizers)} encodes to no token")
        # The prompt and all but the last verbaliser token are fed to the model.
        self.budget = max_length - (max(map(len, self.verbalizer_ids)) - 1)
        if self.budget <= len(self.prefix) + 1:
            raise UserError(f"max_length: {max_length} tokens leave no room for a prompt")

    def encode(self, text: str) -> list[int]:
        # verbose=False: a prompt longer than the context is expected here (it is cut in `prompt`)
        return self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]

    def prompt(self, demonstrations: Sequence[str], query: str) -> tuple[str, list[int], int, bool]:
        """(text, ids, demonstrations kept, query truncated): the farthest demonstrations are dropped until
        the prompt fits; a query too long on its own keeps its end (where the question is)."""
        for start in range(len(demonstrations) + 1):
            parts = [*demonstrations[start:], query]
            text = self.fmt.separator.join(parts)
            text = text[: len(text) - len(self.moved)] if self.moved else text
            ids = self.prefix + self.encode(text)
            if len(ids) <= self.budget:
                return text, ids, len(parts) - 1, False
        return text, self.prefix + ids[len(ids) - self.budget + len(self.prefix) :], 0, True


# --- scoring ---------------------------------------------------------------------------------------------


@torch.inference_mode()
def score_continuations(
    model,
    prompts: Sequence[Sequence[int]],
    continuations: Sequence[Sequence[int]],
    *,
    pad_id: int,
    batch_size: int,
) -> np.ndarray:
    """log P(continuation | prompt), summed over the continuation's tokens, for every prompt and every
    continuation: an array (len(prompts), len(continuations)).

    Prompts are left-padded in batches of similar length, with position ids counted over real tokens (what
    `generate` does), so every prompt's last token sits in the last column and the continuations start at the
    same place for all rows. One-token continuations are read off the next-token distribution; longer ones are
    fed after the prompts through the KV cache, repeated once per continuation."""
    device = next(model.parameters()).device
    n_labels = len(continuations)
    longest = max(map(len, continuations))
    first = torch.tensor([ids[0] for ids in continuations], device=device)
    # Continuation inputs (all but their last token, right-padded) and targets (all but their first).
    rest = torch.full((n_labels, max(longest - 1, 1)), pad_id, device=device)
    targets = torch.full_like(rest, -1)
    for label, ids in enumerate(continuations):
        rest[label, : len(ids) - 1] = torch.tensor(ids[:-1], device=device)
        targets[label, : len(ids) - 1] = torch.tensor(ids[1:], device=device)
    keep_last = (
        {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    )

    scores = np.zeros((len(prompts), n_labels))
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(prompts[i]) for i in rows)
        input_ids = torch.full((len(rows), width), pad_id, device=device)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long, device=device)
        for row, i in enumerate(rows):
            input_ids[row, width - len(prompts[i]) :] = torch.tensor(prompts[i], device=device)
            attention_mask[row, width - len(prompts[i]) :] = 1
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        out = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=longest > 1,
            **keep_last,
        )
        total = out.logits[:, -1].float().log_softmax(-1)[:, first]  # (batch, labels): the first tokens
        if longest > 1:
            # Every prompt's cache, once per label: rows (prompt 0, label 0), (prompt 0, label 1), ...
            cache = output_cache(out)
            cache.batch_repeat_interleave(n_labels)
            steps = rest.shape[1]
            more = model(
                input_ids=rest.repeat(len(rows), 1),
                attention_mask=torch.cat(
                    [
                        attention_mask.repeat_interleave(n_labels, 0),
                        torch.ones_like(rest).repeat(len(rows), 1),
                    ],
                    -1,
                ),
                position_ids=attention_mask.sum(-1, keepdim=True).repeat_interleave(n_labels, 0)
                + torch.arange(steps, device=device),
                use_cache=True,
                **{CACHE_NAME: cache},
            )
            logprobs = more.logits.float().log_softmax(-1)  # (batch * labels, steps, vocab)
            wanted = targets.repeat(len(rows), 1)
            picked = logprobs.gather(-1, wanted.clamp(min=0)[..., None])[..., 0] * (wanted >= 0)
            total = total + picked.sum(-1).view(len(rows), n_labels)
        scores[rows] = total.cpu().numpy()
    return scores


# --- evaluation ------------------------------------------------------------------------------------------


def evaluate_prompting(
    model,
    tokenizer,
    task: Task,
    train,
    examples,
    *,
    shots: Sequence[int],
    fmt: PromptFormat,
    max_length: int,
    seed: int = 0,
    batch_size: int = 16,
    length_normalization: bool = True,
    calibrate: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Accuracy of the k-shot prompts for each k in `shots` on `examples` (the eval rows), demonstrations
    drawn from `train`. Returns (metrics, one prediction row per example and k)."""
    label_column = task.label_column
    references = np.asarray(examples[label_column][:])
    names = task.label_names
    encoder = PromptEncoder(tokenizer, fmt, max_length)
    lengths = np.array([len(ids) for ids in encoder.verbalizer_ids])
    pad_id = next(i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if i is not None)
    most = max(shots)
    if most > len(train):
        raise UserError(
            f"shots: {most} demonstrations asked for, the training split has {len(train)} examples"
        )
    train_labels = train[label_column][:]
    rows_of = {column: train[column][:] for column in fmt.fields()}
    eval_columns = {column: examples[column][:] for column in fmt.fields()}
    eval_rows = [{column: eval_columns[column][i] for column in fmt.fields()} for i in range(len(examples))]
    content_free = {column: CONTENT_FREE for column in fmt.fields()}
    # The same draw for every k: k-shot prompts use its first k demonstrations.
    draws = [random.Random(f"{seed}:{i}").sample(range(len(train)), most) for i in range(len(examples))]

    metrics: dict[str, Any] = {
        "eval_samples": len(examples),
        "majority_class_accuracy": float(
            np.bincount(references, minlength=len(names)).max() / len(references)
        ),
        "length_normalization": length_normalization,
    }
    predictions = []
    for k in shots:
        prompts, kept, truncated, texts, free = [], [], [], [], []
        for i, draw in enumerate(draws):
            demonstrations = [
                fmt.render({c: rows_of[c][j] for c in fmt.fields()}, int(train_labels[j])) for j in draw[:k]
            ]
            text, ids, used, cut = encoder.prompt(demonstrations, fmt.render(eval_rows[i]))
            texts.append(text)
            prompts.append(ids)
            kept.append(used)
            truncated.append(cut)
            if calibrate:
                free.append(encoder.prompt(demonstrations[k - used :], fmt.render(content_free))[1])
        summed = score_continuations(
            model, prompts, encoder.verbalizer_ids, pad_id=pad_id, batch_size=batch_size
        )
        scores = summed / lengths if length_normalization else summed
        predicted = scores.argmax(-1)
        tag = f"{k}shot"
        metrics[f"accuracy_{tag}"] = M.accuracy(predicted, references)["accuracy"]
        metrics[f"macro_f1_{tag}"] = M.f1(predicted, references, "macro")["f1"]
        metrics[f"mean_shots_{tag}"] = float(np.mean(kept))
        metrics[f"truncated_{tag}"] = int(np.sum(truncated))
        if calibrate:
            bias = score_continuations(
                model, free, encoder.verbalizer_ids, pad_id=pad_id, batch_size=batch_size
            )
            calibrated = scores - (bias / lengths if length_normalization else bias)
            metrics[f"calibrated_accuracy_{tag}"] = M.accuracy(calibrated.argmax(-1), references)["accuracy"]
        for i in range(len(examples)):
            row = {
                "k": k,
                "index": i,
                **eval_rows[i],
                "label": names[int(references[i])],
                "prediction": names[int(predicted[i])],
                "scores": {name: float(scores[i, j]) for j, name in enumerate(names)},
                "demonstrations": kept[i],
                "demonstration_ids": draws[i][k - kept[i] : k],
                "prompt": texts[i],
            }
            if calibrate:
                row["calibrated_prediction"] = names[int(calibrated[i].argmax())]
            predictions.append(row)
    return metrics, predictions


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()
