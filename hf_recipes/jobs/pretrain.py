"""`hf-recipes pretrain RECIPE`: self-supervised pretraining of a model family on a corpus, on `Trainer`.

    recipe ─▶ documents (local files / Hub) ─▶ tokenizer (trained or loaded)
           ─▶ examples: BERT MLM+NSP instances, or causal-LM blocks (datasets.map, cached)
           ─▶ Trainer(model from the AutoClasses, collator) ─▶ output directory

With `data.streaming: true` the documents are `datasets.IterableDataset`s and the same map calls run lazily as
the Trainer reads (nothing cached); the training examples are shuffled in windows of `data.shuffle_buffer` and
resume where they stopped (hf_recipes.data.streaming); evaluation keeps the validation split's first
`data.max_eval_samples` examples in memory.

Runs the same under `accelerate launch -m hf_recipes pretrain ...` (Trainer takes the processes from the
launcher; dataset building happens on the main process first, the others read its cache). Re-running the
same command after an interruption resumes from the last complete checkpoint in the output directory; on a
finished run it does nothing and says where the results are (hf_recipes.runs, hf_recipes.training).

The output directory holds the model (safetensors + config with auto_map + its code), the tokenizer,
recipe.yaml (the resolved recipe), metrics.json, log_history.json, loss.png, and for causal LMs samples.txt.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from accelerate import PartialState
from datasets import Dataset, IterableDataset
from transformers import TrainerCallback, default_data_collator
from transformers.trainer_callback import ProgressCallback

from ..checkpoints import build_model_config, load_tokenizer, tokenizer_from_spec
from ..config import PretrainRecipe
from ..data.collators import DataCollatorForPreTraining, pad_blocks
from ..data.loading import load_documents, num_proc, stream_documents
from ..data.pretraining import nsp_instances_map, pack_for_causal_lm, tokenize_sentences
from ..data.streaming import ResumableStream, shuffle_window
from ..data.word_vectors import (
    RowsInMemory,
    cooccurrence_examples,
    cooccurrences,
    sentence_ids,
    word_blocks,
)
from ..errors import UserError
from ..hub import push_after_training
from ..metrics import perplexity, unigram_loss
from ..models import REGISTRY
from ..resolve import resolve
from ..runs import RunDirectory, write_text
from ..training import (
    RecipeTrainer,
    SparseSGD,
    StepSettingsOfThisAttempt,
    UnitsProgress,
    check_model_switches,
    default_report_to,
    training_arguments,
)
from ..word_vectors import WordVectors, describe, tokenizer_words
from .generate import sample_texts

# TrainingArguments the recipe does not have to repeat (it can override each of them).
DEFAULTS = dict(
    report_to=default_report_to(),  # TensorBoard when installed
    logging_steps=50,
    save_strategy="steps",
    save_steps=500,
    save_total_limit=2,
    dataloader_num_workers=0,
    dataloader_pin_memory=torch.cuda.is_available(),
    # every parameter takes part in every forward pass: spare DDP its extra traversal of the graph
    ddp_find_unused_parameters=False,
)


# The metrics `hf-recipes pretrain` prints when it is done (metrics.json has them all).
SHOWN = ("eval_", "best_", "perplexity", "unigram_", "train_tok", "train_words", "train_entries", "probe_")


def main(args: argparse.Namespace) -> int:
    metrics = run(args.recipe, args.overrides, data_dir=args.data_dir, output_dir=args.output_dir)
    if not PartialState().is_main_process:
        return 0
    shown = {k: v for k, v in metrics.items() if k.startswith(SHOWN)}
    print(f"done: {metrics['output_dir']}\n" + "\n".join(f"  {k} = {v}" for k, v in sorted(shown.items())))
    return 0


def run(
    recipe_name: str,
    overrides: list[str] | dict = (),
    *,
    data_dir: str | None = None,
    output_dir: str | None = None,
    callbacks: list[TrainerCallback] = (),
) -> dict:
    """Run a pretraining recipe end to end; returns the metrics written to metrics.json."""
    resolved = resolve(PretrainRecipe, recipe_name, overrides, data_dir=data_dir, output_dir=output_dir)
    recipe = resolved.recipe
    run_dir = RunDirectory(recipe.output_dir, resolved.mapping)
    if run_dir.finished:
        return run_dir.report_finished()
    args = training_arguments(recipe.training, run_dir.path, **DEFAULTS)
    transformers.set_seed(args.seed)

    # Everything that can fail on the user's input (files, the tokenizer, the model's size, the examples)
    # happens before the output directory is touched.
    documents = (stream_documents if recipe.data.streaming else load_documents)(recipe.data, recipe.data_dir)
    tokenizer = _tokenizer(recipe, documents["train"], run_dir, args)
    config = _model_config(recipe, tokenizer)
    if getattr(config, "sparse", False) and args.world_size > 1 and args.device.type == "cuda":
        config.sparse = False  # word vectors on several GPUs: NCCL reduces dense gradients only
    model_class = getattr(transformers, recipe.objective.head)._model_mapping[type(config)]
    check_model_switches(args, model_class)
    if getattr(recipe.objective, "pack_sequences", False) and not getattr(
        model_class, "supports_packed_sequences", False
    ):
        raise UserError(
            f"objective.pack_sequences: {model_class.__name__} does not read packed rows (position_ids restarting "
            "inside a row); BERT does. Leave it out"
        )
    with args.main_process_first(desc="building the training examples"):
        if recipe.data.streaming:
            examples = _streamed_examples(recipe, documents, tokenizer, args)
        else:
            examples = _examples(recipe, documents, tokenizer, args.seed)

    main_process = args.process_index == 0
    run_dir.start(resolved.saved_text(), main_process=main_process)
    with run_dir.guard(main_process=main_process):
        if main_process:
            tokenizer.save_pretrained(
                run_dir.path
            )  # a resumed attempt reads it back instead of training another
        masked = recipe.objective.type in ("mlm", "mlm_nsp")
        model = getattr(transformers, recipe.objective.head).from_config(config)
        if hasattr(model, "set_vocabulary"):  # word2vec, FastText: the words and their counts in the corpus
            model.set_vocabulary(_words(tokenizer), examples["train"].word_counts(len(tokenizer)))
        trainer = RecipeTrainer(
            model=model,
            args=args,
            train_dataset=examples["train"],
            eval_dataset=examples.get("validation"),
            data_collator=_collator(recipe, tokenizer),
            processing_class=tokenizer,
            compute_metrics=_masked_lm_metrics if masked else None,
            preprocess_logits_for_metrics=_reduce_masked_lm_logits if masked else None,
            callbacks=[StepSettingsOfThisAttempt(), *callbacks],
            optimizer_cls_and_kwargs=_optimizer(recipe, args),
        )
        if recipe.objective.head == "AutoModel":  # word vectors: the bar counts words (GloVe: entries)
            trainer.remove_callback(ProgressCallback)
            trainer.add_callback(UnitsProgress(*_units(recipe, examples["train"], args)))
        train_result = trainer.train(resume_from_checkpoint=run_dir.resume_from)
    metrics = _write_results(
        trainer, recipe, run_dir, train_result.metrics, evaluate="validation" in examples
    )
    push_after_training(trainer, run_dir.path, commit_message=f"hf-recipes pretrain {Path(recipe_name).stem}")
    return metrics


def _write_results(
    trainer, recipe: PretrainRecipe, run_dir: RunDirectory, metrics: dict, evaluate: bool
) -> dict:
    """The final model saved (with its code), its eval metrics and perplexity, samples.txt for a causal LM,
    loss.png, and metrics.json last."""
    trainer.save_model()  # model + code + tokenizer into output_dir
    out, objective = run_dir.path, recipe.objective
    metrics = {**metrics, "global_step": trainer.state.global_step, "output_dir": str(out)}
    if objective.type == "causal_lm" and "train_samples_per_second" in metrics:  # none if nothing was trained
        metrics["train_tokens_per_second"] = metrics["train_samples_per_second"] * objective.block_size
    if objective.head == "AutoModel" and trainer.is_world_process_zero():  # word vectors: no evaluation loss
        if "train_steps_per_second" in metrics:
            unit, per_step = _units(recipe, trainer.train_dataset, trainer.args)
            metrics[f"train_{unit}_per_second"] = round(metrics["train_steps_per_second"] * per_step)
        vectors = WordVectors.from_model(trainer.model, trainer.processing_class)
        metrics.update(
            describe(vectors, objective.probe_words, out, f"{out.name}: {recipe.model.type} vectors")
        )
    if evaluate:
        evaluation = _final_evaluation(trainer)
        metrics.update(evaluation)
        # for BERT, eval_loss is MLM + NSP: its perplexity is the masked LM's
        loss = evaluation["eval_mlm_loss" if objective.type != "causal_lm" else "eval_loss"]
        metrics["perplexity"] = perplexity(loss)
        metrics.update(_context_free_baseline(trainer, objective, loss))
    if trainer.is_world_process_zero():
        if objective.type == "causal_lm":
            write_text(out / "samples.txt", _samples(trainer.model, trainer.processing_class, recipe))
        metrics = run_dir.finish(trainer.state.log_history, metrics, title=f"{out.name}: {objective.type}")
    return metrics


def _context_free_baseline(trainer, objective, loss: float) -> dict:
    """`unigram_loss` (and its perplexity): the held-out loss of predicting each token by its frequency in the
    training examples, beside which the model's held-out loss says whether it learned to use context. One
    warning when it did not: fine-tuning from such a checkpoint starts from token frequencies, no better than
    random weights.

    A masked LM is held to the unigram loss at the targets it cannot see: the 10% of targets that masking
    leaves as they are (80/10/10) cost a model that copies its input nothing, context or not."""
    tokenizer = trainer.processing_class
    vocab_size = max(len(tokenizer), trainer.model.config.vocab_size)
    train = _predicted_tokens(trainer.train_dataset, objective, tokenizer)
    held_out = _predicted_tokens(trainer.eval_dataset, objective, tokenizer)
    baseline = unigram_loss(train, held_out, vocab_size)
    collator = trainer.data_collator
    hidden = (
        collator.mask_replace_prob + collator.random_replace_prob if objective.type != "causal_lm" else 1.0
    )
    if loss >= hidden * baseline and trainer.is_world_process_zero():
        kind = "masked-LM" if objective.type != "causal_lm" else "language-model"
        copied = "" if hidden == 1.0 else f" at the {hidden:.0%} of targets it cannot see"
        print(
            f"pretrain: warning: the held-out {kind} loss ({loss:.3f}) is no lower than predicting each token by "
            f"its frequency in the training text{copied} ({hidden * baseline:.3f}; unigram_loss in metrics.json): "
            "the model has not learned to use context, and fine-tuning from it is unlikely to beat random "
            "weights; train longer or on more text, or use an objective that learns from every token (causal_lm)",
            file=sys.stderr,
        )
    return {"unigram_loss": baseline, "unigram_perplexity": perplexity(baseline)}


def _predicted_tokens(dataset, objective, tokenizer, limit: int = 2_000_000):
    """The ids of the tokens the objective predicts in `dataset`, from evenly spaced rows (of a stream: its first
    rows) up to about `limit` tokens: a causal LM predicts every token of a block but its first; masking picks
    among the non-special tokens."""
    if isinstance(dataset, ResumableStream):
        dataset = dataset.head(max(1, limit // objective.length))
    sample = dataset.select(range(0, len(dataset), max(1, len(dataset) * objective.length // limit)))
    rows = sample.with_format("numpy")["input_ids"]
    if objective.type == "causal_lm":
        return np.concatenate([row[1:] for row in rows])
    tokens = np.concatenate(list(rows))
    return tokens[~np.isin(tokens, tokenizer.all_special_ids)]


def _optimizer(recipe: PretrainRecipe, args):
    """Word vectors trained by plain SGD (word2vec's) take `SparseSGD`: the same updates, faster on sparse
    gradients. Anything else: the optimizer TrainingArguments names."""
    plain_sgd = args.optim == "sgd" and not args.optim_args
    if recipe.objective.head == "AutoModel" and plain_sgd:
        return SparseSGD, {"lr": args.learning_rate}
    return None


def _units(recipe: PretrainRecipe, train_dataset, args) -> tuple[str, float]:
    """What a word-vector step trains on, and how many per step (over all processes)."""
    if recipe.objective.type == "cooccurrence":
        per_example, unit = recipe.objective.entries_per_example, "entries"
    else:
        per_example, unit = train_dataset.mean_length(), "words"
    return unit, round(
        per_example * args.per_device_train_batch_size * args.world_size * args.gradient_accumulation_steps
    )


def _words(tokenizer) -> list[str | None]:
    """The word of every id (None for special tokens), in id order."""
    words: list[str | None] = [None] * len(tokenizer)
    for word, index in tokenizer_words(tokenizer, len(words)):
        words[index] = word
    return words


def _tokenizer(recipe: PretrainRecipe, train_documents, run_dir: RunDirectory, args):
    """The tokenizer of the checkpoint to resume from (resuming must not train another), else the recipe's,
    trained or loaded; not saved here (the output directory is not touched yet)."""
    spec = recipe.tokenizer
    if run_dir.resume_from is not None and (run_dir.path / "tokenizer_config.json").is_file():
        return load_tokenizer(str(run_dir.path.resolve()))
    if isinstance(train_documents, IterableDataset):  # a stream: its first documents (copied into a list)
        count = recipe.data.tokenizer_documents
        texts = lambda: (row["text"] for row in train_documents.take(count))  # noqa: E731
    else:
        # the lazy column, not a one-shot generator: WordPiece training reads the corpus twice, and a generator
        # would first be copied into a list (train_tokenizer)
        texts = lambda: train_documents["text"]  # noqa: E731
    with args.main_process_first(desc="training the tokenizer"):
        tokenizer = tokenizer_from_spec(spec, texts)
    if recipe.objective.head != "AutoModel":  # word vectors: any text has a vector per word
        tokenizer.model_max_length = (
            recipe.objective.length
        )  # pipelines truncate to the longest training input
    return tokenizer


def _model_config(recipe: PretrainRecipe, tokenizer):
    spec = recipe.model
    config = build_model_config(REGISTRY[spec.type], spec.size, spec.config, tokenizer)
    length = recipe.objective.length
    # Models with position embeddings take sequences up to their size; recurrent ones have none and read any
    # length.
    positions = getattr(config, "max_position_embeddings", None)
    if positions is not None and length > positions:
        raise UserError(
            f"objective: sequences of {length} tokens exceed the model's {positions} positions "
            "(raise model.config.n_positions / max_position_embeddings or shorten the objective)"
        )
    return config


def _examples(recipe: PretrainRecipe, documents, tokenizer, seed: int) -> dict:
    """Training/validation examples from documents, through cached datasets.map calls (word vectors have no
    validation: their examples are the training split's)."""
    objective, build = recipe.objective, EXAMPLES[recipe.objective.type]
    examples = {}
    for split, dataset in documents.items():
        if split != "train" and objective.head == "AutoModel":
            continue
        blocks = build(objective, dataset, split, tokenizer, num_proc(recipe.data), seed)
        if objective.head == "AutoModel" and not isinstance(blocks, RowsInMemory):
            blocks = RowsInMemory.from_dataset(blocks)  # word vectors train from memory (see RowsInMemory)
        limit = recipe.data.max_train_samples if split == "train" else recipe.data.max_eval_samples
        if limit is not None and limit < len(blocks):
            blocks = blocks.head(limit) if isinstance(blocks, RowsInMemory) else blocks.select(range(limit))
        if len(blocks) == 0:
            raise UserError(f"data: the {split} split yields no examples (corpus shorter than one block?)")
        examples[split] = blocks
    return examples


def _streamed_examples(recipe: PretrainRecipe, documents, tokenizer, args) -> dict:
    """The examples of streamed documents: the training split a `ResumableStream` whose every pass builds its
    examples lazily and shuffles them in windows of `data.shuffle_buffer` (anew each pass); the validation
    split's first `data.max_eval_samples` examples (all when unset) read into memory."""
    objective, build, data = recipe.objective, EXAMPLES[recipe.objective.type], recipe.data

    def examples(split: str):
        return build(objective, documents[split], split, tokenizer, None, args.seed)

    def training_pass(number: int):
        blocks = examples("train")
        if data.max_train_samples is not None:
            blocks = blocks.take(data.max_train_samples)
        return blocks.map(
            shuffle_window,
            batched=True,
            batch_size=data.shuffle_buffer,
            with_indices=True,
            fn_kwargs={"seed": [args.seed, number]},
        )

    # the first example, read now: a corpus that yields none fails before the output directory is touched
    if next(iter(examples("train")), None) is None:
        raise UserError("data: the train split yields no examples (corpus shorter than one block?)")
    # accelerate reads at most a few batches of every process ahead of the one being trained on
    remember = 4 * args.world_size + 16
    streamed = {"train": ResumableStream(training_pass, args.train_batch_size, remember)}
    if "validation" in documents:
        held_out = examples("validation")
        if data.max_eval_samples is not None:
            held_out = held_out.take(data.max_eval_samples)
        streamed["validation"] = Dataset.from_list(list(held_out))
        if len(streamed["validation"]) == 0:
            raise UserError("data: the validation split yields no examples (corpus shorter than one block?)")
    return streamed


def _map(dataset, function, *, workers, desc: str, **kwargs):
    """`dataset.map(function, **kwargs)`: cached, with `workers` processes and a progress bar for a Dataset; lazy
    for a stream (an IterableDataset), where it runs as the Trainer reads."""
    if isinstance(dataset, IterableDataset):
        return dataset.map(function, **kwargs)
    return dataset.map(function, num_proc=workers, desc=desc, **kwargs)


def _causal_lm_blocks(objective, dataset, split: str, tokenizer, workers, seed: int):
    tokens = _map(
        dataset,
        _tokenize_text,
        batched=True,
        fn_kwargs={"tokenizer": tokenizer},
        remove_columns=["text"],
        workers=workers,
        desc=f"tokenizing {split}",
    )
    return _map(
        tokens,
        pack_for_causal_lm,
        batched=True,
        batch_size=1000,
        remove_columns=["input_ids"],
        fn_kwargs={
            "block_size": objective.block_size,
            "eos_token_id": tokenizer.eos_token_id,
            "reset_position_ids": objective.document_attention,
        },
        workers=workers,
        desc=f"packing {split} into blocks of {objective.block_size}",
    )


def _masked_lm_instances(objective, dataset, split: str, tokenizer, workers, seed: int):
    if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None or tokenizer.mask_token_id is None:
        raise UserError("tokenizer: BERT pretraining needs [CLS], [SEP] and [MASK] tokens (train: wordpiece)")
    sentences = _map(
        dataset,
        tokenize_sentences,
        batched=True,
        remove_columns=["text"],
        fn_kwargs={
            "tokenizer": tokenizer,
            "split_lines": objective.split_sentences,
            "drop_pattern": objective.drop_pattern,
        },
        workers=workers,
        desc=f"splitting and tokenizing {split} sentences",
    )
    # One map batch of documents draws its random B segments from itself: make it large (a stream's batches
    # are the same 1000 documents, so streaming pairs them as the cached path does).
    instances = _map(
        sentences,
        nsp_instances_map,
        batched=True,
        batch_size=1000,
        with_indices=True,
        remove_columns=["sentences"],
        fn_kwargs={
            "cls_token_id": tokenizer.cls_token_id,
            "sep_token_id": tokenizer.sep_token_id,
            "max_seq_length": objective.max_seq_length,
            "short_seq_prob": objective.short_seq_prob,
            # more pairings of the training corpus are more training data; the held-out split is built once
            # (repeating it only makes every evaluation longer)
            "dupe_factor": objective.dupe_factor if split == "train" else 1,
            "seed": seed,
        },
        workers=None,
        desc=f"building {split} MLM+NSP instances",
    )
    return instances.remove_columns("next_sentence_label") if objective.type == "mlm" else instances


def _sentences(dataset, split: str, tokenizer, workers):
    """Each line a sentence of word ids; unknown words and special tokens dropped (word2vec drops them)."""
    return dataset.map(
        sentence_ids,
        batched=True,
        remove_columns=["text"],
        fn_kwargs={"tokenizer": tokenizer, "drop_ids": tokenizer.all_special_ids},
        num_proc=workers,
        desc=f"splitting {split} into sentences of words",
    )


def _word_vector_blocks(objective, dataset, split: str, tokenizer, workers, seed: int):
    sentences = _sentences(dataset, split, tokenizer, workers)
    blocks = sentences.map(
        word_blocks,
        batched=True,
        batch_size=1000,
        remove_columns=["input_ids"],
        fn_kwargs={"block_size": objective.block_size},
        desc=f"packing {split} into blocks of {objective.block_size} words",
    )
    return blocks


def _cooccurrence_entries(objective, dataset, split: str, tokenizer, workers, seed: int):
    sentences = _sentences(dataset, split, tokenizer, workers)
    rows, columns, counts = cooccurrences(
        sentences,
        len(tokenizer),
        window=objective.window,
        symmetric=objective.symmetric,
        distance_weighting=objective.distance_weighting,
    )
    return cooccurrence_examples(rows, columns, counts, objective.entries_per_example, seed)


# How each objective makes examples of a split of documents.
EXAMPLES = {
    "causal_lm": _causal_lm_blocks,
    "mlm": _masked_lm_instances,
    "mlm_nsp": _masked_lm_instances,
    "word_vectors": _word_vector_blocks,
    "cooccurrence": _cooccurrence_entries,
}


def _tokenize_text(batch: dict, tokenizer) -> dict:
    # whole documents, longer than the model's context on purpose: packing cuts them into blocks next
    return {"input_ids": tokenizer(batch["text"], add_special_tokens=False, verbose=False)["input_ids"]}


def _collator(recipe: PretrainRecipe, tokenizer):
    if recipe.objective.type == "word_vectors":
        return pad_blocks  # blocks of words end where a map batch ends: pad to the longest of a batch
    if recipe.objective.type in ("causal_lm", "cooccurrence"):
        return default_data_collator  # packed blocks are equally long and already carry labels
    return DataCollatorForPreTraining(
        tokenizer=tokenizer,
        mlm_probability=recipe.objective.mlm_probability,
        whole_word_mask=recipe.objective.whole_word_mask,
        pack_to=recipe.objective.max_seq_length if recipe.objective.pack_sequences else None,
    )


def _reduce_masked_lm_logits(logits, labels):
    """Per batch, keep what the metrics need instead of (batch, seq, vocab) logits: the predicted token and
    its cross-entropy at each position, and the NSP logits."""
    prediction_logits = logits[0] if isinstance(logits, tuple) else logits
    mlm_labels = labels[0] if isinstance(labels, tuple) else labels
    token_loss = torch.nn.functional.cross_entropy(
        prediction_logits.float().transpose(1, 2), mlm_labels, ignore_index=-100, reduction="none"
    )
    reduced = (prediction_logits.argmax(-1), token_loss)
    return reduced + (logits[1],) if isinstance(logits, tuple) and len(logits) > 1 else reduced


def _masked_lm_metrics(evaluation) -> dict:
    predictions, token_loss, *nsp = evaluation.predictions
    labels = evaluation.label_ids
    mlm_labels, nsp_labels = (labels[0], labels[1]) if isinstance(labels, tuple) else (labels, None)
    scored = mlm_labels != -100
    metrics = {
        "mlm_loss": float(token_loss[scored].mean()),
        "mlm_accuracy": float((predictions[scored] == mlm_labels[scored]).mean()),
    }
    metrics["mlm_perplexity"] = perplexity(metrics["mlm_loss"])
    if nsp and nsp_labels is not None:
        nsp_logits = torch.from_numpy(nsp[0]).float()
        targets = torch.from_numpy(nsp_labels).long()
        metrics["nsp_loss"] = float(torch.nn.functional.cross_entropy(nsp_logits, targets))
        metrics["nsp_accuracy"] = float((nsp_logits.argmax(-1) == targets).float().mean())
    return metrics


def _final_evaluation(trainer: RecipeTrainer) -> dict:
    """The final model's eval metrics: those the Trainer logged at the last step when it evaluated there (the
    weights are the ones it evaluated unless load_best_model_at_end swapped them), else a new evaluation."""
    state = trainer.state
    last = next((entry for entry in reversed(state.log_history) if "eval_loss" in entry), None)
    if last is not None and last["step"] == state.global_step and not trainer.args.load_best_model_at_end:
        return {key: value for key, value in last.items() if key.startswith("eval_") or key == "epoch"}
    return trainer.evaluate()


def _samples(model, tokenizer, recipe: PretrainRecipe) -> str:
    """`samples.count` generations from `samples.prompt` (what `hf-recipes generate` does)."""
    spec = recipe.samples
    texts = sample_texts(
        model,
        tokenizer,
        spec.prompt,
        count=spec.count,
        max_new_tokens=spec.max_new_tokens,
        temperature=spec.temperature,
        top_k=spec.top_k,
    )
    rule = "\n" + "-" * 80 + "\n"
    return rule.join(texts) + "\n"
