"""Configuration of the hf_recipes FastText model (Bojanowski et al., 2017).

This file is copied next to every saved checkpoint, so it imports nothing from hf_recipes: a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class HfrFastTextConfig(PreTrainedConfig):
    r"""
    Configuration of FastText: word2vec whose input vector of a word is the mean of the word's own vector and
    the vectors of its character n-grams, hashed into buckets, so that a word never seen gets a vector from its
    n-grams. The defaults are fastText's and gensim's (skip-gram, 100 dimensions, window 5, 5 negatives,
    n-grams of 3 to 6 characters in 2,000,000 buckets).

    Args:
        vocab_size (`int`, defaults to 10000): words in the vocabulary (the tokenizer's; special tokens are never
            trained).
        vector_size (`int`, defaults to 100): dimension of the word and n-gram vectors.
        architecture (`"skipgram"` or `"cbow"`, defaults to `"skipgram"`): as in word2vec.
        window, negative, ns_exponent, sample, cbow_mean, max_row_updates: as in word2vec (`HfrWord2VecConfig`).
        min_n (`int`, defaults to 3), max_n (`int`, defaults to 6): the lengths of the character n-grams, taken
            from the word between the boundary marks `<` and `>` ("<where>" gives "<wh", "whe", ... "re>");
            max_n = 0 turns n-grams off (plain word2vec).
        bucket (`int`, defaults to 2000000): rows the n-grams are hashed into (fastText's FNV-1a hash).
        korean_jamo (`bool`, defaults to `False`): take the n-grams of Korean words from their jamo, each Hangul
            syllable decomposed into its initial, medial and final letters (an empty final written `∅`), as Park
            et al. 2018 found best for Korean; the syllables alone give n-grams of whole syllables.
        max_subwords (`int`, defaults to 1): the longest list of rows (the word and its n-grams) of a vocabulary
            word; set by `set_vocabulary`.
        sparse (`bool`, defaults to `True`): sparse gradients for the embedding tables (see word2vec).
        initializer_range (`float`, *optional*): input vectors start uniform in ±1/vector_size when unset.
    """

    model_type = "hfr_fasttext"
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
    min_n: int = 3
    max_n: int = 6
    bucket: int = 2000000
    korean_jamo: bool = False
    max_subwords: int = 1
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
        if self.max_n and not 1 <= self.min_n <= self.max_n:
            raise ValueError(f"expected 1 <= min_n <= max_n, got min_n={self.min_n}, max_n={self.max_n}")
        if self.bucket < 1:
            raise ValueError(f"bucket must be at least 1, got {self.bucket}")


__all__ = ["HfrFastTextConfig"]
