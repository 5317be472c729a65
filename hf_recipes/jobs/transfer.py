"""`hf-recipes transfer TASK` (`make transfer TASK=...`): what pretraining buys, measured.

    transfer recipe ─▶ pretrain job (or --model) ─▶ checkpoint
                    ─▶ finetune job, model.init=pretrained ─▶ <output_dir>/pretrained
                    ─▶ finetune job, model.init=scratch    ─▶ <output_dir>/scratch
                    ─▶ transfer.md + transfer.json (side-by-side table) + transfer.png (eval metric vs step)

The two fine-tuning runs are the same fine-tuning recipe with the same overrides, the same seed and the same
number of steps; they differ only in `model.init` (and their output directories), which the saved
`pretrained/recipe.yaml` and `scratch/recipe.yaml` show. The reported metric is the final model's on the
task's eval split (no checkpoint chosen by that split: the transfer recipes turn `load_best_model_at_end`
off); the best evaluation during training is shown beside it.

With `learning_rates: [...]` each init is fine-tuned once per rate (`<output_dir>/<init>/lr_<rate>`, the rate
as `training.learning_rate`, everything else alike) and reported at its best rate by that same final metric,
as BERT chose its GLUE fine-tuning rate on dev: one rate can suit one init better than the other (random
weights may diverge at a rate a checkpoint holds, or need more than it), a sweep gives each the same choice.
The whole grid is in the report.

A transfer recipe (recipes/transfer/<name>.yaml) names the pretraining recipe and the fine-tuning recipe and
holds the overrides that size them for a CPU; `hf-recipes transfer <task>` uses recipes/transfer/<task>.yaml,
else recipes/transfer/default.yaml with `task: <task>`. Command-line overrides address its keys:

    hf-recipes transfer sst2 --data-dir ../shared/data pretrain.training.max_steps=200 finetune.training.max_steps=100

The pretraining output directory is shared by the tasks of one pretraining recipe (by default
`<output_dir>/../<pretraining recipe>`): a finished run of exactly the same pretraining recipe there is reused,
so `make transfer TASK=sst2` then `make transfer TASK=conll2003` pretrain once. The resolved transfer recipe is
saved as `transfer.yaml`; `hf-recipes transfer <output_dir>/transfer.yaml` runs the same comparison again.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import environment
from ..checkpoints import check_checkpoint
from ..environment import versions
from ..errors import UserError
from ..recipe import (
    RECIPES_DIR,
    build,
    dump_recipe,
    finetune_task,
    load_finetune_recipe,
    load_pretrain_recipe,
    load_yaml,
    merge_recipe,
    parse_overrides,
    resolve_path,
    yaml_load,
)
from ..runs import recipe_differences, recipe_header, write_json, write_text
from ..secrets import redact, redact_argv

RUNS = ("pretrained", "scratch")


@dataclass
class TransferRecipe:
    """A transfer comparison: which pretraining, which fine-tuning task, and the overrides that size both."""

    task: str  # a fine-tuning recipe: recipes/finetune/<name>.yaml (sst2, conll2003, ...) or a YAML path
    output_dir: str
    pretrain_recipe: str = "bert_mlm_nsp_wikitext"  # recipes/pretrain/<name>.yaml or a YAML path
    # Overrides of the pretraining recipe, nested or dotted (`training: {max_steps: 1200}`, `variant: small`).
    pretrain: dict[str, Any] = field(default_factory=dict)
    # Overrides of the fine-tuning recipe, applied to both runs alike.
    finetune: dict[str, Any] = field(default_factory=dict)
    # Where the pretraining writes; `{output_dir}` is replaced by output_dir. Default: a sibling of output_dir
    # named after the pretraining recipe, shared by the tasks that use the same pretraining.
    pretrain_output_dir: str | None = None
    seed: int | None = None  # when set: training.seed of the pretraining and of both fine-tuning runs
    # When set: fine-tune each init at each rate and compare each at its best (see the module docstring).
    learning_rates: list[float] | None = None
    model: str | None = None  # --model: fine-tune this checkpoint instead of pretraining one
    description: str = ""
    data_dir: str | None = None  # --data-dir: passed to every stage


def main(args: argparse.Namespace) -> int:
    report = run(
        args.task, args.overrides, model=args.model, data_dir=args.data_dir, output_dir=args.output_dir
    )
    print(f"\n{render_markdown(report)}\nreport: {report['output_dir']}/transfer.md (.json, .png)")
    return 0


def load_transfer_recipe(
    name_or_path: str,
    overrides: list[str] | dict[str, Any] = (),
    *,
    model: str | None = None,
    data_dir: str | None = None,
    output_dir: str | None = None,
) -> tuple[TransferRecipe, dict[str, Any], str]:
    """The validated transfer recipe, its resolved mapping (saved as transfer.yaml) and its source file."""
    path, data = _transfer_source(name_or_path)
    source = str(path)
    if not isinstance(overrides, dict):
        overrides = parse_overrides(list(overrides))
    data = merge_recipe(data, dict(overrides), source)
    for key, value in (("model", model), ("data_dir", data_dir), ("output_dir", output_dir)):
        if value is not None:
            data[key] = value
    if not isinstance(data.get("task"), str):
        raise UserError(f"{source}: task: required, a fine-tuning recipe name (e.g. sst2) or a YAML path")
    # named after the transfer recipe (sst2_tapt), or after the task when default.yaml runs it (sst2)
    name = Path(data["task"]).stem if path.name == "default.yaml" else path.stem
    data.setdefault("output_dir", f"outputs/transfer/{name}")
    recipe = build(TransferRecipe, data, source)
    return recipe, data, source


def _transfer_source(name_or_path: str) -> tuple[Path, dict[str, Any]]:
    """recipes/transfer/<name>.yaml or a YAML path; otherwise a fine-tuning task run with default.yaml."""
    is_file = Path(name_or_path).suffix in (".yaml", ".yml")
    if is_file or (RECIPES_DIR / "transfer" / f"{name_or_path}.yaml").is_file():
        path = resolve_path(name_or_path, "transfer")
        return path, load_yaml(path)
    path = RECIPES_DIR / "transfer" / "default.yaml"
    return path, {**load_yaml(path), "task": name_or_path}


def run(
    recipe_name: str,
    overrides: list[str] | dict = (),
    *,
    model: str | None = None,
    data_dir: str | None = None,
    output_dir: str | None = None,
) -> dict:
    """Pretrain (unless `model` is given), fine-tune from the checkpoint and from scratch, write the report;
    returns the report (what transfer.json holds)."""
    from . import finetune, pretrain

    if model is not None:  # the checkpoint is checked before the recipe's keys
        check_checkpoint(model, "--model")
    recipe, resolved, source = load_transfer_recipe(
        recipe_name, overrides, model=model, data_dir=data_dir, output_dir=output_dir
    )
    out = Path(recipe.output_dir)
    seed = {"training.seed": recipe.seed} if recipe.seed is not None else {}
    pretrain_overrides = {**flatten(recipe.pretrain), **seed}
    finetune_overrides = {**flatten(recipe.finetune), **seed}
    rates = _learning_rates(recipe, finetune_overrides, source)
    pretrain_dir = _pretrain_dir(recipe)

    # Check both recipes and their overrides now, not after an hour of pretraining.
    if recipe.model is None:
        load_pretrain_recipe(
            recipe.pretrain_recipe,
            dict(pretrain_overrides),
            data_dir=recipe.data_dir,
            output_dir=pretrain_dir,
        )
    finetune_recipe, _ = load_finetune_recipe(
        recipe.task, {**finetune_overrides, "model.init": "scratch"}, data_dir=recipe.data_dir
    )
    task = finetune_task(finetune_recipe.task, source)
    out.mkdir(parents=True, exist_ok=True)
    header = recipe_header("transfer", recipe_name, overrides)
    write_text(out / "transfer.yaml", header + dump_recipe(resolved, TransferRecipe))

    pretraining = None
    if recipe.model is None:
        pretraining = _pretrain(recipe, pretrain_overrides, pretrain_dir, pretrain)
        checkpoint = pretrain_dir
    else:
        checkpoint = recipe.model
    runs: dict[str, list[dict]] = {init: [] for init in RUNS}
    for init in RUNS:
        for rate in rates:
            run_dir = str(out / init if rate is None else out / init / f"lr_{rate:g}")
            run_overrides = {**finetune_overrides, "model.init": init}
            if rate is not None:
                run_overrides["training.learning_rate"] = rate
            started = time.perf_counter()
            metrics = finetune.run(
                recipe.task,
                dict(run_overrides),
                model=checkpoint,
                data_dir=recipe.data_dir,
                output_dir=run_dir,
            )
            runs[init].append(
                {
                    "learning_rate": rate,
                    "output_dir": run_dir,
                    "wall_time_s": time.perf_counter() - started,
                    "metrics": metrics,
                    "command": command(
                        "finetune",
                        recipe.task,
                        run_overrides,
                        model=checkpoint,
                        data_dir=recipe.data_dir,
                        output_dir=run_dir,
                    ),
                }
            )

    report = _report(recipe, recipe_name, overrides, task, checkpoint, pretraining, runs)
    write_json(out / "transfer.json", report)
    write_text(out / "transfer.md", render_markdown(report))
    plot_transfer(report, out / "transfer.png")
    return report


def _learning_rates(recipe: TransferRecipe, finetune_overrides: dict, source: str) -> list[float | None]:
    """The fine-tuning rates to run each init at; [None]: once, at the fine-tuning recipe's own rate."""
    if recipe.learning_rates is None:
        return [None]
    if not recipe.learning_rates or any(rate <= 0 for rate in recipe.learning_rates):
        raise UserError(f"{source}: learning_rates: expected a non-empty list of positive rates")
    if "training.learning_rate" in finetune_overrides:
        raise UserError(
            f"{source}: learning_rates and finetune.training.learning_rate are both set; give one of them"
        )
    if len(set(recipe.learning_rates)) != len(recipe.learning_rates):
        raise UserError(f"{source}: learning_rates: {recipe.learning_rates} repeats a rate")
    return list(recipe.learning_rates)


