"""HfrTransformer: heads, the paper's positional encoding, parity with torch.nn.Transformer layers, masks,
save/reload and remote code, incremental decoding, beam search, a reverse task learned under Seq2SeqTrainer,
gradient accumulation, and the seq2seq pipelines on a saved checkpoint."""

import json
import math
import random

import pytest
import torch
import transformers
from huggingface_hub.errors import StrictDataclassClassValidationError
from tokenizers import Tokenizer, models, pre_tokenizers, processors

import hf_recipes  # noqa: F401  (registers the AutoClasses)
from hf_recipes.compat import output_cache
from hf_recipes.models.transformer import HfrTransformerConfig
from hf_recipes.models.transformer.modeling_transformer import AUTO_MAP, shift_tokens_right
from hf_recipes.pipelines import attach_pipelines
from tests.helpers import run_without_hf_recipes
from tests.models.checks import (
    assert_every_parameter_gets_a_gradient,
    assert_save_reload_identical,
    logits_of,
)

VOCAB, SOURCE_VOCAB, PAD, BOS, EOS, D_MODEL = 23, 29, 0, 1, 2, 32


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: one thread is faster than two, and stays fast when the two cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_config(**overrides) -> HfrTransformerConfig:
    values = dict(
        vocab_size=VOCAB,
        d_model=D_MODEL,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        dropout=0.0,
        pad_token_id=PAD,
        bos_token_id=BOS,
        eos_token_id=EOS,
        decoder_start_token_id=BOS,
    )
    return HfrTransformerConfig(**{**values, **overrides})


SEPARATE_VOCABULARIES = dict(
    encoder_vocab_size=SOURCE_VOCAB, share_embeddings=False, tie_word_embeddings=False
)


