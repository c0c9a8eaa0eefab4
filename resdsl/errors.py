"""The one exception users see, and the one place that formats it.

Every fault in a spec — syntax, names, arguments, shapes, limits — is a :class:`ResdslError` carrying a
message, the :class:`Span` it concerns and, where one helps, a hint. Only :func:`format_diagnostic`
turns it into text::

    examples/bad.res:4:5: error: unknown layer 'bnn'
        conv(64) bnn relu
                 ^^^
    hint: did you mean 'bn'?
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from resdsl.frozen import frozen


@frozen(order=True)
class Span:
    """A region of a source file: 1-based line and column, end exclusive."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class ResdslError(Exception):
    """A fault in a spec, with where it is and what to do about it.

    ``errors`` holds every fault found in the same run, sorted by position, this one first.
    """

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.errors: list[ResdslError] = [self]
        self.sources: dict[str, str] | None = None  # file texts, for diagnostics

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"

    @staticmethod
    def collect(errors: Sequence[ResdslError]) -> ResdslError:
        """One error to raise for several: the first by position, carrying all of them."""
        unique: dict[tuple, ResdslError] = {}
        for error in errors:
            unique.setdefault((error.span, error.message), error)
        ordered = sorted(unique.values(), key=lambda e: (e.span is None, e.span or Span("", 0, 0, 0, 0)))
        first = ordered[0]
        first.errors = ordered
        return first


def did_you_mean(name: str, candidates: Iterable[str], aliases: dict[str, str] | None = None) -> str | None:
    """A hint naming the closest candidate, or None when nothing is close."""
    if aliases and name in aliases:
        return f"did you mean '{aliases[name]}'?"
    import difflib  # only on the error path: it is slow to import

    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def format_diagnostic(error: ResdslError, sources: dict[str, str] | None = None) -> str:
    """``path:line:col: error: message``, the source line, a caret underline, then the hint."""
    span = error.span
    if span is None:
        lines = [f"error: {error.message}"]
    else:
        lines = [f"{span}: error: {error.message}"]
        text = (sources or {}).get(span.path)
        if text is None:
            try:
                text = Path(span.path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = None
        source_lines = text.splitlines() if text is not None else []
        if 0 < span.line <= len(source_lines):
            line = source_lines[span.line - 1].expandtabs(1)
            end = span.end_column if span.end_line == span.line else len(line) + 1
            width = max(1, end - span.column)
            lines.append(f"    {line}")
            lines.append("    " + " " * (span.column - 1) + "^" * width)
    if error.hint:
        lines.append(f"hint: {error.hint}")
    return "\n".join(lines)
