"""HfrBert: every head, save/reload, remote code, parity with transformers' BERT, padding invariance."""

import re

import pytest
import torch
import transformers

import hf_recipes  # noqa: F401  (registers the AutoClasses)
from hf_recipes.models.bert import HfrBertConfig
from hf_recipes.models.bert.modeling_bert import AUTO_MAP
from tests.models.checks import (
    assert_every_parameter_gets_a_gradient,
    assert_gradients_reach_every_parameter,
    assert_remote_code_identical,
    assert_save_reload_identical,
    logits_of,
    projected_sum,
)

VOCAB, BATCH, SEQ = 99, 3, 11


# the tiny shape of every test, also the reference models' in the parity tests
TINY_SHAPE = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)


def tiny_config(**overrides) -> HfrBertConfig:
    return HfrBertConfig(**{**TINY_SHAPE, **overrides})


def encoder_inputs(seed: int = 0) -> dict:
    """A padded batch: the second row has 3 pads, the third row 5; segments A/B as BERT lays them out."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, VOCAB, (BATCH, SEQ), generator=generator)
    attention_mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    attention_mask[1, -3:] = 0
    attention_mask[2, -5:] = 0
    input_ids = input_ids.masked_fill(attention_mask == 0, 0)
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, SEQ // 2 :] = 1
    token_type_ids = token_type_ids * attention_mask
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def labels_for(auto_class: str, config: HfrBertConfig) -> dict:
    generator = torch.Generator().manual_seed(1)
    mlm_labels = torch.full((BATCH, SEQ), -100)
    mlm_labels[:, 1:4] = torch.randint(0, VOCAB, (BATCH, 3), generator=generator)
    return {
        "AutoModelForPreTraining": {"labels": mlm_labels, "next_sentence_label": torch.tensor([0, 1, 0])},
        "AutoModelForMaskedLM": {"labels": mlm_labels},
        "AutoModelForNextSentencePrediction": {"labels": torch.tensor([1, 0, 1])},
        "AutoModelForSequenceClassification": {"labels": torch.tensor([0, 2, 1])},
        "AutoModelForTokenClassification": {"labels": torch.randint(0, 3, (BATCH, SEQ), generator=generator)},
        "AutoModelForQuestionAnswering": {
            "start_positions": torch.tensor([1, 2, 3]),
            "end_positions": torch.tensor([2, 4, 5]),
        },
    }.get(auto_class, {})


HEADS = sorted(AUTO_MAP)


@pytest.mark.parametrize("layer_norm_position", ["post", "pre"])
@pytest.mark.parametrize("auto_class", HEADS)
def test_head_shapes_loss_and_gradients(auto_class, layer_norm_position):
    torch.manual_seed(0)
    config = tiny_config(num_labels=3, layer_norm_position=layer_norm_position)
    model = getattr(transformers, auto_class).from_config(config)
    inputs = encoder_inputs()
    output = model(**inputs, **labels_for(auto_class, config))

    expected_shape = {
        "AutoModel": (BATCH, SEQ, 32),
        "AutoModelForPreTraining": (BATCH, SEQ, VOCAB),
        "AutoModelForMaskedLM": (BATCH, SEQ, VOCAB),
        "AutoModelForNextSentencePrediction": (BATCH, 2),
        "AutoModelForSequenceClassification": (BATCH, 3),
        "AutoModelForTokenClassification": (BATCH, SEQ, 3),
        "AutoModelForQuestionAnswering": (BATCH, SEQ),
    }[auto_class]
    assert logits_of(output).shape == expected_shape
    if auto_class == "AutoModel":
        assert output.pooler_output.shape == (BATCH, 32)
        (projected_sum(output.last_hidden_state) + projected_sum(output.pooler_output)).backward()
        assert_gradients_reach_every_parameter(model)
        return
    if auto_class == "AutoModelForPreTraining":
        assert output.seq_relationship_logits.shape == (BATCH, 2)
    zero_by_design = ()
    if auto_class == "AutoModelForQuestionAnswering":
        assert output.end_logits.shape == (BATCH, SEQ)
        # Start/end are softmaxes over positions: a shift shared by every position (the head's bias, and through
        # it the last LayerNorm's bias) cancels out, so these get no gradient.
        last_layer_norm = "final_layer_norm" if layer_norm_position == "pre" else "layers.1.output_layer_norm"
        zero_by_design = ("qa_outputs.bias", f"{last_layer_norm}.bias")
    assert_every_parameter_gets_a_gradient(
        model, {**inputs, **labels_for(auto_class, config)}, zero_by_design
    )


@pytest.mark.parametrize(
    "num_labels, labels, problem_type",
    [
        (1, torch.tensor([0.5, 3.0, 1.25]), "regression"),
        (3, torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), "multi_label_classification"),
        (3, torch.tensor([2, 0, 1]), "single_label_classification"),
    ],
)
def test_sequence_classification_problem_types(num_labels, labels, problem_type):
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_config(tiny_config(num_labels=num_labels))
    output = model(**encoder_inputs(), labels=labels)
    assert model.config.problem_type == problem_type
    logits = output.logits.detach()
    expected = {
        "regression": lambda: torch.nn.functional.mse_loss(logits.squeeze(-1), labels),
        "multi_label_classification": lambda: torch.nn.functional.binary_cross_entropy_with_logits(
            logits, labels
        ),
        "single_label_classification": lambda: torch.nn.functional.cross_entropy(logits, labels),
    }[problem_type]()
    torch.testing.assert_close(output.loss.detach(), expected)


@pytest.mark.parametrize("auto_class", ["AutoModelForPreTraining", "AutoModelForMaskedLM"])
def test_sparse_prediction_gives_the_same_loss_and_gradients(auto_class):
    """`sparse_prediction` runs the MLM head at the masked positions only, while training: the loss and every
    gradient are the full head's; in eval mode every position's logits come back as usual."""
    inputs = {**encoder_inputs(), **labels_for(auto_class, tiny_config())}
    runs = {}
    for sparse in (False, True):
        torch.manual_seed(0)
        model = getattr(transformers, auto_class).from_config(tiny_config(sparse_prediction=sparse)).train()
        output = model(**inputs)
        output.loss.backward()
        runs[sparse] = output, {name: param.grad for name, param in model.named_parameters()}
    (dense, dense_grads), (sparse, sparse_grads) = runs[False], runs[True]
    torch.testing.assert_close(sparse.loss, dense.loss)
    assert sparse_grads.keys() == dense_grads.keys()
    for name, grad in dense_grads.items():
        torch.testing.assert_close(sparse_grads[name], grad, msg=name)
    assert getattr(sparse, "logits", None) is None and getattr(sparse, "prediction_logits", None) is None
    model.eval()
    with torch.no_grad():
        evaluated = model(**inputs)
    assert logits_of(evaluated).shape == (BATCH, SEQ, VOCAB)
    torch.testing.assert_close(evaluated.loss, dense.loss)


def packed(inputs: dict, rows: list[list[int]]) -> dict:
    """The real tokens of `inputs`' rows put one after another into the given packed rows (e.g. [[0, 2], [1]]),
    position_ids restarting at 0 for each, right-padded to the longest packed row."""
    lengths = inputs["attention_mask"].sum(-1).tolist()
    width = max(sum(lengths[i] for i in row) for row in rows)
    out = {key: torch.zeros(len(rows), width, dtype=torch.long) for key in ("input_ids", "token_type_ids", "position_ids", "attention_mask")}  # fmt: skip
    token_labels = "labels" in inputs and inputs["labels"].dim() == 2
    if token_labels:
        out["labels"] = torch.full((len(rows), width), -100)
    for r, row in enumerate(rows):
        pieces = {key: torch.cat([inputs[key][i, : lengths[i]] for i in row]) for key in ("input_ids", "token_type_ids")}  # fmt: skip
        pieces["position_ids"] = torch.cat([torch.arange(lengths[i]) for i in row])
        pieces["attention_mask"] = torch.ones(sum(lengths[i] for i in row), dtype=torch.long)
        if token_labels:
            pieces["labels"] = torch.cat([inputs["labels"][i, : lengths[i]] for i in row])
        for key, value in pieces.items():
            out[key][r, : len(value)] = value
    return out


@pytest.mark.parametrize("auto_class", ["AutoModelForPreTraining", "AutoModelForMaskedLM", "AutoModelForSequenceClassification", "AutoModelForTokenClassification"])  # fmt: skip
def test_packed_rows_give_the_outputs_losses_and_gradients_of_padded_rows(auto_class):
    """Three sequences packed into two rows (position_ids restarting at 0): every token's logits, each
    sequence's NSP / class logits (in reading order), the loss and every gradient equal the padded batch's;
    pad queries at a row's end stay finite."""
    inputs = {**encoder_inputs(), **labels_for(auto_class, tiny_config(num_labels=3))}
    if (
        inputs.get("labels") is not None and inputs["labels"].dim() == 2
    ):  # no label on padding, as collators do
        inputs["labels"] = inputs["labels"].masked_fill(inputs["attention_mask"] == 0, -100)
    order = [[0, 2], [1]]  # reading order of the sequences: 0, 2, 1
    packed_inputs = packed(inputs, order)
    sequence_labels = {"next_sentence_label", "labels"} if auto_class == "AutoModelForSequenceClassification" else {"next_sentence_label"}  # fmt: skip
    for key in sequence_labels & inputs.keys():
        packed_inputs[key] = inputs[key][[0, 2, 1]]
    runs = []
    for batch in (inputs, packed_inputs):
        torch.manual_seed(0)
        model = getattr(transformers, auto_class).from_config(tiny_config(num_labels=3)).train()
        output = model(**batch)
        output.loss.backward()
        runs.append((output, {name: param.grad for name, param in model.named_parameters()}))
    (padded, padded_grads), (packed_out, packed_grads) = runs
    torch.testing.assert_close(packed_out.loss, padded.loss)
    for name, grad in padded_grads.items():
        torch.testing.assert_close(packed_grads[name], grad, msg=name)
    logits = logits_of(packed_out)
    lengths = inputs["attention_mask"].sum(-1).tolist()
    if auto_class == "AutoModelForSequenceClassification":
        torch.testing.assert_close(logits, logits_of(padded)[[0, 2, 1]])
        return
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(logits[0, : lengths[0]], logits_of(padded)[0, : lengths[0]])
    torch.testing.assert_close(
        logits[0, lengths[0] : lengths[0] + lengths[2]], logits_of(padded)[2, : lengths[2]]
    )
    torch.testing.assert_close(logits[1, : lengths[1]], logits_of(padded)[1, : lengths[1]])
    if auto_class == "AutoModelForPreTraining":
        torch.testing.assert_close(
            packed_out.seq_relationship_logits, padded.seq_relationship_logits[[0, 2, 1]]
        )


