"""The `hf-recipes` command (also `python -m hf_recipes`): argument parsing and dispatch only.

Each verb hands its parsed arguments to one function elsewhere (jobs/*, hub.py); modules are imported
lazily so `hf-recipes --help` stays fast. A `UserError` from any verb is printed as one line (exit status 2), an
`Interrupted` run as one line too (exit status 128 + the signal's number).
"""

import argparse
import importlib
import json
import sys
from collections.abc import Callable

from .errors import Interrupted, UserError

EPILOG = """\
examples:
  hf-recipes models
  hf-recipes pretrain char_gpt_shakespeare --data-dir ../shared/data training.max_steps=200
  accelerate launch -m hf_recipes pretrain bert_mlm_nsp_wikitext --data-dir ../shared/data
  hf-recipes finetune sst2 --model outputs/bert_mlm_nsp_wikitext --data-dir ../shared/data
  hf-recipes transfer sst2 --data-dir ../shared/data
  hf-recipes compare word_order --vary model.init=pretrained,scratch --seeds 3
  hf-recipes prompt sst2 --model outputs/gpt_clm_wikitext --data-dir ../shared/data --shots 0,1,4
  hf-recipes push outputs/sst2 my-user/bert-sst2
  hf-recipes attention outputs/multi30k "Ein Mann fährt Fahrrad." --output attention.png
  hf-recipes pretrain word2vec_offline --data-dir ../shared/data
  hf-recipes neighbours outputs/word2vec_offline king woman
  hf-recipes analogy outputs/word2vec_offline man king woman --method mul

Overrides are dotted keys into the recipe; TrainingArguments fields live under `training.`
(e.g. training.max_steps=20 model.n_layer=2).
"""


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", help="folder laid out as shared/data (default: the Hub)")
    parser.add_argument("--output-dir", metavar="DIR", help="where the run writes (default: the recipe's)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted recipe overrides")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-recipes",
        description="Pretrain and fine-tune classic NLP architectures as native Hugging Face models.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    verbs = parser.add_subparsers(dest="verb", metavar="<command>", required=True)

    models = verbs.add_parser(
        "models", help="list every registered model_type, its heads and their Auto classes"
    )
    models.add_argument("--json", action="store_true", help="machine-readable output")

    quickstart = verbs.add_parser(
        "quickstart", help="the whole path offline on a built-in corpus, in minutes"
    )
    quickstart.add_argument("--output-dir", metavar="DIR", help="default: outputs/quickstart")
    quickstart.add_argument("overrides", nargs="*", metavar="key=value", help="dotted recipe overrides")

    pretrain = verbs.add_parser(
        "pretrain", help="self-supervised pretraining from a recipe (MLM+NSP, causal LM, word vectors)"
    )
    pretrain.add_argument("recipe", help="a recipe name (recipes/pretrain/<name>.yaml) or a YAML path")
    _add_run_arguments(pretrain)

    finetune = verbs.add_parser("finetune", help="fine-tune on a task (sst2, conll2003, squad, custom...)")
    finetune.add_argument("task", help="a built-in task name, or a recipe YAML path")
    finetune.add_argument(
        "--model",
        metavar="M",
        help="a checkpoint directory or a Hub id; scratch:TYPE[/SIZE] (e.g. scratch:hfr_bert/mini): that model "
        "with random weights and a tokenizer trained on the task",
    )
    _add_run_arguments(finetune)

    transfer = verbs.add_parser(
        "transfer", help="pretrained vs from-scratch fine-tuning on a task: side-by-side table and plot"
    )
    transfer.add_argument("task", help="a task (sst2, conll2003, ...), a transfer recipe name or a YAML path")
    transfer.add_argument(
        "--model", metavar="CKPT", help="fine-tune this checkpoint instead of pretraining one"
    )
    _add_run_arguments(transfer)

    compare = verbs.add_parser(
        "compare", help="one recipe run per combination of varied keys and per seed: mean ± std table, curves"
    )
    compare.add_argument(
        "recipe",
        help="a compare recipe (optimizers, dropout, attention), a task, a pretraining recipe, or a YAML",
    )
    compare.add_argument(
        "--vary",
        action="append",
        metavar="KEY=V1,V2",
        help="a recipe key and its values (repeat for more keys: every combination runs)",
    )
    compare.add_argument(
        "--seeds", type=int, metavar="N", help="runs per variant, seeds from training.seed on (default: 1)"
    )
    compare.add_argument("--job", choices=("finetune", "pretrain"), help="default: where the recipe is found")
    compare.add_argument("--model", metavar="M", help="fine-tuning: a checkpoint directory or a Hub id")
    _add_run_arguments(compare)

    prompt = verbs.add_parser(
        "prompt", help="zero-/one-/few-shot evaluation of a causal LM by prompting (GPT-3 style)"
    )
    prompt.add_argument(
        "task", help="a single-label task (sst2, cola, mrpc, rte, word_order, custom) or a YAML path"
    )
    prompt.add_argument("--model", metavar="M", help="a causal LM: a checkpoint directory or a Hub id (gpt2)")
    prompt.add_argument("--shots", metavar="K,K,...", help="numbers of demonstrations (default: 0,1,4)")
    _add_run_arguments(prompt)

    evaluate = verbs.add_parser("evaluate", help="score a fine-tuned output directory on its task again")
    evaluate.add_argument("model", help="an output directory of `hf-recipes finetune`")
    evaluate.add_argument(
        "--split", metavar="S", help="default: the task's evaluation split (e.g. test, train)"
    )
    evaluate.add_argument(
        "--file",
        metavar="PATH[:PATH]",
        help="score this file in the task's format instead (a translation pair: STEM.de:STEM.en, or STEM)",
    )
    _add_run_arguments(evaluate)

    generate = verbs.add_parser(
        "generate", help="sample text from a causal LM, or translate with a seq2seq model"
    )
    generate.add_argument("model", help="a checkpoint directory or a Hub id")
    generate.add_argument(
        "prompt", nargs="?", default="", help="the prompt, or the source sentence (default: empty)"
    )
    generate.add_argument(
        "--max-new-tokens", type=int, metavar="N", help="default: 200 (seq2seq: the saved generation config)"
    )
    generate.add_argument("--num-samples", type=int, default=1, metavar="K", help="samples (default: 1)")
    generate.add_argument(
        "--temperature", type=float, default=0.8, help="sampling temperature (default: 0.8)"
    )
    generate.add_argument("--top-k", type=int, default=200, metavar="K", help="sample from the K likeliest")
    generate.add_argument("--greedy", action="store_true", help="greedy decoding instead of sampling")
    generate.add_argument("--num-beams", type=int, metavar="N", help="beam search (deterministic)")
    generate.add_argument("--seed", type=int, default=0, help="sample i uses seed + i (default: 0)")
    generate.add_argument(
        "--trust-remote-code", action="store_true", help="run model code shipped with a Hub checkpoint"
    )

    attention = verbs.add_parser(
        "attention", help="draw a seq2seq model's cross-attention while it translates a sentence (PNG)"
    )
    attention.add_argument("model", help="a seq2seq model directory (e.g. outputs/multi30k)")
    attention.add_argument("sentence", help="the source sentence")
    attention.add_argument("--output", metavar="FILE", default="attention.png", help="default: attention.png")
    attention.add_argument(
        "--num-beams", type=int, metavar="N", help="default: the model's generation config"
    )
    attention.add_argument(
        "--layer", type=int, default=-1, metavar="L", help="decoder layer to draw, from 0 (default: the last)"
    )

    push = verbs.add_parser("push", help="push an output directory (model, tokenizer, card, code) to the Hub")
    push.add_argument("output_dir", help="a trained output directory")
    push.add_argument("repo_id", help="namespace/name on the Hub")
    push.add_argument("--private", action="store_true")
    push.add_argument("--revision", metavar="BRANCH", help="push to this branch (created if needed)")
    push.add_argument("--commit-message", metavar="MSG")
    _add_word_vector_verbs(verbs)
    return parser


