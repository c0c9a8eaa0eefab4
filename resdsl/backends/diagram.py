"""A network's diagram as a Python object: what ``Network.diagram()`` returns and a notebook displays.

It holds the drawing options, not the drawing: DOT text, SVG, PNG or PDF are made when asked for, by
:mod:`resdsl.backends.graphviz`. A notebook shows the SVG; without Graphviz's ``dot`` program, text
that says so, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx

from resdsl.backends.graphviz import COLLAPSE, render, render_file, to_dot
from resdsl.errors import ResdslError, UsageError

DIRECTIONS = ("TB", "LR")


class Diagram:
    """The diagram ``resdsl render`` draws, with its options: ``collapse`` (``"none"``, ``"blocks"``,
    ``"stages"``, or ``None`` for the default), ``direction`` (``"TB"`` or ``"LR"``), ``shapes`` on
    the edges.

    >>> import resdsl
    >>> net = resdsl.load("import std (basic)  network tiny { input 3x32x32  stage stem { conv(16) bn relu } "
    ...                   "stage layer1: basic(16) * 2  stage layer2: basic(32) * 2, first(stride: 2) }")
    >>> diagram = net.diagram(collapse="stages")
    >>> diagram
    <Diagram of tiny: collapse stages, TB>
    >>> diagram.to_dot().count(" -> ")  # input, stem, layer1, layer2: a chain
    3
    """

    def __init__(self, graph: nx.DiGraph, collapse: str | None = None, direction: str = "TB",
                 shapes: bool = True) -> None:
        if collapse is not None and collapse not in COLLAPSE:
            raise UsageError(f"collapse={collapse!r}: one of {', '.join(map(repr, COLLAPSE))}, or None (the default)")
        if direction not in DIRECTIONS:
            raise UsageError(f"direction={direction!r}: 'TB' (top to bottom) or 'LR' (left to right)")
        self.graph = graph
        self.options: dict[str, Any] = {"collapse": collapse, "direction": direction, "shapes": bool(shapes)}

    def to_dot(self) -> str:
        """DOT text (needs no Graphviz)."""
        return to_dot(self.graph, **self.options)

    def to_svg(self) -> str:
        """SVG text; raises :class:`~resdsl.errors.ResdslError` without Graphviz's ``dot`` program."""
        return render(self.graph, "svg", **self.options).decode()

    def save(self, path: str | Path, fmt: str | None = None, dpi: int | None = None) -> Path:
        """Write ``.svg``, ``.png``, ``.pdf`` or ``.dot`` (``fmt`` overrides the extension) all at once,
        as ``resdsl render -o`` does; ``dpi`` is a PNG's resolution (see
        :func:`~resdsl.backends.graphviz.default_dpi`)."""
        return render_file(self.graph, path, fmt, dpi=dpi, **self.options)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """A notebook shows the SVG; where it cannot be drawn, the reason and what to do, as text."""
        try:
            return {"image/svg+xml": self.to_svg(), "text/plain": repr(self)}
        except ResdslError as error:
            hint = f"\nhint: {error.hint}" if error.hint else ""
            return {"text/plain": f"{self!r}\nno drawing: {error.message}{hint}"}

    def __repr__(self) -> str:
        collapse = self.options["collapse"] or "default"
        return f"<Diagram of {self.graph.graph['name']}: collapse {collapse}, {self.options['direction']}>"
