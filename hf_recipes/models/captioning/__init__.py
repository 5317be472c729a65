"""Image captioning (one-to-many): a CNN encoder and an LSTM/GRU decoder with soft attention over regions."""

from . import modeling_captioning
from .configuration_captioning import HfrCaptioningConfig
from .modeling_captioning import (
    HfrCaptioningCache,
    HfrCaptioningForConditionalGeneration,
    HfrCaptioningModel,
    HfrCaptioningPreTrainedModel,
)
from .processing_captioning import HfrCaptioningProcessor

CONFIG_CLASS = HfrCaptioningConfig
MODELING = modeling_captioning
DESCRIPTION = "image captioning: CNN encoder + LSTM/GRU decoder with soft attention (Show, Attend and Tell)"
PROCESSOR = HfrCaptioningProcessor  # images and captions, saved as one (AutoProcessor)
TOKENIZER = "bpe"  # has the start and end tokens a decoder needs (hf_recipes.data.tokenization)


def _size(channels: list[int], embedding: int, hidden: int, attention: int) -> dict:
    return dict(
        encoder_channels=channels, embedding_size=embedding, hidden_size=hidden, attention_size=attention
    )


# Widths only; the cell and the attention are choices of the recipe (model.config). small is the default of
# the config (64×64 images); base has the paper's decoder widths (embeddings 512, LSTM 1800 there; 512 here).
SIZES = {
    "tiny": _size([8, 16], 16, 32, 32),
    "small": _size([32, 64, 128], 128, 256, 256),
    "base": _size([64, 128, 256, 512], 512, 512, 512),
}

__all__ = [
    "HfrCaptioningConfig",
    "HfrCaptioningCache",
    "HfrCaptioningModel",
    "HfrCaptioningPreTrainedModel",
    "HfrCaptioningForConditionalGeneration",
    "HfrCaptioningProcessor",
]
