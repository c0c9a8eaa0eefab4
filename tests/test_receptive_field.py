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


def gradient_field(network: resdsl.Network, positions: int) -> int:
    """The widest row extent of input pixels that one pixel of the last spatial map depends on, over
    ``positions`` consecutive pixels from the map's centre."""
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

    widest = 0
    for offset in range(positions):
        x = torch.ones(1, *network.input_shape, dtype=torch.float64, requires_grad=True)
        capture = Capture(model)
        capture.run(x)
        height, width = capture.target.shape[-2:]
        capture.target[0, :, height // 2 + offset, width // 2].sum().backward()
        rows = (x.grad[0].abs().sum(dim=(0, 2)) > 0).nonzero().flatten()
        assert rows.min() > 0 and rows.max() < network.input_shape[1] - 1, "the field reaches the border"
        widest = max(widest, int(rows.max() - rows.min() + 1))
    return widest


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
}


@pytest.mark.parametrize("name", CASES)
def test_receptive_field_equals_gradient_extent(name: str) -> None:
    spec, side, positions = CASES[name]
    network = resdsl.load(spec)
    network = network.with_input((network.input_shape[0], side, side))
    assert network.stats().receptive_field == gradient_field(network, positions)


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
