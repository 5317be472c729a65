"""Data parallelism, proven: 2 processes × batch b train exactly as 1 process × batch 2b.

Each case runs the same recipe twice on the CPU: once as one process with `per_device_train_batch_size=2b`,
once under `accelerate launch` with recipes/accelerate/cpu_2proc.yaml (two gloo ranks) and
`per_device_train_batch_size=b`, dropout off, the same seed, and compares the training loss logged at every
step. Both runs see the same examples in the same order (accelerate gives rank r the r-th batch of b of
each 2b), so the loss of step 1 only checks the data; every later step's loss is a function of the weights the
steps before left, so equal curves mean the gradients are averaged over the ranks and the losses scaled as
one batch's. The translation cases have token-level losses over sentences of different lengths: the two ranks
hold different numbers of target tokens, which is where a loss normalised per process instead of over the
whole step (`num_items_in_batch`, ../shared/HF5_NOTES.md) would show.

Not here, with the reason: BERT pretraining and word2vec/FastText draw their random choices (masked
positions; subsampling, windows, noise words) on each rank from that rank's generator, so two ranks cannot
draw what one process draws (their 2-process runs are tested for training, not for equality); the captioner's
CNN normalises by batch statistics (BatchNorm), which are per rank under DDP as in every DDP without
SyncBatchNorm.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = shutil.which("accelerate") or os.path.join(os.path.dirname(sys.executable), "accelerate")
STEPS = 5
FINETUNE = [
    "variant=tiny",
    f"training.max_steps={STEPS}",
    "training.logging_steps=1",
    "training.eval_strategy=no",
    "training.save_strategy=no",
    "training.load_best_model_at_end=false",
    "data.max_train_samples=160",
    "data.max_test_samples=4",
]
GPT_PRETRAINING = [
    "variant=tiny",
    f"training.max_steps={STEPS}",
    "training.logging_steps=1",
    "training.eval_strategy=no",
    "training.save_steps=100",
    "training.warmup_steps=0",
    "data.max_train_samples=160",
    "samples.count=0",
]
CASES = {
    "gpt-pretraining": (["pretrain", "char_gpt_shakespeare"], GPT_PRETRAINING, True),
    # a stream is an IterableDataset: accelerate dispatches it (process 0 reads two batches of 4, each rank gets
    # one), the very examples one process reads as a batch of 8
    "gpt-pretraining-streamed": (
        ["pretrain", "char_gpt_shakespeare"],
        [*GPT_PRETRAINING, "data.streaming=true", "data.validation_fraction=null", "data.shuffle_buffer=64"],
        True,
    ),
    "rnn-seq2seq": (
        ["finetune", "multi30k_gru"],
        [*FINETUNE, "model.config.dropout=0", "training.train_sampling_strategy=random"],
        True,
    ),
    "transformer-seq2seq": (
        ["finetune", "multi30k_transformer"],
        [*FINETUNE, "model.config.dropout=0", "training.train_sampling_strategy=random"],
        True,
    ),
    "bert-classifier": (
        ["finetune", "word_order", "--model", "scratch:hfr_bert/tiny"],
        [*FINETUNE, "model.config.hidden_dropout_prob=0", "model.config.attention_probs_dropout_prob=0"],
        False,
    ),
    "rnn-classifier": (
        ["finetune", "word_order", "--model", "scratch:hfr_rnn/tiny"],
        [*FINETUNE, "model.config.dropout=0"],
        False,
    ),
}


def _losses(command: list[str], out: Path, cwd: Path) -> list[float]:
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads((out / "log_history.json").read_text())
    return [entry["loss"] for entry in history if "loss" in entry]


@pytest.mark.skipif(not os.path.exists(ACCELERATE), reason="accelerate CLI not installed")
@pytest.mark.parametrize("case", list(CASES))
def test_two_processes_train_exactly_as_one_with_their_batches_together(case, tmp_path, request):
    job, overrides, needs_data = CASES[case]
    data = ["--data-dir", str(request.getfixturevalue("shared_data"))] if needs_data else []
    one, two = tmp_path / "one", tmp_path / "two"
    single = [sys.executable, "-m", "hf_recipes", *job, *data, "--output-dir", str(one), *overrides]
    losses_one = _losses([*single, "training.per_device_train_batch_size=8"], one, tmp_path)
    launch = [ACCELERATE, "launch", "--config_file", str(ROOT / "recipes" / "accelerate" / "cpu_2proc.yaml")]
    double = [*launch, "-m", "hf_recipes", *job, *data, "--output-dir", str(two), *overrides]
    losses_two = _losses([*double, "training.per_device_train_batch_size=4"], two, tmp_path)
    assert len(losses_one) == len(losses_two) == STEPS
    assert losses_two == pytest.approx(losses_one, rel=1e-5), (losses_one, losses_two)
    assert losses_one[-1] != pytest.approx(losses_one[1], rel=1e-3)  # the weights moved: the steps were real


@pytest.mark.skipif(not os.path.exists(ACCELERATE), reason="accelerate CLI not installed")
def test_two_processes_resume_a_stream_where_it_stopped(shared_data, tmp_path):
    """A streamed run of two processes stopped at step 3 and resumed to step 6 (more steps are a resumable
    change) trains steps 4-6 on the batches the uninterrupted run trains them on: process 0 noted the stream's
    position behind both ranks' batches, though accelerate had read further ahead."""
    overrides = [*CASES["gpt-pretraining-streamed"][1], "training.per_device_train_batch_size=4"]
    overrides += ["training.lr_scheduler_type=constant", "training.save_steps=3", "data.shuffle_buffer=24"]
    launch = [ACCELERATE, "launch", "--config_file", str(ROOT / "recipes" / "accelerate" / "cpu_2proc.yaml")]
    launch += ["-m", "hf_recipes", "pretrain", "char_gpt_shakespeare", "--data-dir", str(shared_data)]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    losses = _losses(
        [*launch, "--output-dir", str(straight), *overrides, "training.max_steps=6"], straight, tmp_path
    )
    first = _losses(
        [*launch, "--output-dir", str(resumed), *overrides, "training.max_steps=3"], resumed, tmp_path
    )
    again = _losses(
        [*launch, "--output-dir", str(resumed), *overrides, "training.max_steps=6"], resumed, tmp_path
    )
    assert len(losses) == 6 and first == losses[:3]
    assert again == losses  # bit for bit: the same batches, the same order, the same weights
    assert json.loads((resumed / "checkpoint-3" / "stream_position.json").read_text())["pass"] == 0


