"""The PyTorch source backend: an IR graph as a standalone, readable ``.py`` file.

The file defines one ``nn.Module`` class and needs only torch. Submodules sit in ``nn.ModuleDict``
containers along the node names (one statement each), so its ``state_dict`` keys are those of :mod:`torch_module`'s
module; ``forward`` has one line per node. The same spec always gives the same bytes.
"""

from __future__ import annotations

import json
import keyword
from pathlib import PurePath
from typing import Any

import networkx as nx

from resdsl.ir import ops
from resdsl.ir.graph import inputs
from resdsl.ir.torch_form import Arg, Call, Init, Module, in_place
from resdsl.passes.inplace import inplace_relus

#: Python operators, written infix.
_INFIX = {"operator.add": "+", "operator.mul": "*"}


def _module(form: Module) -> str:
    """``nn.Conv2d(64, 128, 3, stride=2, bias=False)``."""
    args = [repr(arg) for arg in form.args] + [f"{name}={value!r}" for name, value in form.kwargs]
    return f"nn.{form.name}({', '.join(args)})"


def _expression(arg: Any, variables: list[str]) -> str:
    """A :class:`Call` or one of its arguments as Python source; inputs are ``variables``."""
    if isinstance(arg, Arg):
        return variables[arg.index]
    if isinstance(arg, Call):
        args = [_expression(a, variables) for a in arg.args]
        if arg.function in _INFIX:  # left-nested chains need no parentheses: a + b + c
            right = arg.args[1]
            if isinstance(right, Call) and right.function in _INFIX:
                args[1] = f"({args[1]})"
            return f" {_INFIX[arg.function]} ".join(args)
        if arg.function == "getattr":  # a name, checked: x.shape
            assert isinstance(arg.args[1], str) and arg.args[1].isidentifier()
            return f"{args[0]}.{arg.args[1]}"
        if arg.function == "operator.getitem":
            index = arg.args[1]  # a tuple index is written bare: x[:, :, ::2, ::2]
            written = ", ".join(_expression(i, variables) for i in index) if isinstance(index, tuple) else args[1]
            return f"{args[0]}[{written}]"
        args += [f"{name}={_expression(a, variables)}" for name, a in arg.kwargs]
        return f"{arg.function}({', '.join(args)})"
    if isinstance(arg, list):
        return f"[{', '.join(_expression(a, variables) for a in arg)}]"
    if isinstance(arg, tuple):
        return f"({', '.join(_expression(a, variables) for a in arg)}{',' if len(arg) == 1 else ''})"
    if isinstance(arg, slice):
        bounds = ["" if bound is None else repr(bound) for bound in (arg.start, arg.stop)]
        return ":".join(bounds if arg.step is None else [*bounds, repr(arg.step)])
    return repr(arg)


def _initialization(forms: dict[str, tuple[Init, ...]]) -> list[str]:
    """The loop that initializes the modules: one branch per initialization, for the ``nn`` classes
    that use it, in order of first use."""
    classes: dict[tuple[Init, ...], list[str]] = {}
    for name, init in forms.items():
        if init:
            classes.setdefault(init, []).append(name)
    lines = []
    for branch, (init, names) in enumerate(classes.items()):
        test = f"nn.{names[0]}" if len(names) == 1 else f"({', '.join(f'nn.{name}' for name in names)})"
        lines.append(f"            {'elif' if branch else 'if'} isinstance(module, {test}):")
        for step in init:
            kwargs = "".join(f", {key}={json.dumps(value)}" for key, value in step.kwargs)
            call = f"nn.init.{step.function}(module.{step.parameter}{kwargs})"
            if step.optional:
                lines += [f"                if module.{step.parameter} is not None:", f"                    {call}"]
            else:
                lines.append(f"                {call}")
    return ["        for module in self.modules():  # as torchvision initializes ResNets", *lines] if lines else []


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
    inplace = inplace_relus(graph)
    init = []
    initialization: dict[str, tuple[Init, ...]] = {}  # nn class → its initialization
    containers: set[str] = set()
    body = []
    for node in graph:
        producers = inputs(graph, node)
        form = nodes[node]["op"].torch([nodes[p]["shape"] for p in producers])
        args = [variable[p] for p in producers]
        if form is None:  # the input: forward's argument
            continue
        if isinstance(form, Module):
            parts = node.split(".")
            for depth in range(1, len(parts)):
                container = ".".join(parts[:depth])
                if container not in containers:
                    containers.add(container)
                    init.append(f"        {_access(container)} = nn.ModuleDict()")
            init.append(f"        {_access(node)} = {_module(in_place(form) if node in inplace else form)}")
            initialization.setdefault(form.name, form.init)
            expression = f"{_access(node)}({args[0]})"
        else:
            expression = _expression(form, args)
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
        *_initialization(initialization),
        "",
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
        *body,
        f"        return {output}",
        "",
    ])
