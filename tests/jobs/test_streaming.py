"""`data.streaming: true`: pretraining on a corpus read lazily, as transformers' run_clm/run_mlm --streaming, and a
resumed run that continues the stream where it stopped (hf_recipes.data.streaming)."""

import json
from collections import Counter

import pytest
from datasets import IterableDataset

from hf_recipes.checkpoints import tokenizer_from_spec
from hf_recipes.data.loading import load_documents, stream_documents
from hf_recipes.data.streaming import POSITION, ResumableStream, shuffle_window
from hf_recipes.errors import UserError
from hf_recipes.jobs.pretrain import EXAMPLES, _examples, _streamed_examples, run
from hf_recipes.training import training_arguments
from tests.helpers import pretrain_recipe
from tests.jobs.test_pretrain import InterruptAt, Interrupted

# WikiText-2's 60 articles cut into 64-token blocks; the first 40 blocks make a pass of 5 steps of 8, so 12 steps
# read 2.4 passes, shuffled in windows of 16 blocks that straddle batches.
GPT = [
    "variant=tiny",
    "data.streaming=true",
    "data.max_train_samples=40",
    "data.shuffle_buffer=16",
    "data.max_eval_samples=16",
    "data.tokenizer_documents=30",
    "training.max_steps=12",
    "training.per_device_train_batch_size=8",
    "training.logging_steps=1",
    "training.eval_steps=6",
    "training.save_steps=4",
    "samples.count=1",
    "samples.max_new_tokens=5",
]


def history(output_dir):
    return json.loads((output_dir / "log_history.json").read_text())


def test_streamed_gpt_pretraining_resumes_the_stream_where_it_stopped(shared_data, tmp_path):
    straight = tmp_path / "straight"
    metrics = run("gpt_clm_wikitext", GPT, data_dir=str(shared_data), output_dir=str(straight))
    assert metrics["global_step"] == 12 and metrics["eval_loss"] > 0 and metrics["unigram_loss"] > 0
    for name in ("model.safetensors", "tokenizer.json", "metrics.json", "log_history.json", "samples.txt"):
        assert (straight / name).is_file(), name
    # checkpoint-8 stands 3 batches into the second pass
    assert json.loads((straight / "checkpoint-8" / POSITION).read_text())["pass"] == 1

    # killed after step 10, resumed from checkpoint-8 (in the second pass over the corpus)
    resumed = tmp_path / "resumed"
    with pytest.raises(Interrupted):
        run(
            "gpt_clm_wikitext",
            GPT,
            data_dir=str(shared_data),
            output_dir=str(resumed),
            callbacks=[InterruptAt(10)],
        )
    run("gpt_clm_wikitext", GPT, data_dir=str(shared_data), output_dir=str(resumed))
    losses = {entry["step"]: entry["loss"] for entry in history(straight) if "loss" in entry}
    again = {entry["step"]: entry["loss"] for entry in history(resumed) if "loss" in entry}
    assert sorted(again) == list(range(1, 13))
    assert again == losses  # the same batches in the same order, to the last bit
    evaluations = [(e["step"], e["eval_loss"]) for e in history(resumed) if "eval_loss" in e]
    assert evaluations == [(e["step"], e["eval_loss"]) for e in history(straight) if "eval_loss" in e]


def test_streamed_examples_are_the_cached_ones_shuffled_in_windows(shared_data):
    overrides = [*GPT, "data.max_train_samples=null", "data.max_eval_samples=null"]
    recipe, _ = pretrain_recipe("gpt_clm_wikitext", overrides, data_dir=str(shared_data))
    args = training_arguments(recipe.training, "unused")
    cached_documents = load_documents(recipe.data, recipe.data_dir)
    documents = stream_documents(recipe.data, recipe.data_dir)
    tokenizer = tokenizer_from_spec(recipe.tokenizer, lambda: cached_documents["train"]["text"])
    cached = _examples(recipe, cached_documents, tokenizer, args.seed)
    streamed = _streamed_examples(recipe, documents, tokenizer, args)

    blocks = cached["train"]["input_ids"][:]
    build = EXAMPLES["causal_lm"]
    in_order = [
        row["input_ids"] for row in build(recipe.objective, documents["train"], "train", tokenizer, None, 0)
    ]
    assert in_order == blocks and len(blocks) > 100 and {len(block) for block in blocks} == {64}
    assert streamed["validation"]["input_ids"][:] == cached["validation"]["input_ids"][:]

    stream = streamed["train"]
    assert isinstance(stream, ResumableStream)
    first, second = [row["input_ids"] for row in stream], [row["input_ids"] for row in stream]
    key = lambda rows: Counter(map(tuple, rows))  # noqa: E731
    assert key(first) == key(blocks) == key(second)  # each pass: every block once
    assert first != blocks and first != second  # shuffled, differently in each pass
    assert key(first[:16]) == key(blocks[:16])  # within windows of data.shuffle_buffer
    assert stream.next_pass == 2


