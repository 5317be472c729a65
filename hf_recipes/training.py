"""Training on transformers' `Trainer`, with the guarantees a run directory needs (see hf_recipes.runs):

- **checkpoints cannot be half-written**: each is written under `<output_dir>/.partial/` and renamed into place
  once whole, and only if its weights are finite;
- **a stop signal saves**: SIGTERM (what preemption sends) or SIGINT (Ctrl-C) ends the current optimizer step,
  saves a checkpoint there and raises `Interrupted`; running the same command again resumes exactly there.
  A second Ctrl-C quits at once;
- **a non-finite loss stops the run** at the step where it appears, before anything is saved from it, with
  one line naming the step (`NonFiniteLoss`); the checkpoints already written are the last good ones;
- **nothing trains twice**: resuming from a checkpoint that already reached `max_steps` (a kill after the last
  save) loads it instead of training one step more, as transformers' loop would;
- evaluation and prediction read the dataset in order (predictions pair with their examples), and an
  evaluation leaves the random state as it found it: how often a run evaluates does not change its training;
- **a streamed corpus resumes where it stopped** (`ResumableStream`, hf_recipes.data.streaming): each
  checkpoint holds the stream's position after the last batch trained on, and a resumed run starts reading
  there instead of reading and dropping every batch before it.

Under several processes the per-step flags (stop requested, loss not finite) are all-reduced, so every
process stops at the same step and none waits for the others forever.

`training_arguments` builds (Seq2Seq)TrainingArguments from a recipe's `training` section and checks the
values that transformers would accept and then misuse (a negative max_steps starts a run of the epoch count).
"""

from __future__ import annotations

import importlib.util
import math
import os
import random
import shutil
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from torch.utils.data import SequentialSampler
from tqdm.auto import tqdm
from transformers import HfArgumentParser, TrainerCallback, TrainingArguments
from transformers.trainer_callback import TrainerState
from transformers.trainer_utils import TrainOutput, has_length, rotate_checkpoints

from .config import check_training_values
from .data.streaming import ResumableStream
from .errors import Interrupted, NonFiniteLoss, UserError
from .runs import CHECKPOINT_PREFIX, STAGING

# --- arguments ------------------------------------------------------------------------------------------------


def default_report_to() -> str:
    """Where a run logs unless its recipe says (`training.report_to`): TensorBoard, into <output_dir>/runs,
    when the tensorboard package is installed (the `tensorboard` extra), else nowhere but log_history.json."""
    return "tensorboard" if importlib.util.find_spec("tensorboard") is not None else "none"


def check_model_switches(args: TrainingArguments, model_class: type) -> None:
    """One UserError line for a `training` switch the model cannot take, before the run starts (transformers
    would raise deep inside Trainer): gradient checkpointing needs layers that recompute their activations
    (the Transformer families have them; a recurrent layer runs its steps inside one cuDNN/ATen call)."""
    if args.gradient_checkpointing and not getattr(model_class, "supports_gradient_checkpointing", False):
        raise UserError(
            f"training.gradient_checkpointing: {model_class.__name__} does not support it (the BERT, GPT and "
            "Transformer families do); leave it out"
        )


def training_arguments(
    training: dict[str, Any],
    output_dir: Path,
    *,
    arguments_class: type[TrainingArguments] = TrainingArguments,
    **defaults: Any,
) -> TrainingArguments:
    """`arguments_class` (TrainingArguments or a subclass) from the recipe's `training` section over the job's
    `defaults`, its numbers checked first (one UserError line naming the field)."""
    values = {**defaults, **training, "output_dir": str(output_dir)}
    check_training_values(values)
    try:
        (args,) = HfArgumentParser(arguments_class).parse_dict(values, allow_extra_keys=False)
    except (ValueError, TypeError) as error:
        raise UserError(f"training: {' '.join(str(error).split())}") from None
    except ImportError as error:  # e.g. a DeepSpeed launch without the deepspeed package
        raise UserError(
            f"training: a package the launch needs is missing ({' '.join(str(error).split())}); for DeepSpeed: "
            'pip install "hf-recipes[deepspeed]"'
        ) from None
    check_engine(args)
    return args


def check_engine(args: TrainingArguments) -> None:
    """One UserError line where `accelerate launch` was given an FSDP or DeepSpeed config that accelerate then
    ignores: on CPU ranks (ACCELERATE_USE_CPU=1, gloo) accelerate 1.x takes neither plugin (its state sets FSDP
    up for accelerator ranks only, DeepSpeed only without `cpu`) and runs plain DDP, which would train without
    the sharding the user asked for and without a word."""
    device = args.distributed_state.device if args.distributed_state is not None else args.device
    for variable, engine in (("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed")):
        if os.environ.get(variable, "false").lower() == "true" and device.type == "cpu":
            raise UserError(
                f"accelerate launch: the config asks for {engine}, but these ranks run on the CPU, where "
                f"accelerate ignores {engine} and would train plain DDP; {engine} needs GPUs (for several CPU "
                "processes use recipes/accelerate/cpu_2proc.yaml)"
            )


