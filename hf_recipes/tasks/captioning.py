"""`shapes_captioning`: image captioning on synthetic scenes that ship with hf_recipes (no download).

Images of one or two coloured shapes, each with every caption the scene's grammar allows as references
(hf_recipes.data.shapes); the test split's scenes all contain a colour-shape pair never seen in training and
validation, so the test score measures composition. Training reads one caption per image (the phrasings
take turns over the images); evaluation generates a caption and scores it with sacreBLEU's corpus BLEU against
all the references (0-100, as the captioning literature reports it) and by exact match (the caption is one of
the references).

Any `AutoModelForImageTextToText` whose forward takes `pixel_values` and `labels` fits; ours is hfr_captioning.
Images enter as `pixel_values` in [-1, 1] (each channel x / 127.5 - 1, what the saved processor's image
processor does), made in the collator from the stored uint8 pixels. The run saves an `HfrCaptioningProcessor`
beside the model (`AutoProcessor` loads image processor and tokenizer as one) and draws attention_<i>.png: each
generated word's attention over the first validation images.
"""

import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import datasets
import numpy as np
import torch

from .. import metrics as M
from ..data import shapes
from ..data.tokenization import append_eos
from ..errors import UserError
from ..evaluation.captioning import pixel_values
from .base import IGNORE_INDEX, Task, build_task, option, select_splits, values
from .translation import configure_generation, decode_ids, decoder_start_field

ATTENTION_PICTURES = 3  # validation images whose attention maps a run draws


def tokenize_captions(batch: dict[str, list], *, tokenizer, max_length: int) -> dict[str, list]:
    """Batched map function: the stored pixels pass through, the caption becomes `labels`."""
    labels = tokenizer(batch["caption"], max_length=max_length, truncation=True)["input_ids"]
    return {"pixels": batch["pixels"], "labels": labels}


@dataclasses.dataclass
class CaptioningCollator:
    """uint8 pixels (batch of (height, width, 3)) → `pixel_values` (batch, 3, height, width) in [-1, 1]; labels
    padded with -100."""

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = {
            "pixel_values": pixel_values(
                np.stack([np.asarray(f["pixels"], dtype=np.uint8) for f in features])
            )
        }
        if "labels" in features[0]:
            longest = max(len(f["labels"]) for f in features)
            labels = torch.full((len(features), longest), IGNORE_INDEX, dtype=torch.long)
            for row, f in enumerate(features):
                labels[row, : len(f["labels"])] = torch.as_tensor(f["labels"])
            batch["labels"] = labels
        return batch


