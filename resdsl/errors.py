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

from collections.abc import Iterable, Sequence

from resdsl.frozen import frozen
from resdsl.limits import MAX_ECHO_WIDTH, MAX_ERRORS_SHOWN


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


class LimitError(ResdslError):
    """A spec past one of resdsl's limits (:mod:`resdsl.limits`): fatal, reported at once."""


class TooManyErrors(LimitError):
    """Lowering stopped collecting faults (:data:`~resdsl.limits.MAX_ERRORS`)."""


class UsageError(ResdslError):
    """A fault in how resdsl was called rather than in a spec: a flag's value, an override, a path to
    read or write. The command line exits with 2 for these, 1 for faults in a spec."""


def did_you_mean(name: str, candidates: Iterable[str], aliases: dict[str, str] | None = None) -> str | None:
    """A hint naming the closest candidate, or None when nothing is close."""
    if aliases and name in aliases:
        return f"did you mean '{aliases[name]}'?"
    import difflib  # only on the error path: it is slow to import

    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control and format characters (escape sequences,
    bidirectional overrides) become ``?``, one character for one, so carets stay aligned."""
    if text.isprintable():
        return text
    import unicodedata  # only on the error path

    return "".join(c if c == " " or unicodedata.category(c)[0] not in "CZ" else "?" for c in text)


def _excerpt(line: str, start: int, end: int) -> tuple[str, int, int]:
    """The line cut to a window of at most :data:`MAX_ECHO_WIDTH` characters around columns
    ``start..end`` (0-based, end exclusive), with ``…`` where it was cut; the columns in the window."""
    if len(line) <= MAX_ECHO_WIDTH:
        return line, start, end
    first = max(0, min(start - MAX_ECHO_WIDTH // 4, len(line) - MAX_ECHO_WIDTH))
    window = line[first:first + MAX_ECHO_WIDTH]
    prefix = "…" if first else ""
    suffix = "…" if first + MAX_ECHO_WIDTH < len(line) else ""
    start, end = start - first + len(prefix), min(end - first, MAX_ECHO_WIDTH) + len(prefix)
    return prefix + window + suffix, start, max(end, start + 1)


def format_diagnostic(error: ResdslError, sources: dict[str, str] | None = None, severity: str = "error") -> str:
    """``path:line:col: error: message``, the source line, a caret underline, then the hint
    (``severity`` ``warning`` for what is legal but likely not meant).

    Everything printed is made :func:`printable`, and a long line is cut to a window around the
    fault, so a diagnostic is never much larger than its message.
    """
    span = error.span
    if span is None:
        lines = [f"{severity}: {error.message}"]
    else:
        lines = [f"{span}: {severity}: {error.message}"]
        line = _source_line(span.path, span.line, sources)
        if line is not None:
            line = line.expandtabs(1)
            end = span.end_column if span.end_line == span.line else len(line) + 1
            line, start, end = _excerpt(line, span.column - 1, max(end - 1, span.column))
            lines.append(f"    {line}")
            lines.append("    " + " " * start + "^" * (end - start))
    if error.hint:
        lines.append(f"hint: {error.hint}")
    return "\n".join(printable(text) for text in lines)


def format_report(error: ResdslError) -> str:
    """Every diagnostic of ``error`` (at most :data:`MAX_ERRORS_SHOWN` with a place in a file, then
    the general ones), then how many there were."""
    located = [each for each in error.errors if each.span is not None]
    general = [each for each in error.errors if each.span is None]
    shown = [format_diagnostic(each, error.sources) for each in located[:MAX_ERRORS_SHOWN]]
    if len(located) > MAX_ERRORS_SHOWN:
        shown.append(f"... and {len(located) - MAX_ERRORS_SHOWN} more")
    shown += [format_diagnostic(each, error.sources) for each in general]
    count = sum(not isinstance(each, TooManyErrors) for each in error.errors)
    if count > 1:
        shown.append(f"{count} errors")
    return "\n".join(shown)


_LINES: dict[str, tuple[str, list[str]]] = {}  # path → (text, its lines), for the files diagnostics quote


def _source_line(path: str, number: int, sources: dict[str, str] | None) -> str | None:
    """Line ``number`` (1-based) of a file whose text is in ``sources``, split once; None when unknown.

    Only text resdsl read as a spec is quoted: a diagnostic never reads a file of its own accord."""
    text = (sources or {}).get(path)
    if text is None:
        return None
    cached = _LINES.get(path)
    if cached is None or cached[0] is not text:
        cached = _LINES[path] = (text, text.splitlines())
    lines = cached[1]
    return lines[number - 1] if 0 < number <= len(lines) else None
