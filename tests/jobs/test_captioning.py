"""Image captioning end to end (`hf-recipes finetune shapes_captioning`): the built-in scenes, a captioner and a
word-level tokenizer built from scratch, real Seq2SeqTrainer with generation, BLEU against every reference, the
processor saved beside the model, attention pictures; the saved directory captions an image through the Auto
classes."""

import json

import datasets
import numpy as np
import pytest
import torch
import transformers
from PIL import Image
from tokenizers import Tokenizer
from tokenizers.models import WordLevel

import hf_recipes  # noqa: F401  (registers our model families with the AutoClasses)
from hf_recipes.data import shapes
from hf_recipes.errors import UserError
from hf_recipes.jobs.finetune import run
from hf_recipes.tasks import get_task

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def captioning_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("captioning") / "run"
    overrides = [
        "variant=tiny",
        "training.max_steps=30",
        "training.learning_rate=5e-3",
        "training.disable_tqdm=true",
    ]
    metrics = run("shapes_captioning", overrides, output_dir=str(out))
    return out, metrics


def test_the_run_scores_generated_captions_against_every_reference(captioning_run):
    out, metrics = captioning_run
    for prefix in ("eval", "test"):
        assert 0 <= metrics[f"{prefix}_bleu"] <= 100 and 0 <= metrics[f"{prefix}_exact_match"] <= 1
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 16  # the tiny variant's eval_images
    assert all(len(row["references"]) == 3 and row["objects"] for row in rows)
    assert np.mean([row["exact"] for row in rows]) == pytest.approx(metrics["eval_exact_match"])
    test_rows = [json.loads(line) for line in (out / "test_predictions.jsonl").read_text().splitlines()]
    held_out = {f"{colour} {shape}" for colour, shape in shapes.HELD_OUT}
    assert all(any(name.split(" ", 1)[1] in held_out for name in row["objects"]) for row in test_rows)
    for index in range(3):
        assert (out / f"attention_{index}.png").read_bytes().startswith(PNG)


def test_the_saved_directory_captions_an_image_through_the_auto_classes(captioning_run):
    out, _ = captioning_run
    processor = transformers.AutoProcessor.from_pretrained(out)
    model = transformers.AutoModelForImageTextToText.from_pretrained(out).eval()
    assert (
        model.config.image_size == 32
        and model.config.decoder_start_token_id == processor.tokenizer.bos_token_id
    )
    image = Image.fromarray(shapes.scene("test", 5).render(64))  # any size: the processor resizes it
    pixels = processor(images=image, return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 3, 32, 32)
    with torch.no_grad():
        ids = model.generate(pixel_values=pixels)  # the saved generation config: beams, length
    caption = processor.batch_decode(ids, skip_special_tokens=True)[0]
    assert isinstance(caption, str) and ids.shape[1] <= 24  # the task's caption length


def test_a_bad_task_option_is_one_clear_error():
    with pytest.raises(UserError, match="image_size must be at least 16"):
        get_task("shapes_captioning", image_size=8)


