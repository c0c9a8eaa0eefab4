"""Every op states every fact, and its facts agree with PyTorch: the completeness test of issue #11.

An op missing a fact fails here by name (``test_op_states_fact[GroupNorm-memory]``), before any spec
uses it. Each op's PyTorch form is built both ways (the in-process module and the generated source
line) and run: the two agree with each other and with the op's shape, parameter and buffer counts.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

import resdsl
from conftest import ROOT
from resdsl.backends import torch_module, torch_source
from resdsl.ir import ops
from resdsl.ir.docs import TABLES, regenerate
from resdsl.ir.layers import LAYERS
from resdsl.ir.ops.base import Op
from resdsl.ir.torch_form import Call, Module, Parameter

#: An instance of every op and the input shapes it is tried on; spatial ops get odd sizes and padding.
EXAMPLES: dict[type[Op], tuple[Op, list[tuple[int, ...]]]] = {
    ops.Input: (ops.Input((3, 9, 9)), []),
    ops.Conv: (ops.Conv(8, kernel=3, stride=2, padding=2, dilation=2, groups=2, bias=True), [(4, 9, 11)]),
    ops.BatchNorm: (ops.BatchNorm(eps=1e-3, momentum=0.2, affine=False), [(4, 5, 5)]),
    ops.GroupNorm: (ops.GroupNorm(2, eps=1e-3), [(4, 5, 5)]),
    ops.LayerNorm: (ops.LayerNorm(1e-6), [(4, 5, 5)]),
    ops.ReLU: (ops.ReLU(), [(4, 5, 5)]),
    ops.LeakyReLU: (ops.LeakyReLU(0.2), [(4, 5, 5)]),
    ops.Sigmoid: (ops.Sigmoid(), [(4, 5, 5)]),
    ops.Tanh: (ops.Tanh(), [(4, 5, 5)]),
    ops.GELU: (ops.GELU(), [(4, 5, 5)]),
    ops.SiLU: (ops.SiLU(), [(4, 5, 5)]),
    ops.Hardswish: (ops.Hardswish(), [(4, 5, 5)]),
    ops.Softmax: (ops.Softmax(), [(4, 5, 5)]),
    ops.MaxPool: (ops.MaxPool(3, 2, 1, ceil_mode=True), [(4, 10, 9)]),
    ops.AvgPool: (ops.AvgPool(3, 2, 1, ceil_mode=True, count_include_pad=False), [(4, 10, 9)]),
    ops.GlobalAvgPool: (ops.GlobalAvgPool(), [(4, 5, 7)]),
    ops.Mean: (ops.Mean(), [(4, 5, 7)]),
    ops.Flatten: (ops.Flatten(), [(4, 2, 3)]),
    ops.Linear: (ops.Linear(7, bias=False), [(12,)]),
    ops.Dropout: (ops.Dropout(0.25), [(4, 5, 5)]),
    ops.DropPath: (ops.DropPath(0.25), [(4, 5, 5)]),
    ops.Upsample: (ops.Upsample(3, "bilinear"), [(4, 5, 5)]),
    ops.Subsample: (ops.Subsample(2), [(4, 5, 7)]),
    ops.ZeroPad: (ops.ZeroPad(9), [(4, 5, 5)]),
    ops.Scale: (ops.Scale(-0.25), [(4, 5, 5)]),
    ops.LayerScale: (ops.LayerScale(0.5), [(4, 5, 5)]),
    ops.Add: (ops.Add(), [(4, 5, 5)] * 3),
    ops.Multiply: (ops.Multiply(), [(4, 5, 5), (4, 1, 1)]),
    ops.Concat: (ops.Concat(), [(4, 5, 5), (2, 5, 5), (3, 5, 5)]),
    ops.AdaptiveAvgPool: (ops.AdaptiveAvgPool((7, 5)), [(4, 15, 13)]),
    ops.UpsampleTo: (ops.UpsampleTo(), [(4, 7, 7), (3, 13, 13)]),  # 7 → 13: FPN at a 200x200 input
}

#: More instances, checked as EXAMPLES are: sizes per axis (1x7), and input sizes where a rule changes.
VARIANTS: dict[str, tuple[Op, list[tuple[int, ...]]]] = {
    "Conv-1x7": (ops.Conv(6, kernel=(1, 7), stride=(2, 1), padding=(0, 3)), [(4, 9, 11)]),
    "Conv-7x1-dilated": (ops.Conv(6, kernel=(7, 1), padding=(6, 1), dilation=2, groups=2, bias=True), [(4, 13, 5)]),
    "MaxPool-1x3": (ops.MaxPool((1, 3), (1, 2), (0, 1), ceil_mode=True), [(4, 10, 9)]),
    "AvgPool-3x1": (ops.AvgPool((3, 1), (2, 1), (1, 0), ceil_mode=True, count_include_pad=False), [(4, 10, 9)]),
    "AdaptiveAvgPool-same": (ops.AdaptiveAvgPool(7), [(4, 7, 7)]),
    "AdaptiveAvgPool-larger": (ops.AdaptiveAvgPool((5, 9)), [(4, 3, 4)]),  # overlapping bins
    "UpsampleTo-13-25": (ops.UpsampleTo(), [(4, 13, 13), (2, 25, 25)]),
    "UpsampleTo-x2": (ops.UpsampleTo(), [(4, 5, 6), (2, 10, 12)]),
    "UpsampleTo-3-141": (ops.UpsampleTo(), [(2, 3, 4), (2, 141, 9)]),  # float32 differs from exact n/m here
    "UpsampleTo-down": (ops.UpsampleTo(), [(4, 9, 10), (2, 5, 3)]),
}
CASES = {**{op.__name__: EXAMPLES[op] for op in ops.OPS}, **VARIANTS}


def _concrete(cls: type[Op]) -> list[type[Op]]:
    """Every op class defined under resdsl.ir.ops (frozen dataclasses; private bases excluded)."""
    found = []
    for sub in cls.__subclasses__():
        if "__dataclass_fields__" in sub.__dict__:
            found.append(sub)
        found.extend(_concrete(sub))
    return found


def test_every_op_is_listed_and_has_an_example() -> None:
    assert sorted(c.__name__ for c in _concrete(Op)) == sorted(c.__name__ for c in ops.OPS), \
        "an op class is missing from resdsl.ir.ops.OPS"
    missing = [op.__name__ for op in ops.OPS if op not in EXAMPLES]
    assert not missing, f"add an example of {missing} to tests/test_ops.py EXAMPLES"


@pytest.mark.parametrize("fact", ops.FACTS)
@pytest.mark.parametrize("op", ops.OPS, ids=[op.__name__ for op in ops.OPS])
def test_op_states_fact(op: type[Op], fact: str) -> None:
    """Stated by the op or a base it chose (``reads = pointwise``), never inherited from Op."""
    stated = any(fact in klass.__dict__ for klass in op.__mro__ if klass is not Op and issubclass(klass, Op))
    assert stated, f"{op.__name__} does not state its {fact!r}"


@pytest.mark.parametrize("case", CASES)
def test_facts_are_well_formed(case: str) -> None:
    instance, shapes = CASES[case]
    op = type(instance)
    output = instance.output_shape(shapes)
    assert op.family in ops.FAMILIES
    assert isinstance(op.memory, ops.Memory) and op.counting and instance.label()
    assert (op.arity is None and len(shapes) >= 2) or op.arity == len(shapes)
    for count in (instance.params(shapes), instance.buffers(shapes), instance.macs(shapes, output)):
        assert type(count) is int and count >= 0
    if instance.macs(shapes, output):
        assert op.family in ops.MAC_FAMILIES, f"{op.__name__} counts MACs under family {op.family!r}"
    if op.layer is not None:
        assert LAYERS[op.layer.name].build.__self__ is op  # type: ignore[attr-defined]


@pytest.mark.parametrize("axis", [0, 1], ids=["height", "width"])
@pytest.mark.parametrize("case", CASES)
def test_reads_repeat_with_the_period(case: str, axis: int) -> None:
    """Shifting the output by ``period`` positions shifts what it reads by a constant: a wrong period
    (or reads) would make the receptive field's trace over positions miss the widest one."""
    instance, shapes = CASES[case]
    period = instance.period(shapes, axis)
    shifts = set()
    for lo in range(-2 * period, 3 * period):
        here, there = instance.reads(shapes, axis, lo, lo), instance.reads(shapes, axis, lo + period, lo + period)
        assert (here is None) == (there is None)
        if here is not None and there is not None:
            assert here[1] >= here[0]
            assert instance.reads(shapes, axis, lo, lo + 1) == (here[0], instance.reads(shapes, axis, lo + 1, lo + 1)[1])
            shifts.add((there[0] - here[0], there[1] - here[1]))
    assert len(shifts) <= 1 and all(a == b for a, b in shifts), f"{case} reads do not repeat every {period}"


