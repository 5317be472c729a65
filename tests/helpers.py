"""Helpers shared by the tests."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

# Prepended to a script so that `import hf_recipes` fails in that process: proves a checkpoint loads
# through its own saved code (trust_remote_code) with only transformers installed.
_BLOCK_HF_RECIPES = "import sys\nsys.modules['hf_recipes'] = None  # any import of hf_recipes now raises\n"


def run_without_hf_recipes(script: str, cwd: Path) -> dict:
    """Run `script` in a fresh interpreter where hf_recipes cannot be imported; it must print one JSON
    object as its last stdout line, which is returned."""
    code = _BLOCK_HF_RECIPES + textwrap.dedent(script)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**_clean_env(), "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(cwd / "hf_modules")},
    )
    assert result.returncode == 0, f"subprocess failed:\n{result.stderr[-4000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def _clean_env() -> dict:
    import os

    # PYTHONPATH could point at the checkout and make hf_recipes importable by another route.
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def pretrain_recipe(name_or_path, overrides=(), **flags):
    """(recipe, resolved mapping) of a pretraining recipe, read as `hf-recipes pretrain` reads it."""
    from hf_recipes.config import PretrainRecipe
    from hf_recipes.resolve import resolve

    resolved = resolve(PretrainRecipe, name_or_path, overrides, **flags)
    return resolved.recipe, resolved.mapping


def finetune_recipe(name_or_path, overrides=(), **flags):
    """(recipe, resolved mapping) of a fine-tuning recipe, read as `hf-recipes finetune` reads it."""
    from hf_recipes.config import FinetuneRecipe
    from hf_recipes.resolve import resolve

    resolved = resolve(FinetuneRecipe, name_or_path, overrides, **flags)
    return resolved.recipe, resolved.mapping
