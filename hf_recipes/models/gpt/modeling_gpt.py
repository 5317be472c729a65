"""GPT: a causal Transformer decoder trained to predict the next token.

Radford et al., "Improving Language Understanding by Generative Pre-Training" (GPT-1, 2018) and
"Language Models are Unsupervised Multitask Learners" (GPT-2, 2019). With `layer_norm_position="pre"` (the
default) the blocks are GPT-2's, weight for weight (tests/models/test_gpt.py maps transformers' own
GPT2LMHeadModel into this model and compares logits); `"post"` gives GPT-1's post-LN blocks.

    h0 = Dropout(token_embedding + position_embedding)
    pre-LN block (GPT-2):  x = x + Dropout(CausalSelfAttention(LN(x)));  x = x + Dropout(MLP(LN(x)))
    post-LN block (GPT-1): x = LN(x + Dropout(CausalSelfAttention(x)));  x = LN(x + Dropout(MLP(x)))
    logits = LN_f(h_L) · Eᵀ                          (LN_f only for pre-LN; the head is tied to the embeddings)

Keys and values of past tokens live in a transformers `Cache` (a `DynamicCache` by default), so `generate`
does greedy, sampling and beam search with incremental decoding.

Padding and packing are handled by the attention mask built in `HfrGPTModel._attention_mask`: pad keys are
never attended to, positions count real tokens only (a left-padded prompt gets the same positions as
unpadded), and where `position_ids` restart at 0 inside a row (several documents packed into one block)
attention stays inside each document.

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
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutputWithPast,
    CausalLMOutputWithPast,
    SequenceClassifierOutputWithPast,
)

from .configuration_gpt import HfrGPTConfig

# transformers 5.25 renamed the cache argument of `forward` and the cache field of the model outputs from
# `past_key_values` to `cache` (the old name is deprecated until 5.40). This file takes the cache under either
# name and returns it under the field the installed transformers reads back, so it runs before and after.
CACHE_FIELD = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


def one_cache(cache, past_key_values):
    """The cache given as `cache` or under its deprecated name `past_key_values` (not both)."""
    if past_key_values is None:
        return cache
    if cache is not None:
        raise ValueError("pass the cache once: as `cache` (or the deprecated `past_key_values`), not both")
    return past_key_values


# Copied from hf_recipes.models.transformer.modeling_transformer.scaled_dot_product_attention
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


class HfrGPTAttention(nn.Module):
    """Multi-head causal self-attention with one fused Q/K/V projection (as GPT-2's `c_attn`)."""

    def __init__(self, config: HfrGPTConfig, layer_idx: int):
        super().__init__()
        self.num_heads = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.layer_idx = layer_idx  # which layer of the Cache this attention reads and appends to
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_pdrop = config.attn_pdrop
        self.config = config

    def forward(self, hidden_states, mask=None, cache=None, output_attentions=False):
        batch_size, seq_len, _ = hidden_states.shape
        query, key, value = (
            t.view(batch_size, seq_len, self.num_heads, self.head_dim).transpose(1, 2)
            for t in self.c_attn(hidden_states).chunk(3, dim=-1)
        )
        if cache is not None:
            # Append this step's keys/values and get back those of every token so far.
            key, value = cache.update(key, value, self.layer_idx)
        eager = output_attentions or self.config._attn_implementation == "eager"
        dropout_p = self.attn_pdrop if self.training else 0.0
        # No mask means plain causal attention (no padding, no packed documents), done by torch's causal kernels;
        # a single new token after a cache may see every cached key.
        is_causal = mask is None and seq_len > 1
        context, probs = scaled_dot_product_attention(query, key, value, mask, dropout_p, eager, is_causal)
        context = context.transpose(1, 2).reshape(batch_size, seq_len, -1)
        return self.c_proj(context), probs


class HfrGPTMLP(nn.Module):
    def __init__(self, config: HfrGPTConfig):
        super().__init__()
        inner = config.n_inner or 4 * config.n_embd
        self.c_fc = nn.Linear(config.n_embd, inner, bias=config.bias)
        self.act = ACT2FN[config.activation_function]
        self.c_proj = nn.Linear(inner, config.n_embd, bias=config.bias)

    def forward(self, hidden_states):
        return self.c_proj(self.act(self.c_fc(hidden_states)))


class HfrGPTBlock(GradientCheckpointingLayer):
    """Attention then MLP, each a residual branch; LayerNorm before (GPT-2) or after (GPT-1) the residual sum."""

    def __init__(self, config: HfrGPTConfig, layer_idx: int):
        super().__init__()
        self.pre_norm = config.layer_norm_position == "pre"
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
        self.attn = HfrGPTAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
        self.mlp = HfrGPTMLP(config)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden_states, mask=None, cache=None, output_attentions=False):
        if self.pre_norm:
            attended, probs = self.attn(self.ln_1(hidden_states), mask, cache, output_attentions)
            hidden_states = hidden_states + self.dropout(attended)
            hidden_states = hidden_states + self.dropout(self.mlp(self.ln_2(hidden_states)))
        else:
            attended, probs = self.attn(hidden_states, mask, cache, output_attentions)
            hidden_states = self.ln_1(hidden_states + self.dropout(attended))
            hidden_states = self.ln_2(hidden_states + self.dropout(self.mlp(hidden_states)))
        return hidden_states, probs