def test_mlm_decoder_is_tied_to_the_input_embeddings():
    model = transformers.AutoModelForPreTraining.from_config(tiny_config())
    assert model.mlm_head.decoder.weight is model.bert.embeddings.word_embeddings.weight
    untied = transformers.AutoModelForPreTraining.from_config(tiny_config(tie_word_embeddings=False))
    assert untied.mlm_head.decoder.weight is not untied.bert.embeddings.word_embeddings.weight


def test_save_reload_and_remote_code_give_identical_logits(tmp_path):
    torch.manual_seed(0)
    model = transformers.AutoModelForPreTraining.from_config(tiny_config(num_labels=3))
    inputs = encoder_inputs()
    directory = assert_save_reload_identical(model, "AutoModelForPreTraining", inputs, tmp_path)
    for name in ("modeling_bert.py", "configuration_bert.py", "model.safetensors"):
        assert (directory / name).is_file(), name

    # Every head loads the pretraining checkpoint (heads it lacks are freshly initialised): compute the
    # reference logits with hf_recipes, then compare against remote code in a process without it.
    expected = {}
    for auto_class in HEADS:
        torch.manual_seed(0)
        head = getattr(transformers, auto_class).from_pretrained(directory).eval()
        head.save_pretrained(directory / auto_class)
        with torch.no_grad():
            expected[auto_class] = logits_of(head(**inputs))
    assert_remote_code_identical({c: directory / c for c in HEADS}, inputs, expected)


