"""HfrRNN: the encoder-decoder with every cell and attention, the language model, the classifier, the encoder.

Tiny configs on CPU. Checked: shapes, losses and gradients of every head, cell and attention; pads are skipped
(a padded row gives what it gives alone) and get exactly zero attention; the decoder cannot see the future;
`generate` gives the same with and without the recurrent-state cache, greedy equals a hand-written argmax
loop, and beam search's scores are the model's scores of its sequences (so the state followed every reordering
of the beams) and no worse than greedy's; save/reload, also through trust_remote_code where hf_recipes cannot
be imported; the recurrent init; pretrained word embeddings, frozen; a reverse task learned through Trainer
and translated from a saved checkpoint with its tokenizer; the text-generation pipeline; gradient
accumulation.
"""

import math

import pytest
import torch
import torch.nn.functional as F
import transformers
from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

import hf_recipes  # noqa: F401  (registers the AutoClasses)
from hf_recipes.models.rnn import (
    HfrRNNCache,
    HfrRNNConfig,
    HfrRNNForCausalLM,
    HfrRNNForConditionalGeneration,
    HfrRNNForSequenceClassification,
    HfrRNNModel,
)
from hf_recipes.models.rnn.modeling_rnn import AUTO_MAP
from hf_recipes.pipelines import attach_pipelines
from tests.helpers import run_without_hf_recipes
from tests.models.checks import (
    assert_every_parameter_gets_a_gradient,
    generate_with_and_without_cache,
    logits_of,
)

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]  # ids 0-3: the config's default pad, bos and eos ids
PAD, BOS, EOS = 0, 1, 2
SOURCE_VOCAB, TARGET_VOCAB, HIDDEN = 23, 17, 12
CELLS = ["lstm", "gru", "rnn"]
ATTENTIONS = ["none", "dot", "general", "additive"]
LETTERS = list("abcdefghij")  # token ids 4-13 of word_tokenizer(LETTERS)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # These tensors are tiny: a second thread only adds synchronisation, and with other processes on the two
    # cores OpenMP's spin-waiting made a training step over 10x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_config(**overrides) -> HfrRNNConfig:
    values = dict(
        vocab_size=SOURCE_VOCAB,
        target_vocab_size=TARGET_VOCAB,
        embedding_size=8,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        dropout=0.0,
        # Unit-scale embeddings: with 8 of them at the default 0.1, the smallest gradients (attention weights
        # of a near-uniform attention) fall to ~1e-9, too near the rounding noise the gradient check excludes.
        initializer_range=1.0,
    )
    return HfrRNNConfig(**{**values, **overrides})


def build(model_class, seed=0, **overrides):
    torch.manual_seed(seed)
    return model_class(tiny_config(**overrides))


def padded_batch(seed=0) -> dict:
    """Three rows of 7 tokens: right-padded (4 real), left-padded (5 real), unpadded; pads hold the pad id."""
    input_ids = torch.randint(4, SOURCE_VOCAB, (3, 7), generator=torch.Generator().manual_seed(seed))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, 4:] = 0
    attention_mask[1, :2] = 0
    return {"input_ids": input_ids.masked_fill(attention_mask == 0, PAD), "attention_mask": attention_mask}


def row_alone(batch: dict, row: int) -> torch.Tensor:
    """The real tokens of one row, unpadded, as a batch of one."""
    return batch["input_ids"][row][batch["attention_mask"][row].bool()][None]


