"""Image captioning, one-to-many: a CNN encoder and a recurrent decoder with soft attention over image regions.

    Xu et al. 2015, "Show, Attend and Tell: Neural Image Caption Generation with Visual Attention"
    Vinyals et al. 2015, "Show and Tell: A Neural Image Caption Generator"            (attention="none")

    encoder:     a₁ … a_L = the regions of CNN(image), L = region_grid²         each feature_size wide (the CNN's)
    start:       h₀ = tanh(W_h·ā), c₀ = tanh(W_c·ā)                              ā = the mean region
    attention:   eₜᵢ = vᵀ·tanh(W·hₜ₋₁ + U·aᵢ),  αₜ = softmax(eₜ),  ẑₜ = βₜ ⊙ Σᵢ αₜᵢ·aᵢ,  βₜ = σ(W_β·hₜ₋₁ + b_β)
    step:        hₜ, cₜ = LSTM([E·yₜ₋₁; ẑₜ], (hₜ₋₁, cₜ₋₁))                       attention="none": [E·yₜ₋₁]
    output:      p(yₜ | y<ₜ, image) = softmax(W_o·Dropout(hₜ) + b_o)
    loss:        cross-entropy of the caption + λ·(1/L)·Σᵢ(1 − Σₜ αₜᵢ)²            the doubly stochastic term

The output layer reads the state alone (the paper's deep output adds E·yₜ₋₁ and ẑₜ to it; the state already
holds both). The image is the encoder's input and the caption the decoder's, as in transformers'
encoder-decoders: `generate(pixel_values)` encodes the image once and decodes greedily, by sampling or by beam
search, the recurrent state carried in an `HfrCaptioningCache` (what the key/value cache is to a Transformer).
With `output_attentions=True` the attention over the regions comes back as `cross_attentions`, (batch, 1, words,
regions): reshaped to region_grid × region_grid it is where each word looked.

This file is copied next to every saved checkpoint and imports nothing from hf_recipes, so a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutput, CausalLMOutputWithPast, Seq2SeqLMOutput

from .configuration_captioning import HfrCaptioningConfig

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


# Copied from hf_recipes.models.rnn.modeling_rnn.HfrRNNCache with HfrRNN->HfrCaptioning
class HfrCaptioningCache(Cache):
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


class HfrCaptioningAttention(nn.Module):
    """Soft attention over the regions (Bahdanau's additive score): eᵢ = vᵀ·tanh(W·h + U·aᵢ), α = softmax(e),
    context = Σᵢ αᵢ·aᵢ. U·a is computed once per image (`keys`), not once per word."""

    def __init__(self, config: HfrCaptioningConfig, features: int):
        super().__init__()
        self.query_proj = nn.Linear(config.hidden_size, config.attention_size, bias=False)
        self.key_proj = nn.Linear(features, config.attention_size)
        self.v = nn.Linear(config.attention_size, 1, bias=False)

    def keys(self, regions: torch.Tensor) -> torch.Tensor:
        return self.key_proj(regions)

    def forward(self, query, regions, keys):
        """query (batch, hidden), regions (batch, L, features), keys (batch, L, attention_size)
        → context (batch, features), weights (batch, L)."""
        scores = self.v(torch.tanh(self.query_proj(query)[:, None] + keys)).squeeze(-1)
        weights = scores.softmax(dim=-1)
        return torch.bmm(weights[:, None], regions)[:, 0], weights


class HfrCaptioningPreTrainedModel(PreTrainedModel):
    config_class = HfrCaptioningConfig
    config: HfrCaptioningConfig
    base_model_prefix = "encoder"
    main_input_name = "pixel_values"
    input_modalities = ("image", "text")
    _no_split_modules = ["HfrCaptioningDecoder"]  # the recurrent loop runs as one unit
    _skip_keys_device_placement = ["cache", "past_key_values"]
    # The state depends on every word read: `generate` must refuse assisted decoding (it rolls caches back).
    _is_stateful = True
    accepts_loss_kwargs = True  # token-level loss: normalised by the caption-token count of the whole step

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # `generate` would otherwise hand `forward` a DynamicCache (keys and values per layer) that a recurrent
        # decoder cannot use: `forward` creates an HfrCaptioningCache on the first step instead.
        return False

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")  # He et al. 2015
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, (nn.LSTMCell, nn.GRUCell)):
            self._init_recurrent(module)
        elif isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        else:
            super()._init_weights(module)  # embeddings: N(0, initializer_range), the pad row 0

    @staticmethod
    def _init_recurrent(module: nn.RNNCellBase):
        """Gate by gate: orthogonal recurrent weights, Xavier input weights, zero biases, and the LSTM a
        forget-gate bias of 1 (Jozefowicz et al. 2015), as the recurrent family (modeling_rnn) does."""
        gates = 4 if isinstance(module, nn.LSTMCell) else 3
        for name, param in module.named_parameters():
            if getattr(param, "_is_hf_initialized", False):
                continue
            for gate in param.chunk(gates, dim=0):
                if name.startswith("weight_hh"):
                    init.orthogonal_(gate)
                elif name.startswith("weight_ih"):
                    init.xavier_uniform_(gate)
                else:
                    init.zeros_(gate)
            if gates == 4 and name.startswith("bias_ih"):
                init.ones_(param.chunk(4, dim=0)[1])  # torch's gate order: input, forget, cell, output

    # Copied from hf_recipes.models.gpt.modeling_gpt.HfrGPTPreTrainedModel.save_pretrained
    def save_pretrained(self, save_directory, *args, **kwargs):
        # transformers writes only the saved class into config.auto_map; write every head so that any
        # AutoModelFor* loads this checkpoint with trust_remote_code=True where hf_recipes is not installed.
        self.config.auto_map = {**full_auto_map(), **(getattr(self.config, "auto_map", None) or {})}
        return super().save_pretrained(save_directory, *args, **kwargs)


class HfrCaptioningModel(HfrCaptioningPreTrainedModel):
    """The image encoder: a small CNN (VGG-style stages of two 3×3 convolutions with batch norm, the resolution
    halved between stages), or a transformers vision backbone (`config.backbone_config`, built by
    `AutoBackbone`), whose last feature map is average-pooled to region_grid × region_grid regions.
    `last_hidden_state` is (batch, regions, feature_size), the regions in row-major order."""

    def __init__(self, config: HfrCaptioningConfig):
        super().__init__(config)
        if config.backbone_config is not None:
            from transformers import AutoBackbone, AutoConfig

            fields = dict(config.backbone_config)
            self.backbone = AutoBackbone.from_config(AutoConfig.for_model(fields.pop("model_type"), **fields))
            self.feature_size = self.backbone.channels[-1]
        else:
            layers: list[nn.Module] = []
            channels = config.num_channels
            for stage, width in enumerate(config.encoder_channels):
                if stage:
                    layers.append(nn.MaxPool2d(2))
                for _ in range(2):
                    layers += [
                        nn.Conv2d(channels, width, 3, padding=1, bias=False),
                        nn.BatchNorm2d(width),
                        nn.ReLU(inplace=True),
                    ]
                    channels = width
            self.stages = nn.Sequential(*layers)
            self.feature_size = channels
        self.pool = nn.AdaptiveAvgPool2d(config.region_grid)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.FloatTensor,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch, num_channels, image_size, image_size)`): the images,
            normalised as the image processor does.
        output_attentions, output_hidden_states: accepted for the API (`generate` passes them); a CNN has no
            attention, and only the regions are returned.
        """
        if self.config.backbone_config is not None:
            feature_map = self.backbone(pixel_values, return_dict=True).feature_maps[-1]
        else:
            feature_map = self.stages(pixel_values)
        regions = self.pool(feature_map).flatten(2).transpose(1, 2)
        output = BaseModelOutput(last_hidden_state=regions)
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


class HfrCaptioningDecoder(nn.Module):
    """Word embeddings, the state's start from the mean region, the attention, its gate and the recurrent cell;
    `forward` runs the words of a batch one step at a time (each step's attention needs the previous state)."""

    def __init__(self, config: HfrCaptioningConfig, features: int):
        super().__init__()
        size = config.hidden_size
        self.embed_tokens = nn.Embedding(
            config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id
        )
        self.dropout = nn.Dropout(config.dropout)
        self.attention = HfrCaptioningAttention(config, features) if config.attention == "soft" else None
        self.gate = nn.Linear(size, features) if self.attention is not None and config.gate else None
        input_size = config.embedding_size + (features if self.attention is not None else 0)
        self.cell = (nn.LSTMCell if config.cell == "lstm" else nn.GRUCell)(input_size, size)
        self.init_h = nn.Linear(features, size)
        self.init_c = nn.Linear(features, size) if config.cell == "lstm" else None

    def initial_state(self, regions: torch.Tensor) -> tuple:
        """h₀ (and c₀) = tanh(W·ā) from the mean region ā, each (1, batch, hidden) as the cache holds states."""
        mean = regions.mean(dim=1)
        parts = [self.init_h] + ([self.init_c] if self.init_c is not None else [])
        return tuple(torch.tanh(layer(mean))[None] for layer in parts)

    def forward(self, input_ids, regions, state):
        """Decode `input_ids` (batch, words) from `state` over the `regions` (batch, L, features): the states
        (batch, words, hidden), the last state and the attention weights (batch, words, L), None without
        attention."""
        embeds = self.dropout(self.embed_tokens(input_ids))
        keys = self.attention.keys(regions) if self.attention is not None else None
        outputs, weights = [], []
        for t in range(embeds.shape[1]):
            h = state[0][0]
            step_input = embeds[:, t]
            if self.attention is not None:
                context, alpha = self.attention(h, regions, keys)
                if self.gate is not None:
                    context = torch.sigmoid(self.gate(h)) * context
                step_input = torch.cat([step_input, context], dim=-1)
                weights.append(alpha)
            if self.init_c is not None:  # LSTM
                h, c = self.cell(step_input, (h, state[1][0]))
                state = (h[None], c[None])
            else:
                h = self.cell(step_input, h)
                state = (h[None],)
            outputs.append(h)
        return torch.stack(outputs, 1), state, torch.stack(weights, 1) if weights else None


class HfrCaptioningForConditionalGeneration(HfrCaptioningPreTrainedModel, GenerationMixin):
    """The captioner: `HfrCaptioningModel` encodes the image, `HfrCaptioningDecoder` writes the caption;
    `generate(pixel_values)` captions images (greedy, sampling or beam search)."""

    _tied_weights_keys = {"lm_head.weight": "decoder.embed_tokens.weight"}

    def __init__(self, config: HfrCaptioningConfig):
        super().__init__(config)
        self.encoder = HfrCaptioningModel(config)
        self.decoder = HfrCaptioningDecoder(config, self.encoder.feature_size)
        self.dropout = nn.Dropout(config.dropout)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()
        self._freeze_as_configured()

    def get_encoder(self, modality: str | None = None):
        return self.encoder

    def get_input_embeddings(self):
        return self.decoder.embed_tokens

    def set_input_embeddings(self, new_embeddings):
        self.decoder.embed_tokens = new_embeddings

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def load_pretrained_embeddings(self, embeddings, freeze: bool = True) -> None:
        """Start the word embeddings from pretrained word vectors (GloVe, word2vec: the course's init): a
        (vocab_size × embedding_size) matrix, row i for token id i; kept fixed unless `freeze=False` (stored in
        `config.freeze_embeddings`, so a reloaded model stays frozen)."""
        weight = self.get_input_embeddings().weight
        embeddings = torch.as_tensor(embeddings, dtype=weight.dtype, device=weight.device)
        if embeddings.shape != weight.shape:
            raise ValueError(
                f"pretrained embeddings have shape {tuple(embeddings.shape)}, the word embeddings "
                f"{tuple(weight.shape)} (vocab_size × embedding_size)"
            )
        with torch.no_grad():
            weight.copy_(embeddings)
        self.config.freeze_embeddings = freeze
        self._freeze_as_configured()

    def _freeze_as_configured(self) -> None:
        """Fix what the config says stays fixed: the word embeddings (`freeze_embeddings`) and the encoder
        (`freeze_encoder`: its weights, and its batch-norm statistics by evaluation mode)."""
        self.get_input_embeddings().weight.requires_grad_(not self.config.freeze_embeddings)
        self.encoder.requires_grad_(not self.config.freeze_encoder)
        if self.config.freeze_encoder:
            self.encoder.eval()

    def load_pretrained_backbone(self, name_or_path: str, **kwargs) -> None:
        """Copy the weights of a pretrained vision checkpoint (a Hub id such as "microsoft/resnet-50", or a
        directory) into the backbone, which `config.backbone_config` must describe (build the captioner with
        `backbone_config=AutoConfig.from_pretrained(name_or_path)`). `kwargs` go to `from_pretrained` (revision,
        token, ...)."""
        from transformers import AutoConfig

        if self.config.backbone_config is None:
            raise ValueError(
                "this captioner has no backbone (config.backbone_config is unset): build it with "
                f"backbone_config=AutoConfig.from_pretrained({name_or_path!r}) first"
            )
        model_type = AutoConfig.from_pretrained(name_or_path, **kwargs).model_type
        if model_type != self.config.backbone_config["model_type"]:
            raise ValueError(
                f"{name_or_path} is a {model_type} checkpoint, this captioner's backbone a "
                f"{self.config.backbone_config['model_type']}: build it from that checkpoint's config"
            )
        # The backbone's own class, not AutoBackbone.from_pretrained: that one takes any name it cannot find on
        # the Hub (a local directory, offline) for a timm model.
        backbone = self.encoder.backbone
        pretrained = type(backbone).from_pretrained(
            name_or_path, out_features=backbone.out_features, **kwargs
        )
        try:
            backbone.load_state_dict(pretrained.state_dict())
        except RuntimeError as error:
            raise ValueError(
                f"{name_or_path} does not fit this captioner's backbone (config.backbone_config must be that "
                f"checkpoint's config): {' '.join(str(error).split())[:300]}"
            ) from None

    def train(self, mode: bool = True):
        """As nn.Module.train, but a frozen encoder (`config.freeze_encoder`) stays in evaluation mode: its
        batch-norm statistics are part of what is frozen."""
        super().train(mode)
        if self.config.freeze_encoder:
            self.encoder.eval()
        return self

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        loaded = super().from_pretrained(*args, **kwargs)
        # Loading puts a new, trainable Parameter in place of every weight: freeze again what the config says.
        (loaded[0] if isinstance(loaded, tuple) else loaded)._freeze_as_configured()
        return loaded

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor):
        """Used by DataCollatorForSeq2Seq to build `decoder_input_ids` in the collator."""
        return shift_tokens_right(labels, self.config.pad_token_id, _decoder_start(self.config))

    def forward(
        self,
        pixel_values: torch.FloatTensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: HfrCaptioningCache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
        past_key_values: HfrCaptioningCache | None = None,
        **kwargs,
    ) -> Seq2SeqLMOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch, num_channels, image_size, image_size)`): the images;
            not needed when `encoder_outputs` are given.
        decoder_input_ids (`torch.LongTensor` of shape `(batch, words)`): the caption shifted right (start token
            first); made from `labels` when not given.
        decoder_attention_mask: accepted for API compatibility and not needed: the decoder reads left to right,
            so right padding cannot reach real positions (and their labels are -100).
        labels (`torch.LongTensor` of shape `(batch, words)`): caption token ids, -100 where no loss is taken.
        cache (`HfrCaptioningCache`): the decoder state after the words already decoded; updated in place
            (`past_key_values` before transformers 5.25).
        """
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        cache = one_cache(cache, past_key_values)
        if labels is not None and decoder_input_ids is None:
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        if decoder_input_ids is None:
            raise ValueError("pass decoder_input_ids or labels: the decoder needs the caption it reads")
        if encoder_outputs is None:
            if pixel_values is None:
                raise ValueError("pass pixel_values (or encoder_outputs): the images to caption")
            encoder_outputs = self.encoder(pixel_values=pixel_values, return_dict=True)
        regions = encoder_outputs[0]

        use_cache = (self.config.use_cache and not self.training) if use_cache is None else use_cache
        if use_cache and cache is None:
            cache = HfrCaptioningCache()
        if cache is not None and not isinstance(cache, HfrCaptioningCache):
            raise TypeError(
                f"the captioner carries its state in an HfrCaptioningCache, got {type(cache).__name__}; do not "
                "pass a cache or cache_implementation to generate, the model creates its cache itself"
            )
        state = cache.state if cache is not None and cache.state is not None else None
        if state is None:
            state = self.decoder.initial_state(regions)
        hidden, state, weights = self.decoder(decoder_input_ids, regions, state)
        if cache is not None:
            cache.update_state(state, decoder_input_ids.shape[1])
        logits = self.lm_head(self.dropout(hidden))

        loss = None
        if labels is not None:
            loss = _token_cross_entropy(logits, labels, num_items_in_batch)
            if weights is not None and self.config.doubly_stochastic > 0:
                loss = loss + self._doubly_stochastic(weights, labels, num_items_in_batch)
        output = Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            **{CACHE_FIELD: cache if use_cache else None},
            cross_attentions=(weights[:, None],) if output_attentions and weights is not None else None,
            encoder_last_hidden_state=regions,
        )
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()

    def _doubly_stochastic(self, weights, labels, num_items_in_batch):
        """λ·(1/L)·Σᵢ(1 − Σₜ αₜᵢ)², Σₜ over the caption's labelled words, averaged over the images. When Trainer
        counts the caption tokens of the whole optimizer step (`num_items_in_batch`, gradient accumulation),
        the average is weighted by this batch's share of them, so the accumulated steps add up to one mean."""
        labelled = (labels != -100).to(weights.dtype)
        coverage = (weights * labelled[..., None]).sum(dim=1)
        penalty = self.config.doubly_stochastic * ((1 - coverage) ** 2).mean()
        if num_items_in_batch is not None:
            penalty = penalty * labelled.sum() / torch.as_tensor(num_items_in_batch, device=penalty.device)
        return penalty


# Copied from hf_recipes.models.transformer.modeling_transformer.shift_tokens_right
def shift_tokens_right(labels: torch.Tensor, pad_token_id: int | None, decoder_start_token_id: int | None):
    """Teacher forcing: the decoder input at step t is the target token t-1, with `decoder_start_token_id` first.
    Ignored label positions (-100) become padding."""
    if decoder_start_token_id is None or pad_token_id is None:
        raise ValueError("config.decoder_start_token_id and config.pad_token_id must be set to shift labels")
    shifted = labels.new_full(labels.shape, decoder_start_token_id)
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == -100, pad_token_id)


# Copied from hf_recipes.models.rnn.modeling_rnn._decoder_start with HfrRNN->HfrCaptioning
def _decoder_start(config: HfrCaptioningConfig) -> int:
    start = (
        config.decoder_start_token_id if config.decoder_start_token_id is not None else config.bos_token_id
    )
    if start is None:
        raise ValueError(
            "set config.decoder_start_token_id (or bos_token_id): the token the decoder starts from"
        )
    return start


# Copied from hf_recipes.models.rnn.modeling_rnn._token_cross_entropy
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


# Copied from hf_recipes.models.gpt.modeling_gpt._wants_dict with HfrGPT->HfrCaptioning
def _wants_dict(return_dict: bool | None, config: HfrCaptioningConfig) -> bool:
    return config.return_dict if return_dict is None else return_dict


# Every head of the family and the Auto class that loads it. hf_recipes registers them from this table,
# and `save_pretrained` writes it into config.auto_map.
AUTO_MAP = {
    "AutoModel": "HfrCaptioningModel",
    "AutoModelForImageTextToText": "HfrCaptioningForConditionalGeneration",
}


# Copied from hf_recipes.models.gpt.modeling_gpt.full_auto_map with HfrGPT->HfrCaptioning
def full_auto_map() -> dict[str, str]:
    """config.auto_map entries for the config and every head, as `module.Class` next to the weights."""
    config_module = HfrCaptioningConfig.__module__.rsplit(".", 1)[-1]
    model_module = __name__.rsplit(".", 1)[-1]
    return {
        "AutoConfig": f"{config_module}.{HfrCaptioningConfig.__name__}",
        **{auto_class: f"{model_module}.{name}" for auto_class, name in AUTO_MAP.items()},
    }


__all__ = ["HfrCaptioningCache", "HfrCaptioningPreTrainedModel", *AUTO_MAP.values()]
