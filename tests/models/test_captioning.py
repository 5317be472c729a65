"""The image captioner (hfr_captioning): shapes, loss (with the doubly stochastic term) and gradients of every
variant; generation with and without the cache, beam search no worse than greedy; save/reload, also through
trust_remote_code where hf_recipes cannot be imported, giving the same captions; the synthetic scenes."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import transformers

from hf_recipes.data import shapes
from hf_recipes.models.captioning import (
    HfrCaptioningConfig,
    HfrCaptioningForConditionalGeneration,
    HfrCaptioningModel,
)
from hf_recipes.models.captioning.modeling_captioning import AUTO_MAP
from tests.helpers import run_without_hf_recipes
from tests.models.checks import (
    assert_every_parameter_gets_a_gradient,
    assert_save_reload_identical,
    generate_with_and_without_cache,
)
from tests.models.test_rnn import sequence_logprob

VOCAB, PAD, BOS, EOS = 40, 0, 1, 2
VARIANTS = [
    pytest.param(dict(cell="lstm", attention="soft"), id="lstm-soft"),
    pytest.param(dict(cell="gru", attention="soft", gate=False), id="gru-soft-nogate"),
    pytest.param(dict(cell="lstm", attention="none"), id="lstm-none"),
]


def build(head=HfrCaptioningForConditionalGeneration, seed=0, **options):
    fields = dict(
        vocab_size=VOCAB, image_size=32, encoder_channels=[8, 16], region_grid=4, embedding_size=16,
        hidden_size=24, attention_size=20, dropout=0.0, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS,
    )  # fmt: skip
    config = HfrCaptioningConfig(**{**fields, **options})
    torch.manual_seed(seed)
    return head(config)


def images(batch=3, seed=1):
    return torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def caption_labels():
    labels = torch.randint(3, VOCAB, (3, 6), generator=torch.Generator().manual_seed(2))
    labels[0, 4:] = -100  # a shorter caption
    return labels


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes_loss_and_gradients(variant):
    model = build(**variant).train()
    pixel_values, labels = images(), caption_labels()
    out = model(pixel_values=pixel_values, labels=labels, output_attentions=True)
    assert out.logits.shape == (3, 6, VOCAB)
    assert out.encoder_last_hidden_state.shape == (3, 16, 16)  # 4×4 regions of the last stage's 16 channels
    cross_entropy = F.cross_entropy(out.logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    if variant["attention"] == "none":
        assert out.cross_attentions is None
        torch.testing.assert_close(out.loss, cross_entropy)
    else:
        weights = out.cross_attentions[0][:, 0]  # (batch, words, regions)
        assert weights.shape == (3, 6, 16)
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 6))
        # λ·(1/L)·Σᵢ(1 − Σₜ αₜᵢ)² over the labelled words, averaged over the images
        coverage = (weights * (labels != -100)[..., None]).sum(1)
        torch.testing.assert_close(out.loss, cross_entropy + ((1 - coverage) ** 2).sum(-1).mean() / 16)
        model.config.doubly_stochastic = 0.0
        torch.testing.assert_close(model(pixel_values=pixel_values, labels=labels).loss, cross_entropy)
        model.config.doubly_stochastic = 1.0
    assert_every_parameter_gets_a_gradient(model, {"pixel_values": pixel_values, "labels": labels})

    # a caption's logits do not depend on the words after them (the decoder reads left to right)
    changed = labels.clone()
    changed[:, 3:] = 5
    other = model.eval()(pixel_values=pixel_values, labels=changed)
    torch.testing.assert_close(
        other.logits[:, :4], model(pixel_values=pixel_values, labels=labels).logits[:, :4]
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_generate_with_and_without_the_cache_and_beam_no_worse_than_greedy(variant):
    model = build(seed=3, **variant).eval()
    inputs = {"pixel_values": images()}
    outputs = generate_with_and_without_cache(model, inputs)
    assert (outputs["greedy"].sequences[:, 0] == BOS).all()
    beam_logprob = sequence_logprob(model, outputs["beam"].sequences, inputs)
    # had the state not followed the beams' reordering, the scores would belong to other sequences
    torch.testing.assert_close(outputs["beam"].sequences_scores, beam_logprob, rtol=1e-4, atol=1e-4)
    assert (beam_logprob >= sequence_logprob(model, outputs["greedy"].sequences, inputs) - 1e-5).all()
    if variant["attention"] == "soft":
        steps = model.generate(
            **inputs, max_new_tokens=3, output_attentions=True, return_dict_in_generate=True
        )
        assert len(steps.cross_attentions) == 3 and steps.cross_attentions[0][0].shape == (3, 1, 1, 16)


def test_save_reload_and_remote_code_give_the_same_captions(tmp_path):
    pixel_values = images()
    model = build(seed=4, cell="gru").eval()
    encoder = build(HfrCaptioningModel, seed=5).eval()
    folders = {
        "AutoModelForImageTextToText": assert_save_reload_identical(
            model, "AutoModelForImageTextToText", {"pixel_values": pixel_values, "labels": caption_labels()},
            tmp_path,
        ),
        "AutoModel": assert_save_reload_identical(encoder, "AutoModel", {"pixel_values": pixel_values}, tmp_path),
    }  # fmt: skip
    assert set(folders) == set(AUTO_MAP)
    captions = model.generate(pixel_values=pixel_values, max_new_tokens=5, num_beams=3)
    reloaded = transformers.AutoModelForImageTextToText.from_pretrained(
        folders["AutoModelForImageTextToText"]
    )
    assert torch.equal(reloaded.generate(pixel_values=pixel_values, max_new_tokens=5, num_beams=3), captions)

    torch.save(pixel_values, tmp_path / "pixels.pt")
    result = run_without_hf_recipes(
        f"""
        import json, torch, transformers
        pixel_values = torch.load("pixels.pt")
        model = transformers.AutoModelForImageTextToText.from_pretrained(
            {str(folders["AutoModelForImageTextToText"])!r}, trust_remote_code=True)
        encoder = transformers.AutoModel.from_pretrained({str(folders["AutoModel"])!r}, trust_remote_code=True)
        with torch.no_grad():
            regions = encoder(pixel_values=pixel_values).last_hidden_state
        captions = model.generate(pixel_values=pixel_values, max_new_tokens=5, num_beams=3)
        print(json.dumps({{"module": type(model).__module__, "captions": captions.tolist(),
                          "regions": regions.tolist()}}))
        """,
        cwd=tmp_path,
    )
    assert result["module"].startswith("transformers_modules")
    assert result["captions"] == captions.tolist()
    with torch.no_grad():
        expected = encoder(pixel_values=pixel_values).last_hidden_state
    torch.testing.assert_close(torch.tensor(result["regions"]), expected, rtol=0, atol=1e-6)


def test_pretrained_word_embeddings_stay_frozen_through_save(tmp_path):
    model = build()
    vectors = torch.randn(VOCAB, 16)
    model.load_pretrained_embeddings(vectors)
    model.save_pretrained(tmp_path)
    reloaded = HfrCaptioningForConditionalGeneration.from_pretrained(tmp_path)
    assert not reloaded.get_input_embeddings().weight.requires_grad
    torch.testing.assert_close(reloaded.get_input_embeddings().weight, vectors)
    with pytest.raises(ValueError, match="vocab_size × embedding_size"):
        model.load_pretrained_embeddings(torch.zeros(VOCAB, 8))


def tiny_resnet_checkpoint(tmp_path, seed=7):
    """A ResNet image classifier saved as a Hub checkpoint is (the layout of microsoft/resnet-50), random."""
    config = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=3)
    torch.manual_seed(seed)
    directory = tmp_path / "resnet"
    transformers.ResNetForImageClassification(config).save_pretrained(directory)
    return directory


def test_a_pretrained_backbone_loads_stays_frozen_and_reloads_without_hf_recipes(tmp_path):
    checkpoint = tiny_resnet_checkpoint(tmp_path)
    backbone_config = transformers.AutoConfig.from_pretrained(checkpoint)
    model = build(seed=3, backbone_config=backbone_config, region_grid=2, freeze_encoder=True)
    assert model.encoder.feature_size == 16 and model.config.backbone_config["model_type"] == "resnet"
    model.load_pretrained_backbone(str(checkpoint))
    pretrained = transformers.ResNetBackbone.from_pretrained(checkpoint).state_dict()
    for name, tensor in model.encoder.backbone.state_dict().items():
        torch.testing.assert_close(tensor, pretrained[name], rtol=0, atol=0)

    # frozen: a training step moves the decoder only, and the batch-norm statistics stay as loaded
    model.train()
    assert not model.encoder.training and model.decoder.training
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(pixel_values=images(), labels=caption_labels()).loss.backward()
    optimizer.step()
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before if name.startswith("encoder."))
    assert not torch.equal(before["lm_head.weight"], after["lm_head.weight"])

    folder = assert_save_reload_identical(
        model, "AutoModelForImageTextToText", {"pixel_values": images(), "labels": caption_labels()}, tmp_path
    )
    reloaded = transformers.AutoModelForImageTextToText.from_pretrained(folder)
    assert not any(p.requires_grad for p in reloaded.encoder.parameters())
    captions = model.eval().generate(pixel_values=images(), max_new_tokens=4)
    torch.save(images(), tmp_path / "pixels.pt")
    result = run_without_hf_recipes(
        f"""
        import json, torch, transformers
        model = transformers.AutoModelForImageTextToText.from_pretrained({str(folder)!r}, trust_remote_code=True)
        print(json.dumps({{"captions": model.generate(pixel_values=torch.load("pixels.pt"), max_new_tokens=4).tolist()}}))
        """,
        cwd=tmp_path,
    )
    assert result["captions"] == captions.tolist()

    other = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 32], depths=[1, 1])
    with pytest.raises(ValueError, match="does not fit"):
        build(backbone_config=other, region_grid=2).load_pretrained_backbone(str(checkpoint))
    with pytest.raises(ValueError, match="no backbone"):
        build().load_pretrained_backbone(str(checkpoint))


def test_config_rejects_a_region_grid_larger_than_the_feature_map():
    with pytest.raises(Exception, match="region_grid=20"):
        HfrCaptioningConfig(image_size=64, encoder_channels=[8, 16, 32], region_grid=20)
    config = HfrCaptioningConfig(vocab_size=7, encoder_channels=[4, 8])
    assert json.loads(config.to_json_string())["encoder_channels"] == [4, 8]


# ------------------------------------------------------------------------------------------------------------
# The synthetic scenes


def test_held_out_pairs_never_reach_training_and_every_test_scene_has_one():
    for split in ("train", "validation"):
        for scene in shapes.scenes(split, 500):
            assert not {(o.colour, o.shape) for o in scene.objects} & shapes.HELD_OUT
    seen = set()
    for scene in shapes.scenes("test", 300):
        pairs = {(o.colour, o.shape) for o in scene.objects}
        assert pairs & shapes.HELD_OUT
        seen |= pairs & shapes.HELD_OUT
    assert seen == shapes.HELD_OUT
    train_pairs = {(o.colour, o.shape) for scene in shapes.scenes("train", 500) for o in scene.objects}
    # every colour and every shape of a held-out pair is seen in training, only not together
    assert {c for c, _ in shapes.HELD_OUT} <= {c for c, _ in train_pairs}
    assert {s for _, s in shapes.HELD_OUT} <= {s for _, s in train_pairs}


def test_scenes_are_reproducible_and_their_captions_and_pixels_match_their_objects():
    assert shapes.scene("train", 7) == shapes.scene("train", 7) != shapes.scene("train", 8)
    assert np.array_equal(shapes.scene("test", 3).render(64), shapes.scene("test", 3).render(64))
    assert shapes.scene("train", 7) != shapes.scene("train", 7, seed=1)
    inverse = {"above": "below", "below": "above", "left of": "right of", "right of": "left of"}
    for scene in shapes.scenes("train", 200):
        image = scene.render(64)
        for caption in scene.captions():
            for obj in scene.objects:
                assert f"{obj.colour} {obj.shape}" in caption
        for obj in scene.objects:
            left, top, right, bottom = obj.box(64)
            assert 0 <= left < right <= 64 and 0 <= top < bottom <= 64
            x, y = (int(v * 64) for v in obj.center)
            assert tuple(image[y, x]) == shapes.COLOURS[obj.colour]  # the object is drawn at its centre
        if len(scene.objects) == 2:
            first, second = (o.box(64) for o in scene.objects)
            apart = (
                first[2] <= second[0]
                or second[2] <= first[0]
                or first[3] <= second[1]
                or second[3] <= first[1]
            )
            assert apart, scene
            axis = 1 if scene.relation in ("above", "below") else 0
            first_lower = scene.objects[0].center[axis] < scene.objects[1].center[axis]
            assert first_lower == (scene.relation in ("above", "left of"))
            assert inverse[scene.relation] in scene.captions()[1]


def test_a_tiny_captioner_learns_the_one_object_scenes_with_the_trainer(tmp_path):
    """Real Seq2SeqTrainer, real scenes: 120 steps caption unseen one-object scenes far above chance (an exact
    caption by chance: 1 in 30, five colours × three shapes × two sizes)."""
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

    from hf_recipes.data.tokenization import append_eos, train_tokenizer

    def rows(split, count):
        return [
            (torch.from_numpy(scene.render(32)).permute(2, 0, 1).float() / 127.5 - 1, scene.captions()[0])
            for scene in shapes.scenes(split, count)
            if len(scene.objects) == 1
        ]

    train, validation = rows("train", 1200), rows("validation", 200)
    tokenizer = append_eos(
        train_tokenizer([c for _, c in train], "word", 100, min_frequency=1,
                        special_tokens={"bos_token": "<s>", "eos_token": "</s>"})
    )  # fmt: skip
    features = [{"pixel_values": image, "labels": tokenizer(caption).input_ids} for image, caption in train]

    def collate(batch):
        labels = torch.full((len(batch), max(len(b["labels"]) for b in batch)), -100)
        for row, b in enumerate(batch):
            labels[row, : len(b["labels"])] = torch.tensor(b["labels"])
        return {"pixel_values": torch.stack([b["pixel_values"] for b in batch]), "labels": labels}

    config = HfrCaptioningConfig(
        vocab_size=len(tokenizer), image_size=32, encoder_channels=[16, 32], region_grid=4, embedding_size=32,
        hidden_size=64, attention_size=32, dropout=0.0, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    model = HfrCaptioningForConditionalGeneration(config)
    args = Seq2SeqTrainingArguments(
        str(tmp_path), max_steps=120, per_device_train_batch_size=32, learning_rate=3e-3, warmup_steps=20,
        save_strategy="no", report_to=[], use_cpu=True, seed=0, disable_tqdm=True,
    )  # fmt: skip
    Seq2SeqTrainer(model=model, args=args, train_dataset=features, data_collator=collate).train()
    model.eval()
    with torch.no_grad():
        generated = model.generate(
            pixel_values=torch.stack([image for image, _ in validation]), max_new_tokens=8
        )
    captions = [text.strip() for text in tokenizer.batch_decode(generated, skip_special_tokens=True)]
    exact = np.mean([caption == reference for caption, (_, reference) in zip(captions, validation)])
    assert exact >= 0.5, (exact, captions[:5])


def test_attention_maps_of_a_caption_and_the_mass_on_a_box(tmp_path):
    from transformers import PreTrainedTokenizerFast

    from hf_recipes.data.tokenization import word_tokenizer
    from hf_recipes.evaluation.captioning import caption_attention, mass_in_box
    from hf_recipes.plots import plot_caption_attention

    tokenizer: PreTrainedTokenizerFast = word_tokenizer([f"w{i}" for i in range(VOCAB - 2)], lowercase=False)
    model = build(seed=6)
    scene = shapes.scene("validation", 0)
    image = scene.render(32)
    pixels = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 127.5 - 1
    result = caption_attention(model, tokenizer, pixels, max_new_tokens=4, min_new_tokens=4)
    assert len(result.tokens) == 4 and result.weights.shape == (4, 4, 4)
    np.testing.assert_allclose(result.weights.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    path = plot_caption_attention(
        image, result.tokens, result.weights, tmp_path / "attention.png", result.caption
    )
    assert path.stat().st_size > 1000

    # mass_in_box: a map on one cell puts all its mass in a box around that cell and none elsewhere
    weights = np.zeros((4, 4))
    weights[1, 2] = 1.0  # row 1, column 2: pixels y 8..16, x 16..24 of a 32-pixel image
    assert mass_in_box(weights, (16, 8, 24, 16), 32) == (1.0, 1 / 16)
    assert mass_in_box(weights, (0, 0, 16, 32), 32)[0] == 0.0
    assert mass_in_box(weights, (20, 8, 24, 16), 32)[0] == 0.5  # half the cell
    uniform = np.full((4, 4), 1 / 16)
    mass, share = mass_in_box(uniform, (3, 5, 19, 21), 32)
    assert mass == pytest.approx(share)  # a map that ignores the object: its area share
    model.config.attention = "none"
    with pytest.raises(Exception, match="no map to draw"):
        caption_attention(model, tokenizer, pixels)


def test_the_processor_saves_with_the_model_and_captions_an_image_through_remote_code(tmp_path):
    """model + processor in one folder: AutoProcessor and AutoModelForImageTextToText caption a PIL image, in
    this process and in one where hf_recipes cannot be imported, with the same ids."""
    from PIL import Image

    from hf_recipes.data.tokenization import append_eos, train_tokenizer
    from hf_recipes.models.captioning import HfrCaptioningProcessor

    captions = [scene.captions()[0] for scene in shapes.scenes("train", 50)]
    tokenizer = append_eos(
        train_tokenizer(captions, "word", 60, min_frequency=1, special_tokens={"bos_token": "<s>", "eos_token": "</s>"})
    )  # fmt: skip
    model = build(
        seed=7, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    ).eval()  # fmt: skip
    processor = HfrCaptioningProcessor.for_model(model.config, tokenizer)
    image = Image.fromarray(shapes.scene("test", 0).render(64))  # resized to the model's 32 pixels
    batch = processor(images=[image], text_target=[captions[0]], return_tensors="pt")
    assert batch["pixel_values"].shape == (1, 3, 32, 32) and -1 <= batch["pixel_values"].min() < 0
    assert batch["labels"][0].tolist() == tokenizer(captions[0]).input_ids
    assert model(**batch).loss > 0  # what training takes
    words = captions[0].split()[:2]
    prompt = processor(images=image, text=" ".join(words), return_tensors="pt")["decoder_input_ids"]
    assert prompt[0].tolist() == [tokenizer.bos_token_id, *tokenizer.convert_tokens_to_ids(words)]
    continued = model.generate(pixel_values=batch["pixel_values"], decoder_input_ids=prompt, max_new_tokens=3)
    assert continued[0, :3].tolist() == prompt[0].tolist()
    model.save_pretrained(tmp_path / "captioner")
    processor.save_pretrained(tmp_path / "captioner")
    image.save(tmp_path / "scene.png")

    reloaded = transformers.AutoProcessor.from_pretrained(tmp_path / "captioner")
    assert type(reloaded) is HfrCaptioningProcessor
    pixels = reloaded(images=image, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(pixels, batch["pixel_values"])
    ids = model.generate(pixel_values=pixels, max_new_tokens=6, num_beams=2)
    result = run_without_hf_recipes(
        f"""
        import json, transformers
        from PIL import Image
        folder = {str(tmp_path / "captioner")!r}
        processor = transformers.AutoProcessor.from_pretrained(folder, trust_remote_code=True)
        model = transformers.AutoModelForImageTextToText.from_pretrained(folder, trust_remote_code=True)
        pixels = processor(images=Image.open("scene.png"), return_tensors="pt")["pixel_values"]
        ids = model.generate(pixel_values=pixels, max_new_tokens=6, num_beams=2)
        pipe = transformers.pipeline("image-text-to-text", model=folder, trust_remote_code=True)
        piped = pipe(images=Image.open("scene.png"), text="", max_new_tokens=6, num_beams=2)
        print(json.dumps({{"processor": type(processor).__module__, "ids": ids.tolist(),
                          "caption": processor.batch_decode(ids, skip_special_tokens=True)[0],
                          "pipeline": piped[0]["generated_text"]}}))
        """,
        cwd=tmp_path,
    )
    caption = reloaded.batch_decode(ids, skip_special_tokens=True)[0]
    assert result["processor"].startswith("transformers_modules")
    assert result["ids"] == ids.tolist()
    assert result["caption"] == caption and caption.strip()
    assert result["pipeline"].strip() == caption.strip()
    # the pipeline of transformers 5 for image → text, here with hf_recipes: a caption, and one continued
    pipe = transformers.pipeline("image-text-to-text", model=str(tmp_path / "captioner"))
    [piped] = pipe(images=image, text="", max_new_tokens=6, num_beams=2)
    assert piped["generated_text"].strip() == caption.strip()
    first = caption.split()[0]
    [continued] = pipe(images=image, text=first, max_new_tokens=6, num_beams=2)
    assert continued["generated_text"].split()[0] == first