def test_pad_tokens_do_not_change_real_token_states():
    torch.manual_seed(0)
    model = transformers.AutoModel.from_config(tiny_config()).eval()
    inputs = encoder_inputs()
    with torch.no_grad():
        padded = model(**inputs).last_hidden_state
        for row in range(BATCH):
            length = int(inputs["attention_mask"][row].sum())
            alone = model(**{k: v[row : row + 1, :length] for k, v in inputs.items()}).last_hidden_state
            torch.testing.assert_close(padded[row : row + 1, :length], alone, rtol=0, atol=1e-5)
            # and whatever the pad ids are
            noisy = {k: v[row : row + 1].clone() for k, v in inputs.items()}
            noisy["input_ids"][0, length:] = 7
            torch.testing.assert_close(model(**noisy).last_hidden_state[:, :length], alone, rtol=0, atol=1e-5)


def test_eager_and_sdpa_agree_and_eager_returns_attention_probabilities():
    torch.manual_seed(0)
    sdpa = transformers.AutoModel.from_config(tiny_config()).eval()
    eager = transformers.AutoModel.from_config(tiny_config(), attn_implementation="eager").eval()
    eager.load_state_dict(sdpa.state_dict())
    inputs = encoder_inputs()
    with torch.no_grad():
        out = eager(**inputs, output_attentions=True, output_hidden_states=True)
        torch.testing.assert_close(out.last_hidden_state, sdpa(**inputs).last_hidden_state, rtol=0, atol=1e-5)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (BATCH, 4, SEQ, SEQ)
    assert len(out.hidden_states) == 3
    probs = out.attentions[0]
    torch.testing.assert_close(probs.sum(-1), torch.ones(BATCH, 4, SEQ))
    assert probs[1, :, :, -3:].abs().max() == 0  # no attention on pads


