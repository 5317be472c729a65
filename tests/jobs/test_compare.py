"""`hf-recipes compare`: a recipe run once per variant and seed through the real fine-tuning job, one report
(mean ± std table, curves with a band, every run's difference and command), finished runs reused."""

import json
import subprocess
import sys

import pytest
import yaml

from hf_recipes.errors import UserError
from hf_recipes.jobs import compare
from hf_recipes.runs import recipe_differences

# A GRU classifier built from its config with a word tokenizer trained on the task: no checkpoint, no files.
TINY = [
    "model={type: hfr_rnn, config: {cell: gru, embedding_size: 16, hidden_size: 16, num_hidden_layers: 1}}",
    "tokenizer={train: word, vocab_size: 300}",
    "training.max_steps=6",
    "training.eval_strategy=steps",
    "training.eval_steps=3",
    "training.save_strategy=no",
    "training.logging_steps=2",
    "training.disable_tqdm=true",
    "data.max_train_samples=128",
    "data.max_eval_samples=64",
]
VARY = ["training.learning_rate=1e-3,1e-2"]


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "word_order"
    return out, compare.run("word_order", TINY, vary=VARY, seeds=2, output_dir=str(out))


def test_every_variant_and_seed_runs_and_the_table_is_their_mean_and_spread(comparison):
    out, report = comparison
    assert [variant["variant"] for variant in report["variants"]] == [
        "training.learning_rate=0.001",
        "training.learning_rate=0.01",
    ]
    assert report["seeds"] == [42, 43] and len(report["runs"]) == 4
    for variant in report["variants"]:
        finals = [
            json.loads((out / variant["variant"] / f"seed_{seed}" / "metrics.json").read_text())[
                "eval_accuracy"
            ]
            for seed in (42, 43)
        ]
        stats = variant["metrics"]["eval_accuracy"]
        assert stats["values"] == finals and stats["mean"] == pytest.approx(sum(finals) / 2)
        assert stats["std"] == pytest.approx(abs(finals[0] - finals[1]) / 2**0.5)
        # the curves: the mean over seeds at every evaluation step
        assert [step for step, _, _ in variant["curves"]["eval_accuracy"]] == [3, 6]
        assert variant["curves"]["eval_accuracy"][-1][1] == pytest.approx(stats["mean"])
    markdown = (out / "compare.md").read_text()
    mean, std = (report["variants"][0]["metrics"]["eval_accuracy"][key] for key in ("mean", "std"))
    assert f"| `training.learning_rate=0.001` | **{mean:.4f} ± {std:.4f}**" in markdown
    assert markdown.count("hf-recipes finetune word_order") == 4
    assert f"hf-recipes compare {out}/compare.yaml" in markdown  # reruns the whole comparison
    assert (out / "compare.png").stat().st_size > 10_000
    assert json.loads((out / "compare.json").read_text())["variants"] == report["variants"]


def test_runs_differ_from_each_other_only_in_the_varied_key_and_the_seed(comparison):
    out, report = comparison
    saved = {
        (run["values"]["training.learning_rate"], run["seed"]): yaml.safe_load(
            (out / run["variant"] / f"seed_{run['seed']}" / "recipe.yaml").read_text()
        )
        for run in report["runs"]
    }
    first = saved[(0.001, 42)]
    assert sorted(recipe_differences(first, saved[(0.01, 42)])) == ["training.learning_rate"]
    assert sorted(recipe_differences(first, saved[(0.001, 43)])) == ["training.seed"]
    assert report["runs"][3]["overrides"] == {"training.learning_rate": 0.01, "training.seed": 43}


def test_a_rerun_with_one_more_seed_trains_only_the_new_runs(comparison, capfd):
    out, _ = comparison
    finished = {path: path.stat().st_mtime_ns for path in out.glob("*/seed_*/metrics.json")}
    assert len(finished) == 4
    capfd.readouterr()
    report = compare.run(str(out / "compare.yaml"), seeds=3)  # the saved, resolved comparison, one more seed
    assert {path: path.stat().st_mtime_ns for path in finished} == finished  # not trained again
    assert capfd.readouterr().err.count("finished already with this recipe") == 4
    assert sorted(out.glob("*/seed_44/metrics.json")) and report["variants"][0]["n"] == 3


@pytest.mark.parametrize(
    "vary, message",
    [
        ([], "nothing to compare: give --vary KEY=V1,V2"),
        (["training.learning_rate"], "--vary training.learning_rate: expected KEY=V1,V2"),
        (["training.learning_rate=1e-3,"], "expected KEY=V1,V2"),
        (["training.seed=1", "training.seed=2"], "training.seed is varied twice"),
        (["training.learning_rate=1e-3,1e-3"], "repeats a value"),
        (["training.no_such_argument=1,2"], "no_such_argument"),
    ],
)
def test_bad_variations_are_one_error_before_any_run(vary, message, tmp_path):
    with pytest.raises(UserError, match=message):
        compare.run("word_order", TINY, vary=vary, output_dir=str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "name, variants, seeds",
    [("optimizers", 7, 2), ("dropout", 2, 2), ("attention", 2, 1)],
)
def test_the_shipped_comparisons_check_every_run_before_training(
    name, variants, seeds, shared_data, tmp_path
):
    data_dir = str(shared_data) if name == "attention" else None
    checked = compare.plan(name, data_dir=data_dir, output_dir=str(tmp_path / name))
    assert len(checked.runs) == variants * seeds and len({run[0] for run in checked.runs}) == variants
    assert not (tmp_path / name).exists()  # nothing written before the runs start


def test_the_cli_verb_reports_a_bad_recipe_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "hf_recipes", "compare", "nosuchrecipe", "--vary", "model.init=a,b",
         "--output-dir", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: nosuchrecipe: no fine-tuning or pretraining recipe")
    assert result.stderr.count("\n") == 1