def model_for(auto_class: str = "AutoModelForSeq2SeqLM", seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return getattr(transformers, auto_class).from_config(tiny_config(**overrides)).eval()


def seq2seq_inputs(seed: int = 0, source_vocab: int = VOCAB) -> dict:
    """Three source rows, the last two right-padded, and targets of 6, 4 and 2 tokens ending in EOS."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(3, source_vocab, (3, 7), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, -2:] = 0
    attention_mask[2, -4:] = 0
    labels = torch.randint(3, VOCAB, (3, 6), generator=generator)
    for row, length in enumerate((6, 4, 2)):
        labels[row, length - 1] = EOS
        labels[row, length:] = -100
    return {
        "input_ids": input_ids.masked_fill(attention_mask == 0, PAD),
        "attention_mask": attention_mask,
        "labels": labels,
    }


def without_labels(inputs: dict) -> dict:
    """The teacher-forced decoder input instead of labels (what a forward pass without a loss takes)."""
    decoder_input_ids = shift_tokens_right(inputs["labels"], PAD, BOS)
    return {
        "input_ids": inputs["input_ids"],
        "attention_mask": inputs["attention_mask"],
        "decoder_input_ids": decoder_input_ids,
    }


def paper_position_encoding(num_positions: int, d_model: int) -> torch.Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d_model)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model)), as printed."""
    table = [[0.0] * d_model for _ in range(num_positions)]
    for pos in range(num_positions):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            table[pos][2 * i] = math.sin(angle)
            table[pos][2 * i + 1] = math.cos(angle)
    return torch.tensor(table)


# --- configuration, heads, loss ---------------------------------------------------------------------------


def test_config_answers_the_generic_names_and_rejects_impossible_shapes():
    config = tiny_config(decoder_layers=3)
    assert (config.vocab_size, config.hidden_size, config.max_position_embeddings) == (VOCAB, D_MODEL, 64)
    assert (config.num_hidden_layers, config.num_attention_heads) == (2, 4)
    assert config.encoder_vocab_size == VOCAB  # a joint vocabulary unless told otherwise
    # The generation cache sizes itself from the decoder's view of the config.
    assert config.get_text_config(decoder=True).num_hidden_layers == 3
    with pytest.raises(StrictDataclassClassValidationError, match="multiple of decoder_attention_heads"):
        tiny_config(decoder_attention_heads=5)
    with pytest.raises(StrictDataclassClassValidationError, match="one joint vocabulary"):
        tiny_config(encoder_vocab_size=SOURCE_VOCAB)
    with pytest.raises(StrictDataclassClassValidationError, match="needs tie_word_embeddings=True"):
        tiny_config(tie_word_embeddings=False)
    with pytest.raises(StrictDataclassClassValidationError, match="label_smoothing"):
        tiny_config(label_smoothing=1.0)


@pytest.mark.parametrize("embeddings", ["shared", "separate"])
@pytest.mark.parametrize("layer_norm_position", ["post", "pre"])
@pytest.mark.parametrize("auto_class", sorted(AUTO_MAP))
def test_head_shapes_loss_and_gradients(auto_class, layer_norm_position, embeddings):
    overrides = SEPARATE_VOCABULARIES if embeddings == "separate" else {}
    model = model_for(auto_class, layer_norm_position=layer_norm_position, **overrides)
    inputs = seq2seq_inputs(source_vocab=SOURCE_VOCAB if embeddings == "separate" else VOCAB)
    if auto_class == "AutoModel":
        forward = without_labels(inputs)
        output = model(**forward)
        assert output.last_hidden_state.shape == (3, 6, D_MODEL)
        assert output.encoder_last_hidden_state.shape == (3, 7, D_MODEL)
        model.train()
        output = model(**forward)
        # Random weights: the plain sum of a LayerNorm's output does not depend on its input (zero gradient).
        generator = torch.Generator().manual_seed(0)
        for hidden in (output.last_hidden_state, output.encoder_last_hidden_state):
            (hidden * torch.randn(hidden.shape, generator=generator)).sum().backward(retain_graph=True)
        assert all(p.grad is not None and p.grad.any() for p in model.parameters())
    else:
        assert model(**inputs).logits.shape == (3, 6, VOCAB)
        assert model.get_encoder().embed_tokens.num_embeddings == model.config.encoder_vocab_size
        assert_every_parameter_gets_a_gradient(model, inputs)


def test_loss_is_label_smoothed_cross_entropy_over_the_real_target_tokens():
    inputs = seq2seq_inputs()
    model = model_for(label_smoothing=0.1)
    with torch.no_grad():
        output = model(**inputs)
        logits = model(**without_labels(inputs)).logits
    torch.testing.assert_close(output.logits, logits)  # labels → shift_tokens_right → the same decoder input
    real = inputs["labels"] != -100
    logprobs = logits.log_softmax(-1)[real]
    targets = inputs["labels"][real]
    nll = -logprobs.gather(-1, targets[:, None]).squeeze(-1)
    smooth = -logprobs.mean(-1)  # cross-entropy against the uniform distribution
    torch.testing.assert_close(output.loss, (0.9 * nll + 0.1 * smooth).mean())
    # Under gradient accumulation Trainer passes the step's token count: the sum is divided by it instead.
    summed = model(**inputs, num_items_in_batch=torch.tensor(40)).loss
    torch.testing.assert_close(summed, (0.9 * nll + 0.1 * smooth).sum() / 40)
    plain = model_for(label_smoothing=0.0)
    with torch.no_grad():
        torch.testing.assert_close(plain(**inputs).loss, nll.mean())


def test_labels_are_shifted_right_behind_the_decoder_start_token():
    model = model_for()
    labels = torch.tensor([[7, 8, 9, EOS], [5, EOS, -100, -100]])
    expected = torch.tensor([[BOS, 7, 8, 9], [BOS, 5, EOS, PAD]])
    assert torch.equal(model.prepare_decoder_input_ids_from_labels(labels), expected)


def test_embeddings_are_shared_and_tied_as_configured():
    shared = model_for()
    encoder, decoder = shared.get_encoder().embed_tokens.weight, shared.get_decoder().embed_tokens.weight
    assert encoder is decoder is shared.lm_head.weight  # the paper's three-way sharing
    assert shared.get_input_embeddings().weight is encoder
    tied = model_for(encoder_vocab_size=SOURCE_VOCAB, share_embeddings=False)
    assert tied.lm_head.weight is tied.get_decoder().embed_tokens.weight
    assert tied.get_encoder().embed_tokens.weight.shape == (SOURCE_VOCAB, D_MODEL)
    separate = model_for(**SEPARATE_VOCABULARIES)
    weights = [separate.get_encoder().embed_tokens.weight, separate.get_decoder().embed_tokens.weight]
    assert len({id(w) for w in [*weights, separate.lm_head.weight]}) == 3


def test_resizing_the_joint_vocabulary_keeps_everything_tied_and_saveable(tmp_path):
    model = model_for()
    model.resize_token_embeddings(VOCAB + 5)
    assert (model.config.vocab_size, model.config.encoder_vocab_size) == (VOCAB + 5, VOCAB + 5)
    weight = model.get_input_embeddings().weight
    assert weight.shape == (VOCAB + 5, D_MODEL)
    assert weight is model.get_decoder().embed_tokens.weight is model.lm_head.weight
    assert_save_reload_identical(model, "AutoModelForSeq2SeqLM", without_labels(seq2seq_inputs()), tmp_path)
    with pytest.raises(NotImplementedError, match="joint vocabulary"):
        model_for(**SEPARATE_VOCABULARIES).resize_token_embeddings(VOCAB + 5)


# --- the architecture ------------------------------------------------------------------------------------


def test_positional_encoding_is_the_papers_formula_added_to_scaled_embeddings():
    model = model_for()
    expected = paper_position_encoding(64, D_MODEL)
    for stack in (model.get_encoder(), model.get_decoder()):
        torch.testing.assert_close(stack.embed_positions.table, expected, rtol=0, atol=1e-6)
    inputs = without_labels(seq2seq_inputs())
    with torch.no_grad():
        output = model(**inputs, output_hidden_states=True)
    embeddings = model.get_input_embeddings().weight
    for ids, first_hidden in (
        (inputs["input_ids"], output.encoder_hidden_states[0]),
        (inputs["decoder_input_ids"], output.decoder_hidden_states[0]),
    ):
        scaled = embeddings[ids] * math.sqrt(D_MODEL) + expected[: ids.shape[1]]
        torch.testing.assert_close(first_hidden, scaled, rtol=0, atol=1e-5)


def load_torch_attention(reference: torch.nn.MultiheadAttention, ours) -> None:
    reference.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
    reference.out_proj.weight.copy_(ours.out_proj.weight)
    # The paper's projections have no biases; torch's have, set to zero here.
    reference.in_proj_bias.zero_()
    reference.out_proj.bias.zero_()


def load_torch_layer(reference, ours) -> None:
    """Copy one of our layers into torch.nn.TransformerEncoderLayer / TransformerDecoderLayer."""
    load_torch_attention(reference.self_attn, ours.self_attn)
    norms = [ours.self_attn_layer_norm, ours.ffn_layer_norm]
    if hasattr(reference, "multihead_attn"):
        load_torch_attention(reference.multihead_attn, ours.cross_attn)
        norms = [ours.self_attn_layer_norm, ours.cross_attn_layer_norm, ours.ffn_layer_norm]
    for target, source in zip((reference.norm1, reference.norm2, getattr(reference, "norm3", None)), norms):
        target.load_state_dict(source.state_dict())
    reference.linear1.load_state_dict(ours.ffn.fc1.state_dict())
    reference.linear2.load_state_dict(ours.ffn.fc2.state_dict())


@pytest.mark.parametrize("layer_norm_position", ["post", "pre"])
def test_logits_match_torch_nn_transformer_layers(layer_norm_position):
    """torch's own encoder and decoder layers (norm_first=False is the paper, True is pre-LN), fed the
    paper's embeddings and positional encoding computed here, give our logits."""
    model = model_for(layer_norm_position=layer_norm_position, seed=4)
    with torch.no_grad():  # away from the init's ones and zeros, so that no two weights can be swapped unseen
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.2)
    config, pre = model.config, layer_norm_position == "pre"
    layer_args = dict(
        d_model=D_MODEL,
        nhead=4,
        dim_feedforward=64,
        dropout=0.0,
        activation="relu",
        batch_first=True,
        norm_first=pre,
    )
    encoder_layers = [torch.nn.TransformerEncoderLayer(**layer_args) for _ in range(config.encoder_layers)]
    decoder_layers = [torch.nn.TransformerDecoderLayer(**layer_args) for _ in range(config.decoder_layers)]
    final_norms = [torch.nn.LayerNorm(D_MODEL) for _ in range(2)]  # pre-LN only
    with torch.no_grad():
        for reference, ours in zip(
            encoder_layers + decoder_layers, [*model.get_encoder().layers, *model.get_decoder().layers]
        ):
            # train mode (dropout is 0) keeps torch off its fast path, which handles padding differently
            load_torch_layer(reference.train(), ours)
        for reference, stack in zip(final_norms, (model.get_encoder(), model.get_decoder())):
            if pre:
                reference.load_state_dict(stack.layer_norm.state_dict())
            else:
                assert isinstance(stack.layer_norm, torch.nn.Identity)  # the paper has none

    inputs = without_labels(seq2seq_inputs())
    source, target = inputs["input_ids"], inputs["decoder_input_ids"]
    embeddings, position = model.get_input_embeddings().weight.detach(), paper_position_encoding(16, D_MODEL)
    source_padding = inputs["attention_mask"] == 0
    future = torch.ones(target.shape[1], target.shape[1], dtype=torch.bool).triu(1)  # True = may not attend
    with torch.no_grad():
        memory = embeddings[source] * math.sqrt(D_MODEL) + position[: source.shape[1]]
        for layer in encoder_layers:
            memory = layer(memory, src_key_padding_mask=source_padding)
        hidden = embeddings[target] * math.sqrt(D_MODEL) + position[: target.shape[1]]
        for layer in decoder_layers:
            hidden = layer(
                hidden,
                final_norms[0](memory) if pre else memory,
                tgt_mask=future,
                memory_key_padding_mask=source_padding,
            )
        expected = (final_norms[1](hidden) if pre else hidden) @ embeddings.T
        torch.testing.assert_close(model(**inputs).logits, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_decoder_cannot_see_future_target_tokens(attn_implementation):
    torch.manual_seed(1)
    model = transformers.AutoModelForSeq2SeqLM.from_config(
        tiny_config(), attn_implementation=attn_implementation
    )
    model.eval()
    inputs = without_labels(seq2seq_inputs())
    target = inputs["decoder_input_ids"]
    with torch.no_grad():
        reference = model(**inputs).logits
        for t in range(target.shape[1] - 1):
            changed = target.clone()
            changed[:, t + 1 :] = (changed[:, t + 1 :] + 7) % VOCAB
            logits = model(**{**inputs, "decoder_input_ids": changed}).logits
            torch.testing.assert_close(logits[:, : t + 1], reference[:, : t + 1], rtol=0, atol=1e-6)
            # ... and is seen where it may be
            assert not torch.allclose(logits[:, t + 1 :], reference[:, t + 1 :])


def test_source_padding_is_invisible_and_attention_weights_are_distributions():
    model = model_for(seed=2)
    inputs = without_labels(seq2seq_inputs())
    real_source = inputs["attention_mask"].bool()
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        # Each row alone, without its padding, gives the same logits as in the padded batch.
        for row in range(3):
            alone = model(
                input_ids=inputs["input_ids"][row : row + 1, real_source[row]],
                decoder_input_ids=inputs["decoder_input_ids"][row : row + 1],
            ).logits
            torch.testing.assert_close(output.logits[row : row + 1], alone, rtol=0, atol=1e-5)
        # The fused kernel (no weights) and the eager path (weights requested) agree.
        torch.testing.assert_close(model(**inputs).logits, output.logits, rtol=0, atol=1e-5)

    assert len(output.cross_attentions) == 2 and output.cross_attentions[0].shape == (3, 4, 6, 7)
    pad_keys = ~real_source[:, None, None, :]
    for cross, encoder_self in zip(output.cross_attentions, output.encoder_attentions):
        for weights in (cross, encoder_self):
            assert torch.all(weights.masked_select(pad_keys) == 0)
            torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    future = torch.ones(6, 6, dtype=torch.bool).triu(1)
    for decoder_self in output.decoder_attentions:
        assert torch.all(decoder_self[..., future] == 0)
        torch.testing.assert_close(decoder_self.sum(-1), torch.ones(decoder_self.shape[:-1]))


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_decoder_attention_mask_hides_masked_target_tokens(attn_implementation):
    """Whatever sits in masked decoder positions (here, in front of two rows) never reaches the others."""
    torch.manual_seed(2)
    model = transformers.AutoModelForSeq2SeqLM.from_config(
        tiny_config(), attn_implementation=attn_implementation
    )
    model.eval()
    inputs = without_labels(seq2seq_inputs())
    decoder_mask = torch.ones_like(inputs["decoder_input_ids"])
    decoder_mask[1:, :2] = 0
    other = inputs["decoder_input_ids"].masked_fill(decoder_mask == 0, 9)
    with torch.no_grad():
        masked = model(**inputs, decoder_attention_mask=decoder_mask).logits
        changed = model(**{**inputs, "decoder_input_ids": other}, decoder_attention_mask=decoder_mask).logits
        unmasked = model(**{**inputs, "decoder_input_ids": other}).logits
        all_ones = model(**inputs, decoder_attention_mask=torch.ones_like(decoder_mask)).logits
    real = decoder_mask.bool()
    torch.testing.assert_close(changed[real], masked[real], rtol=0, atol=1e-6)
    assert not torch.allclose(unmasked[real], masked[real])  # without the mask they are seen
    torch.testing.assert_close(all_ones, model(**inputs).logits)
    assert torch.isfinite(masked).all()  # masked query rows still see themselves: no empty softmax, no NaN


@pytest.mark.parametrize("use_reentrant", [False, True])
def test_gradient_checkpointing_gives_the_same_gradients(use_reentrant):
    inputs = seq2seq_inputs()
    gradients = []
    for checkpointing in (False, True):
        model = model_for()
        if checkpointing:
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": use_reentrant}
            )
        model.train()
        model(**inputs).loss.backward()
        gradients.append({name: p.grad for name, p in model.named_parameters()})
    assert gradients[0].keys() == gradients[1].keys()
    for name, gradient in gradients[0].items():
        torch.testing.assert_close(gradients[1][name], gradient, rtol=0, atol=1e-6, msg=name)


