"""Every bundled example, through check, lint and stats; published figures to the integer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import resdsl
from conftest import EXAMPLES, ROOT
from resdsl.cli import main
from resdsl.ir.graph import lint

REQUIRED = {
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "cifar_resnet20", "cifar_resnet56",
    "cifar_resnet110", "plain34", "d2l_resnet18", "preact_resnet164", "resnext50_32x4d", "wide_resnet50_2",
    "densenet121", "unet_small",
}

# ../shared/reference/NUMBERS.md: torchvision params, fvcore totals, He et al. 2015/2016, Zagoruyko 2016.
PARAMS = {
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160,
    "resnet152": 60_192_808, "resnext50_32x4d": 25_028_904, "wide_resnet50_2": 68_883_240,
    "cifar_resnet20": 269_722, "cifar_resnet56": 853_018, "cifar_resnet110": 1_727_962,
    "preact_resnet164": 1_703_258,
}
FVCORE_MACS = {
    "resnet18": 1_819_065_856, "resnet34": 3_671_262_720, "resnet50": 4_111_512_576,
    "resnet101": 7_833_969_664, "resnet152": 11_558_835_200,
}
DEPTH = {"resnet18": 18, "resnet34": 34, "resnet50": 50, "resnet101": 101, "resnet152": 152, "plain34": 34,
         "cifar_resnet20": 20, "cifar_resnet56": 56, "cifar_resnet110": 110, "preact_resnet164": 164}


def test_required_examples_exist() -> None:
    assert {p.stem for p in EXAMPLES} >= REQUIRED


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_checks_and_lints(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert path.read_text().startswith("#"), "each example starts with a comment citing its source"
    assert main(["check", str(path.relative_to(ROOT))]) == 0
    assert " ok: " in capsys.readouterr().out
    network = resdsl.load(path)
    lint(network.graph)
    assert network.name == path.stem


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_published_parameter_counts(name: str) -> None:
    assert resdsl.load(ROOT / "examples" / f"{name}.res").stats().params == PARAMS[name]


@pytest.mark.parametrize("name", sorted(FVCORE_MACS))
def test_fvcore_totals(name: str) -> None:
    assert resdsl.load(ROOT / "examples" / f"{name}.res").stats().macs == FVCORE_MACS[name]


@pytest.mark.parametrize("name", sorted(DEPTH))
def test_depth_in_the_papers_sense(name: str) -> None:
    assert resdsl.load(ROOT / "examples" / f"{name}.res").stats().depth == DEPTH[name]


def test_resnet50_conv_linear_macs_and_buffers() -> None:
    stats = resdsl.load(ROOT / "examples/resnet50.res").stats()
    assert stats.macs_by_op["conv"] + stats.macs_by_op["linear"] == 4_089_184_256
    # Keras reports 25,636,712: torchvision's count + conv biases (26,560) + running statistics (53,120).
    assert stats.buffers == 53_120
    assert stats.residual_units == 16 and stats.paths == 2**16 and stats.shortest_path == 6


def test_option_b_resnet20_differs_from_option_a() -> None:
    assert resdsl.load(ROOT / "examples/cifar_resnet20.res").stats().params == 269_722
    text = (ROOT / "examples/cifar_resnet20.res").read_text().replace("shortcut: pad", "shortcut: auto")
    assert resdsl.load(text).stats().params == 272_474


def test_bottleneck_saves_16_94x_over_basic_at_256_channels() -> None:
    basic = resdsl.load(ROOT / "examples/stage_basic256.res").stats()
    bottleneck = resdsl.load(ROOT / "examples/stage_bottleneck256.res").stats()
    conv = lambda s: sum(r.params for r in s.layers if ".conv" in r.name)
    assert conv(bottleneck) == 69_632 and conv(basic) == 1_179_648
    assert round(conv(basic) / conv(bottleneck), 2) == 16.94


def test_examples_never_import_torch(tmp_path: Path) -> None:
    code = ("import sys, glob, resdsl\n"
            "for p in sorted(glob.glob('examples/*.res')):\n"
            "    n = resdsl.load(p); n.stats(batch=2)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    for command in (["check", "examples/resnet152.res"], ["stats", "examples/resnet152.res"],
                    ["render", "examples/resnet152.res", "-o", str(tmp_path / "net.svg")]):
        out = subprocess.run([sys.executable, "-X", "importtime", "-m", "resdsl", *command], cwd=ROOT,
                             capture_output=True, text=True, check=True)
        assert not any(line.endswith(" torch") for line in out.stderr.splitlines())


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_golden_stats_tables(path: Path, capsys: pytest.CaptureFixture[str], golden) -> None:
    assert main(["stats", str(path.relative_to(ROOT)), "--exact"]) == 0
    golden(ROOT / "tests" / "golden" / f"{path.stem}.stats.txt", capsys.readouterr().out)


def test_stats_json_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "examples/resnet18.res", "--json", "--batch", "4"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("name", "input_shape", "output_shape", "params", "buffers", "macs", "flops", "macs_by_op",
                "activations", "memory", "depth", "stages", "receptive_field", "paths"):
        assert key in data
    assert data["macs"] == 4 * 1_819_065_856 and data["flops"] == 2 * data["macs"]
    assert [s["name"] for s in data["stages"]] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert data == resdsl.load(ROOT / "examples/resnet18.res").stats(batch=4).to_dict()
