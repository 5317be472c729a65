"""The output directory of a run, from its first attempt to its finished results.

A run directory belongs to one recipe (its resolved form is saved there as recipe.yaml) and goes through:

    new ─▶ started (recipe.yaml, environment.json, the tokenizer) ─▶ checkpoint-N/ ... ─▶ finished (metrics.json)

- `RunDirectory(path, resolved)` looks at the directory before anything is written: it refuses one that holds
  another recipe's run, says whether the run is finished (metrics.json is written last, atomically, so its
  presence means everything else is there) and which complete checkpoint an interrupted attempt resumes from.
  A checkpoint is complete when its trainer_state.json is there and a weights file beside it; the training
  loop writes each one under `.partial/` and renames it into place when it is whole (hf_recipes.training), so a
  kill during a save leaves nothing that looks like a checkpoint.
- `start()` writes recipe.yaml and environment.json; `guard()` removes a directory that this attempt created
  when the attempt fails before its first checkpoint, so a failed run leaves no tokenizer or recipe that a
  later run would trust.
- `finish()` writes log_history.json, loss.png and, last, metrics.json.

Every file is written atomically (a temporary file renamed over the old one).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from .config import yaml_load
from .errors import UserError

# Training settings that may change between attempts of the same run (to train longer, log differently,
# push, or evaluate with another batch size) without making the checkpoints in the directory a different run.
RESUMABLE_CHANGES = {
    "max_steps",
    "num_train_epochs",
    "logging_steps",
    "eval_steps",
    "save_steps",
    "save_total_limit",
    "push_to_hub",
    "hub_model_id",
    "hub_strategy",
    "hub_private_repo",
    "report_to",
    "dataloader_num_workers",
    "per_device_eval_batch_size",
    "disable_tqdm",
}
# Top-level recipe keys that do not change what a run trains: editing a recipe's description, or moving a run
# directory elsewhere (its saved output_dir is then the old place), neither refuses the directory nor keeps a
# finished run in it from being reused.
NOT_WHAT_IT_TRAINS = {"description", "output_dir"}

FINISHED = "metrics.json"  # written last: a run directory with it is a finished run
STAGING = ".partial"  # checkpoints are written in here, then renamed into the run directory when complete
CHECKPOINT_PREFIX = "checkpoint-"
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.safetensors",
)


class RunDirectory:
    """What an output directory holds for the run of `resolved` (the resolved recipe mapping), read before any
    file is written. Raises a UserError for a directory that holds anything but a run of the same recipe."""

    def __init__(self, path: str | os.PathLike, resolved: dict[str, Any]):
        self.path = Path(path)
        self.resolved = resolved
        self.created = self._made_folder = False
        saved = self.path / "recipe.yaml"
        self.exists = self.path.is_dir() and any(self.path.iterdir())
        previous = None
        if self.exists:
            if not saved.is_file():
                raise UserError(
                    f"output_dir {self.path}: exists and is not an hf-recipes run; choose another --output-dir"
                )
            previous = yaml_load(saved.read_text()) or {}
            resolved = yaml_load(yaml.safe_dump(resolved, allow_unicode=True))  # compared as saved
            differences = recipe_differences(previous, resolved)
            if differences:
                raise UserError(
                    f"output_dir {self.path}: holds a run of a different recipe ({', '.join(differences[:4])} "
                    "differ); choose another --output-dir or delete it"
                )
        # Finished only for the very same recipe: more steps (a resumable change) continue the run.
        self.finished = (
            previous is not None
            and (self.path / FINISHED).is_file()
            and not recipe_differences(previous, resolved, resumable=False)
        )
        self.resume_from = None if self.finished or not self.exists else last_complete_checkpoint(self.path)

    def metrics(self) -> dict[str, Any]:
        """The finished run's metrics.json."""
        return json.loads((self.path / FINISHED).read_text())

    def report_finished(self) -> dict[str, Any]:
        """One line saying where the finished run's results are; returns them."""
        print(
            f"{self.path}: finished already with this recipe; results in {self.path / FINISHED} (nothing to do: "
            "choose another --output-dir, or change the recipe, to train again)",
            file=sys.stderr,
        )
        return self.metrics()

    def start(self, recipe_yaml: str, *, main_process: bool = True) -> None:
        """Create the directory and write recipe.yaml and environment.json (this attempt's). A finished run
        that trains on (a resumable change such as more steps) is no longer finished: its metrics.json goes."""
        from .environment import environment

        self.created = not self.exists
        self._made_folder = not self.path.is_dir()
        if not main_process:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / FINISHED).unlink(missing_ok=True)
        shutil.rmtree(self.path / STAGING, ignore_errors=True)  # a save that a kill interrupted
        write_text(self.path / "recipe.yaml", recipe_yaml)
        write_json(self.path / "environment.json", environment())

    @contextmanager
    def guard(self, *, main_process: bool = True) -> Iterator[None]:
        """Remove the directory if this attempt created it and fails before its first complete checkpoint."""
        try:
            yield
        except BaseException:
            if self.created and main_process and last_complete_checkpoint(self.path, quiet=True) is None:
                self._remove_what_this_attempt_wrote()
            raise

    def _remove_what_this_attempt_wrote(self) -> None:
        if self._made_folder:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for child in self.path.iterdir():  # the folder was there, empty: leave it so
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)

    def finish(self, log_history: list[dict], metrics: dict[str, Any], title: str) -> dict[str, Any]:
        """Write log_history.json, loss.png and, last, metrics.json (its presence marks a finished run)."""
        from .plots import plot_loss

        write_json(self.path / "log_history.json", log_history)
        evaluations = [(entry["eval_loss"], entry["step"]) for entry in log_history if "eval_loss" in entry]
        if evaluations:
            best, step = min(evaluations)
            metrics = {**metrics, "best_eval_loss": best, "best_eval_step": step}
        plot_loss(log_history, self.path / "loss.png", title)
        metrics = {key: _plain(value) for key, value in metrics.items()}
        write_json(self.path / FINISHED, metrics)
        return metrics


