"""The PyTorch source backend: an IR graph as a standalone, readable ``.py`` file.

The file defines the network's ``nn.Module`` class, and the module classes of resdsl's own it uses
(:mod:`torch_runtime`, copied as written there), and needs only torch. Submodules sit in ``nn.ModuleDict``
containers along the node names (one statement each), so its ``state_dict`` keys are those of :mod:`torch_module`'s
module; ``forward`` has one line per node. The same spec always gives the same bytes.
"""

from __future__ import annotations

import ast
import json
import keyword
from dataclasses import replace
from functools import cache
from pathlib import Path, PurePath
from typing import Any

import networkx as nx

from resdsl.ir import ops
from resdsl.ir.graph import inputs
from resdsl.ir.torch_form import Arg, Call, Init, Module, Parameter, Weight, in_place
from resdsl.passes.inplace import inplace_relus

#: Python operators, written infix.
_INFIX = {"operator.add": "+", "operator.mul": "*"}


def _class(form: Module) -> str:
    """The class as the generated file names it: ``nn.Conv2d``, or ``DropPath`` (defined in the file)."""
    return form.name if form.runtime else f"nn.{form.name}"


def _module(form: Module) -> str:
    """``nn.Conv2d(64, 128, 3, stride=2, bias=False)``."""
    args = [repr(arg) for arg in form.args] + [f"{name}={value!r}" for name, value in form.kwargs]
    return f"{_class(form)}({', '.join(args)})"


@cache
def runtime_classes() -> dict[str, str]:
    """resdsl's own module classes (:mod:`torch_runtime`) by name, each as the source text that
    defines it, read from the file (torch is not imported)."""
    text = (Path(__file__).parent / "torch_runtime.py").read_text(encoding="utf-8")
    return {node.name: ast.get_source_segment(text, node) or "" for node in ast.parse(text).body
            if isinstance(node, ast.ClassDef)}


def _expression(arg: Any, variables: list[str], weight: str = "") -> str:
    """A :class:`Call` or one of its arguments as Python source; inputs are ``variables``, and
    ``weight`` is how the node's own parameter is read (a :class:`Parameter` form's)."""
    if isinstance(arg, Arg):
        return variables[arg.index]
    if isinstance(arg, Weight):
        return weight
    if isinstance(arg, Call):
        args = [_expression(a, variables, weight) for a in arg.args]
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
            written = ", ".join(_expression(i, variables, weight) for i in index) \
                if isinstance(index, tuple) else args[1]
            return f"{args[0]}[{written}]"
        args += [f"{name}={_expression(a, variables)}" for name, a in arg.kwargs]
        return f"{arg.function}({', '.join(args)})"
    if isinstance(arg, list):
        return f"[{', '.join(_expression(a, variables, weight) for a in arg)}]"
    if isinstance(arg, tuple):
        return f"({', '.join(_expression(a, variables, weight) for a in arg)}{',' if len(arg) == 1 else ''})"
    if isinstance(arg, slice):
        bounds = ["" if bound is None else repr(bound) for bound in (arg.start, arg.stop)]
        return ":".join(bounds if arg.step is None else [*bounds, repr(arg.step)])
    return repr(arg)


def _class_initialization(inits: dict[tuple[Init, ...], None]) -> tuple[Init, ...]:
    """One initialization for every module of a class: the one its modules state, or, where they
    differ (batch norm with and without an affine), each of their steps, applied only to a parameter
    the module has (the in-process module applies each module's own; both agree)."""
    if len(inits) == 1:
        return next(iter(inits))
    steps = {replace(step, optional=True): None for init in inits for step in init}
    return tuple(steps)


