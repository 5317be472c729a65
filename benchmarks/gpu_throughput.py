"""Training throughput on one GPU, ours beside transformers' built-ins on the same card and the same batches:
the numbers `benchmarks/gpu.sh` collects when a GPU is lent (it must finish in a few minutes).

    python benchmarks/gpu_throughput.py [--device cuda] [--steps 20] [--tiny] [--no-compile] [--peak-tflops 989]

Cases, each a training step (forward, backward, fused AdamW) on random tokens, bf16 autocast, SDPA, and
`torch.compile` unless --no-compile:
  gpt2-124m   HfrGPTForCausalLM (GPT-2 small: 12L/768d/12 heads, ctx 1024) vs GPT2LMHeadModel, batch 16:
              tokens/s and MFU: model FLOPs (6·N per token for the weights + 12·L·H·Q·T for attention, as
              nanoGPT and llm.c count them) per second over the card's dense bf16 peak (H100/H200 SXM: 989
              TFLOPS; --peak-tflops for another card).
  bert-base   HfrBertForPreTraining (12L/768d, seq 128, 15% of positions masked, sparse_prediction) vs
              BertForPreTraining, batch 64: sequences/s.
--tiny shrinks every model to a few layers (a CPU smoke run that the tests use); its numbers mean nothing.
Writes benchmarks/results/gpu_throughput-<device>-<date>.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def gpt_cases(tiny: bool):
    import transformers

    from hf_recipes.models.gpt import HfrGPTConfig, HfrGPTForCausalLM

    size = dict(n_layer=2, n_embd=64, n_head=2, n_positions=64) if tiny else {}
    ours = HfrGPTConfig(**size, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    theirs = transformers.GPT2Config(
        vocab_size=ours.vocab_size, n_positions=ours.n_positions, n_embd=ours.n_embd, n_layer=ours.n_layer,
        n_head=ours.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    shape = (2, 64) if tiny else (16, 1024)
    return [
        ("gpt2-124m", "ours", lambda: HfrGPTForCausalLM._from_config(ours, attn_implementation="sdpa"), shape),
        ("gpt2-124m", "transformers GPT2LMHeadModel",
         lambda: transformers.GPT2LMHeadModel._from_config(theirs, attn_implementation="sdpa"), shape),
    ]  # fmt: skip


def bert_cases(tiny: bool):
    import transformers

    from hf_recipes.models.bert import HfrBertConfig, HfrBertForPreTraining

    size = (
        dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
        if tiny
        else {}
    )
    ours = HfrBertConfig(**size, vocab_size=30522, max_position_embeddings=512, sparse_prediction=True)
    theirs = transformers.BertConfig(
        vocab_size=30522, hidden_size=ours.hidden_size, num_hidden_layers=ours.num_hidden_layers,
        num_attention_heads=ours.num_attention_heads, intermediate_size=ours.intermediate_size,
    )  # fmt: skip
    shape = (2, 32) if tiny else (64, 128)
    return [
        ("bert-base", "ours (sparse_prediction)",
         lambda: HfrBertForPreTraining._from_config(ours, attn_implementation="sdpa"), shape),
        ("bert-base", "transformers BertForPreTraining",
         lambda: transformers.BertForPreTraining._from_config(theirs, attn_implementation="sdpa"), shape),
    ]  # fmt: skip


def model_flops_per_token(model, length: int) -> float:
    """6·N (forward + backward through every weight) + 12·L·H·Q·T (the attention scores and their use)."""
    config = model.config
    parameters = sum(p.numel() for p in model.parameters())
    layers = getattr(config, "n_layer", None) or config.num_hidden_layers
    heads = getattr(config, "n_head", None) or config.num_attention_heads
    width = getattr(config, "n_embd", None) or config.hidden_size
    return 6 * parameters + 12 * layers * heads * (width // heads) * length


def measure(name, label, build, shape, args) -> dict:
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build().to(device).train()
    vocab = model.config.vocab_size
    fused = args.device == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused)
    step_model = torch.compile(model) if args.compile else model
    batch, length = shape
    generator = torch.Generator(device="cpu").manual_seed(1)
    tokens = torch.randint(0, vocab, (batch, length), generator=generator).to(device)
    inputs = {"input_ids": tokens}
    if name == "bert-base":
        masked = torch.rand(tokens.shape, generator=generator).to(device) < 0.15
        inputs["labels"] = tokens.masked_fill(~masked, -100)
        inputs["next_sentence_label"] = torch.randint(0, 2, (batch,), generator=generator).to(device)
    else:
        inputs["labels"] = tokens
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.device == "cuda")

    def step():
        with autocast:
            loss = step_model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):  # compilation and allocator warm-up, not timed
        step()
    synchronize = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    synchronize()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    synchronize()
    seconds = (time.perf_counter() - start) / args.steps
    row = {
        "case": name,
        "model": label,
        "batch": batch,
        "length": length,
        "ms_per_step": round(seconds * 1000, 2),
        "tokens_per_second": round(batch * length / seconds),
        "sequences_per_second": round(batch / seconds, 1),
        "parameters_millions": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if args.device == "cuda"
        else None,
    }
    if name == "gpt2-124m":
        achieved = model_flops_per_token(model, length) * batch * length / seconds
        row["mfu"] = float(f"{achieved / (args.peak_tflops * 1e12):.4g}")
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="tiny models: a smoke run, numbers meaningless")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="the card's dense bf16 peak")
    parser.add_argument(
        "--output", type=Path, default=None, help="the JSON file (default: benchmarks/results)"
    )
    args = parser.parse_args(argv)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    rows = []
    for name, label, build, shape in [*gpt_cases(args.tiny), *bert_cases(args.tiny)]:
        rows.append(measure(name, label, build, shape, args))
        print(json.dumps(rows[-1]), flush=True)
    for name in ("gpt2-124m", "bert-base"):
        ours, theirs = [r for r in rows if r["case"] == name]
        ours["speedup_vs_transformers"] = round(ours["tokens_per_second"] / theirs["tokens_per_second"], 3)
    from bench import hardware

    stamp = datetime.date.today().isoformat()
    result = {
        "benchmark": "gpu_throughput",
        "command": "python benchmarks/gpu_throughput.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "hardware": hardware(args.device),
        "tiny": args.tiny,
        "compile": args.compile,
        "rows": rows,
    }
    output = args.output or ROOT / "benchmarks" / "results" / f"gpu_throughput-{args.device}-{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    columns = ["case", "model", "tokens_per_second", "sequences_per_second", "mfu", "speedup_vs_transformers",
               "ms_per_step", "peak_memory_gib"]  # fmt: skip
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row.get(column, "")) for column in columns) + " |")
    print(f"written: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
