"""Where a seq2seq model looks while it translates (`hf-recipes attention MODEL "sentence"` draws it).

The model translates the sentence (its generation_config: beams, length penalty), then reads its own
translation once more with teacher forcing and `output_attentions=True`; the cross-attention of that pass is
the picture: one row per generated token (the attention that produced it), one column per source token, each
row summing to 1 over the source. The Transformer has one panel per head of its LAST decoder layer (`--layer`
picks another; heads are not averaged, they attend to different things); the recurrent models have one
attention, drawn in one panel.

Every translation run of `hf-recipes finetune` draws a few validation sentences this way (attention_<i>.png).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers.utils import logging

from ..errors import UserError
from ..plots import plot_attention

logger = logging.get_logger(__name__)


class NoCrossAttention(UserError):
    """The model has no cross-attention to draw (a recurrent model with `attention: none`)."""


@dataclass
class CrossAttention:
    source_tokens: list[str]
    target_tokens: list[str]  # the generated tokens, end-of-sequence included when it was generated
    weights: np.ndarray  # (heads, target, source); each row sums to 1 over the source
    translation: str
    layer: int  # the decoder layer drawn (counted from 0)


def cross_attention(model, tokenizer, sentence: str, *, layer: int = -1, **generate_kwargs) -> CrossAttention:
    """Translate `sentence` with `model.generate` and return the cross-attention that produced each token."""
    if not getattr(model.config, "is_encoder_decoder", False):
        raise UserError(
            f"{model.config.model_type}: not an encoder-decoder; attention maps need a seq2seq model"
        )
    was_training = model.training
    model.eval()
    inputs = tokenizer(sentence, return_tensors="pt", truncation=True).to(model.device)
    inputs = {key: inputs[key] for key in ("input_ids", "attention_mask")}
    with torch.no_grad():
        generated = model.generate(**inputs, **generate_kwargs)  # [decoder start, y1, ..., yn]
        outputs = model(
            **inputs, decoder_input_ids=generated[:, :-1], output_attentions=True, return_dict=True
        )
    model.train(was_training)
    layers = outputs.cross_attentions
    if not layers:
        raise NoCrossAttention(
            f"{model.config.model_type}: the model has no cross-attention to draw (e.g. attention: none, the "
            "context-vector bottleneck)"
        )
    if not -len(layers) <= layer < len(layers):
        raise UserError(f"--layer {layer}: the decoder has {len(layers)} layer(s)")
    weights = layers[layer][0].float().cpu().numpy()  # (heads, target, source)
    return CrossAttention(
        source_tokens=_token_texts(tokenizer, inputs["input_ids"][0], source=True),
        target_tokens=_token_texts(tokenizer, generated[0, 1:], source=False),
        weights=weights,
        translation=tokenizer.decode(generated[0], skip_special_tokens=True).strip(),
        layer=layer % len(layers),
    )


def _token_texts(tokenizer, ids, source: bool) -> list[str]:
    """Each token as readable text (decoded alone: byte-level BPE pieces become characters, not `Ġ`s)."""
    # A tokenizer with two vocabularies (HfrSeq2SeqTokenizer) decodes the target side unless told otherwise.
    kwargs = {"use_source_tokenizer": True} if source and hasattr(tokenizer, "target_vocab_size") else {}
    return [tokenizer.decode([int(token_id)], **kwargs).strip() or "␣" for token_id in ids]


def draw(model, tokenizer, sentence: str, path: Path, *, title: str = "", layer: int = -1, **generate_kwargs):
    """`cross_attention` drawn to `path` (PNG); returns the CrossAttention."""
    attention = cross_attention(model, tokenizer, sentence, layer=layer, **generate_kwargs)
    heads = attention.weights.shape[0]
    if not title:
        kind = getattr(model.config, "attention", None)  # the recurrent family names its kind of attention
        where = f"{kind} attention" if isinstance(kind, str) else f"decoder layer {attention.layer + 1}"
        title = f"{model.config.model_type}: cross-attention ({where}, {heads} head{'s' * (heads > 1)})"
    plot_attention(
        attention.weights,
        attention.source_tokens,
        attention.target_tokens,
        path,
        f"{title}\n{attention.translation}",
    )
    return attention


def write_attention_pictures(
    model, tokenizer, sentences: list[str], out: Path, **generate_kwargs
) -> list[Path]:
    """attention_1.png, attention_2.png, ... in `out`, one per sentence; none for a model without attention."""
    paths = []
    for index, sentence in enumerate(sentences, start=1):
        path = out / f"attention_{index}.png"
        try:
            draw(model, tokenizer, sentence, path, **generate_kwargs)
        except NoCrossAttention as error:
            logger.warning(f"no attention pictures: {error}")
            return []
        paths.append(path)
    return paths