def target_labels(seed=1) -> torch.Tensor:
    return torch.randint(4, TARGET_VOCAB, (3, 5), generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------------------------
# Encoder-decoder


def seq2seq_variants():
    """Every cell × attention × input feeding, with the bridges and bidirectionality spread over them."""
    variants = []
    for cell in CELLS:
        for attention in ATTENTIONS:
            for feeding in [False, True] if attention != "none" else [False]:
                i = len(variants)
                bridge = ["copy", "dense", "zero"][i % (2 if attention == "none" else 3)]
                options = dict(cell=cell, attention=attention, input_feeding=feeding, bridge=bridge)
                name = f"{cell}-{attention}{'-feed' if feeding else ''}-{bridge}{'-bi' if i % 2 == 0 else ''}"
                variants.append(pytest.param({**options, "bidirectional": i % 2 == 0}, id=name))
    return variants


@pytest.mark.parametrize("variant", seq2seq_variants())
def test_seq2seq_loss_gradients_attention_causality_and_padding(variant):
    model = build(HfrRNNForConditionalGeneration, **variant)
    batch, labels = padded_batch(), target_labels()
    assert_every_parameter_gets_a_gradient(model, {**batch, "labels": labels})
    model.eval()
    with torch.no_grad():
        out = model(**batch, labels=labels, output_attentions=True)
        assert out.logits.shape == (3, 5, TARGET_VOCAB)
        assert out.encoder_last_hidden_state.shape == (3, 7, HIDDEN)
        # Token-level cross-entropy, the mean over the labelled target tokens.
        torch.testing.assert_close(out.loss, F.cross_entropy(out.logits.flatten(0, 1), labels.flatten()))

        if variant["attention"] == "none":
            assert out.cross_attentions is None
        else:
            (probs,) = out.cross_attentions  # one layer, one head
            assert probs.shape == (3, 1, 5, 7)
            real = batch["attention_mask"].bool()[:, None, None, :].expand_as(probs)
            torch.testing.assert_close(probs.sum(-1), torch.ones(3, 1, 5))
            assert (probs[~real] == 0).all() and (probs[real] > 0).all()

        # Changing target token 3 changes no prediction made before the decoder reads it.
        decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels)
        changed = decoder_input_ids.clone()
        changed[:, 3] = (changed[:, 3] - 3) % (TARGET_VOCAB - 4) + 4
        logits_changed = model(**batch, decoder_input_ids=changed).logits
        torch.testing.assert_close(logits_changed[:, :3], out.logits[:, :3], rtol=0, atol=0)
        assert not torch.allclose(logits_changed[:, 3:], out.logits[:, 3:])

        # Pads are skipped: the right- and the left-padded source give what they give alone.
        for row in (0, 1):
            alone = model(input_ids=row_alone(batch, row), decoder_input_ids=decoder_input_ids[row : row + 1])
            torch.testing.assert_close(alone.logits[0], out.logits[row], rtol=1e-4, atol=1e-5)


def sequence_logprob(model, sequences: torch.Tensor, inputs: dict) -> torch.Tensor:
    """Σ log p of the generated tokens of `sequences`, by teacher forcing in one forward (no generate)."""
    with torch.no_grad():
        if model.config.is_encoder_decoder:
            logits = model(**inputs, decoder_input_ids=sequences[:, :-1], use_cache=False).logits
            targets = sequences[:, 1:]
        else:
            prompt_length = inputs["input_ids"].shape[1]
            mask = torch.cat([inputs["attention_mask"], torch.ones_like(sequences[:, prompt_length:])], dim=1)
            logits = model(input_ids=sequences[:, :-1], attention_mask=mask[:, :-1], use_cache=False).logits
            logits, targets = logits[:, prompt_length - 1 :], sequences[:, prompt_length:]
    return logits.log_softmax(-1).gather(-1, targets[..., None]).squeeze(-1).sum(-1)


def greedy_by_hand(model, inputs: dict, steps: int) -> torch.Tensor:
    """Greedy decoding written out over forward, the recurrent state carried in an HfrRNNCache by hand."""
    cache = HfrRNNCache()
    seq2seq = model.config.is_encoder_decoder
    prompt = torch.full((len(inputs["input_ids"]), 1), BOS) if seq2seq else inputs["input_ids"]
    sequence, new_tokens = prompt, prompt
    with torch.no_grad():
        for _ in range(steps):
            if seq2seq:
                step = {**inputs, "decoder_input_ids": new_tokens}
            else:  # the mask covers the prompt and every token generated so far
                mask = torch.cat(
                    [inputs["attention_mask"], torch.ones_like(sequence[:, prompt.shape[1] :])], dim=1
                )
                step = {"input_ids": new_tokens, "attention_mask": mask}
            logits = model(**step, cache=cache, use_cache=True).logits[:, -1]
            logits[:, EOS] = -math.inf  # as min_new_tokens does in generate
            new_tokens = logits.argmax(-1, keepdim=True)
            sequence = torch.cat([sequence, new_tokens], dim=1)
    assert cache.get_seq_length() == sequence.shape[1] - 1  # every token but the last one was read
    return sequence


