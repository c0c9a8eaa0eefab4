"""Examples against their live reference models, built at test time from torchvision and timm (no
weights downloaded): parameters, buffers and fvcore's MACs equal to the integer, the reference's
state_dict loads strictly, and outputs agree in eval mode with randomized batch-norm statistics."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn

import resdsl
from conftest import ROOT


class MatlabCifar(nn.Module):
    """MATLAB's residual network for CIFAR-10, written out in plain PyTorch from the issue's
    description: 3x3 conv (16 filters, with bias) + bn + relu; three stages of two units; a unit is
    conv3x3-bn-relu-conv3x3-bn, add, relu; the first unit of stages 2 and 3 halves the size and doubles
    the filters with a 1x1 conv on the skip; global average pooling, fc 10, softmax."""

    class Unit(nn.Module):
        def __init__(self, inputs: int, filters: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(inputs, filters, 3, stride, 1)
            self.bn1 = nn.BatchNorm2d(filters)
            self.conv2 = nn.Conv2d(filters, filters, 3, 1, 1)
            self.bn2 = nn.BatchNorm2d(filters)
            self.downsample = nn.ModuleDict({"conv1": nn.Conv2d(inputs, filters, 1, stride)}) if stride > 1 else None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            main = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            skip = self.downsample["conv1"](x) if self.downsample is not None else x
            return torch.relu(main + skip)

    def __init__(self, width: int = 16, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.stage1 = nn.Sequential(self.Unit(width, width, 1), self.Unit(width, width, 1))
        self.stage2 = nn.Sequential(self.Unit(width, 2 * width, 2), self.Unit(2 * width, 2 * width, 1))
        self.stage3 = nn.Sequential(self.Unit(2 * width, 4 * width, 2), self.Unit(4 * width, 4 * width, 1))
        self.fc = nn.Linear(4 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        return torch.softmax(self.fc(nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)), dim=1)


def _timm(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import timm

        return timm.create_model(name, pretrained=False)
    return build


def _torchvision(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        return getattr(torchvision.models, name)(weights=None)
    return build


def _fpn_resnet50() -> nn.Module:
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

    return resnet_fpn_backbone(backbone_name="resnet50", weights=None, norm_layer=nn.BatchNorm2d)


REFERENCES: dict[str, Callable[[], nn.Module]] = {
    "vgg19": _torchvision("vgg19"),
    "fpn_resnet50": _fpn_resnet50,
    "resnet50d": _timm("resnet50d"),
    "seresnet50": _timm("seresnet50"),
    "resnetv2_50": _timm("resnetv2_50"),
    "convnext_tiny": _torchvision("convnext_tiny"),
    "inception_resnet_v2": _timm("inception_resnet_v2"),
    "matlab_cifar": MatlabCifar,
}


def _randomize(model: nn.Module) -> None:
    """Random weights everywhere and non-trivial batch-norm statistics, so that outputs tell layers apart."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.1)


def _macs(model: nn.Module, x: torch.Tensor) -> int:
    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return int(analysis.total())


@pytest.mark.parametrize("name", REFERENCES)
def test_example_equals_its_reference(name: str) -> None:
    network = resdsl.load(ROOT / "examples" / f"{name}.res")
    stats = network.stats()
    torch.manual_seed(0)
    theirs = REFERENCES[name]().eval()
    ours = network.to_module().eval()
    _randomize(theirs)
    assert sum(p.numel() for p in theirs.parameters()) == stats.params
    running = sum(b.numel() for key, b in theirs.named_buffers() if key.endswith(("running_mean", "running_var")))
    assert running == stats.buffers
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(1, *network.input_shape)
    assert _macs(theirs, x) == stats.macs
    x = torch.randn(2, *network.input_shape)
    with torch.no_grad():
        assert _difference(ours(x), theirs(x)) <= 1e-5


def _difference(ours: torch.Tensor | dict[str, torch.Tensor], theirs: torch.Tensor | dict[str, torch.Tensor]) -> float:
    """The largest absolute difference; outputs returned by name must agree in names and order too."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs)
        return max(_difference(ours[key], theirs[key]) for key in theirs)
    assert isinstance(ours, torch.Tensor) and ours.shape == theirs.shape
    return (ours - theirs).abs().max().item()


def test_fpn_at_an_odd_size_upsamples_to_each_lateral() -> None:
    """At 200x200 C5 is 7x7 and C4 13x13: a fixed scale of 2 cannot match; `upsample(to:)` does, as
    torchvision's F.interpolate(size=...) does, and the compiled module follows the input's size."""
    network = resdsl.load(ROOT / "examples" / "fpn_resnet50.res", input_shape=(3, 200, 200))
    assert network.output_shapes == {"0": (256, 50, 50), "1": (256, 25, 25), "2": (256, 13, 13),
                                     "3": (256, 7, 7), "pool": (256, 4, 4)}
    theirs = _fpn_resnet50().eval()
    _randomize(theirs)
    ours = network.to_module().eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(1, 3, 200, 200)
    assert _macs(theirs, x) == network.stats().macs
    with torch.no_grad():
        assert _difference(ours(x), theirs(x)) <= 1e-5
