"""`hf-recipes finetune` end to end: the shipped recipes' tiny variants on slices of the real datasets, real
Trainer, tiny checkpoints made here (our BERT, GPT and Transformer; transformers' BERT and BART), real output
files.

Each run evaluates before training (training.eval_on_start) and at its end with a constant, high learning
rate, so that a few dozen steps visibly improve on the initial evaluation.
"""

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers
import yaml
from safetensors.torch import load_file
from sklearn.metrics import matthews_corrcoef

import hf_recipes  # noqa: F401  (registers our model families with the AutoClasses)
from hf_recipes.cli import main as cli
from hf_recipes.config import RECIPES_DIR
from hf_recipes.errors import UserError
from hf_recipes.jobs.finetune import run
from hf_recipes.models.gpt import HfrGPTConfig
from hf_recipes.models.transformer import HfrTransformerConfig
from tests.conftest import SHARED_DATA
from tests.helpers import finetune_recipe

OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
STEPS = 40
FAST = [
    "variant=tiny",
    f"training.max_steps={STEPS}",
    f"training.eval_steps={STEPS}",
    f"training.save_steps={STEPS}",
    "training.logging_steps=10",
    "training.learning_rate=1e-3",
    "training.lr_scheduler_type=constant",
    "training.warmup_steps=0",
    "training.eval_on_start=true",
]


def finetune(recipe, out, *overrides, model, data_dir=SHARED_DATA, **kwargs):
    return run(
        recipe, [*FAST, *overrides], model=str(model), data_dir=str(data_dir), output_dir=str(out), **kwargs
    )


def evaluations(out) -> list[dict]:
    return [entry for entry in json.loads((out / "log_history.json").read_text()) if "eval_loss" in entry]


def assert_improved(out, metrics) -> dict:
    """The final model's eval loss is below the evaluation before training; returns that first evaluation."""
    first = evaluations(out)[0]
    assert first["step"] == 0
    assert metrics["eval_loss"] < first["eval_loss"] - 0.01, (first, metrics)
    return first


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------------------------------------------------
# One run per task type


