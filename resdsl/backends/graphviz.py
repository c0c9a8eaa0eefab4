"""The diagram backend: an IR graph as Graphviz DOT, and DOT rendered to SVG, PNG or PDF.

Stages are clusters labelled with their output shape; nodes name the op and its key arguments
(``conv 3×3, 128, /2``); edges carry tensor shapes; adds are ⊕. Identity shortcuts are solid and
projection shortcuts dashed (the ResNet paper's Figure 3 convention); an input read for its size only
(``upsample(to: y)``'s ``y``) is dotted; main-path edges weigh more, so
the main path runs straight and shortcuts curve beside it. ``collapse="blocks"`` draws one node per
block instance and folds runs of identical ones (``bottleneck(256) ×35``); ``"stages"`` one per stage.
One drawn edge may stand for several IR edges (a block's input feeds its main path and its projection):
it takes the main path's style. Raster output is :func:`default_dpi` unless told (``dpi``), and never
past :data:`RASTER_MAX_SIDE` pixels a side.
Every label is escaped, and the same graph always gives the same bytes. :class:`Diagram` is what a
notebook displays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from resdsl.errors import ResdslError, UsageError
from resdsl.ir import ops
from resdsl.ir.graph import outer_block
from resdsl.limits import MAX_DRAWN_NODES
from resdsl.output import write_file

COLLAPSE = ("none", "blocks", "stages")
FORMATS = ("svg", "png", "pdf", "dot")
RASTER = ("png",)  #: formats measured in pixels, whose resolution ``dpi`` sets
#: Pixels per inch of raster output unless told, at least: twice Graphviz's 96, the scale of a
#: high-density screen, so 10-point labels stay legible (ResNet-50 with every layer: 797 px wide, not 357).
DEFAULT_DPI = 192
MAX_DPI = 2400  #: a print's resolution; past it a bitmap of a deep network would run to gigabytes
RASTER_WIDTH = 800  #: pixels the default resolution gives a narrow diagram, up to twice DEFAULT_DPI
#: cairo's largest bitmap side: Graphviz shrinks a larger drawing itself, ignoring the dpi asked for,
#: with a warning of its own on stderr
RASTER_MAX_SIDE = 32_767
_PAD_INCHES = 8 / 72  # Graphviz's default pad: 4 points on each side of the drawing
EXPANDED_LIMIT = 200  # the default draws every node up to this many, then one node per block


def shape_label(shape: ops.Shape) -> str:
    return "×".join(map(str, shape))


#: op family → node style (merges are circles, the input is bare text)
STYLES = {
    "merge": 'shape=circle, width=0.32, fixedsize=true, fontsize=14, style=filled, fillcolor="#ffffff"',
    "conv": 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"',
    "norm": 'shape=box, style="rounded,filled", fillcolor="#ececec"',
    "pool": 'shape=box, style="rounded,filled", fillcolor="#e2f0d9"',
    "linear": 'shape=box, style="rounded,filled", fillcolor="#f2dcdb"',
    "input": "shape=plaintext",
    "block": 'shape=box, style="rounded,filled", fillcolor="#dbe9f6", penwidth=1.2',
    "other": 'shape=box, style="rounded,filled", fillcolor="#faf3e3"',
}


#: Edge kinds by how one drawn edge standing for several IR edges is styled: a collapsed block or
#: stage is entered by its main path, even where its first unit's projection reads the same value.
_PRECEDENCE = ("main", "skip", "projection", "shape")


def quote(text: str) -> str:
    """A DOT double-quoted string: nothing in it can end the string or act as a Graphviz escape."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    return f'"{escaped}"'


@dataclass
class Unit:
    """One drawn node: an IR node, a (folded run of) block instance(s), or a stage."""

    key: str
    label: str
    style: str
    stage: str | None
    members: list[str] = field(default_factory=list)
    first: list[str] = field(default_factory=list)  # members of the first instance of a folded run
    instances: int = 1


def _style(op: ops.Op) -> str:
    return STYLES.get(op.family, STYLES["other"])


