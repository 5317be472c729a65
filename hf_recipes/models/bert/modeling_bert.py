"""BERT: a bidirectional Transformer encoder pretrained with masked-LM and next-sentence prediction.

Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding", 2019.
The architecture is the published one, layer for layer (tests/models/test_bert.py maps the weights of
transformers' own BertForPreTraining into this model and compares logits):

    embeddings = LayerNorm(token + position + segment)                       (post-LN, as in the paper)
    each layer: x = LayerNorm(x + Dropout(SelfAttention(x)))
                x = LayerNorm(x + Dropout(W2 · act(W1 · x)))
    pooler     = tanh(W · h_[CLS])                                           (input of NSP / classifiers)
    MLM head   = LayerNorm(act(W · h)) · Eᵀ + b                              (decoder tied to embeddings E)

Packed rows: where `position_ids` restart at 0 inside a row, the row holds several sequences one after
another (a packing collator puts instances of different lengths into rows without padding between them);
attention stays inside each sequence, and the pooler reads the [CLS] of every sequence, so sequence-level
outputs (NSP, classification) have one row per sequence, in reading order. Padding is then only at row ends.

`config.layer_norm_position = "pre"` switches the layers to pre-LN (Xiong et al. 2020), with one LayerNorm
after the last layer:
                x = x + Dropout(SelfAttention(LayerNorm(x)));  x = x + Dropout(W2 · act(W1 · LayerNorm(x)))

This file is copied next to every saved checkpoint and imports nothing from hf_recipes, so a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutputWithPooling,
    MaskedLMOutput,
    NextSentencePredictorOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.utils import ModelOutput

from .configuration_bert import HfrBertConfig


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


class HfrBertEmbeddings(nn.Module):
    """Token + learned position + segment (token type) embeddings, then LayerNorm and dropout."""

    def __init__(self, config: HfrBertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        batch_size, seq_len = inputs_embeds.shape[:2]
        if seq_len > self.position_embeddings.num_embeddings:
            raise ValueError(
                f"sequence length {seq_len} exceeds max_position_embeddings "
                f"({self.position_embeddings.num_embeddings}); truncate the input"
            )
        if position_ids is None:
            position_ids = torch.arange(seq_len, device=inputs_embeds.device).unsqueeze(0)
        if token_type_ids is None:
            token_type_ids = torch.zeros(batch_size, seq_len, dtype=torch.long, device=inputs_embeds.device)
        embeddings = (
            inputs_embeds
            + self.position_embeddings(position_ids)
            + self.token_type_embeddings(token_type_ids)
        )
        return self.dropout(self.layer_norm(embeddings))


class HfrBertSelfAttention(nn.Module):
    """Multi-head self-attention; every token sees every non-pad token (no causal mask)."""

    def __init__(self, config: HfrBertConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)
        self.attention_dropout = config.attention_probs_dropout_prob
        self.config = config

    def forward(self, hidden_states, mask=None, output_attentions=False):
        batch_size, seq_len, _ = hidden_states.shape

        def split_heads(x):  # (batch, seq, hidden) -> (batch, heads, seq, head_dim)
            return x.view(batch_size, seq_len, self.num_heads, self.head_dim).transpose(1, 2)

        query, key, value = (split_heads(proj(hidden_states)) for proj in (self.query, self.key, self.value))
        eager = output_attentions or self.config._attn_implementation == "eager"
        dropout_p = self.attention_dropout if self.training else 0.0
        context, probs = scaled_dot_product_attention(query, key, value, mask, dropout_p, eager)
        context = context.transpose(1, 2).reshape(batch_size, seq_len, -1)
        return self.output(context), probs


class HfrBertLayer(GradientCheckpointingLayer):
    """One encoder layer: attention and feed-forward sub-layers, each `LayerNorm(x + Dropout(f(x)))` (post-LN)
    or, with `layer_norm_position="pre"`, `x + Dropout(f(LayerNorm(x)))`."""

    def __init__(self, config: HfrBertConfig):
        super().__init__()
        self.attention = HfrBertSelfAttention(config)
        self.attention_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACT2FN[config.hidden_act]
        self.output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.output_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.pre_layer_norm = config.layer_norm_position == "pre"

    def feed_forward(self, hidden_states):
        return self.output(self.activation(self.intermediate(hidden_states)))

    def forward(self, hidden_states, mask=None, output_attentions=False):
        if self.pre_layer_norm:
            attended, probs = self.attention(
                self.attention_layer_norm(hidden_states), mask, output_attentions
            )
            hidden_states = hidden_states + self.dropout(attended)
            hidden_states = hidden_states + self.dropout(
                self.feed_forward(self.output_layer_norm(hidden_states))
            )
            return hidden_states, probs
        attended, probs = self.attention(hidden_states, mask, output_attentions)
        hidden_states = self.attention_layer_norm(hidden_states + self.dropout(attended))
        hidden_states = self.output_layer_norm(hidden_states + self.dropout(self.feed_forward(hidden_states)))
        return hidden_states, probs


class HfrBertPooler(nn.Module):
    """tanh(W · h_[CLS]): the sentence representation NSP and the classifiers read."""

    def __init__(self, config: HfrBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states, sequence_starts=None):
        # sequence_starts: (batch, seq) bool, the [CLS] of each sequence of packed rows; None: position 0 of each row
        first = hidden_states[:, 0] if sequence_starts is None else hidden_states[sequence_starts]
        return torch.tanh(self.dense(first))


class HfrBertLMHead(nn.Module):
    """Masked-LM head: a transform (dense, activation, LayerNorm), then the decoder tied to the embeddings."""

    def __init__(self, config: HfrBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = ACT2FN[config.hidden_act]
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, hidden_states):
        return self.decoder(self.layer_norm(self.activation(self.dense(hidden_states))))


class HfrBertPreTrainedModel(PreTrainedModel):
    config_class = HfrBertConfig
    config: HfrBertConfig
    base_model_prefix = "bert"
    supports_gradient_checkpointing = True
    _no_split_modules = ["HfrBertEmbeddings", "HfrBertLayer"]
    _supports_sdpa = True
    # Rows of several sequences (position_ids restarting at 0) keep attention and pooling per sequence: a packing
    # collator (hf_recipes.data.collators, `pack_to`) can drop the padding.
    supports_packed_sequences = True
    # Sequence-level losses are means over the batch: Trainer must divide them by the accumulation steps.
    # The token-level heads (masked LM, token classification) override this and use `num_items_in_batch`.
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module):
        # Linear/Embedding ~ N(0, initializer_range), LayerNorm = (1, 0), biases 0, pad row 0: the library default
        # is exactly BERT's initialisation, so only the decoder bias (which it would leave alone when untied) is set.
        super()._init_weights(module)
        if isinstance(module, HfrBertLMHead):
            init.zeros_(module.decoder.bias)

    # Copied from hf_recipes.models.gpt.modeling_gpt.HfrGPTPreTrainedModel.save_pretrained
    def save_pretrained(self, save_directory, *args, **kwargs):
        # transformers writes only the saved class into config.auto_map; write every head so that any
        # AutoModelFor* loads this checkpoint with trust_remote_code=True where hf_recipes is not installed.
        self.config.auto_map = {**full_auto_map(), **(getattr(self.config, "auto_map", None) or {})}
        return super().save_pretrained(save_directory, *args, **kwargs)


class HfrBertModel(HfrBertPreTrainedModel):
    """The bare encoder: embeddings, `num_hidden_layers` layers and (optionally) the [CLS] pooler."""

    def __init__(self, config: HfrBertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = HfrBertEmbeddings(config)
        self.layers = nn.ModuleList(HfrBertLayer(config) for _ in range(config.num_hidden_layers))
        # Pre-LN leaves the residual stream unnormalised: one LayerNorm after the last layer (post-LN has none).
        self.final_layer_norm = (
            nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            if config.layer_norm_position == "pre"
            else None
        )
        self.pooler = HfrBertPooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )

        hidden_states = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        mask, starts = self._attention_mask(attention_mask, position_ids)

        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            hidden_states, probs = layer(hidden_states, mask=mask, output_attentions=output_attentions)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (probs,)
        if self.final_layer_norm is not None:
            hidden_states = self.final_layer_norm(hidden_states)
            if output_hidden_states:  # as GPT-2: the last entry is what the heads read
                all_hidden_states = all_hidden_states[:-1] + (hidden_states,)

        output = BaseModelOutputWithPooling(
            last_hidden_state=hidden_states,
            pooler_output=self.pooler(hidden_states, starts) if self.pooler is not None else None,
            hidden_states=all_hidden_states,
            attentions=all_attentions,
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()

    @staticmethod
    def _attention_mask(attention_mask, position_ids):
        """(mask, sequence starts). The mask is boolean, True where a query may attend to a key: (batch, 1, 1,
        seq), every real (non-pad) key; or for packed rows (`position_ids` restarting at 0 inside a row)
        (batch, 1, seq, seq), the real keys of the query's own sequence. The starts: None, or for packed rows
        the (batch, seq) positions of each real sequence's first token."""
        mask = attention_mask[:, None, None, :].bool() if attention_mask is not None else None
        if position_ids is None or position_ids.dim() != 2 or not bool((position_ids[:, 1:] == 0).any()):
            return mask, None
        starts = position_ids == 0
        sequence = starts.cumsum(-1)  # a new sequence wherever positions restart at 0
        same = sequence[:, None, :, None] == sequence[:, None, None, :]
        mask = same if mask is None else same & mask
        # A query always sees itself, so the rows of pad queries are never empty (softmax over nothing is NaN).
        itself = torch.eye(position_ids.shape[1], dtype=torch.bool, device=position_ids.device)
        if attention_mask is not None:
            starts = starts & attention_mask.bool()
        return mask | itself, starts