def _pretrain_dir(recipe: TransferRecipe) -> str:
    if recipe.pretrain_output_dir is not None:
        return recipe.pretrain_output_dir.replace("{output_dir}", recipe.output_dir)
    return str(Path(recipe.output_dir).parent / Path(recipe.pretrain_recipe).stem)


def _pretrain(recipe: TransferRecipe, overrides: dict, output_dir: str, pretrain) -> dict:
    """Run the pretraining, or reuse a finished run of exactly the same recipe in `output_dir`."""
    _, resolved = load_pretrain_recipe(
        recipe.pretrain_recipe, dict(overrides), data_dir=recipe.data_dir, output_dir=output_dir
    )
    done = Path(output_dir) / "metrics.json"
    stage = {
        "recipe": recipe.pretrain_recipe,
        "output_dir": output_dir,
        "command": command(
            "pretrain", recipe.pretrain_recipe, overrides, data_dir=recipe.data_dir, output_dir=output_dir
        ),
    }
    saved = Path(output_dir) / "recipe.yaml"
    # Compared through YAML, as saved: a finished run of any other recipe (even more steps) is not reused;
    # one whose recipe differs in its description only is the same run.
    if (
        done.is_file()
        and saved.is_file()
        and not recipe_differences(
            yaml_load(saved.read_text()) or {}, yaml_load(dump_recipe(resolved)), resumable=False
        )
    ):
        print(f"transfer: reusing the finished pretraining in {output_dir} (same recipe)", file=sys.stderr)
        metrics = json.loads(done.read_text())
        return {**stage, "metrics": metrics, "reused": True, "wall_time_s": None}
    started = time.perf_counter()
    metrics = pretrain.run(
        recipe.pretrain_recipe, dict(overrides), data_dir=recipe.data_dir, output_dir=output_dir
    )
    return {**stage, "metrics": metrics, "reused": False, "wall_time_s": time.perf_counter() - started}


