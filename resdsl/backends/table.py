"""Plain-text tables for ``resdsl stats`` and ``resdsl compare``: aligned, human units or exact."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from resdsl.ir.ops import format_shape
from resdsl.passes.stats import Stats

if TYPE_CHECKING:
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


def stats_table(stats: Stats, by: str = "stage", exact: bool = False) -> str:
    h = lambda v: human(v, exact)
    rows = [[row.name, h(row.params), h(row.buffers), h(row.macs), h(row.flops), format_shape(row.output_shape),
             h(row.activations)] for row in stats.rows(by)]
    rows.append(["total", h(stats.params), h(stats.buffers), h(stats.macs), h(stats.flops),
                 format_shape(stats.output_shape), h(stats.activations)])
    table = render([by, "params", "buffers", "MACs", "FLOPs", "output", "activations"], rows, "<>>>>>>")
    table_lines = table.splitlines()
    table_lines.insert(len(table_lines) - 1, table_lines[1])  # a rule above the total
    by_op = ", ".join(f"{family} {h(value)}" for family, value in stats.macs_by_op.items() if value)
    memory = stats.memory
    hb = lambda v: human_bytes(v, exact)
    outputs = format_shape(stats.output_shape) if len(stats.outputs) == 1 else \
        ", ".join(f"{name} {format_shape(shape)}" for name, shape in stats.outputs.items())
    summary = [
        f"{stats.name}: {format_shape(stats.input_shape)} → {outputs}, batch {stats.batch}",
        "",
        *table_lines,
        "",
        f"MACs by op          {by_op}  (conv + linear = {h(stats.macs_by_op['conv'] + stats.macs_by_op['linear'])})",
        f"depth               {stats.depth} weighted layers on the longest path ({stats.weighted_layers} conv/linear "
        f"layers in all)",
        f"residual units      {stats.residual_units}; {human(stats.paths, exact=True)} input→output paths, "
        f"{stats.shortest_path} to {stats.longest_path} weighted layers long",
        f"receptive field     {_field(stats.receptive_field)} px" if len(stats.outputs) == 1 else
        "receptive field     " + ", ".join(f"{name} {_field(field)} px"
                                           for name, field in stats.receptive_fields.items()),
        f"inference peak      {hb(memory['inference_peak_bytes']['fp32'])} fp32, "
        f"{hb(memory['inference_peak_bytes']['bf16'])} bf16 (live activations)",
        f"training memory     {hb(memory['training_bytes']['fp32'])} fp32, "
        f"{hb(memory['training_bytes']['bf16'])} bf16 (activations kept for backward)",
    ]
    return "\n".join(summary)


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


def zoo_table(entries: Sequence[Entry], exact: bool = False) -> str:
    """``resdsl list``: each zoo network's name, parameters, MACs and input, and the source it follows."""
    rows = [[e.name, human(e.params, exact), human(e.macs, exact), format_shape(e.input_shape), e.source]
            for e in entries]
    return render(["name", "params", "MACs", "input", "source"], rows, "<>><<")
