"""`hf-recipes finetune TASK|RECIPE`: fine-tune a model on a labelled task, on `Trainer`.

    recipe ─▶ task (hf_recipes.tasks) ─▶ raw splits (the Hub, or the release files under --data-dir)
           ─▶ checkpoint: AutoTokenizer + AutoConfig (+ model.config, + the task's labels) ─▶ AutoModelFor<head>
              or config: tokenizer trained on the training split + family size/config ─▶ AutoModelFor<head>
           ─▶ task.prepare (datasets.map, cached) ─▶ Trainer, or Seq2SeqTrainer with predict_with_generate
           ─▶ output directory

What differs between tasks (a seq2seq task trains with Seq2SeqTrainer and generation, its tokenizer ends
every sequence, its pictures are attention maps) is the task's to say (hf_recipes.tasks.base.Task), so
`run` reads the same for every task.

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
from transformers import TrainerCallback

from ..adapters import is_adapter, save_final_model, with_adapter
from ..checkpoints import check_checkpoint, input_length, model_for_task, reinitialize, tokenizer_and_config
from ..config import FinetuneRecipe
from ..data.collators import DataCollatorWithPacking
from ..errors import UserError
from ..hub import push_after_training
from ..model_card import write_model_card
from ..pipelines import attach_pipelines
from ..resolve import resolve
from ..runs import RunDirectory
from ..tasks import write_jsonl
from ..training import (
    StepSettingsOfThisAttempt,
    TrainTimeBudget,
    check_model_switches,
    default_report_to,
    trainer_for,
    training_arguments,
)
from ..word_vectors import WordVectors, initialise_embeddings

logger = transformers.logging.get_logger(__name__)

# TrainingArguments the recipe does not have to repeat (it can override each of them).
DEFAULTS = dict(
    report_to=default_report_to(),  # TensorBoard when installed
    eval_strategy="epoch",
    save_strategy="epoch",
    logging_steps=50,
    save_total_limit=2,
    dataloader_num_workers=0,
    dataloader_pin_memory=torch.cuda.is_available(),
)


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
    resolved = resolve(
        FinetuneRecipe, recipe_name, overrides, model=model, data_dir=data_dir, output_dir=output_dir
    )
    recipe, task = resolved.recipe, resolved.task
    run_dir = RunDirectory(recipe.output_dir, resolved.mapping)
    if run_dir.finished:
        return run_dir.report_finished()

    # Everything that can fail on the user's input happens before the output directory is touched.
    defaults = {**DEFAULTS, **task.training_defaults()}
    args = training_arguments(
        recipe.training, run_dir.path, arguments_class=task.training_arguments_class, **defaults
    )
    raw, tokenizer, model, embeddings = _data_and_model(resolved, run_dir, args)
    with args.main_process_first(desc="tokenizing"):
        features = task.prepare(raw, tokenizer, tokenizer.model_max_length, num_proc=recipe.data.num_proc)
    budget = [TrainTimeBudget(recipe.max_train_minutes)] if recipe.max_train_minutes is not None else []

    main_process = args.process_index == 0
    run_dir.start(resolved.saved_text(), main_process=main_process)
    with run_dir.guard(main_process=main_process):
        if main_process and recipe.model.type is not None:
            tokenizer.save_pretrained(run_dir.path)  # a resumed attempt reads it back
        trainer = _trainer(
            task,
            model,
            tokenizer,
            args,
            raw,
            features,
            [StepSettingsOfThisAttempt(), *callbacks, *budget],
            packed=recipe.data.pack_sequences,
        )
        train_result = trainer.train(resume_from_checkpoint=run_dir.resume_from)
    metrics = {**train_result.metrics, **embeddings, **(budget[0].report() if budget else {})}
    merge = recipe.peft is not None and recipe.peft.merge
    metrics = write_results(
        trainer, task, raw, features, recipe.data.test_split, run_dir, metrics, merge=merge
    )
    push_after_training(trainer, run_dir.path, commit_message=f"hf-recipes finetune {Path(recipe_name).stem}")
    return metrics


def _data_and_model(resolved, run_dir: RunDirectory, args):
    """The task's splits, the tokenizer (its model_max_length: the inputs' length), the model with the task's
    head and labels, and the coverage of its embeddings when they start from word vectors
    (`model.embeddings_from`). A missing checkpoint is named before the data are read."""
    recipe, task = resolved.recipe, resolved.task
    spec = recipe.model
    if spec.name_or_path is not None:
        check_checkpoint(spec.name_or_path, "model.name_or_path")
    with args.main_process_first(desc="reading the task's data"):
        raw = task.load_sampled(recipe.data_dir, _split_limits(recipe, task), args.seed)
        resume_dir = (
            run_dir.path if run_dir.resume_from else None
        )  # resuming must not train another tokenizer
        tokenizer, config = tokenizer_and_config(
            recipe, task, raw[task.train_split], resolved.source, resume_dir
        )
    max_length = input_length(recipe.data.max_length, task, config, tokenizer, spec.name_or_path or spec.type)
    tokenizer.model_max_length = max_length  # pipelines on the output directory truncate to it
    config.update(task.model_kwargs())  # after load(): a custom task discovers its labels there
    transformers.set_seed(args.seed)  # the new head (or, from scratch, every weight) starts the same each run
    model = model_for_task(spec, task, config)
    check_model_switches(args, type(model))
    if spec.reinitialize:
        logger.info(
            f"re-initialised from random weights: {', '.join(reinitialize(model, spec.reinitialize))}"
        )
    if recipe.data.pack_sequences:
        _check_packing(model, task)
    task.configure_model(model, args, recipe.generation, max_length)
    embeddings = {}
    if spec.embeddings_from is not None:  # feature-based transfer
        vectors = WordVectors.load(spec.embeddings_from, trust_remote_code=spec.trust_remote_code)
        embeddings = initialise_embeddings(model, tokenizer, vectors, spec.freeze_embeddings)
        logger.info(f"input embeddings from {spec.embeddings_from}: {embeddings}")
    if recipe.peft is not None:  # after every change to the weights: the adapter starts on the final ones
        model = with_adapter(model, recipe.peft, task.auto_model)
    return raw, tokenizer, model, embeddings


def _trainer(task, model, tokenizer, args, raw, features, callbacks, packed: bool = False):
    """The task's Trainer (Seq2SeqTrainer for a generating task) on its training and evaluation splits; with
    `packed`, training batches packed into rows of the inputs' length (data.pack_sequences)."""
    eval_raw, eval_features = raw[task.eval_split], features[task.eval_split]
    packing = None
    if packed:
        token_labels = task.auto_model == "AutoModelForTokenClassification"
        packing = DataCollatorWithPacking(tokenizer, tokenizer.model_max_length, token_labels=token_labels)
    return trainer_for(task)(
        train_data_collator=packing,
        model=model,
        args=args,
        train_dataset=features[task.train_split],
        eval_dataset=eval_features,
        data_collator=task.data_collator(tokenizer, model),
        processing_class=tokenizer,
        compute_metrics=task.compute_metrics_fn(
            tokenizer=tokenizer, examples=eval_raw, features=eval_features
        ),
        callbacks=callbacks,
    )


