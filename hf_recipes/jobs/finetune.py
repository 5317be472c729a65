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
interruption resumes from the last checkpoint in the output directory.

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
import time
from pathlib import Path

import torch
import transformers
from accelerate import PartialState
from transformers import (
    AutoConfig,
    AutoTokenizer,
    Seq2SeqTrainingArguments,
    TrainerCallback,
    TrainingArguments,
)
from transformers.utils import logging

from ..data.tokenization import append_eos, load_tokenizer, seq2seq_tokenizer
from ..errors import UserError
from ..hub import push_after_training, write_model_card
from ..models import REGISTRY
from ..pipelines import attach_pipelines
from ..plots import plot_confusion_matrix
from ..recipe import (
    RECIPES_DIR,
    FinetuneModelSpec,
    FinetuneRecipe,
    check_fields,
    dump_recipe,
    finetune_task,
    load_finetune_recipe,
)
from ..tasks import Task, write_jsonl
from ..tasks.base import logits_of, values
from .attention import write_attention_pictures
from .common import (
    OrderedSeq2SeqTrainer,
    OrderedTrainer,
    StepSettingsOfThisAttempt,
    build_model_config,
    finish_run,
    prepare_output_dir,
    recipe_header,
    tokenizer_from_spec,
    training_arguments,
)

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
    recipe, resolved = load_finetune_recipe(
        recipe_name, overrides, model=model, data_dir=data_dir, output_dir=output_dir
    )
    task = finetune_task(recipe.task)
    seq2seq = task.problem_type == "seq2seq"
    from_config = recipe.model.type is not None
    out = Path(recipe.output_dir)

    # Everything that can fail on the user's input happens before the output directory is touched.
    if not from_config:
        tokenizer, config = _load_checkpoint(recipe.model, recipe_name)
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
    with args.main_process_first(desc="reading the task's data"):
        raw = _raw_splits(task, recipe, args.seed)
    if from_config:
        with args.main_process_first(desc="training the tokenizer"):
            tokenizer = _tokenizer_for_config(recipe, task, raw[task.train_split], out)
        config = _config_for_type(recipe, task, tokenizer)
    name = recipe.model.name_or_path or recipe.model.type
    max_length = _max_length(recipe.data.max_length, task, config, tokenizer, name)
    tokenizer.model_max_length = max_length  # pipelines on the output directory truncate to it
    if seq2seq and args.generation_max_length is None:
        args.generation_max_length = getattr(task, "max_target_length", None) or max_length
    config.update(task.model_kwargs())  # after load(): a custom task discovers its labels there
    transformers.set_seed(args.seed)  # the new head (or, from scratch, every weight) starts the same each run
    model = _model(recipe.model, task, config)
    if seq2seq:
        # Evaluation (predict_with_generate), the pipelines and `hf-recipes attention` all decode this way; the
        # saved length limit is the evaluation's, not transformers' default of 20 tokens.
        if not {"max_length", "max_new_tokens"} & set(recipe.generation):
            model.generation_config.max_length = args.generation_max_length
        model.generation_config.update(**recipe.generation)

    resume_from = prepare_output_dir(
        out,
        resolved,
        recipe_header("finetune", recipe_name, overrides) + dump_recipe(resolved, FinetuneRecipe),
    )
    if from_config and args.process_index == 0:
        tokenizer.save_pretrained(out)  # a resumed attempt reads it back instead of training another
    with args.main_process_first(desc="tokenizing"):
        features = task.prepare(raw, tokenizer, max_length, num_proc=recipe.data.num_proc)
    eval_raw, eval_features = raw[task.eval_split], features[task.eval_split]
    callbacks = list(callbacks)
    budget = TrainTimeBudget(recipe.max_train_minutes) if recipe.max_train_minutes is not None else None
    if budget is not None:
        callbacks.append(budget)
    trainer = (OrderedSeq2SeqTrainer if seq2seq else OrderedTrainer)(
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
        metrics = finish_run(out, trainer.state.log_history, metrics, title=f"{out.name}: {task.name}")
        write_model_card(out)  # reads recipe.yaml, config.json and metrics.json from the directory
    push_after_training(trainer, out, commit_message=f"hf-recipes finetune {Path(recipe_name).stem}")
    return metrics


class TrainTimeBudget(TrainerCallback):
    """Stops training once `minutes` have gone into optimizer steps (forward, backward, update; evaluations and
    checkpoints do not count), then evaluates and saves as at the end of training. Runs of different models
    then compare at equal compute. The budget counts from the start of this attempt (a resumed run gets a
    fresh one)."""

    def __init__(self, minutes: float):
        self.budget = minutes * 60
        self.spent = 0.0
        self.started = None
        self.stopped_early = False

    def on_step_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self.started is not None:
            self.spent += time.perf_counter() - self.started
        if self.spent >= self.budget and not control.should_training_stop:
            self.stopped_early = state.global_step < state.max_steps
            control.should_training_stop = True
            control.should_evaluate = args.eval_strategy != "no"
            control.should_save = args.save_strategy != "no"
        return control

    def report(self) -> dict:
        return {"train_step_seconds": round(self.spent, 3), "stopped_by_time_budget": self.stopped_early}


def _load_checkpoint(spec: FinetuneModelSpec, source: str):
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


def _model(spec: FinetuneModelSpec, task: Task, config):
    auto_class = getattr(transformers, task.auto_model)
    try:
        if spec.type is not None or spec.init == "scratch":
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


# --- a model built from a config (model.type) ---------------------------------------------------------------


def _tokenizer_for_config(recipe: FinetuneRecipe, task: Task, train, out: Path):
    """The tokenizer of a model built from `model.type`: an earlier attempt's (resuming must not train another),
    or the recipe's, trained on the training split's text (a seq2seq task's source and target sentences:
    jointly, or one tokenizer per side). For seq2seq tasks it ends every sequence with end-of-sequence."""
    if (out / "tokenizer_config.json").is_file():
        return load_tokenizer(str(out.resolve()))
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
