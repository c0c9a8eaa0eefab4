"""``resdsl import``: PyTorch models written as specs, checked against the models themselves.

Each reference model is built without weights (random, batch-norm statistics randomized), imported,
and its spec must pass check, count the model's parameters (numel) and fvcore's MACs on the model,
compile to a module that loads the model's state_dict strictly, and compute the same outputs.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from test_references import _difference, _macs, _randomize, _timm, _torchvision
from torch import nn

import resdsl
from resdsl.importing import import_module

ROOT = Path(__file__).resolve().parent.parent
MODELS = Path(__file__).resolve().parent / "import_models"
sys.path.insert(0, str(MODELS))
import cifar  # noqa: E402

REFERENCES: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int]]] = {
    **{name: (_torchvision(name), (3, 224, 224)) for name in (
        "resnet18", "resnet50", "resnet101", "resnext50_32x4d", "wide_resnet50_2", "vgg19", "densenet121",
        "convnext_tiny")},
    **{f"timm-{name}": (_timm(name), (3, 224, 224)) for name in ("resnet50d", "seresnet50", "resnetv2_50")},
    "timm-inception_resnet_v2": (_timm("inception_resnet_v2"), (3, 299, 299)),
    "cifar_resnet": (lambda: cifar.CifarResNet(2), (3, 32, 32)),
}


def _round_trip(model: nn.Module, shape: tuple[int, ...], name: str) -> tuple[resdsl.Network, str]:
    _randomize(model)
    model.eval()
    imported = import_module(model, shape, name)
    net = resdsl.check(imported.text)
    stats = net.stats()
    assert stats.params == sum(p.numel() for p in model.parameters())
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    compiled = net.to_module().eval()
    compiled.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert _difference(compiled(x), model(x)) <= 1e-5
    assert stats.macs == _macs(model, x[:1])
    return net, imported.level


@pytest.mark.parametrize("name", REFERENCES)
def test_reference_models_round_trip(name: str) -> None:
    build, shape = REFERENCES[name]
    torch.manual_seed(0)
    _, level = _round_trip(build(), shape, name.removeprefix("timm-"))
    assert level == "blocks", f"{name} was written as {level}, not with blocks"


def test_resnet50_reads_as_the_hand_written_example() -> None:
    """Same blocks, stages and counts as examples/resnet50.res, and the same module paths."""
    import torchvision

    text = resdsl.from_module(torchvision.models.resnet50())
    ours, theirs = resdsl.load(text), resdsl.load(ROOT / "examples" / "resnet50.res")
    assert set(ours.graph) == set(theirs.graph)

    def stages(net: resdsl.Network) -> Counter[str]:
        return Counter(instance.split(".")[0] for instance in net.graph.graph["blocks"])
    assert stages(ours) == stages(theirs) == Counter(layer1=3, layer2=4, layer3=6, layer4=3)
    assert "stage layer3: bottleneck(256) * 6, first(stride: 2)" in text
    assert text.count("block ") == 1


def test_papers_cifar_resnet_reads_as_blocks() -> None:
    text = resdsl.from_module(cifar.CifarResNet(3), (3, 32, 32))
    assert "residual(projection: pad, name: shortcut) {" in text
    assert "stage layer2: basic_block(32) * 3, first(" in text, text


def test_unwritable_operations_are_listed_with_their_paths() -> None:
    with pytest.raises(resdsl.ResdslError) as raised:
        resdsl.from_module(cifar.Unwritable(), (3, 16, 16))
    message = str(raised.value)
    assert "2 operations" in message
    assert "stem: Conv2d at stem: the language has no padding_mode='reflect'" in message
    assert "the method .abs()" in message


def test_unwritable_names_are_renamed_and_load_weights_takes_the_map(tmp_path: Path) -> None:
    model = cifar.Reserved().eval()
    _randomize(model)
    imported = import_module(model, (3, 8, 8))
    assert imported.renamed == {"_stem.0": "stem_.0", "_stem.1": "stem_.1", "class": "class_"}
    assert "# renamed: _stem.0 → stem_.0" in imported.text
    checkpoint = tmp_path / "model.pth"
    torch.save(model.state_dict(), checkpoint)
    compiled = resdsl.compile(imported.text).eval()
    loaded = resdsl.load_weights(compiled, checkpoint, rename=imported.renamed)
    assert len(loaded.loaded) == len(model.state_dict())
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        assert _difference(compiled(x), model(x)) <= 1e-6


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "resdsl", "import", *args], capture_output=True, text=True,
                          cwd=cwd, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})


def test_cli_imports_a_python_file(tmp_path: Path) -> None:
    out = tmp_path / "cifar.res"
    done = _cli(f"{MODELS / 'cifar.py'}:CifarResNet", "--arg", "blocks=1", "--input", "3x32x32", "-o", str(out),
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "written with blocks" in done.stdout
    assert resdsl.load(out).stats().params == sum(p.numel() for p in cifar.CifarResNet(1).parameters())


def test_cli_faults_are_one_clear_error(tmp_path: Path) -> None:
    done = _cli(f"{MODELS / 'cifar.py'}:Unwritable", "--input", "3x8x8", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "padding_mode='reflect'" in done.stderr
    for argument, expected in (("nope:Model", "cannot import nope"), ("torchvision.models:nothing", "has no class"),
                               ("resnet50", "is not MODULE:NAME")):
        done = _cli(argument, cwd=tmp_path)
        assert done.returncode == 2 and expected in done.stderr and "Traceback" not in done.stderr, done.stderr
    done = _cli("torchvision.models:resnet18", "-o", str(tmp_path / "x.txt"), cwd=tmp_path)
    assert done.returncode == 2 and not (tmp_path / "x.txt").exists()


def test_several_outputs_are_refused_clearly() -> None:
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            y = self.conv(x)
            return {"a": y, "b": y.relu()}

    with pytest.raises(resdsl.ResdslError, match="2 outputs \\(a, b\\): writing a spec with several outputs"):
        resdsl.from_module(Two(), (3, 8, 8))
