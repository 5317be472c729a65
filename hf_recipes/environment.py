"""What a run ran on: the versions of the libraries that decide its numbers, and the hardware.

Every training run writes this next to its results (environment.json), the transfer report carries it, and the
test suite prints it in its header, so a number can always be traced to the releases that produced it.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

# The distributions whose releases change results or break APIs (pyproject.toml bounds each of them).
PACKAGES = (
    "hf-recipes",
    "torch",
    "transformers",
    "datasets",
    "tokenizers",
    "accelerate",
    "huggingface_hub",
    "safetensors",
    "numpy",
)


def versions() -> dict[str, str | None]:
    """Installed version of each of PACKAGES (None where one is missing), and Python's."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), for the hardware stamp of measured numbers."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict[str, Any]:
    """What the timings were measured on."""
    import torch

    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": [round(value, 2) for value in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def report_hardware() -> dict[str, Any]:
    """hardware() with the versions of torch, transformers and Python: what a comparison report states its
    timings were measured on (transfer.json, compare.json)."""
    found = versions()
    return {**hardware(), **{key: found[key] for key in ("torch", "transformers", "python")}}


def environment(argv: list[str] | None = None) -> dict[str, Any]:
    """versions() + hardware() + the command line (with any secret in it redacted)."""
    from .secrets import redact_argv

    return {
        "command": redact_argv(sys.argv if argv is None else argv),
        "versions": versions(),
        "hardware": hardware(),
        "platform": platform.platform(),
    }


__all__ = ["PACKAGES", "cpu_name", "environment", "hardware", "versions"]
