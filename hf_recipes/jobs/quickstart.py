"""`hf-recipes quickstart` (`make quickstart`): the whole path offline, on data that ships with Python.

1. a WordPiece tokenizer and a small BERT (MLM + NSP) trained on the Python Language Reference
   (recipes/pretrain/quickstart.yaml), with its model card and loss curves;
2. the checkpoint used through transformers' own API (`pipeline("fill-mask")`);
3. the built-in labelled task `word_order` (hf_recipes/tasks/word_order.py) fine-tuned from that checkpoint
   and, with the same steps and seed, from random weights: evaluation, predictions, confusion matrices and
   model cards for both, and the side-by-side table and plot of the transfer report.

Steps 1 and 3 are the transfer job on recipes/transfer/quickstart.yaml, so `key=value` overrides address its
keys (`pretrain.training.max_steps=100 finetune.training.max_steps=50`). Ends by printing where everything is
and what to run next on real data.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..model_card import write_model_card
from . import transfer

PROBES = [
    "the [MASK] statement is used to raise an exception.",
    "a function is defined with the [MASK] keyword.",
    "the value of the expression is [MASK] to the target list.",
]


def main(args: argparse.Namespace) -> int:
    out = Path(args.output_dir or "outputs/quickstart")
    print(
        f"quickstart -> {out}: pretraining a small BERT on the Python Language Reference, then fine-tuning it "
        "and the same model from scratch on the built-in word_order task"
    )
    started = time.perf_counter()
    report = transfer.run("quickstart", args.overrides, output_dir=str(out))
    pretrained_dir = Path(report["pretraining"]["output_dir"])
    write_model_card(pretrained_dir)
    demo = _fill_mask(pretrained_dir)
    elapsed = time.perf_counter() - started

    pretraining, pre, scratch = report["pretraining"], report["pretrained"], report["scratch"]
    metric = report["metric"]
    print(
        f"""
quickstart done in {elapsed:.0f} s
pretraining: {pretraining["steps"]} steps in {pretraining["train_runtime_s"]:.0f} s; masked-LM accuracy \
{pretraining.get("eval_mlm_accuracy", float("nan")):.3f}, next-sentence accuracy \
{pretraining.get("eval_nsp_accuracy", float("nan")):.3f} (held-out topics)
fill-mask with the saved checkpoint:
{demo}

word_order ({report["eval_split"]}: sentences of topics held out from pretraining; chance = 0.5), \
{pre["steps"]} fine-tuning steps each:
  from the pretrained BERT   {metric} {pre[metric]:.3f}
  from random weights        {metric} {scratch[metric]:.3f}
  pretraining is worth       {report["difference"]:+.3f}

outputs in {out}/
  transfer.md, transfer.json, transfer.png   the comparison: table, numbers and commands, eval curves
  pretrain/                                  the BERT: model.safetensors + config.json + modeling_bert.py
                                             (AutoModelForPreTraining), tokenizer.json (the WordPiece
                                             trained on the corpus), recipe.yaml, metrics.json, loss.png,
                                             README.md (model card)
  pretrained/, scratch/                      the two fine-tuned classifiers: model, recipe.yaml, metrics.json,
                                             predictions.jsonl, loss.png, confusion_matrix.png, README.md
  pipeline("text-classification", model="{out}/pretrained", trust_remote_code=True) classifies sentences

next, on real data (../shared/data here, or the Hub without --data-dir):
  make pretrain RECIPE=bert_mlm_nsp_wikitext DATA_DIR=../shared/data
  make finetune TASK=sst2 DATA_DIR=../shared/data
  make transfer TASK=sst2 DATA_DIR=../shared/data        # this comparison on SST-2 (and TASK=conll2003)
  make pretrain RECIPE=gpt_clm_wikitext DATA_DIR=../shared/data
  hf-recipes prompt sst2 --model outputs/gpt_clm_wikitext --data-dir ../shared/data --shots 0,1,4
  hf-recipes push {out}/pretrained <your-user>/quickstart-word-order
"""
    )
    return 0


def _fill_mask(checkpoint: Path) -> str:
    from transformers import logging, pipeline

    # loading the MLM head from a pretraining checkpoint reports the unused NSP head: expected, not news
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        fill_mask = pipeline("fill-mask", model=str(checkpoint), device="cpu")
    finally:
        logging.set_verbosity(verbosity)
    lines = []
    for probe in PROBES:
        guesses = ", ".join(f"{p['token_str']} ({p['score']:.2f})" for p in fill_mask(probe, top_k=3))
        lines.append(f"  {probe}\n      -> {guesses}")
    return "\n".join(lines)
