"""`hf-recipes quickstart` end to end, as a user runs it (a subprocess, offline, no data directory), with the
steps shortened: tokenizer, MLM+NSP pretraining, fine-tuning from the checkpoint and from scratch on the
built-in word_order task, evaluation, model cards, plots, and the printed summary."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

SHORT = [
    "pretrain.training.max_steps=30",
    "pretrain.training.eval_steps=30",
    "pretrain.training.save_steps=30",
    "pretrain.training.disable_tqdm=true",
    "finetune.training.max_steps=20",
    "finetune.training.eval_steps=10",
    "finetune.training.disable_tqdm=true",
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
    expected = {
        "pretrain": ["model.safetensors", "modeling_bert.py", "tokenizer.json", "recipe.yaml", "metrics.json"]
        + ["loss.png", "README.md"],
        "pretrained": ["model.safetensors", "recipe.yaml", "metrics.json", "predictions.jsonl", "loss.png"]
        + ["confusion_matrix.png", "README.md"],
        ".": ["transfer.md", "transfer.json", "transfer.png", "transfer.yaml"],
    }
    expected["scratch"] = expected["pretrained"]
    for folder, names in expected.items():
        for name in names:
            assert (out / folder / name).is_file(), f"{folder}/{name}"
    pretraining = json.loads((out / "pretrain" / "metrics.json").read_text())
    assert pretraining["global_step"] == 30 and "eval_mlm_accuracy" in pretraining
    card = (out / "pretrained" / "README.md").read_text()
    assert "word_order" in card


def test_the_summary_prints_both_runs_and_what_to_run_next(quickstart):
    out, stdout = quickstart
    report = json.loads((out / "transfer.json").read_text())
    assert (
        report["task"] == "word_order" and report["pretrained"]["steps"] == report["scratch"]["steps"] == 20
    )
    assert f"from the pretrained BERT   eval_accuracy {report['pretrained']['eval_accuracy']:.3f}" in stdout
    assert f"from random weights        eval_accuracy {report['scratch']['eval_accuracy']:.3f}" in stdout
    assert "fill-mask with the saved checkpoint:" in stdout and "-> " in stdout
    assert f"outputs in {out}/" in stdout
    assert "make transfer TASK=sst2 DATA_DIR=../shared/data" in stdout


def test_the_fine_tuned_directory_serves_a_pipeline(quickstart):
    from transformers import pipeline

    out, _ = quickstart
    # as the quickstart prints it: a fresh process that has not imported hf_recipes
    classify = pipeline(
        "text-classification", model=str(out / "pretrained"), trust_remote_code=True, device="cpu"
    )
    (prediction,) = classify("A function definition is an executable statement.")
    assert prediction["label"] in ("original", "shuffled")