FSDP_ON_CPU = """\
compute_environment: LOCAL_MACHINE
distributed_type: FSDP
fsdp_config: {fsdp_version: 2, fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP, fsdp_state_dict_type: SHARDED_STATE_DICT}
num_machines: 1
num_processes: 2
machine_rank: 0
mixed_precision: 'no'
"""


@pytest.mark.skipif(not os.path.exists(ACCELERATE), reason="accelerate CLI not installed")
def test_fsdp_on_cpu_ranks_is_refused_not_silently_run_as_ddp(tmp_path):
    """accelerate 1.x sets FSDP up for accelerator ranks only: on gloo CPU ranks it wraps the model in plain
    DistributedDataParallel and trains without a word (measured: the same losses as cpu_2proc.yaml). The job
    says so in one line and leaves no output directory."""
    config = tmp_path / "fsdp_cpu.yaml"
    config.write_text(FSDP_ON_CPU)
    out = tmp_path / "fsdp"
    command = [ACCELERATE, "launch", "--config_file", str(config), "-m", "hf_recipes", "finetune", "word_order",
               "--model", "scratch:hfr_gpt/nano", "--output-dir", str(out), *FINETUNE]  # fmt: skip
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode != 0
    assert (
        "error: accelerate launch: the config asks for FSDP, but these ranks run on the CPU" in result.stderr
    )
    assert not out.exists()


def test_deepspeed_asked_for_on_cpu_ranks_is_one_clear_error(monkeypatch):
    """The same check for DeepSpeed (accelerate takes it only without `cpu`); on its arguments alone, since
    TrainingArguments itself needs the deepspeed package (the `deepspeed` extra) once it is asked for."""
    from types import SimpleNamespace

    import torch

    from hf_recipes.errors import UserError
    from hf_recipes.training import check_engine

    def ranks(device):
        return SimpleNamespace(distributed_state=SimpleNamespace(device=torch.device(device)))

    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    with pytest.raises(UserError, match="asks for DeepSpeed, but these ranks run on the CPU"):
        check_engine(ranks("cpu"))
    check_engine(ranks("cuda"))  # GPU ranks: accelerate takes the plugin
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "false")
    check_engine(ranks("cpu"))


def test_every_accelerate_config_loads_as_accelerate_reads_it():
    """recipes/accelerate/*.yaml through accelerate's own config class (unknown keys and bad values raise)."""
    from accelerate.commands.config.config_args import ClusterConfig

    configs = {
        path.stem: ClusterConfig.from_yaml_file(str(path))
        for path in (ROOT / "recipes" / "accelerate").glob("*.yaml")
    }
    assert {"cpu_2proc", "multi_gpu", "fsdp", "deepspeed_zero2", "deepspeed_zero3", "multi_node"} <= set(
        configs
    )
    assert configs["deepspeed_zero2"].deepspeed_config["zero_stage"] == 2
    assert configs["deepspeed_zero3"].deepspeed_config["zero3_save_16bit_model"] is True
    assert configs["fsdp"].fsdp_config["fsdp_version"] == 2
    node = configs["multi_node"]
    assert node.num_machines == 2 and node.main_process_ip and node.main_process_port


def test_a_deepspeed_launch_without_deepspeed_is_one_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("accelerate")
    if importlib.util.find_spec("deepspeed") is not None:
        pytest.skip("deepspeed is installed here")
    from hf_recipes.errors import UserError
    from hf_recipes.training import training_arguments

    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    with pytest.raises(UserError, match=r"a package the launch needs is missing .*hf-recipes\[deepspeed\]"):
        training_arguments({"use_cpu": True}, tmp_path)
