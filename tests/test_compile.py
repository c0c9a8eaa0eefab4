"""Static equals dynamic: the compiled module's parameters, shapes and fvcore MACs equal the analysis."""

from __future__ import annotations

import sys
from math import prod
from pathlib import Path

import pytest
import torch
import torchvision
from fvcore.nn import FlopCountAnalysis
from torch.fx.passes.shape_prop import ShapeProp

import resdsl
from conftest import EXAMPLES, OP_SPECS, ROOT
from resdsl.ir.graph import inputs
from resdsl.ir.ops import Dropout
from resdsl.ir.torch_form import Module


@pytest.fixture(scope="module", params=[*EXAMPLES, *OP_SPECS], ids=[p.stem for p in [*EXAMPLES, *OP_SPECS]])
def compiled(request):
    network = resdsl.load(request.param)
    stats = network.stats()
    torch.manual_seed(0)
    return network, stats, network.to_module().eval()


def test_parameters_per_node_and_in_total(compiled) -> None:
    network, stats, model = compiled
    modules, parameters = dict(model.named_modules()), dict(model.named_parameters())
    for node, data in network.graph.nodes(data=True):
        if data["params"]:
            if node in parameters:  # a bare parameter at the node's path (layer_scale)
                assert parameters[node].numel() == data["params"], node
            else:
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


def test_stage_block_and_layer_rows_equal_their_modules(compiled) -> None:
    """Every row named after a module (a stage, a block, a layer) has that module's parameters and
    fvcore's MACs for it; the rows of each kind add up to the whole network."""
    network, stats, model = compiled
    analysis = FlopCountAnalysis(model, torch.randn(1, *network.input_shape))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    macs, modules = analysis.by_module(), dict(model.named_modules())
    checked = 0
    for row in [*stats.stages, *stats.blocks, *stats.layers]:
        if row.name in modules:
            assert row.params == sum(p.numel() for p in modules[row.name].parameters()), row.name
            assert row.macs == macs[row.name], row.name
            checked += 1
    graph = network.graph
    module_nodes = {node for node, data in graph.nodes(data=True)
                    if isinstance(data["op"].torch([graph.nodes[p]["shape"] for p in inputs(graph, node)]), Module)}
    assert module_nodes <= {row.name for row in stats.layers} and checked >= len(module_nodes)
    for rows in (stats.stages, stats.blocks, stats.layers):
        assert sum(r.params for r in rows) == stats.params and sum(r.macs for r in rows) == stats.macs
        assert sum(r.activations for r in rows) == stats.activations


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


def test_std_se_is_timms_se_module() -> None:
    """std's se squeezes with a spatial mean as timm's SEModule does (fvcore counts 0 MACs for it, where
    avgpool(global) would count 1 per element): the same state_dict, output and fvcore MACs."""
    from timm.layers.squeeze_excite import SEModule

    theirs = SEModule(256).eval()
    network = resdsl.load("import std (se)\nnetwork n { input 256x14x14  se: se(256) }")
    ours = network.to_module().eval()
    ours.load_state_dict({f"se.{key}": value for key, value in theirs.state_dict().items()}, strict=True)
    x = torch.randn(2, 256, 14, 14)
    analysis = FlopCountAnalysis(theirs, x[:1])
    analysis.unsupported_ops_warnings(False)
    assert analysis.total() == network.stats().macs == 256 * 16 * 2
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-6)


def test_convnext_block_is_torchvisions_cnblock() -> None:
    """ConvNeXt's block from layernorm, linear over channels, layer_scale and drop_path: torchvision's
    CNBlock's state_dict (names aside: numbered children cannot be written yet; layer_scale's key is
    the node's path), parameters, fvcore MACs, and outputs in eval and, drawing the same drop-path
    masks, in training."""
    from torchvision.models.convnext import CNBlock

    torch.manual_seed(0)
    theirs = CNBlock(16, layer_scale=1e-6, stochastic_depth_prob=0.3)
    with torch.no_grad():
        theirs.layer_scale.normal_()  # a branch that counts (1e-6 would hide it)
        theirs.block[2].weight.normal_(), theirs.block[2].bias.normal_()
    network = resdsl.load("network n { input 16x14x14  b: { residual { conv(16, k: 7, groups: 16, bias: true) "
                          "layernorm(eps: 1e-6) linear(64, over: channels) gelu linear(16, over: channels) "
                          "layer_scale: layer_scale(1e-6) drop_path(0.3) } } }")
    ours = network.to_module()
    names = {"block.0": "b.conv1", "block.2": "b.layernorm1", "block.3": "b.linear1", "block.5": "b.linear2",
             "layer_scale": "b.layer_scale"}
    renamed = {}
    for key, value in theirs.state_dict().items():
        module, _, leaf = key.rpartition(".")
        renamed[f"{names[module]}.{leaf}" if module else names[key]] = value
    assert sorted((k, v.shape) for k, v in renamed.items()) == sorted((k, v.shape) for k, v in ours.state_dict().items())
    ours.load_state_dict(renamed, strict=True)
    x = torch.randn(8, 16, 14, 14)
    analysis = FlopCountAnalysis(theirs.eval(), x[:1])
    analysis.unsupported_ops_warnings(False)
    assert analysis.total() == network.stats().macs
    assert sum(p.numel() for p in theirs.parameters()) == network.stats().params
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), theirs.eval()(x), rtol=0, atol=1e-5)
        torch.manual_seed(1)
        expected = theirs.train()(x)
        torch.manual_seed(1)
        torch.testing.assert_close(ours.train()(x), expected, rtol=0, atol=1e-5)


