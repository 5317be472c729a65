"""Pictures written next to every model: loss curves, confusion matrices, cross-attention maps."""

from __future__ import annotations

import functools
import logging
import textwrap
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

from .reports import number  # noqa: E402

logger = logging.getLogger(__name__)


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
    return _finish(figure, axes, path, "optimizer step", "loss", title)


def plot_confusion_matrix(
    references: Sequence[int], predictions: Sequence[int], label_names: Sequence[str], path: Path, title: str
) -> Path:
    """Gold label (rows) × predicted label (columns): each cell's count, coloured by its share of the row (the
    recall of that class on the diagonal), so that a rare class reads as clearly as a frequent one."""
    from sklearn.metrics import confusion_matrix

    n = len(label_names)
    counts = confusion_matrix(references, predictions, labels=list(range(n)))
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = min(3.2 + 0.45 * n, 14)
    figure, axes = plt.subplots(figsize=(side + 1.2, side), dpi=120)
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the gold label's examples")
    if n <= 30:  # beyond that the numbers no longer fit in their cells
        for gold in range(n):
            for predicted in range(n):
                dark = shares[gold, predicted] > 0.5
                axes.text(
                    predicted,
                    gold,
                    str(counts[gold, predicted]),
                    ha="center",
                    va="center",
                    color="white" if dark else "black",
                    fontsize=8 if n > 10 else 10,
                )
    axes.set_xticks(
        range(n), labels=label_names, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center"
    )
    axes.set_yticks(range(n), labels=label_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    axes.set_title(title)
    figure.savefig(path, bbox_inches="tight")  # tight_layout leaves the y label outside beside a colorbar
    plt.close(figure)
    return path


def plot_attention(
    weights: np.ndarray,
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    path: Path,
    title: str,
    head_names: Sequence[str] | None = None,
) -> Path:
    """Cross-attention heatmaps, source tokens (columns) × target tokens (rows), one panel per head.

    weights: (heads, target, source) or (target, source), each row a distribution over the source (0 to 1, one
    colour scale for every panel, so that heads compare). head_names default to "head 1", "head 2", ...
    """
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim == 2:
        weights = weights[None]
    heads, rows, columns = weights.shape
    if (rows, columns) != (len(target_tokens), len(source_tokens)):
        raise ValueError(
            f"attention of shape {weights.shape[1:]} for {len(target_tokens)} target and {len(source_tokens)} "
            "source tokens"
        )
    names = list(head_names) if head_names is not None else [f"head {h + 1}" for h in range(heads)]
    across = min(heads, 4)
    down = -(-heads // across)
    # about a quarter inch a token, so that the labels stay legible at any sentence length
    width, height = 1.2 + 0.24 * columns, 0.9 + 0.24 * rows
    figure, axes = plt.subplots(
        down, across, figsize=(across * width + 1.0, down * height + 0.8), dpi=110, squeeze=False
    )
    for index, panel in enumerate(axes.flat):
        if index >= heads:
            panel.axis("off")
            continue
        image = panel.imshow(weights[index], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        panel.set_xticks(range(columns), labels=source_tokens, rotation=90, fontsize=8)
        # every panel has the same rows: name them once, on the left
        panel.set_yticks(range(rows), labels=target_tokens if index % across == 0 else [], fontsize=8)
        if heads > 1:
            panel.set_title(names[index], fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.03, pad=0.02, label="attention weight")
    figure.suptitle(title, fontsize=10)
    figure.savefig(path, bbox_inches="tight")
    plt.close(figure)
    return path


def plot_caption_attention(
    image: np.ndarray, tokens: Sequence[str], weights: np.ndarray, path: Path, title: str
) -> Path:
    """The image, then one panel per generated word with that word's attention over the image regions laid on
    top (each region's weight spread over its cell, bright where the word looked), as the figures of Show,
    Attend and Tell. image: (size, size, 3); weights: (words, grid, grid), each map summing to 1."""
    size = image.shape[0]
    panels = len(tokens) + 1
    across = min(panels, 6)
    down = -(-panels // across)
    figure, axes = plt.subplots(down, across, figsize=(2.0 * across, 2.2 * down), dpi=120, squeeze=False)
    for panel in axes.flat:
        panel.axis("off")
    axes.flat[0].imshow(image)
    axes.flat[0].set_title("image", fontsize=8)
    extent = (-0.5, size - 0.5, size - 0.5, -0.5)  # the map's cells over the image's pixels
    for panel, token, word_weights in zip(axes.flat[1:], tokens, weights):
        panel.imshow(image)
        panel.imshow(word_weights, cmap="gray", alpha=0.65, extent=extent, vmin=0.0, interpolation="nearest")
        panel.set_title(token, fontsize=8)
    figure.suptitle(title, fontsize=9)
    figure.savefig(path, bbox_inches="tight")
    plt.close(figure)
    return path


def plot_transfer(report: dict, path: Path) -> Path:
    """The eval metric against the optimizer step, for both runs, on one axis."""
    metric = report["metric"]
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    for init, style in zip(("pretrained", "scratch"), ("o-", "s--")):
        curve = report[init]["curve"]
        if curve:
            rate = report[init].get("learning_rate")
            label = f"{init}{'' if rate is None else f', lr {rate:g}'} ({number(report[init][metric])})"
            axes.plot(*zip(*curve), style, label=label, markersize=4)
    title = report["task"] if report["recipe"] == report["task"] else f"{report['task']} ({report['recipe']})"
    title = f"{title}: fine-tuning from the pretrained checkpoint vs from scratch"
    return _finish(figure, axes, path, "optimizer step", f"{metric} ({report['eval_split']})", title)


def plot_compare(report: dict, path: Path) -> Path:
    """The variants of a comparison (hf_recipes.jobs.compare) against the optimizer step: the training loss
    (solid) and the evaluation loss (dashed) on the left, the main evaluation metric on the right; each
    variant's mean over its seeds, in one colour, with a band of ± one standard deviation over them."""
    metric = report["metric"]
    panels = [(("loss", "eval_loss"), "loss (solid: training, dashed: evaluation)")]
    if metric != "eval_loss":
        panels.append(((metric,), metric))
    figure, axes_row = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), dpi=120, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axes, (curves, label) in zip(axes_row[0], panels):
        for index, variant in enumerate(report["variants"]):
            colour = colours[index % len(colours)]
            seeds = f", {variant['n']} seeds" if variant["n"] > 1 else ""
            name = f"{variant['variant']}{seeds}"  # on the variant's first curve in the panel
            for curve, style in zip(curves, ("-", "--")):
                points = variant["curves"].get(curve) or []
                if not points:
                    continue
                steps, means, stds = (np.asarray(column, dtype=float) for column in zip(*points))
                marker = "o" if len(steps) < 30 else None
                axes.plot(steps, means, style, marker=marker, markersize=3, color=colour, label=name)
                name = None
                if variant["n"] > 1:
                    axes.fill_between(steps, means - stds, means + stds, color=colour, alpha=0.15)
        axes.set_xlabel("optimizer step")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(fontsize=8)
    seeds = len(report["seeds"])
    title = f"{report['recipe']}: {', '.join(report['vary'])} ({seeds} seed{'s' if seeds > 1 else ''} each)"
    figure.suptitle("\n".join(textwrap.wrap(title, int(figure.get_figwidth() * 11))))
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def plot_word_map(points, words: Sequence[str], path: Path, title: str) -> Path:
    """Words at their 2-D coordinates (a projection of their vectors), each labelled."""
    figure, axes = plt.subplots(figsize=(7, 6), dpi=120)
    axes.scatter(points[:, 0], points[:, 1], s=12, color="tab:blue")
    family = font_family("".join(words))
    for (x, y), word in zip(points, words):
        axes.annotate(word, (x, y), textcoords="offset points", xytext=(3, 3), fontsize=8, family=family)
    axes.set_xticks([])
    axes.set_yticks([])
    with warnings.catch_warnings():  # font_family said it once; matplotlib would say it for every glyph
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        return _finish(figure, axes, path, None, None, title, legend=False)


def font_family(text: str) -> list[str]:
    """Font families that draw every character of `text`: matplotlib's default, then (per glyph, as matplotlib
    falls back) the first installed font that has the characters the default lacks (Hangul, for Korean words).
    Where no installed font has them, says so once; the labels then show as boxes."""
    default = plt.rcParams["font.family"]
    missing = {char for char in set(text) if not char.isspace()} - _characters(_default_font_path())
    if not missing:
        return list(default)
    for path, name in _installed_fonts():
        if missing <= _characters(path):
            return [*default, name]
    _warn_once(
        "no installed font draws "
        + "".join(sorted(missing))[:20]
        + ": the labels of word maps show boxes (install one: apt install fonts-nanum, or a Noto CJK font)"
    )
    return list(default)


@functools.cache
def _default_font_path() -> str:
    from matplotlib import font_manager

    return font_manager.findfont(font_manager.FontProperties(family=plt.rcParams["font.family"]))


@functools.cache
def _installed_fonts() -> tuple[tuple[str, str], ...]:
    from matplotlib import font_manager

    fonts = font_manager.fontManager.ttflist
    # "Last Resort" (shipped with matplotlib) maps every character to a box: it draws nothing
    return tuple((font.fname, font.name) for font in fonts if not font.name.startswith("Last Resort"))


@functools.cache
def _characters(path: str) -> frozenset[str]:
    from matplotlib.ft2font import FT2Font

    try:
        return frozenset(chr(code) for code in FT2Font(path).get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset()


@functools.cache
def _warn_once(message: str) -> None:
    logger.warning(message)


def _finish(
    figure, axes, path: Path, xlabel: str | None, ylabel: str | None, title: str, legend=True
) -> Path:
    """Labels, a grid and a legend; the title wrapped to the figure's width (a long one is not cut off at the
    edge); saved to `path` and closed."""
    if xlabel is not None:
        axes.set_xlabel(xlabel)
    if ylabel is not None:
        axes.set_ylabel(ylabel)
    width = int(figure.get_figwidth() * 11)  # characters of the default title font per inch, roughly
    axes.set_title("\n".join(textwrap.wrap(title, width)) or title)
    if legend:
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