# --- parity with transformers' own BERT --------------------------------------------------------------

# transformers BertForPreTraining parameter name -> ours (the decoder weight is tied, the decoder bias is
# transformers' separate `cls.predictions.bias`).
BERT_RENAMES = [
    (r"^bert\.embeddings\.LayerNorm\.", "bert.embeddings.layer_norm."),
    (r"^bert\.encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.", r"bert.layers.\1.attention.\2."),
    (r"^bert\.encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"bert.layers.\1.attention.output."),
    (
        r"^bert\.encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.",
        r"bert.layers.\1.attention_layer_norm.",
    ),
    (r"^bert\.encoder\.layer\.(\d+)\.intermediate\.dense\.", r"bert.layers.\1.intermediate."),
    (r"^bert\.encoder\.layer\.(\d+)\.output\.dense\.", r"bert.layers.\1.output."),
    (r"^bert\.encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"bert.layers.\1.output_layer_norm."),
    (r"^cls\.predictions\.transform\.dense\.", "mlm_head.dense."),
    (r"^cls\.predictions\.transform\.LayerNorm\.", "mlm_head.layer_norm."),
    (r"^cls\.predictions\.bias$", "mlm_head.decoder.bias"),
    (r"^cls\.seq_relationship\.", "nsp_head."),
]


def mapped_state(reference, renames, skip) -> dict:
    """The reference model's weights under our names: `skip(name)` drops tied weights and buffers."""
    state = {}
    for name, tensor in reference.state_dict().items():
        if skip(name) or name.endswith(("position_ids", "token_type_ids")):  # non-persistent buffers
            continue
        for pattern, replacement in renames:
            name = re.sub(pattern, replacement, name)
        state[name] = tensor
    return state


def test_logits_match_transformers_bert_for_pretraining():
    torch.manual_seed(0)
    reference_config = transformers.BertConfig(**TINY_SHAPE, hidden_act="gelu")
    reference = transformers.BertForPreTraining(reference_config).eval()
    ours = transformers.AutoModelForPreTraining.from_config(tiny_config()).eval()

    # the decoder weight is tied to the embeddings, its bias is `cls.predictions.bias`
    state = mapped_state(
        reference, BERT_RENAMES, skip=lambda name: name.startswith("cls.predictions.decoder.")
    )
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) == {"mlm_head.decoder.weight"}  # tied, filled from the embeddings

    inputs = encoder_inputs()
    with torch.no_grad():
        expected, got = reference(**inputs), ours(**inputs)
    torch.testing.assert_close(got.prediction_logits, expected.prediction_logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(
        got.seq_relationship_logits, expected.seq_relationship_logits, rtol=0, atol=1e-5
    )


# transformers RobertaPreLayerNormForMaskedLM parameter name -> ours with `layer_norm_position="pre"`: the
# LayerNorms sit elsewhere (before the sub-layers, one after the last layer), the rest is named as in BERT.
PRE_LN_RENAMES = [
    (r"^roberta_prelayernorm\.", "bert."),
    (r"^bert\.encoder\.layer\.(\d+)\.attention\.LayerNorm\.", r"bert.layers.\1.attention_layer_norm."),
    (r"^bert\.encoder\.layer\.(\d+)\.intermediate\.LayerNorm\.", r"bert.layers.\1.output_layer_norm."),
    (r"^bert\.LayerNorm\.", "bert.final_layer_norm."),
    (r"^lm_head\.", "mlm_head."),
    *BERT_RENAMES,
]


def test_pre_ln_matches_transformers_roberta_prelayernorm():
    """`layer_norm_position="pre"` is the pre-LN encoder of transformers' RoBERTa-PreLayerNorm, final LayerNorm
    included: the same weights give the same masked-LM logits (positions passed explicitly: RoBERTa counts
    them from the pad id)."""
    torch.manual_seed(0)
    reference_config = transformers.RobertaPreLayerNormConfig(
        **TINY_SHAPE, type_vocab_size=2, pad_token_id=0, layer_norm_eps=1e-12
    )
    reference = transformers.RobertaPreLayerNormForMaskedLM(reference_config).eval()
    # weights larger than the init's 0.02, LayerNorms off (1, 0): every sub-layer matters
    with torch.no_grad():
        for param in reference.parameters():
            param.normal_(0.0, 0.3)
    ours = transformers.AutoModelForMaskedLM.from_config(tiny_config(layer_norm_position="pre")).eval()
    # the decoder's own bias is the one used (`lm_head.bias` is the same tensor); its weight is tied
    state = mapped_state(
        reference, PRE_LN_RENAMES, skip=lambda name: name in ("lm_head.bias", "lm_head.decoder.weight")
    )
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) == {"mlm_head.decoder.weight"}

    inputs = encoder_inputs()
    positions = torch.arange(SEQ).expand(BATCH, -1)
    with torch.no_grad():
        expected = reference(**inputs, position_ids=positions).logits
        got = ours(**inputs).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    # and it is not the post-LN model
    post_ln = transformers.AutoModelForMaskedLM.from_config(tiny_config()).eval()
    post_ln.load_state_dict({k: v for k, v in state.items() if "final_layer_norm" not in k}, strict=False)
    with torch.no_grad():
        assert not torch.allclose(post_ln(**inputs).logits, expected, atol=0.1)
