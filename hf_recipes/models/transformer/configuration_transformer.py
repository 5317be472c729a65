"""Configuration of the hf_recipes Transformer encoder-decoder (Vaswani et al., 2017).

This file is copied next to every saved checkpoint, so it imports nothing from hf_recipes: a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class HfrTransformerConfig(PreTrainedConfig):
    r"""
    Configuration of the original Transformer encoder-decoder; the defaults are the paper's base model with a
    joint 37k BPE vocabulary, as for WMT'14 English-German (63M parameters; the paper's Table 3 says 65M).

    Field names follow transformers' Marian and BART, so code written for those configs reads this one.

    Args:
        vocab_size (`int`, defaults to 37000): the target vocabulary: decoder input embeddings and the output
            projection (what `generate` scores). Also the source vocabulary unless `encoder_vocab_size` is set.
        encoder_vocab_size (`int`, *optional*): the source vocabulary (encoder embeddings) when source and target
            use separate tokenizers; `vocab_size` when unset. Must equal `vocab_size` with `share_embeddings`.
        d_model (`int`, defaults to 512): width of every layer, the embeddings and the positional encodings.
        encoder_layers (`int`, defaults to 6): number of encoder layers (N in the paper).
        decoder_layers (`int`, defaults to 6): number of decoder layers.
        encoder_attention_heads (`int`, defaults to 8): heads of each encoder self-attention (h); divides `d_model`.
        decoder_attention_heads (`int`, defaults to 8): heads of each decoder self- and cross-attention.
        encoder_ffn_dim (`int`, defaults to 2048): inner width of the encoder feed-forward layers (d_ff).
        decoder_ffn_dim (`int`, defaults to 2048): inner width of the decoder feed-forward layers.
        activation_function (`str`, defaults to `"relu"`): feed-forward activation, a key of
            `transformers.activations.ACT2FN` (the paper's FFN is `max(0, x·W1 + b1)·W2 + b2`).
        dropout (`float`, defaults to 0.1): P_drop of the paper: on every sub-layer output before the residual sum,
            and on the sums of embeddings and positional encodings.
        attention_dropout (`float`, defaults to 0.0): dropout on the attention probabilities (not in the paper;
            tensor2tensor's `attention_dropout`).
        activation_dropout (`float`, defaults to 0.0): dropout after the feed-forward activation (not in the paper;
            tensor2tensor's `relu_dropout`).
        max_position_embeddings (`int`, defaults to 1024): longest source or target sequence; the length of the
            precomputed sinusoidal table (it has no weights, so it can be raised on a trained model).
        layer_norm_position (`"post"` or `"pre"`, defaults to `"post"`): `"post"` is the paper
            (`LayerNorm(x + Dropout(f(x)))`); `"pre"` is `x + Dropout(f(LayerNorm(x)))` with a final LayerNorm after
            the last encoder and decoder layer (tensor2tensor v2, fairseq `--*-normalize-before`), which trains
            stably without learning-rate warmup.
        layer_norm_eps (`float`, defaults to 1e-5): LayerNorm epsilon.
        share_embeddings (`bool`, defaults to `True`): one matrix for source embeddings, target embeddings and the
            output projection (section 3.4 of the paper; needs a joint vocabulary and `tie_word_embeddings=True`).
        tie_word_embeddings (`bool`, defaults to `True`): the output projection is the transpose of the target
            embedding matrix.
        label_smoothing (`float`, defaults to 0.1): ε_ls of the training loss: cross-entropy against
            `(1 - ε)·one_hot + ε / vocab_size` (section 5.4). Use this, not `TrainingArguments.label_smoothing_factor`,
            so that the loss the model returns is the loss that is trained.
        use_cache (`bool`, defaults to `True`): return the decoder's key/value cache (`generate` decodes
            incrementally with it).
        pad_token_id (`int`, defaults to 0): padding, masked out of attention; its embedding row starts at zero.
        bos_token_id (`int`, defaults to 1): beginning of sequence.
        eos_token_id (`int`, defaults to 2): end of sequence; `generate` stops on it.
        decoder_start_token_id (`int`, defaults to 1): the first decoder input, before the first target token;
            `labels` are shifted right behind it to make `decoder_input_ids`. Set these ids from the tokenizer.

    Example:

    ```python
    >>> import hf_recipes  # registers "hfr_transformer" with the AutoClasses
    >>> from transformers import AutoModelForSeq2SeqLM
    >>> config = HfrTransformerConfig(
    ...     vocab_size=8000, d_model=256, encoder_layers=3, decoder_layers=3, encoder_attention_heads=8,
    ...     decoder_attention_heads=8, encoder_ffn_dim=512, decoder_ffn_dim=512, max_position_embeddings=256,
    ... )
    >>> model = AutoModelForSeq2SeqLM.from_config(config)
    ```
    """

    model_type = "hfr_transformer"
    keys_to_ignore_at_inference = ["cache", "past_key_values"]
    # The generic names report the encoder; `config.get_text_config(decoder=True)` maps decoder_* onto them,
    # which is how the generation cache learns the decoder's depth.
    attribute_map = {
        "hidden_size": "d_model",
        "num_hidden_layers": "encoder_layers",
        "num_attention_heads": "encoder_attention_heads",
    }

    vocab_size: int = 37000
    encoder_vocab_size: int | None = None
    d_model: int = 512
    encoder_layers: int = 6
    decoder_layers: int = 6
    encoder_attention_heads: int = 8
    decoder_attention_heads: int = 8
    encoder_ffn_dim: int = 2048
    decoder_ffn_dim: int = 2048
    activation_function: str = "relu"
    dropout: float | int = 0.1
    attention_dropout: float | int = 0.0
    activation_dropout: float | int = 0.0
    max_position_embeddings: int = 1024
    layer_norm_position: Literal["post", "pre"] = "post"
    layer_norm_eps: float = 1e-5
    share_embeddings: bool = True
    tie_word_embeddings: bool = True
    label_smoothing: float | int = 0.1
    use_cache: bool = True
    is_encoder_decoder: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2
    decoder_start_token_id: int | None = 1

    def __post_init__(self, **kwargs):
        # Resolved here so that the saved config states both vocabularies explicitly.
        if self.encoder_vocab_size is None:
            self.encoder_vocab_size = self.vocab_size
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Called by `@strict` on construction: catch impossible shapes before a model is built."""
        for heads in ("encoder_attention_heads", "decoder_attention_heads"):
            if self.d_model % getattr(self, heads) != 0:
                raise ValueError(
                    f"d_model ({self.d_model}) must be a multiple of {heads} ({getattr(self, heads)})"
                )
        if self.d_model % 2 != 0:
            raise ValueError(
                f"d_model ({self.d_model}) must be even: the positional encoding pairs sin and cos"
            )
        if self.share_embeddings and self.encoder_vocab_size not in (None, self.vocab_size):
            raise ValueError(
                f"share_embeddings needs one joint vocabulary, but encoder_vocab_size ({self.encoder_vocab_size}) "
                f"!= vocab_size ({self.vocab_size}); set share_embeddings=False for separate vocabularies"
            )
        # transformers ties weights only where config.tie_word_embeddings is set, so sharing the source and target
        # embeddings cannot be had without the tied output projection: ask for the supported combination.
        if self.share_embeddings and not self.tie_word_embeddings:
            raise ValueError(
                "share_embeddings=True shares one matrix between source embeddings, target embeddings and the output "
                "projection (the paper's three-way sharing) and needs tie_word_embeddings=True; for separate source "
                "and target embeddings set share_embeddings=False"
            )
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")


__all__ = ["HfrTransformerConfig"]
