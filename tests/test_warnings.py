"""Warnings: legal specs that likely say something not meant. Each gets its golden diagnostics
(tests/warn/*.err), exit code 0 and the summary line; under --werror the same diagnostics are errors,
exit code 1, and nothing is written. No bundled spec warns."""

from __future__ import annotations

from pathlib import Path

import pytest

import resdsl
from conftest import EXAMPLES, OP_SPECS, ROOT
from resdsl.cli import main

WARN = sorted((ROOT / "tests" / "warn").glob("*.res"))
#: Specs of tests/specs that warn on purpose, with what they warn about.
MEANT_TO_WARN = {"avgdown_everywhere": ["shortcut: avgdown projects s.1"]}


@pytest.mark.parametrize("spec", WARN, ids=[p.stem for p in WARN])
def test_warning_diagnostics(spec: Path, capsys: pytest.CaptureFixture[str], golden) -> None:
    relative = spec.relative_to(ROOT)
    assert main(["check", str(relative)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{relative}: ") and " ok: " in captured.out
    assert "Traceback" not in captured.err and "error:" not in captured.err
    golden(spec.with_suffix(".err"), captured.err)
    count = captured.err.count(": warning: ")
    assert count == len(resdsl.load(spec).warnings) >= 1
    assert captured.err.count("\nhint: ") + captured.err.startswith("hint: ") == count
    assert all(line.startswith(f"{relative}:") for line in captured.err.splitlines() if ": warning: " in line)

    assert main(["check", "--werror", str(relative)]) == 1
    denied = capsys.readouterr()
    assert denied.out == ""
    expected = captured.err.replace(": warning: ", ": error: ")
    assert denied.err == expected + (f"{count} errors\n" if count > 1 else "")


def test_every_warning_has_a_golden_spec() -> None:
    """One spec per kind of warning at least: projections, unused values, skipped pixels."""
    text = "".join(spec.with_suffix(".err").read_text() for spec in WARN)
    for words in ("projects", "whose shape does not change", "is never used", "stride is larger than its kernel",
                  "(in 3 instances)"):
        assert words in text, words


@pytest.mark.parametrize("spec", [*EXAMPLES, *OP_SPECS], ids=[p.stem for p in [*EXAMPLES, *OP_SPECS]])
def test_bundled_specs_do_not_warn(spec: Path) -> None:
    messages = [warning.message for warning in resdsl.load(spec).warnings]
    meant = MEANT_TO_WARN.get(spec.stem, [])
    assert len(messages) == len(meant) and all(m.startswith(w) for m, w in zip(messages, meant)), messages


def test_werror_in_the_python_api() -> None:
    spec = ROOT / "tests" / "warn" / "unused_value.res"
    network = resdsl.load(spec)
    assert [(w.span.line, w.span.column) for w in network.warnings] == [(5, 24), (11, 14), (13, 14)]
    with pytest.raises(resdsl.ResdslError) as raised:
        resdsl.load(spec, werror=True)
    assert [e.message for e in raised.value.errors] == [w.message for w in network.warnings]
    assert raised.value.sources is not None and str(spec) in raised.value.sources
    assert not resdsl.load(ROOT / "examples" / "resnet50.res", werror=True).warnings


@pytest.mark.parametrize("command", [["render", "-o", "{out}.dot"], ["compile", "-o", "{out}.py"]])
def test_werror_writes_nothing(command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = "tests/warn/stride_larger_than_kernel.res"
    args = [part.format(out=tmp_path / "net") for part in command]
    assert main([args[0], spec, "--werror", *args[1:]]) == 1
    assert not list(tmp_path.iterdir())
    assert ": error: conv's stride is larger than its kernel" in capsys.readouterr().err
    assert main([args[0], spec, *args[1:]]) == 0
    assert len(list(tmp_path.iterdir())) == 1
    assert ": warning: conv's stride" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["stats"], ["compare", "tests/warn/unused_value.res"]])
def test_werror_on_every_command_that_loads_a_spec(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    spec = "tests/warn/unused_value.res"
    assert main([command[0], spec, *command[1:], "--werror"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "error: value 'branch' is never used (in 3 instances)" in captured.err
    assert main([command[0], spec, *command[1:]]) == 0
    assert "warning: value 'branch'" in capsys.readouterr().err


def test_warnings_change_with_the_spec() -> None:
    """Not a fixed list: the same unit warns or not as its shape stays or changes."""
    spec = "network n {{ input 16x8x8  residual(shortcut: project) {{ conv({c}) bn }} }}"
    assert len(resdsl.load(spec.format(c=16)).warnings) == 1
    assert not resdsl.load(spec.format(c=32)).warnings
    used = "network n { input 3x8x8  conv(4) as a  conv(4)  add(a) }"
    assert not resdsl.load(used).warnings
    assert [w.message for w in resdsl.load(used.replace("add(a)", "relu")).warnings] == ["value 'a' is never used"]