class HfrGPTPreTrainedModel(PreTrainedModel):
    config_class = HfrGPTConfig
    config: HfrGPTConfig
    base_model_prefix = "transformer"
    supports_gradient_checkpointing = True
    _no_split_modules = ["HfrGPTBlock"]
    _skip_keys_device_placement = ["cache", "past_key_values"]
    _supports_sdpa = True
    # Sequence-level losses are means over the batch: Trainer must divide them by the accumulation steps.
    # The causal LM overrides this and normalises by `num_items_in_batch` (tokens of the whole step).
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)  # N(0, initializer_range) for Linear/Embedding, LayerNorm (1, 0)
        if isinstance(module, (HfrGPTAttention, HfrGPTMLP)):
            # GPT-2: the projections that write into the residual stream are scaled by 1/√N (N = 2·n_layer
            # residual branches), so the stream's variance does not grow with depth at initialisation.
            std = self.config.initializer_range / math.sqrt(2 * self.config.n_layer)
            init.normal_(module.c_proj.weight, mean=0.0, std=std)

    def save_pretrained(self, save_directory, *args, **kwargs):
        # transformers writes only the saved class into config.auto_map; write every head so that any
        # AutoModelFor* loads this checkpoint with trust_remote_code=True where hf_recipes is not installed.
        self.config.auto_map = {**full_auto_map(), **(getattr(self.config, "auto_map", None) or {})}
        return super().save_pretrained(save_directory, *args, **kwargs)


