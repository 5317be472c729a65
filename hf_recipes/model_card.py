"""The model card (README.md) of an output directory: YAML metadata the Hub reads (tags, license, datasets,
base model, pipeline tag, a model-index from metrics.json) and a body: what the model is, how to load it (with
`trust_remote_code=True` where it carries its code), how it was trained (the recipe), results and plots.

The recipe's facts are read through the schema (hf_recipes.config): the keys a pretraining or fine-tuning recipe
has, and for a fine-tuning run the task itself (`Task.describe()`: its Hub dataset, pipeline, labels). A
recipe.yaml that is not ours, or from an older version, still gives a card, with fewer facts.

`write_model_card` (every training job) and `hf-recipes push` (hf_recipes.hub) render the same card.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .adapters import ADAPTER_CONFIG, read_adapter_config
from .errors import UserError
from .runs import WEIGHT_FILES
from .secrets import redact
from .tasks.base import PIPELINE_TAGS

logger = logging.getLogger(__name__)

LICENSE = "apache-2.0"  # the license of what hf-recipes writes; the data's licenses are the datasets' own

# Folder names (at any depth) and file names that never leave the machine.
EXCLUDED_DIRS = ("checkpoint-*", "last-checkpoint", ".*", "_*", "__pycache__", "*cache*", "wandb")
EXCLUDED_FILES = (
    ".*",
    "_*",
    "*.pyc",
    "*.lock",
    "*.tmp",
    "README.md",
    "optimizer.pt",
    "optimizer.bin",
    "scheduler.pt",
    "scaler.pt",
    "rng_state*.pth",
    "training_args.bin",
)

_LABELLED_HEADS = ("AutoModelForSequenceClassification", "AutoModelForTokenClassification")
# For checkpoints without an auto_map (transformers' own classes): class-name suffix → Auto class.
_HEAD_SUFFIXES = (
    ("ForSequenceClassification", "AutoModelForSequenceClassification"),
    ("ForTokenClassification", "AutoModelForTokenClassification"),
    ("ForQuestionAnswering", "AutoModelForQuestionAnswering"),
    ("ForNextSentencePrediction", "AutoModelForNextSentencePrediction"),
    ("ForMultipleChoice", "AutoModelForMultipleChoice"),
    ("ForPreTraining", "AutoModelForPreTraining"),
    ("ForMaskedLM", "AutoModelForMaskedLM"),
    ("ForCausalLM", "AutoModelForCausalLM"),
    ("LMHeadModel", "AutoModelForCausalLM"),
    ("ForConditionalGeneration", "AutoModelForSeq2SeqLM"),
    ("ForSeq2SeqLM", "AutoModelForSeq2SeqLM"),
    ("Model", "AutoModel"),
)
# metrics.json keys that describe the run rather than the model's quality: kept out of model-index.
_NOT_EVAL_METRICS = re.compile(
    r"(^train_|^total_flos$|^epoch$|^step$|^global_step$|_runtime$|_per_second$|_mem_|^best_eval_"
    r"|^probe_|^embeddings_)"
)
# TrainingArguments fields shown in the card's hyperparameter table, when the recipe has them.
_HYPERPARAMETERS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "lr_scheduler_type",
    "warmup_ratio",
    "warmup_steps",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "max_grad_norm",
    "optim",
    "seed",
    "fp16",
    "bf16",
)


def render_model_card(
    output_dir: str | os.PathLike, *, repo_id: str | None = None, files: list[str] | None = None
) -> str:
    """The README.md for `output_dir`: YAML metadata + a body, from config.json and, when present,
    recipe.yaml, metrics.json and the plots. `repo_id` is what the usage snippet loads."""
    root = Path(output_dir)
    files = select_files(root) if files is None else files
    adapter = read_adapter_config(root)
    config = read_json(root / "config.json") or (_base_config(adapter) if adapter else {})
    recipe = redact(read_recipe(root)) or {}
    metrics = read_json(root / "metrics.json") or {}
    training = recipe.get("training") if isinstance(recipe.get("training"), Mapping) else {}
    source = repo_id or training.get("hub_model_id") or str(root)
    return _Card(root, config, recipe, metrics, files, source, adapter).render()


def write_model_card(output_dir: str | os.PathLike, *, repo_id: str | None = None) -> Path:
    """Write the model card as `output_dir/README.md` (atomically: a temporary file, then a rename)."""
    root = check_output_dir(output_dir)
    card = render_model_card(root, repo_id=repo_id)
    target = root / "README.md"
    handle, temporary = tempfile.mkstemp(dir=root, prefix=".README.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(card)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def select_files(output_dir: str | os.PathLike) -> list[str]:
    """Relative POSIX paths of the files of `output_dir` that go to the Hub (see EXCLUDED_*). A symbolic link
    that leads out of the folder is refused (it could publish any file of the machine); a link to a file inside
    it is pushed as that file, a link to a folder inside it is not walked twice."""
    root = Path(output_dir)
    inside = root.resolve()
    selected = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _matches(d, EXCLUDED_DIRS))
        for name in [*dirs, *sorted(names)]:
            path = Path(folder, name)
            if path.is_symlink() and not path.resolve().is_relative_to(inside):
                raise UserError(
                    f"refusing to push {path.relative_to(root).as_posix()}: a link to {path.resolve()}, outside "
                    f"{root}; copy the file into the folder or remove the link"
                )
        for name in sorted(names):
            path = Path(folder, name)
            if _matches(name, EXCLUDED_FILES) or not path.is_file():
                continue
            selected.append(path.relative_to(root).as_posix())
    return selected


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def check_output_dir(output_dir: str | os.PathLike) -> Path:
    root = Path(output_dir)
    if not root.is_dir():
        raise UserError(f"{root} is not a directory: give the output directory of a training run")
    if (root / ADAPTER_CONFIG).is_file() and not (root / "config.json").is_file():  # a peft adapter alone
        if read_adapter_config(root) is None:
            raise UserError(
                f"{root / ADAPTER_CONFIG} is not a peft adapter config (valid JSON with peft_type)"
            )
        if not (root / "adapter_model.safetensors").is_file() and not (root / "adapter_model.bin").is_file():
            raise UserError(f"{root} has no adapter weights (adapter_model.safetensors): nothing to push")
        return root
    if not (root / "config.json").is_file():
        raise UserError(f"{root} has no config.json: is it the output directory of a training run?")
    if not any((root / name).is_file() for name in WEIGHT_FILES):
        raise UserError(f"{root} has no model weights ({', '.join(WEIGHT_FILES[:2])}): nothing to push")
    config = read_json(root / "config.json")
    if config is None:
        raise UserError(f"{root / 'config.json'} is not valid JSON")
    for auto_class, reference in (config.get("auto_map") or {}).items():
        module = reference.split("--")[-1].rsplit(".", 1)[0] if isinstance(reference, str) else None
        if module and not (root / f"{module}.py").is_file():
            raise UserError(
                f"{root} has no {module}.py although config.json's auto_map needs it for {auto_class}: "
                "re-save the model with save_pretrained so the code travels with the weights"
            )
    if not any((root / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt")):
        logger.warning("%s has no tokenizer files: the pushed repo will have no tokenizer", root)
    return root


def _base_config(adapter: dict) -> dict:
    """The config.json of the adapter's base checkpoint where it is a local directory (the card names its
    architecture and whether it needs trust_remote_code); {} for a Hub checkpoint (no network here)."""
    base = adapter.get("base_model_name_or_path")
    return (read_json(Path(base) / "config.json") or {}) if isinstance(base, str) and base else {}


def read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_recipe(root: Path) -> dict | None:
    path = root / "recipe.yaml"
    if not path.is_file():
        return None
    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        logger.warning("%s is not readable YAML (%s): the model card leaves the recipe out", path, error)
        return None
    return value if isinstance(value, dict) else None


def _eval_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """metrics.json entries that describe the model (kept for model-index): finite numbers, no timings."""
    return {
        key: float(value)
        for key, value in metrics.items()
        if isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and not _NOT_EVAL_METRICS.search(key)
    }


def _metric_type(key: str) -> str:
    return re.sub(r"^(eval|test|validation|predict)_", "", key)


def _looks_like_hub_id(value: Any) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"[\w.\-]+(/[\w.\-]+)?", value):
        return False
    if Path(value).suffix.lower() in (".txt", ".csv", ".tsv", ".json", ".jsonl", ".parquet", ".yaml", ".yml"):
        return False
    return not Path(value).exists()


@dataclass
class RecipeFacts:
    """What the card says about how a run was made, read from its recipe.yaml through the schema's keys."""

    verb: str = "finetune"  # the hf-recipes command that re-runs the recipe
    objective: str | None = None  # pretraining: causal_lm, mlm_nsp, mlm
    task_name: str | None = None
    pipeline_tag: str | None = None  # the task's pipeline (None: by the model's head)
    task_head: str | None = None  # the Auto class the task trains
    labels: list[str] | None = None  # the task's labels, where it knows them before reading its data
    base_model: str | None = None  # the Hub checkpoint fine-tuned
    base_model_local: str | None = None  # or a local one
    scratch_from: str | None = None  # `model.init: scratch`: whose architecture and tokenizer
    datasets: list[str] = field(default_factory=list)
    dataset_config: str | None = None
    description: str | None = None

    @classmethod
    def read(cls, recipe: Mapping[str, Any]) -> RecipeFacts:
        facts = cls(description=_text(recipe.get("description")))
        objective = recipe.get("objective")
        if isinstance(objective, Mapping):  # a pretraining recipe
            facts.verb, facts.objective = "pretrain", _text(objective.get("type"))
            hub = recipe.get("data", {}).get("hub") if isinstance(recipe.get("data"), Mapping) else None
            if isinstance(hub, Mapping) and _looks_like_hub_id(hub.get("path")):
                facts.datasets, facts.dataset_config = [hub["path"]], _text(hub.get("name"))
            return facts
        task = recipe.get("task")
        if isinstance(task, Mapping):
            facts._read_task(task)
        model = recipe.get("model")
        checkpoint = _text(model.get("name_or_path")) if isinstance(model, Mapping) else None
        if checkpoint and model.get("init") == "scratch":
            facts.scratch_from = checkpoint
        elif checkpoint and _looks_like_hub_id(checkpoint):
            facts.base_model = checkpoint
        elif checkpoint:
            facts.base_model_local = checkpoint  # named in the body, not a Hub link
        return facts

    def _read_task(self, section: Mapping[str, Any]) -> None:
        from .resolve import task_of

        self.task_name = _text(section.get("name"))
        try:
            described = task_of(dict(section), "recipe.yaml").describe()
        except UserError as error:  # an older or edited recipe: the card says less
            logger.warning("recipe.yaml: the task is not one this version knows (%s)", error)
            return
        self.pipeline_tag, self.task_head = described["pipeline"], described["auto_model"]
        self.labels = described["labels"]
        if _looks_like_hub_id(described["dataset"]):
            self.datasets, self.dataset_config = [described["dataset"]], described["dataset_config"]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


