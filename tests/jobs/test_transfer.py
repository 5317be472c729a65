"""`hf-recipes transfer`: pretraining (or --model), the two fine-tuning runs and the report, on tiny sizes of the
real data; the two runs differ only in `model.init`, and a finished pretraining is reused by the next task."""

import json
import subprocess
import sys

import datasets
import pytest
import yaml
from safetensors.torch import load_file

from hf_recipes.config import TransferRecipe, flatten
from hf_recipes.data.loading import load_documents
from hf_recipes.errors import UserError
from hf_recipes.jobs import transfer
from hf_recipes.resolve import resolve, task_of
from tests.conftest import REPO
from tests.helpers import pretrain_recipe

datasets.disable_progress_bars()

STEPS = 8
TINY_PRETRAINING = [
    "pretrain.variant=tiny",
    "pretrain.training.max_steps=6",
    "pretrain.training.eval_steps=6",
    "pretrain.training.save_steps=6",
    "pretrain.training.disable_tqdm=true",
]
TINY_FINETUNING = [
    f"finetune.training.max_steps={STEPS}",
    "finetune.training.eval_steps=4",
    "finetune.training.learning_rate=1e-3",
    "finetune.training.disable_tqdm=true",
    "finetune.data.max_train_samples=256",
    "finetune.data.max_eval_samples=64",
    "finetune.data.max_length=64",
    "seed=7",
]


