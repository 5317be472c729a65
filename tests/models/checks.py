"""Checks every model family must pass, written once and called from each family's test module."""

import copy
import json
from pathlib import Path

import torch
import transformers

from tests.helpers import run_without_hf_recipes


def logits_of(output) -> torch.Tensor:
    """The main prediction tensor of any head's output (logits, prediction_logits or start_logits)."""
    for name in ("logits", "prediction_logits", "start_logits", "last_hidden_state"):
        value = getattr(output, name, None)
        if value is not None:
            return value
    raise AssertionError(f"no logits in {type(output).__name__}")


# Parameters whose true gradient is zero: softmax(q·k + q·b) = softmax(q·k) for a key bias b (the same shift
# for every key), so it only receives rounding noise. Kept for weight compatibility with published BERT.
ZERO_GRADIENT_BY_DESIGN = (".attention.key.bias",)


def assert_every_parameter_gets_a_gradient(
    model: torch.nn.Module, inputs: dict, zero_by_design: tuple = ()
) -> None:
    """A loss from `inputs` (with labels) reaches every parameter with a gradient well above rounding noise,
    except those whose names end with one of ZERO_GRADIENT_BY_DESIGN + `zero_by_design`, which must get none."""
    # float64 puts rounding noise ~1e-16 below the gradients instead of ~1e-8 (float32), so a parameter that
    # only gets noise cannot pass for one that learns. A copy, so the caller's model stays as it was.
    model = copy.deepcopy(model).double().train()
    model.zero_grad()
    output = model(**{k: v.double() if v.is_floating_point() else v for k, v in inputs.items()})
    assert output.loss is not None and output.loss.ndim == 0 and torch.isfinite(output.loss)
    output.loss.backward()
    assert_gradients_reach_every_parameter(model, zero_by_design)


# Relative to the largest gradient of the model, the smallest real gradients (query/key weights of a freshly
# initialised model, whose attention is nearly uniform) are ~1e-6; rounding noise on a zero gradient is
# ~1e-8 in float32 and ~1e-16 in float64, where the checks run. The threshold sits between them.
NOISE = 1e-11


def assert_gradients_reach_every_parameter(model: torch.nn.Module, zero_by_design: tuple = ()) -> None:
    missing, noise_only = [], []
    scale = max(p.grad.abs().max().item() for p in model.parameters() if p.grad is not None)
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        size = 0.0 if parameter.grad is None else parameter.grad.abs().max().item() / scale
        exempt = name.endswith(ZERO_GRADIENT_BY_DESIGN + tuple(zero_by_design))
        (noise_only if exempt else missing).append((name, size))
    assert all(size < NOISE for _, size in noise_only), f"expected no real gradient: {noise_only}"
    starved = [name for name, size in missing if size < NOISE]
    assert not starved, f"{type(model).__name__}: no gradient reaches {starved}"


def projected_sum(tensor: torch.Tensor) -> torch.Tensor:
    """A scalar that depends on every element of `tensor` in a non-degenerate way. (A plain .sum() of a
    LayerNorm output has zero gradient: the normalised values always sum to zero.)"""
    weights = torch.randn(tensor.shape, generator=torch.Generator().manual_seed(0))
    return (tensor * weights).sum()


def assert_save_reload_identical(model, auto_class: str, inputs: dict, tmp_path: Path) -> Path:
    """save_pretrained → AutoModelFor*.from_pretrained gives the same logits; tied weights stay tied."""
    model.eval()
    directory = tmp_path / type(model).__name__
    model.save_pretrained(directory)
    reloaded = getattr(transformers, auto_class).from_pretrained(directory).eval()
    assert type(reloaded) is type(model)
    with torch.no_grad():
        torch.testing.assert_close(logits_of(reloaded(**inputs)), logits_of(model(**inputs)), rtol=0, atol=0)
    for target, source in (getattr(model, "_tied_weights_keys", None) or {}).items():
        if model.config.tie_word_embeddings:
            assert reloaded.get_parameter(target) is reloaded.get_parameter(source), (
                f"{target} untied on reload"
            )
    return directory


def assert_remote_code_identical(checkpoints: dict[str, Path], inputs: dict, expected: dict) -> None:
    """In one process where hf_recipes cannot be imported, load `checkpoints[auto_class]` through each Auto
    class from its own saved code (trust_remote_code) and reproduce `expected[auto_class]` logits."""
    for auto_class, directory in checkpoints.items():
        auto_map = json.loads((directory / "config.json").read_text())["auto_map"]
        assert {auto_class, "AutoConfig"} <= set(auto_map), f"auto_map lacks {auto_class}: {auto_map}"
    work = next(iter(checkpoints.values())).parent
    torch.save(inputs, work / "inputs.pt")
    result = run_without_hf_recipes(
        f"""
        import json, torch, transformers
        inputs = torch.load({str(work / "inputs.pt")!r})
        out = {{}}
        for auto_class, directory in { ({k: str(v) for k, v in checkpoints.items()})!r}.items():
            model = getattr(transformers, auto_class).from_pretrained(directory, trust_remote_code=True).eval()
            assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
            with torch.no_grad():
                output = model(**inputs)
            for name in ("logits", "prediction_logits", "start_logits", "last_hidden_state"):
                if getattr(output, name, None) is not None:
                    out[auto_class] = getattr(output, name).tolist()
                    break
        print(json.dumps(out))
        """,
        cwd=work,
    )
    for auto_class in checkpoints:
        torch.testing.assert_close(torch.tensor(result[auto_class]), expected[auto_class], rtol=0, atol=1e-6)


# min_new_tokens = max_new_tokens: no sequence ends early, so every score sums the same number of tokens.
FIXED_LENGTH = dict(max_new_tokens=6, min_new_tokens=6, return_dict_in_generate=True, output_scores=True)
GENERATION_MODES = {
    "greedy": dict(do_sample=False),
    "beam": dict(do_sample=False, num_beams=4, length_penalty=0.0),  # sequence score = Σ log p
    "sample": dict(do_sample=True, top_k=0),
}


def generate_with_and_without_cache(model, inputs: dict) -> dict:
    """Greedy, beam search and sampling (same seed) give the same sequences (and beam scores) with and without
    the cache; returns the cached run of each mode."""
    model.eval()
    outputs = {}
    for mode, options in GENERATION_MODES.items():
        runs = []
        for use_cache in (True, False):
            torch.manual_seed(0)
            runs.append(model.generate(**inputs, **FIXED_LENGTH, **options, use_cache=use_cache))
        cached, uncached = runs
        assert torch.equal(cached.sequences, uncached.sequences), mode
        if mode == "beam":
            torch.testing.assert_close(cached.sequences_scores, uncached.sequences_scores)
        outputs[mode] = cached
    return outputs
