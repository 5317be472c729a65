"""Validation: a recipe mapping checked against the dataclasses of the schema (and the config classes of the
model families, and transformers' TrainingArguments: all dataclasses), with values coerced to the declared
types. Any problem is one `UserError` line naming the file, the dotted key and what is allowed there.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal

from ..errors import UserError


def build(cls: type, data: Any, source: str, where: str = "") -> Any:
    """Construct dataclass `cls` from a mapping, checking every key and type; errors name `source: where.key`."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: {where or 'recipe'}: expected a mapping, got {kind_of(data)}")
    return cls(**check_fields(cls, data, source, where))


def check_fields(cls: type, data: dict[str, Any], source: str, where: str = "") -> dict[str, Any]:
    """Check `data` against the fields of dataclass `cls` and return it with values coerced to the field types
    (e.g. the string "1e-3", as YAML reads it, to a float). Unknown keys, wrong types and missing required
    fields raise a one-line UserError."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}
    types_ = _field_types(cls)
    out = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in fields:
            hint = difflib.get_close_matches(str(key), fields, n=1)
            allowed = f"did you mean {hint[0]!r}?" if hint else f"allowed: {', '.join(sorted(fields))}"
            raise UserError(f"{source}: {path}: unknown key; {allowed}")
        out[key] = coerce(value, types_.get(key, Any), source, path)
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and name not in out:
            raise UserError(f"{source}: {where + '.' if where else ''}{name}: required field is missing")
    return out


def _field_types(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # annotations naming types the module did not import: check the fields one by one
        module = vars(__import__(cls.__module__, fromlist=["_"]))
        resolved = {}
        for f in dataclasses.fields(cls):
            try:
                resolved[f.name] = eval(f.type, module) if isinstance(f.type, str) else f.type  # noqa: S307
            except Exception:
                resolved[f.name] = Any
        return resolved


def coerce(value: Any, tp: Any, source: str, path: str) -> Any:
    try:
        return _convert(value, tp, source, path)
    except _Mismatch:
        raise UserError(
            f"{source}: {path}: expected {describe_type(tp)}, got {kind_of(value)} {value!r}"
        ) from None


class _Mismatch(Exception):
    pass


def _convert(value: Any, tp: Any, source: str, path: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        # Tagged unions of dataclasses (the objective): pick the arm whose `type` literal matches.
        tagged = [a for a in args if dataclasses.is_dataclass(a) and "type" in _field_types(a)]
        if tagged and isinstance(value, dict):
            for arm in tagged:
                if value.get("type") in typing.get_args(_field_types(arm)["type"]):
                    return build(arm, value, source, path)
            kinds = [k for arm in tagged for k in typing.get_args(_field_types(arm)["type"])]
            raise UserError(f"{source}: {path}.type: expected one of {kinds}, got {value.get('type')!r}")
        for arm in args:
            if dataclasses.is_dataclass(arm) and not isinstance(value, dict):
                continue  # a section in a union (data.local's {path: ...}) takes only a mapping
            try:
                return _convert(value, arm, source, path)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        if value in args:
            return value
        raise _Mismatch
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if dataclasses.is_dataclass(tp):
        return build(tp, value, source, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if isinstance(value, tp):
            return value
        if value in [member.value for member in tp]:
            return tp(value)
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise _Mismatch
    if tp in (str, Path):
        if isinstance(value, str):
            return value
        raise _Mismatch
    if origin in (dict, typing.Dict) or tp is dict:  # noqa: UP006
        if not isinstance(value, dict):
            raise _Mismatch
        value_type = args[1] if len(args) == 2 else Any
        return {k: coerce(v, value_type, source, f"{path}.{k}") for k, v in value.items()}
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        item_type = args[0] if args else Any
        return [coerce(v, item_type, source, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _Mismatch
    return value  # an annotation this checker does not model: leave it to the receiving class


def describe_type(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args)
    if origin is Literal:
        return f"one of {list(args)}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin in (dict, list, tuple):
        return f"a {origin.__name__}"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return f"one of {[m.value for m in tp]}"
    return getattr(tp, "__name__", str(tp))


def kind_of(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "null"}.get(type(value), type(value).__name__)


# --- the `training` section: transformers' TrainingArguments -------------------------------------------------


def check_training_arguments(
    training: dict[str, Any], source: str, arguments_class: type | None = None
) -> dict[str, Any]:
    """Check `training` against `arguments_class` (default: transformers.TrainingArguments), and the values that
    TrainingArguments would accept and then misuse (CHECKS)."""
    from transformers import TrainingArguments

    if "output_dir" in training:
        raise UserError(
            f"{source}: training.output_dir: set the top-level `output_dir` (or --output-dir) instead"
        )
    checked = check_fields(arguments_class or TrainingArguments, training, source, "training")
    check_training_values(checked, source)
    return checked


# field -> (test, what is expected); only the fields a recipe sets are checked.
_POSITIVE = (lambda v: v > 0, "a positive number")
_AT_LEAST_ONE = (lambda v: v >= 1, "a whole number of at least 1")
_NOT_NEGATIVE = (lambda v: v >= 0, "a number of at least 0")
TRAINING_CHECKS = {
    "max_steps": (lambda v: v >= 1 or v == -1, "a positive number of steps, or -1 (train num_train_epochs)"),
    "num_train_epochs": _POSITIVE,
    "learning_rate": _NOT_NEGATIVE,
    "per_device_train_batch_size": _AT_LEAST_ONE,
    "per_device_eval_batch_size": _AT_LEAST_ONE,
    "gradient_accumulation_steps": _AT_LEAST_ONE,
    "logging_steps": _POSITIVE,
    "eval_steps": _POSITIVE,
    "save_steps": _POSITIVE,
    "save_total_limit": _AT_LEAST_ONE,
    "warmup_steps": _NOT_NEGATIVE,
    "warmup_ratio": (lambda v: 0 <= v <= 1, "a fraction between 0 and 1"),
    "weight_decay": _NOT_NEGATIVE,
    "max_grad_norm": _NOT_NEGATIVE,
}


def check_training_values(values: dict[str, Any], source: str | None = None) -> None:
    """The numbers of a `training` section that TrainingArguments takes but cannot use (a negative max_steps
    starts a run of the epoch count)."""
    where = f"{source}: " if source else ""
    for key, (test, expected) in TRAINING_CHECKS.items():
        value = values.get(key)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue  # unset, or a type TrainingArguments itself rejects
        if not math.isfinite(value) or not test(value):
            raise UserError(f"{where}training.{key}: expected {expected}, got {value}")