def check_generation(model, inputs: dict) -> dict:
    """Greedy, beam search and sampling give the same with and without the cache; greedy = the hand-written
    loop; beam search's scores are the model's log-probabilities of its sequences, no worse than greedy's."""
    outputs = generate_with_and_without_cache(model, inputs)

    assert torch.equal(greedy_by_hand(model, inputs, steps=6), outputs["greedy"].sequences)
    one_beam = model.generate(**inputs, max_new_tokens=6, min_new_tokens=6, num_beams=1)
    assert torch.equal(one_beam, outputs["greedy"].sequences)
    beam_logprob = sequence_logprob(model, outputs["beam"].sequences, inputs)
    # Had the state not followed the beams' reordering, the scores would belong to other sequences.
    torch.testing.assert_close(outputs["beam"].sequences_scores, beam_logprob, rtol=1e-4, atol=1e-4)
    assert (beam_logprob >= sequence_logprob(model, outputs["greedy"].sequences, inputs) - 1e-5).all()
    return outputs


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(dict(cell="lstm", attention="none", bidirectional=True), id="lstm-none-bi"),
        pytest.param(dict(cell="gru", attention="dot", input_feeding=True), id="gru-dot-feed"),
        pytest.param(
            dict(cell="rnn", attention="general", bidirectional=True, bridge="dense"), id="rnn-general-bi"
        ),
        pytest.param(
            dict(cell="lstm", attention="additive", bidirectional=True, bridge="zero"), id="lstm-additive-bi"
        ),
        pytest.param(
            dict(cell="gru", attention="additive", input_feeding=True, bridge="dense"), id="gru-additive-feed"
        ),
    ],
)
def test_seq2seq_generate(variant):
    model = build(HfrRNNForConditionalGeneration, seed=3, **variant)
    batch = padded_batch()
    outputs = check_generation(model, batch)
    for row in (0, 1):  # a padded source is translated as it would be alone
        alone = model.generate(row_alone(batch, row), max_new_tokens=6, min_new_tokens=6, num_beams=4)
        assert torch.equal(alone[0], outputs["beam"].sequences[row])
    if variant["attention"] != "none":
        steps = model.generate(
            **batch, max_new_tokens=3, output_attentions=True, return_dict_in_generate=True
        )
        assert len(steps.cross_attentions) == 3 and steps.cross_attentions[0][0].shape == (3, 1, 1, 7)


# ------------------------------------------------------------------------------------------------------------
# Language model


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("cell", CELLS)
def test_lm_loss_gradients_causality_and_padding(cell, tied):
    model = build(HfrRNNForCausalLM, cell=cell, tie_word_embeddings=tied, embedding_size=HIDDEN)
    batch = padded_batch()
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    assert_every_parameter_gets_a_gradient(model, {**batch, "labels": labels})
    assert (model.lm_head.weight is model.encoder.embed_tokens.weight) == tied
    model.eval()
    with torch.no_grad():
        out = model(**batch, labels=labels)
        assert out.logits.shape == (3, 7, SOURCE_VOCAB)
        # Position t predicts token t + 1; pads are not labelled.
        expected = F.cross_entropy(
            out.logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100
        )
        torch.testing.assert_close(out.loss, expected)
        changed = batch["input_ids"].clone()
        changed[2, 4] = changed[2, 4] % (SOURCE_VOCAB - 4) + 4
        logits_changed = model(input_ids=changed, attention_mask=batch["attention_mask"]).logits
        torch.testing.assert_close(logits_changed[2, :4], out.logits[2, :4], rtol=0, atol=0)
        assert not torch.allclose(logits_changed[2, 4:], out.logits[2, 4:])
        outputs = model.encoder(**batch).last_hidden_state
        for row in (0, 1):  # pads skipped, on the left as on the right, and given no output
            real = batch["attention_mask"][row].bool()
            alone = model(input_ids=row_alone(batch, row)).logits[0]
            torch.testing.assert_close(alone, out.logits[row][real], rtol=1e-4, atol=1e-5)
            assert (outputs[row][~real] == 0).all()


@pytest.mark.parametrize("cell", CELLS)
def test_lm_generate_from_left_padded_prompts(cell):
    model = build(HfrRNNForCausalLM, seed=2, cell=cell)
    batch = padded_batch(seed=4)
    # The same prompts, all padded on the left as generate expects of decoder-only models.
    real = [row_alone(batch, row)[0] for row in range(3)]
    prompts = {
        "input_ids": torch.stack([torch.cat([torch.full((7 - len(r),), PAD), r]) for r in real]),
        "attention_mask": torch.stack([mask.sort().values for mask in batch["attention_mask"]]),
    }
    outputs = check_generation(model, prompts)
    for row in range(3):
        alone = model.generate(row_alone(prompts, row), max_new_tokens=6, min_new_tokens=6, num_beams=4)
        assert torch.equal(alone[0, -6:], outputs["beam"].sequences[row, -6:])