def last_complete_checkpoint(path: Path, *, quiet: bool = False) -> str | None:
    """The newest complete `checkpoint-N` folder in `path`; incomplete ones (from before checkpoints were saved
    atomically, or damaged since) are skipped with one line each."""
    if not path.is_dir():
        return None
    steps = sorted(
        (int(child.name[len(CHECKPOINT_PREFIX) :]), child)
        for child in path.iterdir()
        if child.is_dir()
        and child.name.startswith(CHECKPOINT_PREFIX)
        and child.name[len(CHECKPOINT_PREFIX) :].isdigit()
    )
    for _, checkpoint in reversed(steps):
        problem = _incomplete(checkpoint)
        if problem is None:
            return str(checkpoint)
        if not quiet:
            print(f"{checkpoint}: incomplete checkpoint ({problem}), skipped", file=sys.stderr)
    return None


def _incomplete(checkpoint: Path) -> str | None:
    state = checkpoint / "trainer_state.json"
    try:
        json.loads(state.read_text())
    except (OSError, ValueError):
        return "no readable trainer_state.json"
    if not any(
        (checkpoint / name).is_file() and (checkpoint / name).stat().st_size > 0 for name in WEIGHT_FILES
    ):
        return "no model weights"
    return None


def recipe_differences(old: dict, new: dict, resumable: bool = True, prefix: str = "") -> list[str]:
    """The dotted keys in which two resolved recipes differ, description and place aside; with `resumable`, also
    without the training settings an interrupted run may change (RESUMABLE_CHANGES) before it resumes."""
    keys = []
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}{key}"
        if (not prefix and key in NOT_WHAT_IT_TRAINS) or (
            resumable and prefix == "training." and key in RESUMABLE_CHANGES
        ):
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += recipe_differences(a, b, resumable, f"{path}.")
        elif a != b:
            keys.append(path)
    return keys


def write_text(path: Path, text: str) -> None:
    """Write a file atomically: a reader (or a crash) sees the old file or the new one, never half of one."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(text)
    os.chmod(handle.name, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
    os.replace(handle.name, path)


_UMASK = os.umask(0)
os.umask(_UMASK)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=float) + "\n")


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


__all__ = [
    "FINISHED",
    "NOT_WHAT_IT_TRAINS",
    "RESUMABLE_CHANGES",
    "RunDirectory",
    "STAGING",
    "last_complete_checkpoint",
    "recipe_differences",
    "write_json",
    "write_text",
]
