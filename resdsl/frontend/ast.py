"""The syntax tree: frozen dataclasses, each with the span it was written at.

The Lark tree never leaves the frontend; everything after parsing sees these.
"""

from __future__ import annotations

from resdsl.errors import Span
from resdsl.frozen import frozen

# --- expressions -------------------------------------------------------------------------------


@frozen
class Number:
    value: int | float | bool
    span: Span


@frozen
class Size:
    """``1x7``: a size per spatial axis (an asymmetric kernel, stride or padding; an output size)."""

    dims: tuple[int, ...]
    span: Span


@frozen
class Name:
    id: str
    span: Span


@frozen
class BinaryOp:
    operator: str  # one of + - * / // %
    left: Expr
    right: Expr
    span: Span


@frozen
class Negate:
    operand: Expr
    span: Span


@frozen
class CallValue:
    """``bias_projection(128, 2)`` written as a value: a block to instantiate later (a custom shortcut)."""

    callee: str
    args: tuple[Arg, ...]
    span: Span
    name_span: Span


Expr = Number | Size | Name | BinaryOp | Negate | CallValue


@frozen
class Arg:
    keyword: str | None  # None for a positional argument
    value: Expr
    span: Span


# --- steps: what a body is a sequence of -----------------------------------------------------------


@frozen
class Layer:
    """A call of a built-in layer or of a block: ``fc: linear(classes)``, ``basic(64) * 2 as c2``."""

    callee: str
    args: tuple[Arg, ...]
    label: str | None
    repeat: Expr | None
    alias: str | None
    span: Span
    name_span: Span


@frozen
class Group:
    """``name: { ... }``: a named scope, the module path of the layers inside."""

    label: str
    body: tuple[Step, ...]
    alias: str | None
    span: Span


@frozen
class Residual:
    """``residual(shortcut: auto) { main path }``: out = main(x) * scale + shortcut(x)."""

    args: tuple[Arg, ...]
    body: tuple[Step, ...]
    alias: str | None
    span: Span


@frozen
class MergeValues:
    """``add(c3)``, ``concat(a, b)``: merge the current value with named ones."""

    kind: str  # "add" | "concat"
    args: tuple[Arg, ...]
    alias: str | None
    span: Span


@frozen
class MergeBranches:
    """``concat { a | b }``: run each branch on the current value, then merge."""

    kind: str
    branches: tuple[tuple[Step, ...], ...]
    alias: str | None
    span: Span


Step = Layer | Group | Residual | MergeValues | MergeBranches


# --- network-level statements ---------------------------------------------------------------------


@frozen
class Input:
    dims: tuple[int, ...]
    span: Span


@frozen
class RepeatStage:
    """``stage layer2 = bottleneck(128) * 4, first(stride: 2)``: one block called ``repeat`` times (once
    when no count is written), the first call with the ``first`` arguments overriding its keywords."""

    name: str
    callee: str
    args: tuple[Arg, ...]
    repeat: Expr | None
    first: tuple[Arg, ...]
    alias: str | None
    span: Span  # the whole statement
    name_span: Span  # the callee's name


@frozen
class BodyStage:
    """``stage enc1 { double_conv(width) }``: a stage written out step by step."""

    name: str
    body: tuple[Step, ...]
    alias: str | None
    span: Span


Stage = RepeatStage | BodyStage


@frozen
class Section:
    """``stem { ... }`` / ``head { ... }``: a stage whose layers keep network-level names."""

    name: str
    body: tuple[Step, ...]
    span: Span


@frozen
class Param:
    name: str
    default: Expr | None
    span: Span


@frozen
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[Step, ...]
    span: Span


NetworkItem = BlockDef | Input | RepeatStage | BodyStage | Section | Step


@frozen
class NetworkDef:
    name: str
    params: tuple[Param, ...]
    items: tuple[NetworkItem, ...]
    span: Span


@frozen
class Import:
    path: str | None  # None: the standard library
    names: tuple[tuple[str, Span], ...] | None  # None: every block
    span: Span


@frozen
class SourceFile:
    path: str
    imports: tuple[Import, ...]
    blocks: tuple[BlockDef, ...]
    networks: tuple[NetworkDef, ...]
