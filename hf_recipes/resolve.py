"""Reading a recipe of any kind, the same way for every job: the one place where recipe code meets the model and
task registries.

    resolved = resolve(FinetuneRecipe, "sst2", ["training.max_steps=20"], model="outputs/bert", data_dir="data")
    resolved.recipe      # the validated FinetuneRecipe
    resolved.mapping     # its resolved mapping: what the run saves as recipe.yaml
    resolved.task        # the Task of a fine-tuning (or prompting) recipe, built once

The steps: the kind's file (`Recipe.locate`), the variant and the `key=value` overrides (credentials taken
out), the command line's flags (--model, --shots, ...), --data-dir and --output-dir, the default output
directory, validation against the schema (hf_recipes.config), the recipe's own checks, and last the checks that
need the registries: the model type and size, the task and its options, the head the task needs, the
TrainingArguments class the task trains with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .config import (
    TASK_KEYS,
    FinetuneRecipe,
    ModelSpec,
    PretrainRecipe,
    PromptRecipe,
    Recipe,
    build,
    check_fields,
    check_training_arguments,
    dump_recipe,
    merge_recipe,
    parse_overrides,
    recipe_header,
)
from .config.schema import kind_of
from .errors import UserError

R = TypeVar("R", bound=Recipe)


@dataclass
class Resolved(Generic[R]):
    """A recipe read and checked, with what the run saves and says about it."""

    recipe: R
    mapping: dict[str, Any]  # the resolved recipe as plain data (recipe.yaml)
    source: str  # the file (or "prompt") that errors name
    name: str  # the recipe as the user named it
    overrides: list[str] | dict[str, Any]  # as the user gave them
    task: Any = None  # the Task (fine-tuning and prompting recipes)

    def saved_text(self) -> str:
        """recipe.yaml: where it came from and how to run it again, then the resolved recipe."""
        return recipe_header(self.recipe.kind, self.name, self.overrides) + dump_recipe(
            self.mapping, type(self.recipe)
        )


def resolve(
    schema: type[R],
    name_or_path: str,
    overrides: list[str] | dict[str, Any] = (),
    *,
    data_dir: str | None = None,
    output_dir: str | None = None,
    **flags: Any,
) -> Resolved[R]:
    """Read, merge and validate a recipe of `schema`'s kind (`flags`: that kind's command-line flags)."""
    source, data, stem = _locate(schema, name_or_path)
    given = dict(overrides) if isinstance(overrides, dict) else parse_overrides(list(overrides))
    data = merge_recipe(data, given, source)
    schema.apply_flags(data, source, dict(flags))
    for key, value in (("data_dir", data_dir), ("output_dir", output_dir)):
        if value is not None:
            data[key] = value
    data.setdefault("output_dir", schema.default_output_dir(stem, data))
    recipe = build(schema, data, source)
    recipe.check(source, data)
    task = CHECKS.get(schema, lambda *_: None)(recipe, data, source)
    return Resolved(recipe, data, source, name_or_path, overrides, task)


def _locate(schema: type[Recipe], name_or_path: str) -> tuple[str, dict[str, Any], str]:
    try:
        return schema.locate(name_or_path)
    except UserError as error:
        from .tasks import REGISTRY as TASKS

        if schema is not FinetuneRecipe or name_or_path.strip().lower() not in TASKS:
            raise
        raise UserError(
            f"{error}; {name_or_path} is a built-in task without a recipe of its own: run one of its kind with "
            f"task.name={name_or_path} (e.g. hf-recipes finetune mrpc task.name={name_or_path} "
            f"--output-dir outputs/{name_or_path})"
        ) from None


# --- the checks that need the registries ----------------------------------------------------------------------


def check_model_spec(spec: ModelSpec, source: str) -> None:
    """The model type exists, the size is one of its presets, and every config key is a field of its config."""
    from .models import REGISTRY

    if spec.type not in REGISTRY:
        raise UserError(
            f"{source}: model.type: unknown model type {spec.type!r}; registered: {sorted(REGISTRY)}"
        )
    family = REGISTRY[spec.type]
    if spec.size is not None and spec.size not in family.sizes:
        raise UserError(
            f"{source}: model.size: {spec.type} has sizes {sorted(family.sizes)}, not {spec.size!r}"
        )
    spec.config = check_fields(family.config_class, spec.config, source, "model.config")


def _check_pretrain(recipe: PretrainRecipe, data: dict[str, Any], source: str) -> None:
    check_model_spec(recipe.model, source)
    from .models import REGISTRY

    family, head = REGISTRY[recipe.model.type], recipe.objective.head
    if head not in {h.auto_class for h in family.heads}:
        raise UserError(
            f"objective {recipe.objective.type} needs a {head} head, which {family.model_type} lacks"
        )
    recipe.training = check_training_arguments(recipe.training, source)


def task_of(section: dict[str, Any], source: str = "recipe"):
    """The `hf_recipes.tasks.Task` a recipe's `task:` section describes (a UserError names a bad task name,
    option or value, prefixed with `source: task`)."""
    from .tasks import get_task

    if not isinstance(section.get("name"), str):
        raise UserError(f"{source}: task.name: required, a built-in task name (e.g. sst2, conll2003, custom)")
    for key in TASK_KEYS[1:]:
        if not isinstance(section.get(key), str | None):
            raise UserError(
                f"{source}: task.{key}: expected str, got {kind_of(section[key])} {section[key]!r}"
            )
    options = {key: value for key, value in section.items() if key not in TASK_KEYS}
    try:
        task = get_task(section["name"], **options)
    except UserError as error:
        raise UserError(f"{source}: task: {error}") from None
    except (TypeError, ValueError) as error:  # an option of a type the task cannot take (e.g. a number)
        detail = " ".join(str(error).split())
        raise UserError(
            f"{source}: task: an option of {section['name']} has a wrong value ({detail})"
        ) from None
    if section.get("hub_dataset") is not None:
        if task.hub_dataset is None:
            raise UserError(f"{source}: task.hub_dataset: task {task.name} reads files, not a Hub dataset")
        # Another dataset: its config is whatever the section says (the task's own belongs to its dataset).
        task.hub_dataset, task.hub_config = section["hub_dataset"], section.get("hub_config")
    elif section.get("hub_config") is not None:
        task.hub_config = section["hub_config"]
    return task


def _check_finetune(recipe: FinetuneRecipe, data: dict[str, Any], source: str):
    task = task_of(recipe.task, source)
    # The saved recipe names the Hub dataset (the model card reads it there), whether or not the file did.
    for key in ("hub_dataset", "hub_config"):
        if getattr(task, key) is not None:
            recipe.task[key] = data["task"][key] = getattr(task, key)
    if recipe.model.type is not None:
        check_model_spec(recipe.model, source)
        from .models import REGISTRY

        family = REGISTRY[recipe.model.type]
        if task.auto_model not in {head.auto_class for head in family.heads}:
            raise UserError(
                f"{source}: model.type: {recipe.model.type} has no {task.auto_model} head (task {task.name} needs "
                f"one); it has {', '.join(head.auto_class for head in family.heads)}"
            )
    if recipe.tokenizer is not None and recipe.tokenizer.separate_vocabularies and not task.generates:
        raise UserError(
            f"{source}: tokenizer.separate_vocabularies: only for seq2seq tasks (a source and a target side)"
        )
    if recipe.generation and not task.generates:
        raise UserError(f"{source}: generation: only for seq2seq tasks; task {task.name} does not generate")
    recipe.training = check_training_arguments(recipe.training, source, task.training_arguments_class)
    return task


def _check_prompt(recipe: PromptRecipe, data: dict[str, Any], source: str):
    return task_of(recipe.task, source)


CHECKS = {PretrainRecipe: _check_pretrain, FinetuneRecipe: _check_finetune, PromptRecipe: _check_prompt}


__all__ = ["CHECKS", "Resolved", "check_model_spec", "resolve", "task_of"]