# ------------------------------------------------------------------------------------------------------------
# Classifier and encoder


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", CELLS)
def test_classifier_problem_types_gradients_and_padding(cell, bidirectional):
    batch = padded_batch()
    cases = {  # problem_type: (num_labels, labels, the loss transformers' heads use)
        "regression": (
            1,
            torch.tensor([0.5, -1.0, 2.0]),
            lambda logits, y: F.mse_loss(logits.squeeze(-1), y),
        ),
        "single_label_classification": (3, torch.tensor([0, 2, 1]), F.cross_entropy),
        "multi_label_classification": (
            3,
            torch.tensor([[1.0, 0, 1], [0, 0, 1], [0, 1, 0]]),
            F.binary_cross_entropy_with_logits,
        ),
    }
    for problem_type, (num_labels, labels, loss) in cases.items():
        model = build(
            HfrRNNForSequenceClassification, cell=cell, bidirectional=bidirectional, num_labels=num_labels
        )
        assert_every_parameter_gets_a_gradient(model, {**batch, "labels": labels})
        model.eval()
        with torch.no_grad():
            out = model(**batch, labels=labels)
            assert model.config.problem_type == problem_type  # inferred from num_labels and the labels' dtype
            assert out.logits.shape == (3, num_labels)
            torch.testing.assert_close(out.loss, loss(out.logits, labels))
            for row in (0, 1):  # the state after the last real token, with left or right padding
                alone = model(input_ids=row_alone(batch, row)).logits[0]
                torch.testing.assert_close(alone, out.logits[row], rtol=1e-4, atol=1e-5)
            # Without an attention mask, pads are found by pad_token_id.
            torch.testing.assert_close(model(input_ids=batch["input_ids"]).logits, out.logits, rtol=0, atol=0)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_encoder_final_state_is_the_state_after_the_real_tokens_and_gradients_reach_all(bidirectional):
    model = build(HfrRNNModel, cell="lstm", bidirectional=bidirectional).eval()
    batch = padded_batch()
    out = model(**batch)
    assert out.last_hidden_state.shape == (3, 7, HIDDEN)
    assert out.final_hidden_state.shape == out.final_cell_state.shape == (3, 2, HIDDEN)  # (batch, layers, h)
    forward = HIDDEN // 2 if bidirectional else HIDDEN
    for row in range(3):
        real = out.last_hidden_state[row][batch["attention_mask"][row].bool()]
        # The forward direction ends after the last real token; the backward one after the first.
        torch.testing.assert_close(out.final_hidden_state[row, -1, :forward], real[-1, :forward])
        torch.testing.assert_close(out.final_hidden_state[row, -1, forward:], real[0, forward:])
    model.train()
    model(**batch).last_hidden_state.sum().backward()
    assert all(p.grad is not None and p.grad.any() for p in model.parameters())
    if bidirectional:
        with pytest.raises(ValueError, match="cannot continue"):
            model(**batch, use_cache=True)
        with pytest.raises(ValueError, match="left to right"):
            HfrRNNForCausalLM(model.config)


def test_a_row_without_real_tokens_keeps_its_state():
    """A chunk where a row has only pads (e.g. the pads before a left-padded prompt) leaves that row's state
    as it was: zeros at the start, the cached state later."""
    model = build(HfrRNNModel, cell="lstm").eval()
    first = {
        "input_ids": torch.tensor([[5, 6, 7], [8, 9, 10]]),
        "attention_mask": torch.ones(2, 3, dtype=torch.long),
    }
    with torch.no_grad():
        out = model(input_ids=first["input_ids"], attention_mask=torch.tensor([[0, 0, 0], [1, 1, 1]]))
        assert (out.final_hidden_state[0] == 0).all() and (out.last_hidden_state[0] == 0).all()
        cached = model(**first, use_cache=True)
        state_after_first = cached.final_hidden_state.clone()
        mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])  # row 0 reads nothing new
        second = model(
            input_ids=torch.tensor([[0, 0], [11, 12]]),
            attention_mask=mask,
            past_key_values=cached.cache,  # the name before transformers 5.25, still taken
        )
    torch.testing.assert_close(second.final_hidden_state[0], state_after_first[0], rtol=0, atol=0)
    assert not torch.allclose(second.final_hidden_state[1], state_after_first[1])
    assert cached.cache.get_seq_length() == 5


