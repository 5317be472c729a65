"""Ours beside what a user would pick instead: transformers' BertForPreTraining and GPT2LMHeadModel of the same
size, trained by Trainer with transformers' collator, on the same real text with its real padding. Each
training run is its own process (so that peak memory is its own); ours and theirs alternate for `--rounds`
rounds (a drift of the machine's speed hits both) and the best round of each is kept.

    python benchmarks/bench.py --only vs_transformers [--data-dir ../shared/data] [--rounds 2]

  bert  WikiText-2 sentence pairs (its valid split: ../shared/data has no train split), as a user builds them
        for MLM+NSP: each sentence with the next one of its article, or half the time a random one
        (next_sentence_label 1), [CLS] A [SEP] B [SEP] cut at 128 tokens, a WordPiece of 8,000 tokens; batch 32
        pairs; BERT-mini (4 layers, 256 wide, 4 heads, FFN 1024).
        theirs: BertForPreTraining + DataCollatorForLanguageModeling (15% masked, each batch padded to its
                longest pair), transformers.Trainer.
        ours-plain: HfrBertForPreTraining alone (padded as theirs, the MLM head everywhere), RecipeTrainer.
        ours:   HfrBertForPreTraining with sparse_prediction (the MLM head at the masked positions only) +
                DataCollatorForPreTraining(pack_to=128) (the batch's pairs packed into rows, attention kept per
                pair: `objective.pack_sequences`), hf_recipes' RecipeTrainer. The same pairs per step.
  gpt   WikiText-2 paragraphs of a byte-level BPE of 8,000 tokens; GPT-mini (6 layers, 192 wide, 6 heads, ctx
        128), batch 16.
        theirs: GPT2LMHeadModel + DataCollatorForLanguageModeling(mlm=False): a paragraph per row, cut at 128
                tokens, each batch padded to its longest (run_clm's line_by_line way), transformers.Trainer.
        ours-plain: HfrGPTForCausalLM alone, on theirs' padded paragraphs and collator, RecipeTrainer.
        ours:   HfrGPTForCausalLM on the same paragraphs packed into 128-token blocks (the pretraining job's
                pack_for_causal_lm: no padding), loss_chunk_size 2048 (the fused LM-head loss), RecipeTrainer.

Counted: real (non-pad) tokens trained per second over the timed steps (forward, backward, fused AdamW, the
collator and the Trainer's bookkeeping), after warm-up steps; and the peak resident memory of the process
(its libraries included, the same for both). Goals (issue 24): BERT >= 2x, GPT >= 1.2x.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 5
SIDES = ("theirs", "ours-plain", "ours")  # ours-plain: our model alone, in theirs' setting
STEPS = {"bert": 30, "gpt": 40}
BATCH = {"bert": 32, "gpt": 16}
LENGTH = 128
VOCAB = 8000
BERT_SIZE = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
GPT_SIZE = dict(n_embd=192, n_layer=6, n_head=6, n_positions=LENGTH)
DROPOUT_OFF = {
    "bert": dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
    "gpt": dict(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0),
}


# -- the data, prepared once by the parent -------------------------------------------------------------------


def prepare(data_dir: Path, work: Path) -> None:
    """Tokenizers and examples for both cases, written to `work` (the runs read them)."""
    from hf_recipes.data.pretraining import (
        WIKITEXT_HEADING_PATTERN,
        pack_for_causal_lm,
        split_documents,
        split_sentences,
    )
    from hf_recipes.data.tokenization import train_tokenizer

    lines = (data_dir / "wikitext-2" / "valid.txt").read_text(encoding="utf-8").splitlines()
    documents = split_documents(lines, boundary="title")
    import re

    heading = re.compile(WIKITEXT_HEADING_PATTERN)
    paragraphs = [[line for line in document if not heading.match(line)] for document in documents]
    paragraphs = [document for document in paragraphs if document]

    wordpiece = train_tokenizer([line for document in paragraphs for line in document], "wordpiece", VOCAB)
    wordpiece.save_pretrained(work / "wordpiece")
    sentences = [[s for line in document for s in split_sentences(line)] for document in paragraphs]
    rng = random.Random(0)
    pairs = []
    for index, document in enumerate(sentences):
        for a, b in zip(document, document[1:]):
            label = int(rng.random() < 0.5)
            if label:
                other = sentences[(index + rng.randrange(1, len(sentences))) % len(sentences)]
                b = rng.choice(other)
            encoded = wordpiece(a, b, truncation="longest_first", max_length=LENGTH)
            pairs.append(
                {
                    "input_ids": encoded["input_ids"],
                    "token_type_ids": encoded["token_type_ids"],
                    "next_sentence_label": label,
                }
            )
    torch.save(pairs, work / "bert_pairs.pt")

    bpe = train_tokenizer([line for document in paragraphs for line in document], "bpe", VOCAB)
    bpe.save_pretrained(work / "bpe")
    encoded = bpe([line for document in paragraphs for line in document], add_special_tokens=False)[
        "input_ids"
    ]
    encoded = [ids for ids in encoded if ids]
    torch.save([ids[:LENGTH] for ids in encoded], work / "gpt_paragraphs.pt")
    blocks = pack_for_causal_lm({"input_ids": encoded}, block_size=LENGTH, eos_token_id=bpe.eos_token_id)
    torch.save(blocks["input_ids"], work / "gpt_blocks.pt")


# -- one training run, in its own process --------------------------------------------------------------------


def run(case: str, side: str, work: Path) -> dict:
    """Train `case` (bert/gpt) the `side` (ours/theirs) way for WARMUP + STEPS steps; the timed steps' numbers."""
    import datasets
    import transformers
    from transformers import TrainerCallback, TrainingArguments

    import hf_recipes  # noqa: F401  (registers our families)

    model, dataset, collator, trainer_class, description = _setup(case, side, work)
    counted = {"tokens": 0, "counting": False}
    marks = {}

    def count(module, args, kwargs):  # every forward of the model in training is one step's batch
        if counted["counting"] and module.training:
            mask = kwargs.get("attention_mask")
            counted["tokens"] += int(mask.sum()) if mask is not None else kwargs["input_ids"].numel()

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == WARMUP:
                counted["counting"], counted["tokens"] = True, 0
                marks["start"] = time.perf_counter()
            elif state.global_step == WARMUP + STEPS[case]:
                marks["end"] = time.perf_counter()
                counted["counting"] = False

    model.register_forward_pre_hook(count, with_kwargs=True)
    args = TrainingArguments(
        output_dir=str(work / f"run-{case}-{side}"), max_steps=WARMUP + STEPS[case],
        per_device_train_batch_size=BATCH[case], learning_rate=5e-4, warmup_steps=0, weight_decay=0.01,
        max_grad_norm=1.0, logging_steps=1000, save_strategy="no", eval_strategy="no", report_to="none",
        use_cpu=not torch.cuda.is_available(), seed=0, dataloader_num_workers=0, disable_tqdm=True,
    )  # fmt: skip
    columns = dataset.column_names
    dataset = datasets.Dataset.from_dict({k: dataset[k] for k in columns})
    setup_rss = _rss_mb()
    trainer_class(
        model=model, args=args, train_dataset=dataset, data_collator=collator, callbacks=[Clock()]
    ).train()
    seconds = marks["end"] - marks["start"]
    return {
        "case": case,
        "side": side,
        "what": description,
        "real_tokens_per_second": round(counted["tokens"] / seconds),
        "ms_per_step": round(1000 * seconds / STEPS[case], 1),
        "real_tokens_per_step": round(counted["tokens"] / STEPS[case]),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_above_setup_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - setup_rss),
        "transformers": transformers.__version__,
    }