def test_sequences_past_max_position_embeddings_are_a_clear_error():
    model = model_for(max_position_embeddings=8)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(input_ids=torch.full((1, 9), 5), decoder_input_ids=torch.tensor([[BOS]]))


# --- save, reload, remote code ----------------------------------------------------------------------------


@pytest.mark.parametrize("embeddings", ["shared", "separate"])
def test_save_reload_gives_identical_logits_and_keeps_the_ties(tmp_path, embeddings):
    overrides = SEPARATE_VOCABULARIES if embeddings == "separate" else {}
    model = model_for(seed=5, **overrides)
    inputs = without_labels(seq2seq_inputs(source_vocab=SOURCE_VOCAB if overrides else VOCAB))
    directory = assert_save_reload_identical(model, "AutoModelForSeq2SeqLM", inputs, tmp_path)
    for name in ("modeling_transformer.py", "configuration_transformer.py", "model.safetensors"):
        assert (directory / name).is_file(), name
    auto_map = json.loads((directory / "config.json").read_text())["auto_map"]
    assert set(auto_map) == {"AutoConfig", *AUTO_MAP}
    reloaded, info = transformers.AutoModelForSeq2SeqLM.from_pretrained(directory, output_loading_info=True)
    assert not any(info.values()), info  # nothing missing, unexpected or mismatched
    weights = [reloaded.get_encoder().embed_tokens.weight, reloaded.get_decoder().embed_tokens.weight]
    distinct = {id(weight) for weight in [*weights, reloaded.lm_head.weight]}
    assert len(distinct) == (1 if embeddings == "shared" else 3)
    # The sinusoidal table has no weights and is not saved: it is rebuilt on load.
    torch.testing.assert_close(
        reloaded.get_decoder().embed_positions.table, paper_position_encoding(64, D_MODEL)
    )
    # The bare encoder-decoder loads from the seq2seq checkpoint.
    base = transformers.AutoModel.from_pretrained(directory).eval()
    with torch.no_grad():
        hidden = base(**inputs).last_hidden_state
        torch.testing.assert_close(reloaded.lm_head(hidden), model(**inputs).logits, rtol=0, atol=1e-6)


