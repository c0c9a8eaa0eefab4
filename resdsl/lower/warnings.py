"""Warnings: what a spec says that is legal but likely not meant, found while lowering it.

- a projection shortcut written on a unit whose shape does not change (:meth:`Warnings.projection`):
  parameters where an identity would do, as a ResNet-50-D with ``shortcut: avgdown`` on every unit
  (40.1M parameters instead of 25.6M);
- a named value nothing reads (:meth:`Warnings.bind`, reported by :meth:`Warnings.finish`);
- a layer whose stride is larger than its kernel (:meth:`Warnings.skipped_pixels`): input pixels
  that never reach the output.

Each is a :class:`~resdsl.errors.ResdslError` at a place in the user's own files: a warning inside a
block of the standard library is reported at the user's call of it. A block instanced many times
gives one warning per place, counted: ``(in 16 instances)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from resdsl.errors import ResdslError, Span
from resdsl.frontend.loader import in_std
from resdsl.ir import ops
from resdsl.ir.ops import format_shape
from resdsl.lower.scope import Values

_AXES = ("rows", "columns")


class Warnings:
    """The warnings of one lowering: one per place (and per construct behind it), with its count."""

    def __init__(self) -> None:
        self._found: dict[tuple[Span, Span, str], list[Any]] = {}  # (where, what, kind) → [warning, instances]
        self._bound: list[tuple[dict, str, Span, tuple[Span, ...], Any]] = []  # named values, checked at the end

    def add(self, kind: str, span: Span, sites: Sequence[Span], message: str, hint: str) -> None:
        """A warning about what is written at ``span``, expanded from the block calls at ``sites``
        (outermost first); the first instance's message is kept."""
        where = user_span(span, sites)
        entry = self._found.setdefault((where, span, kind), [ResdslError(message, where, hint), 0])
        entry[1] += 1

    def projection(self, written: str, unit: str | None, shape: ops.Shape, auto: str, span: Span,
                   sites: Sequence[Span]) -> None:
        """``shortcut: written`` projects the unit named ``unit`` (None: at the network's top level),
        whose shape does not change (``auto``: how to write it projecting only where the shape changes)."""
        which = f"{unit}, whose" if unit else "a unit whose"
        self.add("projection", span, sites, f"shortcut: {written} projects {which} shape does not change "
                 f"({format_shape(shape)})",
                 f"a projection where an identity would do adds parameters; {auto} projects only where the shape "
                 "changes")

    def skipped_pixels(self, op: ops.Op, inputs: list[ops.Shape], span: Span, sites: Sequence[Span]) -> None:
        """``op`` steps further than its window reaches, along either axis: some input pixels never
        reach the output. Read from the op's own :meth:`~resdsl.ir.ops.Op.reads`."""
        if len(inputs[0]) != 3:
            return
        skipped = []
        for axis, name in enumerate(_AXES):
            first, second = op.reads(inputs, axis, 0, 0), op.reads(inputs, axis, 1, 1)
            if first is None or second is None:
                continue
            width, step = first[1] - first[0] + 1, second[0] - first[0]
            if step > width and inputs[0][1 + axis] > width:
                skipped.append((width, step, name))
        if not skipped or (all(width == 1 for width, _, _ in skipped) and not op.params(inputs)):
            return  # a window of one pixel and no weights pools nothing: it subsamples, on purpose (FPN's P6)
        if len(skipped) == 2 and skipped[0][:2] == skipped[1][:2]:
            reads = f"{skipped[0][0]} of every {skipped[0][1]} rows and columns"
        else:
            reads = ", ".join(f"{width} of every {step} {name}" for width, step, name in skipped)
        self.add("stride", span, sites, f"{op.kind}'s stride is larger than its kernel: it reads {reads}, and the "
                 "other pixels never reach the output",
                 "make its kernel at least as large as its stride, or give the stride to a layer with a larger "
                 "kernel" + (" (ResNet v1.5 moved it from the first 1x1 conv to the 3x3)" if op.weighted else ""))

    def bind(self, values: dict, name: str, span: Span, sites: Sequence[Span], value: Any) -> None:
        """A value named ``name`` (``as name``, ending at ``span``) in ``values`` (:class:`Values`
        tell which names were read; others count as read)."""
        name_span = Span(span.path, span.end_line, span.end_column - len(name), span.end_line, span.end_column)
        self._bound.append((values, name, name_span, tuple(sites), value))

    def finish(self, outputs: Iterable[str]) -> list[ResdslError]:
        """Every warning, by position: named values no instance read and that are not an output (a
        network may name its last value), then the rest."""
        outputs = set(outputs)
        used: dict[tuple[Span, Span], bool] = {}
        for values, name, span, sites, value in self._bound:
            read = not isinstance(values, Values) or name in values.read or getattr(value, "node", None) in outputs
            key = (user_span(span, sites), span)
            used[key] = used.get(key, False) or read
        for _, name, span, sites, _ in self._bound:
            if not used[user_span(span, sites), span]:
                self.add("unused", span, sites, f"value '{name}' is never used",
                         f"use it (from {name}, add({name}), output({name}), an argument...) or drop 'as {name}'")
        warnings = []
        for warning, count in self._found.values():
            if count > 1:
                warning.message += f" (in {count} instances)"
            warnings.append(warning)
        return sorted(warnings, key=lambda warning: warning.span)


def user_span(span: Span, sites: Sequence[Span]) -> Span:
    """Where to report what is written at ``span``: there, unless that is inside the standard library;
    then the innermost block call outside it (``stage layer1: basic(64, shortcut: avgdown) * 3``)."""
    for where in (span, *reversed(sites)):
        if not in_std(where.path):
            return where
    return span
