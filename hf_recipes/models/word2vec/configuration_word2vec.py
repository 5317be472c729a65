"""Configuration of the hf_recipes word2vec model (Mikolov et al., 2013).

This file is copied next to every saved checkpoint, so it imports nothing from hf_recipes: a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class HfrWord2VecConfig(PreTrainedConfig):
    r"""
    Configuration of word2vec: word vectors learnt by predicting the words around each word, with negative
    sampling. The defaults are word2vec's and gensim's (skip-gram, 100 dimensions, window 5, 5 negatives,
    subsampling threshold 1e-3).

    Args:
        vocab_size (`int`, defaults to 10000): words in the vocabulary (the tokenizer's, special tokens included;
            those are never trained).
        vector_size (`int`, defaults to 100): dimension of the word vectors.
        architecture (`"skipgram"` or `"cbow"`, defaults to `"skipgram"`): skip-gram predicts each context word
            from the center word; CBOW predicts the center word from its context words (their mean, or sum with
            `cbow_mean=False`).
        window (`int`, defaults to 5): the largest distance between a center word and a context word. Each
            center word draws its own window uniformly from 1 to `window` (word2vec's dynamic window: near words
            count more).
        negative (`int`, defaults to 5): noise words drawn per prediction (negative sampling).
        ns_exponent (`float`, defaults to 0.75): noise words are drawn from the unigram distribution raised to
            this power.
        sample (`float`, defaults to 1e-3): subsampling threshold t: a word of corpus frequency f is kept with
            probability (√(f/t) + 1)·t/f (word2vec's formula); 0 keeps every word.
        cbow_mean (`bool`, defaults to `True`): CBOW averages the context vectors (else sums them).
        sparse (`bool`, defaults to `True`): sparse gradients for the embedding tables: only the rows a step
            touches are updated (use an optimizer that takes sparse gradients: SGD, Adagrad, SparseAdam).
            Several CPU processes (DDP over gloo) reduce them as they are; several GPUs (NCCL) need False, which
            the pretraining job sets itself.
        initializer_range (`float`, *optional*): word vectors start uniform in ±0.5/vector_size (word2vec's
            init) when unset; the output vectors start at zero.

    Example:

    ```python
    >>> import hf_recipes  # registers "hfr_word2vec" with the AutoClasses
    >>> from transformers import AutoModel
    >>> model = AutoModel.from_config(HfrWord2VecConfig(vocab_size=5000, architecture="cbow"))
    ```
    """

    model_type = "hfr_word2vec"
    attribute_map = {"hidden_size": "vector_size"}

    vocab_size: int = 10000
    vector_size: int = 100
    architecture: Literal["skipgram", "cbow"] = "skipgram"
    window: int = 5
    negative: int = 5
    ns_exponent: float | int = 0.75
    sample: float | int = 1e-3
    cbow_mean: bool = True
    sparse: bool = True
    initializer_range: float | None = None
    pad_token_id: int | None = None
    unk_token_id: int | None = None

    def validate_architecture(self):
        """Called by `@strict` on construction: catch impossible settings before a model is built."""
        if self.window < 1 or self.negative < 1 or self.vector_size < 1:
            raise ValueError(
                f"window ({self.window}), negative ({self.negative}) and vector_size ({self.vector_size}) must "
                "be at least 1"
            )
        if self.sample < 0:
            raise ValueError(f"sample must be >= 0, got {self.sample}")


__all__ = ["HfrWord2VecConfig"]
