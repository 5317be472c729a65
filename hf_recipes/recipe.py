"""Recipes: YAML files that say what to train on what, validated into dataclasses before anything runs.

This module is the one home of the recipe schema. A recipe is read in four steps:

1. the YAML file (a name resolves to `recipes/<kind>/<name>.yaml`);
2. the named variant's overrides (`variants: {tiny: {...}, gpu: {...}}`, chosen by `variant:` or the
   `variant=<name>` override), so one file holds the CPU and GPU sizes of a recipe;
3. command-line overrides, `dotted.key=value` (values are YAML: `training.max_steps=20`, `data.local=null`);
4. validation: every key must exist and every value must have the declared type. `model.config` is checked
   against the model family's config class and `training` against `transformers.TrainingArguments` (both are
   dataclasses), so a typo is caught before a model is built.

Any problem is one `UserError` line naming the file and the dotted key and what is allowed there. The fully
resolved recipe is saved with every run (`recipe.yaml`) and re-runs the same job when passed back in.

Two kinds of recipe: pretraining (`PretrainRecipe`, recipes/pretrain/) and fine-tuning (`FinetuneRecipe`,
recipes/finetune/).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import UserError
from .secrets import take_secrets

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"


class _Loader(yaml.SafeLoader):
    """YAML 1.2 scalars (PyYAML implements 1.1): only true/false are booleans, so `eval_strategy: no` stays
    the string "no", and `1e-3` is a float, not the string "1e-3"."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def yaml_load(text: str):
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


# --- the schema ----------------------------------------------------------------------------------------


@dataclass
class ModelSpec:
    """Which architecture, at which size, with which config fields."""

    type: str  # a registered model_type (`hf-recipes models`), e.g. hfr_bert
    size: str | None = None  # a named preset of the family (e.g. tiny, mini, base); `config` goes on top
    config: dict[str, Any] = field(default_factory=dict)  # fields of the family's config class


@dataclass
class TokenizerSpec:
    """Train a tokenizer on the recipe's corpus, or load an existing one (a directory or a Hub id)."""

    train: Literal["wordpiece", "bpe", "char", "unigram"] | None = None
    name_or_path: str | None = None
    vocab_size: int = 8000
    lowercase: bool | None = None  # None: the kind's usual choice (True for wordpiece, as bert-base-uncased)
    min_frequency: int = 2
    special_tokens: dict[str, str] = field(default_factory=dict)  # role -> token, e.g. {unk_token: "<unk>"}


@dataclass
class HubSource:
    """A dataset on the Hugging Face Hub (for users with network)."""

    path: str  # e.g. Salesforce/wikitext
    name: str | None = None  # the dataset config, e.g. wikitext-2-v1
    splits: dict[str, str] = field(
        default_factory=dict
    )  # our split -> the Hub's split, e.g. train: validation


@dataclass
class LocalSource:
    """One local file read its own way, for a corpus mixed from files of different layouts, e.g. WikiText's
    articles plus the sentence column of a GLUE TSV: `{path: glue/SST-2/train.tsv, text_column: sentence,
    document_boundary: file}`. Unset fields take the `data` section's values."""

    path: str
    text_column: str | None = None
    document_boundary: Literal["blank_line", "title", "row", "file"] | None = None


@dataclass
class DataSpec:
    """Where the text comes from and how it divides into documents.

    With `--data-dir` (or when `hub` is unset) the `local` files are read: paths relative to the data
    directory (else to the working directory): tables by extension (.jsonl/.json, .csv/.tsv, .parquet), any
    other UTF-8 file as plain text (.txt, or e.g. Multi30k's train.en).
    Without it the `hub` dataset is loaded. A `builtin` corpus needs neither (it ships with Python).
    """

    # python_reference: the Python Language Reference (pydoc_data), one document per topic, prose only.
    builtin: Literal["python_reference"] | None = None
    hub: HubSource | None = None
    local: dict[str, str | list[str | LocalSource]] = field(default_factory=dict)  # split -> file(s)
    text_column: str = "text"
    # blank_line: documents separated by empty lines (BERT's input format); title: a line matching
    # `title_pattern` starts a document (WikiText's " = Title = "); row: one document per line/row;
    # file: one document per file.
    document_boundary: Literal["blank_line", "title", "row", "file"] = "blank_line"
    title_pattern: str = r"^ = [^=].* = $"
    # With no validation split, the last `validation_fraction` of the training text becomes validation
    # (nanoGPT's first 90% / last 10% of tinyshakespeare).
    validation_fraction: float | None = None
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    num_proc: int | None = None  # datasets.map workers


