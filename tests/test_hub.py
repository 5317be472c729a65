"""Pushing output directories to the Hub (issue 6), proven with the REAL huggingface_hub client against the
local Hub-compatible server of tests/hub_server.py (the real Hub is out of reach from these machines).

Every head of every family in hf_recipes.models.REGISTRY is pushed as a tiny output directory (model, code,
tokenizer, recipe.yaml, metrics.json, plots, and junk that must stay home), then:
1. the server holds exactly the expected files, and the model card's YAML parses with a model-index that
   matches metrics.json;
2. a fresh interpreter where hf_recipes cannot be imported loads each repo from the server with
   AutoModelFor*.from_pretrained(repo, trust_remote_code=True) + AutoTokenizer and gets identical outputs;
3. pushing again makes a new commit, `--revision` pushes to a branch;
4. server down / 401 / 403 / 404 / 500 (at once, or at the commit) / no token → one `error:` line, exit 2,
   output directory unchanged, nothing half-pushed; a bad REPO_ID is refused before any request;
5. the token appears in no file written and no captured output.
A family without an entry in TINY below is skipped with a reason; a new head of a known family is picked up.
"""

import base64
import hashlib
import inspect
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from hf_recipes import cli, hub, model_card
from hf_recipes.errors import UserError
from hf_recipes.models import REGISTRY

from .hub_server import HubServer, use_hub


@dataclass(frozen=True)
class Tiny:
    """A tiny member of a family: its tokenizer kind and config arguments (vocab_size comes from the tokenizer)."""

    tokenizer: str  # "wordpiece" or "bpe"
    config: dict


TINY = {
    "hfr_bert": Tiny(
        "wordpiece",
        dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
        ),
    ),
    "hfr_gpt": Tiny("bpe", dict(n_embd=32, n_layer=2, n_head=2, n_positions=64)),
    "hfr_rnn": Tiny("bpe", dict(embedding_size=16, hidden_size=32, num_hidden_layers=1)),
    "hfr_word2vec": Tiny("word", dict(vector_size=8)),
    "hfr_fasttext": Tiny("word", dict(vector_size=8, bucket=50, min_n=2, max_n=3)),
    "hfr_glove": Tiny("word", dict(vector_size=8)),
    "hfr_captioning": Tiny(
        "bpe",
        dict(
            image_size=16,
            encoder_channels=[4, 8],
            region_grid=2,
            embedding_size=8,
            hidden_size=16,
            attention_size=8,
        ),
    ),
    "hfr_transformer": Tiny(
        "bpe",
        dict(
            d_model=32,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            max_position_embeddings=64,
        ),
    ),
}
# The objective of the families whose pretraining is neither causal LM nor MLM.
OBJECTIVES = {"hfr_word2vec": "word_vectors", "hfr_fasttext": "word_vectors", "hfr_glove": "cooccurrence"}
# The pipeline tag each head must get on the Hub (heads not listed get none).
PIPELINE_TAGS = {
    "AutoModel": "feature-extraction",
    "AutoModelForPreTraining": "fill-mask",
    "AutoModelForMaskedLM": "fill-mask",
    "AutoModelForCausalLM": "text-generation",
    "AutoModelForSequenceClassification": "text-classification",
    "AutoModelForTokenClassification": "token-classification",
    "AutoModelForQuestionAnswering": "question-answering",
    "AutoModelForSeq2SeqLM": "text2text-generation",
    "AutoModelForImageTextToText": "image-text-to-text",
}
FINE_TUNED_HEADS = (
    "AutoModelForSequenceClassification",
    "AutoModelForTokenClassification",
    "AutoModelForQuestionAnswering",
)
BASE_MODEL = "hfr-org/tiny-base"
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world, this is a tiny corpus for tests.",
    "Pretraining then fine-tuning beats training from scratch.",
] * 20
TEXT = "the quick brown fox says hello"
METRICS = {
    "eval_loss": 2.302585,
    "eval_accuracy": 0.5,
    "perplexity": 9.999,
    "eval_runtime": 0.12,
    "eval_samples_per_second": 333.3,
    "epoch": 1.0,
    "train_loss": 2.5,
}
EXPECTED_MODEL_INDEX = {"eval_loss": 2.302585, "eval_accuracy": 0.5, "perplexity": 9.999}
# Files an output directory may hold that must never reach the Hub.
JUNK = [
    "checkpoint-2/model.safetensors",
    "checkpoint-2/optimizer.pt",
    "optimizer.pt",
    "training_args.bin",
    ".cache/huggingface/upload.lock",
    "__pycache__/modeling.cpython-311.pyc",
    "_partial.tmp",
]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
LOGS: list[str] = []  # everything the tests captured from the CLI and subprocesses, grepped for the token


