"""`hf-recipes quickstart` (`make quickstart`): the whole path offline, on a corpus that ships with Python.

A WordPiece tokenizer and a small BERT (MLM + NSP) are trained on the Python Language Reference
(recipes/pretrain/quickstart.yaml); the checkpoint is then used through transformers' own API
(`pipeline("fill-mask")`), and the output directory gets its model card. Ends by printing where everything
is and what to run next on real data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..hub import write_model_card
from . import pretrain

PROBES = [
    "the [MASK] statement is used to raise an exception.",
    "a function is defined with the [MASK] keyword.",
    "the value of the expression is [MASK] to the target list.",
]


def main(args: argparse.Namespace) -> int:
    out = Path(args.output_dir or "outputs/quickstart")
    print(f"quickstart: pretraining a small BERT on the Python Language Reference -> {out}")
    metrics = pretrain.run("quickstart", args.overrides, output_dir=str(out))
    write_model_card(out)

    from transformers import logging, pipeline

    # loading the MLM head from a pretraining checkpoint reports the unused NSP head: expected, not news
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    fill_mask = pipeline("fill-mask", model=str(out), device="cpu")
    logging.set_verbosity(verbosity)
    demo = []
    for probe in PROBES:
        guesses = ", ".join(f"{p['token_str']} ({p['score']:.2f})" for p in fill_mask(probe, top_k=3))
        demo.append(f"  {probe}\n      -> {guesses}")

    print(
        f"""
quickstart done in {metrics["train_runtime"]:.0f} s of training ({metrics["global_step"]} steps)
  masked-LM accuracy {metrics["eval_mlm_accuracy"]:.3f}, perplexity {metrics["perplexity"]:.1f}; \
next-sentence accuracy {metrics["eval_nsp_accuracy"]:.3f}
fill-mask with the saved checkpoint:
{chr(10).join(demo)}

outputs in {out}/
  model.safetensors, config.json, modeling_bert.py   the model (loads with AutoModelForPreTraining)
  tokenizer.json                                     the WordPiece vocabulary trained on the corpus
  recipe.yaml, metrics.json, log_history.json        what ran and what it measured
  loss.png, README.md                                the loss curves and the model card

next, on real data (../shared/data here, or the Hub without --data-dir):
  make pretrain RECIPE=char_gpt_shakespeare DATA_DIR=../shared/data
  make pretrain RECIPE=bert_mlm_nsp_wikitext DATA_DIR=../shared/data
  hf-recipes push {out} <your-user>/quickstart-bert
"""
    )
    return 0
