"""`peft:` in a fine-tuning recipe: LoRA (and the other peft methods) on our BERT and GPT checkpoints, real
Trainer, real peft, real output directories loaded back the way a user loads them."""

import json
import subprocess
import sys

import pytest
import torch
import transformers
from safetensors.torch import load_file
from transformers import TrainerCallback

from hf_recipes.errors import UserError
from hf_recipes.hub import push
from hf_recipes.jobs.evaluate import run as evaluate
from hf_recipes.model_card import render_model_card
from tests.conftest import SHARED_DATA
from tests.hub_server import HubServer, use_hub
from tests.jobs.test_finetune import assert_improved, finetune, read_jsonl

peft = pytest.importorskip("peft", reason="the peft extra is not installed (pip install 'hf-recipes[peft]')")

LORA = ["peft.method=lora", "peft.r=4", "peft.alpha=8", "peft.dropout=0.0", "data.max_eval_samples=64"]


class WeightsBeforeAndAfter(TrainerCallback):
    """The model's parameters (by name) when training starts and when it ends, and which of them train."""

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.before = {name: p.detach().clone() for name, p in model.named_parameters()}
        self.trainable = {name for name, p in model.named_parameters() if p.requires_grad}

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.after = {name: p.detach().clone() for name, p in model.named_parameters()}

    def changed(self) -> set[str]:
        return {name for name, before in self.before.items() if not torch.equal(before, self.after[name])}


def sentences(tokenizer):
    return tokenizer(
        ["a fine , moving film", "a dull , tired mess of a movie", "it is what it is"],
        padding=True,
        return_tensors="pt",
    )


@pytest.fixture(scope="module")
def bert_lora(bert_checkpoint, tmp_path_factory):
    """LoRA (r 4) on our BERT for SST-2: (output directory, metrics, the weights before and after training)."""
    weights = WeightsBeforeAndAfter()
    out = tmp_path_factory.mktemp("runs") / "lora"
    metrics = finetune("sst2", out, *LORA, model=bert_checkpoint, callbacks=[weights])
    return out, metrics, weights


def test_lora_on_bert_trains_the_adapter_and_the_head_alone(bert_lora):
    """Only LoRA's matrices (on every linear layer of the encoder, none on the head) and the new classifier
    change, and the run improves on its first evaluation."""
    out, metrics, weights = bert_lora
    assert_improved(out, metrics)
    assert weights.changed() == weights.trainable
    assert weights.trainable and all("lora_" in name or ".classifier." in name for name in weights.trainable)
    adapted = {name.split(".lora_")[0] for name in weights.trainable if "lora_" in name}
    layer = {
        "attention.query",
        "attention.key",
        "attention.value",
        "attention.output",
        "intermediate",
        "output",
    }
    assert {name.split("layers.0.")[-1] for name in adapted if "layers.0." in name} == layer
    assert "base_model.model.bert.pooler.dense" in adapted
    assert not any("classifier" in name for name in adapted)


