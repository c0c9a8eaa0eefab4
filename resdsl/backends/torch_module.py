"""The PyTorch backend: an IR graph becomes a ``torch.fx.GraphModule``.

Submodule paths are the IR node names (``layer2.0.downsample.0``), so ``named_modules()`` and the
``state_dict`` keys follow the spec; ``forward`` is the graph itself, readable with ``print(model.code)``.
Each node is its op's PyTorch form (:mod:`resdsl.ir.torch_form`), the same data the source backend
writes out. The only module that imports torch, and only when called.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import networkx as nx

from resdsl.ir.graph import inputs
from resdsl.ir.ops import BatchNorm, Scale
from resdsl.ir.torch_form import Arg, Call, Init, Module, Parameter, Weight, in_place
from resdsl.passes.inplace import inplace_relus

if TYPE_CHECKING:
    import torch
    from torch import fx


TORCH_MISSING = "compiling a network needs PyTorch, which is not installed: pip install 'resdsl[torch]'"


def require_torch() -> None:
    """Import torch, or raise an :class:`ImportError` that says how to install it (``resdsl[torch]``).

    Only compiling needs torch; ``check``, ``stats``, ``compare`` and ``render`` run without it."""
    try:
        import torch  # noqa: F401
    except ImportError as error:
        if isinstance(error, ModuleNotFoundError) and error.name == "torch":
            raise ImportError(TORCH_MISSING) from None
        raise ImportError(f"compiling a network needs PyTorch, which does not import ({error}): "
                          "reinstall it with pip install 'resdsl[torch]'") from error


def _parent(root: torch.nn.Module, path: str) -> tuple[torch.nn.Module, str]:
    """The module that holds ``path`` (made, with plain modules along the way, if new) and its last name."""
    from torch import nn

    *parents, leaf = path.split(".")
    for name in parents:
        if not hasattr(root, name):
            root.add_module(name, nn.Module())
        root = getattr(root, name)
    return root, leaf


def _install(root: torch.nn.Module, path: str, module: torch.nn.Module) -> None:
    parent, leaf = _parent(root, path)
    parent.add_module(leaf, module)


def _install_parameter(root: torch.nn.Module, path: str, form: Parameter) -> None:
    """A bare parameter at ``path`` itself: its ``state_dict`` key is the node's name."""
    import torch

    parent, leaf = _parent(root, path)
    parent.register_parameter(leaf, torch.nn.Parameter(torch.full(form.shape, float(form.fill))))


def instantiate(form: Module) -> torch.nn.Module:
    """``nn.<name>(*args, **kwargs)``, or resdsl's own class of that name (:mod:`torch_runtime`)."""
    from torch import nn

    from resdsl.backends import torch_runtime

    return getattr(torch_runtime if form.runtime else nn, form.name)(*form.args, **dict(form.kwargs))


def _function(name: str) -> Any:
    """``torch.cat``, ``F.pad``, ``operator.add``, ``getattr`` → the function."""
    import torch
    import torch.nn.functional as F

    if name == "getattr":
        return getattr
    home, attribute = name.split(".", 1)
    return getattr({"torch": torch, "F": F, "operator": operator}[home], attribute)


def _value(graph: fx.Graph, arg: Any, args: Sequence[fx.Node], weight: fx.Node | None = None) -> Any:
    """A :class:`Call` argument as fx sees it: placeholders become the input nodes (and the node's
    own parameter, ``weight``), calls new nodes."""
    if isinstance(arg, Arg):
        return args[arg.index]
    if isinstance(arg, Weight):
        return weight
    if isinstance(arg, Call):
        return graph.call_function(_function(arg.function), tuple(_value(graph, a, args, weight) for a in arg.args),
                                   {name: _value(graph, a, args, weight) for name, a in arg.kwargs})
    if isinstance(arg, (list, tuple)):
        return type(arg)(_value(graph, a, args, weight) for a in arg)
    return arg


def build_module(graph: nx.DiGraph, zero_init_residual: bool = False) -> torch.fx.GraphModule:
    """A trainable module computing ``graph``, initialized as torchvision initializes ResNets. It
    returns the output, or a dict of the outputs by name, in order, when there are several."""
    from torch import fx, nn

    root = nn.Module()
    fx_graph = fx.Graph()
    values: dict[str, fx.Node] = {}
    initialization: dict[str, tuple[Init, ...]] = {}
    inplace = inplace_relus(graph)
    nodes = graph.nodes
    for node in graph:
        producers = inputs(graph, node)
        args = [values[p] for p in producers]
        form = nodes[node]["op"].torch([nodes[p]["shape"] for p in producers])
        if form is None:  # the input
            value = fx_graph.placeholder("x")
        elif isinstance(form, Module):
            _install(root, node, instantiate(in_place(form) if node in inplace else form))
            initialization[node] = form.init
            # Named after the module path, as fx would, but never 'self': forward's first argument.
            value = fx_graph.create_node("call_module", node, tuple(args), name="self_" if node == "self" else None)
        elif isinstance(form, Parameter):
            _install_parameter(root, node, form)
            value = _value(fx_graph, form.call, args, fx_graph.get_attr(node))
        else:
            value = _value(fx_graph, form, args)
        value.meta["resdsl_node"] = node
        values[node] = value
    outputs = graph.graph["outputs"]
    if len(outputs) == 1:
        fx_graph.output(values[next(iter(outputs.values()))])
    else:  # a dict keeps the outputs' order, as torchvision's FPN returns an OrderedDict
        fx_graph.output({name: values[node] for name, node in outputs.items()})
    model = fx.GraphModule(root, fx_graph, class_name=graph.graph["name"])
    _initialize(model, initialization)
    if zero_init_residual:
        _zero_init_residual(model, graph)
    return model


def _initialize(model: torch.nn.Module, initialization: dict[str, tuple[Init, ...]]) -> None:
    """Each module's :class:`Init` steps, in ``model.modules()`` order (the order the RNG is drawn in)."""
    from torch import nn

    for name, module in model.named_modules():
        for step in initialization.get(name, ()):
            parameter = getattr(module, step.parameter)
            if parameter is not None or not step.optional:
                getattr(nn.init, step.function)(parameter, **dict(step.kwargs))


def _zero_init_residual(model: torch.nn.Module, graph: nx.DiGraph) -> None:
    """Goyal et al. 2017: each residual unit starts as the identity when its last BN is zero."""
    from torch import nn

    with_torch = dict(model.named_modules())
    for residual in graph.graph["residuals"]:
        main = inputs(graph, residual["add"])[0]
        if isinstance(graph.nodes[main]["op"], Scale):
            main = inputs(graph, main)[0]
        op = graph.nodes[main]["op"]
        if isinstance(op, BatchNorm) and op.affine:  # without an affine there is no weight to zero
            nn.init.zeros_(with_torch[main].weight)