def _cases():
    for model_type, family in sorted(REGISTRY.items()):
        if model_type not in TINY:
            yield pytest.param(
                model_type,
                None,
                id=model_type,
                marks=pytest.mark.skip(
                    reason=f"no tiny builder for model family {model_type!r}: add one to TINY in tests/test_hub.py"
                ),
            )
            continue
        for head in family.heads:
            yield pytest.param(model_type, head.auto_class, id=f"{model_type}-{head.auto_class}")


def _main_head(model_type: str) -> str:
    heads = [head.auto_class for head in REGISTRY[model_type].heads]
    # the head a user of the family most likely pushes: a causal LM, a classifier, a seq2seq model...
    preferred = (
        "AutoModelForCausalLM",
        "AutoModelForSequenceClassification",
        "AutoModelForSeq2SeqLM",
        "AutoModelForMaskedLM",
    )
    return next((h for h in preferred if h in heads), heads[0])


CASES = list(_cases())
ANY_FAMILY = next(
    model_type for model_type in sorted(REGISTRY) if model_type in TINY
)  # for family-blind tests
FAMILIES = [
    pytest.param(
        model_type,
        id=model_type,
        marks=()
        if model_type in TINY
        else pytest.mark.skip(
            reason=f"no tiny builder for model family {model_type!r}: add one to TINY in tests/test_hub.py"
        ),
    )
    for model_type in sorted(REGISTRY)
]


def _repo_id(model_type: str, auto_class: str) -> str:
    return f"hfr-tester/{model_type}-{auto_class.removeprefix('AutoModel').lower() or 'base'}"


# ------------------------------------------------------------------------------------------------------------
# Building tiny output directories
# ------------------------------------------------------------------------------------------------------------
def _tokenizer(kind: str) -> PreTrainedTokenizerFast:
    if kind == "word":
        from hf_recipes.data.tokenization import train_tokenizer

        return train_tokenizer(CORPUS, "word", 100, lowercase=True, min_frequency=1)
    if kind == "wordpiece":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.train_from_iterator(
            CORPUS, trainers.WordPieceTrainer(vocab_size=150, special_tokens=specials)
        )
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[(t, tokenizer.token_to_id(t)) for t in ("[CLS]", "[SEP]")],
        )
        tokenizer.decoder = decoders.WordPiece()
        return PreTrainedTokenizerFast(
            tokenizer_object=tokenizer,
            unk_token="[UNK]",
            pad_token="[PAD]",
            cls_token="[CLS]",
            sep_token="[SEP]",
            mask_token="[MASK]",
            model_input_names=["input_ids", "token_type_ids", "attention_mask"],
        )
    specials = ["<|endoftext|>", "<|pad|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<|pad|>"
    )


