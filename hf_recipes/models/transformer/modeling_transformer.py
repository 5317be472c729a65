"""The Transformer: an encoder-decoder built from attention alone, for sequence-to-sequence tasks.

Vaswani et al., "Attention Is All You Need", 2017. The architecture is the paper's, layer for layer
(tests/models/test_transformer.py copies the weights into torch.nn.TransformerEncoderLayer/DecoderLayer and
compares logits), with a pre-LN switch:

    source:  x = Dropout(√d_model · E_src[tokens] + PE)          PE(pos, 2i) = sin(pos / 10000^(2i/d_model))
    target:  y = Dropout(√d_model · E_tgt[tokens] + PE)          PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model))
    encoder layer (post-LN): x = LN(x + Dropout(SelfAttention(x)));  x = LN(x + Dropout(FFN(x)))
    decoder layer (post-LN): y = LN(y + Dropout(MaskedSelfAttention(y)))
                             y = LN(y + Dropout(CrossAttention(y, encoder output)))
                             y = LN(y + Dropout(FFN(y)))
    pre-LN sub-layer:        x = x + Dropout(f(LN(x))), and a final LN after the last layer of each stack
    logits = y · E_tgtᵀ               (tie_word_embeddings; share_embeddings also makes E_src = E_tgt)

Attention is softmax(Q·Kᵀ/√d_k)·V per head. Source padding is masked out of encoder self-attention and of the
decoder's cross-attention; decoder self-attention is causal (position t sees targets ≤ t only).

For `generate` (greedy, beam search, sampling) the decoder keeps an `EncoderDecoderCache`: its self-attention
half grows by one step per token, and its cross-attention half holds the keys and values projected from the
encoder output once, at the first step, and reused by every later step.

This file is copied next to every saved checkpoint and imports nothing from hf_recipes, so a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutput,
    BaseModelOutputWithPastAndCrossAttentions,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
)

from .configuration_transformer import HfrTransformerConfig

# Copied from hf_recipes.models.gpt.modeling_gpt.CACHE_FIELD with CausalLMOutputWithPast->Seq2SeqLMOutput
# transformers 5.25 renamed the cache argument of `forward` and the cache field of the model outputs from
# `past_key_values` to `cache` (the old name is deprecated until 5.40). This file takes the cache under either
# name and returns it under the field the installed transformers reads back, so it runs before and after.
CACHE_FIELD = "cache" if "cache" in Seq2SeqLMOutput.__dataclass_fields__ else "past_key_values"


# Copied from hf_recipes.models.gpt.modeling_gpt.one_cache
def one_cache(cache, past_key_values):
    """The cache given as `cache` or under its deprecated name `past_key_values` (not both)."""
    if past_key_values is None:
        return cache
    if cache is not None:
        raise ValueError("pass the cache once: as `cache` (or the deprecated `past_key_values`), not both")
    return past_key_values


def sinusoidal_position_encoding(num_positions: int, d_model: int) -> torch.Tensor:
    """The paper's (num_positions, d_model) table: sin on even dimensions, cos on odd ones, one frequency per pair.

    Each pair of dimensions is a rotation at its own wavelength (2π to 10000·2π), so PE(pos + k) is a linear
    function of PE(pos) for every offset k: the reason the paper gives for choosing it.
    """
    position = torch.arange(num_positions, dtype=torch.float64)[:, None]
    # 1 / 10000^(2i / d_model) for i = 0 .. d_model/2 - 1, computed in float64 so long tables stay exact.
    inverse_wavelength = torch.pow(10000.0, -torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    table = torch.empty(num_positions, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * inverse_wavelength)
    table[:, 1::2] = torch.cos(position * inverse_wavelength)
    return table.float()


def scaled_dot_product_attention(query, key, value, mask, dropout_p, eager, is_causal=False):
    """softmax(Q·Kᵀ/√d) · V over (batch, heads, seq, head_dim) tensors.

    `mask` is boolean (True = may attend) and broadcasts to (batch, heads, q_len, k_len); `is_causal` (only with
    `mask=None` and q_len == k_len) lets torch use its fused causal kernels. Only the eager path returns the
    attention probabilities.
    """
    if not eager:
        context = F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal
        )
        return context, None
    scores = query @ key.transpose(-1, -2) / math.sqrt(query.size(-1))
    if is_causal:
        mask = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).tril()
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    probs = scores.softmax(dim=-1)
    return F.dropout(probs, p=dropout_p) @ value, probs


class HfrTransformerPositionalEncoding(nn.Module):
    """Rows of the fixed sinusoidal table. It has no weights: the table is a buffer rebuilt at initialisation
    (`_init_weights`), never saved in checkpoints."""

    def __init__(self, config: HfrTransformerConfig):
        super().__init__()
        table = sinusoidal_position_encoding(config.max_position_embeddings, config.d_model)
        self.register_buffer("table", table, persistent=False)

    def forward(self, length: int, offset: int = 0) -> torch.Tensor:
        """Encodings of positions offset .. offset + length - 1, as (length, d_model)."""
        if offset + length > self.table.shape[0]:
            raise ValueError(
                f"{offset + length} positions exceed max_position_embeddings ({self.table.shape[0]}); truncate "
                "the input, generate fewer tokens, or raise config.max_position_embeddings"
            )
        return self.table[offset : offset + length]


class HfrTransformerAttention(nn.Module):
    """Multi-head attention: self-attention (keys from the queries' own sequence) or cross-attention (keys from
    the encoder output). Separate Q, K and V projections, because cross-attention takes them from two sources."""

    def __init__(
        self, config: HfrTransformerConfig, num_heads: int, layer_idx: int | None = None, is_cross=False
    ):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = config.d_model // num_heads
        self.layer_idx = layer_idx  # which layer of the decoder's cache this attention reads and appends to
        self.is_cross = is_cross
        # No biases, as in the paper's equations (and tensor2tensor). A key bias would be dead weight besides:
        # it adds the same q·b to every score of a query, which softmax cancels, so it never gets a gradient.
        self.q_proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.k_proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.v_proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.out_proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.attention_dropout = config.attention_dropout
        self.config = config

    def _split_heads(self, x):  # (batch, seq, d_model) -> (batch, heads, seq, head_dim)
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def _keys_values(self, states, cache):
        key, value = self._split_heads(self.k_proj(states)), self._split_heads(self.v_proj(states))
        return (key, value) if cache is None else cache.update(key, value, self.layer_idx)

    def forward(
        self,
        hidden_states,
        key_value_states=None,
        mask=None,
        is_causal=False,
        cache: EncoderDecoderCache | None = None,
        output_attentions=False,
    ):
        batch_size, seq_len, _ = hidden_states.shape
        query = self._split_heads(self.q_proj(hidden_states))
        if not self.is_cross:
            half = cache.self_attention_cache if cache is not None else None
            key, value = self._keys_values(hidden_states, half)  # with a cache: every target token so far
        elif cache is not None and cache.is_updated.get(self.layer_idx):
            # The encoder output does not change while decoding: its keys and values were projected at the first
            # step and are read back, not recomputed, at every later one.
            cached = cache.cross_attention_cache.layers[self.layer_idx]
            key, value = cached.keys, cached.values
        else:
            half = cache.cross_attention_cache if cache is not None else None
            key, value = self._keys_values(key_value_states, half)
            if cache is not None:
                cache.is_updated[self.layer_idx] = True

        eager = output_attentions or self.config._attn_implementation == "eager"
        dropout_p = self.attention_dropout if self.training else 0.0
        context, probs = scaled_dot_product_attention(query, key, value, mask, dropout_p, eager, is_causal)
        context = context.transpose(1, 2).reshape(batch_size, seq_len, -1)
        return self.out_proj(context), probs


class HfrTransformerFeedForward(nn.Module):
    """FFN(x) = W2 · act(W1 · x + b1) + b2, applied at each position separately."""

    def __init__(self, config: HfrTransformerConfig, ffn_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, ffn_dim)
        self.act = ACT2FN[config.activation_function]
        self.activation_dropout = nn.Dropout(config.activation_dropout)
        self.fc2 = nn.Linear(ffn_dim, config.d_model)

    def forward(self, hidden_states):
        return self.fc2(self.activation_dropout(self.act(self.fc1(hidden_states))))


class HfrTransformerEncoderLayer(GradientCheckpointingLayer):
    """Self-attention then feed-forward, each a residual branch with LayerNorm after (post-LN) or before (pre-LN)."""

    def __init__(self, config: HfrTransformerConfig):
        super().__init__()
        self.pre_norm = config.layer_norm_position == "pre"
        self.self_attn = HfrTransformerAttention(config, config.encoder_attention_heads)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.ffn = HfrTransformerFeedForward(config, config.encoder_ffn_dim)
        self.ffn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        if self.pre_norm:
            attended, probs = self.self_attn(
                self.self_attn_layer_norm(hidden_states), mask=mask, output_attentions=output_attentions
            )
            hidden_states = hidden_states + self.dropout(attended)
            hidden_states = hidden_states + self.dropout(self.ffn(self.ffn_layer_norm(hidden_states)))
        else:
            attended, probs = self.self_attn(hidden_states, mask=mask, output_attentions=output_attentions)
            hidden_states = self.self_attn_layer_norm(hidden_states + self.dropout(attended))
            hidden_states = self.ffn_layer_norm(hidden_states + self.dropout(self.ffn(hidden_states)))
        return hidden_states, probs


class HfrTransformerDecoderLayer(GradientCheckpointingLayer):
    """Masked self-attention, cross-attention over the encoder output, feed-forward; each a residual branch."""

    def __init__(self, config: HfrTransformerConfig, layer_idx: int):
        super().__init__()
        self.pre_norm = config.layer_norm_position == "pre"
        heads = config.decoder_attention_heads
        self.self_attn = HfrTransformerAttention(config, heads, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.cross_attn = HfrTransformerAttention(config, heads, layer_idx, is_cross=True)
        self.cross_attn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.ffn = HfrTransformerFeedForward(config, config.decoder_ffn_dim)
        self.ffn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        hidden_states,
        self_mask,
        encoder_hidden_states,
        cross_mask,
        is_causal=False,
        cache=None,
        output_attentions=False,
    ):
        # encoder_hidden_states is positional on purpose: under gradient checkpointing with use_reentrant=True
        # only positional tensors carry gradients back (here, into the encoder).
        def self_attention(x):
            return self.self_attn(
                x,
                mask=self_mask,
                is_causal=is_causal,
                cache=cache,
                output_attentions=output_attentions,
            )

        def cross_attention(x):
            return self.cross_attn(
                x,
                encoder_hidden_states,
                mask=cross_mask,
                cache=cache,
                output_attentions=output_attentions,
            )

        if self.pre_norm:
            attended, self_probs = self_attention(self.self_attn_layer_norm(hidden_states))
            hidden_states = hidden_states + self.dropout(attended)
            attended, cross_probs = cross_attention(self.cross_attn_layer_norm(hidden_states))
            hidden_states = hidden_states + self.dropout(attended)
            hidden_states = hidden_states + self.dropout(self.ffn(self.ffn_layer_norm(hidden_states)))
        else:
            attended, self_probs = self_attention(hidden_states)
            hidden_states = self.self_attn_layer_norm(hidden_states + self.dropout(attended))
            attended, cross_probs = cross_attention(hidden_states)
            hidden_states = self.cross_attn_layer_norm(hidden_states + self.dropout(attended))
            hidden_states = self.ffn_layer_norm(hidden_states + self.dropout(self.ffn(hidden_states)))
        return hidden_states, self_probs, cross_probs


class HfrTransformerPreTrainedModel(PreTrainedModel):
    config_class = HfrTransformerConfig
    config: HfrTransformerConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["HfrTransformerEncoderLayer", "HfrTransformerDecoderLayer"]
    _skip_keys_device_placement = ["cache", "past_key_values"]
    _supports_sdpa = True
    # The base model computes no loss. The seq2seq head overrides this: its token-level loss is normalised by
    # `num_items_in_batch` (target tokens of the whole optimizer step), so Trainer must not divide it again.
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module):
        # The paper does not say; this is fairseq's: Xavier-uniform linear layers with zero biases, and embeddings
        # ~ N(0, d_model^-1/2), which the √d_model scaling brings to unit variance, the scale of the positional
        # encodings (and, tied as the output projection, logits of unit scale at the start).
        if isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=self.config.d_model**-0.5)
            # Sliced, the row loses the "already loaded" flag: check it on the whole matrix.
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, HfrTransformerPositionalEncoding):
            # A non-persistent buffer: from_pretrained leaves it empty, so it is rebuilt here.
            init.copy_(module.table, sinusoidal_position_encoding(*module.table.shape))

    def resize_token_embeddings(self, new_num_tokens=None, pad_to_multiple_of=None, mean_resizing=True):
        """Resize the joint vocabulary (source and target embeddings and the tied output projection)."""
        if not self.config.share_embeddings:
            raise NotImplementedError(
                "resize_token_embeddings resizes one joint vocabulary (share_embeddings=True); with separate source "
                "and target vocabularies, build the model with the new encoder_vocab_size and vocab_size"
            )
        embeddings = super().resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        self.config.encoder_vocab_size = self.config.vocab_size  # transformers updates vocab_size only
        return embeddings

    # Copied from hf_recipes.models.gpt.modeling_gpt.HfrGPTPreTrainedModel.save_pretrained
    def save_pretrained(self, save_directory, *args, **kwargs):
        # transformers writes only the saved class into config.auto_map; write every head so that any
        # AutoModelFor* loads this checkpoint with trust_remote_code=True where hf_recipes is not installed.
        self.config.auto_map = {**full_auto_map(), **(getattr(self.config, "auto_map", None) or {})}
        return super().save_pretrained(save_directory, *args, **kwargs)


class HfrTransformerEncoder(nn.Module):
    """Source embeddings + positional encoding, `encoder_layers` layers, and (pre-LN only) a final LayerNorm."""

    def __init__(self, config: HfrTransformerConfig):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(
            config.encoder_vocab_size, config.d_model, padding_idx=config.pad_token_id
        )
        self.embed_scale = math.sqrt(config.d_model)
        self.embed_positions = HfrTransformerPositionalEncoding(config)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(HfrTransformerEncoderLayer(config) for _ in range(config.encoder_layers))
        pre_norm = config.layer_norm_position == "pre"
        self.layer_norm = (
            nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if pre_norm else nn.Identity()
        )

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutput | tuple:
        r"""
        attention_mask (`torch.Tensor` of shape `(batch, src_len)`): 1 for real tokens, 0 for padding.
        inputs_embeds (`torch.Tensor` of shape `(batch, src_len, d_model)`): instead of `input_ids`, what
            `embed_tokens` returns for them (the √d_model scaling is applied here, in both cases).
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        output_attentions = _flag(output_attentions, self.config.output_attentions)
        output_hidden_states = _flag(output_hidden_states, self.config.output_hidden_states)
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        hidden_states = self.dropout(
            inputs_embeds * self.embed_scale + self.embed_positions(inputs_embeds.shape[1])
        )
        # (batch, 1, 1, src_len): every query may attend to every real (non-pad) source token.
        mask = _padding_mask(attention_mask)

        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            hidden_states, probs = layer(hidden_states, mask=mask, output_attentions=output_attentions)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (probs,)
        hidden_states = self.layer_norm(hidden_states)
        if output_hidden_states:  # as in transformers: the last entry is the final (normalised) output
            all_hidden_states = all_hidden_states[:-1] + (hidden_states,)

        output = BaseModelOutput(
            last_hidden_state=hidden_states, hidden_states=all_hidden_states, attentions=all_attentions
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


class HfrTransformerDecoder(nn.Module):
    """Target embeddings + positional encoding, `decoder_layers` layers, and (pre-LN only) a final LayerNorm."""

    def __init__(self, config: HfrTransformerConfig):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id)
        self.embed_scale = math.sqrt(config.d_model)
        self.embed_positions = HfrTransformerPositionalEncoding(config)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(
            HfrTransformerDecoderLayer(config, i) for i in range(config.decoder_layers)
        )
        pre_norm = config.layer_norm_position == "pre"
        self.layer_norm = (
            nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if pre_norm else nn.Identity()
        )

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPastAndCrossAttentions | tuple:
        r"""
        attention_mask (`torch.Tensor` of shape `(batch, past + tgt_len)`): 1 for real target tokens, 0 for
            padding; optional, as the causal mask already keeps right padding away from real tokens.
        encoder_hidden_states (`torch.Tensor` of shape `(batch, src_len, d_model)`): the encoder output.
        encoder_attention_mask (`torch.Tensor` of shape `(batch, src_len)`): the source padding mask.
        cache (`EncoderDecoderCache`): keys/values of earlier target tokens and of the encoder output.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of decoder input_ids or inputs_embeds")
        output_attentions = _flag(output_attentions, self.config.output_attentions)
        output_hidden_states = _flag(output_hidden_states, self.config.output_hidden_states)
        use_cache = _flag(use_cache, self.config.use_cache and not self.training)
        if use_cache and cache is None:
            cache = EncoderDecoderCache(DynamicCache(config=self.config), DynamicCache(config=self.config))
        if cache is not None and not isinstance(cache, EncoderDecoderCache):
            raise TypeError(
                f"the decoder needs an EncoderDecoderCache (self-attention + cross-attention), got "
                f"{type(cache).__name__}; pass None and one is created"
            )
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        seq_len = inputs_embeds.shape[1]
        past_len = cache.get_seq_length() if cache is not None else 0
        # With a cache, the new tokens continue the target: their positions start after the cached ones.
        hidden_states = self.dropout(
            inputs_embeds * self.embed_scale + self.embed_positions(seq_len, past_len)
        )
        self_mask, is_causal = _causal_mask(attention_mask, seq_len, past_len, inputs_embeds.device)
        cross_mask = _padding_mask(encoder_attention_mask)

        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_self_attentions = () if output_attentions else None
        all_cross_attentions = () if output_attentions else None
        for layer in self.layers:
            hidden_states, self_probs, cross_probs = layer(
                hidden_states,
                self_mask,
                encoder_hidden_states,
                cross_mask,
                is_causal=is_causal,
                cache=cache,
                output_attentions=output_attentions,
            )
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_self_attentions += (self_probs,)
                all_cross_attentions += (cross_probs,)
        hidden_states = self.layer_norm(hidden_states)
        if output_hidden_states:
            all_hidden_states = all_hidden_states[:-1] + (hidden_states,)

        output = BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=hidden_states,
            **{CACHE_FIELD: cache if use_cache else None},
            hidden_states=all_hidden_states,
            attentions=all_self_attentions,
            cross_attentions=all_cross_attentions,
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


def _padding_mask(attention_mask):
    """(batch, 1, 1, len) boolean key mask from a (batch, len) 0/1 mask; `None` when nothing is padded."""
    if attention_mask is None or bool(attention_mask.all()):
        return None
    return attention_mask[:, None, None, :].bool()


def _causal_mask(attention_mask, seq_len, past_len, device):
    """Mask of the decoder self-attention, as `(mask, is_causal)`: query i (target position past_len + i) may
    see keys ≤ past_len + i that are not padding.

    Without padding the mask is left to torch where that is exact: `is_causal` on a fresh sequence (fused causal
    kernels), and no mask at all for one new token after a cache (it may see everything cached).
    """
    padded = attention_mask is not None and not bool(attention_mask.all())
    if not padded and past_len == 0:
        return None, True
    if not padded and seq_len == 1:
        return None, False
    mask = torch.ones(seq_len, past_len + seq_len, dtype=torch.bool, device=device).tril(diagonal=past_len)
    mask = mask[None, None]
    if padded:
        mask = mask & attention_mask[:, None, None, :].bool()
        # A query always sees itself, so the row of a pad query is never empty (an empty row makes softmax NaN, and
        # a NaN would leak into real tokens through 0 · NaN).
        query_positions = torch.arange(past_len, past_len + seq_len, device=device)[:, None]
        mask = mask | (query_positions == torch.arange(past_len + seq_len, device=device))
    return mask, False


class HfrTransformerModel(HfrTransformerPreTrainedModel):
    """The bare encoder-decoder: returns the decoder's last hidden states (and the encoder's)."""

    def __init__(self, config: HfrTransformerConfig):
        super().__init__(config)
        self.encoder = HfrTransformerEncoder(config)
        self.decoder = HfrTransformerDecoder(config)
        # Shared embeddings are one Parameter under both names; transformers ties them (and keeps one copy on save).
        if config.share_embeddings:
            self._tied_weights_keys = {"decoder.embed_tokens.weight": "encoder.embed_tokens.weight"}
        self.post_init()

    def get_input_embeddings(self):
        return self.encoder.embed_tokens

    def set_input_embeddings(self, new_embeddings):
        self.encoder.embed_tokens = new_embeddings
        if self.config.share_embeddings:
            self.decoder.embed_tokens = new_embeddings

    def get_encoder(self):
        return self.encoder

    def get_decoder(self):
        return self.decoder

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: EncoderDecoderCache | None = None,
    ) -> Seq2SeqModelOutput | tuple:
        r"""
        input_ids (`torch.LongTensor` of shape `(batch, src_len)`): source tokens.
        attention_mask (`torch.Tensor` of shape `(batch, src_len)`): 1 for real source tokens, 0 for padding.
        decoder_input_ids (`torch.LongTensor` of shape `(batch, tgt_len)`): target tokens shifted right behind
            `decoder_start_token_id` (see `shift_tokens_right`); with a cache, only the new ones.
        encoder_outputs (`BaseModelOutput` or tuple): a precomputed encoder output (what `generate` passes);
            the encoder is not run again.
        """
        if encoder_outputs is None:
            encoder_outputs = self.encoder(
                input_ids,
                attention_mask,
                inputs_embeds,
                output_attentions=output_attentions,
                output_hidden_states=output_hidden_states,
                return_dict=True,
            )
        elif not isinstance(encoder_outputs, BaseModelOutput):
            encoder_outputs = BaseModelOutput(*encoder_outputs)
        decoder_outputs = self.decoder(
            decoder_input_ids,
            decoder_attention_mask,
            encoder_outputs.last_hidden_state,
            attention_mask,
            one_cache(cache, past_key_values),
            decoder_inputs_embeds,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        output = Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state,
            **{CACHE_FIELD: getattr(decoder_outputs, CACHE_FIELD)},
            decoder_hidden_states=decoder_outputs.hidden_states,
            decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int | None, decoder_start_token_id: int | None):
    """Teacher forcing: the decoder input at step t is the target token t-1, with `decoder_start_token_id` first.
    Ignored label positions (-100) become padding."""
    if decoder_start_token_id is None or pad_token_id is None:
        raise ValueError("config.decoder_start_token_id and config.pad_token_id must be set to shift labels")
    shifted = labels.new_full(labels.shape, decoder_start_token_id)
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == -100, pad_token_id)


class HfrTransformerForConditionalGeneration(HfrTransformerPreTrainedModel, GenerationMixin):
    """The Transformer with its output projection: a seq2seq LM for `generate` and `Seq2SeqTrainer`.

    Given `labels` (target tokens, -100 where ignored) it builds `decoder_input_ids` by `shift_tokens_right` and
    returns the label-smoothed cross-entropy of `config.label_smoothing` (0 gives plain cross-entropy).
    """

    accepts_loss_kwargs = True  # token-level loss: normalised by the target-token count of the whole step

    def __init__(self, config: HfrTransformerConfig):
        super().__init__(config)
        self.model = HfrTransformerModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        # Tie to the one matrix that is the source of every tie: with shared embeddings the decoder's embedding is
        # itself tied to the encoder's.
        source = "encoder" if config.share_embeddings else "decoder"
        self._tied_weights_keys = {"lm_head.weight": f"model.{source}.embed_tokens.weight"}
        self.post_init()

    def get_input_embeddings(self):
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, new_embeddings):
        self.model.set_input_embeddings(new_embeddings)

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def get_encoder(self):
        return self.model.encoder

    def get_decoder(self):
        return self.model.decoder

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor):
        """Used by `DataCollatorForSeq2Seq` to build `decoder_input_ids` in the collator."""
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
        past_key_values: Cache | None = None,
    ) -> Seq2SeqLMOutput | tuple:
        r"""
        labels (`torch.LongTensor` of shape `(batch, tgt_len)`): target tokens ending in EOS, -100 where ignored.
        num_items_in_batch (`int` or `torch.Tensor`): target tokens in the whole optimizer step (Trainer passes it
            under gradient accumulation); the loss is then summed and divided by it instead of averaged per batch.
        """
        if labels is not None:
            use_cache = False  # training sees the whole target at once; a cache would only cost memory
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        outputs = self.model(
            input_ids,
            attention_mask,
            decoder_input_ids,
            decoder_attention_mask,
            encoder_outputs,
            one_cache(cache, past_key_values),
            inputs_embeds,
            decoder_inputs_embeds,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.lm_head(outputs.last_hidden_state)
        loss = None
        if labels is not None:
            loss = label_smoothed_cross_entropy(
                logits, labels, self.config.label_smoothing, num_items_in_batch
            )
        output = Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            **{CACHE_FIELD: getattr(outputs, CACHE_FIELD)},
            decoder_hidden_states=outputs.decoder_hidden_states,
            decoder_attentions=outputs.decoder_attentions,
            cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states,
            encoder_attentions=outputs.encoder_attentions,
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


def label_smoothed_cross_entropy(logits, labels, smoothing, num_items_in_batch=None):
    """Cross-entropy against `(1 - ε)·one_hot + ε/V` (Szegedy et al. 2016), over the positions whose label is not
    -100: their mean, or their sum divided by `num_items_in_batch` (the token count of a whole accumulated step)."""
    loss = F.cross_entropy(
        logits.flatten(0, 1).float(),
        labels.flatten().to(logits.device),
        ignore_index=-100,
        label_smoothing=float(smoothing),
        reduction="mean" if num_items_in_batch is None else "sum",
    )
    if num_items_in_batch is not None:
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(loss.device)
        loss = loss / num_items_in_batch
    return loss


def _flag(value: bool | None, default: bool) -> bool:
    return default if value is None else value


# Copied from hf_recipes.models.gpt.modeling_gpt._wants_dict with HfrGPT->HfrTransformer
def _wants_dict(return_dict: bool | None, config: HfrTransformerConfig) -> bool:
    return config.return_dict if return_dict is None else return_dict


# Every head of the family and the Auto class that loads it. hf_recipes registers them from this table,
# and `save_pretrained` writes it into config.auto_map.
AUTO_MAP = {
    "AutoModel": "HfrTransformerModel",
    "AutoModelForSeq2SeqLM": "HfrTransformerForConditionalGeneration",
}


# Copied from hf_recipes.models.gpt.modeling_gpt.full_auto_map with HfrGPT->HfrTransformer
def full_auto_map() -> dict[str, str]:
    """config.auto_map entries for the config and every head, as `module.Class` next to the weights."""
    config_module = HfrTransformerConfig.__module__.rsplit(".", 1)[-1]
    model_module = __name__.rsplit(".", 1)[-1]
    return {
        "AutoConfig": f"{config_module}.{HfrTransformerConfig.__name__}",
        **{auto_class: f"{model_module}.{name}" for auto_class, name in AUTO_MAP.items()},
    }


__all__ = ["HfrTransformerPreTrainedModel", "shift_tokens_right", *AUTO_MAP.values()]
