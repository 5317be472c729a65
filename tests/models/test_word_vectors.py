"""word2vec, FastText and GloVe as models: the sampling they draw, the n-grams and hashes FastText takes from
fastText, GloVe's counts and loss, save/reload and remote code. Learning itself (planted clusters, unseen
words) is tested through the pretraining job in tests/jobs/test_word_vectors.py."""

import math
from collections import Counter

import numpy as np
import pytest
import torch
import transformers
from huggingface_hub.errors import StrictDataclassClassValidationError

import hf_recipes  # noqa: F401  (registers the model types)
from hf_recipes.data.word_vectors import cooccurrences, word_blocks
from hf_recipes.models.fasttext import HfrFastTextConfig, HfrFastTextModel
from hf_recipes.models.fasttext.modeling_fasttext import (
    EMPTY_FINAL,
    character_ngrams,
    decompose_hangul,
    fnv1a,
)
from hf_recipes.models.glove import HfrGloVeConfig, HfrGloVeModel
from hf_recipes.models.word2vec import HfrWord2VecConfig, HfrWord2VecModel
from hf_recipes.models.word2vec.modeling_word2vec import (
    NegativeSampling,
    context_spans,
    context_windows,
    draw_noise,
    keep_probabilities,
    kept_tokens,
    noise_distribution,
    skipgram_loss,
)
from tests.models.checks import assert_remote_code_identical, assert_save_reload_identical

# --- word2vec's sampling ----------------------------------------------------------------------------------------


def test_noise_words_follow_the_unigram_distribution_to_the_three_quarters():
    counts = torch.tensor([0, 0, 5000, 1000, 200, 40, 8, 1])  # two special tokens, never seen
    torch.manual_seed(0)
    draws = draw_noise(noise_distribution(counts, 0.75), 400_000)
    observed = torch.bincount(draws, minlength=len(counts)).double() / len(draws)
    expected = counts.double() ** 0.75 / (counts.double() ** 0.75).sum()
    assert observed[:2].sum() == 0  # special tokens are never noise
    torch.testing.assert_close(observed, expected, atol=0.004, rtol=0.03)
    # not the plain unigram distribution: the rare words are drawn far more often than their share
    assert observed[7] > 3 * counts[7] / counts.sum()


@pytest.mark.parametrize("sparse", [True, False])
def test_skipgram_loss_and_its_hand_written_backward_equal_autograds(sparse):
    """NegativeSampling's backward against autograd through the plain expression: for each center, log σ of its
    contexts' scores and, weighted by its number of contexts, log σ(−score) of its noise words."""
    torch.manual_seed(0)
    n, vocab, dim, negative = 12, 30, 8, 3
    ids = torch.randint(2, vocab, (n,))
    positions, inside = context_windows(torch.tensor([1] * 7 + [2] * 5), 2)
    inputs = torch.randn(n, dim, dtype=torch.float64, requires_grad=True)
    table = torch.nn.Embedding(vocab, dim, sparse=sparse).double()
    noise_table = noise_distribution(torch.arange(vocab) + 1, 0.75)
    torch.manual_seed(1)
    loss = skipgram_loss(inputs, ids, positions, inside, table, noise_table, negative)
    loss.backward()
    torch.manual_seed(1)  # the same noise words
    noise = draw_noise(noise_table, n * negative).view(n, negative)
    reference_inputs = inputs.detach().clone().requires_grad_()
    reference_table = table.weight.detach().clone().requires_grad_()
    u = reference_table[ids[positions]]  # (n, 2·window, d): every slot of the window, masked below
    positive = -torch.nn.functional.logsigmoid((u * reference_inputs[:, None]).sum(-1))[inside].sum()
    scores = (reference_table[noise] * reference_inputs[:, None]).sum(-1)
    noise_loss = (-torch.nn.functional.logsigmoid(-scores) * inside.sum(1, keepdim=True)).sum()
    (positive + noise_loss).backward()
    torch.testing.assert_close(loss, positive + noise_loss)
    torch.testing.assert_close(inputs.grad, reference_inputs.grad)
    gradient = table.weight.grad.to_dense() if sparse else table.weight.grad
    assert table.weight.grad.is_sparse == sparse
    torch.testing.assert_close(gradient, reference_table.grad)


