"""Argument schemas: the parameters a built-in layer takes, their checks and defaults.

Torch-free and independent of lowering, so that an op's definition (:mod:`resdsl.ir.ops`) can state
its own language name and arguments. A check returns what is wrong with a value, or None:

>>> integer(1)(0), integer(1)(3), one_of("global", also=integer(1))(Symbol("global"))
('must be at least 1, got 0', None, None)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resdsl.frozen import frozen

#: A value a spec computes with: int, float, bool, :class:`Symbol` or a lowering's call reference.
Value = Any


@frozen
class Symbol:
    name: str

    def __str__(self) -> str:
        return self.name


def describe(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return str(value)


Check = Callable[[Value], str | None]  # returns what is wrong, or None


class Rule:
    """A :data:`Check` that can also say, in words, what it takes (``takes``): the hint for an argument
    given something it cannot be (``padding: same``) comes from the parameter's own rule. ``choices``
    are the words it takes (``auto``, ``global``), each with what it means where that helps.

    >>> rule = one_of("nearest", "bilinear")
    >>> rule(Symbol("bilinear")), rule(2), rule.takes
    (None, 'must be one of nearest, bilinear, got 2', 'nearest or bilinear')
    """

    def __init__(self, test: Check, takes: str, choices: tuple[str, ...] = ()) -> None:
        self.test = test
        self.takes = takes
        self.choices = choices

    def __call__(self, value: Value) -> str | None:
        return self.test(value)


def takes(check: Check | None) -> str | None:
    """What ``check`` takes, in words, where it says (a :class:`Rule`)."""
    return check.takes if isinstance(check, Rule) else None


def choices(check: Check | None) -> tuple[str, ...]:
    """The words ``check`` takes (``global``, ``channels``...), where it says."""
    return check.choices if isinstance(check, Rule) else ()


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


class NamedValue:
    """What a named value (``as c4``) is to a layer's arguments: lowering's tensors derive from it, and
    a layer argument that takes one (``upsample(to: c4)``) makes that value another input of the op."""


named_value = Rule(lambda value: None if isinstance(value, NamedValue) else
                   f"must be a named value, got {describe(value)}", "a named value (one named with 'as NAME')")


def integer(minimum: int = 1) -> Rule:
    def check(value: Value) -> str | None:
        if isinstance(value, float) and not isinstance(value, bool):
            advice = " (use // for integer division)" if value.is_integer() else ""
            return f"must be an integer, got {value:g}{advice}"
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, got {describe(value)}"
        if value < minimum:
            return f"must be at least {minimum}, got {value}"
        return None
    return Rule(check, f"an integer of at least {minimum}")


def size(minimum: int = 1, dims: int = 2) -> Rule:
    """An integer, the same along every spatial axis, or one per axis written ``HxW`` (``k: 1x7``).

    >>> size(1)((1, 7)), size(0)(3), size(1)((1, 7, 7)), size(1)((0, 2))
    (None, None, 'takes one size or 2 written HxW, got 1x7x7', 'must be at least 1, got 0x2')
    """
    single = integer(minimum)

    def check(value: Value) -> str | None:
        if not isinstance(value, tuple):
            return single(value)
        if len(value) != dims:
            return f"takes one size or {dims} written HxW, got {describe(value)}"
        if min(value) < minimum:
            return f"must be at least {minimum}, got {describe(value)}"
        return None
    return Rule(check, f"a size: an integer of at least {minimum}, or one per axis written HxW (such as 1x7)")


def number(minimum: float = 0.0, maximum: float | None = None) -> Rule:
    def check(value: Value) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, got {describe(value)}"
        if value < minimum or (maximum is not None and value > maximum):
            return f"must be between {minimum:g} and {maximum:g}, got {value:g}" if maximum is not None \
                else f"must be at least {minimum:g}, got {value:g}"
        return None
    within = f"from {minimum:g} to {maximum:g}" if maximum is not None else \
        "" if minimum <= -1e9 else f"of at least {minimum:g}"
    return Rule(check, f"a number {within}".strip())


boolean = Rule(lambda value: None if isinstance(value, bool) else f"must be true or false, got {describe(value)}",
               "true or false")


def one_of(*choices: str, also: Check | None = None, meaning: dict[str, str] | None = None) -> Rule:
    """One of the words ``choices``, or what ``also`` accepts (besides words). ``meaning`` says what
    a word does, for the hint of an argument given an unknown word (``shortcut: conv``)."""
    def check(value: Value) -> str | None:
        if isinstance(value, Symbol) and value.name in choices:
            return None
        if also is not None and not isinstance(value, Symbol) and also(value) is None:
            return None
        return f"must be one of {', '.join(choices)}, got {describe(value)}"
    words = [f"{word} ({meaning[word]})" if meaning and word in meaning else word for word in choices]
    other = takes(also)
    return Rule(check, _either([*words, other] if other else words), choices)


@frozen
class Parameter:
    """One argument of a layer or block. ``shown`` is how the docs write a default that lowering
    computes from other arguments (``dilation * (k // 2)``), where ``default`` is None."""

    name: str
    check: Check | None = None
    default: Any = None
    required: bool = False
    shown: str | None = None


@frozen
class Layer:
    """How the language writes an op: ``conv(channels, k: 3, ...)``. Its op class builds the op from
    the bound arguments (:meth:`~resdsl.ir.ops.Op.from_arguments`); ``summary`` is the README's line."""

    name: str
    parameters: tuple[Parameter, ...]
    summary: str
