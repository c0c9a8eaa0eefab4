"""The PyTorch source backend: an IR graph as a standalone, readable ``.py`` file.

The file defines one ``nn.Module`` class and needs only torch. Submodules sit in ``nn.ModuleDict``
containers along the node names (one statement each), so its ``state_dict`` keys are those of :mod:`torch_module`'s
module; ``forward`` has one line per node. The same spec always gives the same bytes.
"""

from __future__ import annotations

import keyword
from pathlib import PurePath

import networkx as nx

from resdsl.backends.torch_module import inplace_relu
from resdsl.ir import ops
from resdsl.ir.graph import inputs
from resdsl.ir.ops import Shape


def _conv(op: ops.Conv, shapes: list[Shape]) -> str:
    extra = "".join(f", {name}={value}" for name, value, default in (
        ("stride", op.stride, 1), ("padding", op.padding, 0), ("dilation", op.dilation, 1),
        ("groups", op.groups, 1)) if value != default)
    return f"nn.Conv2d({shapes[0][0]}, {op.out_channels}, {op.kernel}{extra}, bias={op.bias})"


def _pool(name: str):
    def build(op: ops.MaxPool, shapes: list[Shape]) -> str:
        extra = f", padding={op.padding}" if op.padding else ""
        extra += ", ceil_mode=True" if op.ceil_mode else ""
        if name == "AvgPool2d" and not op.count_include_pad:
            extra += ", count_include_pad=False"
        return f"nn.{name}({op.kernel}, stride={op.stride}{extra})"
    return build


_ACTIVATIONS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "gelu": "GELU", "silu": "SiLU"}

#: op kind → constructor expression
MODULES = {
    "conv": _conv,
    "bn": lambda op, s: f"nn.BatchNorm2d({s[0][0]}" + (f", eps={op.eps!r}" if op.eps != 1e-5 else "")
    + (f", momentum={op.momentum!r}" if op.momentum != 0.1 else "") + ")",
    "activation": lambda op, s: f"nn.{_ACTIVATIONS[op.function]}()",
    "maxpool": _pool("MaxPool2d"),
    "avgpool": _pool("AvgPool2d"),
    "global_avgpool": lambda op, s: "nn.AdaptiveAvgPool2d(1)",
    "flatten": lambda op, s: "nn.Flatten(1)",
    "linear": lambda op, s: f"nn.Linear({s[0][0]}, {op.out_features}" + ("" if op.bias else ", bias=False") + ")",
    "dropout": lambda op, s: f"nn.Dropout({op.p!r})",
    "upsample": lambda op, s: f"nn.Upsample(scale_factor={op.scale}, mode={op.mode!r}"
    + (", align_corners=False" if op.mode == "bilinear" else "") + ")",
}

#: op kind → expression over the input variables
FUNCTIONS = {
    "add": lambda op, s, a: " + ".join(a),
    "mul": lambda op, s, a: " * ".join(a),
    "concat": lambda op, s, a: f"torch.cat([{', '.join(a)}], 1)",
    "scale": lambda op, s, a: f"{a[0]} * {op.factor!r}",
    "subsample": lambda op, s, a: f"{a[0]}[:, :, ::{op.stride}, ::{op.stride}]",
    "zeropad": lambda op, s, a: (lambda extra: f"F.pad({a[0]}, (0, 0, 0, 0, {extra // 2}, {extra - extra // 2}))")(
        op.channels - s[0][0]),
}


_RESERVED = {"x", "self", "torch", "nn", "F", "SPEC"}  # names the generated file itself uses


def _variables(graph: nx.DiGraph) -> dict[str, str]:
    """node → a distinct Python name: the module path with dots as underscores (``layer1_0_conv1``)."""
    names = {"input": "x"}
    taken = set(_RESERVED)
    for node in graph:
        if node == "input":
            continue
        base = name = node.replace(".", "_")
        if not base.isidentifier() or keyword.iskeyword(base):
            base = name = f"v_{base}"
        number = 2
        while name in taken:
            name = f"{base}_{number}"
            number += 1
        taken.add(name)
        names[node] = name
    return names


def _access(node: str) -> str:
    """``layer1.0.conv1`` → ``self.layer1['0']['conv1']``: the module at that path (top-level names
    are checked identifiers; the rest are string literals)."""
    first, *rest = node.split(".")
    return f"self.{first}" + "".join(f"[{part!r}]" for part in rest)


def class_name(name: str) -> str:
    """``cifar_resnet20`` → ``CifarResnet20``; a name that would not be a safe class name gets a suffix."""
    camel = "".join(part[:1].upper() + part[1:] for part in name.split("_"))
    if not camel.isidentifier() or keyword.iskeyword(camel) or camel in _RESERVED:
        camel += "Network"
    return camel if camel.isidentifier() else "Network"


def generate_source(graph: nx.DiGraph) -> str:
    """Python source of a standalone module computing ``graph``.

    Nothing from the spec is pasted into the code as text: module paths are checked identifiers or
    ``repr`` string literals, numbers are ``repr`` of ints and finite floats, and the spec's file
    name is a ``repr`` literal. The code stays flat (one statement per module, one line per node),
    so however deeply the spec nests, Python reads it.
    """
    nodes = graph.nodes
    variable = _variables(graph)
    init = []
    containers: set[str] = set()
    body = []
    for node in graph:
        op = nodes[node]["op"]
        producers = inputs(graph, node)
        shapes = [nodes[p]["shape"] for p in producers]
        args = [variable[p] for p in producers]
        if op.kind == "input":
            continue
        if op.kind in MODULES:
            constructor = MODULES[op.kind](op, shapes)
            if op.kind == "activation" and op.function == "relu" and inplace_relu(graph, node):
                constructor = "nn.ReLU(inplace=True)"
            parts = node.split(".")
            for depth in range(1, len(parts)):
                container = ".".join(parts[:depth])
                if container not in containers:
                    containers.add(container)
                    init.append(f"        {_access(container)} = nn.ModuleDict()")
            init.append(f"        {_access(node)} = {constructor}")
            expression = f"{_access(node)}({args[0]})"
        else:
            expression = FUNCTIONS[op.kind](op, shapes, args)
        body.append(f"        {variable[node]} = {expression}  # {ops.format_shape(nodes[node]['shape'])}")
    output = variable[graph.graph["output"]]
    shape = ops.format_shape(graph.graph["input_shape"])
    name = class_name(graph.graph["name"])
    return "\n".join([
        f'"""{name}: a PyTorch module generated by resdsl; needs only torch.',
        "",
        f"Input: N x {shape}. Submodule names follow the spec, so resdsl.compile's state_dict loads here.",
        '"""',
        "",
        "import torch",
        "import torch.nn.functional as F",
        "from torch import nn",
        "",
        f"SPEC = {PurePath(graph.graph['path']).name!r}  # the spec this file was generated from",
        "",
        "",
        f"class {name}(nn.Module):",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *init,
        "        for module in self.modules():  # as torchvision initializes ResNets",
        "            if isinstance(module, nn.Conv2d):",
        '                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")',
        "                if module.bias is not None:",
        "                    nn.init.zeros_(module.bias)",
        "            elif isinstance(module, nn.BatchNorm2d):",
        "                nn.init.ones_(module.weight)",
        "                nn.init.zeros_(module.bias)",
        "",
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
        *body,
        f"        return {output}",
        "",
    ])
