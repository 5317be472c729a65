"""`make bench`: measured numbers for the README, stamped with the hardware they were measured on.

    python benchmarks/bench.py [--only NAME ...] [--data-dir ../shared/data] [--device cpu|cuda]
                               [--word-vectors skipgram cbow fasttext glove] [--override KEY=VALUE ...]

Benchmarks:
  char_gpt   the char_gpt_shakespeare recipe (nanoGPT's baby GPT, 2000 steps): best validation loss, wall time
             and training tokens/s; the target is best val loss <= 1.90 (nanoGPT: 1.886).
  step_time  training step of the GPT and BERT families at a few sizes with SDPA and eager attention:
             tokens/s of forward + backward + AdamW. BERT's masked LM has 15% of the positions labelled, as
             in pretraining, and is also timed with `sparse_prediction` (MLM head at those positions only).
  word_vectors  word2vec (skip-gram, CBOW), FastText and GloVe recipes beside gensim's Word2Vec and FastText
             on the same corpus: words/s, wall time, peak memory, analogy, WS353, SimLex-999, neighbour
             overlap (benchmarks/word_vectors.py; needs `pip install gensim`).
  trainer_overhead  our GPT through RecipeTrainer (the jobs' Trainer) beside a minimal hand-written loop of the
             same model, optimizer, schedule and batches on WikiText-2 text: tokens/s of each and their ratio
             (benchmarks/trainer_overhead.py; goal >= 0.95x).
  vs_transformers  our BERT and GPT pretraining beside transformers' BertForPreTraining and GPT2LMHeadModel of the same
             size, each trained by Trainer with transformers' collator on WikiText-2 with its real padding: real
             tokens/s and peak memory (benchmarks/vs_transformers.py; goals BERT >= 2x, GPT >= 1.2x).
  korean_tokenizers  WordPiece and BPE vocabularies trained on NSMC with and without `tokenizer.morphemes:
             kiwi`: tokens per review, [UNK] share, and how their cuts line up with morpheme joints
             (benchmarks/korean_tokenizers.py; needs the `korean` extra and ../shared/data/nsmc).

Each run writes benchmarks/results/<benchmark>-<device>-<date>.json (the numbers, the command and the
hardware) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def hardware(device: str) -> dict:
    from hf_recipes.environment import cpu_name

    cpu = cpu_name()
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    import transformers

    info["transformers"] = transformers.__version__
    return info


def char_gpt(args) -> list[dict]:
    """The full recipe through the CLI, exactly as a user runs it."""
    out = Path(tempfile.mkdtemp(prefix="bench-char-gpt-"))
    command = [
        sys.executable,
        "-m",
        "hf_recipes",
        "pretrain",
        "char_gpt_shakespeare",
        "--data-dir",
        args.data_dir,
        "--output-dir",
        str(out),
        *(["variant=gpu"] if args.device == "cuda" else []),
    ]
    print(f"char_gpt: running {shlex.join(command)}", flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    wall = time.perf_counter() - start
    metrics = json.loads((out / "metrics.json").read_text())
    return [
        {
            "benchmark": "char_gpt_shakespeare",
            "command": shlex.join(["hf-recipes", *command[3:5], "--data-dir", args.data_dir]),
            "best_val_loss": round(metrics["best_eval_loss"], 4),
            "final_val_loss": round(metrics["eval_loss"], 4),
            "steps": metrics["global_step"],
            "train_seconds": round(metrics["train_runtime"], 1),
            "wall_seconds": round(wall, 1),
            "train_tokens_per_second": round(metrics["train_tokens_per_second"]),
            "target_met": metrics["best_eval_loss"] <= 1.90,
        }
    ]


def step_time(args) -> list[dict]:
    import transformers

    import hf_recipes  # noqa: F401
    from hf_recipes.models.bert import HfrBertConfig
    from hf_recipes.models.gpt import HfrGPTConfig

    device = torch.device(args.device)
    cases = [
        (
            "hfr_gpt",
            "baby (4L/128d), ctx 64, batch 12",
            HfrGPTConfig(
                vocab_size=65,
                n_positions=64,
                n_embd=128,
                n_layer=4,
                n_head=4,
                bias=False,
                resid_pdrop=0.0,
                embd_pdrop=0.0,
                attn_pdrop=0.0,
            ),
            12,
            64,
            "AutoModelForCausalLM",
        ),
        (
            "hfr_gpt",
            "mini (6L/192d), ctx 128, batch 16",
            HfrGPTConfig(vocab_size=8000, n_positions=128, n_embd=192, n_layer=6, n_head=6),
            16,
            128,
            "AutoModelForCausalLM",
        ),
        (
            "hfr_bert",
            "mini (4L/256d), seq 128, batch 32",
            HfrBertConfig(
                vocab_size=8000,
                hidden_size=256,
                num_hidden_layers=4,
                num_attention_heads=4,
                intermediate_size=1024,
                max_position_embeddings=128,
            ),
            32,
            128,
            "AutoModelForMaskedLM",
        ),
    ]
    if args.device == "cuda":
        cases.append(
            (
                "hfr_gpt",
                "gpt2 124M, ctx 1024, batch 16, bf16",
                HfrGPTConfig(),
                16,
                1024,
                "AutoModelForCausalLM",
            )
        )
    rows = []
    for family, label, config, batch, length, head in cases:
        masked_lm = head == "AutoModelForMaskedLM"
        variants = [("sdpa", False), ("eager", False)] + ([("sdpa", True)] if masked_lm else [])
        for attention, sparse in variants:
            torch.manual_seed(0)
            if masked_lm:
                config.sparse_prediction = sparse
            model = getattr(transformers, head).from_config(config, attn_implementation=attention).to(device)
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
            tokens = torch.randint(0, config.vocab_size, (batch, length), device=device)
            labels = tokens
            if masked_lm:  # BERT's 15% of positions to predict; the rest ignored (-100)
                labels = tokens.masked_fill(torch.rand(tokens.shape, device=device) >= 0.15, -100)
            autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.device == "cuda")
            times = []
            for step in range(args.steps + 3):
                if args.device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                with autocast:
                    loss = model(input_ids=tokens, labels=labels).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if args.device == "cuda":
                    torch.cuda.synchronize()
                if step >= 3:  # warm-up steps are not timed
                    times.append(time.perf_counter() - start)
            median = sorted(times)[len(times) // 2]
            rows.append(
                {
                    "benchmark": "step_time",
                    "family": family,
                    "config": label,
                    "attention": attention + (", sparse_prediction" if sparse else ""),
                    "parameters_millions": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
                    "ms_per_step": round(median * 1000, 1),
                    "tokens_per_second": round(batch * length / median),
                    "threads": torch.get_num_threads(),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def word_vectors(args) -> list[dict]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import word_vectors as benchmark

    return benchmark.run(args)


def korean_tokenizers(args) -> list[dict]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import korean_tokenizers as benchmark

    return benchmark.run(args)


def vs_transformers(args) -> list[dict]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from vs_transformers import vs_transformers as run

    return run(args)


def trainer_overhead(args) -> list[dict]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from trainer_overhead import trainer_overhead as run

    return run(args)


BENCHMARKS = {
    "char_gpt": char_gpt,
    "trainer_overhead": trainer_overhead,
    "vs_transformers": vs_transformers,
    "step_time": step_time,
    "word_vectors": word_vectors,
    "korean_tokenizers": korean_tokenizers,
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), default=sorted(BENCHMARKS))
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per step_time case")
    parser.add_argument(
        "--rounds", type=int, default=2, help="vs_transformers: alternating rounds of ours and theirs"
    )
    parser.add_argument(
        "--word-vectors",
        nargs="*",
        choices=["skipgram", "cbow", "fasttext", "glove"],
        default=["skipgram", "cbow", "fasttext", "glove"],
        help="which models the word_vectors benchmark trains (default: all four)",
    )
    parser.add_argument(
        "--override",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="recipe overrides for our word-vector runs, e.g. objective.block_size=2400 (the gensim runs stay)",
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.date.today().isoformat()
    for name in args.only:
        rows = BENCHMARKS[name](args)
        record = {"date": stamp, "device": args.device, "hardware": hardware(args.device), "results": rows}
        record["command"] = shlex.join(["python", "benchmarks/bench.py", *sys.argv[1:]])
        part = name
        if (
            name == "word_vectors" and len(args.word_vectors) < 4
        ):  # a subset: beside the full run, not over it
            part = f"{name}-{'-'.join(args.word_vectors)}"
        if name == "word_vectors" and args.override:  # a variant: beside the recipe's own run
            part += "-" + "-".join(o.replace("=", "_").replace(".", "_") for o in args.override)
        path = RESULTS / f"{part}-{args.device}-{stamp}.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        table = markdown(record, name)
        path.with_suffix(".md").write_text(table)
        print(f"\n{table}-> {path.relative_to(ROOT)} (and .md)")
    return 0


def markdown(record: dict, name: str) -> str:
    """A benchmark's results as a Markdown table under a line that stamps them: date, command, hardware and
    versions (what benchmarks/results/*.md hold beside the JSON)."""
    hardware = record["hardware"]
    stamp = ", ".join(f"{key} {value}" for key, value in hardware.items())
    rows = record["results"]
    keys = [k for k in dict.fromkeys(k for row in rows for k in row) if k != "benchmark"]
    lines = [
        f"**{name}** ({record['date']}, `{record['command']}`; {record['device']}: {stamp})",
        "",
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
        *("| " + " | ".join(str(row.get(k, "")) for k in keys) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
