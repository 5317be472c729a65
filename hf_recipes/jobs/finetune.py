"""`hf-recipes finetune TASK|RECIPE`: fine-tune a checkpoint on a labelled task, on `Trainer`.

    recipe ─▶ task (hf_recipes.tasks) ─▶ raw splits (the Hub, or the release files under --data-dir)
           ─▶ checkpoint: AutoTokenizer + AutoConfig (+ model.config, + the task's labels) ─▶ AutoModelFor<head>
           ─▶ task.prepare (datasets.map, cached) ─▶ Trainer, or Seq2SeqTrainer with predict_with_generate
           ─▶ output directory

The checkpoint is one of our output directories (the shipped recipes start from the BERT that
`make pretrain RECIPE=bert_mlm_nsp_wikitext` leaves in outputs/) or any Hub / transformers checkpoint
(`--model bert-base-uncased`, with network). `model.init: scratch` keeps the checkpoint's architecture and
tokenizer but not its weights: the baseline that shows what pretraining bought.

Runs the same under `accelerate launch -m hf_recipes finetune ...`. Re-running the same command after an
interruption resumes from the last checkpoint in the output directory.

The output directory holds the fine-tuned model (with its code, for our families; with the pipeline code for
question answering and translation, which transformers 5 no longer ships) and tokenizer, recipe.yaml,
predictions.jsonl (one row per eval example), confusion_matrix.png (single-label tasks), log_history.json,
loss.png, metrics.json (the final model on the eval split: eval_loss, eval_<task metrics>; train_*) and
README.md, the model card.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import transformers
from accelerate import PartialState
from transformers import (
    AutoConfig,
    AutoTokenizer,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.utils import logging

from ..errors import UserError
from ..hub import push_after_training, write_model_card
from ..pipelines import attach_pipelines
from ..plots import plot_confusion_matrix
from ..recipe import (
    RECIPES_DIR,
    CheckpointSpec,
    FinetuneRecipe,
    check_fields,
    dump_recipe,
    finetune_task,
    load_finetune_recipe,
)
from ..tasks import Task, write_jsonl
from ..tasks.base import logits_of
from .common import finish_run, prepare_output_dir, recipe_header, training_arguments

logger = logging.get_logger(__name__)

# TrainingArguments the recipe does not have to repeat (it can override each of them).
DEFAULTS = dict(
    report_to="none",
    eval_strategy="epoch",
    save_strategy="epoch",
    logging_steps=50,
    save_total_limit=2,
    dataloader_num_workers=0,
    dataloader_pin_memory=torch.cuda.is_available(),
)

# Config fields the task sets from its labels; model.config may not set them too.
TASK_CONFIG_FIELDS = ("num_labels", "id2label", "label2id", "problem_type")

# Output directories of our jobs live here (recipe.py's default output_dir): a name below it is a local path
# even before it exists, never a Hub id to try (which takes ~30 s of retries to fail offline).
OUTPUT_ROOT = "outputs"


def main(args: argparse.Namespace) -> int:
    metrics = run(
        args.task, args.overrides, model=args.model, data_dir=args.data_dir, output_dir=args.output_dir
    )
    if PartialState().is_main_process:  # once, not once per process under accelerate launch
        shown = {
            key: value
            for key, value in metrics.items()
            if key.startswith(("eval_", "best_")) and not key.endswith(("_runtime", "_per_second"))
        }
        print(
            f"done: {metrics['output_dir']}\n" + "\n".join(f"  {k} = {v}" for k, v in sorted(shown.items()))
        )
    return 0


def run(
    recipe_name: str,
    overrides: list[str] | dict = (),
    *,
    model: str | None = None,
    data_dir: str | None = None,
    output_dir: str | None = None,
    callbacks: list[TrainerCallback] = (),
) -> dict:
    """Run a fine-tuning recipe end to end (`model` is --model); returns the metrics written to metrics.json."""
    recipe, resolved = load_finetune_recipe(
        recipe_name, overrides, model=model, data_dir=data_dir, output_dir=output_dir
    )
    task = finetune_task(recipe.task)
    seq2seq = task.problem_type == "seq2seq"
    out = Path(recipe.output_dir)

    # Everything that can fail on the user's input happens before the output directory is touched.
    tokenizer, config = _load_checkpoint(recipe.model, recipe_name)
    max_length = _max_length(recipe.data.max_length, task, config, tokenizer, recipe.model.name_or_path)
    tokenizer.model_max_length = max_length  # pipelines on the output directory truncate to it
    defaults = dict(
        DEFAULTS, metric_for_best_model=task.main_metric, greater_is_better=task.greater_is_better
    )
    if seq2seq:
        defaults.update(
            predict_with_generate=True,
            generation_max_length=getattr(task, "max_target_length", None) or max_length,
        )
    args = training_arguments(
        recipe.training,
        out,
        arguments_class=Seq2SeqTrainingArguments if seq2seq else TrainingArguments,
        **defaults,
    )
    with args.main_process_first(desc="reading the task's data"):
        raw = _raw_splits(task, recipe, args.seed)
    config.update(task.model_kwargs())  # after load(): a custom task discovers its labels there
    transformers.set_seed(args.seed)  # the new head (or, from scratch, every weight) starts the same each run
    model = _model(recipe.model, task, config)

    resume_from = prepare_output_dir(
        out,
        resolved,
        recipe_header("finetune", recipe_name, overrides) + dump_recipe(resolved, FinetuneRecipe),
    )
    with args.main_process_first(desc="tokenizing"):
        features = task.prepare(raw, tokenizer, max_length, num_proc=recipe.data.num_proc)
    eval_raw, eval_features = raw[task.eval_split], features[task.eval_split]
    trainer = (Seq2SeqTrainer if seq2seq else Trainer)(
        model=model,
        args=args,
        train_dataset=features[task.train_split],
        eval_dataset=eval_features,
        data_collator=task.data_collator(tokenizer, model),
        processing_class=tokenizer,
        compute_metrics=task.compute_metrics_fn(
            tokenizer=tokenizer, examples=eval_raw, features=eval_features
        ),
        callbacks=list(callbacks),
    )
    train_result = trainer.train(resume_from_checkpoint=resume_from)
    trainer.save_model()  # model + code + tokenizer into output_dir
    if trainer.is_world_process_zero():
        # question-answering, translation: pipelines transformers 5 removed, served from the directory
        attach_pipelines(out, task.auto_model)

    # The final model on the eval split: its metrics (eval_ keys, as Trainer.evaluate names them) and the
    # raw predictions the task turns into rows, from one pass (with generation, for seq2seq).
    final = trainer.predict(eval_features, metric_key_prefix="eval")
    metrics = {
        **train_result.metrics,
        **final.metrics,
        "global_step": trainer.state.global_step,
        "output_dir": str(out),
    }
    if trainer.is_world_process_zero():
        rows = task.predictions(eval_raw, eval_features, final.predictions, tokenizer=tokenizer)
        write_jsonl(rows, out / "predictions.jsonl")
        if task.problem_type == "single_label":
            predicted = logits_of(final.predictions).argmax(-1)
            title = f"{out.name}: {task.name} ({task.eval_split})"
            plot_confusion_matrix(
                final.label_ids, predicted, task.label_names, out / "confusion_matrix.png", title
            )
        metrics = finish_run(out, trainer.state.log_history, metrics, title=f"{out.name}: {task.name}")
        write_model_card(out)  # reads recipe.yaml, config.json and metrics.json from the directory
    push_after_training(trainer, out, commit_message=f"hf-recipes finetune {Path(recipe_name).stem}")
    return metrics


def _load_checkpoint(spec: CheckpointSpec, source: str):
    """The checkpoint's tokenizer (with a pad token) and config (with `model.config` applied, checked against
    its config class)."""
    name = spec.name_or_path
    if _looks_local(name) and not Path(name).expanduser().is_dir():
        raise UserError(_missing_checkpoint(name))
    reserved = [key for key in spec.config if key in TASK_CONFIG_FIELDS]
    if reserved:
        raise UserError(
            f"{source}: model.config.{reserved[0]}: set by the task from its labels; leave it out"
        )
    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=spec.trust_remote_code)
    except (OSError, ValueError) as error:  # not a checkpoint, not on the Hub, no network, unknown model_type
        raise UserError(f"model.name_or_path: cannot load {name!r}: {_first_line(error)}") from None
    config.update(check_fields(type(config), spec.config, source, "model.config"))
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=spec.trust_remote_code)
    except (OSError, ValueError) as error:
        raise UserError(f"model.name_or_path: no tokenizer in {name!r}: {_first_line(error)}") from None
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        # GPT-style tokenizers have no padding token, and batches need one. Padded positions are masked out
        # (attention_mask) and skipped by the losses, so reusing end-of-text costs nothing.
        tokenizer.pad_token = tokenizer.eos_token
        logger.warning(
            f"{name}: the tokenizer has no pad token; padding with its eos token {tokenizer.eos_token!r} "
            f"(id {tokenizer.pad_token_id}, also written as config.pad_token_id)"
        )
    if getattr(config, "pad_token_id", None) is None:
        # e.g. GPT-2's config: sequence classification finds each row's last real token through it
        config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, config


def _looks_local(name: str) -> bool:
    """A directory path rather than a Hub id: it exists, cannot be a Hub id (`./x`, `/x`, `a/b/c`), or starts
    at an existing folder or at our output root."""
    first = name.split("/", 1)[0]
    return (
        Path(name).expanduser().exists()
        or name.startswith((".", "/", "~"))
        or name.count("/") > 1
        or ("/" in name and (first == OUTPUT_ROOT or Path(first).is_dir()))
    )


def _missing_checkpoint(name: str) -> str:
    message = f"model.name_or_path: {name} is not a directory"
    stem = Path(name).name
    if (RECIPES_DIR / "pretrain" / f"{stem}.yaml").is_file():
        message += f"; pretrain it first (make pretrain RECIPE={stem} DATA_DIR=...)"
    return message + ", or fine-tune another checkpoint: --model DIR or a Hub id (e.g. bert-base-uncased)"


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _max_length(requested: int | None, task: Task, config, tokenizer, name: str) -> int:
    """data.max_length, or the task's default capped at what the model can take (its position embeddings and
    the tokenizer's model_max_length, which is a huge number when unset)."""
    limits = [getattr(config, "max_position_embeddings", None), tokenizer.model_max_length]
    limit = min((value for value in limits if isinstance(value, int) and value < 1_000_000), default=None)
    if requested is not None:
        if limit is not None and requested > limit:
            raise UserError(f"data.max_length: {requested} tokens exceed the {limit} that {name} takes")
        return requested
    if limit is not None and task.default_max_length > limit:
        logger.warning(
            f"max_length: {name} takes {limit} tokens, fewer than task {task.name}'s usual "
            f"{task.default_max_length}; inputs are cut at {limit}"
        )
        return limit
    return task.default_max_length


