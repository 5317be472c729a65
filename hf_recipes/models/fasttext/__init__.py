"""FastText (Bojanowski et al. 2017): word2vec over words and their character n-grams; vectors for unseen words."""

from . import modeling_fasttext
from .configuration_fasttext import HfrFastTextConfig
from .modeling_fasttext import HfrFastTextModel, HfrFastTextPreTrainedModel

CONFIG_CLASS = HfrFastTextConfig
MODELING = modeling_fasttext
DESCRIPTION = "FastText (Bojanowski et al. 2017): word2vec over character n-grams, vectors for unseen words"
TOKENIZER = "word"  # the kind `--model scratch:<type>` trains on the task (hf_recipes.data.tokenization)

SIZES = {
    "tiny": dict(vector_size=16, window=2, negative=2, bucket=1000),
    "small": dict(vector_size=100, bucket=200000),
    "base": dict(vector_size=300),  # fastText's released vectors: 300 dimensions, 2M buckets
}

__all__ = ["HfrFastTextConfig", "HfrFastTextModel", "HfrFastTextPreTrainedModel"]
