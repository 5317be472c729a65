"""GPT-3-style prompting evaluation (`hf-recipes prompt`): the verbaliser scores against a plain one-example
forward pass, the prompts' structure, and a tiny causal LM trained here for seconds that prompts well above
chance; our GPT and transformers' GPT-2 both go through the same code."""

import json
import random
import subprocess
import sys

import datasets
import numpy as np
import pytest
import torch
import transformers
import yaml

import hf_recipes  # noqa: F401  (registers our model families with the AutoClasses)
from hf_recipes.cli import main as cli
from hf_recipes.errors import UserError
from hf_recipes.evaluation.prompting import (
    PromptEncoder,
    evaluate_prompting,
    prompt_format,
    score_continuations,
)
from hf_recipes.jobs import pretrain
from hf_recipes.jobs.prompt import run
from hf_recipes.models.gpt import HfrGPTConfig
from hf_recipes.tasks import get_task

datasets.disable_progress_bars()


# ---------------------------------------------------------------------------------------------------------
# Scoring: batched, left-padded, through the KV cache == one example at a time, unpadded


def _tiny_models():
    torch.manual_seed(0)
    ours = transformers.AutoModelForCausalLM.from_config(
        HfrGPTConfig(vocab_size=61, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    )
    gpt2 = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(vocab_size=61, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    )
    return {"hfr_gpt": ours.eval(), "gpt2": gpt2.eval()}


def _reference_score(model, prompt: list[int], continuation: list[int]) -> float:
    """log P(continuation | prompt) from one unpadded forward pass over prompt + continuation."""
    ids = torch.tensor([prompt + continuation])
    with torch.no_grad():
        logprobs = model(input_ids=ids).logits[0].float().log_softmax(-1)
    return sum(float(logprobs[len(prompt) - 1 + j, token]) for j, token in enumerate(continuation))


@pytest.mark.parametrize("name", ["hfr_gpt", "gpt2"])
def test_batched_scores_equal_one_example_at_a_time(name):
    model = _tiny_models()[name]
    rng = random.Random(0)
    # prompts of very different lengths (much left padding); continuations of 1, 2 and 4 tokens
    prompts = [[rng.randrange(1, 61) for _ in range(length)] for length in (3, 17, 9, 30, 1, 12, 5)]
    continuations = [[7], [11, 3], [5, 9, 2, 40]]
    scores = score_continuations(model, prompts, continuations, pad_id=0, batch_size=3)
    expected = np.array([[_reference_score(model, p, c) for c in continuations] for p in prompts])
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    # one-token continuations alone take the single-pass route (no cache): the same numbers
    single = score_continuations(model, prompts, [[7], [11]], pad_id=0, batch_size=4)
    np.testing.assert_allclose(single[:, 0], expected[:, 0], atol=1e-4)
    np.testing.assert_allclose(single[:, 1], [_reference_score(model, p, [11]) for p in prompts], atol=1e-4)


# ---------------------------------------------------------------------------------------------------------
# A synthetic sentiment task the tiny LM can learn: the label follows from which adjectives a review holds

POSITIVE = "wonderful superb delightful brilliant charming moving".split()
NEGATIVE = "awful boring dreadful clumsy tedious dull".split()
NOUNS = "film plot cast story script ending score pacing".split()


def _review(rng: random.Random, label: int) -> str:
    return f"the {rng.choice(NOUNS)} was {rng.choice(POSITIVE if label else NEGATIVE)}"


def _write_task(folder, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    for split, count in (("train", rows), ("validation", 200)):
        with (folder / f"{split}.csv").open("w") as handle:
            handle.write("review,sentiment\n")
            for _ in range(count):
                label = rng.randrange(2)
                handle.write(f"{_review(rng, label)},{'pos' if label else 'neg'}\n")


@pytest.fixture(scope="module")
def review_task(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reviews")
    _write_task(folder, 400, seed=1)
    return folder


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A causal LM pretrained here with the pretrain job for seconds on documents written in the prompt format
    (several demonstrations each). The verbaliser follows the review's last word, an adjective whose class
    decides it: a tiny model learns that in a hundred steps (a dependency several tokens back takes a tiny
    GPT thousands)."""
    folder = tmp_path_factory.mktemp("tiny_lm")
    rng = random.Random(2)
    documents = []
    for _ in range(600):
        shots = []
        for _ in range(rng.randrange(2, 6)):
            label = rng.randrange(2)
            shots.append(f"Review: {_review(rng, label)} {'positive' if label else 'negative'}")
        documents.append("\n\n".join(shots))
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps({"text": d}) for d in documents))
    recipe = folder / "tiny_lm.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "objective": {"type": "causal_lm", "block_size": 128},
                "model": {
                    "type": "hfr_gpt",
                    "config": {"n_positions": 256, "n_embd": 64, "n_layer": 2, "n_head": 2},
                },
                "tokenizer": {"train": "bpe", "vocab_size": 600, "min_frequency": 1},
                "data": {"local": {"train": "corpus.jsonl"}, "document_boundary": "row"},
                "training": {
                    "max_steps": 120,
                    "per_device_train_batch_size": 16,
                    "learning_rate": 3e-3,
                    "warmup_steps": 10,
                    "logging_steps": 40,
                    "save_strategy": "no",
                    "disable_tqdm": True,
                    "seed": 0,
                },
                "samples": {"count": 1, "max_new_tokens": 10},
            }
        )
    )
    out = folder / "model"
    pretrain.run(str(recipe), data_dir=str(folder), output_dir=str(out))
    return out


PROMPT_OPTIONS = [
    "task.text_columns=[review]",
    "task.label_column=sentiment",
    "template='Review: {review}'",
    "verbalizers={neg: ' negative', pos: ' positive'}",
]


def test_a_tiny_lm_prompts_well_above_chance(tiny_lm, review_task, tmp_path):
    metrics = run(
        "custom",
        PROMPT_OPTIONS,
        model=str(tiny_lm),
        shots="0,1,4",
        data_dir=str(review_task),
        output_dir=str(tmp_path / "out"),
    )
    assert metrics["eval_samples"] == 200
    assert metrics["majority_class_accuracy"] < 0.6
    for k in (0, 1, 4):
        assert metrics[f"accuracy_{k}shot"] > 0.9, metrics
        assert metrics[f"mean_shots_{k}shot"] == k  # everything fits in the context
    rows = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 200
    saved = yaml.safe_load((tmp_path / "out" / "recipe.yaml").read_text())
    assert saved["shots"] == [0, 1, 4] and saved["verbalizers"] == {"neg": " negative", "pos": " positive"}


def test_k_demonstrations_from_train_appear_in_each_prompt(tiny_lm, review_task, tmp_path):
    out = tmp_path / "out"
    run(
        "custom",
        PROMPT_OPTIONS,
        model=str(tiny_lm),
        shots=[0, 1, 3],
        data_dir=str(review_task),
        output_dir=str(out),
    )
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    train = datasets.load_dataset("csv", data_files=str(review_task / "train.csv"), split="train")
    by_example = {}
    for row in rows:
        prompt = row["prompt"]
        # k answered demonstrations, then the query without its answer
        blocks = prompt.split("\n\n")
        assert len(blocks) == row["k"] + 1
        assert blocks[-1] == f"Review: {row['review']}"
        for block, index in zip(blocks[:-1], row["demonstration_ids"]):
            answer = " positive" if train[index]["sentiment"] == "pos" else " negative"
            assert block == f"Review: {train[index]['review']}{answer}"
        by_example.setdefault(row["index"], {})[row["k"]] = row["demonstration_ids"]
    # the k-shot demonstrations are the first k of one draw per example, and the draws differ between examples
    for ids in by_example.values():
        assert ids[0] == [] and ids[1] == ids[3][:1]
    assert len({tuple(ids[3]) for ids in by_example.values()}) > 150


def test_demonstrations_are_dropped_farthest_first_to_fit_the_context(tiny_lm, review_task, tmp_path):
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_lm)
    task = get_task("custom", text_columns=["review"], label_column="sentiment")
    raw = task.load(review_task)
    fmt = prompt_format(task, "Review: {review}", [" negative", " positive"])
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    metrics, rows = evaluate_prompting(
        model,
        tokenizer,
        task,
        raw["train"],
        raw["validation"].select(range(20)),
        shots=[8],
        fmt=fmt,
        max_length=60,
    )
    assert 0 < metrics["mean_shots_8shot"] < 8
    encoder = PromptEncoder(tokenizer, fmt, 60)
    for row in rows:
        assert len(encoder.prefix + encoder.encode(row["prompt"])) <= 60
        assert row["prompt"].endswith(f"Review: {row['review']}")
        assert row["demonstration_ids"] == row["demonstration_ids"][-row["demonstrations"] :]


def test_the_cli_on_sst2_with_a_gpt2_checkpoint(shared_data, tmp_path):
    """Any causal LM through the AutoClasses: transformers' GPT-2 with a byte-level BPE, no pad token."""
    from hf_recipes.data.tokenization import train_tokenizer

    lines = (shared_data / "glue/SST-2/train.tsv").read_text().splitlines()[1:2000]
    tokenizer = train_tokenizer([line.split("\t")[0] for line in lines], "bpe", 500)
    tokenizer.pad_token = None
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=2)
    )
    model.save_pretrained(tmp_path / "gpt2")
    tokenizer.save_pretrained(tmp_path / "gpt2")
    out = tmp_path / "out"
    status = cli(
        [
            "prompt", "sst2", "--model", str(tmp_path / "gpt2"), "--data-dir", str(shared_data),
            "--output-dir", str(out), "--shots", "0,2", "max_eval_samples=40", "calibrate=true",
        ]
    )  # fmt: skip
    assert status == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["verbalizers"] == [" negative", " positive"]
    assert metrics["eval_samples"] == 40 and metrics["max_length"] == 128
    assert {"accuracy_0shot", "accuracy_2shot", "calibrated_accuracy_2shot"} <= set(metrics)


@pytest.mark.parametrize(
    ("task", "options", "message"),
    [
        (
            "stsb",
            {},
            "prompting scores one verbaliser per label, so it takes single-label classification tasks",
        ),
        (
            "sst2",
            {"template": "Review: {text}\nSentiment:"},
            "template: {text} is not a text column of task sst2",
        ),
        ("sst2", {"verbalizers": [" bad"]}, "verbalizers: 1 given, task sst2 has 2 labels"),
        ("sst2", {"verbalizers": {"negative": " no", "good": " yes"}}, "verbalizers: unknown label 'good'"),
        ("sst2", {"verbalizers": [" no", " no"]}, "verbalizers: must be distinct"),
    ],
)
def test_prompt_format_errors_are_one_line(task, options, message):
    with pytest.raises(UserError) as error:
        prompt_format(get_task(task), **options)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_cli_errors(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hf_recipes",
            "prompt",
            "sst2",
            "--model",
            str(tmp_path / "nowhere"),
            "--shots",
            "0,x",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "error: --shots: expected comma-separated numbers such as 0,1,4, got '0,x'"
    )