class HfrGPTModel(HfrGPTPreTrainedModel):
    """The bare decoder: embeddings, `n_layer` blocks and (pre-LN only) the final LayerNorm."""

    def __init__(self, config: HfrGPTConfig):
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(HfrGPTBlock(config, layer_idx=i) for i in range(config.n_layer))
        pre_norm = config.layer_norm_position == "pre"
        self.ln_f = (
            nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
            if pre_norm
            else nn.Identity()
        )
        self.post_init()

    def get_input_embeddings(self):
        return self.wte

    def set_input_embeddings(self, new_embeddings):
        self.wte = new_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: Cache | None = None,
    ) -> BaseModelOutputWithPast | tuple:
        r"""
        cache (`Cache`): keys and values of the tokens already read (`past_key_values` before transformers 5.25).
        attention_mask (`torch.Tensor` of shape `(batch, past + seq)`): 1 for real tokens, 0 for padding.
        position_ids (`torch.LongTensor` of shape `(batch, seq)`): counted from the attention mask when not given;
            restarting at 0 inside a row marks the start of a new packed document.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        cache = one_cache(cache, past_key_values)
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        use_cache = (self.config.use_cache and not self.training) if use_cache is None else use_cache
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
        if inputs_embeds is None:
            inputs_embeds = self.wte(input_ids)
        seq_len = inputs_embeds.shape[1]
        past_len = cache.get_seq_length() if cache is not None else 0
        if past_len + seq_len > self.config.n_positions:
            raise ValueError(
                f"{past_len + seq_len} tokens exceed the context of n_positions={self.config.n_positions}; "
                "truncate the input or generate fewer new tokens"
            )

        if position_ids is None:
            if attention_mask is not None:  # count real tokens only, so left padding does not shift positions
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -seq_len:]
            else:
                position_ids = torch.arange(past_len, past_len + seq_len, device=inputs_embeds.device)[None]
        mask = self._attention_mask(attention_mask, position_ids, seq_len, past_len)

        hidden_states = self.drop(inputs_embeds + self.wpe(position_ids))
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for block in self.h:
            hidden_states, probs = block(
                hidden_states, mask=mask, cache=cache, output_attentions=output_attentions
            )
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (probs,)
        hidden_states = self.ln_f(hidden_states)
        if output_hidden_states:  # as in transformers: the last entry is the final (normalised) output
            all_hidden_states = all_hidden_states[:-1] + (hidden_states,)

        output = BaseModelOutputWithPast(
            last_hidden_state=hidden_states,
            **{CACHE_FIELD: cache if use_cache else None},
            hidden_states=all_hidden_states,
            attentions=all_attentions,
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()

    @staticmethod
    def _attention_mask(attention_mask, position_ids, seq_len, past_len):
        """Boolean (batch, 1, seq, past + seq) mask, True where a query may attend to a key; `None` when plain
        causal attention is exact (no padding, no packed documents), so SDPA can use its causal kernels."""
        device = position_ids.device
        packed = past_len == 0 and seq_len > 1 and bool((position_ids[:, 1:] == 0).any())
        padded = attention_mask is not None and not bool(attention_mask.all())
        if not packed and not padded:
            # Without a cache SDPA's is_causal is exact, and a single new token may see every cached key.
            return None if past_len == 0 or seq_len == 1 else _causal(seq_len, past_len, device)[None, None]
        mask = _causal(seq_len, past_len, device)[None, None]
        if padded:
            mask = mask & attention_mask[:, None, None, :].bool()
        if packed:
            document = (position_ids == 0).cumsum(-1)  # a new document starts wherever positions restart at 0
            mask = mask & (document[:, None, :, None] == document[:, None, None, :])
        # A query always sees itself, so the rows of pad queries are never empty (an empty row makes softmax NaN,
        # and a NaN in a pad position would leak into real tokens through 0 · NaN).
        itself = torch.arange(seq_len, device=device)[:, None] + past_len == torch.arange(
            past_len + seq_len, device=device
        )
        return mask | itself


def _causal(seq_len, past_len, device):
    """(seq, past + seq) lower-triangular mask: query i (at absolute position past_len + i) sees keys ≤ it."""
    return torch.ones(seq_len, past_len + seq_len, dtype=torch.bool, device=device).tril(diagonal=past_len)


class LinearCrossEntropy(torch.autograd.Function):
    """Σ_i cross_entropy(h_i · Wᵀ, y_i) over rows i (y = -100 ignored), `chunk_size` rows at a time: each chunk's
    logits are made, turned into its loss and its gradients (softmax − one-hot, times W and times h), and
    dropped, so the (rows, vocab) logits never exist whole. The gradients are computed in the forward pass (no
    second pass over the chunks) and scaled by the incoming gradient in backward."""

    @staticmethod
    def forward(ctx, hidden, weight, labels, chunk_size):
        grads = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        grad_hidden = torch.zeros_like(hidden) if grads else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if grads else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, hidden.shape[0], chunk_size):
            h, y = hidden[start : start + chunk_size], labels[start : start + chunk_size]
            valid = y != -100
            target = y.masked_fill(~valid, 0)
            logits = (h @ weight.t()).float()
            log_normaliser = logits.logsumexp(dim=-1)
            total += ((log_normaliser - logits.gather(1, target[:, None]).squeeze(1)) * valid).sum()
            if grads:
                d_logits = logits.sub_(log_normaliser[:, None]).exp_()  # softmax, in place of the logits
                d_logits[torch.arange(len(y), device=y.device), target] -= 1
                d_logits.mul_(valid[:, None])
                grad_hidden[start : start + chunk_size] = (d_logits.to(h.dtype) @ weight).to(hidden.dtype)
                grad_weight += d_logits.t() @ h.float()
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.weight_dtype = weight.dtype
        return total

    @staticmethod
    def backward(ctx, grad_total):
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_total, (grad_weight * grad_total).to(ctx.weight_dtype), None, None


def chunked_causal_lm_loss(hidden_states, weight, labels, chunk_size, num_items_in_batch=None):
    """transformers' causal-LM loss (position t predicts token t+1; mean over the target tokens, or the sum over
    `num_items_in_batch` when Trainer counts them across accumulation steps and processes) through
    `LinearCrossEntropy`: the same loss and gradients without the full logits."""
    targets = F.pad(labels, (0, 1), value=-100)[:, 1:]
    total = LinearCrossEntropy.apply(hidden_states.flatten(0, 1), weight, targets.flatten(), chunk_size)
    count = num_items_in_batch if num_items_in_batch is not None else (targets != -100).sum()
    return total / count


class HfrGPTForCausalLM(HfrGPTPreTrainedModel, GenerationMixin):
    """GPT with the language-modelling head (tied to the token embeddings); `generate` works as for GPT-2."""

    _tied_weights_keys = {"lm_head.weight": "transformer.wte.weight"}
    accepts_loss_kwargs = True  # token-level loss: normalised by the target-token count of the whole step

    def __init__(self, config: HfrGPTConfig):
        super().__init__(config)
        self.transformer = HfrGPTModel(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        num_items_in_batch: int | torch.Tensor | None = None,
        past_key_values: Cache | None = None,
    ) -> CausalLMOutputWithPast | tuple:
        r"""
        labels (`torch.LongTensor` of shape `(batch, seq)`): usually `input_ids`; shifted inside the model so
            position t predicts token t+1. -100 is ignored.
        logits_to_keep (`int` or `torch.Tensor`): compute logits for the last `n` positions only (0 = all), or for
            the given indices; `generate` asks for 1.
        """
        outputs = self.transformer(
            input_ids,
            one_cache(cache, past_key_values),
            attention_mask,
            position_ids,
            inputs_embeds,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        hidden_states = outputs.last_hidden_state
        logits = loss = None
        if labels is not None and self.training and self.config.loss_chunk_size > 0:
            loss = chunked_causal_lm_loss(
                hidden_states, self.lm_head.weight, labels, self.config.loss_chunk_size, num_items_in_batch
            )
        else:
            keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
            logits = self.lm_head(hidden_states[:, keep])
        if labels is not None and loss is None:
            loss = self.loss_function(
                logits, labels, vocab_size=self.config.vocab_size, num_items_in_batch=num_items_in_batch
            )
        output = CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            **{CACHE_FIELD: getattr(outputs, CACHE_FIELD)},
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


class HfrGPTForSequenceClassification(HfrGPTPreTrainedModel):
    """Classify from the hidden state of the last real token (the only one that has read the whole input).

    With `config.lm_loss_weight = λ > 0`, the language-modelling loss on the same input is added as
    `loss = classification_loss + λ · lm_loss` (GPT-1, section 3.2), predicting through the tied embeddings.
    """

    def __init__(self, config: HfrGPTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.transformer = HfrGPTModel(config)
        dropout = config.resid_pdrop if config.classifier_dropout is None else config.classifier_dropout
        self.dropout = nn.Dropout(dropout)
        self.score = nn.Linear(config.n_embd, config.num_labels, bias=False)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: Cache | None = None,
    ) -> SequenceClassifierOutputWithPast | tuple:
        outputs = self.transformer(
            input_ids,
            one_cache(cache, past_key_values),
            attention_mask,
            position_ids,
            inputs_embeds,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        hidden_states = outputs.last_hidden_state
        batch_size, seq_len = hidden_states.shape[:2]
        positions = torch.arange(seq_len, device=hidden_states.device)
        if attention_mask is not None:  # the rightmost real token, for left and right padding alike
            last = (positions * attention_mask[:, -seq_len:].to(positions.dtype)).argmax(-1)
        elif input_ids is not None and self.config.pad_token_id is not None:
            last = (positions * (input_ids != self.config.pad_token_id).to(positions.dtype)).argmax(-1)
        elif batch_size == 1:
            last = torch.full((1,), seq_len - 1, device=hidden_states.device)
        else:
            raise ValueError("a batch of several sequences needs an attention_mask (or config.pad_token_id)")
        pooled = hidden_states[torch.arange(batch_size, device=hidden_states.device), last]
        logits = self.score(self.dropout(pooled))

        loss = None
        if labels is not None:
            loss = self.loss_function(labels, logits, self.config)
            if self.config.lm_loss_weight and input_ids is not None:
                lm_labels = (
                    input_ids if attention_mask is None else input_ids.masked_fill(attention_mask == 0, -100)
                )
                lm_logits = F.linear(hidden_states, self.transformer.wte.weight)
                lm_loss = F.cross_entropy(lm_logits[:, :-1].flatten(0, 1).float(), lm_labels[:, 1:].flatten())
                loss = loss + self.config.lm_loss_weight * lm_loss
        output = SequenceClassifierOutputWithPast(
            loss=loss,
            logits=logits,
            **{CACHE_FIELD: getattr(outputs, CACHE_FIELD)},
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


def _wants_dict(return_dict: bool | None, config: HfrGPTConfig) -> bool:
    return config.return_dict if return_dict is None else return_dict


# Every head of the family and the Auto class that loads it. hf_recipes registers them from this table,
# and `save_pretrained` writes it into config.auto_map.
AUTO_MAP = {
    "AutoModel": "HfrGPTModel",
    "AutoModelForCausalLM": "HfrGPTForCausalLM",
    "AutoModelForSequenceClassification": "HfrGPTForSequenceClassification",
}


def full_auto_map() -> dict[str, str]:
    """config.auto_map entries for the config and every head, as `module.Class` next to the weights."""
    config_module = HfrGPTConfig.__module__.rsplit(".", 1)[-1]
    model_module = __name__.rsplit(".", 1)[-1]
    return {
        "AutoConfig": f"{config_module}.{HfrGPTConfig.__name__}",
        **{auto_class: f"{model_module}.{name}" for auto_class, name in AUTO_MAP.items()},
    }


__all__ = ["HfrGPTPreTrainedModel", *AUTO_MAP.values()]
