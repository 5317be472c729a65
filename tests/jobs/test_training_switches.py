"""Recipe switches of the `training` section on the job path (CPU): bf16 autocast, gradient checkpointing and
fused AdamW train the Transformer families; a model that cannot checkpoint its activations is refused in one
line before the run directory is touched."""

import json
import math

import pytest

from hf_recipes.errors import UserError
from hf_recipes.jobs.finetune import run

SWITCHES = [
    "variant=tiny",
    "training.max_steps=3",
    "training.logging_steps=1",
    "training.eval_strategy=no",
    "training.save_strategy=no",
    "training.load_best_model_at_end=false",
    "data.max_train_samples=48",
    "data.max_test_samples=4",
    "training.use_cpu=true",  # transformers allows bf16 on a CPU only when told it is one
    "training.bf16=true",
    "training.gradient_checkpointing=true",
    "training.optim=adamw_torch_fused",
]


@pytest.mark.parametrize("family", ["hfr_gpt/nano", "hfr_bert/tiny"])
def test_bf16_gradient_checkpointing_and_fused_adamw_train(family, tmp_path):
    out = tmp_path / family.replace("/", "-")
    run("word_order", SWITCHES, model=f"scratch:{family}", output_dir=str(out))
    losses = [
        entry["loss"] for entry in json.loads((out / "log_history.json").read_text()) if "loss" in entry
    ]
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses)
    saved = (out / "recipe.yaml").read_text()
    assert "gradient_checkpointing: true" in saved and "bf16: true" in saved


def test_gradient_checkpointing_on_a_recurrent_model_is_one_clear_error(tmp_path):
    out = tmp_path / "rnn"
    with pytest.raises(
        UserError, match="training.gradient_checkpointing: HfrRNNForSequenceClassification does not"
    ):
        run("word_order", SWITCHES, model="scratch:hfr_rnn/tiny", output_dir=str(out))
    assert not out.exists()
