"""Plain-text tables for ``resdsl stats`` and ``resdsl compare``: aligned, human units or exact."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from resdsl.ir.ops import Shape, format_shape
from resdsl.passes.stats import Stats

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


def render(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    """Columns padded to their widest cell; ``align`` holds '<' or '>' per column."""
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(cells, align, widths)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def _field(field: int | tuple[int, int]) -> str:
    """A receptive field: ``435``, or ``7x1`` (height x width) where the axes differ."""
    return str(field) if isinstance(field, int) else "x".join(map(str, field))


_STATS_HEADER = ("params", "buffers", "MACs", "FLOPs", "output", "activations")


def _outputs(stats: Stats) -> str:
    return format_shape(stats.output_shape) if len(stats.outputs) == 1 else \
        ", ".join(f"{name} {format_shape(shape)}" for name, shape in stats.outputs.items())


def _heading(stats: Stats) -> str:
    return f"{stats.name}: {format_shape(stats.input_shape)} → {_outputs(stats)}, batch {stats.batch}"


def _summary(stats: Stats, exact: bool) -> list[tuple[str, str]]:
    """The lines under the table, as (label, text)."""
    h = lambda v: human(v, exact)
    hb = lambda v: human_bytes(v, exact)
    memory = stats.memory
    by_op = ", ".join(f"{family} {h(value)}" for family, value in stats.macs_by_op.items() if value)
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
    """What ``resdsl stats`` prints (see :meth:`Stats.table <resdsl.passes.stats.Stats.table>`)."""
    h = lambda v: human(v, exact)
    rows = [[row.name, h(row.params), h(row.buffers), h(row.macs), h(row.flops), format_shape(row.output_shape),
             h(row.activations)] for row in stats.rows(by)]
    rows.append(["total", h(stats.params), h(stats.buffers), h(stats.macs), h(stats.flops),
                 format_shape(stats.output_shape), h(stats.activations)])
    table = render([by, *_STATS_HEADER], rows, "<>>>>>>")
    table_lines = table.splitlines()
    table_lines.insert(len(table_lines) - 1, table_lines[1])  # a rule above the total
    summary = [_heading(stats), "", *table_lines, ""]
    summary.extend(f"{label:<20}{text}" for label, text in _summary(stats, exact))
    return "\n".join(summary)


def stats_html(stats: Stats, by: str = "stage", exact: bool = False) -> str:
    """The same as :func:`stats_table`, as an HTML fragment (what a notebook shows). Every text is
    escaped, names from the spec included; a rounded figure carries its exact value as a tooltip."""
    right = 'style="text-align: right"'

    def figure(value: int, tag: str = "td") -> str:
        shown = human(value, exact)
        exact_title = "" if exact or shown == f"{value:,}" else f' title="{value:,}"'
        return f"<{tag} {right}{exact_title}>{escape(shown)}</{tag}>"

    def row(name: str, figures: Sequence[int], shape: Shape, tag: str = "td", extra: str = "") -> str:
        cells = [f'<{tag} style="text-align: left">{escape(name)}</{tag}>',
                 *(figure(value, tag) for value in figures[:4]),
                 f"<{tag} {right}>{escape(format_shape(shape))}</{tag}>", figure(figures[4], tag)]
        return f"<tr{extra}>{''.join(cells)}</tr>"

    header = "".join(f'<th style="text-align: {"left" if i == 0 else "right"}">{escape(label)}</th>'
                     for i, label in enumerate((by, *_STATS_HEADER)))
    body = [row(r.name, (r.params, r.buffers, r.macs, r.flops, r.activations), r.output_shape)
            for r in stats.rows(by)]
    body.append(row("total", (stats.params, stats.buffers, stats.macs, stats.flops, stats.activations),
                    stats.output_shape, "th", ' style="border-top: 1px solid"'))
    summary = "".join(f'<tr><th style="text-align: left">{escape(label)}</th>'
                      f'<td style="text-align: left">{escape(text)}</td></tr>'
                      for label, text in _summary(stats, exact))
    return "\n".join([
        '<div class="resdsl-stats">',
        f"<p><b>{escape(stats.name)}</b>{escape(_heading(stats)[len(stats.name):])}</p>",
        f"<table>\n<thead><tr>{header}</tr></thead>\n<tbody>",
        *body,
        "</tbody>\n</table>",
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
    return render(header, rows, "<" + ">" * (len(header) - 1))
