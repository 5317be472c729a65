"""`hf-recipes generate MODEL [PROMPT]`: text from a trained causal LM, or translations from a seq2seq model.

    hf-recipes generate outputs/char_gpt_shakespeare "ROMEO:" --max-new-tokens 500 --num-samples 3
    hf-recipes generate outputs/gpt_clm_wikitext "The history of" --greedy
    hf-recipes generate outputs/multi30k "Ein Mann fährt Fahrrad ."

MODEL is one of our output directories or any Hub / transformers checkpoint (`--trust-remote-code` for Hub
code). A causal LM samples (temperature, top-k) by default, `--greedy` or `--num-beams N` decode
deterministically; past the model's context the window slides as nanoGPT's sampler does (each chunk generated
with the KV cache), so a 64-position char-GPT writes pages. A seq2seq model (config.is_encoder_decoder)
decodes the prompt as its source sentence with the generation settings saved beside it (beam size, length
penalty), unless flags say otherwise. The pretraining job's samples.txt comes from `sample_texts` here.
"""

from __future__ import annotations

import argparse

import torch

from ..errors import UserError


def main(args: argparse.Namespace) -> int:
    texts = run(
        args.model,
        args.prompt,
        max_new_tokens=args.max_new_tokens,
        num_samples=args.num_samples,
        temperature=args.temperature,
        top_k=args.top_k,
        greedy=args.greedy,
        num_beams=args.num_beams,
        seed=args.seed,
        trust_remote_code=args.trust_remote_code,
    )
    rule = "\n" + "-" * 80 + "\n"
    print(rule.join(texts))
    return 0


def run(
    model_name: str,
    prompt: str = "",
    *,
    max_new_tokens: int | None = None,
    num_samples: int = 1,
    temperature: float = 1.0,
    top_k: int | None = None,
    greedy: bool = False,
    num_beams: int | None = None,
    seed: int = 0,
    trust_remote_code: bool = False,
) -> list[str]:
    """The generated texts (continuations including the prompt for a causal LM; translations for seq2seq)."""
    for flag, value in (
        ("--num-samples", num_samples),
        ("--max-new-tokens", max_new_tokens),
        ("--num-beams", num_beams),
    ):
        if value is not None and value < 1:
            raise UserError(f"{flag}: expected at least 1, got {value}")
    if top_k is not None and top_k < 1:
        raise UserError(f"--top-k: expected at least 1, got {top_k}")
    if not temperature > 0:
        raise UserError(f"--temperature: expected a positive number, got {temperature}")
    model, tokenizer = load_generator(model_name, trust_remote_code=trust_remote_code)
    if model.config.is_encoder_decoder:
        if not prompt:
            raise UserError("prompt: a seq2seq model needs a source sentence to translate")
        return translate(model, tokenizer, prompt, max_new_tokens=max_new_tokens, num_beams=num_beams)
    deterministic = greedy or (num_beams or 1) > 1
    return sample_texts(
        model,
        tokenizer,
        prompt,
        count=1 if deterministic else num_samples,
        max_new_tokens=max_new_tokens or 200,
        temperature=temperature,
        top_k=top_k,
        do_sample=not deterministic,
        num_beams=num_beams or 1,
        seed=seed,
    )


def load_generator(name: str, *, trust_remote_code: bool = False):
    """The checkpoint's tokenizer and its generative head (AutoModelForSeq2SeqLM for encoder-decoders, else
    AutoModelForCausalLM), on the GPU when there is one, in eval mode."""
    import hf_recipes  # noqa: F401  (our model types, registered with the AutoClasses)

    from ..checkpoints import load_config, load_model, load_tokenizer

    config = load_config(name, trust_remote_code=trust_remote_code)  # a missing or empty folder: one line
    tokenizer = load_tokenizer(name, trust_remote_code=trust_remote_code)
    auto = "AutoModelForSeq2SeqLM" if config.is_encoder_decoder else "AutoModelForCausalLM"
    model = load_model(auto, name, config=config, trust_remote_code=trust_remote_code)
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    return model, tokenizer


@torch.no_grad()
def sample_texts(
    model,
    tokenizer,
    prompt: str,
    *,
    count: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    do_sample: bool = True,
    num_beams: int = 1,
    seed: int = 0,
) -> list[str]:
    """`count` continuations of `prompt` of `max_new_tokens` tokens each (sample i seeded with seed + i), decoded
    with the prompt in front. Past the model's context (max_position_embeddings) the window slides by half a
    context, as nanoGPT's sampler does; a recurrent model has no context limit and generates in one call. The
    end-of-sequence token does not stop a sample: a language model's EOS separates documents."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] or [
        tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    ]
    if ids[0] is None:
        raise UserError("prompt: empty, and the tokenizer has no bos/eos token to start from; give a prompt")
    context = getattr(model.config, "max_position_embeddings", None) or len(ids) + max_new_tokens + 1
    model.eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    settings = dict(do_sample=do_sample, num_beams=num_beams, pad_token_id=pad, eos_token_id=None)
    if do_sample:
        settings.update(temperature=temperature, top_k=top_k)
    texts = []
    for index in range(count):
        torch.manual_seed(seed + index)
        tokens = torch.tensor([ids[-context:]], device=model.device)
        remaining = max_new_tokens
        while remaining > 0:
            window = tokens[:, -(context // 2) :] if tokens.shape[1] >= context else tokens
            step = min(remaining, context - window.shape[1])
            new = model.generate(window, max_new_tokens=step, **settings)
            tokens, remaining = torch.cat([tokens, new[:, window.shape[1] :]], dim=1), remaining - step
        texts.append(tokenizer.decode(tokens[0], skip_special_tokens=True))
    return texts


@torch.no_grad()
def translate(
    model, tokenizer, source: str, *, max_new_tokens: int | None = None, num_beams: int | None = None
) -> list[str]:
    """The seq2seq model's output for `source`, decoded as its saved generation config says (flags on top)."""
    settings = {}
    if max_new_tokens is not None:
        settings["max_new_tokens"] = max_new_tokens
    if num_beams is not None:
        settings["num_beams"] = num_beams
    inputs = tokenizer(source, return_tensors="pt").to(model.device)
    inputs.pop("token_type_ids", None)
    output = model.generate(**inputs, **settings)
    return [tokenizer.decode(output[0], skip_special_tokens=True)]


__all__ = ["load_generator", "run", "sample_texts", "translate"]
