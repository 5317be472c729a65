"""Recurrent models (RNN, LSTM, GRU): encoder-decoders with or without attention, LMs, classifiers.

    Sutskever, Vinyals & Le 2014, "Sequence to Sequence Learning with Neural Networks"  (the bottleneck)
    Cho et al. 2014, "Learning Phrase Representations using RNN Encoder-Decoder"         (the GRU)
    Bahdanau, Cho & Bengio 2015, "Neural Machine Translation by Jointly Learning to Align and Translate"
    Luong, Pham & Manning 2015, "Effective Approaches to Attention-based Neural Machine Translation"

    encoder:         h̄₁ … h̄ₛ, final state = (bi)RNN(Dropout(E_src·x))     pads are skipped, never read
    decoder start:   s₀ = bridge(final state)                               copy, tanh(W·h + b) or zeros
    no attention:    sₜ = RNN(E_tgt·yₜ₋₁, sₜ₋₁)                             h̃ₜ = sₜ
    Luong:           sₜ = RNN([E_tgt·yₜ₋₁; h̃ₜ₋₁ if input feeding], sₜ₋₁)   cₜ = attend(sₜ, h̄)
                                                                            h̃ₜ = tanh(W_c[cₜ; sₜ])
    Bahdanau:        cₜ = attend(sₜ₋₁, h̄);  sₜ = RNN([E_tgt·yₜ₋₁; cₜ], sₜ₋₁)  h̃ₜ = tanh(W_c[cₜ; sₜ])
    output:          p(yₜ | y<ₜ, x) = softmax(W_o·Dropout(h̃ₜ) + b_o)

The heads share one encoder, `HfrRNNModel` (embeddings + stacked RNN), under the same name `encoder`, so the
weights of one head start another: a language model's encoder initialises a classifier (ULMFiT-style) or the
encoder of a translation model.

During generation the recurrent state plays the part of a Transformer's key/value cache: `HfrRNNCache` holds
it, `forward` creates it on the first step, and beam search reorders it after every step (`reorder_cache`).
The source memory needs no reordering: `generate` repeats each source once per beam, and beam search only
ever exchanges beams of the same source.

This file is copied next to every saved checkpoint and imports nothing from hf_recipes, so a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache
from transformers.modeling_outputs import CausalLMOutputWithPast, Seq2SeqLMOutput, SequenceClassifierOutput
from transformers.utils import ModelOutput

from .configuration_rnn import HfrRNNConfig

# Copied from hf_recipes.models.gpt.modeling_gpt.CACHE_FIELD
# transformers 5.25 renamed the cache argument of `forward` and the cache field of the model outputs from
# `past_key_values` to `cache` (the old name is deprecated until 5.40). This file takes the cache under either
# name and returns it under the field the installed transformers reads back, so it runs before and after.
CACHE_FIELD = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


# Copied from hf_recipes.models.gpt.modeling_gpt.one_cache
def one_cache(cache, past_key_values):
    """The cache given as `cache` or under its deprecated name `past_key_values` (not both)."""
    if past_key_values is None:
        return cache
    if cache is not None:
        raise ValueError("pass the cache once: as `cache` (or the deprecated `past_key_values`), not both")
    return past_key_values


RNN_CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def make_rnn(
    config: HfrRNNConfig, input_size: int, hidden_size: int, bidirectional: bool = False
) -> nn.RNNBase:
    """A stacked, batch-first RNN of the configured cell, with dropout between layers (not after the top)."""
    return RNN_CLASSES[config.cell](
        input_size,
        hidden_size,
        num_layers=config.num_hidden_layers,
        batch_first=True,
        bidirectional=bidirectional,
        # torch warns about dropout between layers when there is one layer
        dropout=config.dropout if config.num_hidden_layers > 1 else 0.0,
    )


# A recurrent state is a tuple of (num_layers · directions, batch, hidden) tensors: (h,) for the GRU and the
# RNN, (h, c) for the LSTM. torch wants a bare tensor for the first two, hence these two conversions.
def _to_torch(state):
    return None if state is None else (state if len(state) == 2 else state[0])


def _from_torch(hx):
    return hx if isinstance(hx, tuple) else (hx,)


def run_rnn(rnn: nn.RNNBase, inputs: torch.Tensor, mask: torch.Tensor | None, state: tuple | None):
    """Run a batch-first `rnn` over the real tokens of each row only, wherever the pads are.

    Returns the outputs (batch, seq, directions · hidden), zero at pads, and the state after each row's last
    real token (the backward direction of a bidirectional RNN ends at the row's first real token). A row
    without any real token keeps the state it came with. Reading pads instead would push them through the
    state: a right-padded source would reach the decoder as "sentence + pads", and a bidirectional encoder's
    backward direction would start on pads.
    """
    hx = _to_torch(state)
    if mask is None or bool(mask.all()):
        outputs, hx = rnn(inputs, hx)
        return outputs, _from_torch(hx)
    mask = mask.bool()
    lengths = mask.sum(-1)
    # Move each row's real tokens to its front, in order: left padding (prompts in `generate`) and right
    # padding both become the right padding that packed sequences expect, and the outputs are put back where
    # they came from.
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
    gathered = inputs.gather(1, order[..., None].expand_as(inputs))
    packed = pack_padded_sequence(
        gathered, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
    )
    packed_outputs, hx = rnn(packed, hx)
    outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=inputs.shape[1])
    outputs = torch.zeros_like(outputs).scatter(1, order[..., None].expand_as(outputs), outputs)
    # A row without real tokens read one pad (packing needs length ≥ 1): zero its output like every pad's.
    outputs = outputs * mask[..., None].to(outputs.dtype)
    new_state = _from_torch(hx)
    empty = lengths == 0
    if bool(empty.any()):
        old_state = state if state is not None else tuple(torch.zeros_like(s) for s in new_state)
        new_state = tuple(
            torch.where(empty[None, :, None], old, new) for old, new in zip(old_state, new_state)
        )
    return outputs, new_state


def _batch_first(state: tuple, directions: int) -> tuple:
    """(layers · directions, batch, h) → (batch, layers, directions · h): a layer's directions side by side,
    batch first so that `generate` repeats it per beam like any other encoder output."""
    result = []
    for part in state:
        num_directions_layers, batch_size, size = part.shape
        part = part.view(num_directions_layers // directions, directions, batch_size, size)
        result.append(part.permute(2, 0, 1, 3).reshape(batch_size, num_directions_layers // directions, -1))
    return tuple(result)


class HfrRNNCache(Cache):
    """The recurrent state of a generating model: what the key/value cache is to a Transformer.

    A Transformer must keep a key and a value for every past token; a recurrent model keeps only its state
    after the last one. Holds:
        state: tuple of (num_layers, batch, hidden) tensors, (h,) or (h, c) for the LSTM
        feed: (batch, hidden) the previous attentional output h̃ₜ₋₁ for Luong's input feeding, else None
        seen_tokens: how many tokens the state has read (`get_seq_length`)

    Beam search calls `reorder_cache(beam_idx)` after every step: row i of the state becomes the state of the
    beam the search kept in slot i. A recurrent state cannot forget tokens, so there is no `crop` (assisted
    generation, which needs it, is refused by `generate` through `_is_stateful`).
    """

    is_compileable = False
    is_croppable = False

    def __init__(self):
        # The per-layer machinery of Cache is for keys and values; nothing here uses it.
        super().__init__(layers=[])
        self.state: tuple[torch.Tensor, ...] | None = None
        self.feed: torch.Tensor | None = None
        self.seen_tokens = 0

    def __repr__(self):
        shapes = None if self.state is None else [tuple(s.shape) for s in self.state]
        return f"{self.__class__.__name__}(state={shapes}, seen_tokens={self.seen_tokens})"

    def update_state(self, state: tuple, num_new_tokens: int, feed: torch.Tensor | None = None) -> None:
        self.state, self.feed = state, feed
        self.seen_tokens += num_new_tokens

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.seen_tokens

    @property
    def batch_size(self) -> int:
        return -1 if self.state is None else self.state[0].shape[1]

    def _apply_to_batch(self, fn) -> None:
        """Apply `fn(tensor, batch_dim)` to every tensor held (batch: dim 1 of the state, dim 0 of feed)."""
        if self.state is not None:
            self.state = tuple(fn(s, 1) for s in self.state)
        if self.feed is not None:
            self.feed = fn(self.feed, 0)

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self._apply_to_batch(lambda t, dim: t.index_select(dim, beam_idx.to(t.device)))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._apply_to_batch(lambda t, dim: t.index_select(dim, indices.to(t.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._apply_to_batch(lambda t, dim: t.repeat_interleave(repeats, dim=dim))

    def reset(self) -> None:
        self.state, self.feed, self.seen_tokens = None, None, 0

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError("a recurrent state cannot forget tokens it has read; it cannot be cropped")


@dataclass
class HfrRNNModelOutput(ModelOutput):
    r"""
    Output of the recurrent encoder `HfrRNNModel`.

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch, seq, hidden_size)`): top-layer output at
            every position, zero at pads; a bidirectional encoder concatenates its two directions.
        final_hidden_state (`torch.FloatTensor` of shape `(batch, num_hidden_layers, hidden_size)`): each
            layer's state after the last real token; a bidirectional encoder concatenates the forward state
            (after the last token) and the backward state (after the first). The classifier reads the top
            layer; the decoder of the encoder-decoder starts from it.
        final_cell_state (`torch.FloatTensor` of the same shape, *optional*): the LSTM's memory cells; None
            for GRU and RNN.
        cache (`HfrRNNCache`, *optional*): the state to continue from (unidirectional only).
    """

    last_hidden_state: torch.FloatTensor | None = None
    final_hidden_state: torch.FloatTensor | None = None
    final_cell_state: torch.FloatTensor | None = None
    cache: Cache | None = None


class HfrRNNAttention(nn.Module):
    """Global attention over the source: scores, softmax over the real source tokens, context = Σₛ aₜₛ·h̄ₛ.

    dot:      score(q, h̄ₛ) = q·h̄ₛ                    Luong
    general:  score(q, h̄ₛ) = q·W·h̄ₛ                  Luong; W is applied to the query: one product per step
                                                      instead of one per source token, the same function
    additive: score(q, h̄ₛ) = vᵀ·tanh(W·q + U·h̄ₛ)     Bahdanau; U·h̄ is computed once per source (`keys`)
    """

    def __init__(self, config: HfrRNNConfig):
        super().__init__()
        self.kind = config.attention
        size = config.hidden_size
        if self.kind in ("general", "additive"):
            self.query_proj = nn.Linear(size, size, bias=False)
        if self.kind == "additive":
            self.key_proj = nn.Linear(size, size)
            self.v = nn.Linear(size, 1, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """What the scores compare the query with; computed once per source, not once per decoding step."""
        return self.key_proj(memory) if self.kind == "additive" else memory

    def forward(self, query, memory, keys, mask):
        """query (batch, tgt, hidden), memory and keys (batch, src, hidden), mask (batch, src) or None
        → context (batch, tgt, hidden), probabilities (batch, tgt, src), exactly zero on source pads."""
        if self.kind == "additive":
            scores = self.v(torch.tanh(self.query_proj(query)[:, :, None] + keys[:, None])).squeeze(-1)
        else:
            query = self.query_proj(query) if self.kind == "general" else query
            scores = query @ keys.transpose(1, 2)
        if mask is not None:
            # The dtype's minimum, not -inf: a source without real tokens gets uniform weights, not NaN.
            scores = scores.masked_fill(~mask[:, None, :], torch.finfo(scores.dtype).min)
        probs = scores.softmax(dim=-1)
        return probs @ memory, probs


class HfrRNNPreTrainedModel(PreTrainedModel):
    config_class = HfrRNNConfig
    config: HfrRNNConfig
    base_model_prefix = "encoder"
    _no_split_modules = ["HfrRNNModel", "HfrRNNDecoder"]  # a recurrent stack runs as one unit
    _skip_keys_device_placement = ["cache", "past_key_values"]
    # The state depends on every token read: `generate` must refuse assisted decoding (it rolls caches back).
    _is_stateful = True
    # Sequence-level losses are means over the batch: Trainer must divide them by the accumulation steps. The
    # token-level heads (language model, encoder-decoder) override this and normalise by `num_items_in_batch`.
    accepts_loss_kwargs = False

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # `generate` would otherwise hand `forward` a DynamicCache (keys and values per layer) that a
        # recurrent model cannot use. False leaves the cache to the model: `forward` creates an HfrRNNCache on
        # the first step, `generate` passes it back on every later step and, in beam search, calls its
        # `reorder_cache`.
        return False

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.RNNBase):
            self._init_recurrent(module)
        elif isinstance(module, nn.Linear):
            # No normalisation layer here rescues a badly scaled signal: Glorot's fan-in + fan-out scaling
            # keeps the tanh layers (attention, W_c, bridge) in range at any width, where one fixed std
            # cannot.
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        else:
            super()._init_weights(module)  # embeddings: N(0, initializer_range), the pad row 0

    @staticmethod
    def _init_recurrent(module: nn.RNNBase):
        """transformers' default covers nn.LSTM only (Xavier over the fused gate matrix); GRU and RNN would
        keep torch's U(-1/√h, 1/√h). Every cell gets, gate by gate: orthogonal recurrent weights (Saxe et al.
        2014: the state keeps its norm through many steps at the start of training), Xavier input weights,
        zero biases, and the LSTM a forget-gate bias of 1 (Gers et al. 2000; Jozefowicz et al. 2015) so that
        it remembers by default.
        """
        gates = {"LSTM": 4, "GRU": 3}.get(module.mode, 1)  # torch stacks the gates' weights along dim 0
        for name, param in module.named_parameters():
            # Gate slices lose the flag that marks a parameter loaded from a checkpoint: check it here.
            if getattr(param, "_is_hf_initialized", False):
                continue
            for gate in param.chunk(gates, dim=0):
                if name.startswith("weight_hh"):
                    init.orthogonal_(gate)
                elif name.startswith("weight_ih"):
                    init.xavier_uniform_(gate)
                else:
                    init.zeros_(gate)
            if module.mode == "LSTM" and name.startswith("bias_ih"):
                init.ones_(param.chunk(4, dim=0)[1])  # gates in torch's order: input, forget, cell, output

    def load_pretrained_embeddings(self, embeddings, freeze: bool = True) -> None:
        """Start from pretrained word vectors (the "feature-based" approach): copy a (vocab_size ×
        embedding_size) matrix into the input embeddings of the encoder, row i for token id i of the
        tokenizer, and keep it fixed during training unless `freeze=False`.

        Build the matrix from word2vec, GloVe or fastText vectors by looking up each token of the tokenizer's
        vocab (`tokenizer.get_vocab()`); give tokens without a vector a small random row. The choice is stored
        in `config.freeze_embeddings`, so a saved and reloaded model keeps its embeddings frozen.
        """
        weight = self.get_input_embeddings().weight
        embeddings = torch.as_tensor(embeddings, dtype=weight.dtype, device=weight.device)
        if embeddings.shape != weight.shape:
            raise ValueError(
                f"pretrained embeddings have shape {tuple(embeddings.shape)}, the model's input embeddings "
                f"{tuple(weight.shape)} (vocab_size × embedding_size): build the matrix in the tokenizer's "
                "order and set embedding_size to the vectors' dimension"
            )
        with torch.no_grad():
            weight.copy_(embeddings)
        self.config.freeze_embeddings = freeze
        self._freeze_embeddings_as_configured()

    def _freeze_embeddings_as_configured(self) -> None:
        self.get_input_embeddings().weight.requires_grad_(not self.config.freeze_embeddings)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        loaded = super().from_pretrained(*args, **kwargs)
        # Loading puts a new, trainable Parameter in place of every weight: freeze the embeddings again.
        (loaded[0] if isinstance(loaded, tuple) else loaded)._freeze_embeddings_as_configured()
        return loaded

    # Copied from hf_recipes.models.gpt.modeling_gpt.HfrGPTPreTrainedModel.save_pretrained
    def save_pretrained(self, save_directory, *args, **kwargs):
        # transformers writes only the saved class into config.auto_map; write every head so that any
        # AutoModelFor* loads this checkpoint with trust_remote_code=True where hf_recipes is not installed.
        self.config.auto_map = {**full_auto_map(), **(getattr(self.config, "auto_map", None) or {})}
        return super().save_pretrained(save_directory, *args, **kwargs)


class HfrRNNModel(HfrRNNPreTrainedModel):
    """The recurrent encoder every head is built on: token embeddings, dropout, a stacked (bidirectional) RNN.

    Only the top layer's outputs exist for every position (torch's fused multi-layer RNN keeps no others), so
    `output_hidden_states` returns nothing; the final states of every layer are in the output.
    """

    def __init__(self, config: HfrRNNConfig):
        super().__init__(config)
        self.directions = 2 if config.bidirectional else 1
        self.embed_tokens = nn.Embedding(
            config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id
        )
        self.dropout = nn.Dropout(config.dropout)
        self.rnn = make_rnn(
            config, config.embedding_size, config.hidden_size // self.directions, config.bidirectional
        )
        self.post_init()
        self._freeze_embeddings_as_configured()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, new_embeddings):
        self.embed_tokens = new_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        cache: HfrRNNCache | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: HfrRNNCache | None = None,
    ) -> HfrRNNModelOutput | tuple:
        r"""
        attention_mask (`torch.Tensor` of shape `(batch, past + seq)`): 1 for real tokens, 0 for padding (left
            or right); pads are skipped, they neither change the state nor get an output.
        cache (`HfrRNNCache`): the state to continue from, updated in place (unidirectional only);
            `past_key_values` before transformers 5.25.
        output_attentions, output_hidden_states: accepted for API compatibility; a plain RNN has neither.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        bidirectional = self.directions == 2
        cache = one_cache(cache, past_key_values)
        if use_cache is None:
            use_cache = cache is not None or (
                self.config.use_cache and not self.training and not bidirectional
            )
        if bidirectional and (use_cache or cache is not None):
            raise ValueError(
                "a bidirectional RNN reads the whole input at once: it cannot continue from a cached state"
            )
        if use_cache and cache is None:
            cache = HfrRNNCache()
        _check_cache(cache)
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        seq_len = inputs_embeds.shape[1]
        # The mask covers the cached tokens and the new ones; the new ones are its last seq_len columns.
        mask = attention_mask[:, -seq_len:] if attention_mask is not None else None
        state = cache.state if cache is not None else None

        outputs, state = run_rnn(self.rnn, self.dropout(inputs_embeds), mask, state)
        if cache is not None:
            cache.update_state(state, seq_len)
        final = _batch_first(state, self.directions)
        output = HfrRNNModelOutput(
            last_hidden_state=outputs,
            final_hidden_state=final[0],
            final_cell_state=final[1] if len(final) == 2 else None,
            cache=cache if use_cache else None,
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


class HfrRNNDecoder(nn.Module):
    """The decoder of the encoder-decoder: target embeddings, the bridge, a stacked RNN and the attention."""

    def __init__(self, config: HfrRNNConfig):
        super().__init__()
        size = config.hidden_size
        self.bahdanau = config.attention == "additive"
        self.input_feeding = config.input_feeding
        self.bridge_kind = config.bridge
        self.embed_tokens = nn.Embedding(
            config.decoder_vocab_size, config.embedding_size, padding_idx=config.pad_token_id
        )
        self.dropout = nn.Dropout(config.dropout)
        input_size = config.embedding_size + size * (int(self.bahdanau) + int(self.input_feeding))
        self.rnn = make_rnn(config, input_size, size)
        if config.attention == "none":
            self.attention = self.combine = None
        else:
            self.attention = HfrRNNAttention(config)
            # W_c of h̃ₜ = tanh(W_c[cₜ; sₜ]) (Luong et al., eq. 5)
            self.combine = nn.Linear(2 * size, size, bias=False)
        if self.bridge_kind == "dense":  # one map for h and one for the LSTM's c, shared by the layers
            self.bridge = nn.ModuleList(
                nn.Linear(size, size) for _ in range(2 if config.cell == "lstm" else 1)
            )
        # Luong attention without input feeding runs the RNN over all target positions at once; input feeding
        # and Bahdanau's order (attend with sₜ₋₁, then step) make step t wait for step t−1's attention.
        self.step_by_step = self.input_feeding or self.bahdanau

    def initial_state(self, final_hidden_state, final_cell_state) -> tuple:
        """s₀ from the encoder's final state: (batch, layers, hidden) per part → (layers, batch, hidden)."""
        parts = (final_hidden_state,) if final_cell_state is None else (final_hidden_state, final_cell_state)
        if self.bridge_kind == "zero":
            parts = tuple(torch.zeros_like(p) for p in parts)
        elif self.bridge_kind == "dense":
            parts = tuple(torch.tanh(layer(p)) for layer, p in zip(self.bridge, parts))
        return tuple(p.transpose(0, 1).contiguous() for p in parts)

    def forward(self, input_ids, memory, memory_mask, state, feed=None):
        """Decode `input_ids` (batch, tgt) from `state`, reading the encoder outputs `memory` (batch, src, h).

        Returns the outputs h̃ (batch, tgt, hidden), the new state, the last h̃ (for input feeding, else None)
        and the attention probabilities (batch, tgt, src) (None without attention).
        """
        embeds = self.dropout(self.embed_tokens(input_ids))
        if self.attention is None:  # Sutskever: the state is all the decoder knows of the source
            outputs, state = run_rnn(self.rnn, embeds, None, state)
            return outputs, state, None, None
        keys = self.attention.keys(memory)
        if not self.step_by_step:
            hidden, state = run_rnn(self.rnn, embeds, None, state)
            context, probs = self.attention(hidden, memory, keys, memory_mask)
            return torch.tanh(self.combine(torch.cat([context, hidden], dim=-1))), state, None, probs

        if self.input_feeding and feed is None:
            feed = embeds.new_zeros(embeds.shape[0], self.combine.out_features)
        outputs, all_probs = [], []
        for t in range(embeds.shape[1]):
            step_inputs = [embeds[:, t : t + 1]]
            if self.bahdanau:  # the previous state's top layer asks where to look before the step is taken
                context, probs = self.attention(state[0][-1][:, None], memory, keys, memory_mask)
                step_inputs.append(context)
            if self.input_feeding:
                step_inputs.append(feed[:, None])
            hidden, hx = self.rnn(torch.cat(step_inputs, dim=-1), _to_torch(state))
            state = _from_torch(hx)
            if not self.bahdanau:
                context, probs = self.attention(hidden, memory, keys, memory_mask)
            output = torch.tanh(self.combine(torch.cat([context, hidden], dim=-1)))
            feed = output[:, 0] if self.input_feeding else None
            outputs.append(output)
            all_probs.append(probs)
        return torch.cat(outputs, dim=1), state, feed, torch.cat(all_probs, dim=1)


class HfrRNNForConditionalGeneration(HfrRNNPreTrainedModel, GenerationMixin):
    """The RNN encoder-decoder for translation and other sequence-to-sequence tasks; `generate` does greedy,
    sampling and beam search over the recurrent state. With `output_attentions=True` the cross-attention comes
    back as `cross_attentions`, one tensor of shape (batch, 1, tgt, src) (one layer, one head)."""

    _tied_weights_keys = {"lm_head.weight": "decoder.embed_tokens.weight"}
    accepts_loss_kwargs = True  # token-level loss: normalised by the target-token count of the whole step

    def __init__(self, config: HfrRNNConfig):
        if not config.is_encoder_decoder:  # one config serves every head; `generate` reads this flag
            config = copy.deepcopy(config)
            config.is_encoder_decoder = True
        super().__init__(config)
        self.encoder = HfrRNNModel(config)
        self.decoder = HfrRNNDecoder(config)
        self.dropout = nn.Dropout(config.dropout)
        self.lm_head = nn.Linear(config.hidden_size, config.decoder_vocab_size)
        self.post_init()

    def get_input_embeddings(self):
        return self.encoder.embed_tokens

    def set_input_embeddings(self, new_embeddings):
        self.encoder.embed_tokens = new_embeddings

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor):
        """Used by DataCollatorForSeq2Seq to build `decoder_input_ids` in the collator."""
        return shift_tokens_right(labels, self.config.pad_token_id, _decoder_start(self.config))

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: HfrRNNModelOutput | tuple | None = None,
        cache: HfrRNNCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
        past_key_values: HfrRNNCache | None = None,
    ) -> Seq2SeqLMOutput | tuple:
        r"""
        attention_mask (`torch.Tensor` of shape `(batch, src)`): 1 for real source tokens, 0 for padding;
            built from `pad_token_id` when not given.
        decoder_input_ids (`torch.LongTensor` of shape `(batch, tgt)`): the target shifted right (start token
            first); made from `labels` when not given.
        decoder_attention_mask: accepted for API compatibility and not needed: the decoder reads left to
            right, so right padding of the target cannot reach real positions (and their labels are -100).
        labels (`torch.LongTensor` of shape `(batch, tgt)`): target token ids, -100 where no loss is taken.
        cache (`HfrRNNCache`): the decoder state after the tokens already decoded; updated in place
            (`past_key_values` before transformers 5.25).
        """
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        cache = one_cache(cache, past_key_values)
        if labels is not None and decoder_input_ids is None:
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        if decoder_input_ids is None:
            raise ValueError(
                "pass decoder_input_ids or labels: the decoder needs the target it reads (generate "
                "supplies it)"
            )
        attention_mask = _mask_from_pads(input_ids, attention_mask, self.config)
        if encoder_outputs is None:
            encoder_outputs = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                inputs_embeds=inputs_embeds,
                use_cache=False,
                return_dict=True,
            )
        elif not isinstance(encoder_outputs, HfrRNNModelOutput):  # a tuple from return_dict=False
            has_cells = self.config.cell == "lstm"
            encoder_outputs = HfrRNNModelOutput(
                last_hidden_state=encoder_outputs[0],
                final_hidden_state=encoder_outputs[1],
                final_cell_state=encoder_outputs[2] if has_cells else None,
            )

        use_cache = (self.config.use_cache and not self.training) if use_cache is None else use_cache
        if use_cache and cache is None:
            cache = HfrRNNCache()
        _check_cache(cache)
        if cache is not None and cache.state is not None:
            state, feed = cache.state, cache.feed
        else:
            state = self.decoder.initial_state(
                encoder_outputs.final_hidden_state, encoder_outputs.final_cell_state
            )
            feed = None
        memory_mask = attention_mask.bool() if attention_mask is not None else None
        hidden, state, feed, probs = self.decoder(
            decoder_input_ids, encoder_outputs.last_hidden_state, memory_mask, state, feed
        )
        if cache is not None:
            cache.update_state(state, decoder_input_ids.shape[1], feed)
        logits = self.lm_head(self.dropout(hidden))

        loss = None
        if labels is not None:
            loss = _token_cross_entropy(logits, labels, num_items_in_batch)
        output = Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            **{CACHE_FIELD: cache if use_cache else None},
            cross_attentions=(probs[:, None],) if output_attentions and probs is not None else None,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


class HfrRNNForCausalLM(HfrRNNPreTrainedModel, GenerationMixin):
    """A recurrent language model, many-to-many: the state after token t predicts token t+1, char- or
    token-level (Karpathy's char-RNN; Zaremba et al. 2014). `generate` carries the state in an HfrRNNCache."""

    _tied_weights_keys = {"lm_head.weight": "encoder.embed_tokens.weight"}
    accepts_loss_kwargs = True  # token-level loss: normalised by the target-token count of the whole step

    def __init__(self, config: HfrRNNConfig):
        if config.bidirectional:
            raise ValueError("a language model reads left to right: set bidirectional=False")
        if config.is_encoder_decoder:  # e.g. a saved encoder-decoder's config; `generate` reads this flag
            config = copy.deepcopy(config)
            config.is_encoder_decoder = False
        super().__init__(config)
        self.encoder = HfrRNNModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def get_input_embeddings(self):
        return self.encoder.embed_tokens

    def set_input_embeddings(self, new_embeddings):
        self.encoder.embed_tokens = new_embeddings

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        cache: HfrRNNCache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        num_items_in_batch: int | torch.Tensor | None = None,
        past_key_values: HfrRNNCache | None = None,
    ) -> CausalLMOutputWithPast | tuple:
        r"""
        attention_mask (`torch.Tensor` of shape `(batch, past + seq)`): 1 for real tokens, 0 for padding (left
            or right: pads are skipped, so a padded prompt continues exactly like the unpadded one).
        labels (`torch.LongTensor` of shape `(batch, seq)`): usually `input_ids`; shifted inside the model so
            position t predicts token t+1. -100 is ignored.
        logits_to_keep (`int` or `torch.Tensor`): compute logits for the last `n` positions only (0 = all), or
            for the given indices; `generate` asks for 1.
        """
        outputs = self.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            cache=one_cache(cache, past_key_values),
            use_cache=use_cache,
            return_dict=True,
        )
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(self.dropout(outputs.last_hidden_state[:, keep]))
        loss = None
        if labels is not None:
            loss = self.loss_function(
                logits, labels, vocab_size=self.config.vocab_size, num_items_in_batch=num_items_in_batch
            )
        output = CausalLMOutputWithPast(loss=loss, logits=logits, **{CACHE_FIELD: outputs.cache})
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


class HfrRNNForSequenceClassification(HfrRNNPreTrainedModel):
    """Many-to-one: classify from the encoder's top-layer final state, i.e. the state after the last real
    token (for a bidirectional encoder, its forward final state beside its backward one, which ends after the
    first token).

    Regression when `num_labels == 1`, multi-label (BCE) with float multi-hot labels, otherwise single-label
    cross-entropy; set `config.problem_type` to force one. Start from pretrained word vectors with
    `load_pretrained_embeddings(matrix)`.
    """

    def __init__(self, config: HfrRNNConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.encoder = HfrRNNModel(config)
        dropout = config.dropout if config.classifier_dropout is None else config.classifier_dropout
        self.dropout = nn.Dropout(dropout)
        self.score = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def get_input_embeddings(self):
        return self.encoder.embed_tokens

    def set_input_embeddings(self, new_embeddings):
        self.encoder.embed_tokens = new_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        r"""
        attention_mask (`torch.Tensor` of shape `(batch, seq)`): 1 for real tokens, 0 for padding; built from
            `pad_token_id` when not given.
        """
        outputs = self.encoder(
            input_ids=input_ids,
            attention_mask=_mask_from_pads(input_ids, attention_mask, self.config),
            inputs_embeds=inputs_embeds,
            use_cache=False,
            return_dict=True,
        )
        logits = self.score(self.dropout(outputs.final_hidden_state[:, -1]))
        loss = self.loss_function(labels, logits, self.config) if labels is not None else None
        output = SequenceClassifierOutput(loss=loss, logits=logits)
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


# Copied from hf_recipes.models.transformer.modeling_transformer.shift_tokens_right
def shift_tokens_right(labels: torch.Tensor, pad_token_id: int | None, decoder_start_token_id: int | None):
    """Teacher forcing: the decoder input at step t is the target token t-1, with `decoder_start_token_id` first.
    Ignored label positions (-100) become padding."""
    if decoder_start_token_id is None or pad_token_id is None:
        raise ValueError("config.decoder_start_token_id and config.pad_token_id must be set to shift labels")
    shifted = labels.new_full(labels.shape, decoder_start_token_id)
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == -100, pad_token_id)


def _decoder_start(config: HfrRNNConfig) -> int:
    start = (
        config.decoder_start_token_id if config.decoder_start_token_id is not None else config.bos_token_id
    )
    if start is None:
        raise ValueError(
            "set config.decoder_start_token_id (or bos_token_id): the token the decoder starts from"
        )
    return start


def _mask_from_pads(input_ids, attention_mask, config: HfrRNNConfig):
    """The attention mask, or one made from `pad_token_id` when none was given (documents, not prompts)."""
    if attention_mask is None and input_ids is not None and config.pad_token_id is not None:
        return (input_ids != config.pad_token_id).long()
    return attention_mask


def _token_cross_entropy(logits, labels, num_items_in_batch):
    """Mean over the labelled tokens; over those of the whole optimizer step when Trainer passes
    `num_items_in_batch` (so gradient accumulation gives the same loss scale as one big batch)."""
    loss = F.cross_entropy(
        logits.flatten(0, 1).float(),
        labels.flatten().to(logits.device),
        ignore_index=-100,
        reduction="mean" if num_items_in_batch is None else "sum",
    )
    if num_items_in_batch is not None:
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(loss.device)
        loss = loss / num_items_in_batch
    return loss


def _check_cache(cache):
    if cache is not None and not isinstance(cache, HfrRNNCache):
        raise TypeError(
            f"recurrent models carry their state in an HfrRNNCache, got {type(cache).__name__}; do not pass "
            "a cache or cache_implementation to generate, the model creates its cache itself"
        )


# Copied from hf_recipes.models.gpt.modeling_gpt._wants_dict with HfrGPT->HfrRNN
def _wants_dict(return_dict: bool | None, config: HfrRNNConfig) -> bool:
    return config.return_dict if return_dict is None else return_dict


# Every head of the family and the Auto class that loads it. hf_recipes registers them from this table,
# and `save_pretrained` writes it into config.auto_map.
AUTO_MAP = {
    "AutoModel": "HfrRNNModel",
    "AutoModelForSeq2SeqLM": "HfrRNNForConditionalGeneration",
    "AutoModelForCausalLM": "HfrRNNForCausalLM",
    "AutoModelForSequenceClassification": "HfrRNNForSequenceClassification",
}


# Copied from hf_recipes.models.gpt.modeling_gpt.full_auto_map with HfrGPT->HfrRNN
def full_auto_map() -> dict[str, str]:
    """config.auto_map entries for the config and every head, as `module.Class` next to the weights."""
    config_module = HfrRNNConfig.__module__.rsplit(".", 1)[-1]
    model_module = __name__.rsplit(".", 1)[-1]
    return {
        "AutoConfig": f"{config_module}.{HfrRNNConfig.__name__}",
        **{auto_class: f"{model_module}.{name}" for auto_class, name in AUTO_MAP.items()},
    }


__all__ = ["HfrRNNCache", "HfrRNNPreTrainedModel", *AUTO_MAP.values()]