def _add_word_vector_verbs(verbs) -> None:
    """neighbours, analogy, similarity, project, export-vectors, import-vectors (hf_recipes/jobs/vectors.py)."""

    def with_vectors(name: str, help: str):
        parser = verbs.add_parser(name, help=help)
        parser.add_argument(
            "vectors", help="an embedding model (directory or Hub id) or a .vec/.txt/.bin file"
        )
        parser.add_argument(
            "--trust-remote-code", action="store_true", help="run model code shipped with a Hub checkpoint"
        )
        return parser

    parser = with_vectors("neighbours", "the nearest words of each word (cosine)")
    parser.add_argument("words", nargs="+", metavar="word")
    parser.add_argument("--top", type=int, default=10, metavar="K", help="default: 10")

    parser = with_vectors(
        "analogy", "a : b :: c : ? (3CosAdd or 3CosMul), or the accuracy on an analogy file"
    )
    parser.add_argument("words", nargs="*", metavar="word", help="a b c")
    parser.add_argument(
        "--method", choices=["add", "mul"], default="add", help="3CosAdd (default) or 3CosMul"
    )
    parser.add_argument("--top", type=int, default=5, metavar="K", help="default: 5")
    parser.add_argument("--file", metavar="FILE", help="questions-words.txt-style file: report the accuracy")
    parser.add_argument(
        "--restrict-vocab",
        type=int,
        default=30000,
        metavar="N",
        help="with --file: the N most frequent words",
    )

    parser = with_vectors("similarity", "Spearman/Pearson correlation with human word-similarity scores")
    parser.add_argument("file", help="`word1 word2 score` lines (WordSim-353, SimLex-999)")

    parser = with_vectors("project", "a 2-D map (PNG) of words: PCA, or t-SNE")
    parser.add_argument("words", nargs="+", metavar="word")
    parser.add_argument("--method", choices=["pca", "tsne"], default="pca")
    parser.add_argument("--output", metavar="FILE", default="projection.png", help="default: projection.png")

    parser = with_vectors("export-vectors", "write the vectors in the word2vec text (.vec) or binary format")
    parser.add_argument("output", help="the file to write")
    parser.add_argument("--binary", action="store_true", help="word2vec.c's binary format (default: text)")

    parser = verbs.add_parser(
        "import-vectors", help="make a word2vec/fastText/GloVe vector file a model directory (AutoModel)"
    )
    parser.add_argument("file", help="a .vec/.txt (text) or .bin (binary) word2vec-format file")
    parser.add_argument("output_dir", help="the model directory to write")
    parser.add_argument("--binary", action="store_true", default=None, help="default: guessed from the file")
    parser.add_argument(
        "--lowercase",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="lowercase text before lookup (default: when the file has no uppercase word)",
    )


