"""Checks every model family must pass, written once and called from each family's test module."""

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


def assert_every_parameter_gets_a_gradient(model: torch.nn.Module, inputs: dict) -> None:
    model.train()
    model.zero_grad()
    output = model(**inputs)
    assert output.loss is not None and output.loss.ndim == 0 and torch.isfinite(output.loss)
    output.loss.backward()
    missing = [
        n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())
    ]
    assert not missing, f"{type(model).__name__}: no gradient reaches {missing}"


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