def _check_packing(model, task) -> None:
    """data.pack_sequences needs a model that reads packed rows and a head with one output per token or per
    sequence (a span of QA or a generated text has neither)."""
    heads = ("AutoModelForSequenceClassification", "AutoModelForTokenClassification")
    if task.auto_model not in heads:
        raise UserError(
            f"data.pack_sequences: task {task.name} trains {task.auto_model}; packing serves sequence and token "
            "classification. Leave it out"
        )
    if not getattr(model, "supports_packed_sequences", False):
        raise UserError(
            f"data.pack_sequences: {type(model).__name__} does not read packed rows (position_ids restarting "
            "inside a row); BERT does. Leave it out"
        )


def _split_limits(recipe: FinetuneRecipe, task) -> dict[str, int | None]:
    """The splits a run reads (training, evaluation, data.test_split) and the random rows it keeps of each."""
    data = recipe.data
    limits = {task.train_split: data.max_train_samples, task.eval_split: data.max_eval_samples}
    if data.test_split is not None:
        limits.setdefault(data.test_split, data.max_test_samples)
    return limits


def write_results(
    trainer,
    task,
    raw,
    features,
    test_split: str | None,
    run_dir: RunDirectory,
    metrics: dict,
    *,
    merge: bool = False,
) -> dict:
    """The final model, saved (with its code, and the pipeline code transformers 5 no longer ships for QA and
    translation; under peft the adapter alone, or with `merge` the merged model and the adapter in adapter/)
    and scored on the eval split (and `test_split`) in one pass each: its metrics (eval_ / test_ keys, as
    Trainer names them), predictions.jsonl (test_predictions.jsonl), the task's pictures, loss.png,
    metrics.json last, and the model card."""
    out = run_dir.path
    save_final_model(trainer, merge)  # model + code + tokenizer into output_dir
    main_process = trainer.is_world_process_zero()
    if main_process and not is_adapter(trainer.model):  # an adapter has no config of its own to carry them
        attach_pipelines(out, task.auto_model)
        task.save_with_model(out, trainer.model, trainer.processing_class)
    metrics = {**metrics, "global_step": trainer.state.global_step, "output_dir": str(out)}
    tokenizer = trainer.processing_class
    outputs = {}
    for prefix, split in (("eval", task.eval_split), ("test", test_split)):
        if split is None:
            continue
        trainer.compute_metrics = task.compute_metrics_fn(
            tokenizer=tokenizer, examples=raw[split], features=features[split]
        )
        outputs[prefix] = trainer.predict(features[split], metric_key_prefix=prefix)
        metrics.update(outputs[prefix].metrics)
    if not main_process:
        return metrics
    for prefix, output in outputs.items():
        split = task.eval_split if prefix == "eval" else test_split
        rows = task.predictions(raw[split], features[split], output.predictions, tokenizer=tokenizer)
        write_jsonl(rows, out / ("predictions.jsonl" if prefix == "eval" else f"{prefix}_predictions.jsonl"))
    task.write_pictures(out, trainer.model, tokenizer, raw[task.eval_split], outputs["eval"])
    metrics = run_dir.finish(trainer.state.log_history, metrics, title=f"{out.name}: {task.name}")
    write_model_card(out)  # reads recipe.yaml, config.json and metrics.json from the directory
    return metrics