def _report(
    recipe: TransferRecipe,
    recipe_name: str,
    overrides,
    task,
    checkpoint: str,
    pretraining: dict | None,
    stages: dict[str, list[dict]],
) -> dict:
    metric = f"eval_{task.main_metric}"

    def score(value: float | None) -> float:  # higher is better; a missing metric loses
        if value is None:
            return float("-inf")
        return value if task.greater_is_better else -value

    runs = {}
    for init in RUNS:
        summaries = [_summary(stage, metric, score) for stage in stages[init]]
        # the first of equal scores: the rates' order in the recipe
        runs[init] = max(summaries, key=lambda run: score(run[metric]))
        if recipe.learning_rates is not None:
            runs[init]["sweep"] = [
                {key: run[key] for key in ("learning_rate", metric, "best", "output_dir", "command")}
                for run in summaries
            ]
    pretrained, scratch = runs["pretrained"][metric], runs["scratch"][metric]
    report = {
        "recipe": recipe_name,
        "task": task.name,
        "eval_split": task.eval_split,
        "metric": metric,
        "greater_is_better": task.greater_is_better,
        "checkpoint": checkpoint,
        "pretrained": runs["pretrained"],
        "scratch": runs["scratch"],
        "difference": pretrained - scratch if pretrained is not None and scratch is not None else None,
        "command": command(
            "transfer",
            recipe_name,
            overrides,
            model=recipe.model,
            data_dir=recipe.data_dir,
            output_dir=recipe.output_dir,
        ),
        "output_dir": recipe.output_dir,
        "hardware": hardware(),
    }
    if pretraining is not None:
        stage, metrics = pretraining, pretraining["metrics"]
        report["pretraining"] = {
            "recipe": stage["recipe"],
            "output_dir": stage["output_dir"],
            "reused": stage["reused"],
            "steps": metrics.get("global_step"),
            "train_runtime_s": metrics.get("train_runtime"),
            "wall_time_s": stage["wall_time_s"],
            "command": stage["command"],
            **{
                k: metrics[k]
                for k in ("eval_mlm_accuracy", "eval_nsp_accuracy", "perplexity")
                if k in metrics
            },
        }
    return report


