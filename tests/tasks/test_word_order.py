"""The built-in `word_order` task: deterministic, exactly balanced, only word order tells the classes apart,
and its evaluation sentences come from the topics the quickstart's pretraining holds out."""

import collections
import random

import pytest

from hf_recipes.data.loading import load_documents
from hf_recipes.errors import UserError
from hf_recipes.tasks import get_task
from hf_recipes.tasks.word_order import shuffle_window
from tests import helpers


@pytest.fixture(scope="module")
def splits():
    return get_task("word_order").load()


def test_the_data_is_deterministic(splits):
    again = get_task("word_order").load(data_dir="/ignored: the task needs no files")
    for split in ("train", "validation"):
        assert splits[split][:] == again[split][:]
    other_seed = get_task("word_order", seed=1).load()
    assert other_seed["train"]["sentence"][:] != splits["train"]["sentence"][:]
    assert other_seed["train"]["sentence"][::2] == splits["train"]["sentence"][::2]  # the originals stay


@pytest.mark.parametrize("local", [False, True], ids=["whole sentence", "3-word window, ends kept"])
def test_the_splits_are_balanced_pairs_that_differ_in_order_only(splits, local):
    if local:
        splits = get_task("word_order", window=3, keep_ends=True).load()
    assert len(splits["train"]) > 2500 and len(splits["validation"]) > 500
    moved_ends = 0
    for split in splits.values():
        labels = split["label"][:]
        assert collections.Counter(labels) == {0: len(split) // 2, 1: len(split) // 2}
        sentences = split["sentence"][:]
        for original, shuffled, pair in zip(sentences[::2], sentences[1::2], zip(labels[::2], labels[1::2])):
            assert pair == (0, 1)
            a, b = original.split(), shuffled.split()
            assert a != b and sorted(a) == sorted(b)
            moved = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
            moved_ends += a[-1] != b[-1]
            if local:
                assert a[0] == b[0] and a[-1] == b[-1]  # capital first word and final period stay put
                assert moved[-1] - moved[0] < 3  # within one window of 3 words
    assert split.features["label"].names == ["original", "shuffled"]
    if not local:  # the whole sentence is shuffled: the final word moves in most copies
        assert moved_ends > 0.8 * sum(len(split) for split in splits.values()) / 2


def test_validation_sentences_are_held_out_from_the_quickstart_pretraining(splits):
    """The task's validation topics are exactly the pretraining's validation topics (same fraction, same
    order): no evaluation sentence was seen, even unlabelled, by the quickstart's BERT."""
    pretrain_recipe, _ = helpers.pretrain_recipe("quickstart")
    finetune_recipe, _ = helpers.finetune_recipe("word_order")
    assert finetune_recipe.task["validation_fraction"] == pretrain_recipe.data.validation_fraction
    documents = load_documents(pretrain_recipe.data, None)
    # the task's sentences have single spaces between words; the reference text has some double ones
    pretraining_text = " ".join(" ".join(documents["train"]["text"][:]).split())
    held_out = " ".join(" ".join(documents["validation"]["text"][:]).split())
    originals = splits["validation"]["sentence"][::2]
    assert all(sentence in held_out for sentence in originals)
    assert not [sentence for sentence in originals if sentence in pretraining_text]
    assert len(set(splits["train"]["sentence"][:])) == len(splits["train"])  # no sentence twice


def test_shuffle_window_never_returns_the_same_order():
    rng = random.Random(0)
    for _ in range(200):
        words = [rng.choice("a b c".split()) for _ in range(rng.randrange(5, 9))]
        for window, keep_ends in ((3, True), (0, True), (0, False), (2, False)):
            shuffled = shuffle_window(words, window, rng, keep_ends)
            if shuffled is not None:
                assert shuffled != words and sorted(shuffled) == sorted(words)
                if keep_ends:
                    assert (shuffled[0], shuffled[-1]) == (words[0], words[-1])
    assert shuffle_window("The a a a a end.".split(), 3, rng) is None
    assert shuffle_window("The a a a a end.".split(), 0, rng, keep_ends=False) is not None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window": 1}, "task word_order: window must be 0 .all words. or at least 2, got 1"),
        (
            {"window": 5, "min_words": 6, "keep_ends": True},
            "min_words must leave room for the window and the",
        ),
        ({"colour": "red"}, "task word_order: unknown option 'colour'"),
    ],
)
def test_bad_options_are_one_line(options, message):
    with pytest.raises(UserError, match=message):
        get_task("word_order", **options)
