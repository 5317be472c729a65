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

__all__ = [
    "HfrGPTConfig",
    "HfrGPTModel",
    "HfrGPTPreTrainedModel",
    "HfrGPTForCausalLM",
    "HfrGPTForSequenceClassification",
]