def test_checkpoints_load_through_their_own_code_where_hf_recipes_is_not_installed(tmp_path, reverse_task):
    """One fresh interpreter (starting one is the slow part) for every remote-code check: both heads, both
    embedding layouts, and generation with the trained checkpoint's tokenizer."""
    expected, cases = {}, []
    for embeddings in ("shared", "separate"):
        overrides = SEPARATE_VOCABULARIES if embeddings == "separate" else {}
        model = model_for(seed=5, **overrides)
        inputs = without_labels(seq2seq_inputs(source_vocab=SOURCE_VOCAB if overrides else VOCAB))
        torch.save(inputs, tmp_path / f"{embeddings}.pt")
        model.save_pretrained(tmp_path / embeddings)
        for auto_class in sorted(AUTO_MAP):
            with torch.no_grad():
                head = getattr(transformers, auto_class).from_pretrained(tmp_path / embeddings).eval()
                expected[f"{embeddings} {auto_class}"] = logits_of(head(**inputs))
            cases.append(
                (f"{embeddings} {auto_class}", str(tmp_path / embeddings), auto_class, f"{embeddings}.pt")
            )
    directory, held_out = reverse_task["directory"], reverse_task["held_out"][:6]
    sources = [source for source, _ in held_out]
    beams = translate(reverse_task["model"], reverse_task["tokenizer"], sources, num_beams=3)

    result = run_without_hf_recipes(
        f"""
        import json, torch, transformers
        out = {{}}
        for name, directory, auto_class, inputs in {cases!r}:
            model = getattr(transformers, auto_class).from_pretrained(directory, trust_remote_code=True).eval()
            assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
            with torch.no_grad():
                output = model(**torch.load(inputs))
            out[name] = (output.logits if auto_class == "AutoModelForSeq2SeqLM" else output.last_hidden_state).tolist()
        # Without hf_recipes, the tokenizer's config also names remote code: AutoTokenizer must trust it too.
        tokenizer = transformers.AutoTokenizer.from_pretrained({str(directory)!r}, trust_remote_code=True)
        model = transformers.AutoModelForSeq2SeqLM.from_pretrained({str(directory)!r}, trust_remote_code=True)
        batch = tokenizer({sources!r}, return_tensors="pt", padding=True)
        for beams in (1, 3):
            generated = model.eval().generate(**batch, max_new_tokens=10, num_beams=beams)
            out[f"{{beams}} beams"] = tokenizer.batch_decode(generated, skip_special_tokens=True)
        print(json.dumps(out))
        """,
        cwd=tmp_path,
    )
    for name, logits in expected.items():
        torch.testing.assert_close(torch.tensor(result[name]), logits, rtol=0, atol=1e-6, msg=name)
    assert result["1 beams"] == [target for _, target in held_out]
    assert result["3 beams"] == beams