# verb -> "module:function" taking the parsed argparse namespace and returning an exit status.
VERBS: dict[str, str] = {
    "models": "hf_recipes.cli:list_models",
    "quickstart": "hf_recipes.jobs.quickstart:main",
    "pretrain": "hf_recipes.jobs.pretrain:main",
    "finetune": "hf_recipes.jobs.finetune:main",
    "transfer": "hf_recipes.jobs.transfer:main",
    "compare": "hf_recipes.jobs.compare:main",
    "prompt": "hf_recipes.jobs.prompt:main",
    "evaluate": "hf_recipes.jobs.evaluate:main",
    "generate": "hf_recipes.jobs.generate:main",
    "attention": "hf_recipes.jobs.attention:main",
    "push": "hf_recipes.hub:main",
    "neighbours": "hf_recipes.jobs.vectors:neighbours",
    "analogy": "hf_recipes.jobs.vectors:analogy",
    "similarity": "hf_recipes.jobs.vectors:similarity",
    "project": "hf_recipes.jobs.vectors:project",
    "export-vectors": "hf_recipes.jobs.vectors:export_vectors",
    "import-vectors": "hf_recipes.jobs.vectors:import_vectors",
}


def _resolve(verb: str) -> Callable[[argparse.Namespace], int]:
    module_name, function_name = VERBS[verb].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is None or not module_name.startswith(error.name):
            raise  # a missing dependency of a verb that exists is a real error
        raise UserError(f"`hf-recipes {verb}` is not built yet") from None
    return getattr(module, function_name)


def list_models(args: argparse.Namespace) -> int:
    from .models import REGISTRY

    if args.json:
        table = {
            family.model_type: {
                "description": family.description,
                "config": family.config_class.__name__,
                "heads": {head.auto_class: head.model_class.__name__ for head in family.heads},
            }
            for family in REGISTRY.values()
        }
        print(json.dumps(table, indent=2))
        return 0
    for family in REGISTRY.values():
        print(f"{family.model_type}  ({family.config_class.__name__}) — {family.description}")
        width = max(len(head.auto_class) for head in family.heads)
        for head in family.heads:
            print(f"    {head.auto_class:<{width}}  {head.model_class.__name__}")
        print()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # key=value overrides may come before or after the options; argparse alone cannot interleave them with a
    # sub-command's options, so the leftovers of parse_known_args are taken as overrides.
    args, extra = parser.parse_known_args(argv)
    unknown = [
        arg for arg in extra if arg.startswith("-") or "=" not in arg or not hasattr(args, "overrides")
    ]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    finished = False
    try:
        status = _resolve(args.verb)(args) or 0
        finished = status == 0
        return status
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Interrupted as error:
        print(f"interrupted: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        _leave_process_group(together=finished)


def _leave_process_group(together: bool) -> None:
    """Under `accelerate launch` the ranks share a process group; leave it before the interpreter exits, as
    torch asks (a group torn down by the exit alone has aborted a rank of a finished run: torch 2.14, gloo).
    After a run that finished, the ranks first wait for each other: a rank that tore the group down while the
    other still used it aborted that one ("terminate called without an active exception", torch 2.13, gloo, 2
    CPU processes under load). After a failure there is no waiting: the other rank may never come."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
        if together:
            torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def _version() -> str:
    from . import __version__

    return __version__


if __name__ == "__main__":
    raise SystemExit(main())
