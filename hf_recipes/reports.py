"""Reports in Markdown: what a comparison measured, as a table a reader can check, with the hardware it ran on
and every command that reproduces it."""

from __future__ import annotations

from typing import Any


def transfer_markdown(report: dict) -> str:
    """transfer.md: the side-by-side table of a transfer report (hf_recipes.jobs.transfer), the sweep, the
    pretraining, the hardware and every command."""
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
        f"| **{metric}** (final model) | **{number(pre[metric])}** | **{number(scratch[metric])}** |",
    ]
    if swept:
        lines.append(
            f"| learning rate (best of the sweep) | {pre['learning_rate']:g} | {scratch['learning_rate']:g} |"
        )
    lines += [
        f"| best during training (step) | {number(pre['best'])} ({pre['best_step']}) | "
        f"{number(scratch['best'])} ({scratch['best_step']}) |",
        f"| eval_loss (final) | {number(pre['eval_loss'])} | {number(scratch['eval_loss'])} |",
        f"| steps | {pre['steps']} | {scratch['steps']} |",
        f"| training time | {seconds(pre['train_runtime_s'])} | {seconds(scratch['train_runtime_s'])} |",
        f"| wall time | {seconds(pre['wall_time_s'])} | {seconds(scratch['wall_time_s'])} |",
        "",
    ]
    if report["difference"] is not None:
        lines += [f"Pretrained minus scratch: **{report['difference']:+.4f}** {metric}.", ""]
    if swept:
        lines += [f"| learning rate | pretrained: {metric} | scratch: {metric} |", "|---|---|---|"]
        for pre_run, scratch_run in zip(pre["sweep"], scratch["sweep"]):
            cells = [
                f"**{number(run[metric])}**"
                if run["output_dir"] == chosen["output_dir"]
                else number(run[metric])
                for run, chosen in ((pre_run, pre), (scratch_run, scratch))
            ]
            lines.append(f"| {pre_run['learning_rate']:g} | {cells[0]} | {cells[1]} |")
        lines.append("")
    pretraining = report.get("pretraining")
    if pretraining is not None:
        measured = ", ".join(
            f"{key} {number(pretraining[key])}"
            for key in ("eval_mlm_accuracy", "eval_nsp_accuracy", "perplexity", "unigram_perplexity")
            if key in pretraining
        )
        when = (
            "reused from an earlier run"
            if pretraining["reused"]
            else f"wall time {seconds(pretraining['wall_time_s'])}"
        )
        lines += [
            f"Pretraining: `{pretraining['recipe']}`, {pretraining['steps']} steps, training time "
            f"{seconds(pretraining['train_runtime_s'])} ({when}); {measured}.",
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


def compare_markdown(report: dict) -> str:
    """compare.md: each variant's metrics as mean ± standard deviation over its seeds, then every run with
    its difference from the recipe and its command, the hardware and the command of the whole comparison."""
    metric, variants = report["metric"], report["variants"]
    seeds = report["seeds"]
    shown = [metric, "eval_loss", "train_loss", "train_runtime"]
    shown = [key for key in dict.fromkeys(shown) if any(key in variant["metrics"] for variant in variants)]
    better = "higher" if report["greater_is_better"] else "lower"
    lines = [
        f"## Compare: {report['recipe']} ({report['job']}), varying {', '.join(report['vary'])}",
        "",
        f"Each variant ran with seeds {', '.join(map(str, seeds))}; mean ± standard deviation over them "
        f"(n − 1). Main metric: {metric} of the final model ({better} is better).",
        "",
        "| variant | " + " | ".join(shown) + " |",
        "|---" * (len(shown) + 1) + "|",
    ]
    for variant in variants:
        cells = []
        for key in shown:
            stats = variant["metrics"].get(key)
            spread = f" ± {number(stats['std'])}" if stats is not None and variant["n"] > 1 else ""
            cell = "" if stats is None else f"{number(stats['mean'])}{spread}"
            cells.append(f"**{cell}**" if key == metric and cell else cell)
        lines.append(f"| `{variant['variant']}` | " + " | ".join(cells) + " |")
    lines += ["", "| run | seed | " + metric + " | recipe difference | output |", "|---|---|---|---|---|"]
    for each in report["runs"]:
        difference = ", ".join(f"`{key}={value}`" for key, value in each["overrides"].items())
        lines.append(
            f"| `{each['variant']}` | {each['seed']} | {number(each['metrics'].get(metric))} | {difference} | "
            f"`{each['output_dir']}` |"
        )
    hardware = report["hardware"]
    lines += [
        "",
        "Hardware: " + ", ".join(f"{key} {value}" for key, value in hardware.items()) + ".",
        "",
        "Commands (the comparison, then each run; a finished run is reused, not trained again):",
        "",
        "```bash",
        report["command"],
        *(each["command"] for each in report["runs"]),
        "```",
        "",
    ]
    return "\n".join(lines)


def number(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


__all__ = ["number", "seconds", "transfer_markdown"]
