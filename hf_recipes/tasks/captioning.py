"""Image captioning tasks: the built-in synthetic scenes, Flickr8k from the Hub, and the user's own images.

- `shapes_captioning`: synthetic scenes that ship with hf_recipes (no download): images of one or two coloured
  shapes, each with every caption the scene's grammar allows as references (hf_recipes.data.shapes); the test
  split's scenes all contain a colour-shape pair never seen in training and validation, so the test score
  measures composition. Training reads one caption per image (the phrasings take turns over the images).
- `flickr8k_captioning`: Flickr8k with the Karpathy splits (6,000 / 1,000 / 1,000 images, five captions each)
  from the Hub (`jxie/flickr8k`), or from local files: a captions file (Kaggle's `captions.txt`: `image,caption`
  rows; any CSV/TSV/JSON Lines file with those columns and optionally `split`; or Karpathy's
  `dataset_flickr8k.json`) and a folder of images. `image_captions` is the same task with no default data:
  the user's own images and captions (`task.captions`, `task.images`).

Training on real photos reads, each time it meets an image, one of its captions drawn at random (so an epoch
is one pass over the images, and every caption is seen over the epochs). Evaluation generates a caption and
scores it against all the image's references: sacreBLEU's corpus BLEU-1..4 (0-100, as the captioning literature
reports them; `bleu` is BLEU-4) and exact match (the caption is one of the references).

Any `AutoModelForImageTextToText` whose forward takes `pixel_values` and `labels` fits; ours is hfr_captioning.
Images are resized to `image_size` once, when the splits are prepared, and enter as `pixel_values` in [-1, 1]
(each channel x / 127.5 - 1, what the saved processor's image processor does), made in the collator from the
stored uint8 pixels. A run saves an `HfrCaptioningProcessor` beside the model (`AutoProcessor` loads image
processor and tokenizer as one) and draws attention_<i>.png: each generated word's attention over the first
validation images. `backbone` starts the encoder from a pretrained vision checkpoint.
"""

import dataclasses
import functools
import json
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
from .base import IGNORE_INDEX, Task, build_task, find_dir, option, select_splits, values
from .translation import configure_generation, decode_ids, decoder_start_field

ATTENTION_PICTURES = 3  # validation images whose attention maps a run draws
SPLIT_NAMES = {"train": "train", "restval": "train", "val": "validation", "validation": "validation",
               "dev": "validation", "test": "test"}  # fmt: skip


def tokenize_captions(batch: dict[str, list], *, tokenizer, max_length: int) -> dict[str, list]:
    """Batched map function: the stored pixels pass through, the caption becomes `labels`."""
    labels = tokenizer(batch["caption"], max_length=max_length, truncation=True)["input_ids"]
    return {"pixels": batch["pixels"], "labels": labels}


def resized_pixels(image, size: int) -> np.ndarray:
    """A PIL image as (size, size, 3) uint8 RGB, resized as the saved image processor resizes (bilinear)."""
    from PIL import Image

    return np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def image_captions(batch: dict[str, list], *, tokenizer, max_length: int, size: int, every_caption: bool):
    """Batched map function for photos: each image resized to `pixels`; `labels` the token ids of all its
    captions (training: the collator draws one each time) or of its first one (evaluation)."""
    pixels = [resized_pixels(image, size) for image in batch["image"]]
    if every_caption:
        labels = [
            tokenizer(references, max_length=max_length, truncation=True)["input_ids"]
            for references in batch["references"]
        ]
    else:
        first = [references[0] for references in batch["references"]]
        labels = tokenizer(first, max_length=max_length, truncation=True)["input_ids"]
    return {"pixels": pixels, "labels": labels}


@dataclasses.dataclass
class CaptioningCollator:
    """uint8 pixels (batch of (height, width, 3)) → `pixel_values` (batch, 3, height, width) in [-1, 1]; labels
    padded with -100. An example with several captions (a list of id lists) gives one of them, drawn with
    torch's generator (which Trainer seeds)."""

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = {"pixel_values": pixel_values(np.stack([np.asarray(f["pixels"]) for f in features]))}
        if "labels" in features[0]:
            captions = [_one_caption(f["labels"]) for f in features]
            labels = torch.full((len(features), max(map(len, captions))), IGNORE_INDEX, dtype=torch.long)
            for row, caption in enumerate(captions):
                labels[row, : len(caption)] = torch.as_tensor(caption)
            batch["labels"] = labels
        return batch