def _units(graph: nx.DiGraph, collapse: str) -> tuple[list[Unit], dict[str, str]]:
    nodes = graph.nodes
    units: dict[str, Unit] = {}
    owner: dict[str, str] = {}
    units_in_stage: dict[str | None, int] = {}
    for residual in graph.graph["residuals"] if collapse == "stages" else ():
        units_in_stage[residual["stage"]] = units_in_stage.get(residual["stage"], 0) + 1
    for node in graph:
        data = nodes[node]
        if collapse == "stages" and data["stage"]:
            key = data["stage"]
            label = f"{key}\n{units_in_stage[key]} residual units" if key in units_in_stage else key
            style = STYLES["block"]
        elif collapse == "blocks" and data["block"]:
            key = outer_block(graph.graph["blocks"], data["block"])
            label = f"{graph.graph['blocks'].get(key, key)}\n{key}"
            style = STYLES["block"]
        else:
            key, label, style = node, data["op"].label(), _style(data["op"])
        unit = units.setdefault(key, Unit(key, label, style, data["stage"]))
        unit.members.append(node)
        owner[node] = key
    ordered = list(units.values())
    if collapse == "blocks":
        projected = {outer_block(graph.graph["blocks"], r["block"]): r["shortcut"] for r in graph.graph["residuals"]
                     if r["shortcut"] != "identity"}
        for unit in ordered:
            if unit.key in projected:
                unit.label += f"\nshortcut: {projected[unit.key]}"
        ordered = _fold(graph, ordered, owner)
    return ordered, owner


def _signature(graph: nx.DiGraph, key: str, members: list[str]) -> tuple:
    """What makes two block instances draw the same: their call and their ops with shapes."""
    return graph.graph["blocks"].get(key), tuple((graph.nodes[n]["op"], graph.nodes[n]["shape"]) for n in members)


def _fold(graph: nx.DiGraph, units: list[Unit], owner: dict[str, str]) -> list[Unit]:
    """Merge runs of consecutive, identical block instances of one stage into one unit."""
    folded: list[Unit] = []
    for unit in units:
        previous = folded[-1] if folded else None
        if (previous is not None and unit.key in graph.graph["blocks"] and previous.stage == unit.stage
                and previous.key in graph.graph["blocks"]
                and _signature(graph, previous.key, previous.first) == _signature(graph, unit.key, unit.members)):
            previous.members.extend(unit.members)
            previous.instances += 1
            for node in unit.members:
                owner[node] = previous.key
            previous.label = (f"{graph.graph['blocks'][previous.key]} ×{previous.instances}\n"
                              f"{previous.key} – {unit.key}")
            continue
        unit.first = list(unit.members)
        folded.append(unit)
    return folded


def default_collapse(graph: nx.DiGraph) -> str:
    """Every node while the diagram stays readable; one node per block beyond that."""
    return "none" if len(graph) <= EXPANDED_LIMIT else "blocks"


def _drawable_units(graph: nx.DiGraph, collapse: str | None,
                    max_nodes: int | None) -> tuple[str, list[Unit], dict[str, str]]:
    """The collapse level and units to draw. Without an explicit ``collapse``: the default level,
    folded further (blocks, then stages) until at most ``max_nodes`` remain. Past that, a clear error
    rather than a layout that takes minutes or runs Graphviz out of memory."""
    if collapse:
        levels: tuple[str, ...] = (collapse,)
    else:
        levels = COLLAPSE[COLLAPSE.index(default_collapse(graph)):]
    for level in levels if max_nodes is not None else levels[:1]:
        units, owner = _units(graph, level)
        if max_nodes is None or len(units) <= max_nodes:
            return level, units, owner
    raise UsageError(f"the diagram would have {len(units):,} nodes; Graphviz lays out at most {max_nodes:,} "
                     f"in reasonable time",
                     hint="--collapse blocks or --collapse stages draws fewer" if level != "stages"
                     else "group the spec's layers into stages, or write -o net.dot (no limit)")