# --- generation -------------------------------------------------------------------------------------------


def count_calls(module: torch.nn.Module) -> list:
    calls = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generate_with_and_without_cache_gives_the_same_tokens_and_scores(num_beams):
    model = model_for(seed=3, layer_norm_position="pre")
    inputs = seq2seq_inputs()
    source = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    settings = dict(
        min_new_tokens=10,  # an untrained model may stop at once; this one must take steps
        max_new_tokens=10,
        num_beams=num_beams,
        do_sample=False,
        output_scores=True,
        return_dict_in_generate=True,
    )
    cross_keys = count_calls(model.get_decoder().layers[0].cross_attn.k_proj)
    cached = model.generate(**source, use_cache=True, **settings)
    projections_with_cache = len(cross_keys)
    uncached = model.generate(**source, use_cache=False, **settings)
    assert torch.equal(cached.sequences, uncached.sequences)
    assert cached.sequences.shape[1] > 3
    for with_cache, without in zip(cached.scores, uncached.scores):
        torch.testing.assert_close(with_cache, without, rtol=0, atol=1e-5)
    # The encoder output is projected to cross-attention keys once per generate call with the cache, at every
    # step without it.
    steps = len(cached.scores)
    assert projections_with_cache == 1 and len(cross_keys) - projections_with_cache == steps
    assert isinstance(output_cache(cached), transformers.EncoderDecoderCache)
    assert output_cache(cached).cross_attention_cache.get_seq_length() == source["input_ids"].shape[1]