@dataclass
class HfrBertForPreTrainingOutput(ModelOutput):
    """Output of [`HfrBertForPreTraining`]: `loss` is masked-LM loss + next-sentence loss."""

    loss: torch.FloatTensor | None = None
    prediction_logits: torch.FloatTensor | None = None
    seq_relationship_logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class HfrBertForPreTraining(HfrBertPreTrainedModel):
    """BERT with both pretraining heads: masked LM over every position and NSP over the pooled [CLS]."""

    _tied_weights_keys = {"mlm_head.decoder.weight": "bert.embeddings.word_embeddings.weight"}

    def __init__(self, config: HfrBertConfig):
        super().__init__(config)
        self.bert = HfrBertModel(config)
        self.mlm_head = HfrBertLMHead(config)
        self.nsp_head = nn.Linear(config.hidden_size, 2)
        self.post_init()

    def get_output_embeddings(self):
        return self.mlm_head.decoder

    def set_output_embeddings(self, new_embeddings):
        self.mlm_head.decoder = new_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        next_sentence_label: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> HfrBertForPreTrainingOutput | tuple:
        r"""
        labels (`torch.LongTensor` of shape `(batch, seq)`): masked-LM targets, -100 where not masked.
        next_sentence_label (`torch.LongTensor` of shape `(batch,)`): 0 = B follows A, 1 = B is random.
        The loss is the sum of the two objectives given (either may be left out).
        """
        outputs = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            position_ids,
            inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        prediction_logits, mlm_logits, mlm_labels = _masked_lm_logits(self, outputs.last_hidden_state, labels)
        seq_relationship_logits = self.nsp_head(outputs.pooler_output)

        losses = []
        if labels is not None:
            losses.append(F.cross_entropy(mlm_logits.float(), mlm_labels))
        if next_sentence_label is not None:
            losses.append(F.cross_entropy(seq_relationship_logits.float(), next_sentence_label.flatten()))
        output = HfrBertForPreTrainingOutput(
            loss=sum(losses) if losses else None,
            prediction_logits=prediction_logits,
            seq_relationship_logits=seq_relationship_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


def _masked_lm_logits(model, hidden_states, labels):
    """(logits to return, logits to score, their labels) of a masked-LM head. With `config.sparse_prediction`
    while training, the head runs only where a label is set (not -100): the same loss for a fraction of the
    decoder's compute, and no full logits to return."""
    if labels is not None and model.training and model.config.sparse_prediction:
        labels = labels.flatten()
        masked = labels != -100
        return None, model.mlm_head(hidden_states.flatten(0, 1)[masked]), labels[masked]
    logits = model.mlm_head(hidden_states)
    return logits, logits.flatten(0, 1), labels.flatten() if labels is not None else None


class HfrBertForMaskedLM(HfrBertPreTrainedModel):
    """BERT with the masked-LM head only (what `pipeline("fill-mask")` uses)."""

    _tied_weights_keys = {"mlm_head.decoder.weight": "bert.embeddings.word_embeddings.weight"}
    accepts_loss_kwargs = True  # token-level loss: normalised by the masked-token count of the whole step

    def __init__(self, config: HfrBertConfig):
        super().__init__(config)
        self.bert = HfrBertModel(config, add_pooling_layer=False)
        self.mlm_head = HfrBertLMHead(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.mlm_head.decoder

    def set_output_embeddings(self, new_embeddings):
        self.mlm_head.decoder = new_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
    ) -> MaskedLMOutput | tuple:
        outputs = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            position_ids,
            inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits, mlm_logits, mlm_labels = _masked_lm_logits(self, outputs.last_hidden_state, labels)
        loss = None
        if labels is not None:
            loss = self.loss_function(
                mlm_logits,
                mlm_labels,
                vocab_size=self.config.vocab_size,
                num_items_in_batch=num_items_in_batch,
            )
        output = MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


class HfrBertForNextSentencePrediction(HfrBertPreTrainedModel):
    """BERT with the NSP head only: does sentence B follow sentence A?"""

    def __init__(self, config: HfrBertConfig):
        super().__init__(config)
        self.bert = HfrBertModel(config)
        self.nsp_head = nn.Linear(config.hidden_size, 2)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> NextSentencePredictorOutput | tuple:
        r"""labels (`torch.LongTensor` of shape `(batch,)`): 0 = B follows A, 1 = B is a random sentence."""
        outputs = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            position_ids,
            inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.nsp_head(outputs.pooler_output)
        loss = F.cross_entropy(logits.float(), labels.flatten()) if labels is not None else None
        output = NextSentencePredictorOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


class HfrBertForSequenceClassification(HfrBertPreTrainedModel):
    """Pooled [CLS] → dropout → linear. `num_labels == 1` is regression (MSE); float multi-hot labels are
    multi-label (BCE); otherwise single-label cross-entropy. Set `config.problem_type` to force one."""

    def __init__(self, config: HfrBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = HfrBertModel(config)
        self.dropout = nn.Dropout(_classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        outputs = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            position_ids,
            inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = self.loss_function(labels, logits, self.config) if labels is not None else None
        output = SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


class HfrBertForTokenClassification(HfrBertPreTrainedModel):
    """A label per token (NER, POS): every hidden state → dropout → linear; -100 labels are ignored."""

    accepts_loss_kwargs = True  # token-level loss: normalised by the labelled-token count of the whole step

    def __init__(self, config: HfrBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = HfrBertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(_classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
    ) -> TokenClassifierOutput | tuple:
        outputs = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            position_ids,
            inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = self.loss_function(logits, labels, self.config, num_items_in_batch=num_items_in_batch)
        output = TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


class HfrBertForQuestionAnswering(HfrBertPreTrainedModel):
    """Extractive QA (SQuAD): a start and an end logit per token; the loss is the mean of the two CEs."""

    def __init__(self, config: HfrBertConfig):
        super().__init__(config)
        self.bert = HfrBertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        start_positions: torch.LongTensor | None = None,
        end_positions: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> QuestionAnsweringModelOutput | tuple:
        outputs = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            position_ids,
            inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        start_logits, end_logits = self.qa_outputs(outputs.last_hidden_state).unbind(dim=-1)
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = self.loss_function(start_logits, end_logits, start_positions, end_positions)
        output = QuestionAnsweringModelOutput(
            loss=loss,
            start_logits=start_logits.contiguous(),
            end_logits=end_logits.contiguous(),
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


def _classifier_dropout(config: HfrBertConfig) -> float:
    return config.hidden_dropout_prob if config.classifier_dropout is None else config.classifier_dropout


# Copied from hf_recipes.models.gpt.modeling_gpt._wants_dict with HfrGPT->HfrBert
def _wants_dict(return_dict: bool | None, config: HfrBertConfig) -> bool:
    return config.return_dict if return_dict is None else return_dict


# Every head of the family and the Auto class that loads it. hf_recipes registers them from this table,
# and `save_pretrained` writes it into config.auto_map.
AUTO_MAP = {
    "AutoModel": "HfrBertModel",
    "AutoModelForPreTraining": "HfrBertForPreTraining",
    "AutoModelForMaskedLM": "HfrBertForMaskedLM",
    "AutoModelForNextSentencePrediction": "HfrBertForNextSentencePrediction",
    "AutoModelForSequenceClassification": "HfrBertForSequenceClassification",
    "AutoModelForTokenClassification": "HfrBertForTokenClassification",
    "AutoModelForQuestionAnswering": "HfrBertForQuestionAnswering",
}


# Copied from hf_recipes.models.gpt.modeling_gpt.full_auto_map with HfrGPT->HfrBert
def full_auto_map() -> dict[str, str]:
    """config.auto_map entries for the config and every head, as `module.Class` next to the weights."""
    config_module = HfrBertConfig.__module__.rsplit(".", 1)[-1]
    model_module = __name__.rsplit(".", 1)[-1]
    return {
        "AutoConfig": f"{config_module}.{HfrBertConfig.__name__}",
        **{auto_class: f"{model_module}.{name}" for auto_class, name in AUTO_MAP.items()},
    }


__all__ = ["HfrBertPreTrainedModel", *AUTO_MAP.values()]
