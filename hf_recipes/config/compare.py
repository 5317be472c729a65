"""The compare recipe (recipes/compare/*.yaml): a fine-tuning or pretraining recipe, what to vary, over how many
seeds; `hf-recipes compare` runs every variant × seed and reports mean ± standard deviation. A name that is no
compare recipe is the recipe to compare itself (`hf-recipes compare sst2 --vary ...`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..errors import UserError
from .base import Recipe
from .io import RECIPES_DIR, load_yaml, resolve_path


@dataclass
class CompareRecipe(Recipe):
    """A comparison: the recipe, the overrides every run shares, and the variants: every combination of
    `vary`'s values, times each named entry of `cases` when there are some."""

    kind: ClassVar[str] = "compare"

    recipe: str  # recipes/finetune/<name>.yaml (a task), recipes/pretrain/<name>.yaml, or a YAML path
    output_dir: str
    job: str | None = None  # finetune | pretrain (default: where `recipe` is found)
    # Overrides of the compared recipe shared by every run, as on the command line: dotted keys
    # (`training.max_steps: 300`); a section given whole (`model: {type: hfr_rnn, ...}`) replaces the recipe's.
    overrides: dict[str, Any] = field(default_factory=dict)
    # Dotted key -> its values; every combination is a variant (`training.learning_rate: [1e-3, 1e-4]`).
    vary: dict[str, list[Any]] = field(default_factory=dict)
    # Named cases, each its `name` and dotted keys with their values (settings that go together, e.g. an
    # optimizer and its rate); each combined with every combination of `vary`. (Not `variants:`, which in any
    # recipe names the variants `variant=` picks.)
    cases: list[dict[str, Any]] = field(default_factory=list)
    seeds: int = 1  # runs per variant: training.seed, training.seed + 1, ...
    model: str | None = None  # --model: the checkpoint every fine-tuning run starts from
    description: str = ""
    data_dir: str | None = None  # --data-dir: passed to every run

    @classmethod
    def locate(cls, name_or_path: str) -> tuple[str, dict[str, Any], str]:
        """recipes/compare/<name>.yaml, or a YAML path holding a `recipe:` key; otherwise `name_or_path` is the
        fine-tuning or pretraining recipe to compare (the output directory is then named after it)."""
        path = Path(name_or_path)
        if (RECIPES_DIR / "compare" / f"{name_or_path}.yaml").is_file() or (
            path.suffix in (".yaml", ".yml") and path.is_file() and "recipe" in (load_yaml(path) or {})
        ):
            found = resolve_path(name_or_path, "compare")
            return str(found), load_yaml(found), found.stem
        return "compare", {"recipe": name_or_path}, path.stem

    @classmethod
    def default_output_dir(cls, stem: str, data: dict[str, Any]) -> str:
        return f"outputs/compare/{Path(stem).stem}"

    @classmethod
    def apply_flags(cls, data: dict[str, Any], source: str, flags: dict[str, Any]) -> None:
        """--vary KEY=V1,V2 (already parsed: a list of (key, values)) adds to `vary`, the command line's
        overrides of the compared recipe (a mapping) to `overrides`; --seeds, --job and --model replace the
        recipe's."""
        given = flags.pop("recipe_overrides", None) or {}
        if given:
            if not isinstance(data.setdefault("overrides", {}), dict):
                raise UserError(f"{source}: overrides: expected a mapping of dotted keys to values")
            data["overrides"].update(given)
        for key, values in flags.pop("vary", None) or []:
            data.setdefault("vary", {})
            if not isinstance(data["vary"], dict):
                raise UserError(f"{source}: vary: expected a mapping of dotted keys to lists of values")
            data["vary"][key] = values
        super().apply_flags(data, source, flags)

    def check(self, source: str, data: dict[str, Any]) -> None:
        super().check(source, data)
        if self.job not in (None, "finetune", "pretrain"):
            raise UserError(f"{source}: job: {self.job!r}; expected finetune or pretrain")
        if self.seeds < 1:
            raise UserError(f"{source}: seeds: {self.seeds}; expected 1 or more")
        for key, values in self.vary.items():
            if not isinstance(values, list) or not values:
                raise UserError(f"{source}: vary.{key}: expected a non-empty list of values")
            if len(set(map(repr, values))) != len(values):
                raise UserError(f"{source}: vary.{key}: {values} repeats a value")
        names = [case.get("name") for case in self.cases]
        if any(not isinstance(name, str) or not name for name in names):
            raise UserError(f"{source}: cases: every case needs a `name`")
        if len(set(names)) != len(names):
            raise UserError(f"{source}: cases: two are named alike ({names})")
        if not self.vary and not self.cases:
            raise UserError(
                f"{source}: nothing to compare: give --vary KEY=V1,V2 (e.g. --vary model.init=pretrained,scratch)"
            )
        if self.job == "pretrain" and self.model is not None:
            raise UserError(
                f"{source}: model (--model): only for fine-tuning (a pretraining recipe builds one)"
            )


__all__ = ["CompareRecipe"]
