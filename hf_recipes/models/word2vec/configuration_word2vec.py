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
        max_row_updates (`int`, *optional*): skip-gram only. In one step, an output vector that is the target
            of more than this many predictions moves by the mean of their updates times this number instead of
            their sum. word2vec.c updates one prediction at a time; a step over a block of thousands of words
            adds up the updates of the most frequent words, all computed from the same vector, and from some
            block size on that overshoots and training diverges. A cap (32 is a good value) lets blocks several
            times larger train as well as small ones. Unset: the exact gradient of the summed loss.
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
    max_row_updates: int | None = None
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
        if self.max_row_updates is not None and self.max_row_updates < 1:
            raise ValueError(f"max_row_updates must be at least 1 (or unset), got {self.max_row_updates}")
        if self.sample < 0:
            raise ValueError(f"sample must be >= 0, got {self.sample}")


__all__ = ["HfrWord2VecConfig"]