@pytest.mark.parametrize("cache_argument", ["cache", "past_key_values"])  # the name before transformers 5.25
def test_one_cached_step_reproduces_the_full_forward(cache_argument):
    model = model_for(seed=3)
    inputs = without_labels(seq2seq_inputs())
    target = inputs["decoder_input_ids"]
    with torch.no_grad():
        full = model(**inputs).logits
        first = model(**{**inputs, "decoder_input_ids": target[:, :4]}, use_cache=True)
        step = model(
            attention_mask=inputs["attention_mask"],
            encoder_outputs=(first.encoder_last_hidden_state,),
            decoder_input_ids=target[:, 4:5],
            **{cache_argument: output_cache(first)},
            use_cache=True,
        )
    assert output_cache(first).get_seq_length() == 5  # appended to in place by the step
    torch.testing.assert_close(step.logits[:, -1], full[:, 4], rtol=0, atol=1e-5)


# --- a reverse task, learned under Seq2SeqTrainer -----------------------------------------------------------

SYMBOLS = [str(digit) for digit in range(8)]


def word_tokenizer() -> transformers.PreTrainedTokenizerFast:
    """One token per whitespace-separated symbol; EOS appended, as a translation tokenizer does."""
    vocab = {token: i for i, token in enumerate(["<pad>", "<s>", "</s>", "<unk>", *SYMBOLS])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", EOS)])
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


def reverse_pairs(n: int, rng: random.Random, exclude=frozenset(), lengths=(2, 6)) -> list[tuple[str, str]]:
    pairs = []
    while len(pairs) < n:
        symbols = [rng.choice(SYMBOLS) for _ in range(rng.randint(*lengths))]
        source = " ".join(symbols)
        if source not in exclude:
            pairs.append((source, " ".join(reversed(symbols))))
    return pairs


def reverse_task_config(tokenizer) -> HfrTransformerConfig:
    return tiny_config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.bos_token_id,
    )


def seq2seq_trainer(model, tokenizer, features, output_dir, **arguments) -> transformers.Seq2SeqTrainer:
    args = transformers.Seq2SeqTrainingArguments(
        output_dir=str(output_dir),
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
        weight_decay=0.0,
        **arguments,
    )
    collator = transformers.DataCollatorForSeq2Seq(tokenizer, model=model)  # decoder_input_ids from the model
    return transformers.Seq2SeqTrainer(
        model=model, args=args, train_dataset=features, data_collator=collator, processing_class=tokenizer
    )


