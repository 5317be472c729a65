"""MLM (+NSP) collator on real NSP instances from WikiText-2 with a real WordPiece tokenizer: masking rates
on a large sample, special tokens never masked, pass-through of token_type_ids and next_sentence_label,
whole-word masking, and a batch that HfrBertForPreTraining trains on."""

import numpy as np
import pytest
import torch

import tests.data as shared
from hf_recipes.data.collators import DataCollatorForPreTraining, DataCollatorWithPacking
from hf_recipes.data.pretraining import create_nsp_instances
from hf_recipes.data.tokenization import train_tokenizer
from hf_recipes.errors import UserError


@pytest.fixture(scope="module")
def wordpiece(shared_data):
    return shared.wordpiece_tokenizer(shared_data)


@pytest.fixture(scope="module")
def examples(shared_data, wordpiece) -> list[dict]:
    """1,000 NSP instances from WikiText-2 (≈115k tokens) as the dataset rows a Trainer hands the collator."""
    instances = create_nsp_instances(
        shared.wikitext_sentences(shared_data),
        cls_token_id=wordpiece.cls_token_id,
        sep_token_id=wordpiece.sep_token_id,
        seed=0,
    )
    return [dict(zip(instances, row)) for row in zip(*instances.values())][:1000]


def _collate_all(collator, examples, batch_size=128):
    """Collate every example (in batches, padded to each batch's longest): [(unmasked input_ids, batch)]."""
    rows = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        original = torch.nn.utils.rnn.pad_sequence(
            [torch.tensor(e["input_ids"]) for e in chunk],
            batch_first=True,
            padding_value=collator.tokenizer.pad_token_id,
        )
        rows.append((original, collator(chunk)))
    return rows


def test_masking_rates_are_15_percent_then_80_10_10(wordpiece, examples):
    collator = DataCollatorForPreTraining(wordpiece, seed=0)
    special = torch.tensor(wordpiece.all_special_ids)
    maskable = selected = to_mask = to_random = kept = 0
    for original, batch in _collate_all(collator, examples):
        chosen = batch["labels"] != -100
        assert torch.equal(batch["labels"][chosen], original[chosen])
        maskable += int((~torch.isin(original, special)).sum())
        selected += int(chosen.sum())
        to_mask += int((chosen & (batch["input_ids"] == wordpiece.mask_token_id)).sum())
        kept += int((chosen & (batch["input_ids"] == original)).sum())
        to_random += int(
            (
                chosen & (batch["input_ids"] != original) & (batch["input_ids"] != wordpiece.mask_token_id)
            ).sum()
        )
        assert torch.equal(batch["input_ids"][~chosen], original[~chosen])  # nothing else changes
    # Tolerances are 4 binomial standard deviations (0.004 for the 15%, ≈0.012 and 0.009 for 80% and 10%);
    # a random replacement that draws the original token (1 in 2,000) counts as kept.
    assert maskable > 100_000
    assert abs(selected / maskable - 0.15) < 4 * (0.15 * 0.85 / maskable) ** 0.5
    assert abs(to_mask / selected - 0.8) < 4 * (0.8 * 0.2 / selected) ** 0.5
    assert abs(to_random / selected - 0.1) < 4 * (0.1 * 0.9 / selected) ** 0.5
    assert abs(kept / selected - 0.1) < 4 * (0.1 * 0.9 / selected) ** 0.5


def test_special_tokens_are_never_masked_and_padding_is_ignored(wordpiece, examples):
    collator = DataCollatorForPreTraining(wordpiece, mlm_probability=0.9)  # select almost everything
    special = torch.tensor(wordpiece.all_special_ids)
    for original, batch in _collate_all(collator, examples[:512]):
        is_special = torch.isin(original, special)
        assert (batch["labels"][is_special] == -100).all()
        assert torch.equal(batch["input_ids"][is_special], original[is_special])
        is_pad = original == wordpiece.pad_token_id
        assert is_pad.any() and (batch["attention_mask"][is_pad] == 0).all()
        assert (batch["attention_mask"][~is_pad] == 1).all()


