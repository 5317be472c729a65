"""What the training jobs share besides the run directory (hf_recipes.runs) and the Trainer (hf_recipes.training):
building a model config and its tokenizer from a recipe's `model` (type, size, config) and `tokenizer`
sections (pretraining, and fine-tuning a model built from a config), and perplexity."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError

from ..checkpoints import load_tokenizer
from ..data.tokenization import special_token_ids, train_tokenizer
from ..errors import UserError
from ..recipe import TokenizerSpec


def perplexity(loss: float) -> float:
    return math.exp(loss) if loss < 50 else float("inf")


# --- a model built from a config, and its tokenizer -----------------------------------------------------


def tokenizer_from_spec(spec: TokenizerSpec, texts: Callable[[], Iterable[str]]):
    """The tokenizer a recipe's `tokenizer` section describes: loaded (`name_or_path`) or trained (`train`) on
    the strings `texts()` yields (called only when training)."""
    if spec.name_or_path is not None:
        return load_tokenizer(spec.name_or_path)
    return train_tokenizer(
        texts(),
        spec.train,
        spec.vocab_size,
        lowercase=spec.lowercase,
        min_frequency=spec.min_frequency,
        special_tokens=spec.special_tokens or None,
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
        return family.config_class(**values)
    except (StrictDataclassClassValidationError, StrictDataclassFieldValidationError, ValueError) as error:
        raise UserError(f"model.config: {' '.join(str(error).split())}") from None
