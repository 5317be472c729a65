"""Pipelines that transformers 5 removed but our models' users need: extractive question answering,
text-to-text generation and translation.

Each lives in a self-contained file that `attach_pipelines` copies next to a saved checkpoint and names in
its config.json (`custom_pipelines`), so `pipeline(task, model=DIR, trust_remote_code=True)` works there,
with or without hf_recipes installed (transformers resolves a checkpoint's custom pipelines before it checks
for removed tasks).
"""

import json
import shutil
from pathlib import Path

from . import pipeline_question_answering, pipeline_seq2seq

# Auto class of a model head -> the module holding the pipelines it serves.
PIPELINES_FOR_HEAD = {
    "AutoModelForQuestionAnswering": pipeline_question_answering,
    "AutoModelForSeq2SeqLM": pipeline_seq2seq,
}


def attach_pipelines(checkpoint_dir: str | Path, head: str) -> list[str]:
    """Copy the pipeline code for `head` into a saved checkpoint and add its tasks to config.json's
    custom_pipelines; returns the tasks added (none for heads transformers still serves itself)."""
    module = PIPELINES_FOR_HEAD.get(head)
    if module is None:
        return []
    directory = Path(checkpoint_dir)
    shutil.copyfile(module.__file__, directory / Path(module.__file__).name)
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text())
    config["custom_pipelines"] = {**config.get("custom_pipelines", {}), **module.CUSTOM_PIPELINES}
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return sorted(module.CUSTOM_PIPELINES)


__all__ = ["attach_pipelines", "PIPELINES_FOR_HEAD"]