def translate(model, tokenizer, sources: list[str], **generate_kwargs) -> list[str]:
    batch = tokenizer(sources, return_tensors="pt", padding=True)
    with torch.no_grad():
        generated = model.generate(**batch, max_new_tokens=10, **generate_kwargs)
    return tokenizer.batch_decode(generated, skip_special_tokens=True)


@pytest.fixture(scope="module")
def reverse_task(tmp_path_factory):
    """A Transformer trained for 150 steps to reverse 2-6 symbol sequences, saved with its tokenizer."""
    tokenizer = word_tokenizer()
    rng = random.Random(0)
    held_out = reverse_pairs(200, rng)
    train_pairs = reverse_pairs(150 * 128, rng, exclude={source for source, _ in held_out})
    sources, targets = zip(*train_pairs)
    encoded = tokenizer(list(sources), text_target=list(targets))
    features = [dict(zip(encoded.keys(), values)) for values in zip(*encoded.values())]
    torch.manual_seed(0)
    model = transformers.AutoModelForSeq2SeqLM.from_config(reverse_task_config(tokenizer))
    directory = tmp_path_factory.mktemp("reverse")
    trainer = seq2seq_trainer(
        model,
        tokenizer,
        features,
        directory / "run",
        per_device_train_batch_size=128,
        max_steps=150,
        learning_rate=1e-2,
        warmup_steps=15,
        lr_scheduler_type="linear",
        adam_beta2=0.98,
        logging_steps=50,
    )
    trainer.train()
    model.eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return {
        "model": model,
        "tokenizer": tokenizer,
        "held_out": held_out,
        "directory": directory,
        "trainer": trainer,
    }


def test_reverse_task_is_learned_under_seq2seq_trainer(reverse_task):
    model, tokenizer, held_out = reverse_task["model"], reverse_task["tokenizer"], reverse_task["held_out"]
    predictions = translate(model, tokenizer, [source for source, _ in held_out])
    exact = sum(prediction == target for prediction, (_, target) in zip(predictions, held_out))
    assert exact / len(held_out) >= 0.95, f"{exact} of {len(held_out)} unseen sequences reversed exactly"
    # Label smoothing keeps the loss above its floor (~0.5 nats here), but far below where it started.
    losses = [entry["loss"] for entry in reverse_task["trainer"].state.log_history if "loss" in entry]
    assert losses[-1] < losses[0] / 2


def teacher_forced_score(model, batch: dict, sequences: torch.Tensor, length_penalty: float) -> torch.Tensor:
    """log P(sequence | source) / generated_length ** length_penalty, by one forward pass, counting generated
    tokens up to and including EOS (generate's normalisation for beam hypotheses)."""
    decoder_input_ids, targets = sequences[:, :-1], sequences[:, 1:]
    with torch.no_grad():
        logprobs = model(**batch, decoder_input_ids=decoder_input_ids).logits.log_softmax(-1)
    token_logprobs = logprobs.gather(-1, targets[..., None]).squeeze(-1)
    after_eos = (targets == EOS).long().cumsum(-1) - (targets == EOS).long() > 0
    token_logprobs = token_logprobs.masked_fill(after_eos, 0.0)
    lengths = (~after_eos).sum(-1)
    return token_logprobs.sum(-1) / lengths**length_penalty


@pytest.mark.parametrize("length_penalty", [1.0, 0.0])
def test_beam_search_scores_at_least_as_well_as_greedy(reverse_task, length_penalty):
    model, tokenizer = reverse_task["model"], reverse_task["tokenizer"]
    # Longer than anything seen in training, so the model is unsure and the search has choices to make.
    sources = [source for source, _ in reverse_pairs(12, random.Random(1), lengths=(7, 9))]
    batch = tokenizer(sources, return_tensors="pt", padding=True)
    settings = dict(max_new_tokens=12, do_sample=False, length_penalty=length_penalty)
    greedy = model.generate(**batch, **settings)
    one_beam = model.generate(**batch, num_beams=1, **settings)
    assert torch.equal(one_beam, greedy)
    beam = model.generate(**batch, num_beams=4, output_scores=True, return_dict_in_generate=True, **settings)
    beam_scores = teacher_forced_score(model, batch, beam.sequences, length_penalty)
    greedy_scores = teacher_forced_score(model, batch, greedy, length_penalty)
    # The scores generate reports are the normalised log-probabilities of the sequences it returns.
    torch.testing.assert_close(beam.sequences_scores, beam_scores, rtol=0, atol=1e-4)
    assert torch.all(beam_scores >= greedy_scores - 1e-5), (beam_scores, greedy_scores)
    assert torch.any(beam_scores > greedy_scores + 1e-3), (
        "beam search never found anything better than greedy"
    )