@pytest.mark.parametrize("case", CASES)
def test_symmetric_ops_read_alike_along_both_axes(case: str) -> None:
    """An op that says it reads alike along both axes (so the receptive field traces one axis for
    both) does, on its example's shapes and on square ones."""
    instance, shapes = CASES[case]
    square = [(shape[0], max(shape[1:]), max(shape[1:])) if len(shape) == 3 else shape for shape in shapes]
    for inputs in (shapes, square):
        if instance.symmetric(inputs) and all(len(s) != 3 or s[1] == s[2] for s in inputs):
            assert instance.period(inputs, 0) == instance.period(inputs, 1)
            for lo in range(-9, 30):
                assert instance.reads(inputs, 0, lo, lo + 2) == instance.reads(inputs, 1, lo, lo + 2), (inputs, lo)
    if case in ("Conv-1x7", "Conv-7x1-dilated", "MaxPool-1x3", "AvgPool-3x1", "AdaptiveAvgPool"):
        assert not instance.symmetric(square)


def _form_module(instance: Op, shapes: list[tuple[int, ...]]) -> nn.Module:
    """The op's PyTorch form as a module of its inputs, in eval mode (what fx builds in a network)."""
    form = instance.torch(shapes)
    if isinstance(form, Module):
        return torch_module.instantiate(form).eval()
    root = nn.Module()
    graph = fx.Graph()
    placeholders = [graph.placeholder(f"x{index}") for index in range(len(shapes))]
    if isinstance(form, Parameter):  # a bare parameter at the node's path, read with get_attr
        torch_module._install_parameter(root, "scale", form)
        graph.output(torch_module._value(graph, form.call, placeholders, graph.get_attr("scale")))
    else:
        assert isinstance(form, Call)
        graph.output(torch_module._value(graph, form, placeholders))
    return fx.GraphModule(root, graph)


