"""The command line: exit codes, usage errors, overrides, and no tracebacks without --debug."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import resdsl
from conftest import ROOT
from resdsl.cli import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "resdsl", *args], cwd=ROOT, capture_output=True, text=True)


def test_check_many_files_reports_each() -> None:
    result = run("check", "examples/resnet18.res", "tests/bad/unknown_layer.res", "examples/resnet50.res")
    assert result.returncode == 1
    assert result.stdout.count(" ok: ") == 2
    assert "tests/bad/unknown_layer.res:3:12: error: unknown layer or block 'batchnorm'" in result.stderr


def test_usage_errors_exit_2() -> None:
    assert run("check").returncode == 2
    assert run("stats", "no/such/file.res").returncode == 2
    assert run("stats", "examples/resnet18.res", "--input", "3xbig").returncode == 2
    assert run("compare", "examples/resnet18.res").returncode == 2


def test_set_overrides_and_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "examples/resnet18.res", "--set", "classes=10"]) == 0
    assert "→ 10," in capsys.readouterr().out
    assert main(["stats", "examples/resnet18.res", "--input", "3x64x64", "--json"]) == 0
    assert '"output_shape": [\n    1000\n  ]' in capsys.readouterr().out
    assert main(["check", "examples/resnet18.res", "--set", "clases=10"]) == 2  # a usage error
    assert "did you mean 'classes'?" in capsys.readouterr().err


def test_debug_shows_traceback_otherwise_not() -> None:
    quiet = run("check", "tests/bad/unknown_layer.res")
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    loud = run("--debug", "check", "tests/bad/unknown_layer.res")
    assert loud.returncode == 1 and "Traceback" in loud.stderr


def test_stats_help_states_conventions() -> None:
    text = run("stats", "--help").stdout
    assert "fvcore" in text and "2 x MACs" in text and "running_mean" in text


def test_by_block_and_layer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "examples/resnet18.res", "--by", "block"]) == 0
    assert "layer2.0" in capsys.readouterr().out
    assert main(["stats", "examples/resnet18.res", "--by", "layer"]) == 0
    assert "layer2.0.downsample.0" in capsys.readouterr().out


def deep_spec(tmp_path, units: int) -> str:
    path = tmp_path / f"deep{units}.res"
    path.write_text("block unit { residual { conv(4) } }\nnetwork deep { input 4x4x4\n"
                    f"  stage body: unit * {units}\n  stage head {{ avgpool(global) flatten linear(10) }}\n}}\n")
    return str(path)


def test_path_counts_past_a_float_and_past_4300_digits(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """2**n paths for n residual units: readable in tables, every digit in JSON, never a traceback."""
    deep = deep_spec(tmp_path, 1100)
    assert main(["stats", deep]) == 0
    assert "1100; 1.36e+331 input→output paths, 1 to 1101 weighted layers long" in capsys.readouterr().out
    assert main(["compare", deep, "examples/resnet18.res", "--exact"]) == 0
    assert re.search(r"paths +1\.36e\+331 +256 +1\.88e-329x", capsys.readouterr().out)
    deeper = deep_spec(tmp_path, 14_500)  # 2**14500 has 4,365 digits
    limit = sys.get_int_max_str_digits()
    assert main(["stats", deeper, "--json"]) == 0
    assert sys.get_int_max_str_digits() == limit  # lifted only while printing
    text = capsys.readouterr().out
    sys.set_int_max_str_digits(0)
    try:
        assert json.loads(text)["paths"] == 2**14_500
    finally:
        sys.set_int_max_str_digits(limit)


def test_check_a_library_of_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "resdsl/stdlib/std.res"]) == 0
    assert "std.res: library ok: 10 blocks (basic, bottleneck, conv_shortcut," in capsys.readouterr().out
    assert resdsl.check(ROOT / "resdsl/stdlib/std.res")[:2] == ("basic", "bottleneck")
    assert isinstance(resdsl.check(ROOT / "examples/resnet18.res"), resdsl.Network)
