"""`hf-recipes compare RECIPE --vary KEY=V1,V2 [--vary ...] [--seeds N]`: one recipe run once per combination of
the varied values and per seed, in one report.

    compare ─▶ for each variant (every combination of the --vary values) and each seed:
                 the finetune (or pretrain) job, the variant's values and training.seed as overrides
                 ─▶ <output_dir>/<variant>/seed_<seed>
            ─▶ compare.md + compare.json (each metric's mean ± standard deviation over the seeds)
               + compare.png (the training loss and the main evaluation metric of every variant against the
                 step: the mean over seeds, a band of ± one standard deviation)

Every run is the same recipe with the same command-line overrides; a run differs from the recipe only in the
variant's values and its seed, which the report lists per run (`overrides`) with the command that reruns it.
A run directory that already holds a finished run of exactly that recipe is reused, not trained again (the
jobs see to it), so a compare that was interrupted, or is run again with one more seed, trains only what is
missing. Seeds are the recipe's `training.seed`, then the next ones: `--seeds 3` with seed 42 runs 42, 43, 44.

    hf-recipes compare word_order --vary model.init=pretrained,scratch --seeds 3
    hf-recipes compare sst2 --data-dir ../shared/data --vary training.optim=sgd,adamw_torch --vary training.learning_rate=1e-3,1e-4
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shlex
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import CompareRecipe, FinetuneRecipe, PretrainRecipe, command, parse_overrides
from ..environment import report_hardware
from ..errors import UserError
from ..plots import plot_compare
from ..reports import compare_markdown
from ..resolve import resolve
from ..runs import write_json, write_text


def main(args: argparse.Namespace) -> int:
    report = run(
        args.recipe,
        args.overrides,
        vary=args.vary,
        seeds=args.seeds,
        job=args.job,
        model=args.model,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
    )
    print(f"\n{compare_markdown(report)}\nreport: {report['output_dir']}/compare.md (.json, .png)")
    return 0


@dataclass
class Plan:
    """A comparison read and checked, before anything runs."""

    resolved: Any  # the resolved CompareRecipe (compare.yaml)
    job: str  # finetune | pretrain
    job_flags: dict[str, Any]  # --model for fine-tuning
    metric: str  # the main evaluation metric
    greater_is_better: bool
    seeds: list[int]
    runs: list[
        tuple[str, dict[str, Any], int, dict[str, Any], Path]
    ]  # variant, its values, seed, overrides, dir


def plan(
    recipe_name: str,
    overrides: list[str] | dict = (),
    *,
    vary: list[str] | dict[str, list[Any]] | None = None,
    seeds: int | None = None,
    job: str | None = None,
    model: str | None = None,
    data_dir: str | None = None,
    output_dir: str | None = None,
    layout: Callable[[dict[str, Any], int], Path] | None = None,
) -> Plan:
    """Read the compare recipe and check the recipe of every run it will make (a typo in the third value
    fails now, not after an hour of the first two). `vary` is the command line's `KEY=V1,V2` items or a
    mapping of keys to values; `layout` (for jobs built on compare, such as transfer) places a run by its
    variant's values and seed instead of `<output_dir>/<variant>/seed_<seed>`."""
    given = dict(overrides) if isinstance(overrides, dict) else parse_overrides(list(overrides))
    axes = list(vary.items()) if isinstance(vary, dict) else _axes(vary) if vary else None
    flags = {"vary": axes, "seeds": seeds, "job": job, "model": model}
    resolved = resolve(
        CompareRecipe,
        recipe_name,
        {},
        data_dir=data_dir,
        output_dir=output_dir,
        recipe_overrides=given,
        **flags,
    )
    recipe = resolved.recipe
    job = recipe.job or _job_of(recipe.recipe)
    schema = FinetuneRecipe if job == "finetune" else PretrainRecipe
    if job == "pretrain" and recipe.model is not None:
        raise UserError("--model: only for fine-tuning recipes (a pretraining recipe builds its model)")
    job_flags = {"model": recipe.model} if job == "finetune" else {}
    shared = dict(recipe.overrides)  # dotted keys as on the command line; a whole section replaces it
    base = resolve(schema, recipe.recipe, dict(shared), data_dir=recipe.data_dir, **job_flags)
    first_seed = int(base.recipe.training.get("seed", 42))  # TrainingArguments' default seed
    seeds_run = list(range(first_seed, first_seed + recipe.seeds))
    runs = []
    for name, values in _variants(recipe):
        for seed in seeds_run:
            run_overrides = {**shared, **values, "training.seed": seed}
            run_dir = layout(values, seed) if layout else Path(recipe.output_dir) / name / f"seed_{seed}"
            resolve(
                schema, recipe.recipe, dict(run_overrides), data_dir=recipe.data_dir, output_dir=str(run_dir),
                **job_flags,
            )  # fmt: skip
            runs.append((name, values, seed, run_overrides, run_dir))
    task = base.task
    metric = f"eval_{task.main_metric}" if task is not None else "eval_loss"
    greater = task.greater_is_better if task is not None else False
    return Plan(resolved, job, job_flags, metric, greater, seeds_run, runs)


