"""The PyTorch source backend: an IR graph as a standalone, readable ``.py`` file.

The file defines one ``nn.Module`` class and needs only torch. Submodules sit in ``nn.ModuleDict``
containers along the node names, so its ``state_dict`` keys are those of :mod:`torch_module`'s
module; ``forward`` has one line per node. The same spec always gives the same bytes.
"""

from __future__ import annotations

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


_RESERVED = {"x", "self", "torch", "nn", "F"}


def _variables(graph: nx.DiGraph) -> dict[str, str]:
    """node → a distinct Python name: the module path with dots as underscores (``layer1_0_conv1``)."""
    names = {"input": "x"}
    taken = set(_RESERVED)
    for node in graph:
        if node == "input":
            continue
        base = name = node.replace(".", "_")
        number = 2
        while name in taken:
            name = f"{base}_{number}"
            number += 1
        taken.add(name)
        names[node] = name
    return names


def _access(node: str) -> str:
    first, *rest = node.split(".")
    return f"self.{first}" + "".join(f'["{part}"]' for part in rest)


def _containers(tree: dict, indent: int) -> list[str]:
    lines = []
    pad = " " * indent
    for name, child in tree.items():
        if isinstance(child, dict):
            lines.append(f'{pad}"{name}": nn.ModuleDict({{')
            lines.extend(_containers(child, indent + 4))
            lines.append(f"{pad}}}),")
        else:
            lines.append(f'{pad}"{name}": {child},')
    return lines


def class_name(name: str) -> str:
    """``cifar_resnet20`` → ``CifarResnet20``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_")) or "Network"


def generate_source(graph: nx.DiGraph) -> str:
    """Python source of a standalone module computing ``graph``."""
    nodes = graph.nodes
    variable = _variables(graph)
    tree: dict = {}
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
            *parents, leaf = node.split(".")
            branch = tree
            for part in parents:
                branch = branch.setdefault(part, {})
            branch[leaf] = constructor
            expression = f"{_access(node)}({args[0]})"
        else:
            expression = FUNCTIONS[op.kind](op, shapes, args)
        body.append(f"        {variable[node]} = {expression}  # {ops.format_shape(nodes[node]['shape'])}")
    init = []
    for name, child in tree.items():
        if isinstance(child, dict):
            init += [f"        self.{name} = nn.ModuleDict({{", *_containers(child, 12), "        })"]
        else:
            init.append(f"        self.{name} = {child}")
    output = variable[graph.graph["output"]]
    shape = ops.format_shape(graph.graph["input_shape"])
    return "\n".join([
        f'"""{graph.graph["name"]}: generated by resdsl from {PurePath(graph.graph["path"]).name}; needs only torch.',
        "",
        f"Input: N x {shape}. Submodule names follow the spec, so resdsl.compile's state_dict loads here.",
        '"""',
        "",
        "import torch",
        "import torch.nn.functional as F",
        "from torch import nn",
        "",
        "",
        f"class {class_name(graph.graph['name'])}(nn.Module):",
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