@dataclass
class CausalLMObjective:
    """Next-token prediction on blocks of `block_size` tokens cut from the concatenated documents."""

    type: Literal["causal_lm"]
    block_size: int = 128
    # Restart position_ids at each document inside a block, which also keeps attention inside it.
    document_attention: bool = False


@dataclass
class MaskedLMObjective:
    """BERT pretraining (section 3.1, appendix A.2): masked LM, plus next-sentence prediction for mlm_nsp
    (segment B is the actual next segment or, half the time, a random one, as in the paper)."""

    type: Literal["mlm_nsp", "mlm"]
    max_seq_length: int = 128
    short_seq_prob: float = 0.1  # share of instances with a shorter random target length
    mlm_probability: float = 0.15
    whole_word_mask: bool = False
    dupe_factor: int = 1  # instance-building passes over the training corpus, each with a different pairing
    split_sentences: bool = True  # cut lines into sentences (off for one-sentence-per-line corpora)
    drop_pattern: str | None = None  # lines matching it are not text (e.g. WikiText's headings)


@dataclass
class SamplesSpec:
    """Text generated at the end of a causal-LM run and saved as samples.txt."""

    count: int = 3
    max_new_tokens: int = 200
    prompt: str = ""
    temperature: float = 0.8
    top_k: int | None = 200


@dataclass
class PretrainRecipe:
    objective: CausalLMObjective | MaskedLMObjective
    model: ModelSpec
    tokenizer: TokenizerSpec
    data: DataSpec
    output_dir: str
    training: dict[str, Any] = field(default_factory=dict)  # transformers.TrainingArguments fields
    samples: SamplesSpec = field(default_factory=SamplesSpec)
    description: str = ""
    data_dir: str | None = None  # set by --data-dir


@dataclass
class FinetuneModelSpec:
    """The model to fine-tune, from one of two sources:

    - a checkpoint (`name_or_path`): one of our output directories or any Hub / transformers checkpoint, read
      through AutoTokenizer, AutoConfig and the task's AutoModelFor* class;
    - a config (`type`, with `size` and `config` as in a pretraining recipe): a registered model type built
      with random weights, whose tokenizer the recipe's `tokenizer` section trains on the task's training
      split (translation from scratch: the recurrent and Transformer seq2seq models).
    """

    name_or_path: str | None = None  # e.g. outputs/bert_mlm_nsp_wikitext, bert-base-uncased (--model sets it)
    type: str | None = None  # a registered model_type (`hf-recipes models`), e.g. hfr_transformer
    size: str | None = None  # with `type`: a named preset of the family; `config` goes on top
    # pretrained: the checkpoint's weights (plus a freshly initialised head where the task needs one);
    # scratch: the same architecture and tokenizer with random weights, the baseline of a transfer comparison.
    # (checkpoints only: a model built from `type` always starts from random weights)
    init: Literal["pretrained", "scratch"] = "pretrained"
    # With a checkpoint: fields set on top of its config, checked against its config class, e.g.
    # classifier_dropout, or lm_loss_weight (GPT-1's auxiliary language-modelling loss) for hfr_gpt.
    # With `type`: fields of the family's config class, on top of the size preset.
    config: dict[str, Any] = field(default_factory=dict)
    trust_remote_code: bool = False  # run model code shipped with a Hub checkpoint (ours load without it)
    # Start from scratch the weights whose shape differs from the checkpoint's, e.g. the head of a model
    # fine-tuned on a task with another number of labels (transformers reports which ones).
    ignore_mismatched_sizes: bool = False