class _Card:
    """The card of one output directory: metadata (tags, license, datasets, base model, pipeline tag,
    model-index) and a body (what it is, how to load it, how it was trained, results, plots)."""

    def __init__(
        self,
        root: Path,
        config: dict,
        recipe: dict,
        metrics: dict,
        files: list[str],
        source: str,
        adapter: dict | None = None,
    ):
        self.root, self.config, self.recipe, self.metrics, self.files = root, config, recipe, metrics, files
        self.source, self.adapter = source, adapter  # adapter: adapter_config.json of a peft adapter alone
        self.model_type = config.get("model_type", "unknown")
        self.architecture = (config.get("architectures") or [None])[0] or "AutoModel"
        self.custom_code = bool(config.get("auto_map"))
        self.facts = RecipeFacts.read(recipe)
        self.auto_class = (self.facts.task_head or "AutoModel") if adapter else self._auto_class()
        if adapter:  # the base checkpoint's architecture is not this model's: name the head the task trains
            self.architecture = f"{adapter['peft_type']} adapter ({self.auto_class})"
        self.pipeline_tag = self._pipeline_tag()
        self.eval_metrics = _eval_metrics(metrics)
        self.base_model, self.base_model_local = self.facts.base_model, self.facts.base_model_local
        self.datasets, self.dataset_config = self.facts.datasets, self.facts.dataset_config

    # -- facts ---------------------------------------------------------------------------------------------
    def _auto_class(self) -> str:
        for auto_class, reference in (self.config.get("auto_map") or {}).items():
            if isinstance(reference, str) and reference.rsplit(".", 1)[-1] == self.architecture:
                return auto_class
        for suffix, auto_class in _HEAD_SUFFIXES:
            if self.architecture.endswith(suffix):
                return auto_class
        return "AutoModel"

    def _pipeline_tag(self) -> str | None:
        """The pipeline that serves the model's head; the task's own (translation) where the task has that head,
        or where the checkpoint carries a translation pipeline."""
        if self.facts.task_head == self.auto_class and self.facts.pipeline_tag:
            return self.facts.pipeline_tag
        if self.auto_class == "AutoModelForSeq2SeqLM" and "translation" in (
            self.config.get("custom_pipelines") or {}
        ):
            return "translation"
        return PIPELINE_TAGS.get(self.auto_class)

    def _parameters(self) -> int | None:
        total = 0
        for relative in self.files:
            if relative.endswith(".safetensors"):
                try:
                    with open(self.root / relative, "rb") as stream:
                        size = int.from_bytes(stream.read(8), "little")
                        header = json.loads(stream.read(size))
                except (OSError, ValueError):
                    return None
                for name, entry in header.items():
                    if name != "__metadata__":
                        total += math.prod(entry.get("shape", []))
        return total or None

    # -- metadata ------------------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        tags = ["hf-recipes", self.model_type, self.architecture]
        if self.adapter:
            tags = ["hf-recipes", self.model_type, "peft", str(self.adapter["peft_type"]).lower()]
        if self.custom_code:
            tags.append("custom_code")
        tags += [extra for extra in (self.facts.objective, self.facts.task_name) if extra]
        meta: dict[str, Any] = {
            "library_name": "peft" if self.adapter else "transformers",
            "license": LICENSE,
            "tags": list(dict.fromkeys(tags)),
        }
        if self.datasets:
            meta["datasets"] = self.datasets
        if self.base_model:
            meta["base_model"] = self.base_model
        if self.pipeline_tag:
            meta["pipeline_tag"] = self.pipeline_tag
        if self.eval_metrics:
            meta["model-index"] = [
                {"name": self.source.rstrip("/").split("/")[-1], "results": [self._result()]}
            ]
        return meta

    def _result(self) -> dict[str, Any]:
        task_type = self.pipeline_tag or "other"
        dataset: dict[str, Any] = {
            "name": self.datasets[0] if self.datasets else "custom",
            "type": self.datasets[0] if self.datasets else "custom",
        }
        if self.dataset_config:
            dataset["config"] = self.dataset_config
        metrics = [
            {"type": _metric_type(key), "value": value, "name": key}
            for key, value in self.eval_metrics.items()
        ]
        return {
            "task": {"type": task_type, "name": task_type.replace("-", " ").capitalize()},
            "dataset": dataset,
            "metrics": metrics,
        }

    # -- body ----------------------------------------------------------------------------------------------
    def render(self) -> str:
        metadata = yaml.safe_dump(self.metadata(), sort_keys=False, allow_unicode=True)
        sections = [
            self._intro(),
            self._usage(),
            self._training(),
            self._results(),
            self._plots(),
            self._footer(),
        ]
        return f"---\n{metadata}---\n\n" + "\n\n".join(s for s in sections if s) + "\n"

    def _intro(self) -> str:
        name = self.source.rstrip("/").split("/")[-1]
        kind = "fine-tuned" if self.base_model or self.base_model_local else "trained"
        lines = [
            f"# {name}",
            "",
            f"A `{self.architecture}` ({self.model_type}) {kind} with "
            "[hf-recipes](https://github.com/hf-recipes/hf_recipes), a toolkit that pretrains and fine-tunes "
            "the classic NLP architectures as native Hugging Face models.",
        ]
        if self.base_model:
            lines.append(
                f"It was fine-tuned from [{self.base_model}](https://huggingface.co/{self.base_model})."
            )
        elif self.base_model_local:
            lines.append(f"It was fine-tuned from a local checkpoint (`{Path(self.base_model_local).name}`).")
        if self.facts.scratch_from:
            lines.append(
                f"It was trained from random weights (the architecture and tokenizer of `{self.facts.scratch_from}`)."
            )
        if self.datasets:
            config = f" ({self.dataset_config})" if self.dataset_config else ""
            lines.append("Training data: " + ", ".join(f"`{d}`" for d in self.datasets) + config + ".")
        if self.facts.description:
            lines += ["", "> " + " ".join(self.facts.description.split())]
        rows = [("architecture", f"`{self.architecture}`"), ("model_type", f"`{self.model_type}`")]
        if self.facts.objective:
            rows.append(("objective", f"`{self.facts.objective}`"))
        if self.facts.task_name:
            rows.append(("task", f"`{self.facts.task_name}`"))
        parameters = self._parameters()
        if parameters:
            rows.append(("adapter parameters" if self.adapter else "parameters", f"{parameters:,}"))
        if self.adapter:
            rows += [(key, f"`{self.adapter[key]}`") for key in ("r", "lora_alpha") if self.adapter.get(key)]
        for label, key in (
            ("layers", "num_hidden_layers"),
            ("hidden size", "hidden_size"),
            ("attention heads", "num_attention_heads"),
            ("vocabulary", "vocab_size"),
            ("context length", "max_position_embeddings"),
        ):
            if self.adapter:
                break  # the base checkpoint's sizes, not this repository's
            value = self.config.get(key, self._aliased(key))
            if value is not None:
                rows.append((label, str(value)))
        if isinstance(self.config.get("id2label"), dict) and self.auto_class in _LABELLED_HEADS:
            labels = list(self.config["id2label"].values())
            rows.append(
                (
                    "labels",
                    ", ".join(f"`{label}`" for label in labels[:20]) + (" ..." if len(labels) > 20 else ""),
                )
            )
        table = ["", "| | |", "|---|---|", *(f"| {label} | {value} |" for label, value in rows)]
        return "\n".join(lines + table)

    def _aliased(self, key: str) -> Any:
        attribute_map = self.config.get("attribute_map") or {}
        aliases = {
            "num_hidden_layers": ("n_layer", "num_layers"),
            "hidden_size": ("n_embd", "d_model"),
            "num_attention_heads": ("n_head",),
            "max_position_embeddings": ("n_positions", "n_ctx"),
        }
        for alias in (attribute_map.get(key), *aliases.get(key, ())):
            if alias and alias in self.config:
                return self.config[alias]
        return None

    def _usage(self) -> str:
        if self.adapter:
            return self._adapter_usage()
        remote = ", trust_remote_code=True" if self.custom_code else ""
        # QA and seq2seq checkpoints carry the pipeline transformers 5 removed (custom_pipelines): it is code.
        pipeline_remote = (
            ", trust_remote_code=True" if self.custom_code or self.config.get("custom_pipelines") else ""
        )
        code = [
            f"from transformers import {self.auto_class}, AutoTokenizer",
            "",
            f'tokenizer = AutoTokenizer.from_pretrained("{self.source}"{remote})',
            f'model = {self.auto_class}.from_pretrained("{self.source}"{remote})',
        ]
        if self.pipeline_tag and self.pipeline_tag != "feature-extraction":
            code += [
                "",
                "from transformers import pipeline",
                "",
                f'pipe = pipeline("{self.pipeline_tag}", model="{self.source}"{pipeline_remote})',
            ]
        text = ["## How to use", "", "```python", *code, "```"]
        if self.custom_code:
            text += [
                "",
                "The model code (`modeling_*.py`, `configuration_*.py`) is in this repository: "
                "`trust_remote_code=True` runs it, so read it first. hf-recipes itself is not needed. "
                "The tokenizer needs no remote code, but passing the flag avoids transformers' prompt "
                "when it reads the config.",
            ]
        return "\n".join(text)

    def _adapter_usage(self) -> str:
        """Loading a peft adapter: peft's AutoPeftModelFor<head> reads the base checkpoint named in
        adapter_config.json and puts the adapter (and the task's head, saved whole) on it."""
        remote = ", trust_remote_code=True" if self.custom_code else ""
        peft_class = "AutoPeftModel" + self.auto_class.removeprefix("AutoModel")
        labels = ""
        if self.auto_class in _LABELLED_HEADS and self.facts.labels:
            labels = f", num_labels={len(self.facts.labels)}"
        base = self.adapter.get("base_model_name_or_path") or "the base checkpoint"
        code = [
            f"from peft import {peft_class}",
            "from transformers import AutoTokenizer",
            "",
            f'tokenizer = AutoTokenizer.from_pretrained("{self.source}")',
            f'model = {peft_class}.from_pretrained("{self.source}"{labels}{remote})',
            "merged = model.merge_and_unload()  # a plain transformers model, without peft",
        ]
        if self.pipeline_tag and self.pipeline_tag != "feature-extraction":
            code += ["", "from transformers import pipeline", "",
                     f'pipe = pipeline("{self.pipeline_tag}", model=merged, tokenizer=tokenizer)']  # fmt: skip
        return "\n".join([
            "## How to use", "",
            f"This repository holds a peft {self.adapter['peft_type']} adapter alone (and the task's head, which "
            f"trains whole); loading it reads its base checkpoint, `{base}`.", "",
            "```python", *code, "```",
        ])  # fmt: skip

    def _training(self) -> str:
        if not self.recipe:
            return ""
        text = ["## Training", ""]
        training = self.recipe.get("training") if isinstance(self.recipe.get("training"), Mapping) else {}
        rows = [(key, training[key]) for key in _HYPERPARAMETERS if key in training]
        if rows:
            text += [
                "| hyperparameter | value |",
                "|---|---|",
                *(f"| {key} | `{value}` |" for key, value in rows),
                "",
            ]
        recipe_yaml = yaml.safe_dump(self.recipe, sort_keys=False, allow_unicode=True).rstrip()
        verb = self.facts.verb
        text += [
            "The fully resolved recipe is `recipe.yaml` in this repository; with hf-recipes installed, "
            f"`hf-recipes {verb} recipe.yaml` runs it again.",
            "",
            "<details><summary>recipe.yaml</summary>",
            "",
            "```yaml",
            recipe_yaml,
            "```",
            "",
            "</details>",
        ]
        return "\n".join(text)

    def _results(self) -> str:
        numbers = {
            k: v for k, v in self.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        if not numbers:
            return ""
        run = {k: v for k, v in numbers.items() if k not in self.eval_metrics}
        text = ["## Results", ""]
        if self.eval_metrics:
            text += [
                "Evaluation (from `metrics.json`; these are also the card's model-index):",
                "",
                "| metric | value |",
                "|---|---|",
                *(f"| {key} | {_format(value)} |" for key, value in self.eval_metrics.items()),
            ]
        if run:
            text += [
                "",
                "Run statistics:",
                "",
                "| | |",
                "|---|---|",
                *(f"| {key} | {_format(value)} |" for key, value in run.items()),
            ]
        return "\n".join(text)

    def _plots(self) -> str:
        images = [f for f in self.files if f.lower().endswith((".png", ".jpg", ".jpeg", ".svg"))]
        if not images:
            return ""
        text = []
        if "loss.png" in images:
            text += ["## Training loss", "", "![Training and evaluation loss](loss.png)"]
            images.remove("loss.png")
        if images:
            text += [
                "",
                "## Plots",
                "",
                *(f"![{Path(image).stem.replace('_', ' ')}]({image})" for image in images),
            ]
        return "\n".join(text).strip()

    def _footer(self) -> str:
        from . import __version__

        versions = [f"hf-recipes {__version__}"]
        if self.config.get("transformers_version"):
            versions.append(f"transformers {self.config['transformers_version']}")
        return "## Framework versions\n\n" + "\n".join(f"- {v}" for v in versions)


def _format(value: float) -> str:
    return f"{value:.4f}" if isinstance(value, float) and not value.is_integer() else f"{value:g}"


__all__ = [
    "LICENSE",
    "RecipeFacts",
    "check_output_dir",
    "read_json",
    "read_recipe",
    "render_model_card",
    "select_files",
    "write_model_card",
]