def _summary(stage: dict, metric: str, score) -> dict:
    """One fine-tuning run as the report shows it: final and best eval metric, curve, times, command."""
    history = json.loads((Path(stage["output_dir"]) / "log_history.json").read_text())
    curve = [[entry["step"], entry[metric]] for entry in history if metric in entry]
    best_step, best = max(curve, key=lambda point: score(point[1])) if curve else (None, None)
    metrics = stage["metrics"]
    summary = {
        metric: metrics.get(metric),
        "best": best,
        "best_step": best_step,
        "steps": metrics.get("global_step"),
        "train_runtime_s": metrics.get("train_runtime"),
        "wall_time_s": stage["wall_time_s"],
        "eval_loss": metrics.get("eval_loss"),
        "curve": curve,
        "output_dir": stage["output_dir"],
        "command": stage["command"],
    }
    if stage["learning_rate"] is not None:
        summary["learning_rate"] = stage["learning_rate"]
    return summary


# --- the report ------------------------------------------------------------------------------------------


def render_markdown(report: dict) -> str:
    metric, pre, scratch = report["metric"], report["pretrained"], report["scratch"]
    recipe = f" (recipe `{report['recipe']}`)" if report["recipe"] != report["task"] else ""
    swept = "sweep" in pre
    runs = (
        "Both runs: the same recipe, seed and number of steps; only `model.init` differs."
        if not swept
        else "Every run: the same recipe, seed and number of steps but `model.init` and "
        "`training.learning_rate`; each init is shown at its best rate by the final "
        f"{metric} on the {report['eval_split']} split (the same choice for both, as BERT's on GLUE dev)."
    )
    lines = [
        f"## Transfer: {report['task']}{recipe}, {report['eval_split']} split, pretrained vs from scratch",
        "",
        f"Checkpoint: `{report['checkpoint']}`. {runs}",
        "",
        "| | pretrained | scratch |",
        "|---|---|---|",
        f"| **{metric}** (final model) | **{_number(pre[metric])}** | **{_number(scratch[metric])}** |",
    ]
    if swept:
        lines.append(
            f"| learning rate (best of the sweep) | {pre['learning_rate']:g} | {scratch['learning_rate']:g} |"
        )
    lines += [
        f"| best during training (step) | {_number(pre['best'])} ({pre['best_step']}) | "
        f"{_number(scratch['best'])} ({scratch['best_step']}) |",
        f"| eval_loss (final) | {_number(pre['eval_loss'])} | {_number(scratch['eval_loss'])} |",
        f"| steps | {pre['steps']} | {scratch['steps']} |",
        f"| training time | {_seconds(pre['train_runtime_s'])} | {_seconds(scratch['train_runtime_s'])} |",
        f"| wall time | {_seconds(pre['wall_time_s'])} | {_seconds(scratch['wall_time_s'])} |",
        "",
    ]
    if report["difference"] is not None:
        lines += [f"Pretrained minus scratch: **{report['difference']:+.4f}** {metric}.", ""]
    if swept:
        lines += [f"| learning rate | pretrained: {metric} | scratch: {metric} |", "|---|---|---|"]
        for pre_run, scratch_run in zip(pre["sweep"], scratch["sweep"]):
            cells = [
                f"**{_number(run[metric])}**"
                if run["output_dir"] == chosen["output_dir"]
                else _number(run[metric])
                for run, chosen in ((pre_run, pre), (scratch_run, scratch))
            ]
            lines.append(f"| {pre_run['learning_rate']:g} | {cells[0]} | {cells[1]} |")
        lines.append("")
    pretraining = report.get("pretraining")
    if pretraining is not None:
        measured = ", ".join(
            f"{key} {_number(pretraining[key])}"
            for key in ("eval_mlm_accuracy", "eval_nsp_accuracy", "perplexity")
            if key in pretraining
        )
        when = (
            "reused from an earlier run"
            if pretraining["reused"]
            else f"wall time {_seconds(pretraining['wall_time_s'])}"
        )
        lines += [
            f"Pretraining: `{pretraining['recipe']}`, {pretraining['steps']} steps, training time "
            f"{_seconds(pretraining['train_runtime_s'])} ({when}); {measured}.",
            "",
        ]
    hw = report["hardware"]
    lines += [
        f"Hardware: {hw['cpu']}, {hw['cpu_count']} cores, {hw['torch_threads']} torch threads"
        + (f", GPU {hw['gpu']}" if hw.get("gpu") else "")
        + f"; load average {hw['load_average']} at the end; torch {hw['torch']}, transformers {hw['transformers']}.",
        "",
        "Commands:",
        "",
        "```bash",
        report["command"] + "   # all of the below",
    ]
    if pretraining is not None:
        lines.append(pretraining["command"])
    for run in (pre, scratch):
        lines += [entry["command"] for entry in run.get("sweep", [run])]
    lines += ["```", ""]
    return "\n".join(lines)