@pytest.fixture(scope="module")
def sst2_report(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    report = transfer.run(
        "sst2", TINY_PRETRAINING + TINY_FINETUNING, data_dir=str(shared_data), output_dir=str(root / "sst2")
    )
    return root, report


def test_the_report_is_complete(sst2_report):
    root, report = sst2_report
    out = root / "sst2"
    assert report == json.loads((out / "transfer.json").read_text())
    assert report["task"] == "sst2" and report["metric"] == "eval_accuracy"
    assert report["checkpoint"] == str(root / "bert_mlm_nsp_wikitext")  # beside the task's directory
    assert report["pretraining"]["reused"] is False and report["pretraining"]["steps"] == 6
    for init in ("pretrained", "scratch"):
        run = report[init]
        metrics = json.loads((out / init / "metrics.json").read_text())
        assert run["eval_accuracy"] == metrics["eval_accuracy"]
        assert run["steps"] == STEPS
        assert [step for step, _ in run["curve"]] == [0, 4, 8]  # eval_on_start, then every eval_steps
        assert run["wall_time_s"] > 0 and run["train_runtime_s"] > 0
        assert (out / init / "model.safetensors").is_file() and (out / init / "README.md").is_file()
    assert report["difference"] == pytest.approx(
        report["pretrained"]["eval_accuracy"] - report["scratch"]["eval_accuracy"]
    )
    assert (out / "transfer.png").stat().st_size > 10_000
    markdown = (out / "transfer.md").read_text()
    assert (
        f"| **eval_accuracy** (final model) | **{report['pretrained']['eval_accuracy']:.4f}** |" in markdown
    )
    for command in (report["command"], report["pretraining"]["command"], report["scratch"]["command"]):
        assert command in markdown
    assert "model.init=scratch" in report["scratch"]["command"]


def test_the_two_runs_differ_only_in_init(sst2_report):
    root, _ = sst2_report
    recipes = {
        init: yaml.safe_load((root / "sst2" / init / "recipe.yaml").read_text())
        for init in ("pretrained", "scratch")
    }
    assert (
        recipes["pretrained"]["model"]["init"] == "pretrained"
        and recipes["scratch"]["model"]["init"] == "scratch"
    )
    for recipe in recipes.values():
        del recipe["model"]["init"], recipe["output_dir"]
    assert recipes["pretrained"] == recipes["scratch"]
    recipe = recipes["scratch"]
    assert recipe["model"]["name_or_path"] == str(root / "bert_mlm_nsp_wikitext")
    assert recipe["training"]["seed"] == 7 and recipe["training"]["max_steps"] == STEPS
    # Only the pretrained run started from the checkpoint. SST-2 has no segment B, so fine-tuning never
    # updates the token-type embedding of segment B (but for weight decay): the pretrained run still holds the
    # checkpoint's, the scratch run a row that NSP pretraining never touched. (The step-0 eval losses are no
    # test: both untrained heads give logits near 0, so both losses sit within 1e-5 of ln 2; and with one seed
    # for every stage the scratch run may start from the very weights the pretraining started from.)
    key = "bert.embeddings.token_type_embeddings.weight"
    segment_b = load_file(root / "bert_mlm_nsp_wikitext" / "model.safetensors")[key][1]
    distance = {
        init: (load_file(root / "sst2" / init / "model.safetensors")[key][1] - segment_b).abs().max().item()
        for init in ("pretrained", "scratch")
    }
    assert distance["pretrained"] < 1e-4 < distance["scratch"], distance


def test_the_saved_recipe_reruns_and_the_pretraining_is_reused(sst2_report, shared_data):
    """A second task with the same pretraining finds it finished beside its directory and does not redo it,
    even after the pretraining recipe's description was edited; transfer.yaml re-runs the comparison."""
    root, first = sst2_report
    saved_pretraining = root / "bert_mlm_nsp_wikitext" / "recipe.yaml"
    edited = yaml.safe_load(saved_pretraining.read_text())
    edited["description"] = "reworded since this run"
    saved_pretraining.write_text(yaml.safe_dump(edited))
    saved = yaml.safe_load((root / "sst2" / "transfer.yaml").read_text())
    assert saved["task"] == "sst2" and saved["seed"] == 7
    assert saved["pretrain"]["variant"] == "tiny" and saved["finetune"]["training"]["max_steps"] == STEPS
    mtime = (root / "bert_mlm_nsp_wikitext" / "model.safetensors").stat().st_mtime_ns
    again = transfer.run(str(root / "sst2" / "transfer.yaml"), output_dir=str(root / "sst2_again"))
    assert again["pretraining"]["reused"] is True and again["checkpoint"] == first["checkpoint"]
    assert (root / "bert_mlm_nsp_wikitext" / "model.safetensors").stat().st_mtime_ns == mtime
    # same recipes, same seed, same machine: the same numbers
    for init in ("pretrained", "scratch"):
        assert [step for step, _ in again[init]["curve"]] == [step for step, _ in first[init]["curve"]]
        assert [value for _, value in again[init]["curve"]] == pytest.approx(
            [value for _, value in first[init]["curve"]], abs=1e-6
        )
        assert again[init]["eval_loss"] == pytest.approx(first[init]["eval_loss"], abs=1e-5)


def test_a_given_checkpoint_skips_pretraining_on_conll(sst2_report, shared_data, tmp_path):
    root, _ = sst2_report
    checkpoint = root / "bert_mlm_nsp_wikitext"
    report = transfer.run(
        "conll2003",
        TINY_FINETUNING,
        model=str(checkpoint),
        data_dir=str(shared_data),
        output_dir=str(tmp_path / "ner"),
    )
    assert "pretraining" not in report and report["checkpoint"] == str(checkpoint)
    assert report["metric"] == "eval_f1" and report["pretrained"]["steps"] == STEPS
    assert "hf-recipes pretrain" not in (tmp_path / "ner" / "transfer.md").read_text()


def test_a_learning_rate_sweep_reports_each_init_at_its_best_rate(sst2_report, shared_data):
    """`learning_rates`: each init fine-tuned at each rate, alike but for the rate, and reported at its best
    final metric; the grid and every command are in transfer.md. The pretraining is the fixture's, reused."""
    root, _ = sst2_report
    rates = [1e-5, 3e-3]
    finetuning = [item for item in TINY_FINETUNING if "learning_rate" not in item]
    report = transfer.run(
        "sst2",
        TINY_PRETRAINING + finetuning + ["learning_rates=[1e-5, 3e-3]"],
        data_dir=str(shared_data),
        output_dir=str(root / "sweep"),
    )
    assert report["pretraining"]["reused"] is True
    out = root / "sweep"
    markdown = (out / "transfer.md").read_text()
    for init in ("pretrained", "scratch"):
        sweep = report[init]["sweep"]
        assert [entry["learning_rate"] for entry in sweep] == rates
        recipes = []
        for entry, rate in zip(sweep, rates):
            run_dir = out / init / f"lr_{rate:g}"
            assert entry["output_dir"] == str(run_dir) and entry["command"] in markdown
            assert (
                entry["eval_accuracy"] == json.loads((run_dir / "metrics.json").read_text())["eval_accuracy"]
            )
            recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text())
            assert recipe["training"]["learning_rate"] == rate and recipe["model"]["init"] == init
            del recipe["training"]["learning_rate"], recipe["output_dir"]
            recipes.append(recipe)
        assert recipes[0] == recipes[1]  # the rate is the only difference
        best = max(sweep, key=lambda entry: entry["eval_accuracy"])
        assert report[init]["learning_rate"] == best["learning_rate"]
        assert report[init]["eval_accuracy"] == best["eval_accuracy"]
        assert report[init]["output_dir"] == best["output_dir"]
    assert report["difference"] == pytest.approx(
        report["pretrained"]["eval_accuracy"] - report["scratch"]["eval_accuracy"]
    )
    assert "| learning rate (best of the sweep) |" in markdown and "\n| 1e-05 | " in markdown
    assert (out / "transfer.png").is_file()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["learning_rates=[1e-4]", "finetune.training.learning_rate=1e-3"],
            "learning_rates and finetune.training.learning_rate are both set",
        ),
        (["learning_rates=[]"], "learning_rates: expected a non-empty list of positive rates"),
        (["finetune.training.max_stepz=3"], "training.max_stepz: unknown key; did you mean 'max_steps'?"),
        (["pretrain.model.size=huge"], "model.size: hfr_bert has sizes"),
        (["pretrain_recipe=nope"], "no pretrain recipe named 'nope'"),
        (["sed=1"], "sed: unknown key; did you mean 'seed'?"),
    ],
)
def test_recipe_errors_come_before_any_training(overrides, message, tmp_path):
    with pytest.raises(UserError) as error:
        transfer.run("sst2", overrides, output_dir=str(tmp_path / "out"))
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_make_transfer_runs_the_cli_verb():
    result = subprocess.run(
        # --no-print-directory: under `make test` this make is a sub-make, which prints "make[1]: Entering ..."
        [
            "make",
            "-n",
            "--no-print-directory",
            "transfer",
            "TASK=sst2",
            "DATA_DIR=../shared/data",
            "ARGS=seed=3",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    command = result.stdout.strip().splitlines()[-1].split()
    assert command == [".venv/bin/hf-recipes", "transfer", "sst2", "--data-dir", "../shared/data", "seed=3"]


def test_an_unknown_task_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "hf_recipes", "transfer", "nosuchtask", "--output-dir", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert (
        result.stderr.startswith("error: no finetune recipe named 'nosuchtask'")
        and result.stderr.count("\n") == 1
    )


def test_task_adaptive_pretraining_reads_the_training_sentences_and_no_dev_one(shared_data):
    """recipes/transfer/sst2_tapt.yaml: WikiText-2 plus SST-2's training sentences (labels dropped) make the
    pretraining corpus; no dev sentence gets in."""
    recipe = resolve(TransferRecipe, "sst2_tapt", data_dir=str(shared_data)).recipe
    # its outputs do not land on the WikiText-only sst2 comparison's
    assert recipe.output_dir == "outputs/transfer/sst2_tapt"
    assert resolve(TransferRecipe, "sst2").recipe.output_dir == "outputs/transfer/sst2"
    pretraining, _ = pretrain_recipe(
        recipe.pretrain_recipe, flatten(recipe.pretrain), data_dir=str(shared_data)
    )
    documents = load_documents(pretraining.data, str(shared_data))
    train = documents["train"]["text"][:]
    wiki = documents["validation"]["text"][:]
    assert len(wiki) > 50 and all("\t" not in document for document in train)  # no label column
    sst_lines = train[-1].splitlines()  # the TSV is one document, a row a line
    task = task_of({"name": "sst2"})
    splits = task.load(str(shared_data))
    assert sst_lines == splits["train"]["sentence"][:]  # every row, in order, quotes as written
    assert len(train) > 2 and train[0].startswith("= Homarus gammarus =")  # WikiText, then the task's text
    assert not set(splits["validation"]["sentence"][:]) & set(sst_lines)


def test_a_gpt_comparison_pretrains_a_causal_lm_and_fine_tunes_its_classifier_twice(shared_data, tmp_path):
    """recipes/transfer/sst2_gpt.yaml: the same job with a causal-LM pretraining and the GPT-1-style classifier
    (last-token head + auxiliary LM loss); only the pretrained run starts from the checkpoint."""
    out = tmp_path / "sst2_gpt"
    # Different seeds for the pretraining and the fine-tuning: the scratch run must not start from the weights
    # the (6-step) pretraining started from, or the two runs' weights could not be told apart.
    seeds = [item for item in TINY_FINETUNING if item != "seed=7"] + [
        "pretrain.training.seed=1",
        "finetune.training.seed=7",
    ]
    report = transfer.run(
        "sst2_gpt", TINY_PRETRAINING + seeds, data_dir=str(shared_data), output_dir=str(out)
    )
    assert report["task"] == "sst2" and report["metric"] == "eval_accuracy"  # the task, read from sst2_gpt
    assert report["recipe"] == "sst2_gpt"
    assert (
        (out / "transfer.md")
        .read_text()
        .startswith("## Transfer: sst2 (recipe `sst2_gpt`), validation split")
    )
    assert report["checkpoint"] == str(tmp_path / "gpt_clm_wikitext")
    assert report["pretraining"]["reused"] is False and report["pretraining"]["steps"] == 6
    weights = {"checkpoint": load_file(tmp_path / "gpt_clm_wikitext" / "model.safetensors")}
    for init in ("pretrained", "scratch"):
        recipe = yaml.safe_load((out / init / "recipe.yaml").read_text())
        assert recipe["model"]["init"] == init and recipe["model"]["config"]["lm_loss_weight"] == 0.5
        assert [step for step, _ in report[init]["curve"]] == [0, 4, 8]
        config = json.loads((out / init / "config.json").read_text())
        assert config["model_type"] == "hfr_gpt" and config["architectures"] == [
            "HfrGPTForSequenceClassification"
        ]
        weights[init] = load_file(out / init / "model.safetensors")
    # 8 small steps move the pretrained run's token embeddings little from the checkpoint's; the scratch run's
    # are other random numbers altogether.
    (key,) = [name for name in weights["checkpoint"] if name.endswith("wte.weight")]
    distance = {
        init: (weights[init][key] - weights["checkpoint"][key]).abs().mean().item()
        for init in ("pretrained", "scratch")
    }
    assert distance["pretrained"] < 0.2 * distance["scratch"], distance
