from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.res"))
#: Specs that exercise ops the examples do not use, checked as the examples are (tests/test_compile.py).
OP_SPECS = sorted((ROOT / "tests" / "specs").glob("*.res"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen", action="store_true", help="rewrite golden files from the current output")


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