# Keys of the model section that only a checkpoint (`name_or_path`) takes, and only a config (`type`) takes.
CHECKPOINT_ONLY_KEYS = ("init", "trust_remote_code", "ignore_mismatched_sizes")
CONFIG_ONLY_KEYS = ("type", "size")


@dataclass
class FinetuneTokenizerSpec(TokenizerSpec):
    """The tokenizer of a model built from `model.type`: trained on the text of the task's training split (for
    translation, the source and target sentences), or loaded (`name_or_path`). For a seq2seq task every encoded
    sequence ends with the end-of-sequence token, so that the decoder learns to stop."""

    # seq2seq: one tokenizer per language (`vocab_size` tokens each) instead of one joint vocabulary; the
    # model gets separate source and target embeddings (the Transformer needs share_embeddings: false).
    separate_vocabularies: bool = False


@dataclass
class FinetuneDataSpec:
    """How much of the task's data, cut how."""

    # Tokens per input (pair, or question + context window); default: the task's (128; 384 for QA), capped at
    # what the model's position embeddings allow.
    max_length: int | None = None
    # Random subsets (seed: training.seed) for quick runs; None: the whole split.
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    num_proc: int | None = None  # datasets.map workers
    # Also score the final model on this labelled split (e.g. `test`: Multi30k's test_2016_flickr): test_*
    # metrics in metrics.json and test_predictions.jsonl. None: the evaluation split only.
    test_split: str | None = None
    max_test_samples: int | None = None


@dataclass
class FinetuneRecipe:
    # `name` (a built-in task: `hf_recipes.tasks.task_names()`), the task's options (e.g. for custom:
    # task_type, train_file, text_columns, label_column) and `hub_dataset` / `hub_config`: the Hub dataset
    # read without --data-dir (default: the task's own, filled in the saved recipe so the model card names it).
    task: dict[str, Any]
    model: FinetuneModelSpec
    output_dir: str
    tokenizer: FinetuneTokenizerSpec | None = None  # with model.type only (a checkpoint has its tokenizer)
    data: FinetuneDataSpec = field(default_factory=FinetuneDataSpec)
    training: dict[str, Any] = field(default_factory=dict)  # (Seq2Seq)TrainingArguments fields
    # GenerationConfig fields for seq2seq models (num_beams, length_penalty, max_new_tokens, ...): used by the
    # evaluations (predict_with_generate) and saved with the model (generation_config.json), so the pipelines
    # and `hf-recipes attention` decode the same way. training.generation_num_beams, if set, wins in evaluation.
    generation: dict[str, Any] = field(default_factory=dict)
    # Stop training after this many minutes spent in optimizer steps (evaluations do not count), then evaluate
    # as usual: a fixed compute budget, so that runs of different models compare (the CPU table in README).
    max_train_minutes: float | None = None
    description: str = ""
    data_dir: str | None = None  # set by --data-dir


# --- reading a recipe ----------------------------------------------------------------------------------


