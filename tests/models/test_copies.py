"""Code copied between model files stays the same as its source.

Each model file is copied next to the checkpoints it saves and must load where hf_recipes is not installed, so
the few helpers two families share (the attention function, the cache-name shim, shift_tokens_right,
full_auto_map, ...) are copies, not imports. Each copy carries transformers' marker

    # Copied from hf_recipes.models.<family>.modeling_<family>.<name>[.<method>] [with Old->New[, Old->New]]

on the line above it (or above the comments that precede it); the copy must equal the source after the
renames. A copy that drifts fails here, with the two versions side by side.
"""

import ast
import difflib
import importlib
import re
import textwrap
from pathlib import Path

import pytest

import hf_recipes

MODELS = Path(hf_recipes.__file__).parent / "models"
MARKER = re.compile(r"^(?P<indent>\s*)# Copied from (?P<source>[\w.]+)(?: with (?P<renames>.+))?$")


def marked_copies(path: Path) -> list[tuple[int, str, list[tuple[str, str]]]]:
    """(line of the marker, dotted source, renames) for every marker in a file."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = MARKER.match(line)
        if match:
            renames = [
                tuple(part.strip().split("->")) for part in (match["renames"] or "").split(",") if part
            ]
            found.append((number, match["source"], renames))
    return found


def definition_after(path: Path, line: int) -> str:
    """The source of the first statement (def, class, assignment) after line `line`, dedented."""
    text = path.read_text()
    tree = ast.parse(text)
    nodes = [
        node for node in ast.walk(tree) if isinstance(node, ast.stmt) and getattr(node, "lineno", 0) > line
    ]
    node = min(nodes, key=lambda node: node.lineno)
    return textwrap.dedent(ast.get_source_segment(text, node, padded=True))


def source_of(dotted: str) -> str:
    """The source of `module.name` or `module.Class.method`, dedented."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        path = Path(module.__file__)
        text = path.read_text()
        body = ast.parse(text).body
        node = None
        for name in parts[cut:]:
            node = next(n for n in body if _defines(n, name))
            body = getattr(node, "body", [])
        return textwrap.dedent(ast.get_source_segment(text, node, padded=True))
    raise LookupError(dotted)


def _defines(node: ast.stmt, name: str) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return node.name == name
    if isinstance(node, ast.Assign):
        return any(isinstance(target, ast.Name) and target.id == name for target in node.targets)
    return isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name


def drift(path: Path, line: int, source: str, renames: list[tuple[str, str]]) -> str | None:
    """None when the copy below the marker is the source after its renames, else a diff."""
    expected = source_of(source)
    for old, new in renames:
        expected = expected.replace(old, new)
    actual = definition_after(path, line)
    if actual == expected:
        return None
    diff = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(), source, f"{path.name}:{line}", lineterm=""
    )
    return "\n".join(diff)


COPIES = [
    (path, line, source, renames)
    for path in sorted(MODELS.glob("*/modeling_*.py"))
    for line, source, renames in marked_copies(path)
]


def test_the_model_files_mark_their_copies():
    sources = {source.rsplit(".", 1)[-1] for _, _, source, _ in COPIES}
    assert {"scaled_dot_product_attention", "one_cache", "CACHE_FIELD", "shift_tokens_right"} <= sources
    assert {"full_auto_map", "save_pretrained", "_wants_dict"} <= sources
    assert len(COPIES) >= 16


@pytest.mark.parametrize(
    ("path", "line", "source", "renames"), COPIES, ids=[f"{c[0].parent.name}:{c[1]}" for c in COPIES]
)
def test_a_marked_copy_equals_its_source(path, line, source, renames):
    problem = drift(path, line, source, renames)
    assert problem is None, f"{path.name}:{line} drifted from {source}:\n{problem}"


def test_a_copy_that_drifts_is_caught(tmp_path):
    """The check itself: an edited copy of a marked helper is reported, a faithful one is not."""
    original = MODELS / "bert" / "modeling_bert.py"
    line, source, renames = next(c for c in marked_copies(original) if c[1].endswith(".full_auto_map"))
    copy = tmp_path / "modeling_bert.py"
    copy.write_text(original.read_text())
    assert drift(copy, line, source, renames) is None
    copy.write_text(
        original.read_text().replace(
            '.rsplit(".", 1)[-1]\n    model_module', '.split(".")[-1]\n    model_module', 1
        )
    )
    report = drift(copy, line, source, renames)
    assert report is not None and '-    config_module = HfrBertConfig.__module__.rsplit(".", 1)[-1]' in report