def test_the_output_directory_is_the_adapter_and_loads_onto_its_base(bert_lora, tmp_path):
    """The output directory is the adapter alone (no base weights), which transformers and peft load back onto
    the base checkpoint with the run's predictions, which `hf-recipes evaluate` scores as the run did, and
    whose card says it is a peft adapter and how to load it."""
    out, metrics, _ = bert_lora
    assert not (out / "model.safetensors").exists() and not (out / "config.json").exists()
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA" and adapter["r"] == 4 and adapter["task_type"] == "SEQ_CLS"
    saved = load_file(out / "adapter_model.safetensors")
    assert not any("word_embeddings" in name for name in saved)
    assert any("classifier" in name for name in saved) and any("lora_A" in name for name in saved)

    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    loaded = transformers.AutoModelForSequenceClassification.from_pretrained(out, num_labels=2).eval()
    auto_peft = peft.AutoPeftModelForSequenceClassification.from_pretrained(out, num_labels=2).eval()
    rows = read_jsonl(out / "predictions.jsonl")[:16]
    inputs = tokenizer([row["sentence"] for row in rows], padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        logits = loaded(**inputs).logits
        torch.testing.assert_close(logits, auto_peft(**inputs).logits)
    label_names = {0: "negative", 1: "positive"}
    assert [label_names[i] for i in logits.argmax(-1).tolist()] == [row["prediction"] for row in rows]

    evaluated = evaluate(str(out), data_dir=str(SHARED_DATA), output_dir=str(tmp_path / "evaluated"))
    assert evaluated["eval_accuracy"] == metrics["eval_accuracy"] and evaluated["num_examples"] == 64

    card = (out / "README.md").read_text()
    assert "library_name: peft" in card and "- lora" in card
    assert "AutoPeftModelForSequenceClassification.from_pretrained(" in card
    assert "num_labels=2, trust_remote_code=True" in card


def test_push_uploads_the_adapter_alone_and_it_loads_from_the_hub(bert_lora, monkeypatch, tmp_path):
    """`hf-recipes push` on the output directory: the adapter, tokenizer, card and run files, no base weights;
    a fresh interpreter loads the pushed adapter with peft from the (local) Hub onto its base and gets the
    outputs of the local one (a subprocess: huggingface_hub's default client keeps the endpoint it started
    with)."""
    out, _, _ = bert_lora
    script = tmp_path / "load.py"
    script.write_text(
        "import json, sys, torch\n"
        "from peft import AutoPeftModelForSequenceClassification\n"
        "from transformers import AutoTokenizer\n"
        "model = AutoPeftModelForSequenceClassification.from_pretrained(\n"
        "    sys.argv[1], num_labels=2, trust_remote_code=True  # our BERT's code, from the base checkpoint\n"
        ").eval()\n"
        "inputs = AutoTokenizer.from_pretrained(sys.argv[1])(['a fine film'], return_tensors='pt')\n"
        "with torch.no_grad():\n"
        "    print(json.dumps(model(**inputs).logits.tolist()))\n"
    )
    with HubServer() as server:
        use_hub(monkeypatch, server)
        push(out, "hfr-org/bert-lora-sst2")
        files = server.files("hfr-org/bert-lora-sst2")
        loaded = subprocess.run(
            [sys.executable, str(script), "hfr-org/bert-lora-sst2"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md", "tokenizer.json"} <= set(files)
    assert not any(name.startswith("checkpoint-") for name in files) and "model.safetensors" not in files
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    local = peft.AutoPeftModelForSequenceClassification.from_pretrained(out, num_labels=2).eval()
    inputs = transformers.AutoTokenizer.from_pretrained(out)(["a fine film"], return_tensors="pt")
    with torch.no_grad():
        expected = local(**inputs).logits
    torch.testing.assert_close(torch.tensor(json.loads(loaded.stdout.splitlines()[-1])), expected)


def test_merged_lora_on_gpt_equals_the_adapter_on_its_base(tmp_path, bpe_tokenizer):
    """`peft.merge: true` on our GPT (sst2_gpt: the score head, the auxiliary LM loss through the frozen tied
    LM head): the output directory is a whole model that loads without peft and serves a pipeline; its outputs
    are those of the adapter in adapter/ put on the base checkpoint."""
    eos = "<|endoftext|>"
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe_tokenizer.backend_tokenizer, bos_token=eos, eos_token=eos, pad_token=eos
    )
    config = transformers.AutoConfig.for_model(
        "hfr_gpt", vocab_size=len(tokenizer), n_positions=64, n_embd=64, n_layer=2, n_head=2
    )
    base = tmp_path / "gpt"
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(base)
    tokenizer.save_pretrained(base)

    weights = WeightsBeforeAndAfter()
    out = tmp_path / "merged"
    finetune("sst2_gpt", out, *LORA, "peft.merge=true", model=base, callbacks=[weights])
    assert weights.changed() == weights.trainable
    assert all("lora_" in name or ".score." in name for name in weights.trainable)
    assert not any("lm_head" in name or "wte" in name for name in weights.changed())

    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    assert not any("lora" in name for name in load_file(out / "model.safetensors"))
    merged = transformers.AutoModelForSequenceClassification.from_pretrained(out).eval()
    base_model = transformers.AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
    unmerged = peft.PeftModel.from_pretrained(base_model, out / "adapter").eval()
    inputs = sentences(tokenizer)
    with torch.no_grad():
        torch.testing.assert_close(merged(**inputs).logits, unmerged(**inputs).logits, rtol=1e-4, atol=1e-5)
    classify = transformers.pipeline("text-classification", model=str(out), device="cpu")
    assert len(classify(["a fine film", "a dull film"])) == 2
    assert "library_name: transformers" in (out / "README.md").read_text()
    assert "library_name: peft" in render_model_card(out / "adapter")


@pytest.mark.parametrize(
    ("task", "overrides", "head", "adapted"),
    [
        ("conll2003", ["peft.r=8", "peft.target_modules=[query,value]", "peft.merge=true"], "classifier",
         {"attention.query", "attention.value"}),
        ("sst2", ["peft.method=ia3", "peft.config={target_modules: [value, output], feedforward_modules: [output]}"],
         "classifier", {"attention.value", "attention.output", "output"}),
        ("squad", ["peft.method=loha", "peft.r=4", "peft.alpha=4"], "qa_outputs",
         {"attention.query", "attention.key", "attention.value", "attention.output", "intermediate", "output"}),
    ],
)  # fmt: skip
def test_other_tasks_and_methods_train_the_adapter_and_the_head_alone(
    bert_checkpoint, tmp_path, task, overrides, head, adapted
):
    """Token classification (merged), question answering, IA3 and LoHa: only the adapter, on the modules
    asked for, and the task's head change; the run writes its metrics."""
    weights = WeightsBeforeAndAfter()
    overrides = ["training.eval_on_start=false", "data.max_eval_samples=16", *overrides]
    metrics = finetune(task, tmp_path / task, *overrides, model=bert_checkpoint, callbacks=[weights])
    assert "eval_loss" in metrics
    assert weights.changed() == weights.trainable
    heads = {name for name in weights.trainable if f".{head}." in name}
    assert heads and all(name.endswith(("modules_to_save.default.weight", "modules_to_save.default.bias"))
                         for name in heads)  # fmt: skip
    # e.g. ...bert.layers.0.attention.query.lora_A.default.weight: the module is before the adapter's parameter
    modules = {name.split(".default")[0].rsplit(".", 1)[0] for name in weights.trainable - heads}
    assert {module.split("layers.0.")[-1] for module in modules if "layers.0." in module} == adapted


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["peft.method=lorra"], "peft.method: unknown method 'lorra'; did you mean 'lora'?"),
        (["peft.method=ia3", "peft.r=4"], "peft.r: ia3 has no such setting; leave it out"),
        (["peft.config.lora_alfa=3"], "peft.config.lora_alfa: did you mean 'lora_alpha'?"),
        (["peft.config.task_type=CAUSAL_LM"], "peft.config.task_type: set from the task and peft.method"),
        (["peft.method=lora", "model.init=scratch"], "peft: adapts a pretrained checkpoint"),
        (["peft.method=lora", "model.reinitialize=[pooler]"], "model.reinitialize: pooler would stay frozen"),
        (
            ["peft.target_modules=[nothing_here]"],
            "peft.target_modules: ['nothing_here'] matches no module of HfrBertForSequenceClassification",
        ),
    ],
)
def test_peft_mistakes_are_one_line_and_create_nothing(bert_checkpoint, tmp_path, overrides, expected):
    out = tmp_path / "out"
    with pytest.raises(UserError) as raised:
        finetune("sst2", out, *overrides, model=bert_checkpoint)
    assert expected in str(raised.value) and "\n" not in str(raised.value)
    assert not out.exists()


def test_without_peft_installed_the_section_is_one_line(bert_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # `import peft` raises ImportError
    with pytest.raises(
        UserError, match=r'peft: the peft package is not installed; pip install "hf-recipes\[peft\]"'
    ):
        finetune("sst2", tmp_path / "out", "peft.method=lora", model=bert_checkpoint)
    assert not (tmp_path / "out").exists()