def test_token_type_ids_and_next_sentence_label_pass_through(wordpiece, examples):
    chunk = examples[:16]
    batch = DataCollatorForPreTraining(wordpiece)(chunk)
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels", "next_sentence_label"}
    assert batch["next_sentence_label"].tolist() == [e["next_sentence_label"] for e in chunk]
    for row, example in zip(batch["token_type_ids"].tolist(), chunk):
        length = len(example["token_type_ids"])
        assert row[:length] == example["token_type_ids"] and not any(row[length:])


def test_masks_are_drawn_anew_for_every_batch(wordpiece, examples):
    collator = DataCollatorForPreTraining(wordpiece, seed=0)
    first, second = collator(examples[:32]), collator(examples[:32])
    assert not torch.equal(first["labels"], second["labels"])


def test_whole_word_masking_masks_every_piece_of_a_word_together(wordpiece, examples):
    collator = DataCollatorForPreTraining(wordpiece, whole_word_mask=True, seed=1)
    is_continuation = np.array(
        [t.startswith("##") for t in wordpiece.convert_ids_to_tokens(range(len(wordpiece)))]
    )
    special = np.array(wordpiece.all_special_ids)
    n_words = n_selected_words = n_multi_piece_selected = n_tokens = selected = to_mask = 0
    for original, batch in _collate_all(collator, examples):
        ids, chosen = original.numpy(), (batch["labels"] != -100).numpy()
        # A word is a non-special token that is not a `##` piece (or follows a special token), and its
        # `##` pieces; number the words of the whole batch and count tokens and selected tokens per word.
        in_word = ~np.isin(ids, special)
        after_special = np.pad(~in_word[:, :-1], ((0, 0), (1, 0)), constant_values=True)
        starts = in_word & (~is_continuation[ids] | after_special)
        word_of = np.cumsum(starts.ravel())[in_word.ravel()]
        pieces = np.bincount(word_of)[1:]
        chosen_pieces = np.bincount(word_of, weights=chosen.ravel()[in_word.ravel()])[1:]
        assert ((chosen_pieces == 0) | (chosen_pieces == pieces)).all(), "a word was masked only in part"
        assert not chosen[~in_word].any()
        n_words += len(pieces)
        n_selected_words += int((chosen_pieces > 0).sum())
        n_multi_piece_selected += int(((chosen_pieces > 0) & (pieces > 1)).sum())
        n_tokens += int(in_word.sum())
        selected += int(chosen.sum())
        to_mask += int((batch["input_ids"] == wordpiece.mask_token_id).sum())
    assert n_multi_piece_selected > 500
    # A word is selected with probability 0.15 (4 standard deviations: ≈0.005) ...
    assert abs(n_selected_words / n_words - 0.15) < 4 * (0.15 * 0.85 / n_words) ** 0.5
    assert abs(selected / n_tokens - 0.15) < 0.01  # so is 15% of the tokens, in expectation
    # ... and each of its tokens then follows 80/10/10, as google-research/bert does (not 100% [MASK]).
    assert abs(to_mask / selected - 0.8) < 4 * (0.8 * 0.2 / selected) ** 0.5


def test_whole_word_masking_needs_wordpiece(shared_data):
    bpe = train_tokenizer(shared.wikitext_lines(shared_data)[:200], "bpe", 400)
    bpe.add_special_tokens({"mask_token": "<mask>"})
    with pytest.raises(UserError, match="whole-word masking needs a WordPiece tokenizer"):
        DataCollatorForPreTraining(bpe, whole_word_mask=True)


def test_a_collated_batch_trains_hfr_bert_for_pretraining(wordpiece, examples):
    from hf_recipes.models.bert import HfrBertConfig
    from hf_recipes.models.bert.modeling_bert import HfrBertForPreTraining

    torch.manual_seed(0)
    config = HfrBertConfig(
        vocab_size=len(wordpiece),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=wordpiece.pad_token_id,
    )
    model = HfrBertForPreTraining(config)
    batch = DataCollatorForPreTraining(wordpiece, seed=0)(examples[:8])
    output = model(**batch)
    assert torch.isfinite(output.loss)
    output.loss.backward()
    assert np.isfinite(model.get_input_embeddings().weight.grad.norm().item())


