"""Where a model and its tokenizer come from: a checkpoint (a local folder or a Hub id, by one rule), or a
recipe's `model` + `tokenizer` sections (a model type at a named size, a tokenizer trained on the data).

Every job that reads a model goes through here: fine-tuning (`tokenizer_and_config`, `model_for_task`),
evaluation, prompting, generation, the attention pictures; pretraining builds its config here too. A checkpoint is a folder written by `save_pretrained` (one of our output
directories) or a Hub id (`bert-base-uncased`, `gpt2`, `user/name`, with network). Anything wrong with it is
one `UserError` line naming the checkpoint and what is wrong: a folder that does not exist, one without a
config.json, weights that cannot be read (a truncated model.safetensors), a model without the head a task
needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import transformers
from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError
from transformers import AutoConfig, AutoTokenizer, PreTrainedTokenizerBase
from transformers.utils import logging

from .config.finetune import SCRATCH
from .data.tokenization import special_token_ids, train_tokenizer
from .data.tokenization_seq2seq import HfrSeq2SeqTokenizer
from .errors import UserError
from .runs import WEIGHT_FILES

logger = logging.get_logger(__name__)

# Output directories of our jobs live here (the recipes' default output_dir): a name below it is a local path
# even before it exists, never a Hub id to try (which takes ~30 s of retries to fail offline).
OUTPUT_ROOT = "outputs"
RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"
# What a folder holding a tokenizer has at least one of (fast tokenizers, and the slow ones' vocabularies).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "tokenizer.model",
    "sentencepiece.bpe.model",
)


def is_local(name: str) -> bool:
    """A folder rather than a Hub id: it exists, cannot be a Hub id (`./x`, `/x`, `~/x`, `a/b/c`), or starts at
    an existing folder or at our output root (`outputs/sst2`, before it is made)."""
    first = name.split("/", 1)[0]
    return (
        Path(name).expanduser().exists()
        or name.startswith((".", "/", "~"))
        or name.count("/") > 1
        or ("/" in name and (first == OUTPUT_ROOT or Path(first).is_dir()))
    )


def check_checkpoint(name: str, what: str = "model") -> None:
    """A local checkpoint must be a folder with a config.json; a Hub id is checked when it is loaded
    (`scratch:TYPE/SIZE` is no checkpoint: the fine-tuning recipe builds that model)."""
    if name.startswith(SCRATCH) or not is_local(name):
        return
    path = Path(name).expanduser()
    if not path.is_dir():
        message = f"{what}: {name} is not a directory"
        stem = path.name
        if (RECIPES_DIR / "pretrain" / f"{stem}.yaml").is_file():
            message += f"; pretrain it first (make pretrain RECIPE={stem} DATA_DIR=...)"
        verb = "fine-tune" if what == "model.name_or_path" else "give"
        raise UserError(
            f"{message}, or {verb} another checkpoint: --model DIR or a Hub id (e.g. bert-base-uncased)"
        )
    if not (path / "config.json").is_file():
        raise UserError(
            f"{what}: {name} is not a model directory (no config.json; save_pretrained writes one)"
        )


def load_tokenizer(name: str | Path, *, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The tokenizer of a checkpoint or of a folder that only holds a tokenizer."""
    name = str(name)
    if is_local(name) and not Path(name).expanduser().is_dir():
        raise UserError(
            f"tokenizer directory {name} does not exist: give a folder written by save_pretrained or a Hub id"
        )
    path = Path(name).expanduser()
    if path.is_dir() and not any((path / file).is_file() for file in TOKENIZER_FILES):
        raise UserError(
            f"cannot load tokenizer from {name!r}: it has none of {', '.join(TOKENIZER_FILES[:3])}, ..."
        )
    if path.is_dir():
        # Our two-vocabulary tokenizer: its class is known here, no remote code needed (elsewhere,
        # AutoTokenizer.from_pretrained(path, trust_remote_code=True) loads it from the file saved beside it).
        config = path / "tokenizer_config.json"
        if config.is_file() and _json(config).get("tokenizer_class") == "HfrSeq2SeqTokenizer":
            return HfrSeq2SeqTokenizer.from_pretrained(str(path))
    try:
        return AutoTokenizer.from_pretrained(
            str(path) if path.is_dir() else name, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as error:
        raise UserError(
            f"cannot load tokenizer from {name!r} (a folder written by save_pretrained or a Hub id): "
            f"{first_line(error)}"
        ) from None


def load_config(name: str, *, what: str = "model", trust_remote_code: bool = False):
    check_checkpoint(name, what)
    try:
        return AutoConfig.from_pretrained(_path_or_id(name), trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:  # not a checkpoint, not on the Hub, no network, unknown model_type
        raise UserError(f"{what}: cannot load {name!r}: {first_line(error)}") from None


def load_model(auto_class: str | type, name: str, *, what: str = "model", **kwargs: Any):
    """`auto_class.from_pretrained(name, **kwargs)`; a checkpoint that cannot give that class (no such head,
    weights unreadable or of another shape) is one UserError line."""
    auto = getattr(transformers, auto_class) if isinstance(auto_class, str) else auto_class
    check_checkpoint(name, what)
    try:
        return auto.from_pretrained(_path_or_id(name), **kwargs)
    except Exception as error:  # noqa: BLE001  (translated below, or re-raised)
        raise _load_error(error, auto.__name__, name, what) from None


def _load_error(error: Exception, auto_name: str, name: str, what: str) -> Exception:
    message = str(error)
    if "Unrecognized configuration class" in message:
        config = (
            _json(Path(name).expanduser() / "config.json").get("model_type", "this")
            if is_local(name)
            else "this"
        )
        return UserError(f"{what}: {name} is a {config} model, which has no {auto_name} head")
    if "ignore_mismatched_sizes" in message:
        return UserError(
            f"{what}: {name} has weights of another shape than this task needs (see the load report above; e.g. "
            "a head fine-tuned for other labels): set model.ignore_mismatched_sizes=true to start those from "
            "scratch"
        )
    if type(error).__name__ == "SafetensorError" or "deserializ" in message.lower():
        folder = Path(name).expanduser()
        files = [file for file in WEIGHT_FILES if (folder / file).is_file()] if is_local(name) else []
        weights = f"{files[0]} in {name}" if files else f"the weights of {name}"
        return UserError(
            f"{what}: {weights} cannot be read ({first_line(error)}): the file is damaged or was cut short; save "
            "or download the checkpoint again"
        )
    if isinstance(error, (OSError, ValueError)):
        return UserError(f"{what}: cannot load {name!r} as {auto_name}: {first_line(error)}")
    return error


def _path_or_id(name: str) -> str:
    return str(Path(name).expanduser()) if is_local(name) else name


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# --- a model built from a recipe's `model` and `tokenizer` sections -----------------------------------------


def tokenizer_from_spec(spec, texts: Callable[[], Iterable[str]]):
    """The tokenizer a recipe's `tokenizer` section (`TokenizerSpec`) describes: loaded (`name_or_path`) or
    trained (`train`) on the strings `texts()` yields (called only when training)."""
    if spec.name_or_path is not None:
        return load_tokenizer(spec.name_or_path)
    return train_tokenizer(
        texts(),
        spec.train,
        spec.vocab_size,
        lowercase=spec.lowercase,
        strip_accents=spec.strip_accents,
        min_frequency=spec.min_frequency,
        special_tokens=spec.special_tokens or None,
        morphemes=spec.morphemes,
    )


def build_model_config(family, size: str | None, fields: dict[str, Any], tokenizer, **fixed: Any):
    """`family`'s config from its `size` preset, the recipe's `fields` on top, then the tokenizer's special token
    ids and vocabulary size (and `fixed`, e.g. a second vocabulary), which the recipe may not contradict."""
    fixed = {"vocab_size": len(tokenizer), **fixed}
    for key, value in fixed.items():
        if key in fields and fields[key] != value:
            raise UserError(f"model.config.{key}: {fields[key]} != the tokenizer's {value}; leave it out")
    names = set(family.config_class.__dataclass_fields__)
    specials = {name: token_id for name, token_id in special_token_ids(tokenizer).items() if name in names}
    values = {**family.sizes.get(size, {}), **fields, **specials, **fixed}
    try:
        config = family.config_class(**values)
    except (StrictDataclassClassValidationError, StrictDataclassFieldValidationError, ValueError) as error:
        raise UserError(f"model.config: {' '.join(str(error).split())}") from None
    if getattr(tokenizer, "target_vocab_size", None) is not None and getattr(
        config, "share_embeddings", False
    ):
        # equal sizes would pass the config's own check, yet id i is a different token on each side
        raise UserError(
            "model.config.share_embeddings: separate vocabularies cannot share one embedding matrix; set "
            "model.config.share_embeddings: false"
        )
    return config


# --- the model of a fine-tuning recipe -----------------------------------------------------------------------


def tokenizer_and_config(recipe, task, train, source: str, resume_dir: Path | None = None):
    """The tokenizer and config of a fine-tuning recipe (`FinetuneRecipe`): a checkpoint's, or for a model built
    from `model.type` a tokenizer trained on the task's training split (the one saved in `resume_dir` when an
    interrupted run resumes: resuming must not train another) and the family's config for it."""
    spec = recipe.model
    if spec.type is None:
        return checkpoint_for_task(spec, source)
    if resume_dir is not None and (resume_dir / "tokenizer_config.json").is_file():
        tokenizer = load_tokenizer(str(resume_dir.resolve()))
    else:
        make = lambda texts: tokenizer_from_spec(recipe.tokenizer, texts)  # noqa: E731
        tokenizer = task.train_tokenizer(make, train, separate=recipe.tokenizer.separate_vocabularies)
    from .models import REGISTRY

    family = REGISTRY[spec.type]
    fixed = task.config_fields(tokenizer, set(family.config_class.__dataclass_fields__))
    return tokenizer, build_model_config(family, spec.size, spec.config, tokenizer, **fixed)


# --- a checkpoint for a task (fine-tuning, evaluation) -------------------------------------------------------

# Config fields the task sets from its labels; model.config may not set them too.
TASK_CONFIG_FIELDS = ("num_labels", "id2label", "label2id", "problem_type")


def checkpoint_for_task(spec, source: str):
    """The tokenizer (with a pad token) and config (with `model.config` applied, checked against its config
    class) of the checkpoint a fine-tuning recipe's `model` section names (`FinetuneModelSpec`)."""
    from .config import check_fields

    name = spec.name_or_path
    check_checkpoint(name, "model.name_or_path")
    reserved = [key for key in spec.config if key in TASK_CONFIG_FIELDS]
    if reserved:
        raise UserError(
            f"{source}: model.config.{reserved[0]}: set by the task from its labels; leave it out"
        )
    config = load_config(name, what="model.name_or_path", trust_remote_code=spec.trust_remote_code)
    config.update(check_fields(type(config), spec.config, source, "model.config"))
    tokenizer = load_tokenizer(name, trust_remote_code=spec.trust_remote_code)
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


def model_for_task(spec, task, config):
    """The model a fine-tuning recipe's `model` section asks for, with the head of `task`: the checkpoint's
    weights (`init: pretrained`), or random weights of its architecture (`init: scratch`, or `type`)."""
    if spec.type is None and spec.init == "pretrained":
        return load_model(
            task.auto_model,
            spec.name_or_path,
            what="model.name_or_path",
            config=config,
            trust_remote_code=spec.trust_remote_code,
            ignore_mismatched_sizes=spec.ignore_mismatched_sizes,
        )
    try:
        return getattr(transformers, task.auto_model).from_config(
            config, trust_remote_code=spec.trust_remote_code
        )
    except ValueError as error:
        if "Unrecognized configuration class" not in str(error):
            raise
        raise UserError(
            f"model.name_or_path: {spec.name_or_path} is a {config.model_type} model, which has no "
            f"{task.auto_model} head (task {task.name} needs one)"
        ) from None


def reinitialize(model, names: list[str]) -> list[str]:
    """Start the modules of `model` named by `names` (a module's full name, or the end of it after a dot) from
    the model's own random initialisation again; returns the full names. One error line for a name that matches
    no module."""
    modules = dict(model.named_modules())
    done = []
    for name in names:
        found = [full for full in modules if full == name or full.endswith(f".{name}")]
        if not found:
            top = ", ".join(sorted({full.split(".")[0] for full in modules if full})[:12])
            raise UserError(
                f"model.reinitialize: no module of the model is named {name!r} (its modules: {top}, ...)"
            )
        for full in found:
            module = modules[full]
            for tensor in [
                *module.parameters(),
                *module.buffers(),
            ]:  # loaded weights are marked as initialised
                tensor.__dict__.pop("_is_hf_initialized", None)
            for submodule in module.modules():
                submodule.__dict__.pop("_is_hf_initialized", None)
                model._init_weights(submodule)
            done.append(full)
    return done


def context_length(config, tokenizer) -> int | None:
    """The longest input a model takes: its position embeddings, or the tokenizer's model_max_length when that
    is smaller (unset, it is a huge number); None for a model without either limit (a recurrent one)."""
    limits = [getattr(config, "max_position_embeddings", None), tokenizer.model_max_length]
    return min((value for value in limits if isinstance(value, int) and 0 < value < 1_000_000), default=None)


def input_length(requested: int | None, task, config, tokenizer, name: str) -> int:
    """data.max_length, or the task's default capped at what the model can take (`context_length`)."""
    limit = context_length(config, tokenizer)
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


__all__ = [
    "OUTPUT_ROOT",
    "TASK_CONFIG_FIELDS",
    "build_model_config",
    "check_checkpoint",
    "checkpoint_for_task",
    "context_length",
    "first_line",
    "input_length",
    "is_local",
    "load_config",
    "load_model",
    "load_tokenizer",
    "model_for_task",
    "tokenizer_and_config",
    "tokenizer_from_spec",
]
