"""Hints for an argument given a name nothing defines (``padding: same``, ``shortcut: conv``): what the
argument takes, in the words of the parameter's own rule (:class:`~resdsl.ir.schema.Rule`).

A block's parameter has no rule of its own, but the block passes it on: ``basic(64, shortcut: conv)``
is explained by the ``residual(shortcut: shortcut)`` inside ``basic``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from resdsl.errors import ResdslError, did_you_mean
from resdsl.frontend import ast
from resdsl.frontend.namespace import Namespace
from resdsl.ir.layers import LAYERS
from resdsl.ir.schema import Parameter, choices, describe, takes
from resdsl.limits import MAX_NESTING
from resdsl.lower.values import UnknownName

#: The parameters of every built-in call, the language's constructs included (``residual``).
Signatures = Mapping[str, tuple[Parameter, ...]]


def unknown_argument(error: UnknownName, callee: str, args: tuple[ast.Arg, ...], namespace: Namespace,
                     signatures: Signatures) -> ResdslError:
    """``error`` (an unknown name), said as what the argument it was given to takes; ``error`` itself
    when the name is not an argument of its own or nothing says what the argument takes."""
    positional = [arg for arg in args if arg.keyword is None]
    arg = next((a for a in args if isinstance(a.value, ast.Name) and a.value.span == error.span), None)
    if arg is None:
        return error
    index = positional.index(arg) if arg.keyword is None else None
    found = _parameter(callee, arg.keyword, index, namespace, signatures, 0)
    if found is None:
        return error
    parameter, path = found
    rule = takes(parameter.check)
    if rule is None:
        return error
    message = f"unknown name '{error.name}' for {callee}'s argument '{path[0]}'"
    said = f"{parameter.name} takes {rule}"
    if len(path) > 1:  # passed on: say where it goes
        said = f"{callee} passes '{path[0]}' to {' → '.join(path[1:])}, which takes {rule}"
    parts = [said]
    default = _default(parameter) if len(path) == 1 else None  # passed on: the block's own default applies
    if default is not None:
        parts.append(f"left out, it is {default}")
    if error.name in LAYERS:
        parts.append(f"'{error.name}' is a layer, not a value")
    close = did_you_mean(error.name, choices(parameter.check)) or error.close
    if not close and not choices(parameter.check) and error.hint and error.hint.startswith("names in scope"):
        parts.append(error.hint)
    return ResdslError(message, error.span, f"{close} " * bool(close) + "; ".join(parts))


def _default(parameter: Parameter) -> str | None:
    """The value an argument left out takes: its default, or the formula the docs show for one computed
    from other arguments (``dilation * (k // 2)``); not the docs' descriptions of what it may be."""
    if parameter.required:
        return None
    if parameter.default is not None:
        return describe(parameter.default)
    shown = parameter.shown
    return shown if shown is not None and ";" not in shown and "unless" not in shown else None


def _parameter(callee: str, keyword: str | None, index: int | None, namespace: Namespace, signatures: Signatures,
               depth: int) -> tuple[Parameter, list[str]] | None:
    """The parameter an argument binds to, and the path it travels (``shortcut``, then
    ``residual's shortcut`` where a block passes it on), down to one with a rule."""
    if callee in signatures:
        parameters = signatures[callee]
        parameter = _select(parameters, keyword, index)
        return (parameter, [parameter.name]) if parameter is not None else None
    found = namespace.lookup(callee)
    if found is None or depth >= MAX_NESTING:
        return None
    block, home = found
    names = [param.name for param in block.params]
    name = keyword if keyword in names else names[index] if index is not None and index < len(names) else None
    if name is None:
        return None
    for inner, inner_keyword, inner_index in _uses(block.body, name):
        passed = _parameter(inner, inner_keyword, inner_index, home, signatures, depth + 1)
        if passed is not None and takes(passed[0].check) is not None:
            where = f"{inner}'s {passed[1][0]}" if len(passed[1]) == 1 else passed[1][-1]
            return passed[0], [name, where]
    return None


def _select(parameters: tuple[Parameter, ...], keyword: str | None, index: int | None) -> Parameter | None:
    if keyword is not None:
        return next((p for p in parameters if p.name == keyword), None)
    return parameters[index] if index is not None and index < len(parameters) else None


def _uses(steps: tuple[ast.Step, ...], name: str) -> Iterator[tuple[str, str | None, int | None]]:
    """Where a body passes its parameter ``name`` on, as it is: (callee, keyword, position)."""
    for step in steps:
        calls: list[tuple[str, tuple[ast.Arg, ...]]] = []
        if isinstance(step, ast.Layer):
            calls = [(step.callee, step.args), (step.callee, step.first)]
        elif isinstance(step, ast.Residual):
            calls = [("residual", step.args)]
        for callee, args in calls:
            positional = [arg for arg in args if arg.keyword is None]
            for arg in args:
                if isinstance(arg.value, ast.Name) and arg.value.id == name:
                    yield callee, arg.keyword, positional.index(arg) if arg.keyword is None else None
        for body in ast.bodies(step):
            yield from _uses(body, name)