# --- an optimizer ---------------------------------------------------------------------------------------------


class SparseSGD(torch.optim.Optimizer):
    """Plain SGD (no momentum) as torch.optim.SGD computes it, p ← p − lr·g, faster on sparse gradients: their
    rows are scaled first and added with `index_add_`, where torch's `p.add_(g, alpha=-lr)` takes a slower path for a sparse
    `g` with alpha ≠ 1 (word2vec's step on a CPU: 0.9 ms of its 3.6 ms with torch's SGD, 0.5 ms with this;
    tests/models/test_word_vectors.py checks that both give the same weights). Weight decay
    is applied to dense gradients only (it is undefined for rows a step does not touch)."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for parameter in group["params"]:
                gradient = parameter.grad
                if gradient is None:
                    continue
                if gradient.is_sparse and gradient.sparse_dim() == 1:  # rows of a table (nn.Embedding's)
                    # index_add_'s own alpha takes a slower path on a CPU (torch 2.13): scale the rows first
                    parameter.index_add_(0, gradient._indices()[0], gradient._values() * -group["lr"])
                elif gradient.is_sparse:
                    parameter.add_(gradient, alpha=-group["lr"])
                else:
                    if group["weight_decay"]:
                        gradient = gradient.add(parameter, alpha=group["weight_decay"])
                    parameter.add_(gradient, alpha=-group["lr"])
        return loss


# --- callbacks ------------------------------------------------------------------------------------------------


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


class UnitsProgress(transformers.trainer_callback.ProgressCallback):
    """The training bar counted in the units a step trains on (words for word vectors, co-occurrence entries
    for GloVe) instead of steps: "1.2M/9.3M words [00:04, 290kwords/s]". Replaces Trainer's ProgressCallback
    (`trainer.remove_callback(ProgressCallback)` first)."""

    def __init__(self, unit: str, per_step: float):
        super().__init__()
        self.unit, self.per_step = unit, per_step

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.training_bar = tqdm(
                total=state.max_steps * self.per_step,
                initial=state.global_step * self.per_step,  # resumed: the words already trained on
                unit=f" {self.unit}",
                unit_scale=True,
                dynamic_ncols=True,
            )
        self.current_step = state.global_step

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.training_bar.update((state.global_step - self.current_step) * self.per_step)
            self.current_step = state.global_step


class StepSettingsOfThisAttempt(TrainerCallback):
    """Resuming restores the checkpoint's TrainerState, and with it the logging/eval/save step intervals of
    the first attempt (transformers computes them from the arguments, then overwrites them with the saved
    state, and only warns). RESUMABLE_CHANGES promises that a re-run with new intervals uses them: this
    recomputes them from this attempt's arguments, as the Trainer does for a fresh run."""

    def on_train_begin(self, args, state, control, **kwargs):
        state.compute_steps(args, state.max_steps)


class _StopChecks(TrainerCallback):
    """After every optimizer step: stop on a non-finite loss (before it is saved), or save and stop when a
    signal asked for it. The flags of all processes are combined so that they all stop at the same step."""

    def __init__(self, trainer: _SafeTraining):
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        trainer = self.trainer
        nonfinite, stop = _any_process(
            trainer._nonfinite_loss is not None, trainer._stop_signal is not None, args
        )
        if nonfinite:
            raise NonFiniteLoss(state.global_step, trainer._nonfinite_loss, args.output_dir)
        if stop:
            trainer._stop_signal = trainer._stop_signal or signal.SIGTERM  # another process received it
            control.should_save = True
            control.should_training_stop = True
        return control


def _any_process(nonfinite: bool, stop: bool, args) -> tuple[bool, bool]:
    if args.world_size <= 1 or not torch.distributed.is_initialized():
        return nonfinite, stop
    flags = torch.tensor([float(nonfinite), float(stop)], device=args.device)
    torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
    return bool(flags[0]), bool(flags[1])


# --- the trainers ---------------------------------------------------------------------------------------------


