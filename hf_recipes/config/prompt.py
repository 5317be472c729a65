"""The prompting recipe (`hf-recipes prompt`): which causal LM, which task, how many demonstrations, which
prompt. It has no folder of recipes: a task name, or a YAML file (the `recipe.yaml` of an earlier run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..errors import UserError
from .base import Recipe
from .io import load_yaml

DEFAULT_SHOTS = [0, 1, 4]


@dataclass
class PromptRecipe(Recipe):
    """What to evaluate, on what, how."""

    kind: ClassVar[str] = "prompt"

    # `name` (a single-label built-in task: sst2, cola, mrpc, rte, word_order, ..., or custom) and the task's
    # options, as in a fine-tuning recipe (e.g. task.train_file=... for custom).
    task: dict[str, Any]
    model: str  # a causal LM: one of our output directories (gpt_clm_wikitext) or a Hub id (gpt2)
    output_dir: str
    shots: list[int] = field(default_factory=lambda: list(DEFAULT_SHOTS))  # k demonstrations, one run each
    max_eval_samples: int | None = None  # a random subset of the eval split (seed: `seed`); None: all of it
    seed: int = 0  # draws the demonstrations (per eval example) and the eval subset
    batch_size: int = 16
    # The prompt: a template over the task's text columns ("Review: {sentence}\nSentiment:"), the answer text
    # of each label (a list in label order, or a label: text mapping) and the text between demonstrations.
    # Default: the task's (hf_recipes.evaluation.prompting.FORMATS), else "Text: {column}\nLabel:" + label names.
    template: str | None = None
    verbalizers: list[str] | dict[str, str] | None = None
    separator: str | None = None
    # Average the verbaliser's token log-probabilities instead of summing them (GPT-3's per-token
    # normalisation; no difference for one-token verbalisers).
    length_normalization: bool = True
    calibrate: bool = False  # also report contextually calibrated accuracy (Zhao et al. 2021)
    max_length: int | None = None  # the context in tokens; default: what the model takes
    trust_remote_code: bool = False
    description: str = ""
    data_dir: str | None = None  # set by --data-dir

    @classmethod
    def locate(cls, name_or_path: str) -> tuple[str, dict[str, Any], str]:
        if Path(name_or_path).suffix in (".yaml", ".yml"):
            if not Path(name_or_path).is_file():
                raise UserError(f"{name_or_path}: recipe file not found")
            return name_or_path, load_yaml(Path(name_or_path)), Path(name_or_path).stem
        return "prompt", {"task": {"name": name_or_path}}, name_or_path

    @classmethod
    def default_output_dir(cls, stem: str, data: dict[str, Any]) -> str:
        task = (data.get("task") or {}).get("name", "task")
        return f"outputs/prompt/{task}-{Path(data['model']).name}"

    @classmethod
    def apply_flags(cls, data: dict[str, Any], source: str, flags: dict[str, Any]) -> None:
        shots = flags.pop("shots", None)
        if shots is not None:
            data["shots"] = parse_shots(shots)
        super().apply_flags(data, source, flags)
        if not isinstance(data.get("model"), str):
            raise UserError(f"{source}: model: required; give --model DIR or a Hub id (e.g. gpt2)")

    def check(self, source: str, data: dict[str, Any]) -> None:
        super().check(source, data)
        if not self.shots or any(k < 0 for k in self.shots):
            raise UserError(f"{source}: shots: expected numbers of demonstrations >= 0, got {self.shots}")


def parse_shots(value: str | list[int]) -> list[int]:
    if isinstance(value, list):
        return value
    try:
        return [int(part) for part in str(value).split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--shots: expected comma-separated numbers such as 0,1,4, got {value!r}") from None


__all__ = ["DEFAULT_SHOTS", "PromptRecipe", "parse_shots"]
