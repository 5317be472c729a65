"""Configuration of the hf_recipes image captioner: a CNN encoder and a recurrent decoder with soft attention.

This file is copied next to every saved checkpoint, so it imports nothing from hf_recipes: a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class HfrCaptioningConfig(PreTrainedConfig):
    r"""
    Configuration of the image captioner of Xu et al. 2015 ("Show, Attend and Tell"): a convolutional encoder
    turns an image into a grid of region features, and an LSTM (or GRU) decoder writes the caption one word at
    a time, attending to the regions. The defaults are a small model for 64×64 images, trained from scratch.

    Args:
        vocab_size (`int`, defaults to 1000): the caption vocabulary.
        image_size (`int`, defaults to 64): height and width of the (square) input images.
        num_channels (`int`, defaults to 3): colour channels of the input images.
        encoder_channels (`list[int]`, defaults to `[32, 64, 128]`): the CNN, stage by stage: each stage is two
            3×3 convolutions with batch norm and ReLU, the stages after the first begin by halving the
            resolution (64×64 images: 64, 32, 16 pixels a side). The last stage's width is the width of a region
            feature.
        region_grid (`int`, defaults to 8): the feature map is average-pooled to `region_grid × region_grid`
            regions, what the decoder attends to (the paper: 14×14 of a VGG; here 8×8 = 64 regions).
        backbone_config (`dict` or `PreTrainedConfig`, *optional*): a transformers vision backbone in place of the
            small CNN (`encoder_channels` is then unused): the config of any model `AutoBackbone` builds, e.g.
            `ResNetConfig()` or `AutoConfig.from_pretrained("microsoft/resnet-50")`; its last stage's feature
            map gives the regions. Stored as a dict. The model starts it with random weights;
            `model.load_pretrained_backbone(name_or_path)` copies in a pretrained checkpoint's (saved with the
            captioner from then on, so a reload needs no network).
        freeze_encoder (`bool`, defaults to `False`): keep the encoder fixed during training (its weights and
            its batch-norm statistics: it stays in evaluation mode), as with a pretrained backbone whose
            features are used as they are; only the decoder learns.
        cell (`"lstm"` or `"gru"`, defaults to `"lstm"`): the decoder's recurrent cell (one layer, as the paper's).
        embedding_size (`int`, defaults to 128): width of the word embeddings.
        hidden_size (`int`, defaults to 256): width of the decoder state.
        attention (`"soft"` or `"none"`, defaults to `"soft"`): how the decoder sees the image.
            - `"soft"`: Xu et al.'s deterministic soft attention: at every step the previous state scores each
              region, eₜᵢ = vᵀ·tanh(W·hₜ₋₁ + U·aᵢ), αₜ = softmax(eₜ), and the context ẑₜ = Σᵢ αₜᵢ·aᵢ is part of
              the step's input.
            - `"none"`: the image is seen once: the mean region feature initialises the state (Vinyals et al.
              2015, "Show and Tell"), the baseline that shows what attention is worth.
        attention_size (`int`, defaults to 256): width of the attention's hidden layer.
        gate (`bool`, defaults to `True`): the paper's gating scalar β = σ(f_β(hₜ₋₁)) on the context, here one
            gate per feature (as most implementations), so the decoder can turn the image down for words such
            as "a" and "the".
        doubly_stochastic (`float`, defaults to 1.0): the weight λ of the paper's doubly stochastic attention
            regulariser, which asks a caption to spread its attention over the regions rather than stare at
            one: λ·(1/L)·Σᵢ(1 − Σₜ αₜᵢ)², the paper's sum over the L regions taken as a mean (as the common
            PyTorch implementations do), so that λ means the same at any region_grid: a caption of a few words
            over 64 regions cannot look at each once, and the summed term would outweigh the caption's own
            loss. 0 turns it off. Averaged over the images of a batch and added to the loss.
        dropout (`float`, defaults to 0.3): dropout on the word embeddings and before the output layer.
        tie_word_embeddings (`bool`, defaults to `False`): the output layer shares the word embedding matrix;
            needs `embedding_size == hidden_size`.
        freeze_embeddings (`bool`, defaults to `False`): keep the word embeddings fixed during training, e.g.
            after `model.load_pretrained_embeddings(matrix)` from GloVe or word2vec vectors.
        initializer_range (`float`, defaults to 0.1): std of the normal init of the word embeddings.
        use_cache (`bool`, defaults to `True`): `generate` carries the decoder state from step to step.
        pad_token_id, bos_token_id, eos_token_id, decoder_start_token_id: the tokenizer's special tokens; the
            decoder starts from `decoder_start_token_id` (`bos_token_id` when unset).
    """

    model_type = "hfr_captioning"

    vocab_size: int = 1000
    image_size: int = 64
    num_channels: int = 3
    encoder_channels: list[int] | None = None  # None: [32, 64, 128]
    region_grid: int = 8
    backbone_config: dict | PreTrainedConfig | None = None
    freeze_encoder: bool = False
    cell: Literal["lstm", "gru"] = "lstm"
    embedding_size: int = 128
    hidden_size: int = 256
    attention: Literal["soft", "none"] = "soft"
    attention_size: int = 256
    gate: bool = True
    doubly_stochastic: float = 1.0
    dropout: float = 0.3
    tie_word_embeddings: bool = False
    freeze_embeddings: bool = False
    initializer_range: float = 0.1
    use_cache: bool = True
    is_encoder_decoder: bool = True
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    decoder_start_token_id: int | None = None

    def __post_init__(self, **kwargs):
        if self.encoder_channels is None:
            self.encoder_channels = [32, 64, 128]
        if isinstance(self.backbone_config, PreTrainedConfig):
            self.backbone_config = self.backbone_config.to_dict()
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Part of `@strict` validation."""
        if self.backbone_config is not None:
            if "model_type" not in self.backbone_config:
                raise ValueError(
                    "backbone_config must name its model_type (e.g. 'resnet'), as a config's to_dict()"
                )
            if self.region_grid < 1:
                raise ValueError(f"region_grid must be at least 1, got {self.region_grid}")
        elif not self.encoder_channels or min(self.encoder_channels) < 1:
            raise ValueError(f"encoder_channels must be positive widths, got {self.encoder_channels}")
        smallest = self.image_size // 2 ** (len(self.encoder_channels) - 1)
        if self.backbone_config is None and not 1 <= self.region_grid <= smallest:
            raise ValueError(
                f"region_grid={self.region_grid}: the last stage's map is {smallest}×{smallest} pixels for "
                f"image_size={self.image_size} and {len(self.encoder_channels)} stages; choose 1..{smallest}"
            )
        if self.tie_word_embeddings and self.embedding_size != self.hidden_size:
            raise ValueError(
                f"tie_word_embeddings needs embedding_size == hidden_size, got {self.embedding_size} and "
                f"{self.hidden_size}"
            )

    @property
    def encoder_hidden_size(self) -> int | None:
        """Width of a region feature: the small CNN's last stage's channels. With a backbone, its last feature
        map's channels, which the model reads from the backbone it builds (None here)."""
        return None if self.backbone_config is not None else self.encoder_channels[-1]


__all__ = ["HfrCaptioningConfig"]
