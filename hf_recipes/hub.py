"""Push a trained output directory to the Hugging Face Hub, with a generated model card.

`hf-recipes push OUTPUT_DIR REPO_ID` (→ `main`) and the end of a training run (→ `push_after_training`)
both go through `push`, so a repo looks the same whichever way it was filled:

- what is pushed: weights (safetensors), config.json with its auto_map, the model code files, tokenizer
  files, recipe.yaml (secrets redacted), metrics.json, trainer_state.json, plots, predictions, TensorBoard logs
  (runs/), and a README.md model card generated from them (`render_model_card`);
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
import io
import logging
import mmap
import os
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError
from .model_card import check_output_dir, read_json, read_recipe, render_model_card, select_files
from .secrets import redact

logger = logging.getLogger(__name__)


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
    root = check_output_dir(output_dir)
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


def _uploads(root: Path, files: list[str]) -> list[tuple[str, Path | bytes]]:
    """(path in repo, local file or bytes) for every selected file; recipe.yaml with secrets redacted."""
    uploads: list[tuple[str, Path | bytes]] = []
    for relative in files:
        path = root / relative
        if relative == "recipe.yaml":
            recipe = read_recipe(root)
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
    config = read_json(root / "config.json") or {}
    architecture = (config.get("architectures") or [config.get("model_type", "model")])[0]
    return f"Upload {architecture} trained with hf-recipes"


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
