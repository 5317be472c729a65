"""The fine-tuning tasks: one module per task family, each naming its tasks in a `TASKS` dict.

    from hf_recipes.tasks import get_task
    task = get_task("sst2")                    # built-in: sst2 cola mrpc stsb qqp mnli qnli rte wnli,
    task = get_task("conll2003", label_all_tokens=True)            # conll2003, squad, multi30k, custom
    task = get_task("custom", task_type="single_label", train_file="train.csv", text_columns=["text"])

A module here defines `TASKS = {name: factory}` (factory(**options) -> Task) and optionally
`ALIASES = {other_name: name}`; it is found on import. Adding a task is adding a module (or a line in one).
The interface every task implements is `base.Task`.
"""

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from ..errors import UserError
from .base import IGNORE_INDEX, PROBLEM_TYPES, Task, write_jsonl

_SKIP = {"base"}


def _discover() -> tuple[dict[str, Callable[..., Task]], dict[str, str]]:
    tasks: dict[str, Callable[..., Task]] = {}
    aliases: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if info.name in _SKIP or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, factory in getattr(module, "TASKS", {}).items():
            if name in tasks:
                raise RuntimeError(f"task {name!r} is defined twice (second time in {module.__name__})")
            tasks[name] = factory
        aliases.update(getattr(module, "ALIASES", {}))
    return tasks, aliases


REGISTRY, ALIASES = _discover()


def task_names() -> list[str]:
    return sorted(REGISTRY)


def get_task(name: str, **options: Any) -> Task:
    """The task called `name`, configured by `options` (its `option(...)` fields; a UserError names any
    unknown option or task)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in REGISTRY:
        raise UserError(f"unknown task {name!r}; built-in tasks: {', '.join(task_names())}")
    return REGISTRY[key](**options)


__all__ = [
    "ALIASES",
    "IGNORE_INDEX",
    "PROBLEM_TYPES",
    "REGISTRY",
    "Task",
    "get_task",
    "task_names",
    "write_jsonl",
]