# --- Trainer: gradient accumulation -----------------------------------------------------------------------


def test_gradient_accumulation_keeps_the_loss_scale_and_the_update(tmp_path):
    """8 pairs at once vs 4 micro-batches of 2 accumulated: same logged loss, same weights after (the loss is
    summed and divided by `num_items_in_batch`, the target tokens of the whole step). Targets of 1 to 8 tokens,
    so per-micro-batch means would differ. SGD, whose update is the gradient itself."""
    tokenizer = word_tokenizer()
    pairs = [(" ".join(SYMBOLS[: n + 1]), " ".join(SYMBOLS[n::-1][:n])) for n in range(8)]
    encoded = tokenizer([source for source, _ in pairs], text_target=[target for _, target in pairs])
    features = [dict(zip(encoded.keys(), values)) for values in zip(*encoded.values())]
    runs = {}
    for batch_size, accumulation in ((8, 1), (2, 4)):
        torch.manual_seed(0)
        model = transformers.AutoModelForSeq2SeqLM.from_config(reverse_task_config(tokenizer))
        initial = {name: p.detach().clone() for name, p in model.named_parameters()}
        trainer = seq2seq_trainer(
            model,
            tokenizer,
            features,
            tmp_path / f"{batch_size}x{accumulation}",
            per_device_train_batch_size=batch_size,
            gradient_accumulation_steps=accumulation,
            max_steps=2,
            learning_rate=0.5,
            optim="sgd",
            lr_scheduler_type="constant",
            max_grad_norm=0.0,
            logging_steps=1,
        )
        trainer.train()
        runs[batch_size, accumulation] = model, [e["loss"] for e in trainer.state.log_history if "loss" in e]
    (whole, whole_losses), (accumulated, accumulated_losses) = runs[8, 1], runs[2, 4]
    assert len(whole_losses) == 2 and accumulated_losses == pytest.approx(whole_losses, rel=1e-4)
    for (name, a), b in zip(whole.named_parameters(), accumulated.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)
    moved = max((p - initial[name]).abs().max() for name, p in whole.named_parameters())
    assert moved > 1e-3  # the two steps did change the weights


# --- the saved checkpoint, with its tokenizer ---------------------------------------------------------------


def test_saved_checkpoint_translates_with_its_tokenizer(reverse_task):
    """What the translation pipeline did, by hand: tokenizer and model from the checkpoint folder, generate."""
    directory, held_out = reverse_task["directory"], reverse_task["held_out"][:6]
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(directory).eval()
    sources, targets = zip(*held_out)
    assert translate(model, tokenizer, list(sources)) == list(targets)
    assert translate(model, tokenizer, list(sources), num_beams=3, length_penalty=0.6) == list(targets)


@pytest.mark.parametrize("task", ["translation", "text2text-generation"])
def test_seq2seq_pipelines_on_the_saved_checkpoint(reverse_task, task):
    """transformers 5 removed both pipelines; the checkpoint carries its own (hf_recipes.pipelines)."""
    directory, held_out = reverse_task["directory"], reverse_task["held_out"][:4]
    attach_pipelines(directory, "AutoModelForSeq2SeqLM")
    pipe = transformers.pipeline(task, model=str(directory), device="cpu", trust_remote_code=True)
    outputs = pipe([source for source, _ in held_out], max_new_tokens=10)
    key = "translation_text" if task == "translation" else "generated_text"
    assert [output[key] for output in outputs] == [target for _, target in held_out]


def test_output_attentions_in_generate_returns_cross_attention_maps(reverse_task):
    """What the attention heatmaps read: per step, per layer, (batch, heads, 1, source length) weights."""
    model, tokenizer = reverse_task["model"], reverse_task["tokenizer"]
    batch = tokenizer(["1 2 3 4", "5 6"], return_tensors="pt", padding=True)
    out = model.generate(**batch, max_new_tokens=6, output_attentions=True, return_dict_in_generate=True)
    step = out.cross_attentions[1]
    assert len(step) == 2 and step[0].shape == (2, 4, 1, 5)
    assert torch.all(step[0][1, :, :, 3:] == 0)  # "5 6 </s>" is padded by two
