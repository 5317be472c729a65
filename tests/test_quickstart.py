"""`hf-recipes quickstart` end to end, as a user runs it (a subprocess, offline, no data directory), with the
steps shortened: tokenizer, causal-LM pretraining of the GPT, text generation, fine-tuning from the checkpoint
and from scratch on the built-in word_order task over two seeds (the compare job), evaluation, model cards,
plots, and the printed summary. Shortened, but long enough that the comparison means something: the classifier
fine-tuned from the saved checkpoint must leave chance, and beat the one from random weights (measured at
these settings: 0.920 ± 0.003 vs 0.829 ± 0.004)."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

SHORT = [
    "pretrain.training.max_steps=100",
    "pretrain.training.eval_steps=50",
    "pretrain.training.save_steps=100",
    "pretrain.training.disable_tqdm=true",
    "finetune.training.max_steps=40",
    "finetune.training.eval_steps=20",
    "finetune.training.disable_tqdm=true",
    "seeds=2",
]


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart") / "outputs"
    result = subprocess.run(
        [sys.executable, "-m", "hf_recipes", "quickstart", "--output-dir", str(out), *SHORT],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result.stdout


def test_every_output_is_written(quickstart):
    out, _ = quickstart
    classifier = ["model.safetensors", "recipe.yaml", "metrics.json", "predictions.jsonl", "loss.png"]
    expected = {
        "pretrain": ["model.safetensors", "modeling_gpt.py", "tokenizer.json", "recipe.yaml", "metrics.json"]
        + ["samples.txt", "loss.png", "README.md"],
        "compare": ["compare.md", "compare.json", "compare.png", "compare.yaml"],
    }
    for init in ("pretrained", "scratch"):
        for seed in (42, 43):
            expected[f"compare/model.init={init}/seed_{seed}"] = [
                *classifier,
                "confusion_matrix.png",
                "README.md",
            ]
    for folder, names in expected.items():
        for name in names:
            assert (out / folder / name).is_file(), f"{folder}/{name}"
    pretraining = json.loads((out / "pretrain" / "metrics.json").read_text())
    assert pretraining["global_step"] == 100 and "perplexity" in pretraining
    card = (out / "compare" / "model.init=pretrained" / "seed_42" / "README.md").read_text()
    assert "word_order" in card


def test_the_summary_prints_the_mean_and_spread_of_both_inits_and_what_to_run_next(quickstart):
    out, stdout = quickstart
    report = json.loads((out / "compare" / "compare.json").read_text())
    assert report["recipe"] == "word_order" and report["seeds"] == [42, 43]
    stats = {
        variant["values"]["model.init"]: variant["metrics"]["eval_accuracy"] for variant in report["variants"]
    }
    assert all(run["metrics"]["global_step"] == 40 for run in report["runs"]) and len(report["runs"]) == 4
    for init, label in (
        ("pretrained", "from the pretrained GPT    "),
        ("scratch", "from random weights        "),
    ):
        values = ", ".join(f"{value:.3f}" for value in stats[init]["values"])
        assert (
            f"{label}eval_accuracy {stats[init]['mean']:.3f} ± {stats[init]['std']:.3f}  ({values})" in stdout
        )
    worth = stats["pretrained"]["mean"] - stats["scratch"]["mean"]
    # The task is learnable at this budget, and the checkpoint's head start shows: a pretraining that learned
    # nothing a classifier can use (a BERT on the unigram plateau did: 0.500 vs 0.797) fails here.
    assert stats["scratch"]["mean"] > 0.6 and stats["pretrained"]["mean"] > 0.75 and worth > 0.03, stats
    pretraining = json.loads((out / "pretrain" / "metrics.json").read_text())
    assert pretraining["eval_loss"] < pretraining["unigram_loss"] - 0.5, pretraining
    assert f"; {pretraining['unigram_perplexity']:.0f} from token frequencies alone)" in stdout
    assert f"pretraining is worth       {worth:+.3f} (mean over the seeds)" in stdout
    assert "text-generation with the saved checkpoint:" in stdout and "'The value of the expression" in stdout
    assert f"outputs in {out}/" in stdout
    assert "make transfer TASK=sst2 DATA_DIR=../shared/data" in stdout


def test_overrides_name_their_stage(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hf_recipes",
            "quickstart",
            "--output-dir",
            str(tmp_path),
            "training.max_steps=5",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: quickstart: training.max_steps: expected pretrain.<key>, finetune.<key> or seeds\n"
    )


def test_the_fine_tuned_directory_serves_a_pipeline(quickstart):
    from transformers import pipeline

    out, _ = quickstart
    # as the quickstart prints it: a fresh process that has not imported hf_recipes
    classify = pipeline(
        "text-classification",
        model=str(out / "compare" / "model.init=pretrained" / "seed_42"),
        trust_remote_code=True,
        device="cpu",
    )
    (prediction,) = classify("A function definition is an executable statement.")
    assert prediction["label"] in ("original", "shuffled")
