"""Configuration of the hf_recipes GPT decoder (Radford et al., 2018 and 2019).

This file is copied next to every saved checkpoint, so it imports nothing from hf_recipes: a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class HfrGPTConfig(PreTrainedConfig):
    r"""
    Configuration of a GPT-style causal Transformer decoder; the defaults are GPT-2 small (124M).

    Args:
        vocab_size (`int`, defaults to 50257): vocabulary size (byte-level BPE for GPT-2, characters for char LMs).
        n_positions (`int`, defaults to 1024): context length covered by the learned position embeddings.
        n_embd (`int`, defaults to 768): width of the residual stream.
        n_layer (`int`, defaults to 12): number of decoder blocks.
        n_head (`int`, defaults to 12): attention heads per block; must divide `n_embd`.
        n_inner (`int`, *optional*): width of the feed-forward layer; `4 * n_embd` when unset.
        activation_function (`str`, defaults to `"gelu_new"`): feed-forward activation, a key of
            `transformers.activations.ACT2FN` (`"gelu_new"` is GPT-2's tanh approximation).
        resid_pdrop (`float`, defaults to 0.1): dropout on each residual branch.
        embd_pdrop (`float`, defaults to 0.1): dropout on the summed token + position embeddings.
        attn_pdrop (`float`, defaults to 0.1): dropout on the attention probabilities.
        layer_norm_epsilon (`float`, defaults to 1e-5): LayerNorm epsilon.
        layer_norm_position (`"pre"` or `"post"`, defaults to `"pre"`): `"pre"` is GPT-2 (LayerNorm before each
            sub-layer, a final LayerNorm after the last block); `"post"` is GPT-1 / the original Transformer
            (`LayerNorm(x + f(x))`, no final LayerNorm).
        bias (`bool`, defaults to `True`): biases in the linear layers and LayerNorms (nanoGPT's `bias=False` is
            slightly faster and as good).
        initializer_range (`float`, defaults to 0.02): std of the normal weight init; residual projections are
            additionally scaled by 1/√(2·n_layer) as in GPT-2.
        lm_loss_weight (`float`, defaults to 0.0): weight λ of the auxiliary language-modelling loss added to the
            classification loss by `HfrGPTForSequenceClassification` (GPT-1 fine-tuning used λ = 0.5).
        classifier_dropout (`float`, *optional*): dropout before the classification head; `resid_pdrop` when unset.
        loss_chunk_size (`int`, defaults to 0): while training with labels, `HfrGPTForCausalLM` runs the LM head
            and the cross-entropy this many positions at a time, gradients included, so the (positions, vocab)
            logits never exist whole (a fused linear + cross-entropy, as Liger's); the output's logits are then
            None. Same loss and gradients; peak memory falls by most of the logits' size at large vocabularies.
            0: the plain head.
        tie_word_embeddings (`bool`, defaults to `True`): the LM head shares the token-embedding matrix.

    Example:

    ```python
    >>> import hf_recipes  # registers "hfr_gpt" with the AutoClasses
    >>> from transformers import AutoModelForCausalLM
    >>> config = HfrGPTConfig(vocab_size=65, n_positions=64, n_embd=128, n_layer=4, n_head=4, resid_pdrop=0.0)
    >>> model = AutoModelForCausalLM.from_config(config)
    ```
    """

    model_type = "hfr_gpt"
    keys_to_ignore_at_inference = ["cache", "past_key_values"]
    attribute_map = {
        "hidden_size": "n_embd",
        "max_position_embeddings": "n_positions",
        "num_attention_heads": "n_head",
        "num_hidden_layers": "n_layer",
    }

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    activation_function: str = "gelu_new"
    resid_pdrop: float | int = 0.1
    embd_pdrop: float | int = 0.1
    attn_pdrop: float | int = 0.1
    layer_norm_epsilon: float = 1e-5
    layer_norm_position: Literal["pre", "post"] = "pre"
    bias: bool = True
    initializer_range: float = 0.02
    lm_loss_weight: float | int = 0.0
    classifier_dropout: float | int | None = None
    loss_chunk_size: int = 0
    use_cache: bool = True
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    tie_word_embeddings: bool = True

    def validate_architecture(self):
        """Called by `@strict` on construction: catch impossible shapes before a model is built."""
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if self.loss_chunk_size < 0:
            raise ValueError(
                f"loss_chunk_size ({self.loss_chunk_size}) must be 0 (off) or a number of positions"
            )


__all__ = ["HfrGPTConfig"]