class _SafeTraining:
    """The guarantees of the module docstring, mixed into Trainer and Seq2SeqTrainer."""

    def __init__(self, *args, train_data_collator=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.train_data_collator = (
            train_data_collator  # training batches only (e.g. packed); else data_collator
        )
        self._nonfinite_loss: float | None = None
        self._stop_signal: int | None = None
        self._staging = False
        self._stream_resumed = False  # the training stream starts where the checkpoint stopped
        self._epoch_iterator, self._batches_read = None, 0  # batches trained on in this pass over the data
        self.add_callback(_StopChecks(self))

    # A non-finite loss is remembered here and acted on at the end of the optimizer step (_StopChecks), where
    # every process decides together.
    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self._nonfinite_loss is None and not bool(torch.isfinite(loss)):
            self._nonfinite_loss = float(loss)
        return loss

    def train(self, resume_from_checkpoint=None, **kwargs):
        if resume_from_checkpoint is not None and self._trained_out(resume_from_checkpoint):
            return self._load_trained_out(resume_from_checkpoint)
        self._nonfinite_loss, self._stop_signal = None, None
        if isinstance(self.train_dataset, ResumableStream):
            # ignore_data_skip: the user asks for the data from its start
            skip = resume_from_checkpoint is not None and not self.args.ignore_data_skip
            self._stream_resumed = self.train_dataset.resume(resume_from_checkpoint if skip else None)
        with _stop_signals(self):
            try:
                output = super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)
            except BaseException:
                self._close_progress_bars()  # so that the error is printed on a line of its own
                raise
        if self._stop_signal is not None:
            checkpoint = Path(self.args.output_dir) / f"{CHECKPOINT_PREFIX}{self.state.global_step}"
            raise Interrupted(self._stop_signal, self.state.global_step, checkpoint)
        return output

    def get_train_dataloader(self):
        if self.train_data_collator is None:
            return super().get_train_dataloader()
        evaluation, self.data_collator = self.data_collator, self.train_data_collator
        try:
            return super().get_train_dataloader()
        finally:
            self.data_collator = evaluation

    # A stream positioned at the checkpoint needs none of the batches before it skipped.
    def get_resumed_dataloader(self, dataloader, num_batches):
        return dataloader if self._stream_resumed else super().get_resumed_dataloader(dataloader, num_batches)

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        batches, num_items = super().get_batch_samples(epoch_iterator, num_batches, device)
        if epoch_iterator is not self._epoch_iterator:  # a new pass over the training data
            self._epoch_iterator, self._batches_read = epoch_iterator, 0
        self._batches_read += len(batches)
        return batches, num_items

    def _stream_examples_read(self) -> int:
        """Examples of the stream behind the batches trained on in this pass: with several processes each batch
        is a share of `world_size` batches of the stream (hf_recipes.data.streaming), unless split_batches
        cuts one batch into the shares."""
        shares = 1 if self.args.accelerator_config.split_batches else self.args.world_size
        return self._batches_read * self._train_batch_size * shares

    def _close_progress_bars(self) -> None:
        for callback in self.callback_handler.callbacks:
            for name in ("training_bar", "prediction_bar"):
                bar = getattr(callback, name, None)
                if bar is not None:
                    bar.close()
                    setattr(callback, name, None)

    def _trained_out(self, checkpoint: str) -> bool:
        """The checkpoint already reached the run's last step (a kill came after the last save)."""
        state = TrainerState.load_from_json(os.path.join(checkpoint, "trainer_state.json"))
        if self.args.max_steps > 0:
            return state.global_step >= self.args.max_steps
        same_schedule = state.num_train_epochs == self.args.num_train_epochs
        return same_schedule and 0 < state.max_steps <= state.global_step

    def _load_trained_out(self, checkpoint: str) -> TrainOutput:
        print(f"{checkpoint}: already at the last step; loading it instead of training", file=sys.stderr)
        self._load_from_checkpoint(checkpoint)
        self.state = TrainerState.load_from_json(os.path.join(checkpoint, "trainer_state.json"))
        losses = [entry["loss"] for entry in self.state.log_history if "loss" in entry]
        return TrainOutput(self.state.global_step, losses[-1] if losses else float("nan"), {})

    # Sparse gradients (the embedding tables of word2vec, FastText, GloVe) have no norm in torch: the norm is not
    # logged for them (computing it would sort every step's indices), and clipping them is refused.
    def _get_grad_norm(self, model, grad_norm=None):
        if grad_norm is None and _sparse_gradients(model):
            return None
        return super()._get_grad_norm(model, grad_norm)

    def _clip_grad_norm(self, model):
        if _sparse_gradients(model):
            raise UserError(
                "training.max_grad_norm: gradient clipping needs dense gradients; set training.max_grad_norm=0 "
                "(word2vec does not clip) or model.config.sparse=false"
            )
        return super()._clip_grad_norm(model)

    # transformers writes a checkpoint straight into <output_dir>/checkpoint-N; here it goes to
    # <output_dir>/.partial/checkpoint-N first and is renamed into place once whole.
    def _get_output_dir(self, trial):
        run_dir = super()._get_output_dir(trial)
        return os.path.join(run_dir, STAGING) if self._staging else run_dir

    def _save_checkpoint(self, model, trial):
        if _any_process(not _finite_weights(self.model), False, self.args)[0]:
            raise NonFiniteLoss(self.state.global_step, math.nan, self.args.output_dir, weights=True)
        run_dir = self._get_output_dir(trial)
        name = f"{CHECKPOINT_PREFIX}{self.state.global_step}"
        staged, final = os.path.join(run_dir, STAGING, name), os.path.join(run_dir, name)
        best_before = self.state.best_model_checkpoint
        self._staging = True
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging = False
        if self.state.best_model_checkpoint not in (None, best_before):  # this checkpoint is the new best
            self.state.best_model_checkpoint = final
        self.accelerator.wait_for_everyone()  # every process has written its part (sharded saves)
        if self.args.should_save:
            if os.path.isdir(staged) and isinstance(self.train_dataset, ResumableStream):
                self.train_dataset.save_position(staged, self._stream_examples_read())
            if os.path.isdir(staged):
                # the state names the checkpoint by its final path before the folder gets there
                self.state.save_to_json(os.path.join(staged, "trainer_state.json"))
                if os.path.isdir(final):  # saved again at the same step (e.g. after a resume)
                    shutil.rmtree(final)
                os.replace(staged, final)
            shutil.rmtree(os.path.join(run_dir, STAGING), ignore_errors=True)
            rotate_checkpoints(
                output_dir=run_dir,
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=True,
            )
        self.accelerator.wait_for_everyone()