def plot_transfer(report: dict, path: Path) -> Path:
    """The eval metric against the optimizer step, for both runs, on one axis."""
    from ..plots import plt

    metric = report["metric"]
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    for init, style in zip(RUNS, ("o-", "s--")):
        curve = report[init]["curve"]
        if curve:
            rate = report[init].get("learning_rate")
            label = f"{init}{'' if rate is None else f', lr {rate:g}'} ({_number(report[init][metric])})"
            axes.plot(*zip(*curve), style, label=label, markersize=4)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel(f"{metric} ({report['eval_split']})")
    title = report["task"] if report["recipe"] == report["task"] else f"{report['task']} ({report['recipe']})"
    axes.set_title(f"{title}: fine-tuning from the pretrained checkpoint vs from scratch")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


# --- helpers ---------------------------------------------------------------------------------------------


def flatten(overrides: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"training": {"max_steps": 5}, "variant": "tiny"}` -> `{"training.max_steps": 5, "variant": "tiny"}`
    (dotted keys, as the jobs take overrides; a dotted key given as such stays one)."""
    flat = {}
    for key, value in overrides.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def command(verb: str, recipe: str, overrides, *, model=None, data_dir=None, output_dir=None) -> str:
    """The `hf-recipes` command line that runs a stage on its own."""
    if isinstance(overrides, dict):
        pairs = [f"{key}={_inline(value)}" for key, value in redact(flatten(overrides)).items()]
    else:
        pairs = redact_argv(list(overrides))
    parts = ["hf-recipes", verb, recipe]
    for flag, value in (("--model", model), ("--data-dir", data_dir), ("--output-dir", output_dir)):
        if value is not None:
            parts += [flag, str(value)]
    return " ".join(shlex.quote(part) for part in parts + pairs)


def _inline(value: Any) -> str:
    if isinstance(value, str) and value and yaml_load(value) == value:
        return value
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def hardware() -> dict[str, Any]:
    """What the timings were measured on, with the versions of torch and transformers."""
    found = versions()
    return {**environment.hardware(), **{key: found[key] for key in ("torch", "transformers", "python")}}


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


__all__ = ["TransferRecipe", "command", "flatten", "load_transfer_recipe", "render_markdown", "run"]
