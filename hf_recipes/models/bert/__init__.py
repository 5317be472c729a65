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