def _sparse_gradients(model: torch.nn.Module) -> bool:
    return any(parameter.grad is not None and parameter.grad.is_sparse for parameter in model.parameters())


def _finite_weights(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(parameter).all()) for parameter in model.parameters())


class _EvaluationInOrder:
    """transformers 5 applies `train_sampling_strategy="group_by_length"` to evaluation as well
    (`Trainer._get_eval_sampler` returns a LengthGroupedSampler), so predictions come back in another order
    than the eval examples. Our tasks pair predictions with their examples (BLEU references, predictions.jsonl,
    SQuAD windows), so evaluation here always reads the dataset in order; training still groups by length."""

    def _get_eval_sampler(self, eval_dataset):
        if self.args.train_sampling_strategy != "group_by_length":
            return super()._get_eval_sampler(eval_dataset)
        if eval_dataset is None or not has_length(eval_dataset):
            return None
        # several processes: no sampler, accelerate shards in order and gather_for_metrics restores it
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None


class _EvaluationLeavesTheRandomState:
    """An evaluation during training draws from the global random generators (every DataLoader iterator takes
    a base seed from torch's, a masked-LM collator masks with it), so how often a run evaluates would change the
    dropout masks and the shuffles of its training, and two runs that differ only in `eval_steps` would train
    differently. Evaluation here runs on forked generators and leaves training's where it found them."""

    def evaluate(self, *args, **kwargs):
        with preserved_random_state():
            return super().evaluate(*args, **kwargs)


@contextmanager
def preserved_random_state():
    """Restore torch's (CPU and initialised CUDA devices), numpy's and Python's random state on exit."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


class RecipeTrainer(_SafeTraining, _EvaluationInOrder, _EvaluationLeavesTheRandomState, transformers.Trainer):
    """`Trainer` with the guarantees of hf_recipes.training."""


class RecipeSeq2SeqTrainer(
    _SafeTraining, _EvaluationInOrder, _EvaluationLeavesTheRandomState, transformers.Seq2SeqTrainer
):
    """`Seq2SeqTrainer` with the guarantees of hf_recipes.training."""


def trainer_for(task) -> type[transformers.Trainer]:
    """The trainer of a task: Seq2SeqTrainer (evaluation by generation) for a task whose model generates."""
    return RecipeSeq2SeqTrainer if task.generates else RecipeTrainer


# --- signals --------------------------------------------------------------------------------------------------


class _stop_signals:
    """While training: the first SIGTERM or SIGINT asks the trainer to save and stop after the current step; a
    second SIGINT quits at once (KeyboardInterrupt). Handlers are only installed from the main thread."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, trainer: _SafeTraining):
        self.trainer = trainer
        self.previous: dict[int, Any] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        return False

    def _handle(self, signum, frame):
        if self.trainer._stop_signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.trainer._stop_signal = signum
        if self.trainer.args.process_index == 0:
            print(
                f"\n{signal.Signals(signum).name}: saving a checkpoint after this step, then stopping"
                + (" (Ctrl-C again quits without saving)" if signum == signal.SIGINT else ""),
                file=sys.stderr,
            )


__all__ = [
    "RecipeSeq2SeqTrainer",
    "RecipeTrainer",
    "StepSettingsOfThisAttempt",
    "TrainTimeBudget",
    "trainer_for",
    "training_arguments",
]
