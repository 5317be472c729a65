"""The captioner's processor: an image processor and a tokenizer saved and loaded as one (`AutoProcessor`).

`processor(images=...)` gives `pixel_values` for `model.generate`, `processor(images=..., text=...)` adds the
caption's ids as `labels` for training, and `processor.batch_decode(ids)` turns generated ids into captions.
The image processor is transformers' own (`ViTImageProcessorPil`: resize to the model's image_size, scale to
[0, 1], normalise to [-1, 1]), so it loads wherever transformers does.

This file is copied next to every saved processor and imports nothing from hf_recipes, so a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

from transformers import ProcessorMixin
from transformers.image_processing_utils import BatchFeature


class HfrCaptioningProcessor(ProcessorMixin):
    def __init__(self, image_processor=None, tokenizer=None, **kwargs):
        super().__init__(image_processor, tokenizer)

    @classmethod
    def for_model(cls, config, tokenizer) -> "HfrCaptioningProcessor":
        """The processor of a captioner with `config`: images resized to its image_size, normalised to [-1, 1]
        per channel, and `tokenizer` for the captions."""
        from transformers import ViTImageProcessorPil

        size = config.image_size
        image_processor = ViTImageProcessorPil(
            size={"height": size, "width": size}, image_mean=[0.5] * 3, image_std=[0.5] * 3
        )
        return cls(image_processor=image_processor, tokenizer=tokenizer)

    def __call__(self, images=None, text=None, **kwargs) -> BatchFeature:
        """`pixel_values` of `images`, and the token ids of `text` (the captions) as `labels` when both are
        given (as `input_ids` when only text is)."""
        if images is None and text is None:
            raise ValueError("pass images, text (captions) or both")
        return_tensors = kwargs.pop("return_tensors", None)
        if images is not None:
            inputs = self.image_processor(images, return_tensors=return_tensors)
            if text is None:
                return inputs
        encoded = self.tokenizer(text, return_tensors=return_tensors, **kwargs)
        if images is None:
            return encoded
        inputs["labels"] = encoded["input_ids"]
        return inputs

    @property
    def model_input_names(self):
        return self.image_processor.model_input_names + ["labels"]


__all__ = ["HfrCaptioningProcessor"]