def to_dot(graph: nx.DiGraph, collapse: str | None = None, direction: str = "TB", shapes: bool = True,
           max_nodes: int | None = None, dpi: int | None = None) -> str:
    """The diagram as DOT source. Deterministic: the same graph gives the same text. ``dpi``, when
    given, is written as the graph's resolution, which raster output (``dot -Tpng``) follows."""
    if collapse is not None and collapse not in COLLAPSE:
        raise ValueError(f"collapse must be one of {COLLAPSE}")
    if dpi is not None and (isinstance(dpi, bool) or not isinstance(dpi, int) or not 1 <= dpi <= MAX_DPI):
        raise UsageError(f"dpi={dpi!r}: the resolution is a whole number of pixels per inch, 1 to {MAX_DPI}")
    nodes = graph.nodes
    collapse, units, owner = _drawable_units(graph, collapse, max_nodes)
    position = {unit.key: index for index, unit in enumerate(units)}
    ids = {key: f"n{index}" for key, index in position.items()}
    by_key = {unit.key: unit for unit in units}
    lines = [
        f"digraph {quote(graph.graph['name'])} {{",
        f'  graph [rankdir={direction}, fontname="Helvetica", fontsize=11, nodesep=0.25, ranksep=0.3, '
        f'label={quote(graph.graph["name"])}, labelloc=t{"" if dpi is None else f", dpi={dpi}"}];',
        '  node [fontname="Helvetica", fontsize=10, height=0.3, margin="0.12,0.04"];',
        '  edge [fontname="Helvetica", fontsize=8, color="#555555", arrowsize=0.6];',
    ]
    stages: dict[str | None, list[Unit]] = {}
    for unit in units:
        stages.setdefault(unit.stage if collapse != "stages" else None, []).append(unit)

    def node_line(unit: Unit, indent: str) -> str:
        return f"{indent}{ids[unit.key]} [label={quote(unit.label)}, tooltip={quote(unit.key)}, {unit.style}];"

    for index, (stage, members) in enumerate(stages.items()):
        if stage is None:
            lines.extend(node_line(unit, "  ") for unit in members)
            continue
        last = members[-1].members[-1]
        label = f"{stage} · {shape_label(nodes[last]['shape'])}"
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(f'    label={quote(label)}; labeljust=l; style="rounded,dashed"; color="#9aa7b5";')
        lines.extend(node_line(unit, "    ") for unit in members)
        lines.append("  }")

    drawn: dict[tuple[str, str], str] = {}
    for source, target, edge in graph.edges(data=True):
        a, b = owner[source], owner[target]
        if a == b:
            continue
        kind = "shape" if edge["port"] in nodes[target]["op"].shape_only else edge["kind"]  # only its size is read
        previous = drawn.get((a, b))
        if previous is None or _PRECEDENCE.index(kind) < _PRECEDENCE.index(previous):
            drawn[(a, b)] = kind
    for (a, b), kind in sorted(drawn.items(), key=lambda item: (position[item[0][0]], position[item[0][1]])):
        producer = next(n for n in reversed(by_key[a].members) if any(owner[t] == b for t in graph.successors(n)))
        attributes = [f"weight={10 if kind == 'main' else 1}"]
        if shapes:
            attributes.append(f"label={quote(' ' + shape_label(nodes[producer]['shape']))}")
        if kind == "projection":
            attributes.append("style=dashed")
        elif kind == "shape":
            attributes.append('style=dotted, color="#777777"')
        elif kind == "skip":
            attributes.append('color="#333333"')
        lines.append(f"  {ids[a]} -> {ids[b]} [{', '.join(attributes)}];")
    outputs = graph.graph["outputs"]
    if len(outputs) > 1:  # each output drawn as the input is: bare text, after the value it returns
        for index, (name, node) in enumerate(outputs.items()):
            lines.append(f"  out{index} [label={quote(f'output {name}')}, tooltip={quote(node)}, {STYLES['input']}];")
            attributes = [f"label={quote(' ' + shape_label(nodes[node]['shape']))}"] if shapes else []
            lines.append(f"  {ids[owner[node]]} -> out{index} [{', '.join(['weight=10', *attributes])}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def default_dpi(width: float, height: float) -> int:
    """The resolution a raster gets unless told, for a drawing laid out ``width`` by ``height`` inches:
    :data:`DEFAULT_DPI`, raised (up to twice that) so that a narrow diagram is :data:`RASTER_WIDTH`
    pixels wide, and lowered where a side would pass :data:`RASTER_MAX_SIDE` pixels.

    >>> default_dpi(3.61, 126.39), default_dpi(2.42, 15.56), default_dpi(1.53, 5.33)  # ResNet-50's three levels
    (214, 316, 384)
    >>> default_dpi(3.61, 377.14)  # ResNet-152 with every layer: 377 inches tall
    86
    """
    wanted = min(2 * DEFAULT_DPI, max(DEFAULT_DPI, int(RASTER_WIDTH / (width + _PAD_INCHES))))
    return min(wanted, _largest_dpi(width, height))


def _largest_dpi(width: float, height: float) -> int:
    return int(RASTER_MAX_SIDE / (max(width, height) + _PAD_INCHES))


def _raster_dpi(source: str, dpi: int | None) -> int:
    """The resolution to draw ``source`` at: ``dpi``, or :func:`default_dpi`. Lays it out once, in
    Graphviz's ``plain`` format, for its size (first line: ``graph SCALE WIDTH HEIGHT``, in inches)."""
    import graphviz

    first = graphviz.Source(source).pipe(format="plain", engine="dot").split(b"\n", 1)[0].split()
    width, height = float(first[2]), float(first[3])
    if dpi is None:
        return default_dpi(width, height)
    largest = _largest_dpi(width, height)
    if dpi > largest:
        size = f"{round((width + _PAD_INCHES) * dpi):,}×{round((height + _PAD_INCHES) * dpi):,}"
        raise UsageError(f"--dpi {dpi} would make a {size} px image; Graphviz draws bitmaps of at most "
                         f"{RASTER_MAX_SIDE:,} px a side (it would shrink this one, ignoring --dpi)",
                         hint=f"--dpi {largest} or less, --collapse blocks or stages, or write .svg (no limit)")
    return dpi


def render(graph: nx.DiGraph, fmt: str, dpi: int | None = None, **options: Any) -> bytes:
    """The diagram as ``svg``, ``png``, ``pdf`` or ``dot`` bytes; raises ResdslError without ``dot``.
    Layouts are bounded: at most :data:`~resdsl.limits.MAX_DRAWN_NODES` nodes (``dot`` text has no bound).
    ``dpi``: pixels per inch of a PNG (default :func:`default_dpi`; at most what keeps each side within
    :data:`RASTER_MAX_SIDE` pixels), or written into ``dot`` text; SVG and PDF are vector formats,
    which have none."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown diagram format '{fmt}'", hint=f"use one of: {', '.join(FORMATS)}")
    if dpi is not None and fmt not in (*RASTER, "dot"):
        raise UsageError(f"a resolution (dpi) applies to {', '.join(RASTER)} output; {fmt} is a vector format",
                         hint=f"leave --dpi out, or write -o net.{RASTER[0]}")
    source = to_dot(graph, **options, max_nodes=None if fmt == "dot" else MAX_DRAWN_NODES, dpi=dpi)
    if fmt == "dot":
        return source.encode()
    import graphviz

    try:
        if fmt in RASTER:  # the size of the layout decides the resolution: drawn again at that
            source = to_dot(graph, **options, max_nodes=MAX_DRAWN_NODES, dpi=_raster_dpi(source, dpi))
        return graphviz.Source(source).pipe(format=fmt, engine="dot")
    except graphviz.ExecutableNotFound:
        raise ResdslError("Graphviz's 'dot' program is not installed, so only .dot output is possible",
                          hint="install it: apt-get install graphviz (Debian/Ubuntu), brew install graphviz "
                               "(macOS); or write -o net.dot") from None
    except graphviz.CalledProcessError as error:
        detail = (error.stderr or b"").decode(errors="replace").strip().splitlines()
        raise ResdslError(f"Graphviz failed: {detail[-1] if detail else error}") from None


def render_file(graph: nx.DiGraph, path: str | Path, fmt: str | None = None, **options: Any) -> Path:
    """Write the diagram; the format comes from ``fmt`` or the extension. All or nothing."""
    path = Path(path)
    return write_file(path, render(graph, fmt or path.suffix.lstrip(".").lower(), **options))


class Diagram:
    """A network's diagram, as :meth:`resdsl.Network.diagram` returns it: Jupyter displays it as SVG;
    ``dot`` holds its DOT text; :meth:`render` and :meth:`save` give SVG, PNG, PDF or DOT. Made from a
    graph whose layout stays within :data:`~resdsl.limits.MAX_DRAWN_NODES` (else a UsageError at once).
    Without Graphviz's ``dot`` program a notebook shows this text instead of the picture, and
    :meth:`render` raises :class:`~resdsl.errors.ResdslError` saying how to install it."""

    def __init__(self, graph: nx.DiGraph, collapse: str | None = None, direction: str = "TB",
                 shapes: bool = True) -> None:
        self._graph = graph
        self._options: dict[str, Any] = {"collapse": collapse, "direction": direction, "shapes": shapes}
        self.dot = to_dot(graph, **self._options, max_nodes=MAX_DRAWN_NODES)

    def render(self, fmt: str = "svg", dpi: int | None = None) -> bytes:
        """The diagram as ``svg``, ``png``, ``pdf`` or ``dot`` bytes (see :func:`render`)."""
        return render(self._graph, fmt, dpi, **self._options)

    def save(self, path: str | Path, fmt: str | None = None, dpi: int | None = None) -> Path:
        """Write the diagram; the format comes from ``fmt`` or the extension. All or nothing."""
        path = Path(path)
        return write_file(path, self.render(fmt or path.suffix.lstrip(".").lower(), dpi))

    def _repr_svg_(self) -> str | None:
        try:
            return self.render("svg").decode()
        except ResdslError:  # no dot program: Jupyter falls back to the text below
            return None

    def __repr__(self) -> str:
        return (f"<Diagram of {self._graph.graph['name']} ({self.dot.count(' [label=')} nodes): .dot is its DOT "
                f"text; .save('net.svg') draws it with Graphviz>")

