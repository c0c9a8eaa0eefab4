"""Values a spec computes with, and how arguments bind to parameters.

A value is an ``int``, ``float`` or ``bool``, a size (``1x7``: a tuple of ints), a :class:`Symbol`
(``auto``, ``global``, ``nearest``…) or a :class:`Ref` — a block or layer written as a value
(``shortcut: bias_projection(128, 2)``), instantiated later.
Nothing is ever evaluated as Python: expressions are arithmetic on these.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from resdsl.errors import ResdslError, Span, did_you_mean
from resdsl.frontend import ast
from resdsl.frozen import frozen
from resdsl.ir.layers import LAYERS
from resdsl.ir.schema import Check, Parameter, Symbol, boolean, describe, integer, number, one_of  # noqa: F401 — re-exported
from resdsl.limits import NUMBER_LIMIT

#: Bare words that stand for themselves where no parameter of that name is in scope.
SYMBOLS = frozenset({"auto", "identity", "project", "pad", "avgdown", "global", "nearest", "bilinear", "channels"})


class UnknownName(ResdslError):
    """A name that is no parameter, named value, word of the language or block where it is written;
    lowering rewrites it, where the name is an argument, to say what that argument takes
    (:func:`resdsl.lower.hints.unknown_argument`), and may explain why a name the network defines is
    not visible there."""

    def __init__(self, name: str, span: Span, close: str | None, hint: str | None) -> None:
        super().__init__(f"unknown name '{name}'", span, hint)
        self.name = name
        self.close = close  # the did-you-mean among the names in scope


@frozen
class Ref:
    """A call written as a value; ``positional``/``keywords`` are already evaluated where written."""

    callee: str
    positional: tuple[tuple[Any, Span], ...]
    keywords: tuple[tuple[str, Any, Span], ...]
    span: Span
    name_span: Span
    namespace: Any = field(compare=False)
    bare: bool = False  # written without arguments: called with what the residual needs (channels, stride)

    def __str__(self) -> str:
        return f"{self.callee}(...)"


Value = int | float | bool | tuple[int, ...] | Symbol | Ref


def evaluate(expr: ast.Expr, env: Mapping[str, Value], namespace: Any = None,
             values: Mapping[str, Any] | None = None) -> Value:
    """The value of an expression. A name is a parameter in ``env``, else a named value (a tensor of
    the network, in ``values``), else a symbol, else a block written as a value."""
    if isinstance(expr, ast.Number):
        return expr.value
    if isinstance(expr, ast.Size):
        return expr.dims
    if isinstance(expr, ast.Name):
        if expr.id in env:
            return env[expr.id]
        if values is not None and expr.id in values:
            return values[expr.id]
        if expr.id in SYMBOLS:
            return Symbol(expr.id)
        if namespace is not None and namespace.lookup(expr.id) is not None:
            return Ref(expr.id, (), (), expr.span, expr.span, namespace, bare=True)
        known = [*env, *(values or ())]
        close = did_you_mean(expr.id, [*known, *SYMBOLS])
        layer = f"'{expr.id}' is a built-in layer, not a value: to pass layers, define a block that uses it " \
            "and pass the block" if expr.id in LAYERS else None
        raise UnknownName(expr.id, expr.span, close, close or layer
                          or (f"names in scope: {', '.join(sorted(known))}" if known
                              else "no parameters or named values are in scope here"))
    if isinstance(expr, ast.Negate):
        return -_number(evaluate(expr.operand, env, namespace, values), expr.operand.span)
    if isinstance(expr, ast.Not):
        return not _boolean(evaluate(expr.operand, env, namespace, values), expr.operand.span, "not")
    if isinstance(expr, ast.BinaryOp):
        left_value = evaluate(expr.left, env, namespace, values)
        if expr.operator in ("and", "or"):  # short-circuit, as Python and every other language
            left_bool = _boolean(left_value, expr.left.span, expr.operator)
            if left_bool == (expr.operator == "or"):
                return left_bool
            return _boolean(evaluate(expr.right, env, namespace, values), expr.right.span, expr.operator)
        right_value = evaluate(expr.right, env, namespace, values)
        if expr.operator in ("==", "!="):
            for value, side in ((left_value, expr.left), (right_value, expr.right)):
                if not isinstance(value, (int, float, bool, tuple, Symbol)):
                    raise ResdslError(f"'{expr.operator}' compares numbers, sizes, true/false and words like "
                                      f"auto, got {describe(value)}", side.span)
            return (left_value == right_value) == (expr.operator == "==")
        left = _number(left_value, expr.left.span)
        right = _number(right_value, expr.right.span)
        if expr.operator in _ORDER:
            return _ORDER[expr.operator](left, right)
        return _arithmetic(expr, left, right)
    if isinstance(expr, ast.CallValue):
        positional, keywords = evaluate_args(expr.args, env, namespace, values)
        return Ref(expr.callee, positional, keywords, expr.span, expr.name_span, namespace)
    raise TypeError(f"not an expression: {expr!r}")


_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _boolean(value: Value, span: Span, word: str) -> bool:
    if not isinstance(value, bool):
        raise ResdslError(f"'{word}' needs true or false, got {describe(value)}", span,
                          "compare numbers to get true or false: stride > 1, shortcut == avgdown")
    return value


def _number(value: Value, span: Span) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResdslError(f"arithmetic needs numbers, got {describe(value)}", span)
    return value


def _arithmetic(expr: ast.BinaryOp, left: int | float, right: int | float) -> int | float:
    if expr.operator in ("/", "//", "%") and right == 0:
        raise ResdslError("division by zero", expr.right.span)
    result = {
        "+": lambda: left + right, "-": lambda: left - right, "*": lambda: left * right,
        "/": lambda: left / right, "//": lambda: left // right, "%": lambda: left % right,
    }[expr.operator]()
    if not abs(result) <= NUMBER_LIMIT:  # also catches nan
        raise ResdslError(f"value {result:.3g} is too large", expr.span, "numbers in a spec are at most 2**48")
    return result


Positional = tuple[tuple[Value, Span], ...]
Keywords = tuple[tuple[str, Value, Span], ...]


def evaluate_args(args: tuple[ast.Arg, ...], env: Mapping[str, Value], namespace: Any = None,
                  values: Mapping[str, Any] | None = None) -> tuple[Positional, Keywords]:
    positional: list[tuple[Value, Span]] = []
    keywords: list[tuple[str, Value, Span]] = []
    seen: set[str] = set()
    for arg in args:
        value = evaluate(arg.value, env, namespace, values)
        if arg.keyword is None:
            if keywords:
                raise ResdslError("a positional argument follows a keyword argument", arg.span,
                                  "write positional arguments first")
            positional.append((value, arg.span))
        else:
            if arg.keyword in seen:
                raise ResdslError(f"argument '{arg.keyword}' is given twice", arg.span)
            seen.add(arg.keyword)
            keywords.append((arg.keyword, value, arg.span))
    return tuple(positional), tuple(keywords)


def bind(callee: str, parameters: tuple[Parameter, ...], positional: Positional, keywords: Keywords, span: Span,
         aliases: dict[str, str] | None = None) -> dict[str, Value]:
    """Match evaluated arguments to parameters: arity, names, types; defaults filled in."""
    names = [p.name for p in parameters]
    if len(positional) > len(parameters):
        extra_span = positional[len(parameters)][1]
        raise ResdslError(f"{callee} takes at most {len(parameters)} positional argument"
                          f"{'s' if len(parameters) != 1 else ''}, got {len(positional)}", extra_span,
                          f"{callee}({', '.join(names)})" if names else f"write '{callee}' without arguments")
    bound: dict[str, Value] = {}
    spans: dict[str, Span] = {}
    for parameter, (value, arg_span) in zip(parameters, positional):
        bound[parameter.name], spans[parameter.name] = value, arg_span
    for keyword, value, arg_span in keywords:
        if keyword not in names:
            raise ResdslError(f"{callee} has no argument '{keyword}'", arg_span,
                              did_you_mean(keyword, names, aliases)
                              or (f"its arguments are: {', '.join(names)}" if names
                                  else f"{callee} takes no arguments"))
        if keyword in bound:
            raise ResdslError(f"argument '{keyword}' of {callee} is given twice", arg_span)
        bound[keyword], spans[keyword] = value, arg_span
    for parameter in parameters:
        if parameter.name not in bound:
            if parameter.required:
                raise ResdslError(f"{callee} needs argument '{parameter.name}'", span,
                                  f"{callee}({', '.join(names)})")
            bound[parameter.name] = parameter.default
        elif parameter.check is not None:
            problem = parameter.check(bound[parameter.name])
            if problem:
                raise ResdslError(f"{callee} argument '{parameter.name}' {problem}", spans[parameter.name],
                                  f"{callee}({', '.join(names)})")
    return bound
