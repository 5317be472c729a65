"""The original Transformer encoder-decoder (Vaswani et al. 2017): translation and other seq2seq tasks."""

from . import modeling_transformer
from .configuration_transformer import HfrTransformerConfig
from .modeling_transformer import (
    HfrTransformerForConditionalGeneration,
    HfrTransformerModel,
    HfrTransformerPreTrainedModel,
)

CONFIG_CLASS = HfrTransformerConfig
MODELING = modeling_transformer
DESCRIPTION = (
    "Transformer encoder-decoder (Vaswani et al. 2017): sinusoidal positions, post-LN (pre-LN switch)"
)

__all__ = [
    "HfrTransformerConfig",
    "HfrTransformerModel",
    "HfrTransformerPreTrainedModel",
    "HfrTransformerForConditionalGeneration",
]
