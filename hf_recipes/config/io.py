"""Recipes as YAML: reading a recipe file (a name resolves to `recipes/<kind>/<name>.yaml`), the command-line
overrides (`dotted.key=value`, values read as YAML) and the named variant merged into it, the resolved recipe
written back (`recipe.yaml` of every run), and the command line that runs a recipe with given overrides.

Credentials are taken out as a recipe is merged (hf_recipes.secrets): nothing after this sees them.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from ..secrets import redact, redact_argv, take_secrets

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"


class _Loader(yaml.SafeLoader):
    """YAML 1.2 scalars (PyYAML implements 1.1): only true/false are booleans, so `eval_strategy: no` stays
    the string "no", and `1e-3` is a float, not the string "1e-3"."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def yaml_load(text: str):
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


def resolve_path(name_or_path: str, kind: str) -> Path:
    """A YAML path as given, else recipes/<kind>/<name>.yaml in the working directory or the source tree."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"{path}: recipe file not found")
        return path
    for root in (Path("recipes"), RECIPES_DIR):
        candidate = root / kind / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    available = sorted(p.stem for p in (RECIPES_DIR / kind).glob("*.yaml"))
    raise UserError(f"no {kind} recipe named {name_or_path!r}; available: {', '.join(available) or 'none'}")


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`["a.b=1", "c=[x, y]"]` -> `{"a.b": 1, "c": ["x", "y"]}`; values are read as YAML."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise UserError(f"override {pair!r}: expected dotted.key=value")
        try:
            overrides[key] = yaml_load(value) if value != "" else ""
        except yaml.YAMLError:
            overrides[key] = value
    return overrides


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UserError(f"{path}:{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of sections at the top level")
    return data


def merge_recipe(data: dict[str, Any], overrides: dict[str, Any], source: str) -> dict[str, Any]:
    """Apply the chosen variant, then the overrides, to a raw recipe mapping; returns a new mapping, without
    credentials (a `hub_token` becomes this process's HF_TOKEN: see hf_recipes.secrets)."""
    data = dict(data)
    variants = data.pop("variants", None) or {}
    variant = overrides.pop("variant", data.pop("variant", None))
    if variant is not None:
        if variant not in variants:
            raise UserError(
                f"{source}: variant: unknown variant {variant!r}; the recipe has {sorted(variants)}"
            )
        for key, value in (variants[variant] or {}).items():
            set_dotted(data, key, value, source)
    for key, value in overrides.items():
        set_dotted(data, key, value, source)
    return take_secrets(data)


def set_dotted(data: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for i, part in enumerate(parents):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise UserError(f"{source}: {'.'.join(parents[: i + 1])}: is a value, cannot set {dotted}")
        node = child
    node[leaf] = value


def dump_recipe(data: dict[str, Any], schema: type) -> str:
    """The resolved recipe as YAML, in the section order of `schema` (the recipe's dataclass)."""
    order = [f.name for f in dataclasses.fields(schema)]
    ordered = {key: data[key] for key in order if key in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True)


# --- a recipe with its overrides as a command line --------------------------------------------------------


def flatten(overrides: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"training": {"max_steps": 5}, "variant": "tiny"}` -> `{"training.max_steps": 5, "variant": "tiny"}`
    (dotted keys, as the jobs take overrides; a dotted key given as such stays one)."""
    flat = {}
    for key, value in overrides.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def command(verb: str, recipe: str, overrides, *, model=None, data_dir=None, output_dir=None, **flags) -> str:
    """The `hf-recipes` command line that runs `recipe` with `overrides` (credentials redacted)."""
    if isinstance(overrides, dict):
        pairs = [f"{key}={inline(value)}" for key, value in redact(flatten(overrides)).items()]
    else:
        pairs = redact_argv(list(overrides))
    parts = ["hf-recipes", verb, recipe]
    options = {"--model": model, "--data-dir": data_dir, "--output-dir": output_dir}
    options.update({f"--{name.replace('_', '-')}": value for name, value in flags.items()})
    for flag, value in options.items():
        if value is not None:
            parts += [flag, str(value)]
    return " ".join(shlex.quote(part) for part in parts + pairs)


def inline(value: Any) -> str:
    """A value as the YAML of one override (`[1e-4, 2e-4]`, `{a: 1}`, a plain string as it is)."""
    if isinstance(value, str) and value and yaml_load(value) == value:
        return value
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def recipe_header(verb: str, recipe_name: str, overrides: list[str] | dict[str, Any]) -> str:
    """The comment lines on top of a saved recipe: where it came from and how to run it again (credentials in
    the overrides redacted)."""
    given = (
        " ".join(redact_argv(list(overrides)))
        if not isinstance(overrides, dict)
        else " ".join(f"{k}={v}" for k, v in redact(overrides).items())
    )
    return (
        f"# resolved from {recipe_name}{' with ' + given if given else ''}\n"
        f"# re-run: hf-recipes {verb} <this file>\n"
    )
