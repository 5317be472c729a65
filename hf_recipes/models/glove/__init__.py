"""GloVe (Pennington et al. 2014): word vectors fitted to log co-occurrence counts by weighted least squares."""

from . import modeling_glove
from .configuration_glove import HfrGloVeConfig
from .modeling_glove import HfrGloVeModel, HfrGloVePreTrainedModel

CONFIG_CLASS = HfrGloVeConfig
MODELING = modeling_glove
DESCRIPTION = (
    "GloVe (Pennington et al. 2014): vectors fitted to log co-occurrence counts, weighted least squares"
)
TOKENIZER = "word"  # the kind `--model scratch:<type>` trains on the task (hf_recipes.data.tokenization)

SIZES = {
    "tiny": dict(vector_size=16, x_max=10.0),
    "small": dict(vector_size=100),
    "base": dict(vector_size=300),  # the released GloVe vectors' largest size
}

__all__ = ["HfrGloVeConfig", "HfrGloVeModel", "HfrGloVePreTrainedModel"]
