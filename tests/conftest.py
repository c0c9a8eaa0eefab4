from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# One intra-op thread: the torch tests are many small forward and backward passes, which more threads
# only slow down by contending for the cores (on a loaded 2-core machine, 29 minutes against under 6).
# Set before any test module imports torch, which reads it then; subprocesses inherit it. An explicit
# OMP_NUM_THREADS in the environment wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.res"))
#: Specs that exercise ops the examples do not use, checked as the examples are (tests/test_compile.py).
OP_SPECS = sorted((ROOT / "tests" / "specs").glob("*.res"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen", action="store_true", help="rewrite golden files from the current output")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Where torch was imported before this file set OMP_NUM_THREADS (a plugin), set its threads now."""
    torch, threads = sys.modules.get("torch"), os.environ["OMP_NUM_THREADS"]
    if torch is not None and threads.isdigit() and int(threads) > 0:
        torch.set_num_threads(int(threads))


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """Compare text with a golden file; ``pytest --regen`` rewrites the file instead."""

    def check(path: Path, actual: str) -> None:
        if request.config.getoption("--regen"):
            path.write_text(actual, encoding="utf-8")
            return
        assert path.exists(), f"no golden file {path}: run pytest --regen and review the diff"
        assert actual == path.read_text(encoding="utf-8"), f"{path} differs: run pytest --regen and review the diff"

    return check


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