# ------------------------------------------------------------------------------------------------------------
# Weight init, pretrained embeddings, config validation


@pytest.mark.parametrize("cell", CELLS)
def test_recurrent_init_is_applied(cell):
    rnn = build(HfrRNNModel, cell=cell).rnn
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    for name, param in rnn.named_parameters():
        for gate in param.detach().chunk(gates):
            if name.startswith("weight_hh"):  # orthogonal per gate; torch's default is U(-1/√h, 1/√h)
                torch.testing.assert_close(gate @ gate.T, torch.eye(len(gate)), rtol=0, atol=1e-5)
            elif name.startswith("weight_ih"):  # Xavier-uniform per gate
                assert gate.abs().max() <= math.sqrt(6 / sum(gate.shape))
        if name.startswith("bias"):
            expected = torch.zeros_like(param)
            if cell == "lstm" and name.startswith("bias_ih"):
                expected[HIDDEN : 2 * HIDDEN] = 1.0  # the forget gate (torch's order i, f, g, o) remembers
            torch.testing.assert_close(param.detach(), expected, rtol=0, atol=0)


def test_recurrent_init_carries_gradients_where_the_torch_default_loses_them():
    """Orthogonal recurrent weights carry the gradient of the last state back to the first of 60 tokens;
    torch's default (spectral radius ≈ 1/√3 for a plain RNN) loses it."""
    model = build(HfrRNNModel, cell="rnn", num_hidden_layers=1, hidden_size=32, embedding_size=32)
    torch.manual_seed(0)
    torch_default = torch.nn.RNN(32, 32, batch_first=True)

    def gradient_at_first_token(rnn):
        inputs = torch.randn(1, 60, 32, generator=torch.Generator().manual_seed(0), requires_grad=True)
        rnn(inputs)[1].sum().backward()
        return inputs.grad[0, 0].norm().item()

    assert gradient_at_first_token(model.rnn) > 1000 * gradient_at_first_token(torch_default)


def test_pretrained_word_embeddings_frozen_and_kept_through_save(tmp_path):
    model = build(HfrRNNForSequenceClassification, num_labels=2)
    vectors = torch.randn(SOURCE_VOCAB, 8, generator=torch.Generator().manual_seed(5))
    with pytest.raises(ValueError, match="vocab_size × embedding_size"):
        model.load_pretrained_embeddings(vectors[:, :4])
    model.load_pretrained_embeddings(vectors.numpy())  # numpy (gensim, GloVe files) or torch
    assert model.get_input_embeddings() is model.encoder.embed_tokens
    assert model.config.freeze_embeddings and not model.get_input_embeddings().weight.requires_grad

    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    model(**padded_batch(), labels=torch.tensor([0, 1, 1])).loss.backward()
    classifier_before = model.score.weight.detach().clone()
    optimizer.step()
    torch.testing.assert_close(model.get_input_embeddings().weight.detach(), vectors, rtol=0, atol=0)
    assert not torch.equal(model.score.weight, classifier_before)  # the rest trains

    model.save_pretrained(tmp_path)
    reloaded = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert not reloaded.get_input_embeddings().weight.requires_grad  # frozen again after loading
    torch.testing.assert_close(reloaded.get_input_embeddings().weight.detach(), vectors, rtol=0, atol=0)

    replacement = torch.nn.Embedding(SOURCE_VOCAB, 8)
    reloaded.set_input_embeddings(replacement)
    assert reloaded.encoder.embed_tokens is replacement
    model.load_pretrained_embeddings(vectors, freeze=False)  # fine-tune them instead
    assert model.get_input_embeddings().weight.requires_grad and not model.config.freeze_embeddings


def test_config_rejects_impossible_combinations():
    for overrides, message in [
        (dict(bidirectional=True, hidden_size=11), "even hidden_size"),
        (dict(tie_word_embeddings=True), "embedding_size == hidden_size"),
        (dict(attention="none", input_feeding=True), "needs attention"),
        (dict(attention="none", bridge="zero"), "blind"),
    ]:
        with pytest.raises(StrictDataclassClassValidationError, match=message):
            tiny_config(**overrides)
    with pytest.raises(StrictDataclassFieldValidationError, match="lstm"):
        tiny_config(cell="transformer")


