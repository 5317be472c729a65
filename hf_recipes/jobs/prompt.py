"""`hf-recipes prompt TASK --model M [--shots 0,1,4]`: zero-/one-/few-shot evaluation of a causal LM.

    options ─▶ task (hf_recipes.tasks): train split (demonstrations) + eval split (queries)
            ─▶ AutoTokenizer + AutoModelForCausalLM (ours, or any Hub checkpoint such as gpt2)
            ─▶ tasks.prompting: k-shot prompts, verbaliser log-likelihoods, accuracy per k
            ─▶ output directory: metrics.json, predictions.jsonl, recipe.yaml

No training: the label is the verbaliser the model finds most likely after the prompt (see
hf_recipes/tasks/prompting.py for the scoring). Options are `key=value` overrides of `PromptRecipe` below, e.g.
`max_eval_samples=200 seed=1 verbalizers=[" bad"," good"] task.train_file=reviews.csv`; the resolved options are
saved as recipe.yaml, and `hf-recipes prompt <output_dir>/recipe.yaml` runs the same evaluation again.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..recipe import build, dump_recipe, finetune_task, load_yaml, merge_recipe, parse_overrides
from ..runs import write_json, write_text
from ..tasks import write_jsonl

DEFAULT_SHOTS = [0, 1, 4]


@dataclass
class PromptRecipe:
    """What to evaluate, on what, how."""

    # `name` (a single-label built-in task: sst2, cola, mrpc, rte, word_order, ..., or custom) and the task's
    # options, as in a fine-tuning recipe (e.g. task.train_file=... for custom).
    task: dict[str, Any]
    model: str  # a causal LM: one of our output directories (gpt_clm_wikitext) or a Hub id (gpt2)
    output_dir: str
    shots: list[int] = field(default_factory=lambda: list(DEFAULT_SHOTS))  # k demonstrations, one run each
    max_eval_samples: int | None = None  # a random subset of the eval split (seed: `seed`); None: all of it
    seed: int = 0  # draws the demonstrations (per eval example) and the eval subset
    batch_size: int = 16
    # The prompt: a template over the task's text columns ("Review: {sentence}\nSentiment:"), the answer text
    # of each label (a list in label order, or a label: text mapping) and the text between demonstrations.
    # Default: the task's (hf_recipes.tasks.prompting.FORMATS), else "Text: {column}\nLabel:" + label names.
    template: str | None = None
    verbalizers: list[str] | dict[str, str] | None = None
    separator: str | None = None
    # Average the verbaliser's token log-probabilities instead of summing them (GPT-3's per-token
    # normalisation; no difference for one-token verbalisers).
    length_normalization: bool = True
    calibrate: bool = False  # also report contextually calibrated accuracy (Zhao et al. 2021)
    max_length: int | None = None  # the context in tokens; default: what the model takes
    trust_remote_code: bool = False
    description: str = ""
    data_dir: str | None = None  # set by --data-dir


def main(args: argparse.Namespace) -> int:
    metrics = run(
        args.task,
        args.overrides,
        model=args.model,
        shots=args.shots,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
    )
    print(render_summary(metrics))
    print(f"outputs: {metrics['output_dir']}/metrics.json, predictions.jsonl")
    return 0


def load_prompt_recipe(
    task_or_path: str,
    overrides: list[str] | dict[str, Any] = (),
    *,
    model: str | None = None,
    shots: str | list[int] | None = None,
    data_dir: str | None = None,
    output_dir: str | None = None,
) -> tuple[PromptRecipe, dict[str, Any]]:
    if Path(task_or_path).suffix in (".yaml", ".yml"):
        if not Path(task_or_path).is_file():
            raise UserError(f"{task_or_path}: recipe file not found")
        source, data = task_or_path, load_yaml(Path(task_or_path))
    else:
        source, data = "prompt", {"task": {"name": task_or_path}}
    if not isinstance(overrides, dict):
        overrides = parse_overrides(list(overrides))
    data = merge_recipe(data, dict(overrides), source)
    if model is not None:
        data["model"] = model
    if shots is not None:
        data["shots"] = _parse_shots(shots)
    if data_dir is not None:
        data["data_dir"] = data_dir
    if output_dir is not None:
        data["output_dir"] = output_dir
    if not isinstance(data.get("model"), str):
        raise UserError(f"{source}: model: required; give --model DIR or a Hub id (e.g. gpt2)")
    task_name = (data.get("task") or {}).get("name", "task")
    data.setdefault("output_dir", f"outputs/prompt/{task_name}-{Path(data['model']).name}")
    recipe = build(PromptRecipe, data, source)
    if not recipe.shots or any(k < 0 for k in recipe.shots):
        raise UserError(f"{source}: shots: expected numbers of demonstrations >= 0, got {recipe.shots}")
    if recipe.data_dir is not None and not Path(recipe.data_dir).is_dir():
        raise UserError(f"--data-dir {recipe.data_dir}: not a directory")
    return recipe, data


def _parse_shots(value: str | list[int]) -> list[int]:
    if isinstance(value, list):
        return value
    try:
        return [int(part) for part in str(value).split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--shots: expected comma-separated numbers such as 0,1,4, got {value!r}") from None


def run(
    task_or_path: str,
    overrides: list[str] | dict = (),
    *,
    model: str | None = None,
    shots: str | list[int] | None = None,
    data_dir: str | None = None,
    output_dir: str | None = None,
) -> dict:
    """Evaluate a causal LM by prompting; returns the metrics written to metrics.json."""
    import torch

    from ..checkpoints import check_checkpoint, load_model, load_tokenizer
    from ..tasks.prompting import evaluate_prompting, prompt_format

    recipe, resolved = load_prompt_recipe(
        task_or_path, overrides, model=model, shots=shots, data_dir=data_dir, output_dir=output_dir
    )
    task = finetune_task(recipe.task, "prompt")
    raw = task.load(recipe.data_dir, splits=[task.train_split, task.eval_split])
    fmt = prompt_format(task, recipe.template, recipe.verbalizers, recipe.separator)
    examples = raw[task.eval_split]
    if recipe.max_eval_samples is not None and recipe.max_eval_samples < len(examples):
        examples = examples.shuffle(seed=recipe.seed).select(range(recipe.max_eval_samples)).flatten_indices()

    name = recipe.model
    check_checkpoint(name, "model")
    tokenizer = load_tokenizer(name, trust_remote_code=recipe.trust_remote_code)
    lm = load_model("AutoModelForCausalLM", name, trust_remote_code=recipe.trust_remote_code)
    lm.eval()
    max_length = recipe.max_length or _context(lm.config, tokenizer)

    metrics, predictions = evaluate_prompting(
        lm,
        tokenizer,
        task,
        raw[task.train_split],
        examples,
        shots=recipe.shots,
        fmt=fmt,
        max_length=max_length,
        seed=recipe.seed,
        batch_size=recipe.batch_size,
        length_normalization=recipe.length_normalization,
        calibrate=recipe.calibrate,
    )
    out = Path(recipe.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    header = f"# re-run: hf-recipes prompt {out / 'recipe.yaml'}\n"
    write_text(out / "recipe.yaml", header + dump_recipe(resolved, PromptRecipe))
    write_jsonl(predictions, out / "predictions.jsonl")
    metrics = {
        "task": task.name,
        "model": name,
        "shots": recipe.shots,
        "template": fmt.template,
        "verbalizers": list(fmt.verbalizers),
        "max_length": max_length,
        **metrics,
        "output_dir": str(out),
        "torch_threads": torch.get_num_threads(),
    }
    write_json(out / "metrics.json", metrics)
    return metrics


def _context(config, tokenizer) -> int:
    """The longest input the model takes: its position embeddings, or the tokenizer's limit when smaller."""
    limits = [getattr(config, "max_position_embeddings", None), tokenizer.model_max_length]
    limits = [value for value in limits if isinstance(value, int) and 0 < value < 1_000_000]
    if not limits:
        raise UserError("max_length: the model declares no context length; set max_length=<tokens>")
    return min(limits)


def render_summary(metrics: dict) -> str:
    calibrated = any(key.startswith("calibrated_") for key in metrics)
    lines = [
        f"{metrics['task']} prompting with {metrics['model']} ({metrics['eval_samples']} eval examples; "
        f"majority class {metrics['majority_class_accuracy']:.3f})",
        "   k   accuracy   macro-F1   shots in prompt" + ("   calibrated" if calibrated else ""),
    ]
    for k in metrics["shots"]:
        tag = f"{k}shot"
        line = (
            f"{k:>4}   {metrics[f'accuracy_{tag}']:.3f}      {metrics[f'macro_f1_{tag}']:.3f}      "
            f"{metrics[f'mean_shots_{tag}']:.2f}"
        )
        if f"calibrated_accuracy_{tag}" in metrics:
            line += f"             {metrics[f'calibrated_accuracy_{tag}']:.3f}"
        lines.append(line)
    return "\n".join(lines)
