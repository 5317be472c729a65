"""Credentials never reach the disk: they are taken out of a recipe as it is read, and redacted from anything
written that could quote them (saved recipes, command lines, the model card, the pushed recipe.yaml).

A Hub token given as `training.hub_token=...` (on the command line or in a recipe file) is moved into the
process environment as HF_TOKEN, where huggingface_hub and the Trainer's Hub integration find it; the resolved
recipe keeps no trace of it, so neither recipe.yaml nor the TrainingArguments pickled into checkpoints
(training_args.bin) can hold it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

# Keys whose string values are credentials (recipe keys, TrainingArguments fields, command-line overrides).
SECRET_KEYS = re.compile(
    r"^(hub_token|token|hf_token|auth_token|access_token|api_token|use_auth_token|.*_secret)$", re.I
)
REDACTED = "<redacted>"


def is_secret_key(key: Any) -> bool:
    """`training.hub_token`, `hub_token`, `--hub_token`: the last dotted part names a credential."""
    return bool(SECRET_KEYS.match(str(key).lstrip("-").rsplit(".", 1)[-1]))


def take_secrets(data: Any) -> Any:
    """A copy of a recipe mapping without its credentials. A Hub token found under a `hub_token` key (at any
    depth, dotted or nested) becomes this process's HF_TOKEN; other credential keys are dropped."""
    if isinstance(data, Mapping):
        kept = {}
        for key, value in data.items():
            if is_secret_key(key) and isinstance(value, str):
                if value and str(key).rsplit(".", 1)[-1].lower() == "hub_token":
                    os.environ["HF_TOKEN"] = value
                continue
            kept[key] = take_secrets(value)
        return kept
    if isinstance(data, list):
        return [take_secrets(item) for item in data]
    return data


def redact(value: Any) -> Any:
    """A copy of `value` (mappings and lists, at any depth) with credential keys' values replaced by REDACTED."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED if is_secret_key(key) and isinstance(item, str) and item else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def redact_argv(argv: list[str]) -> list[str]:
    """Command-line words with credentials redacted: `key=value` overrides and `--flag value` / `--flag=value`."""
    words, hide_next = [], False
    for word in argv:
        if hide_next:
            words.append(REDACTED)
            hide_next = False
            continue
        key, sep, _ = word.partition("=")
        if sep and is_secret_key(key):
            words.append(f"{key}={REDACTED}")
        elif word.startswith("--") and is_secret_key(word):
            words.append(word)
            hide_next = True
        else:
            words.append(word)
    return words


__all__ = ["REDACTED", "SECRET_KEYS", "is_secret_key", "redact", "redact_argv", "take_secrets"]