def test_cola_single_label_end_to_end(bert_checkpoint, tmp_path):
    """CoLA (70% of its sentences are acceptable: a few steps learn at least that prior, so the eval loss
    falls even for a random-weight encoder; balanced SST-2 would need real learning)."""
    out = tmp_path / "cola"
    metrics = finetune("cola", out, "data.max_eval_samples=128", model=bert_checkpoint)

    for name in (
        "config.json",
        "model.safetensors",
        "modeling_bert.py",
        "configuration_bert.py",
        "tokenizer.json",
        "tokenizer_config.json",
        "recipe.yaml",
        "metrics.json",
        "predictions.jsonl",
        "log_history.json",
        "loss.png",
        "confusion_matrix.png",
        "README.md",
    ):
        assert (out / name).is_file(), name
    first = assert_improved(out, metrics)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == metrics and saved["global_step"] == STEPS
    assert {"eval_loss", "eval_matthews_correlation", "train_loss"} <= set(saved)
    assert "eval_matthews_correlation" in first  # the task's metric was computed before training too

    # predictions.jsonl: one row per eval example, made by the final model (they give the metric's value)
    rows = read_jsonl(out / "predictions.jsonl")
    assert len(rows) == 128 and set(rows[0]) == {"sentence", "prediction", "score", "label"}
    gold, predicted = [row["label"] for row in rows], [row["prediction"] for row in rows]
    assert matthews_corrcoef(gold, predicted) == pytest.approx(saved["eval_matthews_correlation"])

    # A complete checkpoint: the head carries the label names, and the pipeline serves it.
    model = transformers.AutoModelForSequenceClassification.from_pretrained(out)
    assert type(model).__name__ == "HfrBertForSequenceClassification"
    assert model.config.id2label == {0: "unacceptable", 1: "acceptable"}
    classify = transformers.pipeline("text-classification", model=str(out), device="cpu")
    (answer,) = classify("The cat sat on the mat.")
    assert answer["label"] in {"unacceptable", "acceptable"} and 0.5 <= answer["score"] <= 1.0

    # The model card names the task, the dataset, the base model, the hyperparameters and the metrics.
    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["datasets"] == ["nyu-mll/glue"] and header["pipeline_tag"] == "text-classification"
    assert "| task | `cola` |" in card and bert_checkpoint.name in card
    assert "| learning_rate | `0.001` |" in card and "![confusion matrix](confusion_matrix.png)" in card
    reported = {m["name"]: m["value"] for m in header["model-index"][0]["results"][0]["metrics"]}
    assert reported["eval_matthews_correlation"] == pytest.approx(saved["eval_matthews_correlation"])

    # `hf-recipes evaluate` scores the saved model again: the same numbers, nothing in the run rewritten.
    before = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    assert cli(["evaluate", str(out), "--output-dir", str(tmp_path / "again")]) == 0
    rescored = json.loads((tmp_path / "again" / "validation_results.json").read_text())
    for key in ("eval_loss", "eval_matthews_correlation"):
        assert rescored[key] == pytest.approx(saved[key], abs=1e-5), key
    assert (
        rescored["num_examples"] == 128
        and len(read_jsonl(tmp_path / "again" / "validation_predictions.jsonl")) == 128
    )
    assert {path.name: path.stat().st_mtime_ns for path in out.iterdir()} == before

    # `--file` scores any file in the task's format (here 50 rows of CoLA's headerless dev file, renamed).
    extra = tmp_path / "extra.tsv"
    extra.write_text("".join((SHARED_DATA / "glue/CoLA/dev.tsv").read_text().splitlines(keepends=True)[:50]))
    assert cli(["evaluate", str(out), "--file", str(extra), "--output-dir", str(tmp_path / "file")]) == 0
    scored = json.loads((tmp_path / "file" / "extra_results.json").read_text())
    rows = read_jsonl(tmp_path / "file" / "extra_predictions.jsonl")
    assert scored["num_examples"] == len(rows) == 50 and scored["split"] == "extra"
    assert rows[0]["sentence"] == "The sailors rode the breeze clear of the rocks."
    expected = matthews_corrcoef([row["label"] for row in rows], [row["prediction"] for row in rows])
    assert scored["extra_matthews_correlation"] == pytest.approx(expected)

    # The saved recipe runs the same job again.
    again, _ = finetune_recipe(str(out / "recipe.yaml"))
    original, _ = finetune_recipe(
        "cola",
        [*FAST, "data.max_eval_samples=128"],
        model=str(bert_checkpoint),
        data_dir=str(SHARED_DATA),
        output_dir=str(out),
    )
    assert again == original


def test_stsb_regression(bert_checkpoint, tmp_path):
    out = tmp_path / "stsb"
    metrics = finetune("stsb", out, "data.max_eval_samples=128", model=bert_checkpoint)
    assert_improved(out, metrics)
    assert {"eval_pearson", "eval_spearmanr"} <= set(metrics) and not (out / "confusion_matrix.png").exists()
    config = transformers.AutoConfig.from_pretrained(out)
    assert config.num_labels == 1 and config.problem_type == "regression"
    row = read_jsonl(out / "predictions.jsonl")[0]
    assert isinstance(row["prediction"], float) and 0.0 <= row["label"] <= 5.0


@pytest.mark.parametrize(("task", "keys"), [("sst2", {"accuracy"}), ("mrpc", {"f1", "accuracy"})])
def test_glue_metrics_of_each_task(bert_checkpoint, tmp_path, task, keys):
    """GLUE's metric per task (cola and stsb above); two steps are enough to see the keys."""
    out = tmp_path / task
    metrics = finetune(task, out, "training.max_steps=2", "data.max_eval_samples=64", model=bert_checkpoint)
    saved = json.loads((out / "metrics.json").read_text())
    assert {f"eval_{key}" for key in keys} <= set(saved)
    assert all(math.isfinite(saved[f"eval_{key}"]) for key in keys) and saved == metrics
    assert (out / "confusion_matrix.png").is_file()


