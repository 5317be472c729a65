"""What the Trainer path costs: our GPT trained by hf_recipes' RecipeTrainer (transformers' Trainer with the
job's guarantees and callbacks, as `hf-recipes pretrain` runs it) beside a minimal hand-written loop of the same
model, optimizer (fused AdamW, Trainer's default), schedule, clipping and batches, on real text (WikiText-2
valid, 128-token blocks of a byte-level BPE of 8,000 tokens). The two alternate (loop, Trainer, loop, Trainer) so that a drift of the
machine's speed hits both; each is timed over the same steps after a warm-up.

    python benchmarks/bench.py --only trainer_overhead [--data-dir ../shared/data]

Goal of issue 24: the Trainer path at >= 0.95x the hand loop's tokens/s.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

WARMUP, STEPS, BATCH, BLOCK = 10, 60, 16, 128


def _blocks(data_dir: Path) -> tuple[torch.Tensor, int]:
    from hf_recipes.data.tokenization import train_tokenizer

    lines = [
        line for line in (data_dir / "wikitext-2" / "valid.txt").read_text().splitlines() if line.strip()
    ]
    tokenizer = train_tokenizer(lines, "bpe", 8000)
    ids = [token for line in lines for token in tokenizer(line)["input_ids"]]
    usable = len(ids) // BLOCK * BLOCK
    return torch.tensor(ids[:usable]).view(-1, BLOCK), len(tokenizer)


def _model(vocab_size: int):
    from hf_recipes.models.gpt import HfrGPTConfig, HfrGPTForCausalLM

    torch.manual_seed(0)
    config = HfrGPTConfig(
        vocab_size=vocab_size, n_positions=BLOCK, n_embd=192, n_layer=6, n_head=6,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    return HfrGPTForCausalLM(config)


def _collate(rows):
    ids = torch.stack([row["input_ids"] if isinstance(row, dict) else row for row in rows])
    return {"input_ids": ids, "labels": ids}


def hand_loop(blocks: torch.Tensor, vocab_size: int) -> float:
    """Seconds per step over STEPS steps after WARMUP: DataLoader, forward, backward, clip, AdamW, schedule."""
    from torch.utils.data import DataLoader

    model = _model(vocab_size).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=1e-3, weight_decay=0.0, fused=True
    )  # as Trainer's default
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / (WARMUP + STEPS))
    loader = DataLoader(
        list(blocks),
        batch_size=BATCH,
        shuffle=True,
        collate_fn=_collate,
        generator=torch.Generator().manual_seed(0),
    )
    batches = iter(loader)
    for step in range(WARMUP + STEPS):
        if step == WARMUP:
            start = time.perf_counter()
        batch = next(batches)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    return (time.perf_counter() - start) / STEPS


def trainer_path(blocks: torch.Tensor, vocab_size: int, work: Path) -> float:
    """The same steps through RecipeTrainer with the pretraining job's defaults and progress bar."""
    import datasets
    from transformers import TrainerCallback, TrainingArguments

    from hf_recipes.training import RecipeTrainer, StepSettingsOfThisAttempt

    marks = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in (WARMUP, WARMUP + STEPS):
                marks[state.global_step] = time.perf_counter()

    dataset = datasets.Dataset.from_dict({"input_ids": blocks.tolist()}).with_format("torch")
    args = TrainingArguments(
        output_dir=str(work), max_steps=WARMUP + STEPS, per_device_train_batch_size=BATCH, learning_rate=1e-3,
        lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0, logging_steps=50,
        save_strategy="no", eval_strategy="no", report_to="none", use_cpu=True, seed=0, dataloader_num_workers=0,
    )  # fmt: skip
    trainer = RecipeTrainer(
        model=_model(vocab_size), args=args, train_dataset=dataset, data_collator=_collate,
        callbacks=[StepSettingsOfThisAttempt(), Clock()],
    )  # fmt: skip
    trainer.train()
    return (marks[WARMUP + STEPS] - marks[WARMUP]) / STEPS


def trainer_overhead(args) -> list[dict]:
    import tempfile

    data_dir = Path(args.data_dir)
    if not (data_dir / "wikitext-2" / "valid.txt").is_file():
        raise SystemExit(f"trainer_overhead: {data_dir}/wikitext-2/valid.txt not found (--data-dir)")
    blocks, vocab_size = _blocks(data_dir)
    times = {"hand-written loop": [], "hf_recipes RecipeTrainer": []}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(2):
            times["hand-written loop"].append(hand_loop(blocks, vocab_size))
            times["hf_recipes RecipeTrainer"].append(trainer_path(blocks, vocab_size, Path(work)))
    best = {name: min(values) for name, values in times.items()}
    rows = []
    for name, seconds in best.items():
        rows.append(
            {
                "benchmark": "trainer_overhead",
                "path": name,
                "model": "hfr_gpt 6L/192d, vocab 8000, ctx 128, batch 16, fused AdamW, clip 1.0",
                "ms_per_step": round(seconds * 1000, 1),
                "tokens_per_second": round(BATCH * BLOCK / seconds),
                "runs_ms_per_step": [round(s * 1000, 1) for s in times[name]],
                "vs_hand_loop": round(best["hand-written loop"] / seconds, 3),
                "threads": torch.get_num_threads(),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows
