"""What README's "Failure and resume" section promises, each promise tested on real runs in real processes.

The runs are a nano char-GPT on a text that ships with Python (the Language Reference), so no dataset is needed:
a few seconds each. Kills and signals hit `hf-recipes pretrain` subprocesses; every interrupted run is compared
with the same run left alone.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from hf_recipes.errors import NonFiniteLoss, UserError
from hf_recipes.jobs import pretrain

REPO = Path(__file__).resolve().parents[1]
RECIPE = {
    "objective": {"type": "causal_lm", "block_size": 32},
    "model": {
        "type": "hfr_gpt",
        "size": "nano",
        "config": {"n_positions": 32, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0},
    },
    "tokenizer": {"train": "char"},
    "data": {
        "local": {"train": "corpus.txt"},
        "document_boundary": "file",
        "validation_fraction": 0.05,
        "max_eval_samples": 32,
    },
    "training": {
        "max_steps": 200,
        "per_device_train_batch_size": 8,
        "learning_rate": 3.0e-3,
        "logging_steps": 5,
        "save_steps": 10,
        "eval_strategy": "no",
        "seed": 7,
    },
    "samples": {"count": 1, "max_new_tokens": 10},
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A recipe file and its corpus, and the run left alone (`straight`) to compare interrupted runs with."""
    from pydoc_data.topics import topics

    root = tmp_path_factory.mktemp("runs")
    (root / "data").mkdir()
    (root / "data" / "corpus.txt").write_text("\n\n".join(topics[key] for key in sorted(topics))[:200_000])
    (root / "recipe.yaml").write_text(yaml.safe_dump(RECIPE))
    straight = root / "straight"
    pretrain.run(str(root / "recipe.yaml"), data_dir=str(root / "data"), output_dir=str(straight))
    return root


def command(workspace: Path, out: Path, *overrides: str) -> list[str]:
    recipe, data = str(workspace / "recipe.yaml"), str(workspace / "data")
    return [
        sys.executable,
        "-m",
        "hf_recipes",
        "pretrain",
        recipe,
        "--data-dir",
        data,
        "--output-dir",
        str(out),
        *overrides,
    ]


def run_again(workspace: Path, out: Path, *overrides: str) -> dict:
    return pretrain.run(
        str(workspace / "recipe.yaml"), list(overrides), data_dir=str(workspace / "data"), output_dir=str(out)
    )


def assert_same_run(a: Path, b: Path, stopped_at: int | None = None) -> None:
    """Same final weights (bit for bit), same final metrics, same logged losses at the same steps. A run stopped
    between two logging steps logs, at the next one, the mean over the steps after the stop only (the Trainer's
    running loss is not part of a checkpoint): that one value may differ."""
    first, second = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert first.keys() == second.keys()
    for name, tensor in first.items():
        assert torch.equal(second[name], tensor), name
    logging_steps = RECIPE["training"]["logging_steps"]
    losses = [
        [
            (entry["step"], entry["loss"])
            for entry in json.loads((d / "log_history.json").read_text())
            if "loss" in entry
            and not (stopped_at is not None and stopped_at < entry["step"] < stopped_at + logging_steps)
        ]
        for d in (a, b)
    ]
    steps = [[step for step, _ in run] for run in losses]
    assert steps[0] == steps[1] and len(steps[0]) >= 200 // logging_steps - 1
    assert losses[0] == losses[1]
    metrics = [json.loads((d / "metrics.json").read_text()) for d in (a, b)]
    assert metrics[0]["global_step"] == metrics[1]["global_step"] == 200
    assert metrics[0]["eval_loss"] == metrics[1]["eval_loss"]


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the run ended before {path.name} appeared"
        assert time.monotonic() < deadline, f"{path.name} did not appear"
        time.sleep(0.02)


