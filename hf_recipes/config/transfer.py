"""The transfer recipe (recipes/transfer/*.yaml): a pretraining recipe, a fine-tuning recipe, and the overrides
that size both; `hf-recipes transfer` fine-tunes from the pretrained checkpoint and from random weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..errors import UserError
from .base import Recipe
from .io import RECIPES_DIR, load_yaml, resolve_path


@dataclass
class TransferRecipe(Recipe):
    """A transfer comparison: which pretraining, which fine-tuning task, and the overrides that size both."""

    kind: ClassVar[str] = "transfer"

    task: str  # a fine-tuning recipe: recipes/finetune/<name>.yaml (sst2, conll2003, ...) or a YAML path
    output_dir: str
    pretrain_recipe: str = "bert_mlm_nsp_wikitext"  # recipes/pretrain/<name>.yaml or a YAML path
    # Overrides of the pretraining recipe, nested or dotted (`training: {max_steps: 1200}`, `variant: small`).
    pretrain: dict[str, Any] = field(default_factory=dict)
    # Overrides of the fine-tuning recipe, applied to both runs alike.
    finetune: dict[str, Any] = field(default_factory=dict)
    # Where the pretraining writes; `{output_dir}` is replaced by output_dir. Default: a sibling of output_dir
    # named after the pretraining recipe, shared by the tasks that use the same pretraining.
    pretrain_output_dir: str | None = None
    seed: int | None = None  # when set: training.seed of the pretraining and of both fine-tuning runs
    # When set: fine-tune each init at each rate and compare each at its best (see hf_recipes.jobs.transfer).
    learning_rates: list[float] | None = None
    model: str | None = None  # --model: fine-tune this checkpoint instead of pretraining one
    description: str = ""
    data_dir: str | None = None  # --data-dir: passed to every stage

    @classmethod
    def locate(cls, name_or_path: str) -> tuple[str, dict[str, Any], str]:
        """recipes/transfer/<name>.yaml or a YAML path; otherwise a fine-tuning task run with default.yaml (the
        output directory is then named after the task)."""
        is_file = Path(name_or_path).suffix in (".yaml", ".yml")
        if is_file or (RECIPES_DIR / "transfer" / f"{name_or_path}.yaml").is_file():
            path = resolve_path(name_or_path, "transfer")
            return str(path), load_yaml(path), path.stem
        path = RECIPES_DIR / "transfer" / "default.yaml"
        return str(path), {**load_yaml(path), "task": name_or_path}, name_or_path

    @classmethod
    def default_output_dir(cls, stem: str, data: dict[str, Any]) -> str:
        return f"outputs/transfer/{Path(stem).stem}"

    @classmethod
    def apply_flags(cls, data: dict[str, Any], source: str, flags: dict[str, Any]) -> None:
        super().apply_flags(data, source, flags)
        if not isinstance(data.get("task"), str):
            raise UserError(f"{source}: task: required, a fine-tuning recipe name (e.g. sst2) or a YAML path")

    def check(self, source: str, data: dict[str, Any]) -> None:
        super().check(source, data)
        rates = self.learning_rates
        if rates is None:
            return
        if not rates or any(rate <= 0 for rate in rates):
            raise UserError(f"{source}: learning_rates: expected a non-empty list of positive rates")
        if "training.learning_rate" in _dotted(self.finetune):
            raise UserError(
                f"{source}: learning_rates and finetune.training.learning_rate are both set; give one of them"
            )
        if len(set(rates)) != len(rates):
            raise UserError(f"{source}: learning_rates: {rates} repeats a rate")


def _dotted(section: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in section.items():
        keys |= _dotted(value, f"{prefix}{key}.") if isinstance(value, dict) and value else {f"{prefix}{key}"}
    return keys


__all__ = ["TransferRecipe"]
