"""Configuration of the hf_recipes BERT encoder (Devlin et al., 2019).

This file is copied next to every saved checkpoint, so it imports nothing from hf_recipes: a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class HfrBertConfig(PreTrainedConfig):
    r"""
    Configuration of a BERT-style bidirectional Transformer encoder; the defaults are BERT-base.

    Args:
        vocab_size (`int`, defaults to 30522): size of the WordPiece vocabulary.
        hidden_size (`int`, defaults to 768): width of the encoder layers and the pooler (H in the paper).
        num_hidden_layers (`int`, defaults to 12): number of encoder layers (L).
        num_attention_heads (`int`, defaults to 12): attention heads per layer (A); must divide `hidden_size`.
        intermediate_size (`int`, defaults to 3072): width of the feed-forward layer (4H in the paper).
        hidden_act (`str`, defaults to `"gelu"`): feed-forward and MLM-transform activation, a key of
            `transformers.activations.ACT2FN`.
        hidden_dropout_prob (`float`, defaults to 0.1): dropout on embeddings and every residual branch.
        attention_probs_dropout_prob (`float`, defaults to 0.1): dropout on the attention probabilities.
        max_position_embeddings (`int`, defaults to 512): longest sequence the learned positions cover.
        type_vocab_size (`int`, defaults to 2): number of segment (token type) ids; 2 for sentence A/B.
        initializer_range (`float`, defaults to 0.02): std of the truncated-normal-like weight init.
        layer_norm_eps (`float`, defaults to 1e-12): LayerNorm epsilon.
        pad_token_id (`int`, defaults to 0): id of [PAD]; its embedding row starts at zero.
        classifier_dropout (`float`, *optional*): dropout before classification heads; defaults to
            `hidden_dropout_prob`.
        tie_word_embeddings (`bool`, defaults to `True`): share the MLM decoder weight with the input embeddings.
        sparse_prediction (`bool`, defaults to `False`): while training with masked-LM labels, run the MLM head
            only at the masked positions (Geiping & Goldstein 2023, "Cramming"): the same loss, a fraction of
            the head's compute (the vocabulary projection is a third of a small BERT's step), and
            `prediction_logits`/`logits` are then `None`. Evaluation (`model.eval()`) always returns every logit.
        layer_norm_position (`"post"` or `"pre"`, defaults to `"post"`): `"post"` is the paper
            (`LayerNorm(x + Dropout(f(x)))`); `"pre"` is `x + Dropout(f(LayerNorm(x)))` with one LayerNorm after the
            last layer (Xiong et al. 2020; transformers' RoBERTa-PreLayerNorm, Cramming), whose gradients reach the
            lower layers undiminished (deep stacks, larger learning rates).

    Example:

    ```python
    >>> import hf_recipes  # registers "hfr_bert" with the AutoClasses
    >>> from transformers import AutoModelForPreTraining
    >>> config = HfrBertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
    >>> model = AutoModelForPreTraining.from_config(config)
    ```
    """

    model_type = "hfr_bert"

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float | int = 0.1
    attention_probs_dropout_prob: float | int = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    classifier_dropout: float | int | None = None
    tie_word_embeddings: bool = True
    sparse_prediction: bool = False
    layer_norm_position: Literal["post", "pre"] = "post"

    def validate_architecture(self):
        """Called by `@strict` on construction: catch impossible shapes before a model is built."""
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})"
            )


__all__ = ["HfrBertConfig"]
