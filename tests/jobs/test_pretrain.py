"""`hf-recipes pretrain` end to end on tiny slices of the real corpora: Trainer, tokenizers, datasets, files."""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch
import transformers
from safetensors.torch import load_file

import hf_recipes  # noqa: F401
from hf_recipes.config import RECIPES_DIR
from hf_recipes.errors import UserError
from hf_recipes.jobs.pretrain import run
from hf_recipes.metrics import unigram_loss
from hf_recipes.runs import recipe_differences
from tests.helpers import pretrain_recipe

# The tiny variants with a constant lr and no warmup, so that a few dozen steps visibly learn.
CHAR_GPT = [
    "variant=tiny",
    "training.max_steps=40",
    "training.logging_steps=4",
    "training.eval_steps=20",
    "training.save_steps=20",
    "training.warmup_steps=0",
    "training.learning_rate=5e-3",
    "training.lr_scheduler_type=constant",
    "data.max_eval_samples=64",
    "samples.count=1",
    "samples.max_new_tokens=20",
]
BERT = [
    "variant=tiny",
    "training.max_steps=20",
    "training.logging_steps=4",
    "training.eval_steps=10",
    "training.save_steps=10",
    "training.warmup_steps=0",
    "training.learning_rate=2e-3",
    "training.lr_scheduler_type=constant",
    "data.max_eval_samples=64",
]


def logged_losses(output_dir):
    history = json.loads((output_dir / "log_history.json").read_text())
    return [entry["loss"] for entry in history if "loss" in entry]


def test_char_gpt_pretraining_end_to_end(shared_data, tmp_path, capsys):
    out = tmp_path / "char_gpt"
    # logging every step: the first logged loss is the untrained model's (about ln 65), not an average over
    # steps that already reach the unigram plateau, so "the loss fell" does not hinge on thread-count numerics
    overrides = [*CHAR_GPT, "training.logging_steps=1"]
    metrics = run("char_gpt_shakespeare", overrides, data_dir=str(shared_data), output_dir=str(out))

    for name in (
        "config.json",
        "model.safetensors",
        "modeling_gpt.py",
        "configuration_gpt.py",
        "tokenizer.json",
        "tokenizer_config.json",
        "recipe.yaml",
        "metrics.json",
        "log_history.json",
        "loss.png",
        "samples.txt",
    ):
        assert (out / name).is_file(), name
    losses = logged_losses(out)
    assert losses[-1] < losses[0] - 0.5, losses
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["global_step"] == 40 and saved["eval_loss"] == metrics["eval_loss"]
    assert saved["perplexity"] == pytest.approx(math.exp(saved["eval_loss"]))
    assert saved["best_eval_loss"] <= saved["eval_loss"] + 1e-9 and saved["train_tokens_per_second"] > 0
    # The Trainer evaluated the final weights at step 40: that evaluation is the final one, not run twice.
    evaluations = [e for e in json.loads((out / "log_history.json").read_text()) if "eval_loss" in e]
    assert [e["step"] for e in evaluations] == [20, 40] and evaluations[-1]["eval_loss"] == saved["eval_loss"]
    assert len((out / "samples.txt").read_text().strip()) > 0
    # 40 steps learn more than how common each character is: no warning about the plateau
    assert saved["eval_loss"] < saved["unigram_loss"] - 0.1, saved
    assert saved["unigram_perplexity"] == pytest.approx(math.exp(saved["unigram_loss"]))
    assert "has not learned to use context" not in capsys.readouterr().err

    # The directory is a complete checkpoint for transformers' Auto classes.
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    model = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    text = "ROMEO:\nWhat light?"
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids
    assert tokenizer.decode(ids[0]) == text  # character-level round trip
    assert model.config.vocab_size == len(tokenizer) and model.config.n_positions == 64
    with torch.no_grad():
        loss = model(ids, labels=ids).loss
    assert loss < math.log(len(tokenizer))  # better than uniform: the trained weights were saved

    # The saved recipe re-runs the same job.
    again, _ = pretrain_recipe(str(out / "recipe.yaml"))
    original, _ = pretrain_recipe(
        "char_gpt_shakespeare", overrides, data_dir=str(shared_data), output_dir=str(out)
    )
    assert again == original


