"""`hf-recipes quickstart` (`make quickstart`): the whole path offline, on data that ships with Python, ending in
a comparison where pretraining pays.

1. a byte-level BPE tokenizer and a small GPT trained as a causal language model on the Python Language
   Reference (recipes/pretrain/quickstart.yaml), with its samples, loss curves and model card;
2. the checkpoint used through transformers' own API (`pipeline("text-generation")`);
3. the built-in labelled task `word_order` (hf_recipes/tasks/word_order.py: original word order, or shuffled?)
   fine-tuned on 128 labelled sentences from that checkpoint and from random weights, 3 seeds each
   (recipes/compare/quickstart.yaml, the compare job): each metric's mean ± standard deviation, the curves with a
   band over seeds, and every run's model, predictions and model card.

`key=value` overrides go to the pretraining with a `pretrain.` prefix and to every fine-tuning run with
`finetune.` (`pretrain.training.max_steps=50 finetune.training.max_steps=20`); `seeds=N` sets the seeds per
init. A finished pretraining or fine-tuning run in the output directory is reused, not trained again. Ends by
printing the comparison, where everything is, and what to run next on real data.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..config import parse_overrides
from ..errors import UserError
from ..model_card import write_model_card
from . import compare, pretrain

PROMPTS = ["The value of the expression", "A function is defined"]


def main(args: argparse.Namespace) -> int:
    out = Path(args.output_dir or "outputs/quickstart")
    pretrain_overrides, finetune_overrides, seeds = _split(args.overrides)
    print(
        f"quickstart -> {out}: pretraining a small GPT on the Python Language Reference, then fine-tuning it and "
        "the same model from random weights on the built-in word_order task (128 labels, 3 seeds each)"
    )
    started = time.perf_counter()
    pretrain_dir = out / "pretrain"
    pretraining = pretrain.run("quickstart", pretrain_overrides, output_dir=str(pretrain_dir))
    write_model_card(pretrain_dir)
    demo = _generate(pretrain_dir)
    report = compare.run(
        "quickstart",
        finetune_overrides,
        seeds=seeds,
        model=str(pretrain_dir),
        output_dir=str(out / "compare"),
    )
    elapsed = time.perf_counter() - started

    metric = report["metric"]
    stats = {variant["values"]["model.init"]: variant["metrics"][metric] for variant in report["variants"]}
    pre, scratch = stats["pretrained"], stats["scratch"]
    runs = {}
    for each in report["runs"]:  # the first seed's run of each init
        runs.setdefault(each["values"]["model.init"], each)
    steps = runs["pretrained"]["metrics"].get("global_step")
    print(
        f"""
quickstart done in {elapsed:.0f} s
pretraining: {pretraining.get("global_step")} steps in {pretraining.get("train_runtime", 0):.0f} s; held-out \
loss {pretraining.get("eval_loss", float("nan")):.3f} (perplexity {pretraining.get("perplexity", float("nan")):.0f}; {pretraining.get("unigram_perplexity", float("nan")):.0f} from token frequencies alone)
text-generation with the saved checkpoint:
{demo}

word_order (sentences of the topics held out from pretraining; chance = 0.5), 128 labelled sentences, \
{steps} fine-tuning steps, seeds {", ".join(map(str, report["seeds"]))}:
  from the pretrained GPT    {metric} {_spread(pre)}
  from random weights        {metric} {_spread(scratch)}
  pretraining is worth       {pre["mean"] - scratch["mean"]:+.3f} (mean over the seeds)

outputs in {out}/
  compare/compare.md, .json, .png     the comparison: mean ± std table, every run's command, curves with a band
  compare/model.init=*/seed_*/        the fine-tuned classifiers: model, recipe.yaml, metrics.json,
                                      predictions.jsonl, loss.png, confusion_matrix.png, README.md
  pretrain/                           the GPT: model.safetensors + config.json + modeling_gpt.py
                                      (AutoModelForCausalLM), tokenizer.json (the BPE trained on the corpus),
                                      recipe.yaml, metrics.json, samples.txt, loss.png, README.md (model card)
  pipeline("text-classification", model="{runs["pretrained"]["output_dir"]}", trust_remote_code=True)

next, on real data (../shared/data here, or the Hub without --data-dir):
  make pretrain RECIPE=gpt_clm_wikitext DATA_DIR=../shared/data
  make finetune TASK=sst2_gpt DATA_DIR=../shared/data
  make transfer TASK=sst2 DATA_DIR=../shared/data        # BERT pretrained vs from scratch on SST-2
  hf-recipes compare optimizers                          # or dropout, attention: recipes/compare/
  hf-recipes prompt sst2 --model outputs/gpt_clm_wikitext --data-dir ../shared/data --shots 0,1,4
  hf-recipes push {out}/pretrain <your-user>/quickstart-gpt
"""
    )
    return 0


def _split(overrides: list[str]) -> tuple[dict, dict, int | None]:
    """`pretrain.key=value` / `finetune.key=value` / `seeds=N` from the command line."""
    pretraining, finetuning, seeds = {}, {}, None
    for key, value in parse_overrides(list(overrides)).items():
        stage, _, rest = key.partition(".")
        if key == "seeds":
            seeds = value
        elif stage == "pretrain" and rest:
            pretraining[rest] = value
        elif stage == "finetune" and rest:
            finetuning[rest] = value
        else:
            raise UserError(f"quickstart: {key}: expected pretrain.<key>, finetune.<key> or seeds")
    return pretraining, finetuning, seeds


def _spread(stats: dict) -> str:
    values = ", ".join(f"{value:.3f}" for value in stats["values"])
    return f"{stats['mean']:.3f} ± {stats['std']:.3f}  ({values})"


def _generate(checkpoint: Path) -> str:
    from transformers import pipeline, set_seed

    generator = pipeline("text-generation", model=str(checkpoint), device="cpu")
    set_seed(0)
    lines = []
    for prompt in PROMPTS:
        text = generator(prompt, max_new_tokens=20, do_sample=True, top_k=50)[0]["generated_text"]
        lines.append(f"  {text!r}")
    return "\n".join(lines)
