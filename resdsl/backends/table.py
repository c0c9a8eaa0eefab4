"""Plain-text tables for ``resdsl stats`` and ``resdsl compare``: aligned, human units or exact."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from resdsl.ir.ops import format_shape

if TYPE_CHECKING:
    from resdsl.passes.stats import Row, Stats
    from resdsl.zoo import Entry

HUGE = 10**18  # integers from here on print as 1.36e+331, even with --exact (--json keeps every digit)


def scientific(value: int) -> str:
    """``2**1100`` → ``1.36e+331``, also for integers too large for a float (path counts are 2**n)."""
    return _from_log10(math.log10(value))


def _from_log10(log: float) -> str:
    exponent = math.floor(log)
    mantissa = round(10 ** (log - exponent), 2)
    if mantissa >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.2f}e{exponent:+d}"


def ratio(value: int | float, base: int | float) -> str:
    if not base:
        return "-"
    if value and max(abs(value), abs(base)) >= HUGE:
        return _from_log10(math.log10(abs(value)) - math.log10(abs(base))) + "x"
    return f"{value / base:.2f}x"


def human(value: int | float, exact: bool = False) -> str:
    """``25557032`` → ``25.56M`` (or ``25,557,032`` when exact)."""
    if isinstance(value, int) and abs(value) >= HUGE:
        return scientific(abs(value)) if value > 0 else "-" + scientific(-value)
    if exact or abs(value) < 1000:
        return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return str(value)


def human_bytes(value: int, exact: bool = False) -> str:
    if exact:
        return f"{value:,} B"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value} B"


def format_table(header: Sequence[object], rows: Sequence[Sequence[object]], align: str | None = None) -> str:
    """An aligned plain-text table, as ``resdsl stats`` and ``compare`` print them: each column padded
    to its widest cell, two spaces apart, a rule under the header. ``align`` holds ``<`` (left) or
    ``>`` (right) per column; by default the first column is left-aligned and the others right.

    >>> print(format_table(["stage", "params"], [["stem", "9.54K"], ["layer1", "215.81K"]]))
    stage    params
    ------  -------
    stem      9.54K
    layer1  215.81K
    """
    titles = [str(cell) for cell in header]
    cells = [[str(cell) for cell in row] for row in rows]
    if align is None:
        align = "<" + ">" * (len(titles) - 1)
    if len(align) != len(titles) or set(align) - {"<", ">"} or any(len(row) != len(titles) for row in cells):
        raise ValueError("every row needs one cell, and align one '<' or '>', per header column")
    widths = [max(len(row[i]) for row in (titles, *cells)) for i in range(len(titles))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(cells, align, widths)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(titles), rule, *(line(row) for row in cells)])


def _field(field: int | tuple[int, int]) -> str:
    """A receptive field: ``435``, or ``7x1`` (height x width) where the axes differ."""
    return str(field) if isinstance(field, int) else "x".join(map(str, field))


_STATS_HEADER = ("params", "buffers", "MACs", "FLOPs", "output", "activations")


def _stats_rows(stats: Stats, by: str) -> list[tuple[str, list[int | str]]]:
    """Each row's name and figures (numbers, then the output shape as text), the total last."""
    def figures(row: Row | Stats) -> list[int | str]:
        return [row.params, row.buffers, row.macs, row.flops, format_shape(row.output_shape), row.activations]

    return [*((row.name, figures(row)) for row in stats.rows(by)), ("total", figures(stats))]


def _outputs(stats: Stats) -> str:
    return format_shape(stats.output_shape) if len(stats.outputs) == 1 else \
        ", ".join(f"{name} {format_shape(shape)}" for name, shape in stats.outputs.items())


def _headline(stats: Stats) -> str:
    return f"{stats.name}: {format_shape(stats.input_shape)} → {_outputs(stats)}, batch {stats.batch}"


def _summary(stats: Stats, exact: bool) -> list[tuple[str, str]]:
    """The lines under the table: (label, text)."""
    h = lambda v: human(v, exact)
    hb = lambda v: human_bytes(v, exact)
    by_op = ", ".join(f"{family} {h(value)}" for family, value in stats.macs_by_op.items() if value)
    memory = stats.memory
    return [
        ("MACs by op", f"{by_op}  (conv + linear = {h(stats.macs_by_op['conv'] + stats.macs_by_op['linear'])})"),
        ("depth", f"{stats.depth} weighted layers on the longest path ({stats.weighted_layers} conv/linear "
                  f"layers in all)"),
        ("residual units", f"{stats.residual_units}; {human(stats.paths, exact=True)} input→output paths, "
                           f"{stats.shortest_path} to {stats.longest_path} weighted layers long"),
        ("receptive field", f"{_field(stats.receptive_field)} px" if len(stats.outputs) == 1 else
         ", ".join(f"{name} {_field(field)} px" for name, field in stats.receptive_fields.items())),
        ("inference peak", f"{hb(memory['inference_peak_bytes']['fp32'])} fp32, "
                           f"{hb(memory['inference_peak_bytes']['bf16'])} bf16 (live activations)"),
        ("training memory", f"{hb(memory['training_bytes']['fp32'])} fp32, "
                            f"{hb(memory['training_bytes']['bf16'])} bf16 (activations kept for backward)"),
    ]