def test_multi_label_custom_csv_with_a_transformers_bert(shared_data, bert_checkpoint, tmp_path):
    """A custom CSV made from real SST-2 sentences (labels: the sentiment, plus `comma` when there is one)
    on transformers' own BertModel: any checkpoint works, not only ours."""
    lines = (shared_data / "glue/SST-2/train.tsv").read_text(encoding="utf-8").splitlines()[1:1201]
    data = tmp_path / "data"
    data.mkdir()
    for name, part in (("train.csv", lines[:1000]), ("validation.csv", lines[1000:])):
        with (data / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["review", "tags"])
            for line in part:
                sentence, label = line.rsplit("\t", 1)
                tags = ["positive" if label == "1" else "negative"] + (["comma"] if "," in sentence else [])
                writer.writerow([sentence.strip(), ",".join(tags)])
    checkpoint = tmp_path / "bert"
    tokenizer = transformers.AutoTokenizer.from_pretrained(bert_checkpoint)
    bert = transformers.BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=128,
    )
    transformers.BertModel(bert).save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)

    out = tmp_path / "out"
    overrides = ["task.task_type=multi_label", "task.text_columns=[review]", "task.label_column=tags"]
    metrics = finetune("custom", out, *overrides, model=checkpoint, data_dir=data)
    assert_improved(out, metrics)
    assert {"eval_micro_f1", "eval_macro_f1", "eval_subset_accuracy"} <= set(metrics)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(out)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.id2label == {0: "comma", 1: "negative", 2: "positive"}
    assert model.config.problem_type == "multi_label_classification"
    row = read_jsonl(out / "predictions.jsonl")[0]
    assert set(row["label"]) <= {"comma", "negative", "positive"} and isinstance(row["prediction"], list)


def test_conll2003_token_classification(bert_checkpoint, tmp_path):
    out = tmp_path / "conll"
    metrics = finetune("conll2003", out, "data.max_eval_samples=64", model=bert_checkpoint)
    assert_improved(out, metrics)
    assert {"eval_f1", "eval_precision", "eval_recall", "eval_accuracy"} <= set(metrics)
    row = read_jsonl(out / "predictions.jsonl")[0]
    assert len(row["prediction"]) == len(row["tokens"]) == len(row["tags"])

    # Every sub-token gets one of the task's tags (ignore_labels=[]: "O" too).
    tag = transformers.pipeline("token-classification", model=str(out), device="cpu", ignore_labels=[])
    sentence = "EU rejects German call to boycott British lamb ."
    tagged = tag(sentence)
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    assert [token["word"] for token in tagged] == tokenizer.tokenize(sentence)
    assert {token["entity"] for token in tagged} <= set(transformers.AutoConfig.from_pretrained(out).label2id)


def test_squad_question_answering(bert_checkpoint, tmp_path):
    out = tmp_path / "squad"
    overrides = ["data.max_train_samples=128", "data.max_eval_samples=24", "data.max_length=96"]
    metrics = finetune("squad", out, *overrides, model=bert_checkpoint)
    assert_improved(out, metrics)
    assert {"eval_exact_match", "eval_f1"} <= set(metrics)
    row = read_jsonl(out / "predictions.jsonl")[0]
    assert isinstance(row["prediction"], str) and row["answers"]

    # transformers 5 removed this pipeline: the output directory brings its own (trust_remote_code).
    answer = transformers.pipeline("question-answering", model=str(out), device="cpu", trust_remote_code=True)
    context = "The Eiffel Tower was built in 1889 for the World's Fair in Paris."
    result = answer(question="When was the Eiffel Tower built?", context=context)
    assert context[result["start"] : result["end"]] == result["answer"] and result["answer"]
    assert answer.tokenizer.model_max_length == 96  # it cuts windows as the training did


@pytest.mark.parametrize("config_class", [transformers.BartConfig, HfrTransformerConfig])
def test_seq2seq_translation(bpe_tokenizer, tmp_path, config_class):
    """Multi30k on a tiny encoder-decoder, transformers' BART or our Transformer: Seq2SeqTrainer, generation
    with beams for the metric, and the translation pipeline on the output directory."""
    tokenizer = bpe_tokenizer
    config = config_class(
        vocab_size=len(tokenizer),
        d_model=64,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
    )
    checkpoint = tmp_path / config.model_type
    transformers.AutoModelForSeq2SeqLM.from_config(config).save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    recipe = tmp_path / "multi30k.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "task": {"name": "multi30k"},
                "model": {"name_or_path": str(checkpoint)},
                "data": {"max_train_samples": 256, "max_eval_samples": 16, "max_length": 32},
                "training": {"per_device_train_batch_size": 16, "generation_num_beams": 2},
                "variants": {"tiny": {}},
            }
        )
    )
    out = tmp_path / "out"
    metrics = finetune(str(recipe), out, "training.eval_strategy=steps", model=checkpoint)
    assert_improved(out, metrics)
    # This tokenizer ends no target with an end-of-text token, so generation runs to generation_max_length,
    # which defaults to data.max_length.
    assert {"eval_bleu", "eval_gen_len"} <= set(metrics) and metrics["eval_gen_len"] == 32
    row = read_jsonl(out / "predictions.jsonl")[0]
    assert set(row) == {"source", "reference", "prediction"} and isinstance(row["prediction"], str)
    translate = transformers.pipeline("translation", model=str(out), device="cpu", trust_remote_code=True)
    (translation,) = translate("Ein Mann spielt Gitarre.", max_new_tokens=8)
    assert isinstance(translation["translation_text"], str)


