"""HfrGPT: every head, save/reload, remote code, parity with GPT-2, caching, causality, padding, packing."""

import pytest
import torch
import transformers

import hf_recipes  # noqa: F401  (registers the AutoClasses)
from hf_recipes.compat import output_cache
from hf_recipes.models.gpt import HfrGPTConfig
from hf_recipes.models.gpt.modeling_gpt import AUTO_MAP
from tests.models.checks import (
    assert_every_parameter_gets_a_gradient,
    assert_gradients_reach_every_parameter,
    assert_remote_code_identical,
    assert_save_reload_identical,
    logits_of,
    projected_sum,
)

VOCAB, BATCH, SEQ, PAD = 67, 3, 9, 0


def tiny_config(**overrides) -> HfrGPTConfig:
    values = dict(
        vocab_size=VOCAB,
        n_positions=48,
        n_embd=32,
        n_layer=2,
        n_head=4,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        pad_token_id=PAD,
        bos_token_id=1,
        eos_token_id=2,
    )
    return HfrGPTConfig(**{**values, **overrides})


def model_for(auto_class: str = "AutoModelForCausalLM", seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return getattr(transformers, auto_class).from_config(tiny_config(**overrides)).eval()


def decoder_inputs(seed: int = 0) -> dict:
    """Right-padded batch (rows 2 and 3 end in 2 and 4 pads)."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(3, VOCAB, (BATCH, SEQ), generator=generator)
    attention_mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    attention_mask[1, -2:] = 0
    attention_mask[2, -4:] = 0
    return {"input_ids": input_ids.masked_fill(attention_mask == 0, PAD), "attention_mask": attention_mask}


def labels_for(auto_class: str, inputs: dict) -> dict:
    if auto_class == "AutoModelForCausalLM":
        return {"labels": inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)}
    if auto_class == "AutoModelForSequenceClassification":
        return {"labels": torch.tensor([1, 0, 2])}
    return {}


@pytest.mark.parametrize("layer_norm_position", ["pre", "post"])
@pytest.mark.parametrize("auto_class", sorted(AUTO_MAP))
def test_head_shapes_loss_and_gradients(auto_class, layer_norm_position):
    model = model_for(auto_class, num_labels=3, layer_norm_position=layer_norm_position)
    inputs = decoder_inputs()
    output = model(**inputs)
    expected = {
        "AutoModel": (BATCH, SEQ, 32),
        "AutoModelForCausalLM": (BATCH, SEQ, VOCAB),
        "AutoModelForSequenceClassification": (BATCH, 3),
    }[auto_class]
    assert logits_of(output).shape == expected
    if auto_class == "AutoModel":
        model.train()
        projected_sum(model(**inputs).last_hidden_state).backward()
        assert_gradients_reach_every_parameter(model)
    else:
        assert_every_parameter_gets_a_gradient(model, {**inputs, **labels_for(auto_class, inputs)})


@pytest.mark.parametrize("chunk", [1, 5, 1000])
@pytest.mark.parametrize("num_items_in_batch", [None, 40])
def test_chunked_loss_gives_the_loss_and_gradients_of_the_full_logits(chunk, num_items_in_batch):
    """`loss_chunk_size`: the LM head + cross-entropy run `chunk` positions at a time (padding ignored, the
    sum over Trainer's `num_items_in_batch` or the mean): the plain head's loss and every gradient (the tied
    embeddings' too), no logits while training, the usual logits and loss in eval mode."""
    inputs = {**decoder_inputs(), **labels_for("AutoModelForCausalLM", decoder_inputs())}
    runs = {}
    for size in (0, chunk):
        model = model_for(loss_chunk_size=size).train()
        output = model(**inputs, num_items_in_batch=num_items_in_batch)
        (3 * output.loss).backward()
        runs[size] = output, {name: param.grad for name, param in model.named_parameters()}
    (plain, plain_grads), (chunked, chunked_grads) = runs[0], runs[chunk]
    torch.testing.assert_close(chunked.loss, plain.loss)
    assert chunked_grads.keys() == plain_grads.keys()
    for name, grad in plain_grads.items():
        torch.testing.assert_close(chunked_grads[name], grad, msg=name)
    assert chunked.logits is None
    model.eval()
    with torch.no_grad():
        evaluated = model(**inputs)
    assert evaluated.logits.shape == (BATCH, SEQ, VOCAB)
    if num_items_in_batch is None:
        torch.testing.assert_close(evaluated.loss, plain.loss)


def test_post_ln_is_gpt1_without_final_layer_norm():
    pre, post = model_for("AutoModel"), model_for("AutoModel", layer_norm_position="post")
    assert isinstance(pre.ln_f, torch.nn.LayerNorm) and isinstance(post.ln_f, torch.nn.Identity)
    assert not any("ln_f" in name for name, _ in post.named_parameters())


def test_lm_head_is_tied_to_token_embeddings():
    model = model_for()
    assert model.lm_head.weight is model.transformer.wte.weight
    untied = model_for(tie_word_embeddings=False)
    assert untied.lm_head.weight is not untied.transformer.wte.weight


def test_auxiliary_lm_loss_is_added_with_its_weight():
    inputs = decoder_inputs()
    labels = torch.tensor([1, 0, 2])
    plain = model_for("AutoModelForSequenceClassification", num_labels=3)
    weighted = model_for("AutoModelForSequenceClassification", num_labels=3, lm_loss_weight=0.5)
    weighted.load_state_dict(plain.state_dict())
    with torch.no_grad():
        classification = plain(**inputs, labels=labels).loss
        total = weighted(**inputs, labels=labels).loss
        hidden = plain.transformer(**inputs).last_hidden_state
    lm_logits = hidden @ plain.transformer.wte.weight.T
    lm_labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
    lm_loss = torch.nn.functional.cross_entropy(
        lm_logits[:, :-1].reshape(-1, VOCAB), lm_labels[:, 1:].reshape(-1)
    )
    torch.testing.assert_close(total, classification + 0.5 * lm_loss)


def test_sequence_classification_reads_the_last_real_token_with_left_or_right_padding():
    model = model_for("AutoModelForSequenceClassification", num_labels=3)
    tokens = torch.tensor([[5, 6, 7, 8]])
    right = {
        "input_ids": torch.tensor([[5, 6, 7, 8, PAD, PAD]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 0, 0]]),
    }
    left = {
        "input_ids": torch.tensor([[PAD, PAD, 5, 6, 7, 8]]),
        "attention_mask": torch.tensor([[0, 0, 1, 1, 1, 1]]),
    }
    with torch.no_grad():
        alone = model(tokens).logits
        torch.testing.assert_close(model(**right).logits, alone, rtol=0, atol=1e-5)
        torch.testing.assert_close(model(**left).logits, alone, rtol=0, atol=1e-5)


def test_save_reload_and_remote_code_give_identical_logits(tmp_path):
    model = model_for(num_labels=3)
    inputs = decoder_inputs()
    directory = assert_save_reload_identical(model, "AutoModelForCausalLM", inputs, tmp_path)
    for name in ("modeling_gpt.py", "configuration_gpt.py", "model.safetensors"):
        assert (directory / name).is_file(), name
    expected, checkpoints = {}, {}
    for auto_class in sorted(AUTO_MAP):
        torch.manual_seed(0)
        head = getattr(transformers, auto_class).from_pretrained(directory).eval()
        head.save_pretrained(directory / auto_class)
        checkpoints[auto_class] = directory / auto_class
        with torch.no_grad():
            expected[auto_class] = logits_of(head(**inputs))
    assert_remote_code_identical(checkpoints, inputs, expected)


def test_logits_match_transformers_gpt2():
    torch.manual_seed(0)
    reference_config = transformers.GPT2Config(
        vocab_size=VOCAB,
        n_positions=48,
        n_embd=32,
        n_layer=2,
        n_head=4,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        activation_function="gelu_new",
    )
    reference = transformers.GPT2LMHeadModel(reference_config).eval()
    ours = model_for()
    state = {}
    for name, tensor in reference.state_dict().items():
        if name == "lm_head.weight":
            continue  # tied to transformer.wte.weight
        # GPT-2 stores its projections as Conv1D with (in, out) weights; ours are nn.Linear (out, in).
        is_conv1d = name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight"))
        state[name] = tensor.T if is_conv1d else tensor
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) == {"lm_head.weight"}

    input_ids = decoder_inputs()["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(ours(input_ids).logits, reference(input_ids).logits, rtol=0, atol=1e-5)
        # right padding: the real tokens' logits agree as well
        mask = decoder_inputs()["attention_mask"]
        got, expected = (
            ours(input_ids, attention_mask=mask).logits,
            reference(input_ids, attention_mask=mask).logits,
        )
        torch.testing.assert_close(got[mask.bool()], expected[mask.bool()], rtol=0, atol=1e-5)


# The cache argument is `cache` from transformers 5.25 on, `past_key_values` before (deprecated until 5.40):
# forward takes either, whichever release is installed.
@pytest.mark.parametrize("cache_argument", ["cache", "past_key_values"])
@pytest.mark.parametrize("layer_norm_position", ["pre", "post"])
def test_generate_with_and_without_cache_gives_the_same_greedy_tokens(layer_norm_position, cache_argument):
    model = model_for(layer_norm_position=layer_norm_position, seed=3)
    prompt = torch.tensor([[5, 9, 14, 3], [8, 8, 20, 41]])
    cached = model.generate(prompt, max_new_tokens=12, do_sample=False, use_cache=True)
    uncached = model.generate(prompt, max_new_tokens=12, do_sample=False, use_cache=False)
    assert cached.shape == (2, 16)
    assert torch.equal(cached, uncached)
    # The cache really is used: one step with it reproduces the full forward's last logits.
    with torch.no_grad():
        first = model(prompt, use_cache=True)
        step = model(cached[:, 4:5], **{cache_argument: output_cache(first)}, use_cache=True)
        full = model(cached[:, :5]).logits[:, -1]
    assert output_cache(first).get_seq_length() == 5  # updated in place by the step
    torch.testing.assert_close(step.logits[:, -1], full, rtol=0, atol=1e-5)


def sequence_logprob(model, sequence: torch.Tensor, prompt_length: int) -> float:
    """log P(generated tokens | prompt) under the model, scored by a plain forward pass."""
    with torch.no_grad():
        logprobs = model(sequence[None]).logits[0, :-1].log_softmax(-1)
    targets = sequence[1:]
    return logprobs[prompt_length - 1 :].gather(-1, targets[prompt_length - 1 :, None]).sum().item()


def test_beam_search_finds_a_sequence_at_least_as_likely_as_greedy():
    model = model_for(seed=3)
    prompt = torch.tensor([[5, 9, 14, 3]])
    greedy = model.generate(prompt, max_new_tokens=6, do_sample=False)
    one_beam = model.generate(prompt, max_new_tokens=6, num_beams=1, do_sample=False)
    beams = model.generate(prompt, max_new_tokens=6, num_beams=4, num_return_sequences=2, do_sample=False)
    assert torch.equal(one_beam, greedy)
    assert beams.shape == (2, 10)
    assert sequence_logprob(model, beams[0], 4) >= sequence_logprob(model, greedy[0], 4) - 1e-5
    torch.manual_seed(0)
    sampled = model.generate(prompt, max_new_tokens=6, do_sample=True, top_k=10, temperature=0.8)
    assert sampled.shape == (1, 10)


def test_future_tokens_never_change_past_logits():
    model = model_for(seed=1)
    tokens = torch.randint(3, VOCAB, (1, SEQ), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        reference = model(tokens).logits
        for t in range(SEQ - 1):
            changed = tokens.clone()
            changed[0, t + 1 :] = (changed[0, t + 1 :] + 7) % VOCAB
            torch.testing.assert_close(
                model(changed).logits[:, : t + 1], reference[:, : t + 1], rtol=0, atol=1e-6
            )
            assert not torch.allclose(model(changed).logits[:, t + 1 :], reference[:, t + 1 :])


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_left_padded_batch_gives_each_sequence_its_own_next_token_logits(attn_implementation):
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(
        tiny_config(), attn_implementation=attn_implementation
    ).eval()
    sequences = [[5, 6, 7, 8, 9, 10], [11, 12, 13], [14, 15, 16, 17]]
    width = max(map(len, sequences))
    input_ids = torch.tensor([[PAD] * (width - len(s)) + s for s in sequences])
    attention_mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences])
    with torch.no_grad():
        batched = model(input_ids, attention_mask=attention_mask).logits[:, -1]
        assert torch.isfinite(model(input_ids, attention_mask=attention_mask).logits).all()
        for row, sequence in enumerate(sequences):
            alone = model(torch.tensor([sequence])).logits[0, -1]
            torch.testing.assert_close(batched[row], alone, rtol=0, atol=1e-5)
    generated = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=5, do_sample=False)
    for row, sequence in enumerate(sequences):
        alone = model.generate(torch.tensor([sequence]), max_new_tokens=5, do_sample=False)
        assert generated[row, width:].tolist() == alone[0, len(sequence) :].tolist()


def test_packed_documents_do_not_attend_across_boundaries():
    """position_ids restarting at 0 mark a new document: each document's logits equal those of it alone."""
    model = model_for(seed=2)
    first, second = [5, 6, 7, 8, 2], [9, 10, 11, 12]
    packed = torch.tensor([first + second])
    position_ids = torch.tensor([list(range(len(first))) + list(range(len(second)))])
    with torch.no_grad():
        logits = model(packed, position_ids=position_ids).logits
        torch.testing.assert_close(
            logits[:, : len(first)], model(torch.tensor([first])).logits, rtol=0, atol=1e-5
        )
        torch.testing.assert_close(
            logits[:, len(first) :], model(torch.tensor([second])).logits, rtol=0, atol=1e-5
        )
        # without the reset the second document does see the first one
        assert not torch.allclose(model(packed).logits[:, len(first) :], model(torch.tensor([second])).logits)


def test_context_longer_than_n_positions_is_a_clear_error():
    model = model_for()
    with pytest.raises(ValueError, match="n_positions=48"):
        model(torch.ones(1, 49, dtype=torch.long))
