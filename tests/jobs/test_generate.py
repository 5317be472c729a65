"""`hf-recipes generate`: a causal LM samples past its context (sliding window), greedy equals transformers'
own generate, seeds make samples reproducible; a seq2seq model translates with its saved generation config."""

import pytest
import torch
import transformers

import hf_recipes  # noqa: F401  (registers our model families with the AutoClasses)
from hf_recipes.checkpoints import build_model_config
from hf_recipes.cli import main as cli
from hf_recipes.data.tokenization import append_eos, train_tokenizer
from hf_recipes.errors import UserError
from hf_recipes.jobs import generate
from hf_recipes.models import REGISTRY
from hf_recipes.models.gpt import HfrGPTConfig

TEXT = ["the cat sat on the mat and the dog sat on the log"] * 4 + [
    "a man rides a bike",
    "ein mann fährt rad",
]
CONTEXT = 16


@pytest.fixture(scope="module")
def char_gpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("char_gpt")
    tokenizer = train_tokenizer(TEXT, "char")
    torch.manual_seed(0)
    config = HfrGPTConfig(vocab_size=len(tokenizer), n_positions=CONTEXT, n_embd=32, n_layer=2, n_head=2)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_transformer(tmp_path_factory):
    out = tmp_path_factory.mktemp("seq2seq")
    tokenizer = append_eos(train_tokenizer(TEXT, "bpe", 300, min_frequency=1))
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    config = build_model_config(
        REGISTRY["hfr_transformer"], "tiny", {}, tokenizer, decoder_start_token_id=start
    )
    torch.manual_seed(0)
    model = transformers.AutoModelForSeq2SeqLM.from_config(config)
    model.generation_config.update(num_beams=3, max_length=12)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_greedy_within_the_context_is_transformers_generate(char_gpt):
    (text,) = generate.run(str(char_gpt), "the c", max_new_tokens=8, greedy=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(char_gpt).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(char_gpt)
    ids = tokenizer("the c", add_special_tokens=False, return_tensors="pt")["input_ids"]
    expected = model.generate(ids, max_new_tokens=8, do_sample=False, eos_token_id=None)
    assert text == tokenizer.decode(expected[0], skip_special_tokens=True)


def test_sampling_slides_past_the_context_and_seeds_reproduce(char_gpt):
    """60 new tokens from a 16-position model: without the sliding window the position embedding would be
    indexed out of range."""
    first = generate.run(str(char_gpt), "the", max_new_tokens=60, num_samples=2, seed=3)
    again = generate.run(str(char_gpt), "the", max_new_tokens=60, num_samples=2, seed=3)
    other = generate.run(str(char_gpt), "the", max_new_tokens=60, num_samples=2, seed=4)
    assert len(first) == 2 and first == again and first != other
    assert first[0] != first[1]  # sample i is seeded with seed + i
    assert all(sample.startswith("the") for sample in first)
    model = transformers.AutoModelForCausalLM.from_pretrained(char_gpt)
    with pytest.raises(ValueError, match="exceed the context"):  # the window is what makes 60 tokens possible
        model.generate(torch.tensor([[5]]), max_new_tokens=60, do_sample=False, eos_token_id=None)


def test_seq2seq_translates_with_its_saved_generation_config(tiny_transformer):
    (text,) = generate.run(str(tiny_transformer), "a man rides a bike")
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(tiny_transformer).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_transformer)
    inputs = tokenizer("a man rides a bike", return_tensors="pt")
    expected = model.generate(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    assert model.generation_config.num_beams == 3
    assert text == tokenizer.decode(expected[0], skip_special_tokens=True)
    (greedy,) = generate.run(str(tiny_transformer), "a man rides a bike", num_beams=1, max_new_tokens=5)
    ids = model.generate(**inputs, num_beams=1, max_new_tokens=5)
    assert greedy == tokenizer.decode(ids[0], skip_special_tokens=True)


def test_cli_prints_the_samples(char_gpt, capsys):
    assert cli(["generate", str(char_gpt), "the", "--max-new-tokens", "20", "--num-samples", "2"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("-" * 80) == 1 and printed.startswith("the")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: generate.run(str(d / "nope")), "is not a directory"),
        (lambda d: generate.run(str(d), "x", num_samples=0), "--num-samples: expected at least 1"),
    ],
)
def test_bad_input_is_one_line(char_gpt, call, message):
    with pytest.raises(UserError) as error:
        call(char_gpt)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_seq2seq_needs_a_source_sentence(tiny_transformer):
    with pytest.raises(UserError, match="needs a source sentence"):
        generate.run(str(tiny_transformer), "")