def test_grounding_counts_the_words_that_name_an_object(monkeypatch):
    """A caption naming the scene's object by colour and shape, whose attention sits on the object's centre
    cell: all of those two words' mass is on the box; a word naming nothing of the scene is not counted."""
    from hf_recipes.evaluation import captioning
    from hf_recipes.tasks import get_task

    examples = get_task("shapes_captioning", image_size=32, eval_images=40).load(splits=["validation"])[
        "validation"
    ]
    examples = examples.filter(lambda row: len(row["names"]) == 1).select(range(5))

    def fake_caption_attention(model, tokenizer, pixels):
        row = fake_caption_attention.rows.pop(0)
        size, colour, shape = row["names"][0].split()
        weights = np.zeros((5, 4, 4))
        left, top, right, bottom = row["boxes"][0]
        weights[:, (top + bottom) // 16, (left + right) // 16] = 1.0  # 32-pixel image, 8-pixel cells
        tokens = ["a", size, colour, shape, "green" if colour != "green" else "red"]
        return captioning.CaptionAttention(tokens=tokens, weights=weights, caption=" ".join(tokens))

    fake_caption_attention.rows = list(examples)
    monkeypatch.setattr(captioning, "caption_attention", fake_caption_attention)
    report = captioning.grounding(None, None, examples)
    assert report["grounding_words"] == 10  # colour + shape, five images
    assert report["grounding_mass"] > 0.5  # the centre cell lies mostly inside the box
    boxes = [row["boxes"][0] for row in examples]
    shares = [(right - left) * (bottom - top) / 32**2 for left, top, right, bottom in boxes]
    assert report["grounding_area_share"] == pytest.approx(np.mean(shares))


# ------------------------------------------------------------------------------------------------------------
# Photos of the user's own (image_captions) and Flickr8k's layouts: local files, Karpathy's JSON, the Hub's


def write_photo_folder(root, count=24, captions_file="captions.txt", split_column=False):
    """`count` scene images as JPEG files of varied sizes in root/Images and a CSV of two captions each (one with
    a comma, quoted), as Kaggle's Flickr8k download lays them out."""
    import csv

    (root / "Images").mkdir(parents=True)
    with (root / captions_file).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "caption", *(["split"] if split_column else [])])
        for index in range(count):
            scene = shapes.scene("train", index)
            Image.fromarray(scene.render(40 + index)).save(root / "Images" / f"{index}.jpg")
            split = ["train", "val", "test"][index % 3] if split_column else None
            for caption in (scene.captions()[0], scene.captions()[-1] + ", in a picture"):
                writer.writerow([f"{index}.jpg", caption, *([split] if split_column else [])])
    return root


def test_local_captions_group_by_image_and_hold_out_images_not_captions(tmp_path):
    root = write_photo_folder(tmp_path / "photos")
    task = get_task("image_captions", validation_images=4, test_images=3, image_size=32)
    raw = task.load(root)
    assert {name: len(split) for name, split in raw.items()} == {"train": 17, "validation": 4, "test": 3}
    paths = [path for split in raw.values() for path in split["path"]]
    assert sorted(paths) == sorted(f"{i}.jpg" for i in range(24))  # each image in exactly one split
    row = raw["validation"][0]
    scene = shapes.scene("train", int(row["path"].split(".")[0]))
    assert row["references"] == [scene.captions()[0], scene.captions()[-1] + ", in a picture"]
    assert row["image"].size == (40 + int(row["path"].split(".")[0]),) * 2
    assert task.load(root)["test"]["path"] == raw["test"]["path"]  # the same held-out images every time

    words = Tokenizer(WordLevel({"<pad>": 0, "<unk>": 1}, unk_token="<unk>"))
    tokenizer_words = transformers.PreTrainedTokenizerFast(tokenizer_object=words, pad_token="<pad>")
    features = task.prepare(raw, tokenizer_words)
    train = features["train"][0]
    assert (
        train["pixels"].shape == (32, 32, 3) and len(train["labels"]) == 2
    )  # every caption kept for training
    assert np.isscalar(features["validation"][0]["labels"][0])  # evaluation: the first caption
    batch = task.data_collator(tokenizer_words)([features["train"][i] for i in range(3)])
    assert batch["pixel_values"].shape == (3, 3, 32, 32) and batch["labels"].shape[0] == 3


def test_a_split_column_and_karpathys_json_give_the_splits_they_name(tmp_path):
    root = write_photo_folder(tmp_path / "split", count=9, split_column=True)
    raw = get_task("image_captions").load(root)
    assert {name: len(split) for name, split in raw.items()} == {"train": 3, "validation": 3, "test": 3}

    karpathy = {"images": [
        {"filename": f"{i}.jpg", "split": ["train", "restval", "val", "test"][i % 4],
         "sentences": [{"raw": f"caption {i} one"}, {"raw": f"caption {i} two "}]}
        for i in range(8)
    ]}  # fmt: skip
    (root / "dataset_flickr8k.json").write_text(json.dumps(karpathy))
    raw = get_task("flickr8k_captioning", captions="dataset_flickr8k.json").load(root)
    assert {name: len(split) for name, split in raw.items()} == {"train": 4, "validation": 2, "test": 2}
    assert raw["test"][0]["references"] == ["caption 3 one", "caption 3 two"]


