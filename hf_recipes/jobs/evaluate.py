"""`hf-recipes evaluate OUTPUT_DIR [--split S | --file PATH[:PATH]] [--data-dir DIR] [key=value ...]`: score a
fine-tuned model again, on a split of its task or on any file in the task's format.

    OUTPUT_DIR/recipe.yaml ─▶ task + data (as the run saw them; overrides on top, e.g. data.max_eval_samples=100)
    OUTPUT_DIR             ─▶ AutoTokenizer + AutoModelFor<head> (the fine-tuned weights)
                           ─▶ Trainer.predict on the split (generation for seq2seq, with the saved settings)
                           ─▶ <split>_results.json + <split>_predictions.jsonl (in --output-dir, else OUTPUT_DIR)

The split defaults to the task's evaluation split; `--split test` scores a translation model on
test_2016_flickr, `--split train` measures how well the training data was fit. `--file` scores a file the
task's own files do not name, read as they are (a GLUE/NSMC TSV with its header, a custom table with the
training file's columns, a CoNLL file, a translation pair `test_2017_mscoco.de:test_2017_mscoco.en` or its
stem `test_2017_mscoco`); its results are named after the file (`test_2017_mscoco_results.json`). The
metrics are computed by the same task code as during fine-tuning, so re-evaluating a run on its eval split
reproduces its metrics.json (up to batch-order noise in the last digits). Nothing else in the directory is touched.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ..adapters import load_adapter, read_adapter_config
from ..checkpoints import checkpoint_for_task, input_length, model_for_task
from ..config import FinetuneRecipe, load_yaml
from ..errors import UserError
from ..resolve import resolve
from ..runs import write_json
from ..tasks import write_jsonl
from ..training import trainer_for, training_arguments
from .finetune import DEFAULTS


def main(args: argparse.Namespace) -> int:
    if args.split is not None and args.file is not None:
        raise UserError("evaluate: give --split or --file, not both")
    files = args.file.split(":") if args.file is not None else None
    metrics = run(
        args.model,
        args.overrides,
        split=args.split,
        files=files,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
    )
    shown = {k: v for k, v in metrics.items() if not k.endswith(("_runtime", "_per_second"))}
    print("\n".join(f"  {key} = {value}" for key, value in sorted(shown.items())))
    return 0


def run(
    model_dir: str,
    overrides: list[str] | dict = (),
    *,
    split: str | None = None,
    files: list[str] | None = None,
    data_dir: str | None = None,
    output_dir: str | None = None,
) -> dict:
    """The metrics of the fine-tuned model in `model_dir` on `split` (or on `files`, a split named after the
    first file's stem), keyed `<split>_...` (`eval_...` for the task's evaluation split, as in metrics.json);
    also written to <split>_results.json."""
    directory = Path(model_dir)
    saved = _saved_recipe(directory)
    # The directory is now the checkpoint: its weights (never re-initialised), config, labels and tokenizer; a
    # peft adapter alone goes on the base checkpoint its adapter_config.json names.
    adapter = read_adapter_config(directory)
    checkpoint = adapter["base_model_name_or_path"] if adapter else str(directory)
    overrides = (
        list(overrides) if not isinstance(overrides, dict) else [f"{k}={v}" for k, v in overrides.items()]
    )
    resolved = resolve(
        FinetuneRecipe,
        str(saved),
        [*overrides, "model.init=pretrained"],
        model=checkpoint,
        data_dir=data_dir,
    )
    recipe, task = resolved.recipe, resolved.task
    paths = [Path(name).expanduser() for name in files] if files else None
    if paths is not None:
        split = paths[0].name.split(".")[0] or "file"
        if split in (task.train_split, task.eval_split):
            split = f"file_{split}"  # not to be mistaken for (or overwrite the results of) the task's split
    split = split or task.eval_split
    tokenizer, config = checkpoint_for_task(recipe.model, str(saved))
    max_length = input_length(recipe.data.max_length, task, config, tokenizer, str(directory))
    limit = {
        task.eval_split: recipe.data.max_eval_samples,
        recipe.data.test_split: recipe.data.max_test_samples,
    }
    limits = {task.train_split: None}  # training rows: a custom task's labels
    if paths is None:
        limits[split] = limit.get(split)
    raw = task.load_sampled(recipe.data_dir, limits, recipe.training.get("seed", 42))
    if paths is not None:
        raw[split] = task.load_file(paths, split)
    features = task.prepare(raw, tokenizer, max_length, num_proc=recipe.data.num_proc)[split]
    model = model_for_task(recipe.model, task, config)
    if adapter:
        model = load_adapter(model, directory)
    with tempfile.TemporaryDirectory() as scratch:  # Trainer wants an output_dir; nothing is saved there
        batch = {"per_device_eval_batch_size": recipe.training.get("per_device_eval_batch_size", 8)}
        defaults = {**DEFAULTS, **task.training_defaults(), "eval_strategy": "no", "save_strategy": "no"}
        args = training_arguments(
            batch, Path(scratch), arguments_class=task.training_arguments_class, **defaults
        )
        trainer = trainer_for(task)(
            model=model,
            args=args,
            data_collator=task.data_collator(tokenizer, model),
            processing_class=tokenizer,
            compute_metrics=task.compute_metrics_fn(
                tokenizer=tokenizer, examples=raw[split], features=features
            ),
        )
        result = trainer.predict(features, metric_key_prefix="eval" if split == task.eval_split else split)
    metrics = {**result.metrics, "split": split, "num_examples": len(raw[split]), "model": str(directory)}
    out = Path(output_dir) if output_dir is not None else directory
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{split}_results.json", metrics)
    write_jsonl(
        task.predictions(raw[split], features, result.predictions, tokenizer=tokenizer),
        out / f"{split}_predictions.jsonl",
    )
    return metrics


def _saved_recipe(directory: Path) -> Path:
    saved = directory / "recipe.yaml"
    if not saved.is_file():
        raise UserError(f"{directory}: no recipe.yaml; give an output directory of `hf-recipes finetune`")
    if "objective" in load_yaml(saved):
        raise UserError(
            f"{directory}: a pretraining run (its eval metrics are in metrics.json); evaluate scores fine-tuned "
            "models on their task"
        )
    return saved


__all__ = ["run"]