# ------------------------------------------------------------------------------------------------------------
# Save and load: the Auto classes, and trust_remote_code where hf_recipes cannot be imported


def saved_heads(tmp_path) -> dict:
    """One checkpoint per head, each with other options; auto class -> (model, its inputs, its folder)."""
    batch = padded_batch()
    heads = {
        "AutoModelForSeq2SeqLM": (
            build(
                HfrRNNForConditionalGeneration,
                cell="lstm",
                attention="additive",
                input_feeding=True,
                bidirectional=True,
                bridge="dense",
                tie_word_embeddings=True,
                embedding_size=HIDDEN,
            ),
            {**batch, "labels": target_labels()},
        ),
        "AutoModelForCausalLM": (build(HfrRNNForCausalLM, cell="gru"), batch),
        "AutoModelForSequenceClassification": (
            build(HfrRNNForSequenceClassification, cell="rnn", bidirectional=True, num_labels=3),
            batch,
        ),
        "AutoModel": (build(HfrRNNModel, cell="gru", bidirectional=True), batch),
    }
    assert set(heads) == set(AUTO_MAP)
    for auto_class, (model, _) in heads.items():
        model.eval().save_pretrained(tmp_path / auto_class)
    return {
        auto_class: (model, inputs, tmp_path / auto_class) for auto_class, (model, inputs) in heads.items()
    }


def output_of(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        return logits_of(model(**inputs))


# Equal to float precision, not bit for bit: reloaded weights live at other memory offsets (they can be views
# of the memory-mapped file), and MKL's results can move in the last bits with the alignment of its operands.
CLOSE = dict(rtol=1e-6, atol=1e-7)


def test_save_and_reload_through_the_auto_classes(tmp_path):
    heads = saved_heads(tmp_path)
    for auto_class, (model, inputs, folder) in heads.items():
        auto_map = transformers.AutoConfig.from_pretrained(folder).auto_map
        assert set(auto_map) == {"AutoConfig", *AUTO_MAP}, auto_map
        assert (folder / "modeling_rnn.py").is_file() and (folder / "configuration_rnn.py").is_file()
        reloaded = getattr(transformers, auto_class).from_pretrained(folder)
        assert type(reloaded) is type(model) and reloaded.config.cell == model.config.cell
        torch.testing.assert_close(output_of(reloaded, inputs), output_of(model, inputs), **CLOSE)

    seq2seq = transformers.AutoModelForSeq2SeqLM.from_pretrained(heads["AutoModelForSeq2SeqLM"][2])
    assert seq2seq.lm_head.weight is seq2seq.decoder.embed_tokens.weight  # tied again on loading
    # AutoModel on an encoder-decoder checkpoint is its encoder, and a language model's encoder starts a
    # classifier (ULMFiT): the heads share the name `encoder`.
    encoder = transformers.AutoModel.from_pretrained(heads["AutoModelForSeq2SeqLM"][2])
    torch.testing.assert_close(encoder.rnn.weight_hh_l1_reverse, seq2seq.encoder.rnn.weight_hh_l1_reverse)
    lm, _, lm_folder = heads["AutoModelForCausalLM"]
    classifier = transformers.AutoModelForSequenceClassification.from_pretrained(lm_folder, num_labels=2)
    torch.testing.assert_close(classifier.encoder.rnn.weight_hh_l1, lm.encoder.rnn.weight_hh_l1)
    assert seq2seq.config.is_encoder_decoder and not classifier.config.is_encoder_decoder
    # A deeper model from a shallower checkpoint: the loaded layer is kept (the init must not touch loaded
    # weights of a partly loaded RNN), the new layer gets the recurrent init.
    deeper = transformers.AutoModelForCausalLM.from_pretrained(lm_folder, num_hidden_layers=3)
    torch.testing.assert_close(deeper.encoder.rnn.weight_hh_l1, lm.encoder.rnn.weight_hh_l1, rtol=0, atol=0)
    new_gate = deeper.encoder.rnn.weight_hh_l2.detach()[:HIDDEN]
    torch.testing.assert_close(new_gate @ new_gate.T, torch.eye(HIDDEN), rtol=0, atol=1e-5)


def test_load_with_trust_remote_code_without_hf_recipes(tmp_path):
    heads = saved_heads(tmp_path)
    torch.save({auto_class: inputs for auto_class, (_, inputs, _) in heads.items()}, tmp_path / "inputs.pt")
    modules = run_without_hf_recipes(
        """
        import json, torch, transformers
        outputs, modules = {}, {}
        for auto_class, inputs in torch.load("inputs.pt").items():
            model = getattr(transformers, auto_class).from_pretrained(auto_class, trust_remote_code=True)
            modules[auto_class] = type(model).__module__
            with torch.no_grad():
                output = model(**inputs)
            outputs[auto_class] = output.logits if hasattr(output, "logits") else output.last_hidden_state
            if auto_class == "AutoModelForSeq2SeqLM":  # beam search with the checkpoint's own cache class
                source = {k: v for k, v in inputs.items() if k != "labels"}
                outputs["beams"] = model.generate(**source, num_beams=3, max_new_tokens=5)
        torch.save(outputs, "outputs.pt")
        print(json.dumps(modules))
        """,
        cwd=tmp_path,
    )
    assert all(module.startswith("transformers_modules") for module in modules.values()), modules
    outputs = torch.load(tmp_path / "outputs.pt")
    for auto_class, (model, inputs, folder) in heads.items():
        reloaded = getattr(transformers, auto_class).from_pretrained(folder)
        torch.testing.assert_close(outputs[auto_class], output_of(reloaded, inputs), rtol=0, atol=1e-6)
        torch.testing.assert_close(outputs[auto_class], output_of(model, inputs), **CLOSE)
    seq2seq, inputs, _ = heads["AutoModelForSeq2SeqLM"]
    beams = seq2seq.generate(
        inputs["input_ids"], attention_mask=inputs["attention_mask"], num_beams=3, max_new_tokens=5
    )
    assert torch.equal(outputs["beams"], beams)


# ------------------------------------------------------------------------------------------------------------
# End to end: Trainer, saved checkpoints with their tokenizers, pipelines, gradient accumulation


def word_tokenizer(words, char_level: bool = False) -> transformers.PreTrainedTokenizerFast:
    """WordLevel; ids 0-3 are <pad> <s> </s> <unk>, then `words` in order. Whitespace-separated words, or with
    `char_level` every character a token and decoding their plain concatenation (a char-RNN's tokenizer)."""
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(SPECIALS + words)}, unk_token="<unk>"))
    if char_level:
        tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
        tokenizer.decoder = decoders.Fuse()
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_input_names=["input_ids", "attention_mask"],
    )


