"""The PyTorch backend: an IR graph becomes a ``torch.fx.GraphModule``.

Submodule paths are the IR node names (``layer2.0.downsample.0``), so ``named_modules()`` and the
``state_dict`` keys follow the spec; ``forward`` is the graph itself, readable with ``print(model.code)``.
The only module that imports torch, and only when called.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any, Callable

import networkx as nx

from resdsl.ir import ops
from resdsl.ir.graph import inputs

if TYPE_CHECKING:
    import torch


def _modules() -> dict[str, Callable[[Any, list], Any]]:
    """op kind → module builder, given the op and its input shapes."""
    from torch import nn

    activations = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}
    return {
        "conv": lambda op, s: nn.Conv2d(s[0][0], op.out_channels, op.kernel, op.stride, op.padding, op.dilation,
                                        op.groups, op.bias),
        "bn": lambda op, s: nn.BatchNorm2d(s[0][0], op.eps, op.momentum),
        "activation": lambda op, s: activations[op.function](),
        "maxpool": lambda op, s: nn.MaxPool2d(op.kernel, op.stride, op.padding, ceil_mode=op.ceil_mode),
        "avgpool": lambda op, s: nn.AvgPool2d(op.kernel, op.stride, op.padding, ceil_mode=op.ceil_mode,
                                              count_include_pad=op.count_include_pad),
        "global_avgpool": lambda op, s: nn.AdaptiveAvgPool2d(1),
        "flatten": lambda op, s: nn.Flatten(1),
        "linear": lambda op, s: nn.Linear(s[0][0], op.out_features, op.bias),
        "dropout": lambda op, s: nn.Dropout(op.p),
        "upsample": lambda op, s: nn.Upsample(scale_factor=op.scale, mode=op.mode,
                                              align_corners=False if op.mode == "bilinear" else None),
    }


def _functions() -> dict[str, Callable[[Any, list, Any], tuple]]:
    """op kind → (function, args) for ops without parameters or state."""
    import torch
    import torch.nn.functional as F

    def zeropad(op: ops.ZeroPad, shapes, args):
        extra = op.channels - shapes[0][0]
        return F.pad, (args[0], (0, 0, 0, 0, extra // 2, extra - extra // 2))

    return {
        "add": lambda op, shapes, args: (operator.add, tuple(args)),
        "mul": lambda op, shapes, args: (operator.mul, tuple(args)),
        "concat": lambda op, shapes, args: (torch.cat, (list(args), 1)),
        "scale": lambda op, shapes, args: (operator.mul, (args[0], op.factor)),
        "subsample": lambda op, shapes, args: (
            operator.getitem, (args[0], (slice(None), slice(None), slice(None, None, op.stride),
                                         slice(None, None, op.stride)))),
        "zeropad": zeropad,
    }


def _install(root: torch.nn.Module, path: str, module: torch.nn.Module) -> None:
    from torch import nn

    *parents, leaf = path.split(".")
    for name in parents:
        if not hasattr(root, name):
            root.add_module(name, nn.Module())
        root = getattr(root, name)
    root.add_module(leaf, module)


def inplace_relu(graph: nx.DiGraph, node: str) -> bool:
    """An in-place relu may overwrite its input when nothing else reads it and autograd does not
    need it: the input is used once and produced by conv, batch norm or an add (torchvision's pattern)."""
    (producer,) = inputs(graph, node)
    return graph.out_degree(producer) == 1 and graph.nodes[producer]["op"].kind in ("conv", "bn", "add")


def build_module(graph: nx.DiGraph, zero_init_residual: bool = False) -> torch.fx.GraphModule:
    """A trainable module computing ``graph``, initialized as torchvision initializes ResNets."""
    from torch import fx, nn

    modules, functions = _modules(), _functions()
    root = nn.Module()
    fx_graph = fx.Graph()
    values: dict[str, fx.Node] = {}
    nodes = graph.nodes
    for node in graph:
        op = nodes[node]["op"]
        producers = inputs(graph, node)
        args = [values[p] for p in producers]
        shapes = [nodes[p]["shape"] for p in producers]
        if op.kind == "input":
            value = fx_graph.placeholder("x")
        elif op.kind in modules:
            module = modules[op.kind](op, shapes)
            if op.kind == "activation" and op.function == "relu" and inplace_relu(graph, node):
                module.inplace = True
            _install(root, node, module)
            # Named after the module path, as fx would, but never 'self': forward's first argument.
            value = fx_graph.create_node("call_module", node, tuple(args), name=f"{node.replace('.', '_')}_"
                                         if node == "self" else None)
        else:
            function, call_args = functions[op.kind](op, shapes, args)
            if op.kind in ("add", "mul"):  # of n values: left to right, a + b + c
                value = call_args[0]
                for term in call_args[1:]:
                    value = fx_graph.call_function(function, (value, term))
            else:
                value = fx_graph.call_function(function, call_args)
        value.meta["resdsl_node"] = node
        values[node] = value
    fx_graph.output(values[graph.graph["output"]])
    model = fx.GraphModule(root, fx_graph, class_name=graph.graph["name"])
    _initialize(model, graph, zero_init_residual)
    return model


def _initialize(model: torch.nn.Module, graph: nx.DiGraph, zero_init_residual: bool) -> None:
    from torch import nn

    for module in model.modules():
        if isinstance(module, nn.Conv2d):  # He et al. 2015 ("Delving deep into rectifiers"), as torchvision
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if zero_init_residual:
        # Goyal et al. 2017: each residual unit starts as the identity when its last BN is zero.
        with_torch = dict(model.named_modules())
        for residual in graph.graph["residuals"]:
            main = inputs(graph, residual["add"])[0]
            if graph.nodes[main]["op"].kind == "scale":
                main = inputs(graph, main)[0]
            if graph.nodes[main]["op"].kind == "bn":
                nn.init.zeros_(with_torch[main].weight)
