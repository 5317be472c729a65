"""`hf-recipes attention MODEL "sentence" [--output FILE] [--layer L] [--num-beams N]`: draw where a seq2seq
model looks while it translates (hf_recipes.evaluation.attention explains the picture)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checkpoints import load_model, load_tokenizer
from ..evaluation.attention import draw


def main(args: argparse.Namespace) -> int:
    model = load_model("AutoModelForSeq2SeqLM", args.model)  # a folder without a model: one line naming it
    tokenizer = load_tokenizer(args.model)
    generate_kwargs = {"num_beams": args.num_beams} if args.num_beams is not None else {}
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    attention = draw(model, tokenizer, args.sentence, output, layer=args.layer, **generate_kwargs)
    print(f"{attention.translation}\n{output}")
    return 0
