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
TOKENIZER = "bpe"  # the kind `--model scratch:<type>` trains on the task (hf_recipes.data.tokenization)


def _size(layers: int, embedding: int, hidden: int) -> dict:
    return dict(num_hidden_layers=layers, embedding_size=embedding, hidden_size=hidden)


# Widths only; the cell, the attention and the direction are choices of the recipe (model.config). small is
# the one-layer GRU encoder-decoder of bentrevett/pytorch-seq2seq (embeddings 256, states 512), medium two such
# layers, large the four layers of 1000 units of Sutskever et al. 2014 and Luong et al. 2015.
SIZES = {
    "tiny": _size(1, 32, 64),
    "small": _size(1, 256, 512),
    "medium": _size(2, 256, 512),
    "large": _size(4, 1000, 1000),
}

__all__ = [
    "HfrRNNConfig",
    "HfrRNNCache",
    "HfrRNNModel",
    "HfrRNNPreTrainedModel",
    "HfrRNNForConditionalGeneration",
    "HfrRNNForCausalLM",
    "HfrRNNForSequenceClassification",
]