def _one_caption(labels) -> list[int]:
    labels = list(labels)
    if labels and not np.isscalar(labels[0]):  # several captions of one image
        return list(labels[int(torch.randint(len(labels), ()))])
    return labels


@dataclasses.dataclass(kw_only=True)
class CaptioningTask(Task):
    """What every captioning task shares: training with Seq2SeqTrainer and generation, a tokenizer trained on
    every reference caption, BLEU-1..4 and exact match, the processor and attention pictures of a run."""

    problem_type: str = "captioning"
    main_metric: str = "bleu"
    default_max_length: int = 24  # caption tokens
    generates: ClassVar[bool] = True
    image_size: int = option(64, "height and width the images are resized to, in pixels")
    backbone: str | None = option(
        None,
        "a pretrained vision checkpoint (Hub id such as microsoft/resnet-50, or a directory) to start the "
        "encoder from: its config becomes model.config.backbone_config, its weights are copied in",
    )

    def __post_init__(self):
        super().__post_init__()
        if self.image_size < 16:
            raise UserError(f"task {self.name}: image_size must be at least 16, got {self.image_size}")

    @property
    def pipeline_task(self) -> str:
        return "image-text-to-text"

    def example_pixels(self, example: dict[str, Any]) -> np.ndarray:
        """The image of a raw example as the model sees it: (image_size, image_size, 3) uint8."""
        return resized_pixels(example["image"], self.image_size)

    def prepare(self, dataset, tokenizer, max_length=None, *, num_proc=None) -> datasets.DatasetDict:
        """As every task's, then the pixels read as numpy arrays (not nested Python lists) by the collator."""
        prepared = super().prepare(dataset, tokenizer, max_length, num_proc=num_proc)
        return datasets.DatasetDict(
            {
                name: split.with_format("numpy", columns=["pixels"], output_all_columns=True)
                for name, split in prepared.items()
            }
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
        if self.backbone is not None and "backbone_config" in field_names:
            from ..checkpoints import load_config

            fields["backbone_config"] = load_config(self.backbone, what="task.backbone")  # stored as a dict
        return fields

    def configure_model(self, model, args, settings: dict[str, Any], max_length: int) -> None:
        configure_generation(model, args, settings, max_length)
        if self.backbone is not None:  # a resumed run then loads its own checkpoint over these weights
            if not hasattr(model, "load_pretrained_backbone"):
                raise UserError(f"task.backbone: {type(model).__name__} takes no pretrained backbone")
            model.load_pretrained_backbone(self.backbone)

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
            image = self.example_pixels(examples[index])
            found = caption_attention(model, tokenizer, pixel_values(image))
            paths.append(
                plot_caption_attention(image, found.tokens, found.weights, out / f"attention_{index}.png",
                                       f"{found.caption}  (reference: {examples[index]['references'][0]})")
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
        return {
            **M.bleu(hypotheses, references),
            **M.bleu_1_to_4(hypotheses, references),
            "exact_match": exact,
        }

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
        rows = [
            {"references": refs, "prediction": hypothesis, "exact": hypothesis in refs}
            for refs, hypothesis in zip(values(examples, "references"), hypotheses)
        ]
        for extra in ("names", "path"):  # the scenes' objects; a local image's file
            if extra in examples.column_names:
                key = "objects" if extra == "names" else "image"
                for row, value in zip(rows, values(examples, extra)):
                    row[key] = value
        return rows


@dataclasses.dataclass(kw_only=True)
class ShapesCaptioningTask(CaptioningTask):
    train_images: int = option(6000, "images in the training split")
    eval_images: int = option(500, "images in the validation and in the test split")
    seed: int = option(0, "seed of the scenes")

    def __post_init__(self):
        super().__post_init__()
        if self.train_images < 1 or self.eval_images < 1:
            raise UserError(
                f"task {self.name}: the splits must be non-empty, got train_images={self.train_images}, "
                f"eval_images={self.eval_images}"
            )

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

    def example_pixels(self, example: dict[str, Any]) -> np.ndarray:
        return np.asarray(example["pixels"], dtype=np.uint8)

    def preprocess(self, tokenizer, max_length: int | None = None, *, split: str = "train") -> Callable:
        return functools.partial(
            tokenize_captions, tokenizer=tokenizer, max_length=max_length or self.default_max_length
        )


@dataclasses.dataclass(kw_only=True)
class ImageCaptionsTask(CaptioningTask):
    """Photos and their captions: a Hub dataset (`hub_dataset`, its `image_column` and `caption_columns`), or
    local files under the data directory: `captions` (a CSV/TSV/JSON Lines file of `image,caption[,split]`
    rows, one per caption, or Karpathy's dataset_<name>.json) and the `images` folder the image names are
    relative to. Without a split column, `validation_images` and `test_images` images (drawn with `seed`) are
    held out."""

    default_max_length: int = 32
    folders: tuple[
        str, ...
    ] = ()  # where under the data directory the files may be (else the directory itself)
    image_size: int = option(128, "height and width the images are resized to, in pixels")
    captions: str = option("captions.txt", "the captions file, relative to --data-dir")
    images: str = option("Images", "the folder of the images, relative to --data-dir")
    image_column: str = option("image", "Hub route: the image column")
    caption_columns: list = option([], "Hub route: the caption columns (or one column holding a list)")
    validation_images: int = option(
        1000, "local files without a split column: images held out for validation"
    )
    test_images: int = option(1000, "local files without a split column: images held out for test")
    seed: int = option(0, "local files without a split column: seed of the held-out images")

    def preprocess(self, tokenizer, max_length: int | None = None, *, split: str = "train") -> Callable:
        return functools.partial(
            image_captions,
            tokenizer=tokenizer,
            max_length=max_length or self.default_max_length,
            size=self.image_size,
            every_caption=split == "train",
        )

    # ---- the Hub -----------------------------------------------------------------------------------------
    def from_hub(self, raw: datasets.DatasetDict) -> datasets.DatasetDict:
        """Any Hub layout → `image` (an Image feature) and `references` (the captions, a list of strings)."""
        out = {}
        for name, split in raw.items():
            missing = [c for c in [self.image_column, *self.caption_columns] if c not in split.column_names]
            if missing or not self.caption_columns:
                raise UserError(
                    f"{self.hub_dataset} ({name}): expected the image column {self.image_column!r} and caption "
                    f"columns {self.caption_columns}; it has {split.column_names} (set task.image_column and "
                    "task.caption_columns)"
                )
            columns = list(self.caption_columns)
            if len(columns) == 1 and isinstance(split.features[columns[0]], datasets.Sequence | list):
                gather = functools.partial(_references_from_list, column=columns[0])
            else:
                gather = functools.partial(_references_from_columns, columns=columns)
            split = split.map(gather, batched=True, desc=f"{name}: gathering the captions")
            keep = [self.image_column, "references"]
            split = split.remove_columns([c for c in split.column_names if c not in keep])
            if self.image_column != "image":
                split = split.rename_column(self.image_column, "image")
            out[SPLIT_NAMES.get(name, name)] = split
        return datasets.DatasetDict(out)

    # ---- local files -------------------------------------------------------------------------------------
    def load_files(
        self, data_dir: Path, *, cache_dir: str | None = None, splits: Sequence[str] | None = None
    ) -> datasets.DatasetDict:
        try:
            root = find_dir(data_dir, *self.folders, must_contain=self.captions)
        except UserError:
            raise UserError(
                f"{data_dir / self.captions}: file not found (task {self.name}: task.captions names the captions "
                "file under the data directory, e.g. captions.txt with image,caption rows)"
            ) from None
        path, folder = root / self.captions, root / self.images
        rows = read_karpathy(path) if _is_karpathy(path) else read_caption_rows(path)
        grouped: dict[str, dict[str, Any]] = {}
        for image, caption, split in rows:
            entry = grouped.setdefault(image, {"references": [], "split": split})
            entry["references"].append(caption)
        missing = [image for image in grouped if not (folder / image).is_file()]
        if missing:
            raise UserError(
                f"{folder / missing[0]}: image not found ({len(missing)} of the {len(grouped)} images that "
                f"{path.name} names are missing; task.images is the folder they are relative to)"
            )
        names = list(grouped)
        if all(entry["split"] is None for entry in grouped.values()):
            assigned = self._held_out(names)
        elif any(entry["split"] is None for entry in grouped.values()):
            raise UserError(
                f"{path}: column split: every row needs one (train, validation or test) or none does"
            )
        else:
            assigned = {name: grouped[name]["split"] for name in names}
        features = datasets.Features(
            {
                "image": datasets.Image(),
                "references": datasets.Sequence(datasets.Value("string")),
                "path": datasets.Value("string"),
            }
        )
        out = {}
        for split in ("train", "validation", "test"):
            chosen = [name for name in names if assigned[name] == split]
            if not chosen or (splits is not None and split not in splits):
                continue
            table = {
                "image": [str(folder / name) for name in chosen],
                "references": [grouped[name]["references"] for name in chosen],
                "path": chosen,
            }
            out[split] = datasets.Dataset.from_dict(table, features=features)
        for split in ("train", "validation"):
            if split not in out and (splits is None or split in splits):
                raise UserError(f"{path}: no image is in the {split} split")
        return datasets.DatasetDict(out)

    def _held_out(self, names: list[str]) -> dict[str, str]:
        held = self.validation_images + self.test_images
        if held >= len(names):
            raise UserError(
                f"task {self.name}: {len(names)} images, and validation_images + test_images = {held} would "
                "leave none to train on; lower them"
            )
        order = np.random.default_rng(self.seed).permutation(len(names))
        assigned = {name: "train" for name in names}
        for rank, index in enumerate(order[:held]):
            assigned[names[index]] = "validation" if rank < self.validation_images else "test"
        return assigned


def _references_from_columns(batch, *, columns):
    rows = zip(*(batch[column] for column in columns))
    return {"references": [[str(c) for c in row if c] for row in rows]}


def _references_from_list(batch, *, column):
    return {"references": [[str(c) for c in (row or []) if c] for row in batch[column]]}


def _is_karpathy(path: Path) -> bool:
    if path.suffix != ".json":
        return False
    with path.open(encoding="utf-8") as handle:
        return handle.read(64).lstrip().startswith('{"images"')


def read_karpathy(path: Path) -> list[tuple[str, str, str]]:
    """(image, caption, split) rows of Karpathy's dataset_{flickr8k,flickr30k,coco}.json: his splits, restval
    counted as training (as the captioning papers do)."""
    try:
        images = json.loads(path.read_text(encoding="utf-8"))["images"]
        rows = []
        for entry in images:
            name = f"{entry['filepath']}/{entry['filename']}" if entry.get("filepath") else entry["filename"]
            split = SPLIT_NAMES[entry["split"]]
            rows += [(name, sentence["raw"].strip(), split) for sentence in entry["sentences"]]
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(
            f"{path}: not a Karpathy split file (images[].filename, .split, .sentences[].raw): {error!r}"
        ) from None
    return rows


def read_caption_rows(path: Path) -> list[tuple[str, str, str | None]]:
    """(image, caption, split or None) from a CSV (.csv, .txt), TSV (.tsv) or JSON Lines (.jsonl, .json) file
    with columns image and caption (and optionally split)."""
    import pandas as pd

    try:
        if path.suffix in (".jsonl", ".json"):
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            frame = pd.read_csv(
                path, sep="\t" if path.suffix == ".tsv" else ",", dtype=str, keep_default_na=False
            )
    except (ValueError, pd.errors.ParserError) as error:
        raise UserError(
            f"{path}: cannot read it as {path.suffix or 'CSV'}: {' '.join(str(error).split())}"
        ) from None
    missing = [column for column in ("image", "caption") if column not in frame.columns]
    if missing:
        raise UserError(
            f"{path}: no column {missing[0]!r} (expected image and caption, optionally split; found "
            f"{', '.join(map(str, frame.columns))})"
        )
    splits = [None] * len(frame)
    if "split" in frame.columns:
        unknown = sorted(set(frame["split"]) - set(SPLIT_NAMES))
        if unknown:
            raise UserError(f"{path}: column split: {unknown[0]!r} is not one of train, validation, test")
        splits = [SPLIT_NAMES[value] for value in frame["split"]]
    return [
        (str(image), str(caption).strip(), split)
        for image, caption, split in zip(frame["image"], frame["caption"], splits)
        if str(caption).strip()
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


def flickr8k_captioning(**options: Any) -> ImageCaptionsTask:
    options = {"caption_columns": [f"caption_{i}" for i in range(5)], **options}
    fixed = dict(
        name="flickr8k_captioning",
        description="Flickr8k, Karpathy splits, five captions an image (Hub: jxie/flickr8k; or local files)",
        hub_dataset="jxie/flickr8k",
        folders=("flickr8k", "Flickr8k"),
        test_split="test",
    )
    return build_task(ImageCaptionsTask, fixed, options)


def image_captions_task(**options: Any) -> ImageCaptionsTask:
    fixed = dict(
        name="image_captions",
        description="your images and captions: --data-dir with task.captions and task.images",
        test_split="test",
    )
    return build_task(ImageCaptionsTask, fixed, options)


TASKS = {
    "shapes_captioning": shapes_captioning,
    "flickr8k_captioning": flickr8k_captioning,
    "image_captions": image_captions_task,
}
