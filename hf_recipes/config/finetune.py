"""The fine-tuning recipe (recipes/finetune/*.yaml): a task, the model to start from (a checkpoint, or a model
type built from its config with a tokenizer trained on the task), data sizes, training and generation settings.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..errors import UserError
from .base import Recipe
from .io import set_dotted
from .pretrain import TokenizerSpec
from .schema import coerce


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
    # Feature-based transfer: the input embeddings start from these word vectors (a word2vec/FastText/GloVe
    # output directory or Hub id, or a word2vec/fastText/GloVe vector file), each token's row the vector of
    # its word (FastText: n-grams for words it has not seen; else the mean vector; coverage in metrics.json).
    # With `type` or `init: scratch` (a pretrained checkpoint has embeddings of its own).
    embeddings_from: str | None = None
    freeze_embeddings: bool = False  # keep those embeddings fixed while fine-tuning (else they train too)
    # Modules of the checkpoint to start from random weights again (the model's own initialisation), by name or
    # by the end of their name, e.g. [pooler] (BERT's pooler, trained for next-sentence prediction) or
    # [encoder.layer.11] (Zhang et al. 2021, "Revisiting Few-sample BERT Fine-tuning": re-initialised top
    # layers steady fine-tuning). With `init: pretrained` only.
    reinitialize: list[str] = field(default_factory=list)


# `--model scratch:hfr_bert/mini`: the model built from a registered type (and size) with random weights,
# its tokenizer trained on the task's training split (the family's kind, or the recipe's tokenizer section).
SCRATCH = "scratch:"

# Keys of the model section that only a checkpoint (`name_or_path`) takes, and only a config (`type`) takes.
CHECKPOINT_ONLY_KEYS = ("init", "trust_remote_code", "ignore_mismatched_sizes", "reinitialize")
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
    # Training batches without padding: each batch's examples packed into rows of max_length tokens, attention
    # and pooling kept per example (models that read packed rows: BERT; sequence and token classification).
    # The same examples and losses per step as padded batches; evaluation stays padded.
    pack_sequences: bool = False


@dataclass
class PeftSpec:
    """Parameter-efficient fine-tuning with peft (hf_recipes.adapters): the checkpoint's weights stay frozen and
    only the method's adapter (and the task's new head) train. The output directory is the adapter alone
    (adapter_config.json + adapter_model.safetensors, what `hf-recipes push` uploads); `merge: true` makes it
    the merged model instead, loadable without peft, with the adapter alone in adapter/."""

    # A peft method (`peft.PeftType`, any case): lora, loha, lokr, ia3, vera, adalora, boft, ...
    method: str = "lora"
    # The usual knobs, under their name in the method's config class (r; lora_alpha / alpha; lora_dropout,
    # rank_dropout or <method>_dropout); None: peft's default. A method without the knob refuses it.
    r: int | None = None
    alpha: float | None = None
    dropout: float | None = None
    # Modules to adapt: names (a module matches by the end of its name), a regex, or all-linear; default: every
    # linear layer except the task's head and the output embeddings.
    target_modules: list[str] | str | None = None
    # Modules trained and saved whole beside the adapter; the task's head (classifier, score, qa_outputs) always is.
    modules_to_save: list[str] | None = None
    merge: bool = False
    config: dict[str, Any] = field(default_factory=dict)  # other fields of the method's peft config class


@dataclass
class FinetuneRecipe(Recipe):
    """Fine-tuning on a labelled task (`hf-recipes finetune`, recipes/finetune/)."""

    kind: ClassVar[str] = "finetune"

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
    # LoRA and the other peft methods on the checkpoint (PeftSpec); None: every weight trains.
    peft: PeftSpec | None = None
    # Stop training after this many minutes spent in optimizer steps (evaluations do not count), then evaluate
    # as usual: a fixed compute budget, so that runs of different models compare (the CPU table in README).
    max_train_minutes: float | None = None
    description: str = ""
    data_dir: str | None = None  # set by --data-dir

    @classmethod
    def apply_flags(cls, data: dict[str, Any], source: str, flags: dict[str, Any]) -> None:
        model = flags.pop("model", None)
        if model is not None and model.startswith(SCRATCH):
            _from_scratch(data, model, source)
        elif model is not None:
            section = data.get("model")
            if isinstance(section, dict) and section.get("type") is not None:
                # --model puts a checkpoint in place of the model the recipe builds from a config: that model's
                # type, size, config and tokenizer do not describe the checkpoint, so they go with it.
                data["model"] = {k: v for k, v in section.items() if k not in (*CONFIG_ONLY_KEYS, "config")}
                data.pop("tokenizer", None)
            set_dotted(data, "model.name_or_path", model, source)
        super().apply_flags(data, source, flags)

    def check(self, source: str, data: dict[str, Any]) -> None:
        super().check(source, data)
        if self.generation:
            self.generation = check_generation(self.generation, source)
        if self.max_train_minutes is not None and self.max_train_minutes <= 0:
            raise UserError(f"{source}: max_train_minutes: expected a positive number of minutes")
        self._check_model_section(source, data.get("model") or {})
        if self.peft is not None:
            self._check_peft(source)

    def _check_peft(self, source: str) -> None:
        """peft adapts pretrained weights: a model that starts from random ones has nothing to keep frozen. The
        method and its fields are checked by building its peft config (hf_recipes.adapters)."""
        from ..adapters import peft_config

        spec = self.model
        if spec.type is not None or spec.init != "pretrained":
            raise UserError(
                f"{source}: peft: adapts a pretrained checkpoint (model.name_or_path with init: pretrained); a "
                "model that starts from random weights trains whole: leave peft out"
            )
        frozen = [name for name in spec.reinitialize if name not in (self.peft.modules_to_save or [])]
        if frozen:
            raise UserError(
                f"{source}: model.reinitialize: {frozen[0]} would stay frozen at random weights under peft; add it "
                "to peft.modules_to_save so that it trains"
            )
        peft_config(self.peft, source=source)

    def _check_model_section(self, source: str, given: dict[str, Any]) -> None:
        """The model section names exactly one source (a checkpoint or a config) with only the keys that source
        takes (`given`: the section as written, where a default `init` and an explicit one differ); a model built
        from a config has a tokenizer section (the head it needs is checked in hf_recipes.resolve)."""
        spec, tokenizer = self.model, self.tokenizer
        if spec.reinitialize and spec.init != "pretrained":
            raise UserError(
                f"{source}: model.reinitialize: only with init: pretrained (from scratch every weight is new)"
            )
        if spec.freeze_embeddings and spec.embeddings_from is None:
            raise UserError(
                f"{source}: model.freeze_embeddings: needs model.embeddings_from (the vectors to keep)"
            )
        if spec.embeddings_from is not None and spec.type is None and spec.init == "pretrained":
            raise UserError(
                f"{source}: model.embeddings_from: would overwrite the pretrained embeddings of "
                f"{spec.name_or_path}; set model.init=scratch, or build the model from model.type"
            )
        if (spec.name_or_path is None) == (spec.type is None):
            raise UserError(
                f"{source}: model: set exactly one of `name_or_path` (a checkpoint to fine-tune, or --model) or "
                "`type` (a model_type built from its config, with a `tokenizer` section); from the command line, "
                "--model scratch:TYPE/SIZE (e.g. scratch:hfr_bert/mini) builds one with a tokenizer"
            )
        if spec.name_or_path is not None:
            wrong = next((key for key in CONFIG_ONLY_KEYS if key in given), None)
            if wrong is not None:
                raise UserError(
                    f"{source}: model.{wrong}: only with model.type; a checkpoint has its own config"
                )
            if tokenizer is not None:
                raise UserError(
                    f"{source}: tokenizer: only with model.type; the checkpoint {spec.name_or_path} brings its "
                    "tokenizer"
                )
            return
        wrong = next((key for key in CHECKPOINT_ONLY_KEYS if key in given), None)
        if wrong is not None:
            raise UserError(
                f"{source}: model.{wrong}: only with a checkpoint (name_or_path); a model built from model.type "
                "starts from random weights"
            )
        if tokenizer is None:
            raise UserError(
                f"{source}: tokenizer: required with model.type: `train: bpe` (or another kind) trains one on the "
                "task's training split, `name_or_path` loads one"
            )
        if (tokenizer.train is None) == (tokenizer.name_or_path is None):
            raise UserError(f"{source}: tokenizer: set exactly one of `train` (a kind) or `name_or_path`")
        if tokenizer.separate_vocabularies and tokenizer.train is None:
            raise UserError(
                f"{source}: tokenizer.separate_vocabularies: needs `train` (two tokenizers to train)"
            )


def _from_scratch(data: dict[str, Any], model: str, source: str) -> None:
    """`--model scratch:TYPE[/SIZE]` in place of the recipe's model: the checkpoint's keys go, the model is
    built from TYPE (SIZE one of its presets), and a recipe without a tokenizer section gets one that trains
    the family's kind of tokenizer on the task's training split."""
    from ..models import REGISTRY

    model_type, _, size = model[len(SCRATCH) :].partition("/")
    if not model_type:
        raise UserError(
            f"--model {model}: expected scratch:TYPE or scratch:TYPE/SIZE, e.g. scratch:hfr_bert/mini"
        )
    section = data.get("model") if isinstance(data.get("model"), dict) else {}
    # model.config (as the command line's model.config.cell=lstm) is kept: it goes on top of the size preset
    kept = {k: v for k, v in section.items() if k in ("config", "embeddings_from", "freeze_embeddings")}
    data["model"] = {"type": model_type, **({"size": size} if size else {}), **kept}
    family = REGISTRY.get(model_type)
    tokenizer = data.get("tokenizer") if isinstance(data.get("tokenizer"), dict) else {}
    if family is not None and family.tokenizer is not None and not {"train", "name_or_path"} & set(tokenizer):
        data["tokenizer"] = {"train": family.tokenizer, **tokenizer}  # e.g. tokenizer.vocab_size=2000 given


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


def check_generation(generation: dict[str, Any], source: str) -> dict[str, Any]:
    """Keys of `generation` must be GenerationConfig fields; common ones are type-checked."""
    from transformers import GenerationConfig

    fields = [key for key in GenerationConfig().to_dict() if not key.startswith("_")]
    checked = {}
    for key, value in generation.items():
        if key not in fields:
            hint = difflib.get_close_matches(str(key), fields, n=1)
            allowed = f"did you mean {hint[0]!r}?" if hint else "not a transformers GenerationConfig field"
            raise UserError(f"{source}: generation.{key}: unknown key; {allowed}")
        checked[key] = coerce(value, GENERATION_TYPES.get(key, Any), source, f"generation.{key}")
    if checked.get("num_beams", 1) < 1:
        raise UserError(f"{source}: generation.num_beams: expected at least 1, got {checked['num_beams']}")
    return checked


# Keys of the `task:` section that are not options of the task itself.
TASK_KEYS = ("name", "hub_dataset", "hub_config")

__all__ = [
    "CHECKPOINT_ONLY_KEYS",
    "CONFIG_ONLY_KEYS",
    "FinetuneDataSpec",
    "FinetuneModelSpec",
    "FinetuneRecipe",
    "FinetuneTokenizerSpec",
    "GENERATION_TYPES",
    "PeftSpec",
    "TASK_KEYS",
    "check_generation",
]