# ---------------------------------------------------------------------------------------------------------
# Checkpoints: GPT-1 style, from scratch


def test_gpt_with_the_auxiliary_lm_loss_and_no_pad_token(bpe_tokenizer, tmp_path):
    """sst2_gpt (lm_loss_weight 0.5) on our GPT with a GPT-2 style tokenizer that has no pad token: the job
    pads with end-of-text and writes that id into the config."""
    eos = "<|endoftext|>"
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe_tokenizer.backend_tokenizer, bos_token=eos, eos_token=eos, unk_token=eos
    )
    assert tokenizer.pad_token is None
    config = HfrGPTConfig(vocab_size=len(tokenizer), n_positions=64, n_embd=64, n_layer=2, n_head=2)
    checkpoint = tmp_path / "gpt"
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)

    out = tmp_path / "out"
    metrics = finetune("sst2_gpt", out, "data.max_eval_samples=64", model=checkpoint)
    assert_improved(out, metrics)
    saved = transformers.AutoConfig.from_pretrained(out)
    assert saved.lm_loss_weight == 0.5 and saved.classifier_dropout == 0.1
    assert saved.pad_token_id == tokenizer.convert_tokens_to_ids(eos)
    assert transformers.AutoTokenizer.from_pretrained(out).pad_token == eos
    classify = transformers.pipeline("text-classification", model=str(out), device="cpu")
    assert len(classify(["a fine film", "a dull , tired mess of a movie"])) == 2


@pytest.mark.parametrize("init", ["pretrained", "scratch"])
def test_init_pretrained_keeps_the_encoder_and_scratch_does_not(bert_checkpoint, tmp_path, init):
    out = tmp_path / init
    overrides = [f"model.init={init}", "training.learning_rate=0", "training.max_steps=1"]
    finetune(
        "sst2",
        out,
        *overrides,
        "training.eval_on_start=false",
        "data.max_eval_samples=16",
        model=bert_checkpoint,
    )
    before, after = load_file(bert_checkpoint / "model.safetensors"), load_file(out / "model.safetensors")
    name = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(before[name], after[name]) == (init == "pretrained")
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    assert tokenizer.get_vocab() == transformers.AutoTokenizer.from_pretrained(bert_checkpoint).get_vocab()


def test_reinitialize_starts_the_named_modules_again_and_keeps_the_rest(bert_checkpoint, tmp_path):
    """model.reinitialize=[pooler]: the pooler (trained for next-sentence prediction) starts from the model's
    own random initialisation (normal, std initializer_range; zero bias), every other weight is the
    checkpoint's; a name that matches no module is one error line."""
    out = tmp_path / "reinit"
    overrides = ["model.reinitialize=[pooler]", "training.learning_rate=0", "training.max_steps=1"]
    finetune("sst2", out, *overrides, "training.eval_on_start=false", "data.max_eval_samples=16",
             model=bert_checkpoint)  # fmt: skip
    before, after = load_file(bert_checkpoint / "model.safetensors"), load_file(out / "model.safetensors")
    pooler = "bert.pooler.dense.weight"
    assert not torch.equal(before[pooler], after[pooler])
    assert abs(after[pooler].std().item() - 0.02) < 0.003 and not after["bert.pooler.dense.bias"].any()
    kept = [name for name in before if name in after and not name.startswith("bert.pooler")]
    assert len(kept) > 10 and all(torch.equal(before[name], after[name]) for name in kept)
    with pytest.raises(UserError, match="model.reinitialize: no module of the model is named 'poolr'"):
        finetune("sst2", tmp_path / "typo", "model.reinitialize=[poolr]", model=bert_checkpoint)