def _build_model(model_type: str, auto_class: str, tokenizer: PreTrainedTokenizerFast):
    family = REGISTRY[model_type]
    kwargs = dict(TINY[model_type].config, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    if auto_class in FINE_TUNED_HEADS:
        kwargs.update(
            id2label={0: "negative", 1: "neutral", 2: "positive"},
            label2id={"negative": 0, "neutral": 1, "positive": 2},
        )
    torch.manual_seed(0)
    return family.head(auto_class)(family.config_class(**kwargs)).eval()


def _write_output_dir(out: Path, model_type: str, auto_class: str):
    """A complete output directory as a training job leaves it; returns the model and tokenizer."""
    tokenizer = _tokenizer(TINY[model_type].tokenizer)
    model = _build_model(model_type, auto_class, tokenizer)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    fine_tuned = auto_class in FINE_TUNED_HEADS
    if fine_tuned:  # a fine-tuning run: a base model from the Hub and a task with its Hub dataset
        recipe = {
            "description": "Tiny fine-tuning run for the Hub tests.",
            "task": {"name": "sst2", "hub_dataset": "nyu-mll/glue", "hub_config": "sst2"},
            "model": {"name_or_path": BASE_MODEL},
        }
    else:  # the pretraining recipe schema of hf_recipes/recipe.py
        recipe = {
            "description": "Tiny pretraining run for the Hub tests.",
            "objective": {
                "type": OBJECTIVES.get(
                    model_type, "causal_lm" if auto_class == "AutoModelForCausalLM" else "mlm_nsp"
                )
            },
            "model": {"type": model_type, "size": "tiny", "config": {}},
            "tokenizer": {"train": TINY[model_type].tokenizer, "vocab_size": len(tokenizer)},
            "data": {
                "hub": {"path": "Salesforce/wikitext", "name": "wikitext-2-v1"},
                "local": {"train": "wikitext-2/valid.txt"},
            },
        }
    recipe.update(
        output_dir=str(out),
        training={"learning_rate": 0.0005, "max_steps": 20, "per_device_train_batch_size": 8, "seed": 42},
    )
    (out / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    (out / "metrics.json").write_text(json.dumps(METRICS, indent=2))
    (out / "trainer_state.json").write_text(json.dumps({"log_history": [{"loss": 2.5, "step": 10}]}))
    (out / "loss.png").write_bytes(PNG)
    (out / "plots").mkdir()
    (out / "plots" / "confusion_matrix.png").write_bytes(PNG)
    (out / "predictions.jsonl").write_text('{"text": "hello", "prediction": 1}\n')
    (out / "README.md").write_text("# my local notes\n")
    for junk in JUNK:
        (out / junk).parent.mkdir(parents=True, exist_ok=True)
        (out / junk).write_bytes(b"not for the Hub")
    return model, tokenizer


def _tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under root (hidden ones too) → (sha256, mtime_ns)."""
    return {
        p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _card(files: dict[str, bytes]) -> tuple[dict, str]:
    text = files["README.md"].decode()
    assert text.startswith("---\n")
    header, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(header), body


# ------------------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------------------
class _Collect(logging.Handler):
    def emit(self, record):
        LOGS.append(self.format(record))


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory):
    """The local Hub, with HF_ENDPOINT/HF_TOKEN set (and HF_HUB_OFFLINE cleared) for the whole module; the
    libraries log at DEBUG into LOGS meanwhile."""
    from huggingface_hub import constants

    home = tmp_path_factory.mktemp("hf_home")
    handler = _Collect(logging.DEBUG)
    loggers = [
        logging.getLogger(name) for name in ("huggingface_hub", "transformers", "hf_recipes", "httpx2")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    with HubServer() as server, pytest.MonkeyPatch.context() as patch:
        use_hub(patch, server)
        patch.setenv("HF_HOME", str(home))
        patch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))  # not the machine's login cache
        yield server
    for logger, level in zip(loggers, levels):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, hub_server):
    """(model_type, auto_class) → (output dir, model, tokenizer) for every buildable head."""
    built = {}
    for case in CASES:
        model_type, auto_class = case.values
        if model_type in TINY:
            out = tmp_path_factory.mktemp(f"{model_type}-{auto_class}")
            built[model_type, auto_class] = (out, *_write_output_dir(out, model_type, auto_class))
    return built


@pytest.fixture(scope="module")
def pushed(outputs, hub_server):
    """Push every output directory once; (model_type, auto_class) → (commit url, digest before, digest after)."""
    results = {}
    for (model_type, auto_class), (out, _, _) in outputs.items():
        before = _tree_digest(out)
        url = hub.push(out, _repo_id(model_type, auto_class))
        results[model_type, auto_class] = (url, before, _tree_digest(out))
    return results


def model_inputs(model, encoded):
    """The inputs of a model for the text `encoded`: the text (and, for an encoder-decoder, the text again as the
    decoder's); an image model (the captioner) gets a fixed image and the text as its caption. Run here and, as
    source, in the fresh interpreter of LOADER."""
    import inspect

    import torch

    inputs = dict(encoded)
    if model.main_input_name == "pixel_values":
        size = model.config.image_size
        inputs = {"pixel_values": torch.linspace(-1, 1, 3 * size * size).reshape(1, 3, size, size)}
    if model.config.is_encoder_decoder and "decoder_input_ids" in inspect.signature(model.forward).parameters:
        inputs["decoder_input_ids"] = encoded["input_ids"]
    return inputs


LOADER = (
    inspect.getsource(model_inputs)
    + r"""
import json, sys
sys.modules["hf_recipes"] = None  # any import of hf_recipes now raises: only the repo's own code may load
import torch
import transformers
from transformers import AutoTokenizer

results = {}
for repo_id, auto_class, text in json.loads(sys.argv[1]):
    tokenizer = AutoTokenizer.from_pretrained(repo_id)
    model = getattr(transformers, auto_class).from_pretrained(repo_id, trust_remote_code=True).eval()
    encoded = tokenizer(text, return_tensors="pt")
    inputs = model_inputs(model, encoded)
    with torch.no_grad():
        output = model(**inputs)
    results[repo_id] = {
        "input_ids": encoded["input_ids"][0].tolist(),
        "module": type(model).__module__,
        "outputs": {k: v.tolist() for k, v in output.items() if torch.is_tensor(v)},
    }
print("\nRESULTS " + json.dumps(results))  # on its own line: AutoTokenizer's trust prompt has no newline
"""
)


def _run_python(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`python *argv` in a fresh interpreter with this module's Hub environment and its own HF cache."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no other route to the checkout
    env.update(HF_MODULES_CACHE=str(cwd / "hf_modules"), HF_HOME=str(cwd / "hf_home"))
    result = subprocess.run(
        [sys.executable, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    LOGS.extend([result.stdout, result.stderr])
    return result


@pytest.fixture(scope="module")
def loaded_elsewhere(pushed, hub_server, tmp_path_factory):
    """One fresh interpreter without hf_recipes loads every pushed repo from the server."""
    work = tmp_path_factory.mktemp("fresh_process")
    jobs = [(_repo_id(mt, ac), ac, TEXT) for mt, ac in pushed]
    result = _run_python(["-c", textwrap.dedent(LOADER), json.dumps(jobs)], work)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.rsplit("\nRESULTS ", 1)[1])


# ------------------------------------------------------------------------------------------------------------
# 1. what lands on the Hub, and the model card
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("model_type", "auto_class"), CASES)
def test_push_uploads_every_expected_file(model_type, auto_class, outputs, pushed, hub_server):
    out = outputs[model_type, auto_class][0]
    url, before, after = pushed[model_type, auto_class]
    repo_id = _repo_id(model_type, auto_class)
    files = hub_server.files(repo_id)
    head = hub_server.commits(repo_id)[0]
    assert url == f"{hub_server.url}/{repo_id}/commit/{head.oid}"

    code_files = {p.name for p in out.glob("*.py")}
    assert {"modeling_" + model_type.removeprefix("hfr_") + ".py"} <= code_files
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "recipe.yaml",
        "metrics.json",
        "trainer_state.json",
        "loss.png",
        "plots/confusion_matrix.png",
        "predictions.jsonl",
        *code_files,
    } <= set(files)
    local = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    expected = (local - set(JUNK)) | {"README.md", ".gitattributes"}
    assert set(files) == expected, "every file but the junk (checkpoints, optimizer, caches...) is pushed"
    for name in expected - {"README.md", ".gitattributes"}:
        assert files[name] == (out / name).read_bytes(), name
    config = json.loads(files["config.json"])
    assert set(config["auto_map"]) == {"AutoConfig", *(h.auto_class for h in REGISTRY[model_type].heads)}
    assert before == after, "push wrote into the output directory"
    assert (out / "README.md").read_text() == "# my local notes\n"


@pytest.mark.parametrize(("model_type", "auto_class"), CASES)
def test_model_card_metadata_and_body(model_type, auto_class, outputs, pushed, hub_server):
    repo_id = _repo_id(model_type, auto_class)
    meta, body = _card(hub_server.files(repo_id))
    architecture = REGISTRY[model_type].head(auto_class).__name__

    assert meta["library_name"] == "transformers"
    assert {"hf-recipes", model_type, architecture} <= set(meta["tags"])
    assert meta["license"]
    assert meta.get("pipeline_tag") == PIPELINE_TAGS.get(auto_class)
    fine_tuned = auto_class in FINE_TUNED_HEADS
    assert meta.get("base_model") == (BASE_MODEL if fine_tuned else None)
    assert meta["datasets"] == (["nyu-mll/glue"] if fine_tuned else ["Salesforce/wikitext"])
    assert ("sst2" if fine_tuned else "wikitext-2-v1") == meta["model-index"][0]["results"][0]["dataset"][
        "config"
    ]

    [entry] = meta["model-index"]
    [result] = entry["results"]
    assert result["task"]["type"] == PIPELINE_TAGS.get(auto_class, "other")
    assert result["dataset"]["type"] == meta["datasets"][0]
    assert {m["name"]: m["value"] for m in result["metrics"]} == EXPECTED_MODEL_INDEX
    assert {m["type"] for m in result["metrics"]} == {"loss", "accuracy", "perplexity"}

    assert f'{auto_class}.from_pretrained("{repo_id}", trust_remote_code=True)' in body
    assert f'AutoTokenizer.from_pretrained("{repo_id}"' in body
    assert "![Training and evaluation loss](loss.png)" in body
    assert "plots/confusion_matrix.png" in body
    assert "| eval_accuracy | 0.5000 |" in body
    assert "learning_rate" in body and "recipe.yaml" in body


# ------------------------------------------------------------------------------------------------------------
# 2. loading from the Hub without hf_recipes
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("model_type", "auto_class"), CASES)
def test_loads_from_hub_without_hf_recipes(model_type, auto_class, outputs, loaded_elsewhere):
    _, model, tokenizer = outputs[model_type, auto_class]
    remote = loaded_elsewhere[_repo_id(model_type, auto_class)]
    assert not remote["module"].startswith("hf_recipes"), remote["module"]
    encoded = tokenizer(TEXT, return_tensors="pt")
    assert remote["input_ids"] == encoded["input_ids"][0].tolist()
    inputs = model_inputs(model, encoded)
    with torch.no_grad():
        local = {k: v for k, v in model(**inputs).items() if torch.is_tensor(v)}
    assert set(remote["outputs"]) == set(local)
    for name, value in local.items():
        loaded = torch.tensor(remote["outputs"][name], dtype=value.dtype)
        if "logits" in name and model.main_input_name != "pixel_values":
            assert torch.equal(loaded, value), f"{name} differ"
        elif "logits" in name:  # oneDNN's convolutions may sum in another order in another process
            torch.testing.assert_close(loaded, value, rtol=0, atol=1e-5)
        else:  # hidden states / pooler: BERT's pooler has been seen 1 ulp apart across processes
            torch.testing.assert_close(loaded, value, rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------------------------
# 3. pushing again, and to a branch
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_type", FAMILIES)
def test_push_again_and_to_a_branch(model_type, outputs, hub_server, tmp_path):
    auto_class = _main_head(model_type)
    out = tmp_path / "out"
    shutil.copytree(outputs[model_type, auto_class][0], out)
    repo_id = f"hfr-org/{model_type}-again"

    first = hub.push(out, repo_id)
    assert hub.push(out, repo_id) == first, "an unchanged directory makes no new commit"
    (out / "metrics.json").write_text(json.dumps({**METRICS, "eval_accuracy": 0.75}))
    second = hub.push(out, repo_id, commit_message="better run")
    history = hub_server.commits(repo_id)
    assert second != first and second.endswith(history[0].oid)
    assert history[0].title == "better run" and history[0].parent == history[1].oid
    assert first.endswith(history[1].oid)
    meta, _ = _card(hub_server.files(repo_id))
    assert {m["name"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}[
        "eval_accuracy"
    ] == 0.75

    main_head = history[0].oid
    (out / "metrics.json").write_text(json.dumps({**METRICS, "eval_accuracy": 0.8}))
    on_branch = hub.push(out, repo_id, revision="experiment/lr-2e-4")
    branches = hub_server.branches(repo_id)
    assert branches["main"] == main_head, "a push to a branch leaves main alone"
    assert on_branch.endswith(branches["experiment/lr-2e-4"])
    branch_files = hub_server.files(repo_id, "experiment/lr-2e-4")
    assert json.loads(branch_files["metrics.json"])["eval_accuracy"] == 0.8
    assert hub_server.commits(repo_id, "experiment/lr-2e-4")[1].oid == main_head


def test_cli_push_with_every_option(outputs, hub_server, capfd):
    """`hf-recipes push OUT REPO --private --revision dev --commit-message ...` through the CLI's own main."""
    model_type = ANY_FAMILY
    out = outputs[model_type, _main_head(model_type)][0]
    before = _tree_digest(out)
    capfd.readouterr()
    status = cli.main(
        [
            "push",
            str(out),
            "hfr-tester/from-cli",
            "--private",
            "--revision",
            "dev",
            "--commit-message",
            "pushed from the CLI",
        ]
    )
    captured = capfd.readouterr()
    LOGS.extend([captured.out, captured.err])
    assert status == 0, captured.err
    commit = hub_server.commits("hfr-tester/from-cli", "dev")[0]
    assert commit.title == "pushed from the CLI"
    assert captured.out.strip().splitlines()[-1].endswith(f"/hfr-tester/from-cli/commit/{commit.oid}")
    assert hub_server.repos["hfr-tester/from-cli"].private
    assert "README.md" in hub_server.files("hfr-tester/from-cli", "dev")
    assert _tree_digest(out) == before


# ------------------------------------------------------------------------------------------------------------
# 4. failures: one line, non-zero exit, nothing touched
# ------------------------------------------------------------------------------------------------------------
def _dead_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more: connection refused


FAILURES = {  # what goes wrong → what its one error line must say
    "server-down": "cannot reach the Hub",
    "bad-token": "401 Unauthorized",
    "forbidden-namespace": "403 Forbidden",
    "repo-not-found-404": "was not found",
    "server-error-500": "failed with 500",
    "server-error-500-at-commit": "failed with 500",
    "no-token": "no Hugging Face token",
}


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("model_type", FAMILIES)
def test_push_failure_is_one_error_line(model_type, failure, outputs, hub_server, monkeypatch, capfd):
    out = outputs[model_type, _main_head(model_type)][0]
    repo_id = (
        "someone-else/model" if failure == "forbidden-namespace" else f"hfr-tester/{model_type}-{failure}"
    )
    if failure == "server-down":
        from huggingface_hub import constants

        monkeypatch.setattr(constants, "ENDPOINT", _dead_endpoint())
    elif failure == "bad-token":
        monkeypatch.setenv("HF_TOKEN", "hf_wrongTokenNotKnownToTheServer")
    elif failure == "repo-not-found-404":
        monkeypatch.setattr(hub_server, "fail_with", 404)
    elif failure == "server-error-500":
        monkeypatch.setattr(hub_server, "fail_with", 500)
    elif failure == "server-error-500-at-commit":  # the repo gets created, then its commit fails
        monkeypatch.setattr(hub_server, "fail_with", 500)
        monkeypatch.setattr(hub_server, "fail_path", "/commit/")
    elif failure == "no-token":
        monkeypatch.delenv("HF_TOKEN")
    before = _tree_digest(out)
    capfd.readouterr()

    status = cli.main(["push", str(out), repo_id])

    captured = capfd.readouterr()
    LOGS.extend([captured.out, captured.err])
    lines = captured.err.strip().splitlines()
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert FAILURES[failure] in lines[0]
    assert captured.out == ""
    assert _tree_digest(out) == before
    if failure == "server-error-500-at-commit":
        assert [c.title for c in hub_server.commits(repo_id)] == ["initial commit"], "nothing half-pushed"
    else:
        assert repo_id not in hub_server.repos


@pytest.mark.parametrize(
    "repo_id",
    [
        "no-namespace",
        "a/b/c",
        "",
        "bad name/model",
        "user/-model",
        "user/a..b",
        "user/model.git",
        "/model",
        "user/",
    ],
)
def test_bad_repo_id_is_refused_before_any_request(repo_id, outputs, hub_server, capfd):
    model_type = ANY_FAMILY
    out = outputs[model_type, _main_head(model_type)][0]
    hub_server.requests.clear()
    assert cli.main(["push", str(out), repo_id]) == 2
    err = capfd.readouterr().err
    LOGS.append(err)
    assert err.startswith("error: REPO_ID must be namespace/name") and err.count("\n") == 1
    assert hub_server.requests == []


def test_bad_branch_and_missing_dir_are_refused_before_any_request(outputs, hub_server, tmp_path):
    model_type = ANY_FAMILY
    out = outputs[model_type, _main_head(model_type)][0]
    hub_server.requests.clear()
    with pytest.raises(UserError, match="branch name"):
        hub.push(out, "hfr-tester/x", revision="../main")
    with pytest.raises(UserError, match="not a directory"):
        hub.push(tmp_path / "missing", "hfr-tester/x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        hub.push(tmp_path / "empty", "hfr-tester/x")
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    next(broken.glob("modeling_*.py")).unlink()
    with pytest.raises(UserError, match="auto_map needs it"):
        hub.push(broken, "hfr-tester/x")
    assert hub_server.requests == []


# ------------------------------------------------------------------------------------------------------------
# 5. the token
# ------------------------------------------------------------------------------------------------------------
def test_token_from_the_login_cache(outputs, hub_server, monkeypatch, tmp_path):
    from huggingface_hub import constants

    model_type = ANY_FAMILY
    token_file = tmp_path / "token"
    token_file.write_text(hub_server.token)
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(token_file))
    try:
        url = hub.push(outputs[model_type, _main_head(model_type)][0], "hfr-tester/login-cache")
    finally:
        token_file.unlink()  # the user's own login cache; the final sweep greps everything else
    assert url.startswith(f"{hub_server.url}/hfr-tester/login-cache/commit/")


def test_a_file_holding_the_token_is_never_pushed(outputs, hub_server, tmp_path):
    model_type = ANY_FAMILY
    out = tmp_path / "out"
    shutil.copytree(outputs[model_type, _main_head(model_type)][0], out)
    try:
        _push_with_a_token_inside(out, hub_server)
    finally:
        shutil.rmtree(out)  # the user wrote the token there themselves; the final sweep greps everything else


def _push_with_a_token_inside(out: Path, hub_server: HubServer) -> None:
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    recipe["training"].update(push_to_hub=True, hub_model_id="hfr-tester/secret", hub_token=hub_server.token)
    (out / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    hub.push(out, "hfr-tester/secret")
    pushed_recipe = yaml.safe_load(hub_server.files("hfr-tester/secret")["recipe.yaml"])
    assert pushed_recipe["training"]["hub_token"] == "<redacted>"
    assert hub_server.token in (out / "recipe.yaml").read_text(), "the user's own file is left as it was"

    (out / "predictions.jsonl").write_text(f'{{"oops": "{hub_server.token}"}}\n')
    hub_server.requests.clear()
    with pytest.raises(UserError, match="predictions.jsonl contains your Hub token") as error:
        hub.push(out, "hfr-tester/secret")
    assert hub_server.token not in str(error.value)
    assert hub_server.requests == []


# ------------------------------------------------------------------------------------------------------------
# The end of a training run: the Trainer's hub integration, then our final commit
# ------------------------------------------------------------------------------------------------------------
def test_push_after_training_with_the_trainers_hub_integration(hub_server, tmp_path):
    from transformers import Trainer, TrainingArguments

    model_type = "hfr_gpt" if "hfr_gpt" in REGISTRY else ANY_FAMILY
    auto_class = _main_head(model_type)
    tokenizer = _tokenizer(TINY[model_type].tokenizer)
    model = _build_model(model_type, auto_class, tokenizer).train()
    ids = tokenizer(CORPUS[0])["input_ids"][:16]
    example = (
        {"input_ids": ids, "labels": ids}
        if auto_class == "AutoModelForCausalLM"
        else {"input_ids": ids, "labels": 1}
    )
    out = tmp_path / "run"
    args = TrainingArguments(
        output_dir=str(out),
        max_steps=2,
        per_device_train_batch_size=2,
        save_strategy="steps",
        save_steps=2,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        push_to_hub=True,
        hub_model_id="hfr-tester/trained",
        hub_strategy="checkpoint",
    )
    trainer = Trainer(model=model, args=args, train_dataset=[example] * 4, processing_class=tokenizer)
    assert "hfr-tester/trained" in hub_server.repos, "the Trainer creates the repo when it is built"
    trainer.train()
    trainer.save_model()
    (out / "metrics.json").write_text(json.dumps(METRICS))
    (out / "loss.png").write_bytes(PNG)
    (out / "recipe.yaml").write_text(
        yaml.safe_dump({"training": {"push_to_hub": True, "hub_model_id": "hfr-tester/trained"}})
    )

    url = hub.push_after_training(trainer)

    history = hub_server.commits("hfr-tester/trained")
    assert url.endswith(history[0].oid) and history[0].title == "End of training"
    assert any(c.title.startswith("Training in progress") for c in history), (
        "the Trainer pushed while training"
    )
    files = hub_server.files("hfr-tester/trained")
    assert {
        "model.safetensors",
        "config.json",
        "metrics.json",
        "loss.png",
        "recipe.yaml",
        "tokenizer.json",
    } <= set(files)
    assert any(name.startswith("last-checkpoint/") for name in files), (
        "hub_strategy=checkpoint pushed the checkpoint"
    )
    assert not any(name.startswith("checkpoint-") for name in files)
    meta, _ = _card(files)
    assert "hf-recipes" in meta["tags"]
    assert {m["name"] for m in meta["model-index"][0]["results"][0]["metrics"]} == set(EXPECTED_MODEL_INDEX)

    trainer.args.push_to_hub = False
    assert hub.push_after_training(trainer) is None


def test_write_model_card_is_atomic(outputs, tmp_path):
    model_type = ANY_FAMILY
    out = tmp_path / "out"
    shutil.copytree(outputs[model_type, _main_head(model_type)][0], out)
    path = model_card.write_model_card(out, repo_id="hfr-tester/local")
    assert path == out / "README.md"
    meta, body = _card({"README.md": path.read_bytes()})
    assert meta["library_name"] == "transformers" and "hfr-tester/local" in body
    assert not list(out.glob(".README.*")), "no temporary file left behind"


def test_the_token_never_appears_in_files_or_logs(hub_server, pushed, loaded_elsewhere, tmp_path_factory):
    """Runs last in this module: greps everything the tests above wrote, captured or pushed."""
    token = hub_server.token
    needle = token.encode()
    written = [p for p in tmp_path_factory.getbasetemp().rglob("*") if p.is_file()]
    assert len(written) > 100, (
        "the sweep must see the outputs, HF caches and module caches of the tests above"
    )
    assert [p for p in written if needle in p.read_bytes()] == []
    for repo in hub_server.repos.values():
        for commit in repo.commits.values():
            assert token not in commit.title + commit.description
            assert [path for path, data in commit.files.items() if needle in data] == [], repo.repo_id
    assert len(LOGS) > 10 and [log for log in LOGS if token in log] == []


# --- model-card facts that depend on how the run started -------------------------------------------------------


def _render(tmp_path: Path, config: dict, recipe: dict, metrics: dict) -> tuple[dict, str]:
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    card = model_card.render_model_card(tmp_path, repo_id="me/model")
    _, metadata, body = card.split("---\n", 2)
    return yaml.safe_load(metadata), body


def test_a_scratch_run_names_no_base_model_and_best_eval_bookkeeping_is_not_a_result(tmp_path):
    config = {
        "model_type": "hfr_bert",
        "architectures": ["HfrBertForSequenceClassification"],
        "auto_map": {"AutoModelForSequenceClassification": "modeling_bert.HfrBertForSequenceClassification"},
    }
    metrics = {"eval_accuracy": 0.81, "best_eval_loss": 0.4, "best_eval_step": 200, "train_runtime": 9.0}
    recipe = {"task": {"name": "sst2"}, "model": {"name_or_path": "me/bert-wiki", "init": "scratch"}}
    metadata, body = _render(tmp_path, config, recipe, metrics)
    assert "base_model" not in metadata
    assert "trained from random weights (the architecture and tokenizer of `me/bert-wiki`)" in body
    results = metadata["model-index"][0]["results"][0]["metrics"]
    assert [m["name"] for m in results] == ["eval_accuracy"]

    recipe["model"]["init"] = "pretrained"
    metadata, body = _render(tmp_path, config, recipe, metrics)
    assert metadata["base_model"] == "me/bert-wiki" and "fine-tuned from [me/bert-wiki]" in body


def test_a_checkpoint_carrying_its_pipeline_is_loaded_with_trust_remote_code(tmp_path):
    """A transformers BART fine-tuned for translation has no auto_map, but its pipeline is custom code."""
    config = {
        "model_type": "bart",
        "architectures": ["BartForConditionalGeneration"],
        "custom_pipelines": {"translation": {"impl": "pipeline_seq2seq.TranslationPipeline"}},
    }
    recipe = {"task": {"name": "multi30k"}, "model": {"name_or_path": "facebook/bart-base"}}
    _, body = _render(tmp_path, config, recipe, {"eval_bleu": 30.0})
    assert 'pipeline("translation", model="me/model", trust_remote_code=True)' in body
    assert 'AutoModelForSeq2SeqLM.from_pretrained("me/model")' in body  # the model itself is built in