@pytest.mark.parametrize("pack", [False, True], ids=["padded", "packed"])
def test_bert_mlm_nsp_pretraining_end_to_end(shared_data, tmp_path, capsys, pack):
    """(packed: objective.pack_sequences, several instances per row; tests/models/test_bert.py proves the
    losses equal the padded batch's, this that the job trains and evaluates on packed rows.)"""
    out = tmp_path / "bert"
    overrides = [*BERT, f"objective.pack_sequences={str(pack).lower()}"]
    metrics = run("bert_mlm_nsp_wikitext", overrides, data_dir=str(shared_data), output_dir=str(out))
    # 20 steps of masked LM learn token frequencies at most: the run says that fine-tuning from it is
    # unlikely to pay (its held-out MLM loss is no lower than the unigram loss at the 90% of targets it
    # cannot see)
    assert metrics["eval_mlm_loss"] >= 0.9 * metrics["unigram_loss"], metrics
    warning = capsys.readouterr().err
    assert f"the held-out masked-LM loss ({metrics['eval_mlm_loss']:.3f}) is no lower than" in warning
    assert f"({0.9 * metrics['unigram_loss']:.3f}; unigram_loss in metrics.json)" in warning

    losses = logged_losses(out)
    assert losses[-1] < losses[0] - 0.5, losses
    for key in ("eval_loss", "eval_mlm_loss", "eval_mlm_accuracy", "eval_nsp_loss", "eval_nsp_accuracy"):
        assert math.isfinite(metrics[key]), key
    assert metrics["eval_loss"] == pytest.approx(
        metrics["eval_mlm_loss"] + metrics["eval_nsp_loss"], rel=0.05
    )
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["eval_mlm_loss"]))

    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    encoded = tokenizer("the game was released", "it sold well", return_tensors="pt")
    assert encoded["token_type_ids"].tolist()[0][-1] == 1
    pretraining = transformers.AutoModelForPreTraining.from_pretrained(out)
    masked_lm = transformers.AutoModelForMaskedLM.from_pretrained(out)
    with torch.no_grad():
        torch.testing.assert_close(
            masked_lm(**encoded).logits, pretraining(**encoded).prediction_logits, rtol=0, atol=1e-5
        )
    fill_mask = transformers.pipeline("fill-mask", model=str(out), device="cpu")
    assert len(fill_mask("the game was [MASK] in japan .")) == 5


class Interrupted(Exception):
    pass


