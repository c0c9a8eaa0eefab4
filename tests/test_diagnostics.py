"""The catalog of bad specs: each gets exactly its golden diagnostic, exit code 1, and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from resdsl.cli import main

BAD = sorted((Path(__file__).parent / "bad").glob("*.res"))


@pytest.mark.parametrize("spec", BAD, ids=[p.stem for p in BAD])
def test_bad_spec_diagnostic(spec: Path, capsys: pytest.CaptureFixture[str], golden) -> None:
    relative = spec.relative_to(Path.cwd())
    assert main(["check", str(relative)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert captured.err.startswith(f"{relative.parent}/"), captured.err  # import errors point into the imported file
    golden(spec.with_suffix(".err"), captured.err)


def test_catalog_is_large_enough() -> None:
    assert len(BAD) >= 25


def test_every_diagnostic_has_caret_and_hint() -> None:
    for spec in BAD:
        text = spec.with_suffix(".err").read_text()
        assert "^" in text, spec
        assert "hint:" in text, spec