def test_zero_init_residual_skips_batch_norm_without_affine() -> None:
    model = resdsl.compile(ROOT / "tests/specs/bn_affine.res", zero_init_residual=True)
    assert model.get_submodule("bn3").weight is None  # the first unit's last bn: nothing to zero
    assert torch.count_nonzero(model.get_submodule("bn5").weight) == 0


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_training_lowers_the_loss(path: Path) -> None:
    torch.manual_seed(0)
    network = resdsl.load(path)
    channels, height, _ = network.input_shape
    for side in (64, 80, height):  # a tiny batch at the smallest size the net takes keeps CPU time low
        small = (channels, min(height, side), min(height, side))
        try:
            network = network.with_input(small)
            break
        except resdsl.ResdslError:  # valid (unpadded) convs: Inception-ResNet-v2 needs 75x75 at least
            continue
    model = network.to_module().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # memorizing one fixed batch
    x = torch.randn(8, *small)
    classes = network.output_shape[0]
    y = torch.randint(0, classes, (8, *network.output_shape[1:]))  # per-pixel labels for segmentation
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        out = model(x)
        if isinstance(out, dict):  # several outputs: train on the first (an FPN's finest level)
            out = next(iter(out.values()))
        loss = torch.nn.functional.cross_entropy(out, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses


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


def saved_for_backward(network: resdsl.Network, batch: int) -> int:
    from resdsl.backends.torch_tools import saved_for_backward as measure

    return measure(network.to_module().train(), torch.randn(batch, *network.input_shape))


TRAINING_MEMORY_NETS = {
    "activations_se_pools": "import std\nnetwork n { input 3x32x32  conv(16) bn relu se_basic(16) "
                            "se_basic(32, stride: 2) maxpool(k: 3, stride: 2, padding: 1) avgpool(k: 2) conv(8) "
                            "gelu silu tanh sigmoid avgpool(global) flatten linear(10) }",
    "upsample_concat": "network n { input 3x32x32  conv(8) as a  maxpool(k: 2) conv(8) upsample(2, mode: bilinear) "
                       "concat(a) conv(4) upsample(2) avgpool(k: 2) }",
}


@pytest.mark.parametrize("spec", [*EXAMPLES, *OP_SPECS, *TRAINING_MEMORY_NETS],
                         ids=[*(p.stem for p in [*EXAMPLES, *OP_SPECS]), *TRAINING_MEMORY_NETS])
def test_training_memory_is_what_autograd_saves(spec) -> None:
    network = resdsl.load(TRAINING_MEMORY_NETS.get(spec, spec))
    cpu_masks = sum(3 * 2 * prod(data["shape"]) for _, data in network.graph.nodes(data=True)
                    if isinstance(data["op"], Dropout) and data["op"].p > 0)  # CPU keeps fp32 masks, CUDA bytes
    assert network.stats(batch=2).memory["training_bytes"]["fp32"] + cpu_masks == saved_for_backward(network, 2)


def test_dropout_mask_is_one_byte_as_on_cuda() -> None:
    """On the CPU, PyTorch's dropout keeps a float32 mask where CUDA's fused kernel keeps bytes."""
    network = resdsl.load("network n { input 8x8x8  conv(8) relu dropout(0.3) conv(8) }")
    elements = 2 * 8 * 8 * 8
    assert network.stats(batch=2).memory["training_bytes"]["fp32"] + 3 * elements == saved_for_backward(network, 2)


def test_merges_of_three_values_compute_what_they_say() -> None:
    network = resdsl.load("network m { input 4x8x8  conv(4) as a  conv(4) as b  conv(4)  add(a, b) as s\n"
                          "  conv(4) mul(a, s) }")
    model = network.to_module().eval()
    modules = dict(model.named_modules())
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        a = modules["conv1"](x)
        b = modules["conv2"](a)
        s = modules["conv3"](b) + a + b
        torch.testing.assert_close(model(x), modules["conv4"](s) * a * s)


@pytest.mark.parametrize("path", [*EXAMPLES, *OP_SPECS], ids=[p.stem for p in [*EXAMPLES, *OP_SPECS]])
def test_standalone_source_matches_compiled_module(path: Path, tmp_path: Path, monkeypatch) -> None:
    import importlib

    from resdsl.backends.torch_source import class_name
    from resdsl.cli import main

    assert main(["compile", str(path.relative_to(ROOT)), "-o", str(tmp_path / "model.py")]) == 0
    source = (tmp_path / "model.py").read_text()
    assert "resdsl" not in source.split('"""', 2)[2], "the generated file must not import resdsl"
    assert source == resdsl.load(path).to_source(), "generation is deterministic"
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("model")
    network = resdsl.load(path)
    theirs = getattr(module, class_name(network.name))().eval()
    ours = network.to_module().eval()
    assert [(k, v.shape) for k, v in theirs.state_dict().items()] == \
        [(k, v.shape) for k, v in ours.state_dict().items()]
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, *network.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x), rtol=0, atol=0)
    del sys.modules["model"]


