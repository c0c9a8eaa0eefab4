"""The syntax tree: frozen dataclasses, each with the span it was written at.

The Lark tree never leaves the frontend; everything after parsing sees these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from resdsl.errors import Span


# --- expressions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: int | float | bool
    span: Span


@dataclass(frozen=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True)
class BinaryOp:
    operator: str  # one of + - * / // %
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Negate:
    operand: Expr
    span: Span


@dataclass(frozen=True)
class CallValue:
    """``bias_projection(128, 2)`` written as a value: a block to instantiate later (a custom shortcut)."""

    callee: str
    args: tuple[Arg, ...]
    span: Span
    name_span: Span


Expr = Union[Number, Name, BinaryOp, Negate, CallValue]


@dataclass(frozen=True)
class Arg:
    keyword: str | None  # None for a positional argument
    value: Expr
    span: Span


# --- steps: what a body is a sequence of -----------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """A call of a built-in layer or of a block: ``fc: linear(classes)``, ``basic(64) * 2 as c2``."""

    callee: str
    args: tuple[Arg, ...]
    label: str | None
    repeat: Expr | None
    alias: str | None
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Group:
    """``name: { ... }``: a named scope, the module path of the layers inside."""

    label: str
    body: tuple[Step, ...]
    alias: str | None
    span: Span


@dataclass(frozen=True)
class Residual:
    """``residual(shortcut: auto) { main path }``: out = main(x) * scale + shortcut(x)."""

    args: tuple[Arg, ...]
    body: tuple[Step, ...]
    alias: str | None
    span: Span


@dataclass(frozen=True)
class MergeValues:
    """``add(c3)``, ``concat(a, b)``: merge the current value with named ones."""

    kind: str  # "add" | "concat"
    args: tuple[Arg, ...]
    alias: str | None
    span: Span


@dataclass(frozen=True)
class MergeBranches:
    """``concat { a | b }``: run each branch on the current value, then merge."""

    kind: str
    branches: tuple[tuple[Step, ...], ...]
    alias: str | None
    span: Span


Step = Union[Layer, Group, Residual, MergeValues, MergeBranches]


# --- network-level statements ---------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    dims: tuple[int, ...]
    span: Span


@dataclass(frozen=True)
class Stage:
    """``stage layer2 = bottleneck(128) * 4, first(stride: 2)`` or ``stage enc { ... }``."""

    name: str
    call: Layer | None  # the repeated block (repeat form)
    first: tuple[Arg, ...]
    body: tuple[Step, ...]  # (body form)
    alias: str | None
    span: Span


@dataclass(frozen=True)
class Section:
    """``stem { ... }`` / ``head { ... }``: a stage whose layers keep network-level names."""

    name: str
    body: tuple[Step, ...]
    span: Span


@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[Step, ...]
    span: Span


NetworkItem = Union[BlockDef, Input, Stage, Section, Step]


@dataclass(frozen=True)
class NetworkDef:
    name: str
    params: tuple[Param, ...]
    items: tuple[NetworkItem, ...]
    span: Span


@dataclass(frozen=True)
class Import:
    path: str | None  # None: the standard library
    names: tuple[tuple[str, Span], ...] | None  # None: every block
    span: Span


@dataclass(frozen=True)
class SourceFile:
    path: str
    imports: tuple[Import, ...]
    blocks: tuple[BlockDef, ...]
    networks: tuple[NetworkDef, ...]