def test_a_resumed_stream_yields_what_the_uninterrupted_one_would(tmp_path):
    """The position noted after a batch (with another batch read ahead, as accelerate does), loaded into a fresh
    stream, gives the very examples that came after it, into the next pass."""

    def passes(number):
        rows = IterableDataset.from_generator(lambda: ({"n": n} for n in range(50)))
        return rows.map(
            shuffle_window, batched=True, batch_size=7, with_indices=True, fn_kwargs={"seed": [3, number]}
        )

    stream = ResumableStream(passes, batch_size=4)
    whole = [row["n"] for row in stream] + [row["n"] for row in stream]
    assert sorted(whole[:50]) == list(range(50)) and whole[:50] != whole[50:]
    for examples in (0, 8, 28, 48, 52):  # 52: after the last batch, 2 short of full
        stream.resume(None)
        iterator = iter(stream)
        for _ in range(min(examples + 4, 50)):
            next(iterator)
        if examples > 48:
            assert next(iterator, None) is None  # the pass is over
        stream.save_position(tmp_path, examples)
        fresh = ResumableStream(passes, batch_size=4)
        assert fresh.resume(tmp_path)
        rest = [row["n"] for row in fresh] + [row["n"] for row in fresh]
        start = min(examples, 50)
        assert rest[: 100 - start] == whole[start:], examples
    with pytest.raises(RuntimeError, match="not noted"):
        stream.position(3)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["training.max_steps=null"], r"data.streaming: needs training.max_steps \(a positive number"),
        (["training.max_steps=-1"], r"data.streaming: needs training.max_steps .*got -1$"),
        (["training.dataloader_num_workers=2"], r"training.dataloader_num_workers: not with data.streaming"),
        (["data.validation_fraction=0.1"], r"data.validation_fraction: not with data.streaming"),
        (["data.shuffle_buffer=0"], r"data.shuffle_buffer: expected a positive integer, got 0"),
    ],
)
def test_what_a_stream_cannot_do_is_one_line_before_anything_is_written(
    shared_data, tmp_path, overrides, message
):
    out = tmp_path / "never"
    with pytest.raises(UserError, match=message) as error:
        run("gpt_clm_wikitext", [*GPT, *overrides], data_dir=str(shared_data), output_dir=str(out))
    assert "\n" not in str(error.value) and not out.exists()


def test_word_vectors_do_not_stream(shared_data, tmp_path):
    with pytest.raises(
        UserError, match="objective.type: not with data.streaming: word vectors count every word"
    ):
        run("word2vec_wikitext", ["data.streaming=true", "training.max_steps=5"], data_dir=str(shared_data))


def test_streamed_nsp_instances_are_the_cached_ones(shared_data):
    """BERT's instances draw their random B segments from the same batches of 1,000 documents, with the same
    seeds, whether the documents are cached or streamed."""
    recipe, _ = pretrain_recipe("bert_mlm_nsp_wikitext", ["variant=tiny"], data_dir=str(shared_data))
    cached = load_documents(recipe.data, recipe.data_dir)
    tokenizer = tokenizer_from_spec(recipe.tokenizer, lambda: cached["train"]["text"])
    build = EXAMPLES["mlm_nsp"]
    expected = build(recipe.objective, cached["validation"], "validation", tokenizer, None, 0)
    streamed = build(
        recipe.objective,
        stream_documents(recipe.data, recipe.data_dir)["validation"],
        "validation",
        tokenizer,
        None,
        0,
    )
    rows = list(streamed)
    assert len(rows) == len(expected) > 100
    assert [row["input_ids"] for row in rows] == expected["input_ids"][:]
    assert [row["next_sentence_label"] for row in rows] == expected["next_sentence_label"][:]
