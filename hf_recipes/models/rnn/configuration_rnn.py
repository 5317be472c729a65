"""Configuration of the hf_recipes recurrent family: RNN/LSTM/GRU encoder-decoders, LMs, classifiers.

This file is copied next to every saved checkpoint, so it imports nothing from hf_recipes: a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class HfrRNNConfig(PreTrainedConfig):
    r"""
    Configuration of the recurrent models: one config for the encoder-decoder (translation), the language
    model and the classifier. The defaults are a 2-layer LSTM encoder-decoder with Luong "general" attention.

    Args:
        vocab_size (`int`, defaults to 10000): vocabulary of the encoder: the source language of a translation
            model, the tokens of a language model or a classifier.
        target_vocab_size (`int`, *optional*): vocabulary of the decoder of the encoder-decoder; `vocab_size`
            when unset (one joint vocabulary).
        cell (`"lstm"`, `"gru"` or `"rnn"`, defaults to `"lstm"`): recurrent cell of every layer (Hochreiter &
            Schmidhuber 1997; Cho et al. 2014; the Elman RNN with tanh).
        embedding_size (`int`, defaults to 256): width of the token embeddings (source and target).
        hidden_size (`int`, defaults to 512): width of the decoder state and of every encoder output. A
            bidirectional encoder gives each direction `hidden_size // 2` units and concatenates the two, so
            its outputs and final states have `hidden_size` units too and a decoder can start from them as
            they are.
        num_hidden_layers (`int`, defaults to 2): stacked recurrent layers, in the encoder and in the decoder.
        dropout (`float`, defaults to 0.2): dropout on the non-recurrent connections (Zaremba et al. 2014): on
            the embeddings, between stacked layers and before the output projection; never on the recurrent
            state.
        bidirectional (`bool`, defaults to `False`): the encoder reads the input in both directions
            (encoder-decoder, classifier, base model; a language model must be unidirectional).
        attention (`"none"`, `"dot"`, `"general"` or `"additive"`, defaults to `"general"`): how the decoder
            reads the source.
            - `"none"`: the fixed context-vector bottleneck (Sutskever et al. 2014; Cho et al. 2014): the
              decoder starts from the encoder's final state and sees nothing else of the source.
            - `"dot"`, `"general"`: Luong et al. 2015 global attention, score hₜ·h̄ₛ and hₜ·W·h̄ₛ; the decoder
              state hₜ is computed first, then attends; the output is h̃ₜ = tanh(W_c[cₜ; hₜ]).
            - `"additive"`: Bahdanau et al. 2015, score vᵀtanh(W·sₜ₋₁ + U·h̄ₛ): the *previous* state attends
              and the context cₜ is part of the RNN input of step t; the output is h̃ₜ = tanh(W_c[cₜ; sₜ]).
        input_feeding (`bool`, defaults to `False`): Luong's input feeding: the previous output h̃ₜ₋₁ is
            concatenated to the next input embedding, so the decoder knows what it attended to before. Needs
            attention. Decoding then runs step by step in training too (slower than the parallel Luong path).
        bridge (`"copy"`, `"dense"` or `"zero"`, defaults to `"copy"`): how the decoder's initial state is
            made from the encoder's final state, layer by layer. `"copy"`: as it is (Sutskever; for a
            bidirectional encoder the forward and backward final states concatenated). `"dense"`:
            tanh(W·h + b), learned (Bahdanau's s₀ = tanh(W·h←₁), here over both directions). `"zero"`: the
            decoder starts from zeros and sees the source through attention only.
        tie_word_embeddings (`bool`, defaults to `False`): the output projection shares the (target) embedding
            matrix (Press & Wolf 2017); needs `embedding_size == hidden_size`.
        freeze_embeddings (`bool`, defaults to `False`): keep the encoder's input embeddings fixed during
            training, e.g. after loading pretrained word vectors with
            `model.load_pretrained_embeddings(matrix)` (the "feature-based" approach). With
            `tie_word_embeddings` the language model's output projection, the same matrix, stays fixed too.
        initializer_range (`float`, defaults to 0.1): std of the normal init of the embeddings, about the ±0.1
            uniform of Luong et al. (linear and recurrent layers get fan-scaled inits, see
            `HfrRNNPreTrainedModel._init_weights`). Transformers' 0.02 starts a recurrent model too quietly:
            the reverse task of tests/models/test_rnn.py needed more steps to learn.
        classifier_dropout (`float`, *optional*): dropout before the classification head (else `dropout`).

    Example:

    ```python
    >>> import hf_recipes  # registers "hfr_rnn" with the AutoClasses
    >>> from transformers import AutoModelForSeq2SeqLM
    >>> config = HfrRNNConfig(vocab_size=8000, target_vocab_size=6000, cell="gru", bidirectional=True,
    ...                       attention="additive", bridge="dense", num_hidden_layers=1)
    >>> model = AutoModelForSeq2SeqLM.from_config(config)
    ```
    """

    model_type = "hfr_rnn"
    keys_to_ignore_at_inference = ["cache", "past_key_values"]

    vocab_size: int = 10000
    target_vocab_size: int | None = None
    cell: Literal["lstm", "gru", "rnn"] = "lstm"
    embedding_size: int = 256
    hidden_size: int = 512
    num_hidden_layers: int = 2
    dropout: float | int = 0.2
    bidirectional: bool = False
    attention: Literal["none", "dot", "general", "additive"] = "general"
    input_feeding: bool = False
    bridge: Literal["copy", "dense", "zero"] = "copy"
    tie_word_embeddings: bool = False
    freeze_embeddings: bool = False
    initializer_range: float = 0.1
    classifier_dropout: float | int | None = None
    use_cache: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2
    decoder_start_token_id: int | None = None

    @property
    def decoder_vocab_size(self) -> int:
        """Vocabulary of the decoder of the encoder-decoder (`target_vocab_size`, else `vocab_size`)."""
        return self.vocab_size if self.target_vocab_size is None else self.target_vocab_size

    def validate_architecture(self):
        """Called by `@strict` on construction: catch impossible combinations before a model is built."""
        if self.bidirectional and self.hidden_size % 2:
            raise ValueError(
                f"a bidirectional encoder splits hidden_size ({self.hidden_size}) between its two "
                "directions: use an even hidden_size"
            )
        if self.tie_word_embeddings and self.embedding_size != self.hidden_size:
            raise ValueError(
                f"tie_word_embeddings needs embedding_size == hidden_size (got {self.embedding_size} and "
                f"{self.hidden_size}): the output projection reads hidden_size units and shares the "
                "embedding matrix"
            )
        if self.input_feeding and self.attention == "none":
            raise ValueError("input_feeding feeds back the attentional output: it needs attention != 'none'")
        if self.attention == "none" and self.bridge == "zero":
            raise ValueError(
                "attention='none' with bridge='zero' leaves the decoder blind to the source: use "
                "bridge='copy' or 'dense', or an attention"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


__all__ = ["HfrRNNConfig"]