def _setup(case: str, side: str, work: Path):
    import datasets
    import transformers

    from hf_recipes.data.collators import DataCollatorForPreTraining
    from hf_recipes.training import RecipeTrainer

    torch.manual_seed(0)
    if case == "bert":
        tokenizer = transformers.AutoTokenizer.from_pretrained(work / "wordpiece")
        pairs = torch.load(work / "bert_pairs.pt")
        dataset = datasets.Dataset.from_list(pairs)
        size = dict(
            vocab_size=len(tokenizer), max_position_embeddings=LENGTH, **BERT_SIZE, **DROPOUT_OFF[case]
        )
        if side == "theirs":
            model = transformers.BertForPreTraining(transformers.BertConfig(**size))
            collator = transformers.DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
            return (
                model,
                dataset,
                collator,
                transformers.Trainer,
                "BertForPreTraining + DataCollatorForLanguageModeling, padded",
            )
        from hf_recipes.models.bert import HfrBertConfig, HfrBertForPreTraining

        plain = side == "ours-plain"  # the model alone: padded as theirs, the MLM head at every position
        config = HfrBertConfig(**size, sparse_prediction=not plain, pad_token_id=tokenizer.pad_token_id)
        collator = DataCollatorForPreTraining(
            tokenizer, mlm_probability=0.15, pack_to=None if plain else LENGTH
        )
        what = "padded, MLM head everywhere" if plain else "sparse_prediction, packed pairs"
        return (
            HfrBertForPreTraining(config),
            dataset,
            collator,
            RecipeTrainer,
            f"HfrBertForPreTraining, {what}",
        )
    tokenizer = transformers.AutoTokenizer.from_pretrained(work / "bpe")
    size = dict(vocab_size=len(tokenizer), **GPT_SIZE, **DROPOUT_OFF[case])
    from hf_recipes.models.gpt import HfrGPTConfig, HfrGPTForCausalLM

    if side in ("theirs", "ours-plain"):  # ours-plain: our model alone, on theirs' padded paragraphs
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        dataset = datasets.Dataset.from_dict({"input_ids": torch.load(work / "gpt_paragraphs.pt")})
        collator = transformers.DataCollatorForLanguageModeling(tokenizer, mlm=False)
        if side == "ours-plain":
            model = HfrGPTForCausalLM(HfrGPTConfig(**size, pad_token_id=tokenizer.pad_token_id))
            return model, dataset, collator, RecipeTrainer, "HfrGPTForCausalLM, a paragraph per row, padded"
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**size))
        what = "GPT2LMHeadModel + DataCollatorForLanguageModeling(mlm=False), a paragraph per row, padded"
        return model, dataset, collator, transformers.Trainer, what

    blocks = torch.load(work / "gpt_blocks.pt")
    dataset = datasets.Dataset.from_dict({"input_ids": blocks, "labels": blocks})
    model = HfrGPTForCausalLM(HfrGPTConfig(**size, loss_chunk_size=2048))
    return (
        model,
        dataset,
        transformers.default_data_collator,
        RecipeTrainer,
        "HfrGPTForCausalLM, paragraphs packed into 128-token blocks, loss_chunk_size 2048",
    )


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# -- the benchmark -------------------------------------------------------------------------------------------