@dataclasses.dataclass(kw_only=True)
class ShapesCaptioningTask(Task):
    problem_type: str = "captioning"
    main_metric: str = "bleu"
    default_max_length: int = 24  # caption tokens; the longest caption of the grammar has 11 words
    generates: ClassVar[bool] = True
    image_size: int = option(64, "height and width of the images, in pixels")
    train_images: int = option(6000, "images in the training split")
    eval_images: int = option(500, "images in the validation and in the test split")
    seed: int = option(0, "seed of the scenes")

    def __post_init__(self):
        super().__post_init__()
        if self.image_size < 16 or self.train_images < 1 or self.eval_images < 1:
            raise UserError(
                f"task {self.name}: image_size must be at least 16 and the splits non-empty, got image_size="
                f"{self.image_size}, train_images={self.train_images}, eval_images={self.eval_images}"
            )

    @property
    def pipeline_task(self) -> str:
        return "image-text-to-text"

    def load(
        self,
        data_dir: str | Path | None = None,
        *,
        cache_dir: str | Path | None = None,
        splits: Sequence[str] | None = None,
    ) -> datasets.DatasetDict:
        """Generated, whatever `data_dir` says (there are no files): the same scenes on every machine."""
        features = datasets.Features(
            {
                "pixels": datasets.Array3D((self.image_size, self.image_size, 3), "uint8"),
                "caption": datasets.Value("string"),
                "references": datasets.Sequence(datasets.Value("string")),
                "boxes": datasets.Sequence(datasets.Sequence(datasets.Value("int32"), length=4)),
                "names": datasets.Sequence(datasets.Value("string")),
            }
        )
        sizes = {"train": self.train_images, "validation": self.eval_images, "test": self.eval_images}
        wanted = [split for split in sizes if splits is None or split in splits]
        out = {
            split: datasets.Dataset.from_generator(
                _rows,
                features=features,
                gen_kwargs={
                    "split": split,
                    "count": sizes[split],
                    "size": self.image_size,
                    "seed": self.seed,
                },
                cache_dir=str(cache_dir) if cache_dir is not None else None,
            )
            for split in wanted
        }
        return select_splits(datasets.DatasetDict(out), tuple(splits) if splits else None, self.name)

    def preprocess(self, tokenizer, max_length: int | None = None, *, split: str = "train") -> Callable:
        return functools.partial(
            tokenize_captions, tokenizer=tokenizer, max_length=max_length or self.default_max_length
        )

    def data_collator(self, tokenizer, model=None):
        return CaptioningCollator()

    # ---- training: Seq2SeqTrainer, generation, a tokenizer that ends every caption -----------------------
    @property
    def training_arguments_class(self) -> type:
        from transformers import Seq2SeqTrainingArguments

        return Seq2SeqTrainingArguments

    def training_defaults(self) -> dict[str, Any]:
        # the collator reads the `pixels` column, which Trainer would drop as unknown to the model's forward
        return {**super().training_defaults(), "predict_with_generate": True, "remove_unused_columns": False}

    def train_tokenizer(
        self,
        make: Callable[[Callable[[], Iterable[str]]], Any],
        train: datasets.Dataset,
        separate: bool = False,
    ):
        """Trained on every reference caption of the training images; every caption ends with end-of-sequence,
        so that the decoder learns to stop."""
        references = [text for row in values(train, "references") for text in row]
        return append_eos(make(lambda: references))

    def config_fields(self, tokenizer, field_names: set[str]) -> dict[str, Any]:
        fields = decoder_start_field(tokenizer, field_names)
        if "image_size" in field_names:
            fields["image_size"] = self.image_size
        return fields

    def configure_model(self, model, args, settings: dict[str, Any], max_length: int) -> None:
        configure_generation(model, args, settings, max_length)

    def save_with_model(self, out: Path, model, tokenizer) -> None:
        """The processor (image processor + tokenizer) beside the model, for AutoProcessor."""
        from ..models.captioning import HfrCaptioningProcessor

        HfrCaptioningProcessor.for_model(model.config, tokenizer).save_pretrained(out)

    def write_pictures(self, out: Path, model, tokenizer, examples, output) -> list[Path]:
        """attention_<i>.png: each generated word's attention over the first validation images."""
        from ..evaluation.captioning import caption_attention
        from ..plots import plot_caption_attention

        if getattr(model.config, "attention", None) != "soft":
            return []
        paths = []
        for index in range(min(ATTENTION_PICTURES, len(examples))):
            image = np.asarray(examples[index]["pixels"], dtype=np.uint8)
            found = caption_attention(model, tokenizer, pixel_values(image))
            paths.append(
                plot_caption_attention(image, found.tokens, found.weights, out / f"attention_{index}.png",
                                       f"{found.caption}  (reference: {examples[index]['caption']})")
            )  # fmt: skip
        return paths

    # ---- metrics and outputs -------------------------------------------------------------------------------
    def _compute_metrics(self, eval_pred, *, tokenizer, references) -> dict[str, float]:
        predictions = eval_pred.predictions
        if isinstance(predictions, tuple | list):
            predictions = predictions[0]
        hypotheses = decode_ids(tokenizer, predictions)
        references = references[: len(hypotheses)]
        exact = float(np.mean([hypothesis in refs for hypothesis, refs in zip(hypotheses, references)]))
        return {**M.bleu(hypotheses, references), "exact_match": exact}

    def compute_metrics_fn(self, *, tokenizer=None, examples=None, features=None):
        if tokenizer is None or examples is None:
            raise ValueError("captioning compute_metrics needs the tokenizer and the eval examples")
        return functools.partial(
            self._compute_metrics, tokenizer=tokenizer, references=values(examples, "references")
        )

    def predictions(self, examples, features, raw_predictions, *, tokenizer=None) -> list[dict[str, Any]]:
        if isinstance(raw_predictions, tuple | list):
            raw_predictions = raw_predictions[0]
        hypotheses = decode_ids(tokenizer, raw_predictions)
        rows = zip(values(examples, "references"), values(examples, "names"), hypotheses)
        return [
            {"objects": names, "references": refs, "prediction": hypothesis, "exact": hypothesis in refs}
            for refs, names, hypothesis in rows
        ]


def _rows(split: str, count: int, size: int, seed: int):
    for index, scene in enumerate(shapes.scenes(split, count, seed)):
        references = scene.captions()
        yield {
            "pixels": scene.render(size),
            # training turns through the phrasings; evaluation keeps the canonical one as its `caption`
            "caption": references[index % len(references)] if split == "train" else references[0],
            "references": references,
            "boxes": [list(obj.box(size)) for obj in scene.objects],
            "names": [f"{obj.size} {obj.colour} {obj.shape}" for obj in scene.objects],
        }


def shapes_captioning(**options: Any) -> ShapesCaptioningTask:
    fixed = dict(
        name="shapes_captioning",
        description="captions of synthetic scenes of coloured shapes; test scenes hold out colour-shape pairs",
        test_split="test",
    )
    return build_task(ShapesCaptioningTask, fixed, options)


TASKS = {"shapes_captioning": shapes_captioning}
