"""LoRA and the other peft methods on a fine-tuning run: the recipe's `peft:` section (config.PeftSpec).

    PeftSpec ─▶ peft_config: the method's peft config class (checked when the recipe is read, before any file)
    task model (checkpoint + the task's new head) ─▶ with_adapter: peft.get_peft_model with the task's TaskType,
        the adapter on every linear layer but the head and the output embeddings, the head trained whole
    trained model ─▶ save_final_model: the adapter alone in the output directory (what `hf-recipes push`
        uploads), or with `merge: true` the merged model there and the adapter alone in adapter/

peft's task models (PeftModelForSequenceClassification, ...ForTokenClassification, ...ForQuestionAnswering)
train and save the task's head whole (`modules_to_save`: classifier, score, qa_outputs, the names our families
and transformers' use), so an adapter directory holds everything the base checkpoint lacks. Loading one:
`AutoPeftModelFor<head>.from_pretrained(DIR, num_labels=N)`, or transformers'
`AutoModelFor<head>.from_pretrained(DIR, num_labels=N)` with peft installed (the base checkpoint is the one
named in adapter_config.json; the head needs the task's number of labels, which the base config does not have).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from pathlib import Path
from typing import Any

import torch
import transformers

from .checkpoints import first_line
from .errors import UserError

logger = transformers.logging.get_logger(__name__)

ADAPTER_DIR = "adapter"  # with merge: true, the adapter alone, beside the merged model
ADAPTER_CONFIG = "adapter_config.json"

# The task's head (tasks.base: Task.auto_model) → peft's TaskType; other heads get peft's plain PeftModel.
TASK_TYPES = {
    "AutoModelForSequenceClassification": "SEQ_CLS",
    "AutoModelForTokenClassification": "TOKEN_CLS",
    "AutoModelForQuestionAnswering": "QUESTION_ANS",
    "AutoModelForSeq2SeqLM": "SEQ_2_SEQ_LM",
    "AutoModelForCausalLM": "CAUSAL_LM",
}
# The heads peft's task models train and save whole (their modules_to_save); never adapted.
HEADS = ("classifier", "score", "qa_outputs")
# PeftSpec's knobs → their name in the method's config class, first match ({method}: e.g. vera_dropout).
KNOBS = {
    "r": ("r",),
    "alpha": ("lora_alpha", "alpha"),
    "dropout": ("lora_dropout", "rank_dropout", "{method}_dropout"),
}


def peft_config(spec, *, task_type: str | None = None, target_modules: Any = None, source: str = "recipe"):
    """The peft config of `spec` (a PeftSpec): its method's config class with the knobs under that class's
    names, `spec.config` on top. `target_modules` (the model's default) applies where the spec names none.
    Anything peft refuses is one UserError line naming the `peft.` key."""
    _require_peft(source)
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    method = spec.method.upper().replace("-", "_")
    if method not in PEFT_TYPE_TO_CONFIG_MAPPING:
        methods = sorted(name.lower() for name in PEFT_TYPE_TO_CONFIG_MAPPING)
        hint = difflib.get_close_matches(spec.method.lower(), methods, n=1)
        allowed = f"did you mean {hint[0]!r}?" if hint else f"peft has {', '.join(methods)}"
        raise UserError(f"{source}: peft.method: unknown method {spec.method!r}; {allowed}")
    config_class = PEFT_TYPE_TO_CONFIG_MAPPING[method]
    fields = {f.name for f in dataclasses.fields(config_class) if f.init}
    for key in spec.config:
        if key not in fields or key in ("task_type", "peft_type"):
            hint = difflib.get_close_matches(str(key), fields, n=1)
            allowed = (
                f"did you mean {hint[0]!r}?" if hint else f"not a field of peft's {config_class.__name__}"
            )
            if key in ("task_type", "peft_type"):
                allowed = "set from the task and peft.method"
            raise UserError(f"{source}: peft.config.{key}: {allowed}")
    values = dict(spec.config)
    for knob, names in KNOBS.items():
        value = getattr(spec, knob)
        if value is None:
            continue
        name = next(
            (n.format(method=method.lower()) for n in names if n.format(method=method.lower()) in fields),
            None,
        )
        if name is None:
            raise UserError(f"{source}: peft.{knob}: {spec.method} has no such setting; leave it out")
        values[name] = value
    for key, value in (("target_modules", spec.target_modules), ("modules_to_save", spec.modules_to_save)):
        if value is not None and key not in fields:
            raise UserError(f"{source}: peft.{key}: {spec.method} takes no {key}; leave it out")
    if spec.target_modules is not None:
        values["target_modules"] = spec.target_modules
    elif target_modules is not None and "target_modules" in fields and "target_modules" not in spec.config:
        values["target_modules"] = target_modules
    if spec.modules_to_save is not None:
        values["modules_to_save"] = list(spec.modules_to_save)
    try:
        return config_class(task_type=task_type, **values)
    except (ValueError, TypeError) as error:
        raise UserError(f"{source}: peft: {first_line(error)}") from None


def with_adapter(model: transformers.PreTrainedModel, spec, auto_model: str):
    """`model` (the task model, head included) under peft: only the adapter and the head train."""
    import peft

    given = spec.target_modules is not None or "target_modules" in spec.config
    targets = None if given else default_target_modules(model, spec.modules_to_save)
    config = peft_config(spec, task_type=TASK_TYPES.get(auto_model), target_modules=targets)
    try:
        wrapped = peft.get_peft_model(model, config)
    except (ValueError, TypeError, KeyError) as error:
        if given and "target" in str(error).lower():
            linear = default_target_modules(model, spec.modules_to_save)
            raise UserError(
                f"peft.target_modules: {spec.target_modules or spec.config['target_modules']!r} matches no module of {type(model).__name__} that "
                f"{spec.method} can adapt (its linear layers: {', '.join(linear[:4])}, ...)"
            ) from None
        raise UserError(f"peft: {first_line(error)}") from None
    trainable, total = wrapped.get_nb_trainable_parameters()
    logger.info(f"peft {spec.method}: {trainable:,} of {total:,} parameters train ({trainable / total:.2%})")
    return wrapped


def default_target_modules(model: torch.nn.Module, keep_whole: list[str] | None = None) -> list[str]:
    """Every linear layer of `model` but its output embeddings and the modules trained whole (the task's head:
    HEADS, and `keep_whole`), by full name: QLoRA's `all-linear` without the head, for any task."""
    from transformers.pytorch_utils import Conv1D

    whole = [*HEADS, *(keep_whole or ())]
    inside_whole = re.compile(r"(^|\.)(" + "|".join(map(re.escape, whole)) + r")(\.|$)")
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names = [
        name
        for name, module in model.named_modules()
        if isinstance(module, (torch.nn.Linear, Conv1D))
        and module is not output
        and not inside_whole.search(name)
    ]
    if not names:
        raise UserError(
            f"peft.target_modules: {type(model).__name__} has no linear layer outside its head to adapt (a "
            "recurrent layer is one fused module); name the modules to adapt, or leave peft out"
        )
    return sorted(names)


def is_adapter(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


def save_final_model(trainer: transformers.Trainer, merge: bool) -> None:
    """The trained model into the output directory: as it is (under peft, the adapter alone), or with `merge`
    the adapter alone in adapter/ and the adapter merged into the base weights in the output directory,
    `trainer.model` then the merged model (what the evaluation after training scores)."""
    if not (merge and is_adapter(trainer.model)):
        trainer.save_model()
        return
    trainer.save_model(str(Path(trainer.args.output_dir) / ADAPTER_DIR))
    trainer.model = trainer.model.merge_and_unload()
    trainer.save_model()


def read_adapter_config(root: Path) -> dict | None:
    """adapter_config.json of a directory that holds a peft adapter alone (no config.json of a whole model)."""
    if (root / "config.json").is_file():
        return None
    try:
        adapter = json.loads((root / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return adapter if isinstance(adapter, dict) and adapter.get("peft_type") else None


def load_adapter(model: transformers.PreTrainedModel, directory: Path):
    """`model` (the base checkpoint with the task's head) with the adapter saved in `directory` on it."""
    _require_peft(str(directory))
    import peft

    return peft.PeftModel.from_pretrained(model, directory)


def _require_peft(source: str) -> None:
    try:
        import peft  # noqa: F401
    except ImportError:
        raise UserError(
            f'{source}: peft: the peft package is not installed; pip install "hf-recipes[peft]"'
        ) from None


__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_DIR",
    "default_target_modules",
    "is_adapter",
    "load_adapter",
    "read_adapter_config",
    "peft_config",
    "save_final_model",
    "with_adapter",
]
