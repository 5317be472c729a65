"""`hf-recipes transfer TASK` (`make transfer TASK=...`): what pretraining buys, measured.

    transfer recipe ─▶ pretrain job (or --model) ─▶ checkpoint
                    ─▶ compare job, --vary model.init=pretrained,scratch, one seed:
                         finetune job, model.init=pretrained ─▶ <output_dir>/pretrained
                         finetune job, model.init=scratch    ─▶ <output_dir>/scratch
                         compare.md + compare.json + compare.png (the comparison's own report)
                    ─▶ transfer.md + transfer.json (side-by-side table) + transfer.png (eval metric vs step)

Transfer is a preset of `hf-recipes compare` with a pretraining stage in front: the same report over several
seeds is `hf-recipes compare <task> --model <checkpoint> --vary model.init=pretrained,scratch --seeds 3`
(what `hf-recipes quickstart` runs).

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
import sys
import time
from pathlib import Path

from ..checkpoints import check_checkpoint
from ..config import FinetuneRecipe, PretrainRecipe, TransferRecipe, command, flatten
from ..environment import report_hardware
from ..plots import plot_transfer
from ..reports import transfer_markdown
from ..resolve import resolve
from ..runs import RunDirectory, write_json, write_text

RUNS = ("pretrained", "scratch")


def main(args: argparse.Namespace) -> int:
    report = run(
        args.task, args.overrides, model=args.model, data_dir=args.data_dir, output_dir=args.output_dir
    )
    print(f"\n{transfer_markdown(report)}\nreport: {report['output_dir']}/transfer.md (.json, .png)")
    return 0


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
    from . import compare, pretrain

    if model is not None:  # the checkpoint is checked before the recipe's keys
        check_checkpoint(model, "--model")
    resolved = resolve(
        TransferRecipe, recipe_name, overrides, model=model, data_dir=data_dir, output_dir=output_dir
    )
    recipe = resolved.recipe
    out = Path(recipe.output_dir)
    seed = {"training.seed": recipe.seed} if recipe.seed is not None else {}
    pretrain_overrides = {**flatten(recipe.pretrain), **seed}
    finetune_overrides = {**flatten(recipe.finetune), **seed}
    pretrain_dir = _pretrain_dir(recipe)

    # Check both recipes and their overrides now, not after an hour of pretraining.
    if recipe.model is None:
        resolve(
            PretrainRecipe,
            recipe.pretrain_recipe,
            dict(pretrain_overrides),
            data_dir=recipe.data_dir,
            output_dir=pretrain_dir,
        )
    task = resolve(
        FinetuneRecipe, recipe.task, {**finetune_overrides, "model.init": "scratch"}, data_dir=recipe.data_dir
    ).task
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "transfer.yaml", resolved.saved_text())

    pretraining = None
    if recipe.model is None:
        pretraining = _pretrain(recipe, pretrain_overrides, pretrain_dir, pretrain)
        checkpoint = pretrain_dir
    else:
        checkpoint = recipe.model
    # The fine-tuning runs are a comparison of model.init (and of the rates, when swept) over one seed.
    # Without `learning_rates`, once at the fine-tuning recipe's own rate.
    rates = {"training.learning_rate": recipe.learning_rates} if recipe.learning_rates else {}
    vary = {"model.init": list(RUNS), **rates}

    def layout(values: dict, seed: int) -> Path:
        rate = values.get("training.learning_rate")
        return out / values["model.init"] if rate is None else out / values["model.init"] / f"lr_{rate:g}"

    compared = compare.run(
        recipe.task,
        finetune_overrides,
        vary=vary,
        seeds=1,
        model=checkpoint,
        data_dir=recipe.data_dir,
        output_dir=str(out),
        layout=layout,
    )
    runs: dict[str, list[dict]] = {init: [] for init in RUNS}
    for each in compared["runs"]:
        runs[each["values"]["model.init"]].append(
            {
                "learning_rate": each["values"].get("training.learning_rate"),
                **{key: each[key] for key in ("output_dir", "wall_time_s", "metrics", "command")},
            }
        )

    report = _report(recipe, recipe_name, overrides, task, checkpoint, pretraining, runs)
    write_json(out / "transfer.json", report)
    write_text(out / "transfer.md", transfer_markdown(report))
    plot_transfer(report, out / "transfer.png")
    return report


def _pretrain_dir(recipe: TransferRecipe) -> str:
    if recipe.pretrain_output_dir is not None:
        return recipe.pretrain_output_dir.replace("{output_dir}", recipe.output_dir)
    return str(Path(recipe.output_dir).parent / Path(recipe.pretrain_recipe).stem)


def _pretrain(recipe: TransferRecipe, overrides: dict, output_dir: str, pretrain) -> dict:
    """Run the pretraining, or reuse a finished run of exactly the same recipe in `output_dir`."""
    resolved = resolve(
        PretrainRecipe,
        recipe.pretrain_recipe,
        dict(overrides),
        data_dir=recipe.data_dir,
        output_dir=output_dir,
    )
    stage = {
        "recipe": recipe.pretrain_recipe,
        "output_dir": output_dir,
        "command": command(
            "pretrain", recipe.pretrain_recipe, overrides, data_dir=recipe.data_dir, output_dir=output_dir
        ),
    }
    # A finished run of any other recipe (even more steps) is not reused; one whose recipe differs in its
    # description only is the same run.
    finished = RunDirectory(output_dir, resolved.mapping)
    if finished.finished:
        print(f"transfer: reusing the finished pretraining in {output_dir} (same recipe)", file=sys.stderr)
        return {**stage, "metrics": finished.metrics(), "reused": True, "wall_time_s": None}
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
        "hardware": report_hardware(),
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
                for k in ("eval_mlm_accuracy", "eval_nsp_accuracy", "perplexity", "unigram_perplexity")
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


__all__ = ["run"]
