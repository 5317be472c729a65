"""Shared fixtures. The real public datasets live beside the checkout in ../shared/data (see its README);
tests that read them skip with a reason when the folder is absent. HF_RECIPES_SHARED_DATA overrides it."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HF_RECIPES_SHARED_DATA", REPO.parent / "shared" / "data"))

# Nothing may reach the Hub from the test machines: fail fast instead of retrying for ~20 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the offline datasets (tinyshakespeare/, wikitext-2/, glue/, ...)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"offline datasets not found at {SHARED_DATA} (set HF_RECIPES_SHARED_DATA)")
    return SHARED_DATA


def pytest_terminal_summary(terminalreporter):
    """The releases this run tested (`make test` installs the locked ones, `make test-latest` the newest in
    range), printed last, also under -q."""
    from hf_recipes.environment import versions

    found = ", ".join(f"{name} {version}" for name, version in versions().items())
    terminalreporter.write_line(f"versions: {found}")
