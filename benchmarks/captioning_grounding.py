"""Is a trained captioner's attention grounded? For a `shapes_captioning` output directory: over the first N
validation (and test) scenes, the attention mass that the words naming an object (its colour and shape) put on
that object's box, against the box's share of the image (what attention blind to the object would put there).

    python benchmarks/captioning_grounding.py OUTPUT_DIR [--images 200]
"""

import argparse
import json
from pathlib import Path

import transformers
import yaml

import hf_recipes  # noqa: F401  (registers the model families)
from hf_recipes.evaluation.captioning import grounding
from hf_recipes.tasks import get_task


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("output_dir")
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()
    out = Path(args.output_dir)
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    options = {k: v for k, v in recipe["task"].items() if k != "name"}
    task = get_task("shapes_captioning", **options)
    model = transformers.AutoModelForImageTextToText.from_pretrained(out).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    splits = task.load(splits=["validation", "test"])
    report = {split: grounding(model, tokenizer, splits[split], limit=args.images) for split in splits}
    print(json.dumps({"output_dir": str(out), **report}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