def test_a_head_fine_tuned_for_other_labels_restarts_only_when_asked(bert_checkpoint, tmp_path):
    """A checkpoint fine-tuned on 3 labels, fine-tuned again on CoLA's 2: refused in one line, then with
    model.ignore_mismatched_sizes the encoder is kept and only the head starts again."""
    three_way = tmp_path / "three_way"
    transformers.AutoModelForSequenceClassification.from_pretrained(
        bert_checkpoint, num_labels=3
    ).save_pretrained(three_way)
    transformers.AutoTokenizer.from_pretrained(bert_checkpoint).save_pretrained(three_way)
    overrides = ["training.learning_rate=0", "training.max_steps=1", "training.eval_on_start=false"]
    with pytest.raises(UserError, match="set model.ignore_mismatched_sizes=true"):
        finetune("cola", tmp_path / "refused", *overrides, model=three_way)
    assert not (tmp_path / "refused").exists()

    out = tmp_path / "out"
    finetune(
        "cola",
        out,
        *overrides,
        "model.ignore_mismatched_sizes=true",
        "data.max_eval_samples=16",
        model=three_way,
    )
    before, after = load_file(three_way / "model.safetensors"), load_file(out / "model.safetensors")
    assert after["classifier.weight"].shape[0] == 2 and before["classifier.weight"].shape[0] == 3
    name = "bert.layers.0.attention.query.weight"
    assert torch.equal(before[name], after[name])


# ---------------------------------------------------------------------------------------------------------
# Resuming, errors, the shipped recipes


class Interrupted(Exception):
    pass


