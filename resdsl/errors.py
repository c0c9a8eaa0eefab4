"""The one exception users see, and the one place that formats it.

Every fault in a spec — syntax, names, arguments, shapes, limits — is a :class:`ResdslError` carrying a
message, the :class:`Span` it concerns and, where one helps, a hint. Only :func:`format_diagnostic`
turns it into text::

    examples/bad.res:4:5: error: unknown layer 'bnn'
        conv(64) bnn relu
                 ^^^
    hint: did you mean 'bn'?

A fault inside a block instance is reported where the user's own file calls it, with the chain of
block instances down to the fault as notes (innermost last, its line echoed)::

    spec.res:8:3: error: identity shortcut needs equal shapes: ...
        stage layer2: basic(32, shortcut: identity) * 2, first(stride: 2)
        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
    note: in block 'basic' (resdsl/stdlib/std.res:5:1), instance layer2.0, at line 6
        residual(shortcut: shortcut) {
        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
    hint: use shortcut: project (or pad, or auto)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from resdsl.frozen import frozen
from resdsl.limits import MAX_ECHO_WIDTH, MAX_ERRORS_SHOWN, MAX_EXPANSION_SHOWN


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


@frozen
class Expansion:
    """One block instance on the way from a call in the user's file to a fault inside a block."""

    block: str  # the block's name
    definition: Span  # where the block is defined
    instance: str  # the instance's module path (layer2.0)
    call: Span  # where the instance is called: in the caller's body


class ResdslError(Exception):
    """A fault in a spec, with where it is and what to do about it.

    ``errors`` holds every fault found in the same run, sorted by position, this one first.

    A fault inside a block instance has ``span`` at the outermost call, in the file that calls the
    block (the network's), ``origin`` at the fault itself and ``expansion``, the chain of instances
    from that call down to the fault, outermost first (see :meth:`expanded_in`).
    """

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.errors: list[ResdslError] = [self]
        self.sources: dict[str, str] | None = None  # file texts, for diagnostics
        self.origin: Span | None = None  # the fault's own place, when ``span`` is the call that led to it
        self.expansion: tuple[Expansion, ...] = ()

    def expanded_in(self, frame: Expansion) -> None:
        """Say the fault happened inside the block instance ``frame``: the primary location moves out
        to its call, and ``frame`` goes first in the chain. A fault with no place stays general."""
        if self.span is None or (self.expansion and self.expansion[0] is frame):
            return
        if self.origin is None:
            self.origin = self.span
        self.expansion = (frame, *self.expansion)
        self.span = frame.call

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span else ""
        inside = f" (in block '{self.expansion[-1].block}', {self.origin})" if self.expansion else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}{self.message}{inside}{hint}"

    @staticmethod
    def collect(errors: Sequence[ResdslError]) -> ResdslError:
        """One error to raise for several: the first by position, carrying all of them."""
        unique: dict[tuple, ResdslError] = {}
        for error in errors:  # one fault in each instance of a repeated block is reported once
            unique.setdefault((error.span, error.message, error.origin), error)
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

    A fault inside a block instance is shown at the call in the user's file, then one ``note:`` per
    block instance from that call inwards (the order the user's call expands in, so the innermost,
    whose line is echoed with its caret, ends the chain next to the hint that fixes it)::

        note: in block 'basic' (resdsl/stdlib/std.res:5:1), instance layer2.0, at line 6

    Everything printed is made :func:`printable`, and a long line is cut to a window around the
    fault, so a diagnostic is never much larger than its message.
    """
    span = error.span
    if span is None:
        lines = [f"{severity}: {error.message}"]
    else:
        lines = [f"{span}: {severity}: {error.message}", *_echo(span, sources)]
    if error.origin is not None:
        places = [frame.call for frame in error.expansion[1:]] + [error.origin]
        notes = []
        for frame, place in zip(error.expansion, places):
            at = f"line {place.line}" if place.path == frame.definition.path else str(place)
            instance = frame.instance if len(frame.instance) <= MAX_ECHO_WIDTH else \
                "…" + frame.instance[1 - MAX_ECHO_WIDTH:]  # module paths nest 64 deep
            notes.append(f"note: in block '{frame.block}' ({frame.definition}), instance {instance}, at {at}")
        if len(notes) > MAX_EXPANSION_SHOWN:
            half = MAX_EXPANSION_SHOWN // 2
            notes[half:-half] = [f"note: ... {len(notes) - 2 * half} more block instances"]
        lines += notes + _echo(error.origin, sources)
    if error.hint:
        lines.append(f"hint: {error.hint}")
    return "\n".join(printable(text) for text in lines)


def _echo(span: Span, sources: dict[str, str] | None) -> list[str]:
    """The source line of ``span`` and a caret underline, when its file's text is known."""
    line = _source_line(span.path, span.line, sources)
    if line is None:
        return []
    line = line.expandtabs(1)
    end = span.end_column if span.end_line == span.line else len(line) + 1
    line, start, end = _excerpt(line, span.column - 1, max(end - 1, span.column))
    return [f"    {line}", "    " + " " * start + "^" * (end - start)]


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
