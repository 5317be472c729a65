"""`hf-recipes prompt TASK --model M [--shots 0,1,4]`: zero-/one-/few-shot evaluation of a causal LM.

    options ─▶ task (hf_recipes.tasks): train split (demonstrations) + eval split (queries)
            ─▶ AutoTokenizer + AutoModelForCausalLM (ours, or any Hub checkpoint such as gpt2)
            ─▶ evaluation.prompting: k-shot prompts, verbaliser log-likelihoods, accuracy per k
            ─▶ output directory: metrics.json, predictions.jsonl, recipe.yaml

No training: the label is the verbaliser the model finds most likely after the prompt (see
hf_recipes/evaluation/prompting.py for the scoring). Options are `key=value` overrides of `PromptRecipe`
(hf_recipes/config/prompt.py), e.g.
`max_eval_samples=200 seed=1 verbalizers=[" bad"," good"] task.train_file=reviews.csv`; the resolved options are
saved as recipe.yaml, and `hf-recipes prompt <output_dir>/recipe.yaml` runs the same evaluation again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..checkpoints import context_length, load_model, load_tokenizer
from ..config import PromptRecipe
from ..errors import UserError
from ..evaluation.prompting import evaluate_prompting, prompt_format
from ..resolve import resolve
from ..runs import write_json, write_text
from ..tasks import write_jsonl


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
    resolved = resolve(
        PromptRecipe,
        task_or_path,
        overrides,
        model=model,
        shots=shots,
        data_dir=data_dir,
        output_dir=output_dir,
    )
    recipe, task = resolved.recipe, resolved.task
    limits = {task.train_split: None, task.eval_split: recipe.max_eval_samples}
    raw = task.load_sampled(recipe.data_dir, limits, recipe.seed)
    fmt = prompt_format(task, recipe.template, recipe.verbalizers, recipe.separator)
    lm = load_model("AutoModelForCausalLM", recipe.model, trust_remote_code=recipe.trust_remote_code).eval()
    tokenizer = load_tokenizer(recipe.model, trust_remote_code=recipe.trust_remote_code)
    max_length = recipe.max_length or context_length(lm.config, tokenizer)
    if max_length is None:
        raise UserError("max_length: the model declares no context length; set max_length=<tokens>")
    metrics, predictions = evaluate_prompting(
        lm,
        tokenizer,
        task,
        raw[task.train_split],
        raw[task.eval_split],
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
    write_text(out / "recipe.yaml", resolved.saved_text())
    write_jsonl(predictions, out / "predictions.jsonl")
    settings = {"task": task.name, "model": recipe.model, "shots": recipe.shots, "template": fmt.template}
    settings.update(verbalizers=list(fmt.verbalizers), max_length=max_length)
    metrics = {**settings, **metrics, "output_dir": str(out), "torch_threads": torch.get_num_threads()}
    write_json(out / "metrics.json", metrics)
    return metrics


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
