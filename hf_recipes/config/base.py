"""What every recipe dataclass shares: which folder of recipes/ holds its files, how a name or path becomes a
raw mapping, the default output directory, the command-line flags it takes, and the checks that need nothing
but the recipe itself. hf_recipes.resolve reads every kind of recipe through these, in the same steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..errors import UserError
from .io import load_yaml, resolve_path, set_dotted


class Recipe:
    """Mixed into each recipe dataclass (not a dataclass itself: it adds no fields)."""

    kind: ClassVar[str]  # the folder recipes/<kind>/ and the verb that runs the recipe

    @classmethod
    def locate(cls, name_or_path: str) -> tuple[str, dict[str, Any], str]:
        """(source named in errors, the raw mapping, the stem the default output directory is named after)."""
        path = resolve_path(name_or_path, cls.kind)
        return str(path), load_yaml(path), path.stem

    @classmethod
    def default_output_dir(cls, stem: str, data: dict[str, Any]) -> str:
        return f"outputs/{stem}"

    @classmethod
    def apply_flags(cls, data: dict[str, Any], source: str, flags: dict[str, Any]) -> None:
        """Put the command line's flags (--model, ...; None when not given) into the merged mapping."""
        for key, value in flags.items():
            if value is not None:
                set_dotted(data, key, value, source)

    def check(self, source: str, data: dict[str, Any]) -> None:
        """Checks that need nothing but the recipe and its resolved mapping `data` (the checks that need the
        model and task registries are in hf_recipes.resolve)."""
        data_dir = getattr(self, "data_dir", None)
        if data_dir is not None and not Path(data_dir).is_dir():
            raise UserError(f"--data-dir {data_dir}: not a directory")


__all__ = ["Recipe"]