class InterruptAt(transformers.TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Interrupted(f"stopped at step {self.step}")


@pytest.mark.parametrize(
    ("adapter", "weights"),
    [([], "model.safetensors"), (["peft.method=lora", "peft.r=4"], "adapter_model.safetensors")],
    ids=["full", "lora"],
)
def test_an_interrupted_run_resumes_and_ends_where_an_uninterrupted_one_does(
    bert_checkpoint, tmp_path, adapter, weights
):
    if adapter:
        pytest.importorskip("peft", reason="the peft extra is not installed")
    overrides = [
        *adapter,
        "training.max_steps=6",
        "training.save_steps=3",
        "training.logging_steps=3",
        "training.eval_strategy=no",
        "training.load_best_model_at_end=false",
        "training.eval_on_start=false",
        "data.max_eval_samples=16",
    ]
    finetune("sst2", tmp_path / "straight", *overrides, model=bert_checkpoint)
    resumed = tmp_path / "resumed"
    with pytest.raises(Interrupted):
        finetune("sst2", resumed, *overrides, model=bert_checkpoint, callbacks=[InterruptAt(5)])
    assert (resumed / "checkpoint-3").is_dir() and not (resumed / "metrics.json").exists()

    metrics = finetune("sst2", resumed, *overrides, model=bert_checkpoint)  # the same command again
    assert metrics["global_step"] == 6
    history = json.loads((resumed / "log_history.json").read_text())
    assert [entry["step"] for entry in history if "loss" in entry] == [3, 6]  # goes on from checkpoint-3
    straight = load_file(tmp_path / "straight" / weights)
    again = load_file(resumed / weights)
    for name, tensor in straight.items():
        torch.testing.assert_close(again[name], tensor, rtol=0, atol=1e-6, msg=name)


@pytest.mark.parametrize("task", ["sst2", "conll2003"])
def test_packed_training_batches_train_as_padded_ones(bert_checkpoint, tmp_path, task):
    """data.pack_sequences: the same examples per step in fewer rows; with dropout off the logged training
    losses and the final evaluation equal the padded run's (the model keeps attention and pooling per example)."""
    overrides = [
        "training.max_steps=12", "training.logging_steps=3", "training.eval_strategy=no",
        "training.load_best_model_at_end=false", "training.eval_on_start=false", "data.max_eval_samples=32",
        "model.config.hidden_dropout_prob=0", "model.config.attention_probs_dropout_prob=0",
        "model.config.classifier_dropout=0",
    ]  # fmt: skip
    padded = finetune(task, tmp_path / "padded", *overrides, model=bert_checkpoint)
    packed = finetune(
        task, tmp_path / "packed", *overrides, "data.pack_sequences=true", model=bert_checkpoint
    )
    history = {
        name: json.loads((tmp_path / name / "log_history.json").read_text()) for name in ("padded", "packed")
    }
    losses = {name: [entry["loss"] for entry in rows if "loss" in entry] for name, rows in history.items()}
    assert len(losses["packed"]) == 4
    assert losses["packed"] == pytest.approx(losses["padded"], rel=1e-4)
    assert packed["eval_loss"] == pytest.approx(padded["eval_loss"], rel=1e-4)


def test_packing_is_refused_where_it_cannot_apply(bert_checkpoint, tmp_path):
    with pytest.raises(
        UserError, match="data.pack_sequences: task squad trains AutoModelForQuestionAnswering"
    ):
        finetune("squad", tmp_path / "qa", "data.pack_sequences=true", model=bert_checkpoint)
    assert not (tmp_path / "qa").exists()


def test_how_often_a_run_evaluates_does_not_change_its_training(bert_checkpoint, tmp_path):
    """Each evaluation's DataLoader draws a seed from torch's generator: without restoring it, evaluating every
    2 steps instead of at the end changed the dropout masks and the next epoch's shuffle (measured on
    word_order: training losses 0.230 vs 0.237 at step 20)."""
    overrides = [
        "training.max_steps=8",
        "training.logging_steps=1",
        "training.save_strategy=no",
        "training.load_best_model_at_end=false",
        "training.eval_on_start=false",
        "data.max_train_samples=32",  # 4 steps an epoch of 8: the shuffle of the second epoch counts too
        "data.max_eval_samples=16",
        "training.per_device_train_batch_size=8",
    ]
    runs = {}
    for every in (2, 8):
        out = tmp_path / f"every_{every}"
        finetune("sst2", out, *overrides, f"training.eval_steps={every}", model=bert_checkpoint)
        history = json.loads((out / "log_history.json").read_text())
        runs[every] = [entry["loss"] for entry in history if "loss" in entry]
        assert len(evaluations(out)) == 8 // every
    assert len(runs[2]) == 8 and runs[2] == runs[8], runs


def test_a_custom_korean_folder_trains_from_scratch_in_one_command(shared_data, tmp_path):
    """`hf-recipes finetune custom --data-dir D --model scratch:hfr_bert/tiny`: no checkpoint, the tokenizer
    trained on the folder's training text (Hangul syllables whole), the saved recipe reruns the same run."""
    source = shared_data / "nsmc" / "train.txt"
    if not source.is_file():
        pytest.skip(f"{source} is absent (see ../shared/data/README.md)")
    folder = tmp_path / "reviews"
    folder.mkdir()
    lines = source.read_text(encoding="utf-8").splitlines()
    for name, rows in (("train.tsv", lines[1:801]), ("validation.tsv", lines[801:1001])):
        body = "".join(f"{row.split(chr(9))[1]}\t{row.split(chr(9))[2]}\n" for row in rows)
        (folder / name).write_text("document\tlabel\n" + body, encoding="utf-8")
    out = tmp_path / "run"
    command = [sys.executable, "-m", "hf_recipes", "finetune", "custom", "--data-dir", str(folder)]
    command += ["--model", "scratch:hfr_bert/tiny", "--output-dir", str(out), "variant=tiny"]
    command += ["task.text_columns=[document]", "tokenizer.vocab_size=3000", "training.disable_tqdm=true"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=OFFLINE)
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "hfr_bert" and config["num_hidden_layers"] == 2  # the tiny preset
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    vocabulary = tokenizer.get_vocab()
    assert "영화" in vocabulary and not any("\u1100" <= c <= "\u11ff" for token in vocabulary for c in token)
    assert tokenizer.tokenize("이 영화 정말 최고")[:2] == ["이", "영화"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["global_step"] == 40 and 0 <= metrics["eval_accuracy"] <= 1
    saved = yaml.safe_load((out / "recipe.yaml").read_text())
    assert (saved["model"]["type"], saved["model"]["size"]) == ("hfr_bert", "tiny")
    assert saved["tokenizer"]["train"] == "wordpiece" and "name_or_path" not in saved["model"]
    again = subprocess.run(
        [sys.executable, "-m", "hf_recipes", "finetune", str(out / "recipe.yaml")],
        capture_output=True,
        text=True,
        timeout=600,
        env=OFFLINE,
    )
    assert again.returncode == 0 and "finished already with this recipe" in again.stderr, again.stderr[-2000:]

    # Any family, its config keys on top of the size (gru: not the default cell) on the same folder.
    lstm = tmp_path / "lstm"
    command = [sys.executable, "-m", "hf_recipes", "finetune", "custom", "--data-dir", str(folder)]
    command += ["--model", "scratch:hfr_rnn/tiny", "model.config.cell=gru", "--output-dir", str(lstm)]
    command += [
        "variant=tiny",
        "task.text_columns=[document]",
        "training.max_steps=4",
        "tokenizer.vocab_size=500",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=OFFLINE)
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((lstm / "config.json").read_text())
    assert (config["model_type"], config["cell"], config["hidden_size"]) == ("hfr_rnn", "gru", 64)


def test_two_cpu_processes_under_accelerate_launch(bert_checkpoint, tmp_path):
    """The documented CPU form of multi-process training (../shared/HF5_NOTES.md): two gloo ranks share the
    batches, the final evaluation gathers every eval example once, and one process writes the files."""
    out = tmp_path / "ddp"
    command = [
        str(Path(sys.executable).parent / "accelerate"),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "hf_recipes",
        "finetune",
        "cola",
        "--model",
        str(bert_checkpoint),
        "--data-dir",
        str(SHARED_DATA),
        "--output-dir",
        str(out),
        "variant=tiny",
        "training.max_steps=4",
        "training.eval_steps=4",
        "training.save_steps=4",
        "data.max_eval_samples=37",  # odd: the last batch is padded across the ranks, then trimmed
    ]
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("done: ") == 1
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    # 4 steps x 32 sentences x 2 processes = 256 of the 512 = half an epoch; one process would be at 0.25.
    assert state["epoch"] == pytest.approx(0.5)
    assert len(read_jsonl(out / "predictions.jsonl")) == 37
    assert json.loads((out / "metrics.json").read_text())["global_step"] == 4


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["task.name=sst3"], "task: unknown task 'sst3'; built-in tasks: cola, conll2003, custom"),
        (["task.colour=red"], "task: task sst2: unknown option 'colour' (options: none)"),
        (["training.learnig_rate=1"], "training.learnig_rate: unknown key; did you mean 'learning_rate'?"),
        (["model.init=random"], "model.init: expected one of ['pretrained', 'scratch'], got str 'random'"),
        (["model.config.classifer_dropout=0.2"], "model.config.classifer_dropout: unknown key; did you mean"),
        (["model.config.num_labels=3"], "model.config.num_labels: set by the task from its labels"),
        (["data.max_length=4096"], "data.max_length: 4096 tokens exceed the 128 that"),
    ],
)
def test_mistakes_are_one_line_and_create_nothing(bert_checkpoint, tmp_path, overrides, expected):
    out = tmp_path / "out"
    with pytest.raises(UserError) as raised:
        finetune("sst2", out, *overrides, model=bert_checkpoint)
    assert expected in str(raised.value) and "\n" not in str(raised.value)
    assert not out.exists()


def test_cli_prints_one_error_line_for_a_missing_checkpoint(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "hf_recipes", "finetune", "sst2", "--output-dir", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no outputs/ here: the recipe's default checkpoint is missing
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: model.name_or_path: outputs/bert_mlm_nsp_wikitext is not a directory; pretrain it first "
        "(make pretrain RECIPE=bert_mlm_nsp_wikitext DATA_DIR=...), or fine-tune another checkpoint: "
        "--model DIR or a Hub id (e.g. bert-base-uncased)"
    ]
    assert not (tmp_path / "out").exists()


SHIPPED = sorted(RECIPES_DIR.glob("finetune/*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_recipe_and_variant_validates(path):
    variants = yaml.safe_load(path.read_text()).get("variants") or {None: None}
    for variant in variants:
        recipe, resolved = finetune_recipe(str(path), [f"variant={variant}"] if variant else [])
        # a checkpoint to fine-tune, or a model type built from a config (the multi30k recipes)
        assert (
            recipe.training and (recipe.model.name_or_path or recipe.model.type) and resolved["task"]["name"]
        )
