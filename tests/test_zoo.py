"""The model zoo: every example by name on every command and in the API, `resdsl list`, and paths first."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import resdsl
from conftest import EXAMPLES, ROOT
from resdsl import zoo
from resdsl.cli import main
from resdsl.errors import UsageError


def test_the_zoo_is_the_examples() -> None:
    assert zoo.folder() == ROOT / "examples"  # a checkout: the wheel's copy is tested in test_wheel.py
    assert zoo.names() == tuple(sorted(path.stem for path in EXAMPLES))
    assert all(zoo.path(path.stem) == path for path in EXAMPLES)
    assert zoo.path("resnet51") is None


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_each_example_begins_with_its_citation(path: Path) -> None:
    """`resdsl list` shows the first line: a title, then the source, with a quoted title of the work."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert re.fullmatch(r'# [^:]+: .+"[^"]+".*', first), first
    assert zoo.source(path.stem) == first[2:]


def test_a_name_loads_what_its_file_does() -> None:
    by_name, by_path = resdsl.load("resnet50", classes=10), resdsl.load(ROOT / "examples" / "resnet50.res", classes=10)
    assert by_name.stats().to_dict() == by_path.stats().to_dict()
    assert by_name.path == "examples/resnet50.res"  # diagnostics name it as a path below the working directory


def test_a_file_that_exists_wins_over_a_zoo_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "resnet50").write_text("network mine { input 3x8x8 conv(4) }\n")
    monkeypatch.chdir(tmp_path)
    assert resdsl.load("resnet50").name == "mine"
    assert resdsl.load("resnet18").name == "resnet18"  # no such file here: the zoo's, from anywhere


def test_a_name_with_a_folder_or_res_is_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """After pip install there is no examples/ folder: the README's old command says what to write instead."""
    monkeypatch.chdir(tmp_path)
    for spec in ("resnet50.res", "examples/resnet50.res"):
        assert zoo.resolve(spec) == Path(spec)
        assert main(["stats", spec]) == 2
        err = capsys.readouterr().err
        assert f"error: no such file: {spec}" in err
        assert "hint: the model zoo has 'resnet50': give its name alone, without a folder or .res" in err


def test_an_unknown_name_gets_a_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "resnet5O"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "resdsl stats: error: no such file or zoo network: resnet5O",
        "hint: did you mean 'resnet50'? resdsl list shows the zoo"]
    with pytest.raises(UsageError, match="no such file or zoo network: wide_resnet"):
        resdsl.load("wide_resnet")
    assert main(["check", "nothing_like_it"]) == 2
    assert "hint: resdsl list shows the zoo's networks" in capsys.readouterr().err


def test_every_command_takes_a_zoo_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "resnet18", "cifar_resnet20"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"resnet18: resnet18 ok: 3x224x224 → 1000, {len(resdsl.load('resnet18').graph)} nodes",
        f"cifar_resnet20: cifar_resnet20 ok: 3x32x32 → 10, {len(resdsl.load('cifar_resnet20').graph)} nodes"]
    assert main(["stats", "resnet18"]) == 0
    assert "total    11.69M" in capsys.readouterr().out
    assert main(["compare", "resnet34", "vgg19"]) == 0
    assert capsys.readouterr().out.split()[:3] == ["resnet34", "vgg19", "vgg19"]
    assert main(["render", "resnet18", "-o", str(tmp_path / "net.dot")]) == 0
    assert "digraph" in (tmp_path / "net.dot").read_text()
    assert main(["compile", "resnet18", "-o", str(tmp_path / "net.py")]) == 0
    assert "class Resnet18" in (tmp_path / "net.py").read_text()


def test_compile_by_name() -> None:
    model = resdsl.compile("resnet18", classes=10)
    assert model.fc.out_features == 10
    assert sum(p.numel() for p in model.parameters()) == resdsl.load("resnet18", classes=10).stats().params


def test_list_shows_every_network_with_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [entry["name"] for entry in entries] == list(zoo.names())
    for entry in entries:
        stats = resdsl.load(zoo.path(entry["name"])).stats()
        assert (entry["params"], entry["macs"], entry["input_shape"]) == \
            (stats.params, stats.macs, list(stats.input_shape)), entry["name"]
        assert entry["source"] == zoo.source(entry["name"])
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "params", "MACs", "input", "source"]
    assert len(lines) == 2 + len(zoo.names())
    resnet50 = next(line for line in lines if line.startswith("resnet50 "))
    assert resnet50.split()[:4] == ["resnet50", "25.56M", "4.11G", "3x224x224"]
    assert resnet50.endswith('ResNet-50: He et al. 2015, "Deep Residual Learning for Image Recognition", Table 1')
    assert main(["list", "--exact"]) == 0
    exact = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("resnet50 "))
    assert exact.split()[1:3] == ["25,557,032", "4,111,512,576"]


def test_list_never_imports_torch() -> None:
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "resdsl", "list"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    assert not any(line.endswith(" torch") for line in out.stderr.splitlines())
    assert "resnet152" in out.stdout


def test_the_readme_shows_what_list_prints(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split("$ resdsl list\n", 1)[1].split("```", 1)[0].splitlines()
    assert main(["list"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert shown[:2] == printed[:2]
    assert all(line in printed for line in shown if line != "...")