@pytest.mark.parametrize("sparse", [True, False])
def test_max_row_updates_bounds_a_frequent_output_vectors_step_and_leaves_the_rest_exact(sparse):
    """A word that is the target of 100 rows moves by 10/100 of its summed gradient with max_row_updates=10; a
    word of 3 rows, and the input vectors, get the exact gradient."""
    torch.manual_seed(0)
    vocab, dim = 6, 4
    targets = torch.cat([torch.full((100,), 2), torch.full((3,), 4)])
    centers = torch.randint(0, 20, (103,))
    sign = torch.where(torch.rand(103) < 0.5, -1.0, 1.0).double()
    weight = torch.rand(103, dtype=torch.float64) + 0.5

    def gradients(max_row_updates):
        inputs = torch.randn(20, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        table = torch.randn(vocab, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        inputs.requires_grad_()
        table.requires_grad_()
        NegativeSampling.apply(
            inputs, table, targets, centers, sign, weight, sparse, max_row_updates
        ).backward()
        grad_table = table.grad.to_dense() if sparse else table.grad
        return inputs.grad, grad_table

    exact_inputs, exact_table = gradients(None)
    capped_inputs, capped_table = gradients(10)
    torch.testing.assert_close(capped_table[2], exact_table[2] * 10 / 100)
    torch.testing.assert_close(capped_table[4], exact_table[4])
    assert exact_table[2].abs().sum() > 0 and capped_table[[0, 1, 3, 5]].abs().sum() == 0
    torch.testing.assert_close(capped_inputs, exact_inputs)
    with pytest.raises(StrictDataclassClassValidationError, match="max_row_updates"):
        HfrWord2VecConfig(max_row_updates=0)


def test_subsampling_keeps_rare_words_and_drops_frequent_ones_at_mikolovs_rate():
    counts = torch.tensor([0, 900_000, 90_000, 9_000, 900, 100])
    sample = 1e-3
    keep = keep_probabilities(counts, sample)
    total = counts.sum().item()
    for word in range(1, len(counts)):
        f = counts[word].item() / total
        assert keep[word].item() == pytest.approx(
            min(1.0, (math.sqrt(f / sample) + 1) * sample / f), rel=1e-5
        )
    assert keep[0] == 0 and keep[4] == 1 and keep[5] == 1  # special tokens never; rare words always
    ids = torch.arange(1, 6).repeat(20_000)[None]
    torch.manual_seed(0)
    kept, _ = kept_tokens(ids, None, None, keep)
    rates = torch.bincount(kept, minlength=6)[1:].double() / 20_000
    torch.testing.assert_close(rates, keep[1:].double(), atol=0.012, rtol=0)
    assert rates[0] < 0.05 < 0.9 < rates[3]
    assert (keep_probabilities(counts, 0)[1:] == 1).all()  # sample=0 keeps everything


def test_windows_are_dynamic_and_stay_inside_sentences():
    sentence = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    torch.manual_seed(0)
    reaches = Counter()
    for _ in range(300):
        positions, inside = context_windows(sentence, window=3)
        for token in range(len(sentence)):
            contexts = positions[token][inside[token]]
            assert (sentence[contexts] == sentence[token]).all()
            assert token not in contexts.tolist()
            assert (contexts - token).abs().max() <= 3
        reaches[int(inside[2].sum())] += 1  # token 2 of a 6-token sentence: 2, 4 or 5 contexts
    assert set(reaches) == {2, 4, 5}
    torch.manual_seed(1)
    low, high = context_spans(sentence, window=3)
    assert (sentence[low] == sentence).all() and (sentence[high] == sentence).all()
    assert ((sentence.new_tensor(range(10)) - low) <= 3).all() and ((high - torch.arange(10)) <= 3).all()


def test_blocks_restart_positions_at_each_sentence_and_block():
    batch = {"input_ids": [[5, 6, 7], [8, 9], [10, 11, 12, 13]]}
    blocks = word_blocks(batch, block_size=4)
    assert blocks["input_ids"] == [[5, 6, 7, 8], [9, 10, 11, 12], [13]]
    assert blocks["position_ids"] == [[0, 1, 2, 0], [0, 0, 1, 2], [0]]


def test_word2vec_trains_only_on_real_tokens_and_returns_vectors_in_evaluation():
    config = HfrWord2VecConfig(vocab_size=12, vector_size=8, window=2, negative=3, sample=0)
    model = HfrWord2VecModel(config)
    with pytest.raises(ValueError, match="counts are not set"):
        model.train()(input_ids=torch.tensor([[2, 3, 4]]))
    model.set_vocabulary([None, None, *"abcdefghij"], torch.tensor([0, 0, *range(10, 110, 10)]))
    ids = torch.tensor([[2, 3, 4, 5, 6, 7, 8, 9]])
    loss = model.train()(input_ids=ids).loss
    loss.backward()
    assert loss > 0 and model.embed.weight.grad.is_sparse
    touched = model.embed.weight.grad.coalesce().indices().unique()
    assert set(touched.tolist()) <= set(range(2, 10))
    vectors = model.eval()(input_ids=ids).last_hidden_state
    torch.testing.assert_close(vectors[0], model.get_input_embeddings().weight[ids[0]])


# --- FastText's n-grams -----------------------------------------------------------------------------------------


def _fasttext_hash(text: str) -> int:
    """fastText's dictionary hash written from its C++ (uint32 h = 2166136261; h ^= uint32(int8(byte));
    h *= 16777619), with numpy's fixed-width integers in place of Python's."""
    value = np.uint32(2166136261)
    for byte in text.encode("utf-8"):
        value ^= np.uint32(np.int8(np.uint8(byte)).astype(np.int32).astype(np.uint32))
        value = np.uint32((int(value) * 16777619) & 0xFFFFFFFF)
    return int(value)


def test_fasttext_hash_and_ngrams_are_fasttexts():
    assert fnv1a("a") == 0xE40C292C  # the FNV-1a 32-bit test vector
    for text in ["<wh", "where>", "<한국", "국어>", "한", "é"]:
        assert fnv1a(text) == _fasttext_hash(text)
    assert character_ngrams("where", 3, 3) == ["<wh", "whe", "her", "ere", "re>"]
    assert "<where>" in character_ngrams("where", 3, 7) and "<" not in character_ngrams("a", 1, 1)


def test_hangul_syllables_decompose_into_jamo():
    assert decompose_hangul("한") == "\u1112\u1161\u11ab"  # ㅎ ㅏ ㄴ
    assert decompose_hangul("가a") == f"\u1100\u1161{EMPTY_FINAL}a"
    config = HfrFastTextConfig(vocab_size=4, vector_size=4, bucket=1000, korean_jamo=True, min_n=3, max_n=3)
    model = HfrFastTextModel(config)
    # jamo trigrams of 먹다 and 먹고 share the stem 먹's; syllable trigrams of two-syllable words share nothing
    assert not torch.equal(model.word_vector("먹다"), model.word_vector("가다"))
    config.korean_jamo = False
    assert len(set(character_ngrams("먹다", 3, 3)) & set(character_ngrams("먹고", 3, 3))) == 0


def test_fasttext_vectors_of_known_words_mix_word_and_ngrams_and_unknown_words_get_ngrams():
    config = HfrFastTextConfig(vocab_size=4, vector_size=6, bucket=50, min_n=3, max_n=4)
    model = HfrFastTextModel(config)
    model.set_vocabulary([None, None, "walk", "talk"], torch.tensor([0, 0, 5, 3]))
    rows = model.subwords[2][model.subwords[2] != config.vocab_size + config.bucket]
    assert rows[0] == 2 and len(rows) == 1 + len(character_ngrams("walk", 3, 4))
    expected = model.embed.weight[rows].mean(0)
    torch.testing.assert_close(model.get_input_embeddings().weight[2], expected)
    unseen = model.word_vector("walks")
    ngram_rows = [config.vocab_size + fnv1a(g) % config.bucket for g in character_ngrams("walks", 3, 4)]
    torch.testing.assert_close(unseen, model.embed.weight[ngram_rows].mean(0))


def test_fasttext_passes_the_whole_gradient_of_a_words_vector_to_every_row_of_its_bag():
    """fastText and gensim add the gradient of a word's (mean) vector to its own row and to each n-gram row
    undivided; a mean's plain gradient would pass 1/count of it, and long words would hardly learn."""
    config = HfrFastTextConfig(vocab_size=4, vector_size=3, bucket=1000, min_n=3, max_n=4)
    model = HfrFastTextModel(config).train()
    model.set_vocabulary([None, None, "walking", "talk"], torch.tensor([0, 0, 5, 3]))
    upstream = torch.tensor([[0.5, -1.0, 2.0]])
    vectors = model.token_vectors(torch.tensor([2]))
    (vectors * upstream).sum().backward()
    gradient = (
        model.embed.weight.grad.to_dense() if model.embed.weight.grad.is_sparse else model.embed.weight.grad
    )
    rows = model.subwords[2][model.subwords[2] != config.vocab_size + config.bucket]
    assert len(rows) > 10  # "walking": its own row and 18 n-grams
    times = torch.bincount(rows, minlength=gradient.shape[0]).float()[:, None]  # a hash collision: twice
    torch.testing.assert_close(gradient, times * upstream)
    with torch.no_grad():  # the value is the mean all the same
        torch.testing.assert_close(vectors.detach()[0], model.embed.weight[rows].mean(0))


# --- GloVe ------------------------------------------------------------------------------------------------------


def test_glove_cooccurrence_counts_equal_a_brute_force_count():
    import datasets

    sentences = [[2, 3, 4, 2, 5], [3, 3, 6], [7], [4, 5, 2, 3, 6, 7, 2]]
    for symmetric in (True, False):
        for weighting in (True, False):
            expected = Counter()
            for ids in sentences:
                for i, left in enumerate(ids):
                    for j in range(i + 1, min(i + 3, len(ids))):  # window 2
                        weight = 1 / (j - i) if weighting else 1.0
                        expected[(left, ids[j])] += weight
                        if symmetric:
                            expected[(ids[j], left)] += weight
            rows, columns, counts = cooccurrences(
                datasets.Dataset.from_dict({"input_ids": sentences}),
                8,
                window=2,
                symmetric=symmetric,
                distance_weighting=weighting,
            )
            got = {(int(r), int(c)): float(x) for r, c, x in zip(rows, columns, counts)}
            assert got.keys() == expected.keys()
            for key, value in expected.items():
                assert got[key] == pytest.approx(value)


def test_glove_loss_is_the_weighted_least_squares_of_log_counts():
    config = HfrGloVeConfig(vocab_size=5, vector_size=3, x_max=4.0, alpha=0.75)
    model = HfrGloVeModel(config)
    rows, columns = torch.tensor([1, 2, 3]), torch.tensor([2, 3, 4])
    counts = torch.tensor([1.0, 4.0, 10.0])
    loss = model(rows=rows, columns=columns, counts=counts).loss
    w, c = model.embed.weight, model.context_embed.weight
    b, cb = model.bias.weight[:, 0], model.context_bias.weight[:, 0]
    expected = 0.0
    for i, j, x in zip(rows, columns, counts):
        f = min(1.0, (x / 4.0) ** 0.75)
        expected += 0.5 * f * (w[i] @ c[j] + b[i] + cb[j] - math.log(x)) ** 2
    torch.testing.assert_close(loss, expected)
    padded = model(rows=torch.tensor([1, 0]), columns=torch.tensor([2, 0]), counts=torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(padded.loss, model(rows=rows[:1], columns=columns[:1], counts=counts[:1]).loss)
    torch.testing.assert_close(model.get_input_embeddings().weight, w + c)


# --- save, reload, remote code ------------------------------------------------------------------------------------


def _trained_like(model):
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()
    return model


@pytest.mark.parametrize(
    "build",
    [
        lambda: HfrWord2VecModel(HfrWord2VecConfig(vocab_size=10, vector_size=4)),
        lambda: HfrFastTextModel(
            HfrFastTextConfig(vocab_size=10, vector_size=4, bucket=20, min_n=2, max_n=3)
        ),
        lambda: HfrGloVeModel(HfrGloVeConfig(vocab_size=10, vector_size=4)),
    ],
    ids=["word2vec", "fasttext", "glove"],
)
def test_embedding_models_reload_identically_also_through_remote_code(build, tmp_path):
    model = _trained_like(build())
    if isinstance(model, HfrFastTextModel):
        model.set_vocabulary([None, None, *"abcdefgh"], torch.arange(10))
    inputs = {"input_ids": torch.tensor([[2, 3, 9], [4, 5, 6]])}
    directory = assert_save_reload_identical(model, "AutoModel", inputs, tmp_path)
    reloaded = transformers.AutoModel.from_pretrained(directory)
    torch.testing.assert_close(reloaded.get_input_embeddings().weight, model.get_input_embeddings().weight)
    with torch.no_grad():
        expected = model.eval()(**inputs).last_hidden_state
    assert_remote_code_identical({"AutoModel": directory}, inputs, {"AutoModel": expected})


def test_sparse_sgd_takes_torchs_sgd_steps():
    """The optimizer the word-vector recipes train with (hf_recipes.training.SparseSGD) moves the weights as
    torch.optim.SGD does, on sparse gradients (repeated rows included) and dense ones."""
    from hf_recipes.training import SparseSGD

    torch.manual_seed(0)
    weights = {}
    for optimizer_class in (torch.optim.SGD, SparseSGD):
        torch.manual_seed(0)
        table = torch.nn.Embedding(20, 4, sparse=True)
        dense = torch.nn.Linear(4, 2)
        optimizer = optimizer_class([*table.parameters(), *dense.parameters()], lr=0.1)
        for step in range(3):
            ids = torch.tensor([[1, 5, 5, 7], [5, 2, 19, 1]]) + step
            loss = dense(table(ids.clamp(max=19))).pow(2).sum()
            loss.backward()
            assert table.weight.grad.is_sparse
            optimizer.step()
            optimizer.zero_grad()
        weights[optimizer_class.__name__] = [
            table.weight.detach(),
            dense.weight.detach(),
            dense.bias.detach(),
        ]
    for ours, theirs in zip(weights["SparseSGD"], weights["SGD"]):
        torch.testing.assert_close(ours, theirs)