def test_bad_caption_files_are_one_clear_error(tmp_path):
    root = write_photo_folder(tmp_path / "bad", count=6)
    task = get_task("image_captions", validation_images=1, test_images=1)
    (root / "Images" / "2.jpg").unlink()
    with pytest.raises(UserError, match=r"2\.jpg: image not found \(1 of the 6 images"):
        task.load(root)
    (root / "captions.txt").write_text("file,text\na.jpg,a cat\n")
    with pytest.raises(UserError, match="no column 'image'"):
        task.load(root)
    with pytest.raises(UserError, match="captions.csv: file not found"):
        get_task("image_captions", captions="captions.csv").load(root)
    with pytest.raises(UserError, match="would leave none to train on"):
        write_photo_folder(tmp_path / "small", count=4)
        get_task("image_captions", validation_images=2, test_images=2).load(tmp_path / "small")


def test_the_hub_layouts_become_image_and_references():
    """jxie/flickr8k's five caption columns, and a dataset whose one column holds the list (Flickr30k's)."""
    image = Image.fromarray(shapes.scene("train", 0).render(48))
    columns = datasets.Dataset.from_dict(
        {"image": [image], **{f"caption_{i}": [f"caption {i}"] for i in range(5)}},
        features=datasets.Features(
            {"image": datasets.Image(), **{f"caption_{i}": datasets.Value("string") for i in range(5)}}
        ),
    )
    out = get_task("flickr8k_captioning").from_hub(datasets.DatasetDict({"train": columns, "val": columns}))
    assert set(out) == {"train", "validation"} and out["train"].column_names == ["image", "references"]
    assert out["train"][0]["references"] == [f"caption {i}" for i in range(5)]
    listed = datasets.Dataset.from_dict({"img": [image], "caption": [["one", "two"]], "sentids": [[1, 2]]})
    out = get_task("image_captions", image_column="img", caption_columns=["caption"]).from_hub(
        datasets.DatasetDict({"test": listed})
    )
    assert out["test"].column_names == ["image", "references"] and out["test"][0]["references"] == [
        "one",
        "two",
    ]
    with pytest.raises(UserError, match="expected the image column 'image' and caption columns"):
        get_task("image_captions", caption_columns=["text"]).from_hub(
            datasets.DatasetDict({"train": columns})
        )


def test_a_captioner_trains_on_a_folder_of_photos_end_to_end(tmp_path):
    root = write_photo_folder(tmp_path / "photos")
    out = tmp_path / "run"
    metrics = run(
        "image_captions",
        ["variant=tiny", "training.disable_tqdm=true"],
        data_dir=str(root),
        output_dir=str(out),
    )
    for n in range(1, 5):
        assert 0 <= metrics[f"test_bleu_{n}"] <= 100
    assert metrics["test_bleu"] >= 0 and (out / "attention_0.png").read_bytes().startswith(PNG)
    rows = [json.loads(line) for line in (out / "test_predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(
        row["image"].endswith(".jpg") and len(row["references"]) == 2 for row in rows
    )
    processor = transformers.AutoProcessor.from_pretrained(out)
    pixels = processor(images=Image.open(root / "Images" / "3.jpg"), return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 3, 32, 32)


def test_the_run_logs_to_tensorboard_when_it_is_installed(captioning_run):
    """report_to defaults to TensorBoard where the package is (the tensorboard extra, which CI installs): the
    event file under <run>/runs holds the losses of log_history.json."""
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _ = captioning_run
    [events] = list((out / "runs").rglob("events.out.tfevents.*"))
    accumulator = EventAccumulator(str(events.parent))
    accumulator.Reload()
    logged = [event.value for event in accumulator.Scalars("train/loss")]
    history = json.loads((out / "log_history.json").read_text())
    assert logged == pytest.approx([entry["loss"] for entry in history if "loss" in entry], rel=1e-6)
    assert len(logged) >= 1