def stats_table(stats: Stats, by: str = "stage", exact: bool = False) -> str:
    """What ``resdsl stats`` prints: a headline, a row per stage (block, layer) and the total, then
    the whole network's other figures. Human units (``25.56M``) unless ``exact``."""
    rows = [[name, *(cell if isinstance(cell, str) else human(cell, exact) for cell in cells)]
            for name, cells in _stats_rows(stats, by)]
    table_lines = format_table([by, *_STATS_HEADER], rows, "<>>>>>>").splitlines()
    table_lines.insert(len(table_lines) - 1, table_lines[1])  # a rule above the total
    return "\n".join([_headline(stats), "", *table_lines, "",
                      *(f"{label:<20}{text}" for label, text in _summary(stats, exact))])


def stats_line(stats: Stats) -> str:
    """One line: ``Stats(resnet50: 25.56M params, 4.11G MACs, 3x224x224 → 1000)``."""
    batch = f", batch {stats.batch}" if stats.batch != 1 else ""
    return (f"Stats({stats.name}: {human(stats.params)} params, {human(stats.macs)} MACs, "
            f"{format_shape(stats.input_shape)} → {_outputs(stats)}{batch})")


def stats_html(stats: Stats, by: str = "stage", exact: bool = False) -> str:
    """The ``stats`` table as HTML, as Jupyter shows a :class:`Stats`: a caption, one row per stage
    (block, layer), the total, and the summary lines. Each figure in human units carries its exact
    value as a tooltip. Every text is escaped: names come from specs, which may be hostile."""
    left, right = ' style="text-align:left"', ' style="text-align:right"'

    def cell(tag: str, value: int | str) -> str:
        if isinstance(value, str):
            return f"<{tag}{right}>{escape(value)}</{tag}>"
        shown, full = human(value, exact), human(value, exact=True)
        title = f' title="{escape(full)}"' if full != shown else ""
        return f"<{tag}{right}{title}>{escape(shown)}</{tag}>"

    rows = _stats_rows(stats, by)
    body = ["".join([f"<tr><td{left}>{escape(name)}</td>", *(cell("td", value) for value in values), "</tr>"])
            for name, values in rows[:-1]]
    total = "".join([f"<tr><th{left}>total</th>", *(cell("th", value) for value in rows[-1][1]), "</tr>"])
    header = "".join([f"<tr><th{left}>{escape(by)}</th>", *(f"<th{right}>{escape(name)}</th>" for name in
                                                            _STATS_HEADER), "</tr>"])
    summary = "".join(f"<tr><th{left}>{escape(label)}</th><td{left}>{escape(text)}</td></tr>"
                      for label, text in _summary(stats, exact))
    return "\n".join([
        '<div class="resdsl-stats">',
        f"<table>\n<caption{left}>{escape(_headline(stats))}</caption>",
        f"<thead>{header}</thead>",
        "<tbody>", *body, "</tbody>",
        f"<tfoot>{total}</tfoot>\n</table>",
        f"<table>{summary}</table>",
        "</div>",
    ])


_COMPARED = (
    ("params", lambda s: s.params),
    ("buffers", lambda s: s.buffers),
    ("MACs", lambda s: s.macs),
    ("FLOPs", lambda s: s.flops),
    ("conv+linear MACs", lambda s: s.macs_by_op["conv"] + s.macs_by_op["linear"]),
    ("activations", lambda s: s.activations),
    ("inference peak fp32", lambda s: s.memory["inference_peak_bytes"]["fp32"]),
    ("training memory fp32", lambda s: s.memory["training_bytes"]["fp32"]),
    ("depth", lambda s: s.depth),
    ("residual units", lambda s: s.residual_units),
    ("paths", lambda s: s.paths),
    ("receptive field", lambda s: s.receptive_field),
)


def compare_table(all_stats: Sequence[Stats], exact: bool = False) -> str:
    """Figures side by side; each network after the first gets a ratio column against the first."""
    base = all_stats[0]
    header = ["", *(s.name for s in all_stats)]
    for other in all_stats[1:]:
        header.append(f"{other.name} / {base.name}")
    rows = [["output", *(format_shape(s.output_shape) for s in all_stats), *([""] * (len(all_stats) - 1))]]
    for label, get in _COMPARED:
        values = [get(s) for s in all_stats]
        if any(isinstance(v, tuple) for v in values):  # a receptive field whose axes differ: per axis
            pairs = [v if isinstance(v, tuple) else (v, v) for v in values]
            ratios = [" by ".join(ratio(a, b) for a, b in zip(v, pairs[0])) for v in pairs[1:]]
            rows.append([label, *("x".join(map(str, v)) for v in pairs), *ratios])
            continue
        fmt = (lambda v: human_bytes(v, exact)) if "memory" in label or "peak" in label else \
            (lambda v: human(v, exact))
        ratios = [ratio(v, values[0]) for v in values[1:]]
        rows.append([label, *(fmt(v) for v in values), *ratios])
    return format_table(header, rows)


def zoo_table(entries: Sequence[Entry], exact: bool = False) -> str:
    """``resdsl list``: each zoo network's name, parameters, MACs and input, and the source it follows."""
    rows = [[e.name, human(e.params, exact), human(e.macs, exact), format_shape(e.input_shape), e.source]
            for e in entries]
    return format_table(["name", "params", "MACs", "input", "source"], rows, "<>><<")
