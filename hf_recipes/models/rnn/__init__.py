"""Recurrent family (RNN/LSTM/GRU): encoder-decoder with or without attention, language model, classifier."""

from . import modeling_rnn
from .configuration_rnn import HfrRNNConfig
from .modeling_rnn import (
    HfrRNNCache,
    HfrRNNForCausalLM,
    HfrRNNForConditionalGeneration,
    HfrRNNForSequenceClassification,
    HfrRNNModel,
    HfrRNNPreTrainedModel,
)

CONFIG_CLASS = HfrRNNConfig
MODELING = modeling_rnn
DESCRIPTION = "RNN/LSTM/GRU: seq2seq with or without attention (Sutskever/Bahdanau/Luong), LM, classifier"

__all__ = [
    "HfrRNNConfig",
    "HfrRNNCache",
    "HfrRNNModel",
    "HfrRNNPreTrainedModel",
    "HfrRNNForConditionalGeneration",
    "HfrRNNForCausalLM",
    "HfrRNNForSequenceClassification",
]
