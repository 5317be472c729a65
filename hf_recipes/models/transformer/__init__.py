"""The original Transformer encoder-decoder (Vaswani et al. 2017): translation and other seq2seq tasks."""

from . import modeling_transformer
from .configuration_transformer import HfrTransformerConfig
from .modeling_transformer import (
    HfrTransformerForConditionalGeneration,
    HfrTransformerModel,
    HfrTransformerPreTrainedModel,
)

CONFIG_CLASS = HfrTransformerConfig
MODELING = modeling_transformer
DESCRIPTION = (
    "Transformer encoder-decoder (Vaswani et al. 2017): sinusoidal positions, post-LN (pre-LN switch)"
)
TOKENIZER = "bpe"  # the kind `--model scratch:<type>` trains on the task (hf_recipes.data.tokenization)


def _size(layers: int, width: int, heads: int, ffn: int, **extra) -> dict:
    return dict(
        d_model=width,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=ffn,
        decoder_ffn_dim=ffn,
        **extra,
    )


# small is the ~9M-parameter Multi30k Transformer of bentrevett/pytorch-seq2seq (3 + 3 layers, 256 wide, 8 heads,
# feed-forward 512; 9.0M parameters with its separate ~7.9k/5.9k word vocabularies); base and big are the
# paper's (Table 3), big with its dropout of 0.3.
SIZES = {
    "tiny": _size(2, 64, 4, 128),
    "small": _size(3, 256, 8, 512),
    "base": _size(6, 512, 8, 2048),
    "big": _size(6, 1024, 16, 4096, dropout=0.3),
}

__all__ = [
    "HfrTransformerConfig",
    "HfrTransformerModel",
    "HfrTransformerPreTrainedModel",
    "HfrTransformerForConditionalGeneration",
]
