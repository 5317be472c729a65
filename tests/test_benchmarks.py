"""The benchmark scripts run (numbers are not checked: speed lives in `make bench`, not in tests)."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_throughput_script_runs_its_cases_on_a_cpu_with_tiny_models(tmp_path):
    """benchmarks/gpu.sh's script, made tiny and uncompiled so that it runs here: every case, ours beside the
    built-in, both measured on the same batches; MFU counted for GPT-2."""
    script = load_script("gpu_throughput")
    output = tmp_path / "result.json"
    argv = [
        "--device",
        "cpu",
        "--tiny",
        "--no-compile",
        "--steps",
        "1",
        "--warmup",
        "1",
        "--output",
        str(output),
    ]
    assert script.main(argv) == 0
    result = json.loads(output.read_text())
    rows = result["rows"]
    assert [(row["case"], row["model"].split()[0]) for row in rows] == [
        ("gpt2-124m", "ours"), ("gpt2-124m", "transformers"), ("bert-base", "ours"), ("bert-base", "transformers"),
    ]  # fmt: skip
    assert all(row["tokens_per_second"] > 0 for row in rows)
    assert rows[0]["speedup_vs_transformers"] > 0 and rows[2]["speedup_vs_transformers"] > 0
    assert 0 < rows[0]["mfu"] and result["tiny"] is True and "cpu" in result["hardware"]


def test_model_flops_count_six_per_weight_and_the_attention():
    script = load_script("gpu_throughput")
    from hf_recipes.models.gpt import HfrGPTConfig, HfrGPTForCausalLM

    model = HfrGPTForCausalLM(HfrGPTConfig(n_layer=2, n_embd=32, n_head=4, n_positions=16, vocab_size=50))
    parameters = sum(p.numel() for p in model.parameters())
    assert script.model_flops_per_token(model, 16) == 6 * parameters + 12 * 2 * 4 * 8 * 16


def test_the_side_by_side_benchmark_runs_each_side_on_the_same_pairs(shared_data, tmp_path, monkeypatch):
    """benchmarks/vs_transformers.py with tiny models and two timed steps, in this process: every case and side
    trains and counts its real tokens; BERT's three sides train the same pairs per step (packing changes the
    rows, not the examples), and our GPT reads full blocks (more real tokens per step than padded rows)."""
    script = load_script("vs_transformers")
    monkeypatch.setattr(script, "WARMUP", 1)
    monkeypatch.setattr(script, "STEPS", {"bert": 2, "gpt": 2})
    monkeypatch.setattr(script, "BERT_SIZE", dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                  intermediate_size=64))  # fmt: skip
    monkeypatch.setattr(script, "GPT_SIZE", dict(n_embd=32, n_layer=1, n_head=2, n_positions=script.LENGTH))
    script.prepare(shared_data, tmp_path)
    rows = {
        (case, side): script.run(case, side, tmp_path) for case in ("bert", "gpt") for side in script.SIDES
    }
    assert all(row["real_tokens_per_second"] > 0 and row["peak_rss_mb"] > 0 for row in rows.values())
    assert len({rows["bert", side]["real_tokens_per_step"] for side in script.SIDES}) == 1
    assert rows["gpt", "ours"]["real_tokens_per_step"] == script.BATCH["gpt"] * script.LENGTH
    assert rows["gpt", "theirs"]["real_tokens_per_step"] == rows["gpt", "ours-plain"]["real_tokens_per_step"]
    assert rows["gpt", "theirs"]["real_tokens_per_step"] < rows["gpt", "ours"]["real_tokens_per_step"]
