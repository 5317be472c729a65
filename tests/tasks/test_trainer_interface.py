"""The Task interface drives a real Trainer: the thin loop jobs/finetune.py is meant to be, run for a couple
of steps on tiny transformers models (any AutoModelFor* checkpoint must work, not only ours)."""

import numpy as np
import pytest
import transformers
from datasets import DatasetDict
from transformers import (
    BartConfig,
    BertConfig,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    Trainer,
    TrainingArguments,
)

from hf_recipes.tasks import get_task


def _tiny_bert(tokenizer, folder):
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    transformers.BertModel(config).save_pretrained(folder)  # a "pretrained" encoder without task heads
    return folder


def _subset(raw, splits, n):
    return DatasetDict({split: raw[split].select(range(min(n, len(raw[split])))) for split in splits})


def run_job(
    task,
    raw,
    tokenizer,
    checkpoint,
    output_dir,
    max_length,
    trainer_class=Trainer,
    args_class=TrainingArguments,
    **args,
):
    """load → prepare → model from task.auto_model + model_kwargs → collator → compute_metrics → predictions."""
    features = task.prepare(raw, tokenizer, max_length)
    model_class = getattr(transformers, task.auto_model)
    model = model_class.from_pretrained(checkpoint, **task.model_kwargs())
    eval_raw, eval_features = raw[task.eval_split], features[task.eval_split]
    trainer = trainer_class(
        model=model,
        args=args_class(
            output_dir=str(output_dir),
            max_steps=1,
            per_device_train_batch_size=8,
            per_device_eval_batch_size=16,
            report_to="none",
            use_cpu=True,
            save_strategy="no",
            **args,
        ),
        train_dataset=features[task.train_split],
        eval_dataset=eval_features,
        data_collator=task.data_collator(tokenizer, model),
        processing_class=tokenizer,
        compute_metrics=task.compute_metrics_fn(
            tokenizer=tokenizer, examples=eval_raw, features=eval_features
        ),
    )
    trainer.train()
    output = trainer.predict(eval_features)
    rows = task.predictions(eval_raw, eval_features, output.predictions, tokenizer=tokenizer)
    assert len(rows) == len(eval_raw)
    return model, output.metrics, rows


@pytest.fixture
def bert_checkpoint(wordpiece_tokenizer, tmp_path):
    return _tiny_bert(wordpiece_tokenizer, tmp_path / "bert")


def test_token_classification(shared_data, cache_dir, wordpiece_tokenizer, bert_checkpoint, tmp_path):
    task = get_task("conll2003", label_all_tokens=True)
    raw = _subset(
        task.load(shared_data, cache_dir=cache_dir, splits=["train", "validation"]),
        ["train", "validation"],
        16,
    )
    model, metrics, rows = run_job(task, raw, wordpiece_tokenizer, bert_checkpoint, tmp_path / "out", 48)
    assert {"test_f1", "test_precision", "test_recall", "test_accuracy"} <= set(metrics)
    assert model.config.id2label[1] == "B-PER" and len(rows[0]["prediction"]) == len(rows[0]["tokens"])


def test_question_answering(shared_data, cache_dir, wordpiece_tokenizer, bert_checkpoint, tmp_path):
    task = get_task("squad")
    raw = _subset(task.load(shared_data, cache_dir=cache_dir), ["train", "validation"], 8)
    _, metrics, rows = run_job(task, raw, wordpiece_tokenizer, bert_checkpoint, tmp_path / "out", 64)
    # Trainer drops example_id / offset_mapping before batching and still calls compute_metrics (the eval
    # features keep their start/end labels), which post-processes the windows back to text.
    assert {"test_exact_match", "test_f1", "test_loss"} <= set(metrics)
    assert all(isinstance(row["prediction"], str) for row in rows)


def test_seq2seq_with_generate(shared_data, cache_dir, bpe_tokenizer, tmp_path):
    task = get_task("multi30k")
    raw = _subset(
        task.load(shared_data, cache_dir=cache_dir, splits=["train", "validation"]),
        ["train", "validation"],
        16,
    )
    eos, pad = bpe_tokenizer.eos_token_id, bpe_tokenizer.pad_token_id
    config = BartConfig(
        vocab_size=len(bpe_tokenizer),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=128,
        pad_token_id=pad,
        eos_token_id=eos,
        bos_token_id=eos,
        decoder_start_token_id=eos,
        forced_eos_token_id=None,
    )
    transformers.BartForConditionalGeneration(config).save_pretrained(tmp_path / "bart")
    _, metrics, rows = run_job(
        task,
        raw,
        bpe_tokenizer,
        tmp_path / "bart",
        tmp_path / "out",
        64,
        trainer_class=Seq2SeqTrainer,
        args_class=Seq2SeqTrainingArguments,
        predict_with_generate=True,
        generation_max_length=8,
    )
    assert {"test_bleu", "test_gen_len"} <= set(metrics) and 0.0 <= metrics["test_bleu"] <= 100.0
    assert rows[0]["reference"] == raw["validation"][0]["en"] and isinstance(rows[0]["prediction"], str)


def test_custom_with_an_hf_recipes_model(tmp_path, cache_dir, wordpiece_tokenizer):
    """Our own BERT family through the same AutoClasses."""
    from hf_recipes.models.bert.configuration_bert import HfrBertConfig

    (tmp_path / "train.csv").write_text(
        "text,label\n" + "".join(f"sentence number {i},{'pos' if i % 2 else 'neg'}\n" for i in range(16)),
        encoding="utf-8",
    )
    config = HfrBertConfig(
        vocab_size=len(wordpiece_tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    transformers.AutoModel.from_config(config).save_pretrained(tmp_path / "hfr")
    task = get_task("custom", train_file="train.csv", validation_fraction=0.25)
    raw = task.load(tmp_path, cache_dir=cache_dir)
    model, metrics, _ = run_job(task, raw, wordpiece_tokenizer, tmp_path / "hfr", tmp_path / "out", 32)
    assert type(model).__name__ == "HfrBertForSequenceClassification"
    assert {"test_accuracy", "test_macro_f1"} <= set(metrics) and model.config.label2id == {
        "neg": 0,
        "pos": 1,
    }
    assert np.isfinite(metrics["test_loss"])
