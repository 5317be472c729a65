"""word2vec (Mikolov et al. 2013): skip-gram and CBOW word vectors with negative sampling and subsampling."""

from . import modeling_word2vec
from .configuration_word2vec import HfrWord2VecConfig
from .modeling_word2vec import HfrWord2VecModel, HfrWord2VecPreTrainedModel

CONFIG_CLASS = HfrWord2VecConfig
MODELING = modeling_word2vec
DESCRIPTION = "word2vec (Mikolov et al. 2013): skip-gram / CBOW word vectors, negative sampling, subsampling"
TOKENIZER = "word"  # the kind `--model scratch:<type>` trains on the task (hf_recipes.data.tokenization)

# Vector sizes: 100 is word2vec's and gensim's default, 300 the GoogleNews vectors'.
SIZES = {
    "tiny": dict(vector_size=16, window=2, negative=2),
    "small": dict(vector_size=100),
    "base": dict(vector_size=300),
}

__all__ = ["HfrWord2VecConfig", "HfrWord2VecModel", "HfrWord2VecPreTrainedModel"]