def reverse_examples(count: int, seed: int, max_length: int = 7) -> list[dict]:
    """Sources of 3 to 7 letters, padded to 7; labels: the letters reversed, then </s>, padded with -100."""
    generator = torch.Generator().manual_seed(seed)
    examples = []
    for _ in range(count):
        length = int(torch.randint(3, max_length + 1, (), generator=generator))
        letters = torch.randint(4, 4 + len(LETTERS), (length,), generator=generator).tolist()
        pad = max_length - length
        examples.append(
            {
                "input_ids": letters + [PAD] * pad,
                "attention_mask": [1] * length + [0] * pad,
                "labels": letters[::-1] + [EOS] + [-100] * pad,
            }
        )
    return examples


def train(model, examples, output_dir, **overrides) -> list[float]:
    values = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=64,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    args = transformers.TrainingArguments(**{**values, **overrides})
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=examples, data_collator=transformers.default_data_collator
    )
    trainer.train()
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


@pytest.fixture(scope="module")
def reverse_model(tmp_path_factory):
    """A GRU encoder-decoder with Bahdanau attention (the architecture of the Multi30k anchor), trained
    through Trainer with its defaults (AdamW, linear decay, clipping) and a high rate: 100 steps of 64."""
    config = HfrRNNConfig(
        vocab_size=4 + len(LETTERS),
        cell="gru",
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=1,
        bidirectional=True,
        attention="additive",
        bridge="dense",
        dropout=0.0,
    )
    torch.manual_seed(0)
    model = HfrRNNForConditionalGeneration(config)
    train(
        model,
        reverse_examples(6400, seed=1),
        tmp_path_factory.mktemp("reverse"),
        max_steps=100,
        learning_rate=3e-2,
    )
    return model.eval()