def _initialization(forms: dict[str, dict[tuple[Init, ...], None]]) -> list[str]:
    """The loop that initializes the modules: one branch per initialization, for the classes (as the
    file names them) that use it, in order of first use."""
    classes: dict[tuple[Init, ...], list[str]] = {}
    for name, inits in forms.items():
        init = _class_initialization(inits)
        if init:
            classes.setdefault(init, []).append(name)
    lines = []
    for branch, (init, names) in enumerate(classes.items()):
        test = names[0] if len(names) == 1 else f"({', '.join(names)})"
        lines.append(f"            {'elif' if branch else 'if'} isinstance(module, {test}):")
        for step in init:
            kwargs = "".join(f", {key}={json.dumps(value)}" for key, value in step.kwargs)
            call = f"nn.init.{step.function}(module.{step.parameter}{kwargs})"
            if step.optional:
                lines += [f"                if module.{step.parameter} is not None:", f"                    {call}"]
            else:
                lines.append(f"                {call}")
    return ["        for module in self.modules():  # as torchvision initializes ResNets", *lines] if lines else []


#: Names the generated file itself uses (resdsl's own module classes too, whether it defines them or not).
_RESERVED = {"x", "self", "torch", "nn", "F", "SPEC", *runtime_classes()}


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
    """``layer1.0.conv1`` → ``self.layer1['0']['conv1']``: the module at that path (a top-level name
    that is not an identifier, ``0``, is read with ``getattr``; the rest are string literals)."""
    first, *rest = node.split(".")
    top = f"self.{first}" if first.isidentifier() and not keyword.iskeyword(first) else f"getattr(self, {first!r})"
    return top + "".join(f"[{part!r}]" for part in rest)


def _install(node: str, expression: str) -> str:
    """The statement putting a module at ``node``'s path."""
    first, *rest = node.split(".")
    if not rest and not (first.isidentifier() and not keyword.iskeyword(first)):
        return f"        self.add_module({first!r}, {expression})"
    return f"        {_access(node)} = {expression}"


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
    initialization: dict[str, dict[tuple[Init, ...], None]] = {}  # class → its modules' initializations
    defined: dict[str, None] = {}  # resdsl's own classes the file defines, in order of first use
    containers: set[str] = set()
    body = []
    for node in graph:
        producers = inputs(graph, node)
        form = nodes[node]["op"].torch([nodes[p]["shape"] for p in producers])
        args = [variable[p] for p in producers]
        if form is None:  # the input: forward's argument
            continue
        if isinstance(form, (Module, Parameter)):
            parts = node.split(".")
            for depth in range(1, len(parts)):
                container = ".".join(parts[:depth])
                if container not in containers:
                    containers.add(container)
                    init.append(_install(container, "nn.ModuleDict()"))
        if isinstance(form, Parameter):
            owner, _, leaf = node.rpartition(".")
            holder = _access(owner) if owner else "self"
            tensor = f"torch.full({_expression(form.shape, [])}, {float(form.fill)!r})"
            init.append(f"        {holder}.register_parameter({leaf!r}, nn.Parameter({tensor}))")
            read = f"{holder}.{leaf}" if leaf.isidentifier() and not keyword.iskeyword(leaf) else \
                f"getattr({holder}, {leaf!r})"
            expression = _expression(form.call, args, read)
        elif isinstance(form, Module):
            init.append(_install(node, _module(in_place(form) if node in inplace else form)))
            initialization.setdefault(_class(form), {})[form.init] = None
            if form.runtime:
                defined[form.name] = None
            expression = f"{_access(node)}({args[0]})"
        else:
            expression = _expression(form, args)
        body.append(f"        {variable[node]} = {expression}  # {ops.format_shape(nodes[node]['shape'])}")
    outputs = graph.graph["outputs"]
    if len(outputs) == 1:
        returned, annotation = variable[next(iter(outputs.values()))], "torch.Tensor"
    else:  # the outputs by name, in order (keys are repr literals)
        returned = "{" + ", ".join(f"{name!r}: {variable[node]}" for name, node in outputs.items()) + "}"
        annotation = "dict[str, torch.Tensor]"
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
        *(line for name in defined for line in (runtime_classes()[name], "", "")),
        f"class {name}(nn.Module):",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *init,
        *_initialization(initialization),
        "",
        f"    def forward(self, x: torch.Tensor) -> {annotation}:",
        *body,
        f"        return {returned}",
        "",
    ])
