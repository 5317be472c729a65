"""The pipelines transformers 5 removed (question-answering, translation, text2text-generation), served from
checkpoints through `custom_pipelines` + `trust_remote_code=True`."""

import numpy as np
import pytest
import torch
import transformers

import hf_recipes  # noqa: F401
from hf_recipes.data.tokenization import train_tokenizer
from hf_recipes.models.bert import HfrBertConfig
from hf_recipes.models.rnn import HfrRNNConfig
from hf_recipes.models.transformer import HfrTransformerConfig
from hf_recipes.pipelines import attach_pipelines
from tests.helpers import run_without_hf_recipes

WORDS = "the a river city museum built in year by architect who was born there named after".split()
CORPUS = [" ".join(WORDS[i:] + WORDS[:i]) + " ." for i in range(len(WORDS))] * 3


@pytest.fixture(scope="module")
def qa_checkpoint(tmp_path_factory):
    directory = tmp_path_factory.mktemp("qa")
    tokenizer = train_tokenizer(CORPUS, "wordpiece", 120)
    torch.manual_seed(0)
    config = HfrBertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model = transformers.AutoModelForQuestionAnswering.from_config(config)
    model.save_pretrained(directory)
    tokenizer.model_max_length = 64
    tokenizer.save_pretrained(directory)
    assert attach_pipelines(directory, "AutoModelForQuestionAnswering") == ["question-answering"]
    return directory


def test_transformers_5_removed_the_task_and_the_checkpoint_brings_it_back(qa_checkpoint):
    with pytest.raises(KeyError, match="has been removed"):
        transformers.pipelines.check_task("question-answering")
    qa = transformers.pipeline("question-answering", model=str(qa_checkpoint), trust_remote_code=True)
    assert type(qa).__name__ == "QuestionAnsweringPipeline"
    answer = qa(question="who built the museum ?", context="the museum was built by the architect .")
    assert set(answer) == {"score", "start", "end", "answer"}
    assert answer["answer"] == "the museum was built by the architect ."[answer["start"] : answer["end"]]


def test_postprocessing_finds_the_best_span_in_the_second_window(qa_checkpoint):
    qa = transformers.pipeline("question-answering", model=str(qa_checkpoint), trust_remote_code=True)
    context = "aaa bbb ccc ddd eee"
    offsets = [  # two windows over the context: tokens 1-3 of each are context tokens
        [None, (0, 3), (4, 7), (8, 11), None],
        [None, (8, 11), (12, 15), (16, 19), None],
    ]
    start = torch.full((2, 5), -10.0)
    end = torch.full((2, 5), -10.0)
    start[0, 1], end[0, 1] = 2.0, 2.0  # window 1: "aaa", moderately likely
    start[1, 2], end[1, 3] = 9.0, 9.0  # window 2: "eee ddd"-ish span "ddd eee", very likely
    start[1, 0], end[1, 0] = 50.0, 50.0  # a question token: never an answer however high its logits
    best = qa.postprocess({"start": start, "end": end, "offsets": offsets, "context": context})
    assert best["answer"] == "ddd eee" and (best["start"], best["end"]) == (12, 19)
    assert best["score"] > 0.9
    # max_answer_len = 1 forbids the two-token span
    short = qa.postprocess(
        {"start": start, "end": end, "offsets": offsets, "context": context}, max_answer_len=1
    )
    assert short["answer"] in {"aaa", "ddd", "eee"} and len(short["answer"].split()) == 1


def test_pipeline_agrees_with_a_brute_force_search_over_the_model_windows(qa_checkpoint):
    qa = transformers.pipeline("question-answering", model=str(qa_checkpoint), trust_remote_code=True)
    model, tokenizer = qa.model, qa.tokenizer
    question = "who built the museum ?"
    context = " ".join(CORPUS[:4])  # longer than one 64-token window
    answer = qa(question=question, context=context, max_seq_len=64, doc_stride=16, max_answer_len=5)

    encoded = tokenizer(
        question,
        context,
        truncation="only_second",
        max_length=64,
        stride=16,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="longest",
        return_tensors="pt",
    )
    assert len(encoded["input_ids"]) > 1  # really several windows
    with torch.no_grad():
        output = model(
            input_ids=encoded["input_ids"],
            attention_mask=encoded["attention_mask"],
            token_type_ids=encoded["token_type_ids"],
        )
    best = (-1.0, None)
    for w in range(len(encoded["input_ids"])):
        context_tokens = [i for i, s in enumerate(encoded.sequence_ids(w)) if s == 1]
        p_start = torch.softmax(output.start_logits[w, context_tokens], -1)
        p_end = torch.softmax(output.end_logits[w, context_tokens], -1)
        for a, i in enumerate(context_tokens):
            for b, j in enumerate(context_tokens):
                if i <= j < i + 5 and p_start[a] * p_end[b] > best[0]:
                    span = (
                        encoded["offset_mapping"][w, i, 0].item(),
                        encoded["offset_mapping"][w, j, 1].item(),
                    )
                    best = ((p_start[a] * p_end[b]).item(), span)
    assert answer["score"] == pytest.approx(best[0], rel=1e-5)
    assert (answer["start"], answer["end"]) == best[1]


def seq2seq_config(family: str, tokenizer):
    ids = dict(
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        decoder_start_token_id=tokenizer.cls_token_id,
    )
    if family == "hfr_rnn":
        return HfrRNNConfig(
            vocab_size=len(tokenizer),
            cell="gru",
            embedding_size=16,
            hidden_size=32,
            attention="additive",
            **ids,
        )
    return HfrTransformerConfig(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        **ids,
    )


@pytest.mark.parametrize("family", ["hfr_transformer", "hfr_rnn"])
def test_seq2seq_pipelines_generate_what_the_model_generates(tmp_path, family):
    tokenizer = train_tokenizer(CORPUS, "wordpiece", 120)
    torch.manual_seed(0)
    config = seq2seq_config(family, tokenizer)
    model = transformers.AutoModelForSeq2SeqLM.from_config(config).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert attach_pipelines(tmp_path, "AutoModelForSeq2SeqLM") == ["text2text-generation", "translation"]

    text = "the museum was built in the city ."
    encoded = tokenizer(text, return_tensors="pt")
    ids = model.generate(
        encoded.input_ids, attention_mask=encoded.attention_mask, max_new_tokens=6, num_beams=2
    )
    expected = tokenizer.decode(ids[0], skip_special_tokens=True).strip()
    translate = transformers.pipeline("translation", model=str(tmp_path), trust_remote_code=True)
    assert translate(text, max_new_tokens=6, num_beams=2) == [{"translation_text": expected}]
    generate = transformers.pipeline("text2text-generation", model=str(tmp_path), trust_remote_code=True)
    assert generate([text, text], max_new_tokens=6, num_beams=2) == [{"generated_text": expected}] * 2

    # and where hf_recipes is not installed
    result = run_without_hf_recipes(
        f"""
        import json, transformers
        translate = transformers.pipeline("translation", model={str(tmp_path)!r}, trust_remote_code=True)
        print(json.dumps(translate({text!r}, max_new_tokens=6, num_beams=2)))
        """,
        cwd=tmp_path,
    )
    assert result == [{"translation_text": expected}]


def test_softmax_over_allowed_positions_only():
    from hf_recipes.pipelines.pipeline_question_answering import _softmax_over

    probs = _softmax_over(np.array([5.0, 1.0, 1.0, 9.0]), np.array([False, True, True, False]))
    np.testing.assert_allclose(probs, [0.0, 0.5, 0.5, 0.0])
