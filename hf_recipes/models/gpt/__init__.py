"""GPT-style causal decoder: language modelling with `generate`, and GPT-1 style classification."""

from . import modeling_gpt
from .configuration_gpt import HfrGPTConfig
from .modeling_gpt import (
    HfrGPTForCausalLM,
    HfrGPTForSequenceClassification,
    HfrGPTModel,
    HfrGPTPreTrainedModel,
)

CONFIG_CLASS = HfrGPTConfig
MODELING = modeling_gpt
DESCRIPTION = "GPT-style causal decoder (Radford et al. 2018/2019): pre-LN (GPT-2) or post-LN (GPT-1)"
TOKENIZER = "bpe"  # the kind `--model scratch:<type>` trains on the task (hf_recipes.data.tokenization)


def _size(layers: int, width: int, heads: int, **extra) -> dict:
    return dict(n_layer=layers, n_embd=width, n_head=heads, **extra)


# The small ones follow minGPT's names; gpt1 is GPT-1 (post-LN, 512 positions, GELU), gpt2* are GPT-2's sizes.
SIZES = {
    "nano": _size(3, 48, 3),
    "micro": _size(4, 128, 4),
    "mini": _size(6, 192, 6),
    "gopher-44m": _size(8, 512, 16),
    "gpt1": _size(12, 768, 12, n_positions=512, layer_norm_position="post", activation_function="gelu"),
    "gpt2": _size(12, 768, 12),
    "gpt2-medium": _size(24, 1024, 16),
    "gpt2-large": _size(36, 1280, 20),
    "gpt2-xl": _size(48, 1600, 25),
}

__all__ = [
    "HfrGPTConfig",
    "HfrGPTModel",
    "HfrGPTPreTrainedModel",
    "HfrGPTForCausalLM",
    "HfrGPTForSequenceClassification",
]
