"""BERT-style encoder: MLM + NSP pretraining, classification, token classification and QA heads."""

from . import modeling_bert
from .configuration_bert import HfrBertConfig
from .modeling_bert import (
    HfrBertForMaskedLM,
    HfrBertForNextSentencePrediction,
    HfrBertForPreTraining,
    HfrBertForQuestionAnswering,
    HfrBertForSequenceClassification,
    HfrBertForTokenClassification,
    HfrBertModel,
    HfrBertPreTrainedModel,
)

CONFIG_CLASS = HfrBertConfig
MODELING = modeling_bert
DESCRIPTION = "BERT-style bidirectional encoder (Devlin et al. 2019): MLM + NSP pretraining"
TOKENIZER = "wordpiece"  # the kind `--model scratch:<type>` trains on the task (hf_recipes.data.tokenization)


def _size(layers: int, hidden: int, heads: int) -> dict:
    return dict(
        num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads, intermediate_size=4 * hidden
    )


# BERT-base/large from the paper; the smaller ones are the compact BERTs of Turc et al. 2019
# ("Well-Read Students Learn Better"), released alongside google-research/bert.
SIZES = {
    "tiny": _size(2, 128, 2),
    "mini": _size(4, 256, 4),
    "small": _size(4, 512, 8),
    "medium": _size(8, 512, 8),
    "base": _size(12, 768, 12),
    "large": _size(24, 1024, 16),
}

__all__ = [
    "HfrBertConfig",
    "HfrBertModel",
    "HfrBertPreTrainedModel",
    "HfrBertForPreTraining",
    "HfrBertForMaskedLM",
    "HfrBertForNextSentencePrediction",
    "HfrBertForSequenceClassification",
    "HfrBertForTokenClassification",
    "HfrBertForQuestionAnswering",
]
