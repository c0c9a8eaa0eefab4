"""Receptive fields against an oracle that knows nothing of kernels and strides: input gradients.

The compiled model is made linear and positive (every weight 1/fan-in, activations replaced by
identity, max pooling by average pooling over the same window), so a pixel's gradient with respect to
the input is non-zero exactly on the pixels it reads. In float64 even the edge of a 1,451-pixel field
stays far above underflow. The input is large enough that no field is clipped at the border.
"""

from __future__ import annotations

import pytest
import torch
from torch import fx, nn

import resdsl
from conftest import ROOT
from resdsl.ir import ops
from resdsl.ir.ops.base import square

LINEAR_ACTIVATIONS = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU)


def _linearize(model: fx.GraphModule) -> None:
    for name, module in list(model.named_modules()):
        parent, _, leaf = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            with torch.no_grad():
                module.weight.fill_(1.0 / module.weight[0].numel())
                if module.bias is not None:
                    module.bias.zero_()
        elif isinstance(module, LINEAR_ACTIVATIONS):
            setattr(owner, leaf, nn.Identity())
        elif isinstance(module, nn.MaxPool2d):
            setattr(owner, leaf, nn.AvgPool2d(module.kernel_size, module.stride, module.padding,
                                              ceil_mode=module.ceil_mode))


def gradient_field(network: resdsl.Network, positions: int) -> tuple[int, int]:
    """The widest row and column extents of input pixels that one pixel of the last spatial map depends
    on, over ``positions`` consecutive pixels from the map's centre along its diagonal (each axis
    repeats its own pattern, so a diagonal walks both)."""
    graph = network.graph
    target = [n for n, d in graph.nodes(data=True) if len(d["shape"]) == 3 and not isinstance(d["op"], ops.GlobalAvgPool)][-1]
    model = network.to_module().eval().double()
    _linearize(model)

    class Capture(fx.Interpreter):
        def run_node(self, node: fx.Node):
            out = super().run_node(node)
            if node.meta.get("resdsl_node") == target:
                self.target = out
            return out

    widest = [0, 0]
    for offset in range(positions):
        x = torch.ones(1, *network.input_shape, dtype=torch.float64, requires_grad=True)
        capture = Capture(model)
        capture.run(x)
        height, width = capture.target.shape[-2:]
        capture.target[0, :, height // 2 + offset, width // 2 + offset].sum().backward()
        for axis in (0, 1):
            read = (x.grad[0].abs().sum(dim=(0, 2 - axis)) > 0).nonzero().flatten()
            assert read.min() > 0 and read.max() < network.input_shape[1 + axis] - 1, "the field reaches the border"
            widest[axis] = max(widest[axis], int(read.max() - read.min() + 1))
    return widest[0], widest[1]


UNET = (ROOT / "examples/unet_small.res").read_text()
CASES = {  # name: (spec, input side, positions to try: the product of the upsampling factors)
    "cifar_resnet20": ((ROOT / "examples/cifar_resnet20.res").read_text(), 97, 1),
    "resnet18": ((ROOT / "examples/resnet18.res").read_text(), 465, 1),
    "stage_basic256": ((ROOT / "examples/stage_basic256.res").read_text(), 24, 1),
    "stage_bottleneck256": ((ROOT / "examples/stage_bottleneck256.res").read_text(), 24, 1),
    "unet_small": (UNET, 160, 8),
    "unet_small_bilinear": (UNET.replace("upsample(2)", "upsample(2, mode: bilinear)"), 160, 8),
    "pointwise_new_ops": ("network p { input 4x64x64  conv(8, k: 4, stride: 4) linear(16, over: channels) leaky_relu "
                          "hardswish layer_scale(0.5) drop_path(0.1) bn(affine: false) conv(8, k: 3) }", 64, 1),
    "strided_k2_pools": ("network k2 { input 1x96x96  conv(4, k: 2, stride: 2) avgpool(k: 3, stride: 2, padding: 1)"
                         "  add { conv(4, k: 5) | conv(4, k: 3, dilation: 2) | identity } }", 96, 1),
    # Inception's factorized 7x7: a 1x7 then a 7x1 read a 7x7 window, as the 7x7 they replace.
    "factorized_7x7": ("network f { input 2x40x40  conv(4, k: 1x7) conv(4, k: 7x1) }", 40, 1),
    "asymmetric": ("network a { input 2x80x80  conv(4, k: 1x7, stride: 2x1) maxpool(k: 3x1, stride: 1x2, padding: 1x0)"
                   "  add { conv(4, k: 5x1, dilation: 2) | avgpool(k: 1x3, stride: 1, padding: 0x1) } }", 80, 1),
    "factorized_7x7_spec": ((ROOT / "tests/specs/factorized_7x7.res").read_text(), 96, 1),
    # Adaptive pooling: bins of 96 / 40 and 96 / 36 positions repeat every 5 rows and 3 columns.
    "adaptive": ("network p { input 1x96x96  avgpool(to: 40x36) conv(2, k: 3) conv(2, k: 3, stride: 2) }", 96, 5),
}


@pytest.mark.parametrize("name", CASES)
def test_receptive_field_equals_gradient_extent(name: str) -> None:
    spec, side, positions = CASES[name]
    network = resdsl.load(spec)
    network = network.with_input((network.input_shape[0], side, side))
    assert network.stats().receptive_field == square(gradient_field(network, positions))


WHOLE_INPUT = {  # a global pooling (or mean) or a group's statistics on the way: one pixel reads the whole input
    "squeeze_excitation": "import std (se)\nnetwork n { input 8x40x40  conv(16) se(16, reduction: 4) conv(8) }",
    "group_norm": "network n { input 8x40x40  conv(16) groupnorm(4) relu conv(8) }",
    "spatial_mean": "network n { input 8x40x40  conv(16) mul { identity | mean } conv(8) }",
}


@pytest.mark.parametrize("name", WHOLE_INPUT)
def test_field_is_the_whole_input(name: str) -> None:
    network = resdsl.load(WHOLE_INPUT[name])
    assert network.stats().receptive_field == 40
    x = torch.ones(1, 8, 40, 40, dtype=torch.float64, requires_grad=True)
    model = network.to_module().eval().double()
    _linearize(model)
    model(x + torch.rand_like(x))[0, :, 20, 20].sum().backward()  # noise: a group's variance is not 0
    assert bool((x.grad[0].abs().sum(dim=(0, 2)) > 0).all())


def test_field_per_axis_in_stats_json_and_compare(tmp_path, capsys) -> None:
    """One number where the axes agree (as before), ``HxW`` in tables and ``[h, w]`` in JSON otherwise."""
    import json

    from resdsl.cli import main

    wide = tmp_path / "wide.res"
    wide.write_text("network wide { input 3x64x64  conv(8, k: 1x7) conv(8, k: 3x5, stride: 2) }\n")
    network = resdsl.load(wide)
    assert network.stats().receptive_field == (3, 11)
    assert resdsl.load(CASES["factorized_7x7"][0]).stats().receptive_field == 7
    assert main(["stats", str(wide), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["receptive_field"] == [3, 11]
    assert main(["stats", str(wide)]) == 0
    assert "receptive field     3x11 px" in capsys.readouterr().out
    assert main(["compare", "examples/cifar_resnet20.res", str(wide)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("receptive field"))
    assert row.split()[2:] == ["81x81", "3x11", "0.04x", "by", "0.14x"]  # height, width ratios
