"""Configuration of the hf_recipes GloVe model (Pennington et al., 2014).

This file is copied next to every saved checkpoint, so it imports nothing from hf_recipes: a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class HfrGloVeConfig(PreTrainedConfig):
    r"""
    Configuration of GloVe: word vectors w and context vectors w̃ with biases, fitted to the logarithm of the
    co-occurrence counts by weighted least squares. The defaults are GloVe's (x_max 100, α 3/4).

    Args:
        vocab_size (`int`, defaults to 10000): words in the vocabulary (the tokenizer's).
        vector_size (`int`, defaults to 100): dimension of the vectors.
        x_max (`float`, defaults to 100): counts from x_max on weigh fully; below, f(x) = (x / x_max)^alpha.
        alpha (`float`, defaults to 0.75): the exponent of the weighting function.
        sparse (`bool`, defaults to `True`): sparse gradients (only the rows a step touches are updated: use
            Adagrad, GloVe's optimizer, or SGD). Several GPUs (NCCL) need False, which the pretraining job sets.
        initializer_range (`float`, *optional*): vectors and biases start uniform in ±0.5/vector_size (GloVe's
            init) when unset.
    """

    model_type = "hfr_glove"
    attribute_map = {"hidden_size": "vector_size"}

    vocab_size: int = 10000
    vector_size: int = 100
    x_max: float | int = 100.0
    alpha: float | int = 0.75
    sparse: bool = True
    initializer_range: float | None = None
    pad_token_id: int | None = None
    unk_token_id: int | None = None

    def validate_architecture(self):
        if self.x_max <= 0 or self.vector_size < 1:
            raise ValueError(
                f"x_max ({self.x_max}) must be positive and vector_size ({self.vector_size}) >= 1"
            )


__all__ = ["HfrGloVeConfig"]
