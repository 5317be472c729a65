"""Recipe validation: every mistake is one line naming the file, the dotted key and what is allowed."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hf_recipes.config import RECIPES_DIR, parse_overrides
from hf_recipes.errors import UserError
from tests.helpers import pretrain_recipe

MINIMAL = {
    "objective": {"type": "causal_lm", "block_size": 16},
    "model": {"type": "hfr_gpt", "size": "nano", "config": {"n_positions": 16}},
    "tokenizer": {"train": "char"},
    "data": {"local": {"train": "corpus.txt"}, "document_boundary": "file", "validation_fraction": 0.1},
    "training": {"max_steps": 5, "learning_rate": "1e-3"},
    "variants": {"tiny": {"training.max_steps": 2}},
}


def write_recipe(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def error_of(tmp_path, data=MINIMAL, overrides=()) -> str:
    with pytest.raises(UserError) as raised:
        pretrain_recipe(str(write_recipe(tmp_path, data)), list(overrides))
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_a_valid_recipe_resolves_variants_overrides_and_types(tmp_path):
    recipe, resolved = pretrain_recipe(
        str(write_recipe(tmp_path, MINIMAL)), ["variant=tiny", "training.seed=7", "model.config.n_layer=2"]
    )
    assert recipe.training == {"max_steps": 2, "learning_rate": 1e-3, "seed": 7}  # "1e-3" (YAML 1.1) -> float
    assert recipe.model.config == {"n_positions": 16, "n_layer": 2}
    assert recipe.objective.block_size == 16 and recipe.output_dir == "outputs/recipe"
    assert "variants" not in resolved and "variant" not in resolved


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["training.learnig_rate=1"], "training.learnig_rate: unknown key; did you mean 'learning_rate'?"),
        (["model.config.n_layr=2"], "model.config.n_layr: unknown key; did you mean 'n_layer'?"),
        (["objective.block_size=big"], "objective.block_size: expected int, got str 'big'"),
        (["training.max_steps=abc"], "training.max_steps: expected int, got str 'abc'"),
        (
            ["tokenizer.train=sentencepiece"],
            "tokenizer.train: expected one of ['wordpiece', 'bpe', 'char', 'unigram', 'word']",
        ),
        (
            ["objective.type=gan"],
            "objective.type: expected one of ['causal_lm', 'mlm_nsp', 'mlm', 'word_vectors', 'cooccurrence']",
        ),
        (["model.type=hfr_lstm"], "model.type: unknown model type 'hfr_lstm'"),
        (["model.size=colossal"], "model.size: hfr_gpt has sizes"),
        (["variant=huge"], "variant: unknown variant 'huge'"),
        (["data.document_boundary=chapter"], "data.document_boundary: expected one of"),
        (["training.output_dir=x"], "training.output_dir: set the top-level `output_dir`"),
        (["surprise=1"], "surprise: unknown key"),
        (["tokenizer.name_or_path=bert-base-uncased"], "tokenizer: set exactly one of"),
    ],
)
def test_mistakes_are_one_line_naming_the_key(tmp_path, overrides, expected):
    message = error_of(tmp_path, overrides=overrides)
    assert message.startswith(f"{tmp_path / 'recipe.yaml'}: ")
    assert expected in message


def test_missing_required_section_and_bad_yaml(tmp_path):
    data = {k: v for k, v in MINIMAL.items() if k != "model"}
    assert "model: required field is missing" in error_of(tmp_path, data)
    path = tmp_path / "broken.yaml"
    path.write_text("objective:\n  type: causal_lm\n   block_size: 3\n")
    with pytest.raises(UserError, match=r"broken.yaml: line \d+: invalid YAML"):
        pretrain_recipe(str(path))


def test_override_syntax():
    assert parse_overrides(["a.b=1", "c=[x, y]", "d=null", "e=text", "f=no", "g=true", "h=1e-3"]) == {
        "a.b": 1,
        "c": ["x", "y"],
        "d": None,
        "e": "text",
        "f": "no",
        "g": True,
        "h": 1e-3,
    }
    with pytest.raises(UserError, match="expected dotted.key=value"):
        parse_overrides(["novalue"])


def test_unknown_recipe_name_lists_the_available_ones():
    with pytest.raises(UserError, match="available: .*char_gpt_shakespeare"):
        pretrain_recipe("no_such_recipe")


SHIPPED = sorted(RECIPES_DIR.glob("pretrain/*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_recipe_and_variant_validates(path):
    variants = yaml.safe_load(path.read_text()).get("variants") or {None: None}
    for variant in variants:
        recipe, _ = pretrain_recipe(str(path), [f"variant={variant}"] if variant else [])
        assert recipe.training and recipe.model.type


def test_cli_prints_one_error_line_and_creates_nothing(tmp_path):
    path = write_recipe(tmp_path, MINIMAL)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hf_recipes",
            "pretrain",
            str(path),
            "--output-dir",
            str(tmp_path / "out"),
            "training.max_stepz=3",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: training.max_stepz: unknown key; did you mean 'max_steps'?"
    ]
    assert not (tmp_path / "out").exists()