def test_compile_summary_on_meta_device(capsys) -> None:
    from resdsl.cli import main

    assert main(["compile", "examples/resnet50.res"]) == 0
    out = capsys.readouterr().out
    assert "meta device" in out and out.rstrip().endswith("25,557,032")


def test_fullgraph_compile_has_no_graph_breaks() -> None:
    model = resdsl.compile(ROOT / "examples/resnet18.res").eval()
    compiled = torch.compile(model, fullgraph=True, backend="eager")  # dynamo raises on any graph break
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_load_weights_roundtrip_and_mismatch(tmp_path: Path, suffix: str) -> None:
    source = resdsl.compile(ROOT / "examples/cifar_resnet20.res")
    path = tmp_path / f"weights{suffix}"
    if suffix == ".pth":
        torch.save({"state_dict": source.state_dict()}, path)
    else:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    target = resdsl.compile(ROOT / "examples/cifar_resnet20.res")
    resdsl.load_weights(target, path)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)
    wide = resdsl.compile(ROOT / "examples/cifar_resnet20.res", classes=100)
    with pytest.raises(resdsl.ResdslError, match=r"wrong shape \(2\): fc.bias: checkpoint \(10,\), model \(100,\)"):
        resdsl.load_weights(wide, path)
    resdsl.load_weights(wide, path, ignore=["fc.*"])
    other = resdsl.compile(ROOT / "examples/resnet18.res")
    with pytest.raises(resdsl.ResdslError, match=r"missing \(\d+\): .*unexpected \(\d+\): "):
        resdsl.load_weights(other, path)


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "hook": print}, path)  # a callable needs unpickling code
    with pytest.raises(resdsl.ResdslError, match=r"weights_only|cannot read"):
        resdsl.load_weights(resdsl.compile(ROOT / "examples/cifar_resnet20.res"), path)


def test_transfer_learning_freeze_and_new_head(tmp_path: Path) -> None:
    pretrained = torchvision.models.resnet18()
    torch.save(pretrained.state_dict(), tmp_path / "resnet18.pth")
    model = resdsl.compile(ROOT / "examples/resnet18.res", classes=10)
    resdsl.load_weights(model, tmp_path / "resnet18.pth", ignore=["fc.*"])
    assert resdsl.freeze(model, "conv1", "bn1", "layer*") == 62 - 2  # every tensor but fc.weight, fc.bias
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    for _ in range(2):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.randn(4, 3, 64, 64)), torch.tensor([0, 1, 2, 3])).backward()
        optimizer.step()
    after = model.state_dict()
    assert torch.equal(after["layer3.1.conv2.weight"], pretrained.state_dict()["layer3.1.conv2.weight"])
    assert torch.equal(after["conv1.weight"], before["conv1.weight"])
    assert not torch.equal(after["fc.weight"], before["fc.weight"])
    with pytest.raises(resdsl.ResdslError, match="no parameter matches"):
        resdsl.freeze(model, "layer9")
