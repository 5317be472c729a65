"""Image captioning end to end (`hf-recipes finetune shapes_captioning`): the built-in scenes, a captioner and a
word-level tokenizer built from scratch, real Seq2SeqTrainer with generation, BLEU against every reference, the
processor saved beside the model, attention pictures; the saved directory captions an image through the Auto
classes."""

import json

import numpy as np
import pytest
import torch
import transformers
from PIL import Image

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
