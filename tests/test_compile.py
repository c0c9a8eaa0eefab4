"""Static equals dynamic: the compiled module's parameters, shapes and fvcore MACs equal the analysis."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from fvcore.nn import FlopCountAnalysis
from torch.fx.passes.shape_prop import ShapeProp

import resdsl
from conftest import EXAMPLES, ROOT


@pytest.fixture(scope="module", params=EXAMPLES, ids=[p.stem for p in EXAMPLES])
def compiled(request):
    network = resdsl.load(request.param)
    stats = network.stats()
    torch.manual_seed(0)
    return network, stats, network.to_module().eval()


def test_parameters_per_node_and_in_total(compiled) -> None:
    network, stats, model = compiled
    modules = dict(model.named_modules())
    for node, data in network.graph.nodes(data=True):
        if data["params"]:
            assert sum(p.numel() for p in modules[node].parameters()) == data["params"], node
    assert sum(p.numel() for p in model.parameters()) == stats.params
    running = sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    assert running == stats.buffers


def test_forward_shapes_per_node(compiled) -> None:
    network, _, model = compiled
    x = torch.randn(2, *network.input_shape)
    with torch.no_grad():
        ShapeProp(model).propagate(x)
    seen = 0
    for fx_node in model.graph.nodes:
        name = fx_node.meta.get("resdsl_node")
        if name is not None:
            assert tuple(fx_node.meta["tensor_meta"].shape) == (2, *network.graph.nodes[name]["shape"]), name
            seen += 1
    assert seen == len(network.graph)


def test_fvcore_total_equals_static_macs(compiled) -> None:
    network, stats, model = compiled
    analysis = FlopCountAnalysis(model, torch.randn(1, *network.input_shape))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    assert analysis.total() == stats.macs


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_torchvision_checkpoints_load_strictly_and_match(name: str) -> None:
    ours = resdsl.compile(ROOT / "examples" / f"{name}.res").eval()
    theirs = getattr(torchvision.models, name)().eval()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, v.shape) for k, v in theirs.state_dict().items()]
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_initialization_and_zero_init_residual() -> None:
    model = resdsl.compile(ROOT / "examples/resnet18.res", zero_init_residual=True)
    assert torch.count_nonzero(model.get_submodule("layer1.0.bn2").weight) == 0
    assert torch.all(model.get_submodule("layer1.0.bn1").weight == 1)
    std = model.get_submodule("conv1").weight.std().item()  # kaiming fan_out: sqrt(2 / (64 * 7 * 7))
    assert abs(std - (2 / (64 * 49)) ** 0.5) < 0.1 * std


def test_training_lowers_the_loss() -> None:
    torch.manual_seed(0)
    model = resdsl.compile(ROOT / "examples/cifar_resnet20.res").train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_torch_export(tmp_path: Path) -> None:
    model = resdsl.compile(ROOT / "examples/cifar_resnet20.res").eval()
    x = torch.randn(2, 3, 32, 32)
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), model(x))


def test_generated_forward_is_readable() -> None:
    network = resdsl.load(ROOT / "examples/resnet18.res")
    code = network.to_module().code
    assert 'layer1_0_conv1 = getattr(self.layer1, "0").conv1(maxpool1)' in code
    assigned = [line for line in code.splitlines() if " = " in line]
    assert len(assigned) == len(network.graph) - 1  # one line per node after the input