@pytest.mark.parametrize("axis", [0, 1], ids=["height", "width"])
@pytest.mark.parametrize("case", [c for c, (op, shapes) in CASES.items()
                                  if shapes and len(shapes[0]) == 3 and len(op.output_shape(shapes)) == 3])
def test_reads_are_what_the_gradient_reads(case: str, axis: int) -> None:
    """Each output row (or column) reads input rows from and to exactly where ``reads`` says, clipped to
    the input: the first and last rows where the gradient of its sum with respect to input 0 is
    non-zero (weights made positive, so that nothing cancels; a dilated conv skips rows between).
    Max pooling's gradient reaches only the largest input of each window."""
    instance, shapes = CASES[case]
    torch.manual_seed(0)
    module = _form_module(instance, shapes).double()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(parameter.abs() + 0.1)
    inputs = [torch.rand(1, *shape, dtype=torch.float64) + 0.5 for shape in shapes]
    inputs[0].requires_grad_(True)
    size = shapes[0][1 + axis]
    for position in range(instance.output_shape(shapes)[1 + axis]):
        inputs[0].grad = None
        out = module(*inputs)
        selected = out.select(2 + axis, position)  # weighted, since a softmax's plain sum is constant
        (selected * torch.arange(1, selected.numel() + 1, dtype=selected.dtype).reshape(selected.shape)).sum() \
            .backward()
        assert inputs[0].grad is not None
        read = (inputs[0].grad[0].abs().sum(dim=(0, 2 - axis)) > 0).nonzero().flatten().tolist()
        span = instance.reads(shapes, axis, position, position)
        step = getattr(instance, "dilation", 1)  # a dilated window's first and last rows inside the input
        lo, hi = (0, size - 1) if span is None else \
            (span[0] + max(0, -span[0] + step - 1) // step * step, span[1] - max(0, span[1] - size + step) // step * step)
        if isinstance(instance, ops.MaxPool) and not isinstance(instance, ops.AvgPool):
            assert read and lo <= min(read) and max(read) <= hi, (position, read, span)
        else:
            assert (read[:1] + read[-1:]) == ([lo, hi] if lo <= hi else []), (position, read, span)  # [] : padding


def _run_module(form: Module, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, nn.Module]:
    """The form built in process and from its generated source line, both run on ``inputs``."""
    built = torch_module.instantiate(form)
    namespace = {"torch": torch, "nn": nn, "F": F}
    if form.runtime:  # resdsl's own class: defined by the text the generated file holds
        exec(torch_source.runtime_classes()[form.name], namespace)  # noqa: S102 — our own class
    written = eval(torch_source._module(form), namespace)  # noqa: S307 — our own generated constructor
    written.load_state_dict(built.state_dict())
    built.eval(), written.eval()
    return built(inputs[0]), written(inputs[0]), built


def _run_call(form: Call, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    graph = fx.Graph()
    placeholders = [graph.placeholder(f"x{index}") for index in range(len(inputs))]
    graph.output(torch_module._value(graph, form, placeholders))
    built = fx.GraphModule(nn.Module(), graph)(*inputs)
    names = [f"x{index}" for index in range(len(inputs))]
    written = eval(torch_source._expression(form, names),  # noqa: S307 — our own generated expression
                   {"torch": torch, "F": F, **dict(zip(names, inputs))})
    return built, written


def _run_parameter(form: Parameter, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, nn.Module]:
    """A bare parameter at a node's path and the call that uses it, in process (installed and read
    with get_attr) and as generated source (registered, read as an attribute)."""
    root = nn.Module()
    torch_module._install_parameter(root, "block.scale", form)
    assert torch.equal(root.get_parameter("block.scale"), torch.full(form.shape, float(form.fill)))
    with torch.no_grad():
        root.get_parameter("block.scale").uniform_()  # not its fill: a parameter mixed up with an input shows
    graph = fx.Graph()
    placeholders = [graph.placeholder(f"x{index}") for index in range(len(inputs))]
    graph.output(torch_module._value(graph, form.call, placeholders, graph.get_attr("block.scale")))
    built = fx.GraphModule(root, graph)(*inputs)
    names = [f"x{index}" for index in range(len(inputs))]
    written = eval(torch_source._expression(form.call, names, "block.scale"),  # noqa: S307 — our own expression
                   {"torch": torch, "F": F, "block": root.block, **dict(zip(names, inputs))})
    return built, written, root


@pytest.mark.parametrize("case", CASES)
def test_pytorch_form_agrees_with_the_op_and_both_backends(case: str) -> None:
    instance, shapes = CASES[case]
    form = instance.torch(shapes)
    if isinstance(instance, ops.Input):
        assert form is None
        return
    torch.manual_seed(0)
    inputs = [torch.randn(2, *shape) for shape in shapes]
    params = buffers = 0
    if isinstance(form, Module):
        built, written, module = _run_module(form, inputs)
        params = sum(p.numel() for p in module.parameters())
        buffers = sum(b.numel() for name, b in module.named_buffers() if not name.endswith("num_batches_tracked"))
        assert {step.parameter for step in form.init} <= {name for name, _ in module.named_parameters()} | {"bias"}
    elif isinstance(form, Parameter):
        built, written, module = _run_parameter(form, inputs)
        params = sum(p.numel() for p in module.parameters())
        assert [name for name, _ in module.named_parameters()] == ["block.scale"]  # the node's path itself
    else:
        assert isinstance(form, Call)
        built, written = _run_call(form, inputs)
    torch.testing.assert_close(built, written, rtol=0, atol=0)
    assert tuple(built.shape) == (2, *instance.output_shape(shapes))
    assert (params, buffers) == (instance.params(shapes), instance.buffers(shapes))


def test_readme_tables_are_generated_from_the_ops() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in TABLES:
        assert f"<!-- generated: {name} -->" in readme, f"the README lost its generated {name} table"
    assert readme == regenerate(readme), "README tables are stale: run python -m resdsl.ir.docs README.md"
    documented = re.findall(r"^\| `([^`]+)` \|", readme, re.MULTILINE)
    assert set(LAYERS) | {op.kind for op in ops.OPS} <= set(documented)


def _spec(calls: str, shape: str = "8x12x12") -> resdsl.Network:
    return resdsl.load(f"network n {{ input {shape}  {calls} }}")


def test_every_layer_lowers_to_its_op() -> None:
    """Each layer name, written with its defaults, makes its op (or no node: identity)."""
    required: dict[str, Any] = {"conv": "conv(4)", "maxpool": "maxpool(k: 2)", "avgpool": "avgpool(k: 2)",
                                "linear": "flatten linear(3)", "zeropad": "zeropad(12)", "scale": "scale(0.5)",
                                "groupnorm": "groupnorm(4)", "drop_path": "drop_path(0.1)"}
    for name, builtin in LAYERS.items():
        network = _spec(required.get(name, name))
        kinds = [type(data["op"]) for _, data in network.graph.nodes(data=True)][1:]
        if name == "identity":
            assert kinds == []
        else:
            assert builtin.build.__self__ in kinds, name  # type: ignore[attr-defined]


def test_group_norm_groups_must_divide_the_channels() -> None:
    with pytest.raises(resdsl.ResdslError, match=r"groupnorm groups=5 must divide the channels \(8\)"):
        _spec("groupnorm(5)")


def test_drop_path_trains_as_timm_and_torchvision() -> None:
    """In training, whole samples are zeroed and the rest scaled, drawing the same random numbers as
    timm's DropPath and torchvision's StochasticDepth(p, "row"); in eval it is the identity."""
    import timm.layers
    import torchvision.ops

    form = ops.DropPath(0.4).torch([(4, 3, 3)])
    ours = torch_module.instantiate(form).train()
    x = torch.randn(64, 4, 3, 3)
    results = []
    for module in (ours, timm.layers.DropPath(0.4), torchvision.ops.StochasticDepth(0.4, "row")):
        torch.manual_seed(0)
        results.append(module.train()(x))
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)
    torch.testing.assert_close(results[0], results[2], rtol=0, atol=0)
    kept = results[0].flatten(1).ne(0).all(1)
    assert 0 < int(kept.sum()) < 64
    torch.testing.assert_close(results[0][kept], x[kept] / 0.6)
    assert ours.eval()(x) is x


def test_layernorm_of_a_map_is_torchvisions_layernorm2d() -> None:
    """ConvNeXt's LayerNorm2d: the same state_dict keys and outputs; a vector gets nn.LayerNorm."""
    from torchvision.models.convnext import LayerNorm2d

    theirs = LayerNorm2d(8, eps=1e-6)
    nn.init.normal_(theirs.weight), nn.init.normal_(theirs.bias)
    ours = torch_module.instantiate(ops.LayerNorm(1e-6).torch([(8, 5, 5)]))
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    assert type(torch_module.instantiate(ops.LayerNorm(affine=False).torch([(8,)]))) is nn.LayerNorm


def test_linear_over_channels_is_nn_linear_at_each_position() -> None:
    """``linear(n, over: channels)``: torchvision ConvNeXt's permute, nn.Linear, permute back, with
    nn.Linear's state_dict; both backends agree, as for every op's example."""
    op, shapes = ops.Linear(6, over_channels=True), [(4, 5, 7)]
    built, written, module = _run_module(op.torch(shapes), [torch.randn(2, *shapes[0])])
    torch.testing.assert_close(built, written, rtol=0, atol=0)
    assert tuple(built.shape) == (2, *op.output_shape(shapes)) == (2, 6, 5, 7)
    assert sum(p.numel() for p in module.parameters()) == op.params(shapes) == 4 * 6 + 6
    linear = nn.Linear(4, 6)
    linear.load_state_dict(module.state_dict(), strict=True)
    x = torch.randn(2, 4, 5, 7)
    torch.testing.assert_close(module(x), linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
    with pytest.raises(resdsl.ResdslError, match=r"linear over: channels needs a CxHxW input"):
        _spec("avgpool(global) flatten linear(4, over: channels)")
    with pytest.raises(resdsl.ResdslError, match=r"'over' must be channels, got 8 \(where a parameter is named 'channels'"):
        _spec("block b(channels) { linear(4, over: channels) }  b(8)")


@pytest.mark.parametrize("case", CASES)
def test_written_builds_the_op_back(case: str) -> None:
    """How the importer writes an op (``written``) is the layer call that builds it (``from_arguments``)."""
    from resdsl.ir.layers import LAYERS

    instance, _ = CASES[case]
    written = instance.written()
    if written is None:
        assert instance.layer is None and type(instance) in (ops.Input, ops.Add, ops.Multiply, ops.Concat,
                                                             ops.UpsampleTo)
        return
    name, arguments = written
    layer = LAYERS[name]
    assert set(arguments) <= {p.name for p in layer.parameters}
    assert layer.build({p.name: arguments.get(p.name, p.default) for p in layer.parameters}) == instance


@pytest.mark.parametrize("case", CASES)
def test_from_torch_reads_the_module_torch_builds(case: str) -> None:
    """A module built from an op's PyTorch form, read back by the importer, is the op again."""
    from resdsl.backends import torch_runtime
    from resdsl.importing.trace import constructor_arguments, module_op

    instance, shapes = CASES[case]
    form = instance.torch(shapes)
    if not isinstance(form, Module):
        assert type(instance).from_torch({}, shapes) is None
        return
    cls = getattr(torch_runtime, form.name) if form.runtime else getattr(torch.nn, form.name)
    module = cls(*form.args, **dict(form.kwargs))
    assert module_op(form.name, constructor_arguments(module), shapes[0]) == instance