def test_packing_puts_each_instance_once_into_rows_of_the_given_length(wordpiece, examples):
    """`pack_to`: each instance's tokens lie whole in one row, position_ids 0.. for each, segments kept; no
    row is longer than pack_to; next_sentence_label follows the reading order; fewer rows than instances,
    padding only at row ends; the masks cover the packed tokens like unpacked ones (special tokens never)."""
    batch_examples = examples[:64]
    collator = DataCollatorForPreTraining(wordpiece, pack_to=128, seed=0)
    batch = collator(batch_examples)
    assert batch["input_ids"].shape[1] <= 128 and batch["input_ids"].shape[0] < len(batch_examples)
    # the labels hold the original id where masked: recover the unmasked rows
    original = torch.where(batch["labels"] == -100, batch["input_ids"], batch["labels"])
    starts = (batch["position_ids"] == 0) & batch["attention_mask"].bool()
    found = []
    for row, positions in zip(range(len(original)), starts):
        begins = positions.nonzero().flatten().tolist()
        real = int(batch["attention_mask"][row].sum())
        assert batch["attention_mask"][row, :real].all() and not batch["attention_mask"][row, real:].any()
        for begin, end in zip(begins, [*begins[1:], real]):
            assert batch["position_ids"][row, begin:end].tolist() == list(range(end - begin))
            found.append(
                (original[row, begin:end].tolist(), batch["token_type_ids"][row, begin:end].tolist())
            )
    expected = [(e["input_ids"], e["token_type_ids"]) for e in batch_examples]
    assert sorted(found) == sorted(expected)
    by_ids = {tuple(e["input_ids"]): e["next_sentence_label"] for e in batch_examples}
    assert batch["next_sentence_label"].tolist() == [by_ids[tuple(ids)] for ids, _ in found]
    special = torch.isin(original, torch.tensor(wordpiece.all_special_ids))
    assert (batch["labels"][special] == -100).all()
    share = (batch["labels"] != -100).sum() / (~special).sum()
    assert 0.10 < share < 0.20, share
    with pytest.raises(ValueError, match="does not fit rows of 16"):
        DataCollatorForPreTraining(wordpiece, pack_to=16)(batch_examples)


@pytest.mark.parametrize("token_labels", [False, True])
def test_fine_tuning_packing_keeps_each_example_whole_with_its_labels(wordpiece, token_labels):
    """DataCollatorWithPacking: every example lies whole in one row (position_ids from 0, its segments), rows
    are at most pack_to long, and the labels follow: one per example in reading order, or token by token
    (-100 on padding)."""
    generator = torch.Generator().manual_seed(0)
    features = []
    for index in range(20):
        length = int(torch.randint(3, 30, (), generator=generator))
        ids = torch.randint(5, len(wordpiece), (length,), generator=generator).tolist()
        labels = list(range(100 * index, 100 * index + length)) if token_labels else index
        features.append({"input_ids": ids, "token_type_ids": [0] * (length // 2) + [1] * (length - length // 2),
                         "labels": labels})  # fmt: skip
    batch = DataCollatorWithPacking(wordpiece, pack_to=40, token_labels=token_labels)(features)
    assert batch["input_ids"].shape[1] <= 40 and batch["input_ids"].shape[0] < len(features)
    starts = (batch["position_ids"] == 0) & batch["attention_mask"].bool()
    found = []
    for row in range(len(batch["input_ids"])):
        real = int(batch["attention_mask"][row].sum())
        begins = starts[row].nonzero().flatten().tolist()
        for begin, end in zip(begins, [*begins[1:], real]):
            assert batch["position_ids"][row, begin:end].tolist() == list(range(end - begin))
            found.append(
                (
                    batch["input_ids"][row, begin:end].tolist(),
                    batch["token_type_ids"][row, begin:end].tolist(),
                )
            )
            if token_labels:
                assert (
                    batch["labels"][row, begin:end].tolist()
                    == features[batch["labels"][row, begin].item() // 100]["labels"]
                )
        if token_labels:
            assert (batch["labels"][row, real:] == -100).all()
    assert sorted(found) == sorted((f["input_ids"], f["token_type_ids"]) for f in features)
    if not token_labels:
        assert [features[i]["input_ids"] for i in batch["labels"].tolist()] == [ids for ids, _ in found]