def vs_transformers(args) -> list[dict]:
    data_dir = Path(args.data_dir)
    if not (data_dir / "wikitext-2" / "valid.txt").is_file():
        raise SystemExit(f"vs_transformers: {data_dir}/wikitext-2/valid.txt not found (--data-dir)")
    rounds = getattr(args, "rounds", 2)
    best: dict[tuple[str, str], dict] = {}
    runs: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        print("vs_transformers: preparing the tokenizers and examples", flush=True)
        prepare(data_dir, work)
        for _ in range(rounds):
            for case in ("bert", "gpt"):
                for side in SIDES:
                    result = subprocess.run(
                        [sys.executable, __file__, "--run", case, side, str(work)],
                        capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
                    )  # fmt: skip
                    if result.returncode != 0:
                        raise SystemExit(
                            f"vs_transformers: the {side} {case} run failed:\n{result.stderr[-3000:]}"
                        )
                    row = json.loads(result.stdout.strip().splitlines()[-1])
                    print(json.dumps(row), flush=True)
                    runs.setdefault((case, side), []).append(row["real_tokens_per_second"])
                    if row["real_tokens_per_second"] > best.get((case, side), {}).get(
                        "real_tokens_per_second", 0
                    ):
                        best[case, side] = row
    rows = []
    for case in ("bert", "gpt"):
        for side in SIDES:
            row = {
                "benchmark": "vs_transformers",
                **best[case, side],
                "runs_real_tokens_per_second": runs[case, side],
            }
            row["speedup"] = round(
                row["real_tokens_per_second"] / best[case, "theirs"]["real_tokens_per_second"], 2
            )
            rows.append(row)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", nargs=3, metavar=("CASE", "SIDE", "WORK"), required=True)
    case, side, work = parser.parse_args().run
    print(json.dumps(run(case, side, Path(work))), flush=True)
