"""Push a trained output directory to the Hugging Face Hub, with a generated model card.

`hf-recipes push OUTPUT_DIR REPO_ID` (→ `main`) and the end of a training run (→ `push_after_training`)
both go through `push`, so a repo looks the same whichever way it was filled:

- what is pushed: weights (safetensors), config.json with its auto_map, the model code files, tokenizer
  files, recipe.yaml (secrets redacted), metrics.json, trainer_state.json, plots, predictions, and a
  README.md model card generated from them (`render_model_card`);
- what never is: checkpoint-* folders, optimizer / scheduler / RNG states, training_args.bin (a pickle),
  hidden files and caches, and the directory's own README.md (replaced by the generated card);
- the user's directory is only read: the card travels in the commit, not through the disk. Everything is
  one commit, so a push is all or nothing on the Hub too;
- the token comes from `token=`, HF_TOKEN or the huggingface_hub login cache, goes only into the
  Authorization header, and a file that contains it is refused before anything is sent;
- every failure (bad REPO_ID, no token, server down, 401/403/404/5xx) is one `UserError` line.

The endpoint is huggingface_hub's (HF_ENDPOINT), which is how the tests point it at a local server.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import json
import logging
import math
import mmap
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError
from .secrets import redact

logger = logging.getLogger(__name__)

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
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)

# Head of the model (its Auto class) → the Hub's pipeline tag; heads without a pipeline get none.
PIPELINE_TAGS = {
    "AutoModelForCausalLM": "text-generation",
    "AutoModelForMaskedLM": "fill-mask",
    "AutoModelForPreTraining": "fill-mask",
    "AutoModelForSequenceClassification": "text-classification",
    "AutoModelForTokenClassification": "token-classification",
    "AutoModelForQuestionAnswering": "question-answering",
    "AutoModelForSeq2SeqLM": "text2text-generation",
    "AutoModel": "feature-extraction",
}
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
    r"(^train_|^total_flos$|^epoch$|^step$|^global_step$|_runtime$|_per_second$|_mem_|^best_eval_)"
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


# ------------------------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------------------------
def push(
    output_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
) -> str:
    """Push `output_dir` to the model repo `repo_id` (created if needed) as one commit; return its URL.

    `revision` names a branch, created from main if it does not exist. `private` only applies when the
    repo is created. Raises `UserError` (one line) for every problem; `output_dir` is never written.
    """
    repo_id = validate_repo_id(repo_id)
    if revision is not None:
        revision = _validate_branch(revision)
    root = _output_dir(output_dir)
    token = token or _token_from_environment()
    files = select_files(root)
    uploads = _uploads(root, files)
    card = render_model_card(root, repo_id=repo_id, files=files)
    uploads.append(("README.md", card.encode()))
    _refuse_token_in(uploads, token)
    message = commit_message or _default_commit_message(root)
    return _send(repo_id, uploads, token=token, private=private, revision=revision, message=message)


def push_after_training(
    trainer: Any, output_dir: str | os.PathLike | None = None, *, commit_message: str = "End of training"
) -> str | None:
    """End-of-training push for a recipe with `training.push_to_hub: true` (+ `training.hub_model_id`).

    Call it once the job has written everything into the output directory (model, tokenizer, recipe.yaml,
    metrics.json, plots). The Trainer's own hub integration stays in charge while training: from the
    TrainingArguments fields push_to_hub / hub_model_id / hub_strategy / hub_private_repo / hub_revision it
    creates the repo when it is built and pushes on every save (checkpoints too with hub_strategy
    "checkpoint" or "all_checkpoints"). This waits for those background pushes, then makes the final
    commit with `push` (same files and model card as `hf-recipes push`). Returns the commit URL, or None
    when the Trainer does not push to the Hub or on processes other than the main one.
    """
    args = trainer.args
    if not getattr(args, "push_to_hub", False) or not trainer.is_world_process_zero():
        return None
    repo_id = getattr(trainer, "hub_model_id", None) or args.hub_model_id
    if not repo_id:
        raise UserError("training.push_to_hub is true but training.hub_model_id is not set (namespace/name)")
    finish_pushes = getattr(trainer, "_finish_current_push", None)
    if finish_pushes is not None:
        finish_pushes()  # the Trainer's in-flight checkpoint pushes land before the final commit
    return push(
        output_dir if output_dir is not None else args.output_dir,
        repo_id,
        private=bool(getattr(args, "hub_private_repo", False)),
        revision=getattr(args, "hub_revision", None),
        commit_message=commit_message,
        token=getattr(args, "hub_token", None),
    )


def main(args: argparse.Namespace) -> int:
    """`hf-recipes push OUTPUT_DIR REPO_ID [--private] [--revision BRANCH] [--commit-message MSG]`."""
    url = push(
        args.output_dir,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        commit_message=args.commit_message,
    )
    print(f"pushed {args.output_dir} to {args.repo_id} ({args.revision or 'main'}): {url}")
    return 0


def write_model_card(output_dir: str | os.PathLike, *, repo_id: str | None = None) -> Path:
    """Write the model card as `output_dir/README.md` (atomically: a temporary file, then a rename)."""
    root = _output_dir(output_dir)
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


def validate_repo_id(repo_id: str) -> str:
    """`namespace/name` as the Hub allows it, or a UserError naming the expected form."""
    from huggingface_hub.utils import HFValidationError
    from huggingface_hub.utils import validate_repo_id as hub_validate

    expected = f"REPO_ID must be namespace/name (e.g. my-user/bert-sst2), got {repo_id!r}"
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise UserError(expected)
    try:
        hub_validate(repo_id)
    except HFValidationError as error:
        raise UserError(f"{expected}: {error}") from None
    return repo_id


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


def render_model_card(
    output_dir: str | os.PathLike, *, repo_id: str | None = None, files: list[str] | None = None
) -> str:
    """The README.md for `output_dir`: YAML metadata + a body, from config.json and, when present,
    recipe.yaml, metrics.json and the plots. `repo_id` is what the usage snippet loads."""
    root = Path(output_dir)
    files = select_files(root) if files is None else files
    config = _read_json(root / "config.json") or {}
    recipe = redact(_read_recipe(root)) or {}
    metrics = _read_json(root / "metrics.json") or {}
    source = repo_id or _get(recipe, "training", "hub_model_id") or str(root)
    return _Card(root, config, recipe, metrics, files, source).render()


# ------------------------------------------------------------------------------------------------------------
# Reading the output directory
# ------------------------------------------------------------------------------------------------------------
def _output_dir(output_dir: str | os.PathLike) -> Path:
    root = Path(output_dir)
    if not root.is_dir():
        raise UserError(f"{root} is not a directory: give the output directory of a training run")
    if not (root / "config.json").is_file():
        raise UserError(f"{root} has no config.json: is it the output directory of a training run?")
    if not any((root / name).is_file() for name in WEIGHT_FILES):
        raise UserError(f"{root} has no model weights ({', '.join(WEIGHT_FILES[:2])}): nothing to push")
    config = _read_json(root / "config.json")
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


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _read_recipe(root: Path) -> dict | None:
    path = root / "recipe.yaml"
    if not path.is_file():
        return None
    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        logger.warning("%s is not readable YAML (%s): the model card leaves the recipe out", path, error)
        return None
    return value if isinstance(value, dict) else None


def _uploads(root: Path, files: list[str]) -> list[tuple[str, Path | bytes]]:
    """(path in repo, local file or bytes) for every selected file; recipe.yaml with secrets redacted."""
    uploads: list[tuple[str, Path | bytes]] = []
    for relative in files:
        path = root / relative
        if relative == "recipe.yaml":
            recipe = _read_recipe(root)
            if recipe is not None and redact(recipe) != recipe:
                logger.warning("recipe.yaml holds a credential: the pushed copy has it redacted")
                uploads.append((relative, yaml.safe_dump(redact(recipe), sort_keys=False).encode()))
                continue
        uploads.append((relative, path))
    return uploads


def _token_from_environment() -> str:
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise UserError(
            "no Hugging Face token: set HF_TOKEN or run `hf auth login` (the token needs write access)"
        )
    return token


def _refuse_token_in(uploads: list[tuple[str, Path | bytes]], token: str) -> None:
    needle = token.encode()
    for relative, content in uploads:
        if isinstance(content, bytes):
            found = needle in content
        else:
            with open(content, "rb") as stream:
                if os.fstat(stream.fileno()).st_size == 0:
                    continue
                with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    found = data.find(needle) != -1
        if found:
            raise UserError(
                f"refusing to push: {relative} contains your Hub token; remove it from the file first"
            )


def _default_commit_message(root: Path) -> str:
    config = _read_json(root / "config.json") or {}
    architecture = (config.get("architectures") or [config.get("model_type", "model")])[0]
    return f"Upload {architecture} trained with hf-recipes"


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


# ------------------------------------------------------------------------------------------------------------
# Talking to the Hub
# ------------------------------------------------------------------------------------------------------------
def _send(
    repo_id: str,
    uploads: list[tuple[str, Path | bytes]],
    *,
    token: str,
    private: bool,
    revision: str | None,
    message: str,
) -> str:
    from huggingface_hub import CommitOperationAdd, HfApi, constants

    from . import __version__

    endpoint = constants.ENDPOINT
    api = HfApi(token=token, library_name="hf_recipes", library_version=__version__)
    operations = [
        CommitOperationAdd(
            path_in_repo=relative,
            path_or_fileobj=str(content) if isinstance(content, Path) else io.BytesIO(content),
        )
        for relative, content in uploads
    ]
    try:
        # private=None (not False) leaves a new repo to the namespace's default visibility.
        api.create_repo(repo_id, private=True if private else None, exist_ok=True)
        if revision is not None and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.create_commit(repo_id, operations, commit_message=message, revision=revision)
    except Exception as error:  # every known failure becomes one line; anything else is a bug and re-raises
        known = _hub_error(error, repo_id, revision, endpoint, token)
        if known is None:
            raise
        raise known from None
    return info.commit_url


def _hub_error(
    error: Exception, repo_id: str, revision: str | None, endpoint: str, token: str
) -> UserError | None:
    from huggingface_hub.errors import (
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    def one_line(text: str) -> str:
        return " ".join(str(text).replace(token, "***").split())[:300]

    if isinstance(error, OfflineModeIsEnabled):
        return UserError("HF_HUB_OFFLINE is set: unset it (or set HF_HUB_OFFLINE=0) to push to the Hub")
    if _is_connection_error(error):
        return UserError(
            f"cannot reach the Hub at {endpoint} ({one_line(error) or type(error).__name__}): "
            "check the network and HF_ENDPOINT, then push again"
        )
    if isinstance(error, HfHubHTTPError) and error.response is not None:
        status = error.response.status_code
        detail = one_line(error.server_message or error.response.reason_phrase or "")
        detail = f": {detail}" if detail else ""
        if status == 401:
            return UserError(
                f"the Hub at {endpoint} rejected the token (401 Unauthorized{detail}); "
                "run `hf auth login` or set HF_TOKEN to a token with write access"
            )
        if status == 403:
            return UserError(
                f"the token may not write to {repo_id} (403 Forbidden{detail}); "
                f"use a token with write access to {repo_id.split('/')[0]}"
            )
        if isinstance(error, RevisionNotFoundError):
            return UserError(f"branch {revision!r} was not found in {repo_id} (404{detail})")
        if isinstance(error, RepositoryNotFoundError) or status == 404:
            return UserError(
                f"{repo_id} was not found on {endpoint}, or the token cannot see it (404{detail})"
            )
        if status >= 500:
            return UserError(
                f"the Hub at {endpoint} failed with {status}{detail}; the push did not complete, "
                "try again later"
            )
        return UserError(f"the Hub at {endpoint} refused the push ({status}{detail})")
    if isinstance(error, ValueError):  # the client's own checks (e.g. an invalid revision)
        return UserError(f"cannot push to {repo_id}: {one_line(error)}")
    return None


def _is_connection_error(error: Exception) -> bool:
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    try:
        import httpx2 as http_client  # huggingface_hub >= 1.x ships its HTTP client as httpx2
    except ImportError:  # pragma: no cover - older clients
        try:
            import httpx as http_client
        except ImportError:
            return False
    return isinstance(error, http_client.TransportError)


def _validate_branch(revision: str) -> str:
    if (
        not revision
        or revision != revision.strip()
        or revision.startswith(("-", "/"))
        or revision.endswith(("/", "."))
        or ".." in revision
        or "//" in revision
        or not re.fullmatch(r"[\w.\-/]+", revision)
    ):
        raise UserError(f"--revision must be a branch name such as `dev` or `runs/v2`, got {revision!r}")
    return revision


# ------------------------------------------------------------------------------------------------------------
# The model card
# ------------------------------------------------------------------------------------------------------------
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


class _Card:
    def __init__(self, root: Path, config: dict, recipe: dict, metrics: dict, files: list[str], source: str):
        self.root, self.config, self.recipe, self.metrics, self.files = root, config, recipe, metrics, files
        self.source = source
        self.model_type = config.get("model_type", "unknown")
        self.architecture = (config.get("architectures") or [None])[0] or "AutoModel"
        self.custom_code = bool(config.get("auto_map"))
        self.auto_class = self._auto_class()
        self.pipeline_tag = self._pipeline_tag()
        self.eval_metrics = _eval_metrics(metrics)
        self.base_model, self.base_model_local = self._base_model()
        self.datasets, self.dataset_config = self._datasets()

    # -- facts ---------------------------------------------------------------------------------------------
    def _auto_class(self) -> str:
        for auto_class, reference in (self.config.get("auto_map") or {}).items():
            if isinstance(reference, str) and reference.rsplit(".", 1)[-1] == self.architecture:
                return auto_class
        for suffix, auto_class in _HEAD_SUFFIXES:
            if self.architecture.endswith(suffix):
                return auto_class
        return "AutoModel"

    def _task_name(self) -> str | None:
        """The fine-tuning task (`task: sst2` or `task: {name: sst2, ...}`), if the recipe has one."""
        task = self.recipe.get("task")
        name = task if isinstance(task, str) else _get(task, "name")
        return name if isinstance(name, str) and name else None

    def _pipeline_tag(self) -> str | None:
        task = " ".join(filter(None, [self._task_name(), str(_get(self.recipe, "task", "type") or "")]))
        translates = "translation" in task.lower() or "translation" in (
            self.config.get("custom_pipelines") or {}
        )
        if self.auto_class == "AutoModelForSeq2SeqLM" and translates:
            return "translation"
        return PIPELINE_TAGS.get(self.auto_class)

    def _base_model(self) -> tuple[str | None, str | None]:
        """(Hub id, local path) of the checkpoint this run started from; a pretraining run has neither, and
        neither has a `model.init: scratch` run, which takes only the architecture and tokenizer."""
        model = self.recipe.get("model")
        if _get(model, "init") == "scratch":
            return None, None
        keys = ("base_model", "name_or_path", "pretrained", "from_pretrained", "checkpoint", "init_from")
        candidates = [model] if isinstance(model, str) else [_get(model, key) for key in keys]
        candidates.append(self.recipe.get("base_model"))
        for candidate in candidates:
            if _looks_like_hub_id(candidate):
                return candidate, None
            if isinstance(candidate, str) and candidate:
                return None, candidate  # a local checkpoint: named in the body, not a Hub link
        return None, None

    def _datasets(self) -> tuple[list[str], str | None]:
        """Hub dataset ids (and the config of the first) from `data.hub` {path, name} (the recipe schema),
        a task's `hub_dataset`/`hub_config`, or plain `data.dataset`/`data.config` keys."""
        data, task = self.recipe.get("data"), self.recipe.get("task")
        found, config_name = [], None
        for section in (_get(data, "hub"), data, task, _get(task, "hub")):
            if not isinstance(section, Mapping):
                continue
            dataset_keys = (
                ("path", "hub_dataset", "dataset") if section is not data else ("hub_dataset", "dataset")
            )
            for key in dataset_keys:
                value = section.get(key)
                if _looks_like_hub_id(value) and value not in found:
                    found.append(value)
            config_keys = (
                ("name", "hub_config", "config") if section is not task else ("hub_config", "config")
            )
            config_name = config_name or next(
                (
                    section[key]
                    for key in config_keys
                    if isinstance(section.get(key), str) and section.get(key)
                ),
                None,
            )
        return found, config_name if found else None

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
        if self.custom_code:
            tags.append("custom_code")
        for extra in (_get(self.recipe, "objective", "type"), self._task_name()):
            if isinstance(extra, str) and extra:
                tags.append(extra)
        license_name = (
            _get(self.recipe, "hub", "license")
            or self.recipe.get("license")
            or _get(self.recipe, "output", "license")
            or "apache-2.0"
        )
        meta: dict[str, Any] = {
            "library_name": "transformers",
            "license": license_name,
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
        if _get(self.recipe, "model", "init") == "scratch":
            donor = _get(self.recipe, "model", "name_or_path")
            lines.append(f"It was trained from random weights (the architecture and tokenizer of `{donor}`).")
        if self.datasets:
            config = f" ({self.dataset_config})" if self.dataset_config else ""
            lines.append("Training data: " + ", ".join(f"`{d}`" for d in self.datasets) + config + ".")
        description = self.recipe.get("description")
        if isinstance(description, str) and description.strip():
            lines += ["", "> " + " ".join(description.split())]
        rows = [("architecture", f"`{self.architecture}`"), ("model_type", f"`{self.model_type}`")]
        objective = _get(self.recipe, "objective", "type")
        if isinstance(objective, str):
            rows.append(("objective", f"`{objective}`"))
        if self._task_name():
            rows.append(("task", f"`{self._task_name()}`"))
        parameters = self._parameters()
        if parameters:
            rows.append(("parameters", f"{parameters:,}"))
        for label, key in (
            ("layers", "num_hidden_layers"),
            ("hidden size", "hidden_size"),
            ("attention heads", "num_attention_heads"),
            ("vocabulary", "vocab_size"),
            ("context length", "max_position_embeddings"),
        ):
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
        verb = "pretrain" if "objective" in self.recipe else "finetune"
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
