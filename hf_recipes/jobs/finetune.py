"""`hf-recipes finetune TASK|RECIPE`: fine-tune a model on a labelled task, on `Trainer`.

    recipe ─▶ task (hf_recipes.tasks) ─▶ raw splits (the Hub, or the release files under --data-dir)
           ─▶ checkpoint: AutoTokenizer + AutoConfig (+ model.config, + the task's labels) ─▶ AutoModelFor<head>
              or config: tokenizer trained on the training split + family size/config ─▶ AutoModelFor<head>
           ─▶ task.prepare (datasets.map, cached) ─▶ Trainer, or Seq2SeqTrainer with predict_with_generate
           ─▶ output directory

The model comes from a checkpoint (`model.name_or_path`): one of our output directories (the shipped
classification recipes start from the BERT that `make pretrain RECIPE=bert_mlm_nsp_wikitext` leaves in outputs/)
or any Hub / transformers checkpoint (`--model bert-base-uncased`, with network); `model.init: scratch` keeps
the checkpoint's architecture and tokenizer but not its weights, the baseline that shows what pretraining
bought. Or it is built from a config (`model.type` + `size`/`config`, as in pretraining) with a tokenizer that
the recipe's `tokenizer` section trains on the task's training split: the translation recipes
(recipes/finetune/multi30k*.yaml) train recurrent and Transformer seq2seq models from scratch this way. For
seq2seq tasks the tokenizer ends every sequence with its end-of-sequence token, so the decoder learns to stop.

Runs the same under `accelerate launch -m hf_recipes finetune ...`. Re-running the same command after an
interruption resumes from the last complete checkpoint in the output directory; on a finished run it does
nothing and says where the results are (hf_recipes.runs, hf_recipes.training).

The output directory holds the fine-tuned model (with its code, for our families; with the pipeline code for
question answering and translation, which transformers 5 no longer ships) and tokenizer, recipe.yaml,
predictions.jsonl (one row per eval example), confusion_matrix.png (single-label tasks), log_history.json,
loss.png, metrics.json (the final model on the eval split: eval_loss, eval_<task metrics>; train_*) and
README.md, the model card; for seq2seq tasks also attention_<i>.png, the cross-attention of the final model
on the first validation sentences (`hf-recipes attention DIR "sentence"` draws any other), and with
`data.test_split` test_predictions.jsonl and the test_* metrics.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import transformers
from accelerate import PartialState
from transformers import (
    Seq2SeqTrainingArguments,
    TrainerCallback,
    TrainingArguments,
)
from transformers.utils import logging

from ..checkpoints import check_checkpoint, checkpoint_for_task, input_length, load_tokenizer, model_for_task
from ..data.tokenization import append_eos, seq2seq_tokenizer
from ..errors import UserError
from ..hub import push_after_training, write_model_card
from ..models import REGISTRY
from ..pipelines import attach_pipelines
from ..plots import plot_confusion_matrix
from ..recipe import (
    FinetuneRecipe,
    dump_recipe,
    finetune_task,
    load_finetune_recipe,
)
from ..runs import RunDirectory, recipe_header
from ..tasks import Task, write_jsonl
from ..tasks.base import logits_of, values
from ..training import (
    RecipeSeq2SeqTrainer,
    RecipeTrainer,
    StepSettingsOfThisAttempt,
    TrainTimeBudget,
    training_arguments,
)
from .attention import write_attention_pictures
from .common import build_model_config, tokenizer_from_spec

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

# Validation sentences whose cross-attention a seq2seq run draws (attention_<i>.png).
ATTENTION_PICTURES = 3

# Config fields that name the source and the target vocabulary of an encoder-decoder with separate
# vocabularies: (source, target), by the first field the config class has. Our Transformer counts its target
# vocabulary in vocab_size (as Marian and BART), our RNN its source vocabulary (the encoder's, shared by every
# head); Marian names its target side decoder_vocab_size.
VOCABULARY_FIELDS = {
    "encoder_vocab_size": ("encoder_vocab_size", "vocab_size"),
    "target_vocab_size": ("vocab_size", "target_vocab_size"),
    "decoder_vocab_size": ("vocab_size", "decoder_vocab_size"),
}

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
    if model is not None:  # the checkpoint is checked before the recipe's keys
        check_checkpoint(model, "--model")
    recipe, resolved = load_finetune_recipe(
        recipe_name, overrides, model=model, data_dir=data_dir, output_dir=output_dir
    )
    task = finetune_task(recipe.task)
    seq2seq = task.problem_type == "seq2seq"
    from_config = recipe.model.type is not None
    out = Path(recipe.output_dir)
    run_dir = RunDirectory(out, resolved)
    if run_dir.finished:
        return run_dir.report_finished()

    # Everything that can fail on the user's input happens before the output directory is touched.
    if not from_config:
        tokenizer, config = checkpoint_for_task(recipe.model, recipe_name)
    defaults = dict(
        DEFAULTS, metric_for_best_model=task.main_metric, greater_is_better=task.greater_is_better
    )
    if seq2seq:
        defaults.update(predict_with_generate=True)
    args = training_arguments(
        recipe.training,
        out,
        arguments_class=Seq2SeqTrainingArguments if seq2seq else TrainingArguments,
        **defaults,
    )
    main_process = args.process_index == 0
    with args.main_process_first(desc="reading the task's data"):
        raw = _raw_splits(task, recipe, args.seed)
    if from_config:
        with args.main_process_first(desc="training the tokenizer"):
            tokenizer = _tokenizer_for_config(recipe, task, raw[task.train_split], run_dir)
        config = _config_for_type(recipe, task, tokenizer)
    name = recipe.model.name_or_path or recipe.model.type
    max_length = input_length(recipe.data.max_length, task, config, tokenizer, name)
    tokenizer.model_max_length = max_length  # pipelines on the output directory truncate to it
    if seq2seq and args.generation_max_length is None:
        args.generation_max_length = getattr(task, "max_target_length", None) or max_length
    config.update(task.model_kwargs())  # after load(): a custom task discovers its labels there
    transformers.set_seed(args.seed)  # the new head (or, from scratch, every weight) starts the same each run
    model = model_for_task(recipe.model, task, config)
    if seq2seq:
        # Evaluation (predict_with_generate), the pipelines and `hf-recipes attention` all decode this way; the
        # saved length limit is the evaluation's, not transformers' default of 20 tokens.
        if not {"max_length", "max_new_tokens"} & set(recipe.generation):
            model.generation_config.max_length = args.generation_max_length
        model.generation_config.update(**recipe.generation)

    with args.main_process_first(desc="tokenizing"):
        features = task.prepare(raw, tokenizer, max_length, num_proc=recipe.data.num_proc)
    eval_raw, eval_features = raw[task.eval_split], features[task.eval_split]
    callbacks = list(callbacks)
    budget = TrainTimeBudget(recipe.max_train_minutes) if recipe.max_train_minutes is not None else None
    if budget is not None:
        callbacks.append(budget)

    run_dir.start(
        recipe_header("finetune", recipe_name, overrides) + dump_recipe(resolved, FinetuneRecipe),
        main_process=main_process,
    )
    with run_dir.guard(main_process=main_process):
        if from_config and main_process:
            tokenizer.save_pretrained(out)  # a resumed attempt reads it back instead of training another
        trainer = (RecipeSeq2SeqTrainer if seq2seq else RecipeTrainer)(
            model=model,
            args=args,
            train_dataset=features[task.train_split],
            eval_dataset=eval_features,
            data_collator=task.data_collator(tokenizer, model),
            processing_class=tokenizer,
            compute_metrics=task.compute_metrics_fn(
                tokenizer=tokenizer, examples=eval_raw, features=eval_features
            ),
            callbacks=[StepSettingsOfThisAttempt(), *callbacks],
        )
        train_result = trainer.train(resume_from_checkpoint=run_dir.resume_from)
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
    if budget is not None:
        metrics.update(budget.report())
    test = None
    if recipe.data.test_split is not None:
        test_raw, test_features = raw[recipe.data.test_split], features[recipe.data.test_split]
        trainer.compute_metrics = task.compute_metrics_fn(
            tokenizer=tokenizer, examples=test_raw, features=test_features
        )
        test = trainer.predict(test_features, metric_key_prefix="test")
        metrics.update(test.metrics)
    if trainer.is_world_process_zero():
        rows = task.predictions(eval_raw, eval_features, final.predictions, tokenizer=tokenizer)
        write_jsonl(rows, out / "predictions.jsonl")
        if test is not None:
            rows = task.predictions(test_raw, test_features, test.predictions, tokenizer=tokenizer)
            write_jsonl(rows, out / "test_predictions.jsonl")
        if task.problem_type == "single_label":
            predicted = logits_of(final.predictions).argmax(-1)
            title = f"{out.name}: {task.name} ({task.eval_split})"
            plot_confusion_matrix(
                final.label_ids, predicted, task.label_names, out / "confusion_matrix.png", title
            )
        if seq2seq:
            sources = values(eval_raw.select(range(min(ATTENTION_PICTURES, len(eval_raw)))), task.source_lang)
            write_attention_pictures(trainer.model, tokenizer, sources, out)  # decoding as generation_config
        metrics = run_dir.finish(trainer.state.log_history, metrics, title=f"{out.name}: {task.name}")
        write_model_card(out)  # reads recipe.yaml, config.json and metrics.json from the directory
    push_after_training(trainer, out, commit_message=f"hf-recipes finetune {Path(recipe_name).stem}")
    return metrics


def _raw_splits(task: Task, recipe: FinetuneRecipe, seed: int):
    """The task's training and evaluation splits (and data.test_split), cut to data.max_{train,eval,test}_samples
    random rows (the release files are often sorted, by label or by source, so the first rows would not do)."""
    test_split = recipe.data.test_split
    splits = [task.train_split, task.eval_split] + ([test_split] if test_split is not None else [])
    raw = task.load(recipe.data_dir, splits=list(dict.fromkeys(splits)))
    limits = {task.train_split: recipe.data.max_train_samples, task.eval_split: recipe.data.max_eval_samples}
    if test_split is not None:
        limits.setdefault(test_split, recipe.data.max_test_samples)
    for split, limit in limits.items():
        if limit is not None and limit < len(raw[split]):
            raw[split] = raw[split].shuffle(seed=seed).select(range(limit)).flatten_indices()
        if len(raw[split]) == 0:
            raise UserError(f"task {task.name}: the {split} split is empty")
    return raw


# --- a model built from a config (model.type) ---------------------------------------------------------------


def _tokenizer_for_config(recipe: FinetuneRecipe, task: Task, train, run_dir: RunDirectory):
    """The tokenizer of a model built from `model.type`: the one of the checkpoint to resume from (resuming must
    not train another), or the recipe's, trained on the training split's text (a seq2seq task's source and
    target sentences: jointly, or one tokenizer per side). For seq2seq tasks it ends every sequence with
    end-of-sequence."""
    if run_dir.resume_from is not None and (run_dir.path / "tokenizer_config.json").is_file():
        return load_tokenizer(str(run_dir.path.resolve()))
    spec = recipe.tokenizer
    if task.problem_type != "seq2seq":
        columns = [
            name for name, feature in train.features.items() if getattr(feature, "dtype", None) == "string"
        ]
        if not columns:
            raise UserError(f"tokenizer: task {task.name} has no text column to train a tokenizer on")
        return tokenizer_from_spec(
            spec, lambda: (text for column in columns for text in values(train, column))
        )
    source, target = values(train, task.source_lang), values(train, task.target_lang)
    if not spec.separate_vocabularies:
        return append_eos(tokenizer_from_spec(spec, lambda: source + target))
    return seq2seq_tokenizer(
        append_eos(tokenizer_from_spec(spec, lambda: source)),
        append_eos(tokenizer_from_spec(spec, lambda: target)),
    )


def _config_for_type(recipe: FinetuneRecipe, task: Task, tokenizer):
    """The family's config from model.size and model.config, with the tokenizer's vocabulary and special ids; for
    seq2seq, the decoder starts from the tokenizer's bos token (eos when it has none), and a tokenizer with two
    vocabularies sizes the source and target embeddings apart."""
    spec = recipe.model
    family = REGISTRY[spec.type]
    fields = set(family.config_class.__dataclass_fields__)
    fixed = {}
    if task.problem_type == "seq2seq" and "decoder_start_token_id" in fields:
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        fixed["decoder_start_token_id"] = start
    target_size = getattr(tokenizer, "target_vocab_size", None)  # HfrSeq2SeqTokenizer
    if target_size is not None:
        names = next((VOCABULARY_FIELDS[f] for f in VOCABULARY_FIELDS if f in fields), None)
        if names is None:
            raise UserError(
                f"tokenizer.separate_vocabularies: {spec.type} has one vocabulary for source and target "
                f"(its config has none of {', '.join(VOCABULARY_FIELDS)}); use a joint vocabulary"
            )
        fixed.update({names[0]: len(tokenizer), names[1]: target_size})
    config = build_model_config(family, spec.size, spec.config, tokenizer, **fixed)
    if target_size is not None and getattr(config, "share_embeddings", False):
        # equal sizes would pass the config's own check, yet id i is a different token on each side
        raise UserError(
            "model.config.share_embeddings: separate vocabularies cannot share one embedding matrix; set "
            "model.config.share_embeddings: false"
        )
    return config
