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


def test_version() -> None:
    result = run("--version")
    assert (result.returncode, result.stdout) == (0, f"resdsl {resdsl.__version__}\n")


@pytest.mark.parametrize(("args", "message"), [
    (["stats", "resnet50", "--input", "3x224"],
     "--input 3x224: resnet50's input has 3 sizes (its own is 3x224x224), and 3x224 has 2"),
    (["check", "resnet50", "--input", "64"], "--input 64: resnet50's input has 3 sizes"),
    (["stats", "resnet50", "--set", "width=five"], "--set width=five: network 'resnet50' has no parameter 'width'"),
    (["render", "resnet50", "-o", "x.dot", "--set", "classes=five"],
     "--set classes=five: classes='five' is not a value a spec can take"),
    (["compile", "resnet50", "--set", "classes=pad"],
     "--set classes=pad: parameter 'classes' takes a number (its default is 1000), not pad"),
    (["compare", "resnet18", "cifar_resnet20", "--set", "classes=true"],
     "--set classes=true: parameter 'classes' takes a number (its default is 1000), not true"),
])
def test_a_flag_the_network_cannot_take_is_a_usage_error_naming_it(args: list[str], message: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The flag is at fault, not a line of the spec: no location in the spec, exit 2."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"resdsl {args[0]}: error: {message}")
    assert ".res:" not in err


@pytest.mark.parametrize(("args", "note"), [
    (["stats", "vgg19", "--input", "3x8x8"],
     "note: this comes from --input 3x8x8: the spec builds at its own input, 3x224x224"),
    (["check", "resnet50", "--set", "classes=1.5"],
     "note: this comes from --set classes=1.5: the spec builds with its own defaults"),
    (["render", "vgg19", "-o", "never.svg", "--input", "3x8x8", "--set", "classes=1.5"],
     "note: this comes from --input 3x8x8 --set classes=1.5: the spec builds at its own input, 3x224x224, "
     "and with its own defaults"),
])
def test_a_fault_only_the_flags_bring_out_is_the_specs_with_a_note(args: list[str], note: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A value of the right kind that a layer cannot take: reported where the spec uses it, naming the flags."""
    assert main(args) == 1
    err = capsys.readouterr().err.splitlines()
    assert re.match(r"examples/(vgg19|resnet50)\.res:\d+:\d+: error: ", err[0])
    assert err[-1] == note
    assert not (ROOT / "never.svg").exists()


def test_a_fault_of_the_spec_itself_gets_no_note(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "tests/bad/unknown_layer.res", "--input", "3x64x64"]) == 1
    assert "note: this comes from" not in capsys.readouterr().err


def test_input_on_every_command(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    small = ["--input", "3x64x64"]
    assert main(["check", "resnet18", *small]) == 0
    assert "resnet18: resnet18 ok: 3x64x64 → 1000" in capsys.readouterr().out
    assert main(["stats", "resnet18", "--json", *small]) == 0
    assert json.loads(capsys.readouterr().out)["input_shape"] == [3, 64, 64]
    assert main(["compare", "resnet18", "resnet34", "--json", *small]) == 0  # every spec at that input
    assert [s["input_shape"] for s in json.loads(capsys.readouterr().out)] == [[3, 64, 64]] * 2
    assert main(["render", "resnet18", "-o", str(tmp_path / "net.dot"), *small]) == 0
    dot = (tmp_path / "net.dot").read_text()
    assert "64×32×32" in dot and "64×112×112" not in dot
    assert main(["compile", "d2l_resnet18", "-o", str(tmp_path / "net.py"), "--input", "1x32x32"]) == 0
    assert "1x32x32" in (tmp_path / "net.py").read_text()
    assert main(["compile", "resnet18", *small]) == 0


def test_every_option_of_every_command_is_documented() -> None:
    """`resdsl COMMAND --help` explains each option and argument."""
    import argparse

    from resdsl.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"check", "stats", "compare", "render", "compile", "list"} <= set(commands.choices)
    for name, command in commands.choices.items():
        for action in command._actions:
            assert action.help, f"resdsl {name}: {action.option_strings or action.dest} has no help"
    assert all(action.help for action in parser._actions if action.option_strings)
    text = run("compare", "--help").stdout
    for option in ("--batch", "--exact", "--json", "--input", "--set", "--max-nodes"):
        assert re.search(rf"^  {option}\b.*\n?.*\w", text, re.M), option


NO_TORCH = "import sys; sys.modules['torch'] = None; from resdsl.cli import main; sys.exit(main(sys.argv[1:]))"


def test_compile_without_torch_says_what_to_install(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-c", NO_TORCH, "compile", "resnet18"], cwd=ROOT, capture_output=True,
                            text=True)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("resdsl compile: error: compiling a network needs PyTorch, which is not installed: "
                             "pip install 'resdsl[torch]'\n")
    source = subprocess.run([sys.executable, "-c", NO_TORCH, "compile", "resnet18", "-o", str(tmp_path / "r.py")],
                            cwd=ROOT, capture_output=True, text=True)  # writing source needs no torch
    assert source.returncode == 0, source.stderr


def test_the_api_raises_the_same_message_as_an_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from resdsl.backends.torch_module import TORCH_MISSING

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError) as info:
        resdsl.compile("resnet18")
    assert str(info.value) == TORCH_MISSING
    assert "pip install 'resdsl[torch]'" in TORCH_MISSING


def test_the_readme_shows_the_note_as_printed(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split("$ resdsl stats vgg19 --input 3x8x8\n", 1)[1].split("```", 1)[0]
    assert main(["stats", "vgg19", "--input", "3x8x8"]) == 1
    assert capsys.readouterr().err == shown