def resolve_path(name_or_path: str, kind: str) -> Path:
    """A YAML path as given, else recipes/<kind>/<name>.yaml in the working directory or the source tree."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"{path}: recipe file not found")
        return path
    for root in (Path("recipes"), RECIPES_DIR):
        candidate = root / kind / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    available = sorted(p.stem for p in (RECIPES_DIR / kind).glob("*.yaml"))
    raise UserError(f"no {kind} recipe named {name_or_path!r}; available: {', '.join(available) or 'none'}")


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`["a.b=1", "c=[x, y]"]` -> `{"a.b": 1, "c": ["x", "y"]}`; values are read as YAML."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise UserError(f"override {pair!r}: expected dotted.key=value")
        try:
            overrides[key] = yaml_load(value) if value != "" else ""
        except yaml.YAMLError:
            overrides[key] = value
    return overrides


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UserError(f"{path}:{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of sections at the top level")
    return data


def merge_recipe(data: dict[str, Any], overrides: dict[str, Any], source: str) -> dict[str, Any]:
    """Apply the chosen variant, then the overrides, to a raw recipe mapping; returns a new mapping, without
    credentials (a `hub_token` becomes this process's HF_TOKEN: see hf_recipes.secrets)."""
    data = dict(data)
    variants = data.pop("variants", None) or {}
    variant = overrides.pop("variant", data.pop("variant", None))
    if variant is not None:
        if variant not in variants:
            raise UserError(
                f"{source}: variant: unknown variant {variant!r}; the recipe has {sorted(variants)}"
            )
        for key, value in (variants[variant] or {}).items():
            _set_dotted(data, key, value, source)
    for key, value in overrides.items():
        _set_dotted(data, key, value, source)
    return take_secrets(data)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for i, part in enumerate(parents):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise UserError(f"{source}: {'.'.join(parents[: i + 1])}: is a value, cannot set {dotted}")
        node = child
    node[leaf] = value


# --- validation: one generic checker for dataclasses (recipe sections, configs, TrainingArguments) -----------


def build(cls: type, data: Any, source: str, where: str = "") -> Any:
    """Construct dataclass `cls` from a mapping, checking every key and type; errors name `source: where.key`."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: {where or 'recipe'}: expected a mapping, got {_kind(data)}")
    return cls(**check_fields(cls, data, source, where))


def check_fields(cls: type, data: dict[str, Any], source: str, where: str = "") -> dict[str, Any]:
    """Check `data` against the fields of dataclass `cls` and return it with values coerced to the field types
    (e.g. the string "1e-3", as YAML reads it, to a float). Unknown keys, wrong types and missing required
    fields raise a one-line UserError."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}
    types_ = _field_types(cls)
    out = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in fields:
            hint = difflib.get_close_matches(str(key), fields, n=1)
            allowed = f"did you mean {hint[0]!r}?" if hint else f"allowed: {', '.join(sorted(fields))}"
            raise UserError(f"{source}: {path}: unknown key; {allowed}")
        out[key] = _coerce(value, types_.get(key, Any), source, path)
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and name not in out:
            raise UserError(f"{source}: {where + '.' if where else ''}{name}: required field is missing")
    return out


def _field_types(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # annotations naming types the module did not import: check the fields one by one
        module = vars(__import__(cls.__module__, fromlist=["_"]))
        resolved = {}
        for f in dataclasses.fields(cls):
            try:
                resolved[f.name] = eval(f.type, module) if isinstance(f.type, str) else f.type  # noqa: S307
            except Exception:
                resolved[f.name] = Any
        return resolved


def _coerce(value: Any, tp: Any, source: str, path: str) -> Any:
    try:
        return _convert(value, tp, source, path)
    except _Mismatch:
        raise UserError(f"{source}: {path}: expected {_describe(tp)}, got {_kind(value)} {value!r}") from None


class _Mismatch(Exception):
    pass


def _convert(value: Any, tp: Any, source: str, path: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        # Tagged unions of dataclasses (the objective): pick the arm whose `type` literal matches.
        tagged = [a for a in args if dataclasses.is_dataclass(a) and "type" in _field_types(a)]
        if tagged and isinstance(value, dict):
            for arm in tagged:
                if value.get("type") in typing.get_args(_field_types(arm)["type"]):
                    return build(arm, value, source, path)
            kinds = [k for arm in tagged for k in typing.get_args(_field_types(arm)["type"])]
            raise UserError(f"{source}: {path}.type: expected one of {kinds}, got {value.get('type')!r}")
        for arm in args:
            try:
                return _convert(value, arm, source, path)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        if value in args:
            return value
        raise _Mismatch
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if dataclasses.is_dataclass(tp):
        return build(tp, value, source, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if isinstance(value, tp):
            return value
        if value in [member.value for member in tp]:
            return tp(value)
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise _Mismatch
    if tp in (str, Path):
        if isinstance(value, str):
            return value
        raise _Mismatch
    if origin in (dict, typing.Dict) or tp is dict:  # noqa: UP006
        if not isinstance(value, dict):
            raise _Mismatch
        value_type = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, value_type, source, f"{path}.{k}") for k, v in value.items()}
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        item_type = args[0] if args else Any
        return [_coerce(v, item_type, source, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _Mismatch
    return value  # an annotation this checker does not model: leave it to the receiving class


def _describe(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is Literal:
        return f"one of {list(args)}"
    if tp is type(None):
        return "null"
    if origin in (dict, list, tuple):
        return f"a {origin.__name__}"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return f"one of {[m.value for m in tp]}"
    return getattr(tp, "__name__", str(tp))


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "null"}.get(type(value), type(value).__name__)


# --- the pretraining recipe ----------------------------------------------------------------------------


def load_pretrain_recipe(
    name_or_path: str,
    overrides: list[str] | dict[str, Any] = (),
    *,
    data_dir: str | None = None,
    output_dir: str | None = None,
) -> tuple[PretrainRecipe, dict[str, Any]]:
    """Read, merge and validate a pretraining recipe. Returns the recipe and its resolved mapping (what is
    saved as recipe.yaml). The model config and TrainingArguments fields are checked here too."""
    path = resolve_path(name_or_path, "pretrain")
    source = str(path)
    if not isinstance(overrides, dict):
        overrides = parse_overrides(list(overrides))
    data = merge_recipe(load_yaml(path), dict(overrides), source)
    if data_dir is not None:
        data["data_dir"] = data_dir
    if output_dir is not None:
        data["output_dir"] = output_dir
    data.setdefault("output_dir", f"outputs/{path.stem}")
    recipe = build(PretrainRecipe, data, source)
    check_model_config(recipe.model, source)
    recipe.training = check_training_arguments(recipe.training, source)
    if (recipe.tokenizer.train is None) == (recipe.tokenizer.name_or_path is None):
        raise UserError(f"{source}: tokenizer: set exactly one of `train` (a kind) or `name_or_path`")
    if recipe.data_dir is not None and not Path(recipe.data_dir).is_dir():
        raise UserError(f"--data-dir {recipe.data_dir}: not a directory")
    if recipe.data.builtin is None and recipe.data.hub is None and not recipe.data.local:
        raise UserError(f"{source}: data: set `hub` (a Hub dataset), `local` (files) or `builtin`")
    return recipe, data


def check_model_config(spec: ModelSpec | FinetuneModelSpec, source: str) -> None:
    """The model type exists, the size is one of its presets, and every config key is a field of its config."""
    from .models import REGISTRY

    if spec.type not in REGISTRY:
        raise UserError(
            f"{source}: model.type: unknown model type {spec.type!r}; registered: {sorted(REGISTRY)}"
        )
    family = REGISTRY[spec.type]
    if spec.size is not None and spec.size not in family.sizes:
        raise UserError(
            f"{source}: model.size: {spec.type} has sizes {sorted(family.sizes)}, not {spec.size!r}"
        )
    spec.config = check_fields(family.config_class, spec.config, source, "model.config")


def check_training_arguments(
    training: dict[str, Any], source: str, arguments_class: type | None = None
) -> dict[str, Any]:
    """Check `training` against `arguments_class` (default: transformers.TrainingArguments)."""
    from transformers import TrainingArguments

    if "output_dir" in training:
        raise UserError(
            f"{source}: training.output_dir: set the top-level `output_dir` (or --output-dir) instead"
        )
    return check_fields(arguments_class or TrainingArguments, training, source, "training")


# --- the fine-tuning recipe ----------------------------------------------------------------------------

# Keys of the `task:` section that are not options of the task itself.
TASK_KEYS = ("name", "hub_dataset", "hub_config")


def load_finetune_recipe(
    name_or_path: str,
    overrides: list[str] | dict[str, Any] = (),
    *,
    model: str | None = None,
    data_dir: str | None = None,
    output_dir: str | None = None,
) -> tuple[FinetuneRecipe, dict[str, Any]]:
    """Read, merge and validate a fine-tuning recipe (`model` is --model: it sets model.name_or_path). Returns
    the recipe and its resolved mapping (saved as recipe.yaml). The task name and options and the
    TrainingArguments fields (Seq2SeqTrainingArguments' for seq2seq tasks) are checked here; model.config is
    checked by the job against the checkpoint's config class, which only the checkpoint knows."""
    from transformers import Seq2SeqTrainingArguments

    path = _resolve_finetune_path(name_or_path)
    source = str(path)
    if not isinstance(overrides, dict):
        overrides = parse_overrides(list(overrides))
    data = merge_recipe(load_yaml(path), dict(overrides), source)
    if model is not None:
        section = data.get("model")
        if isinstance(section, dict) and section.get("type") is not None:
            # --model puts a checkpoint in place of the model the recipe builds from a config: that model's
            # type, size, config and tokenizer do not describe the checkpoint, so they go with it.
            data["model"] = {k: v for k, v in section.items() if k not in (*CONFIG_ONLY_KEYS, "config")}
            data.pop("tokenizer", None)
        _set_dotted(data, "model.name_or_path", model, source)
    if data_dir is not None:
        data["data_dir"] = data_dir
    if output_dir is not None:
        data["output_dir"] = output_dir
    data.setdefault("output_dir", f"outputs/{path.stem}")
    recipe = build(FinetuneRecipe, data, source)
    task = finetune_task(recipe.task, source)
    # The saved recipe names the Hub dataset (the model card reads it there), whether or not the file did.
    for key in ("hub_dataset", "hub_config"):
        if getattr(task, key) is not None:
            recipe.task[key] = data["task"][key] = getattr(task, key)
    seq2seq = task.problem_type == "seq2seq"
    _check_finetune_model(recipe, data.get("model") or {}, task, source)
    if recipe.generation:
        if not seq2seq:
            raise UserError(
                f"{source}: generation: only for seq2seq tasks; task {task.name} does not generate"
            )
        recipe.generation = _check_generation(recipe.generation, source)
    if recipe.max_train_minutes is not None and recipe.max_train_minutes <= 0:
        raise UserError(f"{source}: max_train_minutes: expected a positive number of minutes")
    arguments_class = Seq2SeqTrainingArguments if seq2seq else None
    recipe.training = check_training_arguments(recipe.training, source, arguments_class)
    if recipe.data_dir is not None and not Path(recipe.data_dir).is_dir():
        raise UserError(f"--data-dir {recipe.data_dir}: not a directory")
    return recipe, data


def _check_finetune_model(recipe: FinetuneRecipe, section: dict[str, Any], task, source: str) -> None:
    """The model section names exactly one source (a checkpoint or a config) with only the keys that source
    takes; a model built from a config has a tokenizer section and the head the task needs."""
    spec, tokenizer = recipe.model, recipe.tokenizer
    if (spec.name_or_path is None) == (spec.type is None):
        raise UserError(
            f"{source}: model: set exactly one of `name_or_path` (a checkpoint to fine-tune, or --model) or "
            "`type` (a model_type built from its config, with a `tokenizer` section)"
        )
    if spec.name_or_path is not None:
        wrong = next((key for key in CONFIG_ONLY_KEYS if key in section), None)
        if wrong is not None:
            raise UserError(f"{source}: model.{wrong}: only with model.type; a checkpoint has its own config")
        if tokenizer is not None:
            raise UserError(
                f"{source}: tokenizer: only with model.type; the checkpoint {spec.name_or_path} brings its tokenizer"
            )
        return
    wrong = next((key for key in CHECKPOINT_ONLY_KEYS if key in section), None)
    if wrong is not None:
        raise UserError(
            f"{source}: model.{wrong}: only with a checkpoint (name_or_path); a model built from model.type "
            "starts from random weights"
        )
    check_model_config(spec, source)
    from .models import REGISTRY

    family = REGISTRY[spec.type]
    if task.auto_model not in {head.auto_class for head in family.heads}:
        raise UserError(
            f"{source}: model.type: {spec.type} has no {task.auto_model} head (task {task.name} needs one); "
            f"it has {', '.join(head.auto_class for head in family.heads)}"
        )
    if tokenizer is None:
        raise UserError(
            f"{source}: tokenizer: required with model.type: `train: bpe` (or another kind) trains one on the "
            "task's training split, `name_or_path` loads one"
        )
    if (tokenizer.train is None) == (tokenizer.name_or_path is None):
        raise UserError(f"{source}: tokenizer: set exactly one of `train` (a kind) or `name_or_path`")
    if tokenizer.separate_vocabularies:
        if task.problem_type != "seq2seq":
            raise UserError(
                f"{source}: tokenizer.separate_vocabularies: only for seq2seq tasks (a source and a target side)"
            )
        if tokenizer.train is None:
            raise UserError(
                f"{source}: tokenizer.separate_vocabularies: needs `train` (two tokenizers to train)"
            )


# Types of the GenerationConfig fields a recipe usually sets (transformers 5 defaults them all to None, so the
# type cannot be read off the defaults); other fields are passed as given.
GENERATION_TYPES = {
    "num_beams": int,
    "length_penalty": float,
    "max_new_tokens": int,
    "max_length": int,
    "min_new_tokens": int,
    "no_repeat_ngram_size": int,
    "num_return_sequences": int,
    "early_stopping": bool | Literal["never"],
    "do_sample": bool,
    "temperature": float,
    "top_k": int,
    "top_p": float,
    "repetition_penalty": float,
}


def _check_generation(generation: dict[str, Any], source: str) -> dict[str, Any]:
    """Keys of `generation` must be GenerationConfig fields; common ones are type-checked."""
    from transformers import GenerationConfig

    fields = [key for key in GenerationConfig().to_dict() if not key.startswith("_")]
    checked = {}
    for key, value in generation.items():
        if key not in fields:
            hint = difflib.get_close_matches(str(key), fields, n=1)
            allowed = f"did you mean {hint[0]!r}?" if hint else "not a transformers GenerationConfig field"
            raise UserError(f"{source}: generation.{key}: unknown key; {allowed}")
        checked[key] = _coerce(value, GENERATION_TYPES.get(key, Any), source, f"generation.{key}")
    if checked.get("num_beams", 1) < 1:
        raise UserError(f"{source}: generation.num_beams: expected at least 1, got {checked['num_beams']}")
    return checked


def finetune_task(section: dict[str, Any], source: str = "recipe"):
    """The `hf_recipes.tasks.Task` a recipe's `task:` section describes (a UserError names a bad task name,
    option or value, prefixed with `source: task`)."""
    from .tasks import get_task

    if not isinstance(section.get("name"), str):
        raise UserError(f"{source}: task.name: required, a built-in task name (e.g. sst2, conll2003, custom)")
    for key in TASK_KEYS[1:]:
        if not isinstance(section.get(key), str | None):
            raise UserError(f"{source}: task.{key}: expected str, got {_kind(section[key])} {section[key]!r}")
    options = {key: value for key, value in section.items() if key not in TASK_KEYS}
    try:
        task = get_task(section["name"], **options)
    except UserError as error:
        raise UserError(f"{source}: task: {error}") from None
    except (TypeError, ValueError) as error:  # an option of a type the task cannot take (e.g. a number)
        detail = " ".join(str(error).split())
        raise UserError(
            f"{source}: task: an option of {section['name']} has a wrong value ({detail})"
        ) from None
    if section.get("hub_dataset") is not None:
        if task.hub_dataset is None:
            raise UserError(f"{source}: task.hub_dataset: task {task.name} reads files, not a Hub dataset")
        # Another dataset: its config is whatever the section says (the task's own belongs to its dataset).
        task.hub_dataset, task.hub_config = section["hub_dataset"], section.get("hub_config")
    elif section.get("hub_config") is not None:
        task.hub_config = section["hub_config"]
    return task


def _resolve_finetune_path(name_or_path: str) -> Path:
    try:
        return resolve_path(name_or_path, "finetune")
    except UserError as error:
        from .tasks import REGISTRY as TASKS

        if name_or_path.strip().lower() not in TASKS:
            raise
        raise UserError(
            f"{error}; {name_or_path} is a built-in task without a recipe of its own: run one of its kind with "
            f"task.name={name_or_path} (e.g. hf-recipes finetune mrpc task.name={name_or_path} "
            f"--output-dir outputs/{name_or_path})"
        ) from None


def dump_recipe(data: dict[str, Any], schema: type = PretrainRecipe) -> str:
    """The resolved recipe as YAML, in the section order of `schema` (PretrainRecipe or FinetuneRecipe)."""
    order = [f.name for f in dataclasses.fields(schema)]
    ordered = {key: data[key] for key in order if key in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True)
