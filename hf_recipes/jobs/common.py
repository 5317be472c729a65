"""What every training job shares: the output directory, TrainingArguments, resuming, the files a finished
run leaves behind (metrics.json, log_history.json, loss.png), and building a model config and its tokenizer
from a recipe's `model` (type, size, config) and `tokenizer` sections (pretraining, and fine-tuning a model
built from a config)."""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError
from torch.utils.data import SequentialSampler
from transformers import HfArgumentParser, Seq2SeqTrainer, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint, has_length

from ..data.tokenization import load_tokenizer, special_token_ids, train_tokenizer
from ..errors import UserError
from ..plots import plot_loss
from ..recipe import TokenizerSpec, yaml_load

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


def prepare_output_dir(output_dir: Path, resolved: dict[str, Any], recipe_yaml: str) -> str | None:
    """Create `output_dir` for this run and write recipe.yaml; if it holds an earlier attempt of the same
    recipe, return its last checkpoint to resume from. A directory holding anything else is refused, so a
    run never mixes its files with another's."""
    previous = output_dir / "recipe.yaml"
    if output_dir.exists() and any(output_dir.iterdir()):
        if not previous.is_file():
            raise UserError(
                f"output_dir {output_dir}: exists and is not an hf-recipes run; choose another --output-dir"
            )
        differences = recipe_differences(yaml_load(previous.read_text()) or {}, resolved)
        if differences:
            raise UserError(
                f"output_dir {output_dir}: holds a run of a different recipe ({', '.join(differences[:4])} differ); "
                "choose another --output-dir or delete it"
            )
    output_dir.mkdir(parents=True, exist_ok=True)
    write_text(previous, recipe_yaml)
    return get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None


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


def recipe_header(verb: str, recipe_name: str, overrides: list[str] | dict[str, Any]) -> str:
    """The comment lines on top of a saved recipe.yaml: where it came from and how to run it again."""
    given = (
        " ".join(overrides)
        if not isinstance(overrides, dict)
        else " ".join(f"{k}={v}" for k, v in overrides.items())
    )
    return (
        f"# resolved from {recipe_name}{' with ' + given if given else ''}\n"
        f"# re-run: hf-recipes {verb} <this file>\n"
    )


def training_arguments(
    training: dict[str, Any],
    output_dir: Path,
    *,
    arguments_class: type[TrainingArguments] = TrainingArguments,
    **defaults: Any,
) -> TrainingArguments:
    """`arguments_class` (TrainingArguments or a subclass) from the recipe's `training` section over the job's
    `defaults`."""
    values = {**defaults, **training, "output_dir": str(output_dir)}
    try:
        (args,) = HfArgumentParser(arguments_class).parse_dict(values, allow_extra_keys=False)
    except (ValueError, TypeError) as error:
        raise UserError(f"training: {' '.join(str(error).split())}") from None
    return args


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


def finish_run(output_dir: Path, log_history: list[dict], metrics: dict[str, float], title: str) -> dict:
    """Write log_history.json, loss.png and, last, metrics.json (its presence marks a finished run)."""
    write_json(output_dir / "log_history.json", log_history)
    evaluations = [(entry["eval_loss"], entry["step"]) for entry in log_history if "eval_loss" in entry]
    if evaluations:
        best, step = min(evaluations)
        metrics = {**metrics, "best_eval_loss": best, "best_eval_step": step}
    plot_loss(log_history, output_dir / "loss.png", title)
    metrics = {key: _plain(value) for key, value in metrics.items()}
    write_json(output_dir / "metrics.json", metrics)
    return metrics


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def perplexity(loss: float) -> float:
    return math.exp(loss) if loss < 50 else float("inf")


# --- a model built from a config, and its tokenizer -----------------------------------------------------


def tokenizer_from_spec(spec: TokenizerSpec, texts: Callable[[], Iterable[str]]):
    """The tokenizer a recipe's `tokenizer` section describes: loaded (`name_or_path`) or trained (`train`) on
    the strings `texts()` yields (called only when training)."""
    if spec.name_or_path is not None:
        return load_tokenizer(spec.name_or_path)
    return train_tokenizer(
        texts(),
        spec.train,
        spec.vocab_size,
        lowercase=spec.lowercase,
        min_frequency=spec.min_frequency,
        special_tokens=spec.special_tokens or None,
    )


def build_model_config(family, size: str | None, fields: dict[str, Any], tokenizer, **fixed: Any):
    """`family`'s config from its `size` preset, the recipe's `fields` on top, then the tokenizer's special token
    ids and vocabulary size (and `fixed`, e.g. a second vocabulary), which the recipe may not contradict."""
    fixed = {"vocab_size": len(tokenizer), **fixed}
    for key, value in fixed.items():
        if key in fields and fields[key] != value:
            raise UserError(f"model.config.{key}: {fields[key]} != the tokenizer's {value}; leave it out")
    names = set(family.config_class.__dataclass_fields__)
    specials = {name: token_id for name, token_id in special_token_ids(tokenizer).items() if name in names}
    values = {**family.sizes.get(size, {}), **fields, **specials, **fixed}
    try:
        return family.config_class(**values)
    except (StrictDataclassClassValidationError, StrictDataclassFieldValidationError, ValueError) as error:
        raise UserError(f"model.config: {' '.join(str(error).split())}") from None


# --- Trainers whose evaluation keeps the dataset's order ------------------------------------------------


class _EvaluationInOrder:
    """transformers 5 applies `train_sampling_strategy="group_by_length"` to evaluation as well
    (`Trainer._get_eval_sampler` returns a LengthGroupedSampler), so predictions come back in another order
    than the eval examples. Our tasks pair predictions with their examples (BLEU references, predictions.jsonl,
    SQuAD windows), so evaluation here always reads the dataset in order; training still groups by length."""

    def _get_eval_sampler(self, eval_dataset):
        if self.args.train_sampling_strategy != "group_by_length":
            return super()._get_eval_sampler(eval_dataset)
        if eval_dataset is None or not has_length(eval_dataset):
            return None
        # several processes: no sampler, accelerate shards in order and gather_for_metrics restores it
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None


class OrderedTrainer(_EvaluationInOrder, Trainer):
    """`Trainer` whose evaluation and prediction keep the dataset's order (see _EvaluationInOrder)."""


class OrderedSeq2SeqTrainer(_EvaluationInOrder, Seq2SeqTrainer):
    """`Seq2SeqTrainer` whose evaluation and prediction keep the dataset's order (see _EvaluationInOrder)."""


class StepSettingsOfThisAttempt(TrainerCallback):
    """Resuming restores the checkpoint's TrainerState, and with it the logging/eval/save step intervals of
    the first attempt (transformers computes them from the arguments, then overwrites them with the saved
    state, and only warns). RESUMABLE_CHANGES promises that a re-run with new intervals uses them: this
    recomputes them from this attempt's arguments, as the Trainer does for a fresh run."""

    def on_train_begin(self, args, state, control, **kwargs):
        state.compute_steps(args, state.max_steps)


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), for the hardware stamp of measured numbers."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