def test_a_kill_during_a_checkpoint_save_leaves_no_checkpoint_and_the_rerun_ends_as_if_never_killed(
    workspace,
):
    out = workspace / "killed_in_save"
    # SIGKILL from inside the save of checkpoint-20, after the weights and the optimizer are written and before
    # the RNG and trainer states are: the moment a kill leaves a half-written checkpoint.
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from hf_recipes.training import RecipeTrainer
        save_rng_state = RecipeTrainer._save_rng_state
        def kill_at_20(self, output_dir):
            if self.state.global_step == 20:
                os.kill(os.getpid(), signal.SIGKILL)
            return save_rng_state(self, output_dir)
        RecipeTrainer._save_rng_state = kill_at_20
        from hf_recipes.cli import main
        sys.exit(main({command(workspace, out)[3:]!r}))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    assert (out / "checkpoint-10" / "trainer_state.json").is_file()
    assert not (out / "checkpoint-20").exists()  # only the staged copy, which nothing reads
    assert (out / ".partial" / "checkpoint-20" / "model.safetensors").is_file()
    # A checkpoint as a kill left it before checkpoints were staged: weights, an empty optimizer, no state.
    legacy = out / "checkpoint-30"
    legacy.mkdir()
    (legacy / "model.safetensors").write_bytes((out / "checkpoint-10" / "model.safetensors").read_bytes())
    (legacy / "optimizer.pt").write_bytes(b"")

    rerun = subprocess.run(command(workspace, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{legacy}: incomplete checkpoint (no readable trainer_state.json), skipped" in rerun.stderr
    assert not (out / ".partial").exists()
    assert_same_run(workspace / "straight", out)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_saves_a_checkpoint_exits_nonzero_and_the_rerun_resumes_exactly(workspace, signum):
    out = workspace / f"stopped_{signum.name}"
    process = subprocess.Popen(
        command(workspace, out), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    wait_for(out / "checkpoint-20", process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"interrupted: {signum.name}: stopped at step "), stderr[-2000:]
    step = int(last.split("stopped at step ")[1].split(",")[0])
    assert 20 <= step < 200 and f"saved {out / f'checkpoint-{step}'}" in last
    state = json.loads((out / f"checkpoint-{step}" / "trainer_state.json").read_text())
    assert state["global_step"] == step and not (out / "metrics.json").exists()

    rerun = subprocess.run(command(workspace, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert_same_run(workspace / "straight", out, stopped_at=step)


def test_a_finished_run_run_again_changes_nothing_and_says_where_its_results_are(workspace, capsys):
    out = workspace / "straight"
    before = {
        path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in out.iterdir() if path.is_file()
    }
    capsys.readouterr()
    metrics = run_again(workspace, out)
    assert (
        f"{out}: finished already with this recipe; results in {out / 'metrics.json'}"
        in capsys.readouterr().err
    )
    assert metrics == json.loads((out / "metrics.json").read_text()) and metrics["global_step"] == 200
    after = {
        path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in out.iterdir() if path.is_file()
    }
    assert after == before


def test_a_kill_after_the_last_checkpoint_does_not_train_a_step_more(workspace):
    """transformers' loop would train step max_steps + 1 when it resumes from the checkpoint at max_steps."""
    out = workspace / "killed_at_the_end"
    run_again(workspace, out)
    (out / "metrics.json").unlink()  # as if killed after checkpoint-200 and before the run was written up
    metrics = run_again(workspace, out)
    assert metrics["global_step"] == 200
    assert_same_run(workspace / "straight", out)


def test_a_nonfinite_loss_stops_the_run_names_the_step_and_keeps_the_good_checkpoints(workspace):
    out = workspace / "diverged"
    with pytest.raises(NonFiniteLoss) as raised:
        run_again(workspace, out, "training.learning_rate=1e6", "training.save_steps=1")
    message = str(raised.value)
    assert "\n" not in message and message.startswith("training: the ")
    step = raised.value.step
    assert f"at step {step};" in message and step < 200
    assert not (out / "metrics.json").exists() and not (out / "model.safetensors").exists()
    checkpoints = sorted(out.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    assert all(int(path.name.split("-")[1]) < step for path in checkpoints)
    for checkpoint in checkpoints:  # what was kept is finite
        assert all(
            torch.isfinite(tensor).all() for tensor in load_file(checkpoint / "model.safetensors").values()
        )
    if checkpoints:
        assert f"the last good checkpoint is {checkpoints[-1]}" in message
    else:
        assert not out.exists()  # nothing a later run could trust

    cli = subprocess.run(
        command(workspace, workspace / "diverged_cli", "training.learning_rate=1e6"),
        capture_output=True,
        text=True,
    )
    assert_one_error_line(cli, "training: the ")


# --- bad input: one line, exit 2, nothing written -----------------------------------------------------------


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hf_recipes", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def assert_one_error_line(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert expected in lines[0], lines[0]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["training.max_steps=-5"], "training.max_steps: expected a positive number of steps, or -1"),
        (
            ["training.per_device_train_batch_size=0"],
            "training.per_device_train_batch_size: expected a whole number",
        ),
        (["training.learning_rate=-1"], "training.learning_rate: expected a number of at least 0"),
        (["objective.block_size=64"], "objective: sequences of 64 tokens exceed the model's 32 positions"),
    ],
)
def test_bad_training_values_are_one_line_and_leave_no_folder(workspace, overrides, expected):
    out = workspace / "refused"
    assert_one_error_line(cli(*command(workspace, out, *overrides)[3:], cwd=workspace), expected)
    assert not out.exists()


def test_an_empty_data_file_leaves_nothing_that_the_fixed_rerun_would_reuse(workspace, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "corpus.txt").write_text("")
    out = tmp_path / "out"
    args = ["pretrain", str(workspace / "recipe.yaml"), "--data-dir", str(data), "--output-dir", str(out)]
    result = cli(*args, "training.max_steps=4", cwd=tmp_path)
    assert result.returncode == 2 and not out.exists(), result.stderr[-2000:]

    (data / "corpus.txt").write_text(
        (workspace / "data" / "corpus.txt").read_text()
    )  # the user fixes the file
    assert cli(*args, "training.max_steps=4", cwd=tmp_path).returncode == 0
    vocabulary = json.loads((out / "tokenizer.json").read_text())["model"]["vocab"]
    assert len(vocabulary) > 50  # trained on the real text, not the three special tokens of the empty one


def test_bad_checkpoints_and_generation_flags_are_one_line(workspace, tmp_path):
    straight = workspace / "straight"
    not_a_model = tmp_path / "notes"
    not_a_model.mkdir()
    (not_a_model / "notes.txt").write_text("mine")
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    for file in straight.iterdir():
        if file.is_file():
            (truncated / file.name).write_bytes(file.read_bytes())
    (truncated / "model.safetensors").write_bytes((straight / "model.safetensors").read_bytes()[:1000])

    no_config = "is not a model directory (no config.json"
    assert_one_error_line(cli("generate", str(not_a_model), "x", cwd=tmp_path), no_config)
    assert_one_error_line(
        cli("generate", str(straight), "x", "--num-beams", "0", cwd=tmp_path),
        "--num-beams: expected at least 1",
    )
    assert_one_error_line(
        cli("generate", str(truncated), "x", cwd=tmp_path), f"model.safetensors in {truncated} cannot be read"
    )
    finetune = ["finetune", "word_order", "--output-dir", str(tmp_path / "ft")]
    assert_one_error_line(
        cli(*finetune, "--model", str(not_a_model), cwd=tmp_path), f"--model: {not_a_model} {no_config}"
    )
    assert_one_error_line(
        cli(*finetune, "--model", str(truncated), "training.max_steps=1", "data.max_length=32", cwd=tmp_path),
        f"model.name_or_path: model.safetensors in {truncated} cannot be read",
    )
    # --model is checked before the recipe's keys (the default transfer recipe has no `tiny` variant)
    transfer = ["transfer", "word_order", "--model", str(not_a_model), "variant=tiny"]
    assert_one_error_line(cli(*transfer, cwd=tmp_path), f"--model: {not_a_model} {no_config}")
    assert not (tmp_path / "ft").exists() and not (tmp_path / "outputs").exists()


def test_a_missing_accelerate_config_is_one_line_before_accelerate_runs():
    result = subprocess.run(
        ["make", "-s", "check-accelerate", "ACCELERATE=no_such_config"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode != 0
    configs = sorted(path.stem for path in (REPO / "recipes" / "accelerate").glob("*.yaml"))
    assert {"cpu_2proc", "fsdp", "multi_gpu", "deepspeed_zero3"} <= set(configs)
    assert result.stderr.strip().splitlines()[0] == (  # make adds a line of its own after it
        "error: ACCELERATE=no_such_config: no accelerate config recipes/accelerate/no_such_config.yaml; choose one "
        f"of: {' '.join(configs)}"
    )
    assert (
        subprocess.run(["make", "-s", "check-accelerate", "ACCELERATE=multi_gpu"], cwd=REPO).returncode == 0
    )


# --- secrets ------------------------------------------------------------------------------------------------


def test_a_hub_token_given_to_a_run_is_written_nowhere(workspace, tmp_path):
    token = "hf_" + "SeCrEt" * 6
    out = tmp_path / "out"
    result = subprocess.run(
        command(
            workspace, out, "training.max_steps=10", "training.save_steps=5", f"training.hub_token={token}"
        ),
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    files = [path for path in out.rglob("*") if path.is_file()]
    assert {"recipe.yaml", "training_args.bin", "environment.json", "metrics.json"} <= {p.name for p in files}
    assert (out / "checkpoint-10" / "training_args.bin").is_file()
    for path in files:
        assert token.encode() not in path.read_bytes(), path
    assert "training.hub_token=<redacted>" in (out / "recipe.yaml").read_text()
    assert "training.hub_token=<redacted>" in json.loads((out / "environment.json").read_text())["command"]


def test_push_refuses_a_link_that_leaves_the_run_folder(workspace, tmp_path):
    from hf_recipes.model_card import select_files

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "inside.json").symlink_to(folder / "config.json")
    assert select_files(folder) == ["config.json", "inside.json"]
    secret = tmp_path / "id_rsa"
    secret.write_text("private key")
    (folder / "notes.txt").symlink_to(secret)
    with pytest.raises(UserError, match=r"refusing to push notes.txt: a link to .*id_rsa, outside"):
        select_files(folder)
    (folder / "notes.txt").unlink()
    (folder / "docs").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(UserError, match="refusing to push docs: a link to"):
        select_files(folder)
