"""The captioner's processor: an image processor and a tokenizer saved and loaded as one (`AutoProcessor`).

`processor(images=...)` gives `pixel_values` for `model.generate`; `processor(images=..., text_target=...)` adds
the captions' ids as `labels` for training; `processor(images=..., text=...)` adds the beginning of a caption
for `generate` to continue (`decoder_input_ids`: the start token, then the text's tokens; "" is no beginning),
which is what `pipeline("image-text-to-text")` passes; `processor.batch_decode(ids)` turns generated ids into
captions.
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

    def __call__(self, images=None, text=None, text_target=None, **kwargs) -> BatchFeature:
        """`pixel_values` of `images`; the token ids of `text_target` (the captions to learn, each ending with
        the tokenizer's end-of-sequence) as `labels`; `text`, the beginning of each image's caption, as
        `decoder_input_ids` (the start token, then the text's tokens, no end: `generate` writes the rest)."""
        if images is None and text is None and text_target is None:
            raise ValueError(
                "pass images, text (a caption's beginning), text_target (captions to learn), or both"
            )
        return_tensors = kwargs.pop("return_tensors", None)
        inputs = BatchFeature()
        if images is not None:
            inputs = self.image_processor(images, return_tensors=return_tensors)
        if text_target is not None:
            inputs["labels"] = self.tokenizer(text_target, return_tensors=return_tensors, **kwargs)[
                "input_ids"
            ]
        if text is not None:
            inputs["decoder_input_ids"] = self._prompt_ids(text, return_tensors)
        return inputs

    def _prompt_ids(self, text, return_tensors):
        start = self.tokenizer.bos_token_id
        if start is None:
            raise ValueError("the tokenizer has no bos_token: the token the caption starts from")
        prompts = [text] if isinstance(text, str) else list(text)
        ids = [[start, *self.tokenizer(p, add_special_tokens=False)["input_ids"]] for p in prompts]
        if len({len(row) for row in ids}) > 1:
            raise ValueError(
                "the beginnings of the captions of one batch must have the same number of tokens (the decoder "
                "reads them without padding); caption such images one at a time"
            )
        if return_tensors == "pt":
            import torch

            return torch.tensor(ids)
        return ids[0] if isinstance(text, str) else ids

    @property
    def model_input_names(self):
        return self.image_processor.model_input_names + ["decoder_input_ids", "labels"]


__all__ = ["HfrCaptioningProcessor"]
