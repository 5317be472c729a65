"""Pictures written next to every model: loss curves now; attention maps and confusion matrices join them."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402


def plot_loss(log_history: list[dict], path: Path, title: str) -> Path | None:
    """Training loss per logging step and evaluation loss per evaluation, from `trainer.state.log_history`.
    Returns the path, or None when nothing was logged (a run shorter than `logging_steps`)."""
    train = [(entry["step"], entry["loss"]) for entry in log_history if "loss" in entry and "step" in entry]
    evaluation = [(entry["step"], entry["eval_loss"]) for entry in log_history if "eval_loss" in entry]
    if not train and not evaluation:
        return None
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    if train:
        axes.plot(*zip(*train), label="train", linewidth=1.2)
    if evaluation:
        axes.plot(*zip(*evaluation), "o-", label="eval", linewidth=1.2, markersize=4)
        best_step, best = min(evaluation, key=lambda point: point[1])
        axes.annotate(
            f"best {best:.3f}", (best_step, best), textcoords="offset points", xytext=(0, 8), ha="center"
        )
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