def test_reverse_task_is_learned_to_95_percent_exact_match(reverse_model):
    test = transformers.default_data_collator(reverse_examples(300, seed=99))
    generated = reverse_model.generate(
        test["input_ids"], attention_mask=test["attention_mask"], max_new_tokens=9
    )
    exact = 0
    for sequence, labels in zip(generated[:, 1:].tolist(), test["labels"].tolist()):
        expected = [token for token in labels if token != -100]  # reversed letters, then </s>
        exact += sequence[: len(expected)] == expected
    assert exact / len(test["labels"]) >= 0.95


def test_translate_from_a_saved_checkpoint_with_its_tokenizer(reverse_model, tmp_path):
    reverse_model.save_pretrained(tmp_path)
    word_tokenizer(LETTERS).save_pretrained(tmp_path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    batch = tokenizer(["a b c d", "j i h g f e"], padding=True, return_tensors="pt")
    generated = model.generate(**batch, num_beams=3, max_new_tokens=9)
    assert tokenizer.batch_decode(generated, skip_special_tokens=True) == ["d c b a", "e f g h i j"]
    # transformers 5 removed these pipelines; the checkpoint carries its own (hf_recipes.pipelines).
    attach_pipelines(tmp_path, "AutoModelForSeq2SeqLM")
    for task, key in (("translation", "translation_text"), ("text2text-generation", "generated_text")):
        pipe = transformers.pipeline(task, model=str(tmp_path), trust_remote_code=True)
        outputs = pipe(["a b c d", "j i h g f e"], num_beams=3, max_new_tokens=9)
        assert [output[key] for output in outputs] == ["d c b a", "e f g h i j"]


def test_text_generation_pipeline_on_a_saved_char_level_language_model(tmp_path):
    """A character-level LM learns that each letter follows the previous one (abc…jabc…); the pipeline on its
    saved checkpoint continues a prompt with the next letters."""
    model = build(
        HfrRNNForCausalLM, cell="lstm", vocab_size=4 + len(LETTERS), embedding_size=16, hidden_size=32
    )
    starts = torch.randint(0, len(LETTERS), (1280,), generator=torch.Generator().manual_seed(0))
    rows = [[4 + (start + i) % len(LETTERS) for i in range(8)] for start in starts.tolist()]
    examples = [{"input_ids": row, "attention_mask": [1] * 8, "labels": row} for row in rows]
    train(model, examples, tmp_path / "run", max_steps=20, learning_rate=3e-2)
    model.save_pretrained(tmp_path)
    word_tokenizer(LETTERS, char_level=True).save_pretrained(tmp_path)

    generator = transformers.pipeline("text-generation", model=str(tmp_path), device="cpu")
    assert type(generator.model).__name__ == "HfrRNNForCausalLM"
    assert generator("hij", max_new_tokens=4, do_sample=False)[0]["generated_text"] == "hijabcd"


@pytest.mark.parametrize("head", ["seq2seq", "lm"])
def test_gradient_accumulation_keeps_the_loss_scale_and_the_update(tmp_path, head):
    """Trainer passes num_items_in_batch to these token-level heads: 4 micro-batches of 2 must give the loss
    and the update of 8 at once, though the micro-batches hold different numbers of target tokens (4 to 8
    each). SGD, because its update is the gradient itself."""
    examples = reverse_examples(8, seed=7)
    if head == "lm":  # the sources are the text, their pads unlabelled
        for example in examples:
            example["labels"] = [
                t if m else -100 for t, m in zip(example["input_ids"], example["attention_mask"])
            ]
    model_class = HfrRNNForCausalLM if head == "lm" else HfrRNNForConditionalGeneration
    whole, accumulated = (build(model_class, vocab_size=14, target_vocab_size=14) for _ in range(2))
    options = dict(max_steps=2, optim="sgd", learning_rate=0.5, lr_scheduler_type="constant", logging_steps=1)
    losses_whole = train(whole, examples, tmp_path / "whole", per_device_train_batch_size=8, **options)
    losses_accumulated = train(
        accumulated,
        examples,
        tmp_path / "ga",
        per_device_train_batch_size=2,
        gradient_accumulation_steps=4,
        **options,
    )
    assert losses_accumulated == pytest.approx(losses_whole, rel=1e-4)
    for (name, a), b in zip(whole.named_parameters(), accumulated.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)