class InterruptAt(transformers.TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Interrupted(f"stopped at step {self.step}")


def test_an_interrupted_run_resumes_and_ends_where_an_uninterrupted_one_does(shared_data, tmp_path):
    overrides = [
        *CHAR_GPT,
        "training.max_steps=8",
        "training.save_steps=4",
        "training.eval_strategy=no",
        "data.max_train_samples=240",
    ]
    kwargs = dict(data_dir=str(shared_data))
    run("char_gpt_shakespeare", overrides, output_dir=str(tmp_path / "straight"), **kwargs)

    interrupted = tmp_path / "interrupted"
    with pytest.raises(Interrupted):
        run(
            "char_gpt_shakespeare",
            overrides,
            output_dir=str(interrupted),
            callbacks=[InterruptAt(6)],
            **kwargs,
        )
    assert (interrupted / "checkpoint-4").is_dir() and not (interrupted / "metrics.json").exists()

    # the same command again, after the run directory was moved (its saved recipe names the old place)
    resumed = tmp_path / "moved" / "resumed"
    resumed.parent.mkdir()
    shutil.move(interrupted, resumed)
    metrics = run("char_gpt_shakespeare", overrides, output_dir=str(resumed), **kwargs)
    assert metrics["global_step"] == 8
    steps = [
        entry["step"] for entry in json.loads((resumed / "log_history.json").read_text()) if "loss" in entry
    ]
    assert steps == [4, 8]  # the log goes on from checkpoint-4 (logging every 4 steps)
    straight = load_file(tmp_path / "straight" / "model.safetensors")
    again = load_file(resumed / "model.safetensors")
    for name, tensor in straight.items():
        torch.testing.assert_close(again[name], tensor, rtol=0, atol=1e-6, msg=name)


def test_a_resumed_run_takes_the_new_logging_and_eval_intervals(shared_data, tmp_path):
    """Resuming restores the checkpoint's TrainerState, whose step intervals transformers would keep; the
    intervals of the re-run command are the ones used (they are allowed to change between attempts)."""
    overrides = [
        *CHAR_GPT,
        "training.max_steps=8",
        "training.save_steps=4",
        "training.eval_steps=4",
        "data.max_train_samples=240",
    ]
    out, kwargs = tmp_path / "run", dict(data_dir=str(shared_data), output_dir=str(tmp_path / "run"))
    with pytest.raises(Interrupted):
        run("char_gpt_shakespeare", overrides, callbacks=[InterruptAt(5)], **kwargs)
    run("char_gpt_shakespeare", [*overrides, "training.logging_steps=1", "training.eval_steps=2"], **kwargs)
    history = json.loads((out / "log_history.json").read_text())
    assert [e["step"] for e in history if "loss" in e] == [4, 5, 6, 7, 8]
    assert [e["step"] for e in history if "eval_loss" in e] == [4, 6, 8]


def test_a_directory_of_another_recipe_is_refused(shared_data, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="is not an hf-recipes run"):
        run("char_gpt_shakespeare", CHAR_GPT, data_dir=str(shared_data), output_dir=str(out))
    (out / "notes.txt").unlink()
    overrides = [*CHAR_GPT, "training.max_steps=2", "training.eval_strategy=no"]
    run("char_gpt_shakespeare", overrides, data_dir=str(shared_data), output_dir=str(out))
    with pytest.raises(UserError, match=r"holds a run of a different recipe \(training.learning_rate differ"):
        run(
            "char_gpt_shakespeare",
            [*overrides, "training.learning_rate=1e-2"],
            data_dir=str(shared_data),
            output_dir=str(out),
        )


def test_the_unigram_loss_is_the_held_out_cross_entropy_of_training_frequencies_add_one():
    # counts 2 + 1, 1 + 1, 0 + 1 over 6: the held-out tokens 0 and 1 cost -log(3/6) and -log(2/6)
    assert unigram_loss([0, 0, 1], [0, 1], 3) == pytest.approx(-(math.log(3 / 6) + math.log(2 / 6)) / 2)


def test_runs_differ_by_what_they_train_not_by_their_description():
    """A reworded description or a moved directory is the same run; a longer max_steps is the same run to
    resume, not to reuse."""
    old = {
        "description": "BERT on WikiText",
        "output_dir": "outputs/bert",
        "training": {"max_steps": 10, "learning_rate": 1e-3},
    }
    assert recipe_differences(old, {**old, "description": "BERT-mini on WikiText-2"}) == []
    assert recipe_differences(old, {**old, "output_dir": "/elsewhere/bert"}, resumable=False) == []
    assert recipe_differences(old, {**old, "data_dir": "/other/data"}, resumable=False) == ["data_dir"]
    longer = {**old, "training": {"max_steps": 20, "learning_rate": 1e-3}}
    assert recipe_differences(old, longer) == []
    assert recipe_differences(old, longer, resumable=False) == ["training.max_steps"]
    faster = {**old, "training": {"max_steps": 10, "learning_rate": 1e-2}}
    assert recipe_differences(old, faster) == ["training.learning_rate"]
    assert recipe_differences(old, {**old, "model": {"size": "mini"}}, resumable=False) == ["model"]


@pytest.mark.skipif(
    shutil.which("accelerate") is None
    and not os.path.exists(os.path.join(os.path.dirname(sys.executable), "accelerate")),
    reason="accelerate CLI not installed",
)
def test_two_cpu_processes_under_accelerate_launch_write_a_checkpoint(shared_data, tmp_path):
    """The documented CPU form of multi-process training (recipes/accelerate/cpu_2proc.yaml): two gloo ranks."""
    out = tmp_path / "ddp"
    accelerate = os.path.join(os.path.dirname(sys.executable), "accelerate")
    command = [
        accelerate,
        "launch",
        "--config_file",
        str(RECIPES_DIR / "accelerate" / "cpu_2proc.yaml"),
        "-m",
        "hf_recipes",
        "pretrain",
        "char_gpt_shakespeare",
        "--data-dir",
        str(shared_data),
        "--output-dir",
        str(out),
        *CHAR_GPT,
        "training.max_steps=4",
        "training.save_steps=4",
        "training.eval_strategy=no",
        "data.max_train_samples=96",
    ]
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "checkpoint-4" / "model.safetensors").is_file()
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    # 4 steps x 12 sequences x 2 processes = 96 sequences = one epoch; one process would be at 0.5.
    assert state["epoch"] == pytest.approx(1.0)
    assert json.loads((out / "metrics.json").read_text())["global_step"] == 4


def test_dupe_factor_repeats_the_training_split_only(shared_data, tmp_path):
    """More pairings of the training corpus are more training data; the evaluation split is built once."""
    from hf_recipes.checkpoints import tokenizer_from_spec
    from hf_recipes.data.loading import load_documents
    from hf_recipes.jobs.pretrain import _examples

    def recipe_with(dupe_factor):
        overrides = ["variant=tiny", f"objective.dupe_factor={dupe_factor}", "data.max_eval_samples=null"]
        return pretrain_recipe("bert_mlm_nsp_wikitext", overrides, data_dir=str(shared_data))[0]

    single = recipe_with(1)
    documents = load_documents(single.data, single.data_dir)
    tokenizer = tokenizer_from_spec(single.tokenizer, lambda: (row["text"] for row in documents["train"]))
    once = _examples(single, documents, tokenizer, seed=0)
    thrice = _examples(recipe_with(3), documents, tokenizer, seed=0)
    assert len(once["validation"]) > 0
    assert thrice["validation"]["input_ids"] == once["validation"]["input_ids"]
    assert len(thrice["train"]) > 2.5 * len(once["train"])