def _raw_splits(task: Task, recipe: FinetuneRecipe, seed: int):
    """The task's training and evaluation splits, cut to data.max_{train,eval}_samples random rows (the release
    files are often sorted, by label or by source, so the first rows would not do)."""
    raw = task.load(recipe.data_dir, splits=[task.train_split, task.eval_split])
    limits = {task.train_split: recipe.data.max_train_samples, task.eval_split: recipe.data.max_eval_samples}
    for split, limit in limits.items():
        if limit is not None and limit < len(raw[split]):
            raw[split] = raw[split].shuffle(seed=seed).select(range(limit)).flatten_indices()
        if len(raw[split]) == 0:
            raise UserError(f"task {task.name}: the {split} split is empty")
    return raw


def _model(spec: CheckpointSpec, task: Task, config):
    auto_class = getattr(transformers, task.auto_model)
    try:
        if spec.init == "scratch":
            return auto_class.from_config(config, trust_remote_code=spec.trust_remote_code)
        return auto_class.from_pretrained(
            spec.name_or_path,
            config=config,
            trust_remote_code=spec.trust_remote_code,
            ignore_mismatched_sizes=spec.ignore_mismatched_sizes,
        )
    except ValueError as error:
        if "Unrecognized configuration class" not in str(error):
            raise
        raise UserError(
            f"model.name_or_path: {spec.name_or_path} is a {config.model_type} model, which has no "
            f"{task.auto_model} head (task {task.name} needs one)"
        ) from None
    except RuntimeError as error:
        if "ignore_mismatched_sizes" not in str(error):
            raise
        raise UserError(
            f"model.name_or_path: {spec.name_or_path} has weights of another shape than task {task.name} needs "
            "(see the load report above; e.g. a head fine-tuned for other labels): set "
            "model.ignore_mismatched_sizes=true to start those from scratch"
        ) from None