def run(recipe_name: str, overrides: list[str] | dict = (), **options) -> dict:
    """Run every variant × seed (reusing finished runs) and write the report; returns it (compare.json).
    `overrides` are the compared recipe's (`training.max_steps=100`), added to the compare recipe's own;
    `options` are plan's (vary, seeds, job, model, data_dir, output_dir, layout)."""
    from . import finetune, pretrain

    checked = plan(recipe_name, overrides, **options)
    recipe, metric = checked.resolved.recipe, checked.metric
    module = finetune if checked.job == "finetune" else pretrain
    out = Path(recipe.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "compare.yaml", checked.resolved.saved_text())

    runs = []
    for name, values, seed, run_overrides, run_dir in checked.runs:
        print(f"compare: {name}, seed {seed} -> {run_dir}", flush=True)
        started = time.perf_counter()
        arguments = dict(data_dir=recipe.data_dir, output_dir=str(run_dir), **checked.job_flags)
        metrics = module.run(recipe.recipe, dict(run_overrides), **arguments)
        history = json.loads((run_dir / "log_history.json").read_text())
        runs.append(
            {
                "variant": name,
                "values": values,
                "seed": seed,
                "overrides": {**values, "training.seed": seed},  # the difference from the recipe
                "metrics": metrics,
                "curves": _curves(history, metric),
                "wall_time_s": time.perf_counter() - started,
                "output_dir": str(run_dir),
                "command": command(checked.job, recipe.recipe, run_overrides, **arguments),
            }
        )

    report = {
        "recipe": recipe.recipe,
        "compare_recipe": recipe_name,
        "description": recipe.description.strip(),
        "job": checked.job,
        "metric": metric,
        "greater_is_better": checked.greater_is_better,
        "vary": [*recipe.vary, *(["cases"] if recipe.cases else [])],
        "seeds": checked.seeds,
        "variants": _summaries(runs),
        "runs": runs,
        "command": f"hf-recipes compare {shlex.quote(str(out / 'compare.yaml'))}",  # the resolved recipe
        "output_dir": str(out),
        "hardware": report_hardware(),
    }
    write_json(out / "compare.json", report)
    write_text(out / "compare.md", compare_markdown(report))
    plot_compare(report, out / "compare.png")
    return report


def _variants(recipe: CompareRecipe) -> list[tuple[str, dict[str, Any]]]:
    """(name, dotted overrides) of every variant: each named case (or none) with each combination of `vary`."""
    keys = list(recipe.vary)
    combinations = [dict(zip(keys, values)) for values in itertools.product(*recipe.vary.values())]
    named = recipe.cases or [{"name": None}]
    variants = []
    for entry in named:
        fixed = {key: value for key, value in entry.items() if key != "name"}
        for combination in combinations:
            parts = ([entry["name"]] if entry["name"] else []) + [f"{k}={v}" for k, v in combination.items()]
            variants.append((_safe(",".join(parts)), {**fixed, **combination}))
    return variants


def _job_of(recipe_name: str) -> str:
    """finetune or pretrain: where the recipe is found (a YAML file: pretraining recipes have `objective`)."""
    found = []
    for job, schema in (("finetune", FinetuneRecipe), ("pretrain", PretrainRecipe)):
        try:
            _, data, _ = schema.locate(recipe_name)
        except UserError:
            continue
        if Path(recipe_name).suffix in (".yaml", ".yml"):
            return "pretrain" if "objective" in data else "finetune"
        found.append(job)
    if not found:
        raise UserError(f"{recipe_name}: no fine-tuning or pretraining recipe of that name (or YAML file)")
    if len(found) > 1:
        raise UserError(f"{recipe_name}: both a fine-tuning and a pretraining recipe; say which with --job")
    return found[0]


def _axes(vary: list[str]) -> list[tuple[str, list[Any]]]:
    """`--vary key=v1,v2` → [(key, [v1, v2])], each value read as a YAML scalar (1e-3 a number, true a bool)."""
    axes, keys = [], set()
    for item in vary:
        key, sep, values = item.partition("=")
        key = key.strip()
        parts = [value.strip() for value in values.split(",")]
        if not sep or not key or not all(parts):
            raise UserError(
                f"--vary {item}: expected KEY=V1,V2[,...] (e.g. training.learning_rate=1e-3,3e-4)"
            )
        if key in keys:
            raise UserError(f"--vary {item}: {key} is varied twice; give all its values in one --vary")
        keys.add(key)
        axes.append((key, [parse_overrides([f"{key}={value}"])[key] for value in parts]))
    return axes


def _safe(text: str) -> str:
    """A variant's name as a folder name."""
    return re.sub(r"[^\w.,=+-]", "_", text)


def _curves(history: list[dict], metric: str) -> dict[str, list[list[float]]]:
    """(step, value) of the training loss, the evaluation loss and the main metric, from log_history.json."""
    return {
        key: [[entry["step"], entry[key]] for entry in history if key in entry and "step" in entry]
        for key in dict.fromkeys(("loss", "eval_loss", metric))
    }


def _summaries(runs: list[dict]) -> list[dict]:
    """Per variant, in run order: every numeric metric's mean, standard deviation (over seeds, n - 1) and
    values; each curve as the mean and standard deviation at the steps every seed logged."""
    by_variant: dict[str, list[dict]] = {}
    for each in runs:
        by_variant.setdefault(each["variant"], []).append(each)
    summaries = []
    for name, group in by_variant.items():
        keys = [
            key
            for key, value in group[0]["metrics"].items()
            if isinstance(value, (int, float))
            and not isinstance(value, bool)
            and all(isinstance(other["metrics"].get(key), (int, float)) for other in group)
        ]
        metrics = {key: _statistics([each["metrics"][key] for each in group]) for key in keys}
        curves = {}
        for curve in group[0]["curves"]:
            points = [dict(map(tuple, each["curves"][curve])) for each in group]
            steps = sorted(set.intersection(*(set(p) for p in points))) if points else []
            curves[curve] = [[step, *_mean_std([p[step] for p in points])] for step in steps]
        summaries.append({"variant": name, "values": group[0]["values"], "n": len(group), "metrics": metrics,
                          "curves": curves})  # fmt: skip
    return summaries


def _statistics(values: list[float]) -> dict[str, Any]:
    mean, std = _mean_std(values)
    return {"mean": mean, "std": std, "values": values}


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; 0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


__all__ = ["run"]
