"""The models under the real `transformers.Trainer`: loss goes down, and gradient accumulation does not change
the loss scale (the v5 `num_items_in_batch` trap in ../shared/HF5_NOTES.md)."""

import math

import pytest
import torch
import transformers
from datasets import Dataset

import hf_recipes  # noqa: F401  (registers the AutoClasses)
from hf_recipes.models.bert import HfrBertConfig
from hf_recipes.models.gpt import HfrGPTConfig

VOCAB, SEQ = 32, 12


def counting_sequences(n: int, seed: int = 0) -> torch.Tensor:
    """Rows that count up by a per-row step (mod VOCAB - 4, offset past 4 special ids): learnable from context."""
    generator = torch.Generator().manual_seed(seed)
    start = torch.randint(0, VOCAB - 4, (n, 1), generator=generator)
    step = torch.randint(1, 3, (n, 1), generator=generator)
    return (start + step * torch.arange(SEQ)) % (VOCAB - 4) + 4


def causal_lm_dataset(n: int = 64) -> Dataset:
    input_ids = counting_sequences(n)
    attention_mask = torch.ones_like(input_ids)
    # Uneven lengths, so micro-batches hold different numbers of target tokens (where the GA trap bites).
    for row in range(0, n, 3):
        attention_mask[row, SEQ - 1 - row % 5 :] = 0
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    return Dataset.from_dict({"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels})


def masked_lm_dataset(n: int = 64, with_nsp: bool = False) -> Dataset:
    input_ids = counting_sequences(n, seed=1)
    generator = torch.Generator().manual_seed(2)
    masked = torch.rand(input_ids.shape, generator=generator) < 0.25
    labels = input_ids.masked_fill(~masked, -100)
    columns = {"input_ids": input_ids.masked_fill(masked, 3), "labels": labels}  # 3 plays [MASK]
    if with_nsp:
        columns["next_sentence_label"] = torch.randint(0, 2, (n,), generator=generator)
    return Dataset.from_dict(columns)


def classification_dataset(n: int = 64) -> Dataset:
    input_ids = counting_sequences(n, seed=3)
    labels = (input_ids[:, 0] >= 4 + (VOCAB - 4) // 2).long()  # is the first token in the upper half?
    return Dataset.from_dict({"input_ids": input_ids, "labels": labels})


def gpt(auto_class="AutoModelForCausalLM"):
    config = HfrGPTConfig(
        vocab_size=VOCAB,
        n_positions=SEQ,
        n_embd=32,
        n_layer=2,
        n_head=4,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    return getattr(transformers, auto_class).from_config(config)


def bert(auto_class="AutoModelForMaskedLM"):
    config = HfrBertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=SEQ,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(0)
    return getattr(transformers, auto_class).from_config(config)


def train(model, dataset, tmp_path, *, batch_size=8, accumulation=1, steps=30, lr=3e-3, optim="adamw_torch"):
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / f"run-{batch_size}x{accumulation}"),
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        max_steps=steps,
        learning_rate=lr,
        lr_scheduler_type="constant",
        optim=optim,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
    )
    trainer = transformers.Trainer(model=model, args=args, train_dataset=dataset)
    trainer.train()
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


CASES = {
    "gpt-causal-lm": (gpt, causal_lm_dataset),
    "bert-masked-lm": (bert, masked_lm_dataset),
    "bert-pretraining": (lambda: bert("AutoModelForPreTraining"), lambda: masked_lm_dataset(with_nsp=True)),
    "gpt-classification": (lambda: gpt("AutoModelForSequenceClassification"), classification_dataset),
    "bert-classification": (lambda: bert("AutoModelForSequenceClassification"), classification_dataset),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_thirty_trainer_steps_lower_the_loss(case, tmp_path):
    build_model, build_dataset = CASES[case]
    losses = train(build_model(), build_dataset().select(range(16)), tmp_path)  # 15 passes over 16 examples
    assert len(losses) == 30 and all(math.isfinite(loss) for loss in losses)
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.75 * first, f"{case}: loss {first:.3f} -> {last:.3f}"


@pytest.mark.parametrize(
    "case", ["gpt-causal-lm", "bert-masked-lm", "bert-classification", "gpt-classification"]
)
def test_gradient_accumulation_keeps_the_loss_scale_and_the_update(case, tmp_path):
    """8 sequences at once vs 4 micro-batches of 2 accumulated: same logged loss, same weights after.

    SGD, because its update is the gradient itself; Adam divides by |g| and would turn float noise on
    parameters whose true gradient is 0 (e.g. key biases, to which softmax is invariant) into full steps."""
    build_model, build_dataset = CASES[case]
    whole, accumulated = build_model(), build_model()
    kwargs = dict(steps=2, lr=0.5, optim="sgd")
    losses_whole = train(whole, build_dataset(), tmp_path, batch_size=8, accumulation=1, **kwargs)
    losses_accumulated = train(accumulated, build_dataset(), tmp_path, batch_size=2, accumulation=4, **kwargs)
    assert losses_accumulated == pytest.approx(losses_whole, rel=1e-4)
    for (name, a), b in zip(whole.named_parameters(), accumulated.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)


def test_gradient_accumulation_keeps_the_pretraining_loss_scale(tmp_path):
    """MLM + NSP are means per micro-batch (divided by the accumulation steps by Trainer): with uneven masking
    the accumulated loss is not bit-identical, but it must stay on the same scale (the trap gives 4x)."""
    build_model, build_dataset = CASES["bert-pretraining"]
    whole = train(build_model(), build_dataset(), tmp_path, batch_size=8, accumulation=1, steps=1)
    accumulated = train(build_model(), build_dataset(), tmp_path, batch_size=2, accumulation=4, steps=1)
    assert accumulated[0] == pytest.approx(whole[0], rel=0.1)
