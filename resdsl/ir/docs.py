"""The README's layer table and counting rules, generated from the op definitions.

``python -m resdsl.ir.docs README.md`` rewrites the generated parts of the README (between
``<!-- generated: NAME -->`` and ``<!-- end generated -->``); tests/test_ops.py checks they are current,
so a new op cannot reach the docs halfway.

>>> print(layer_table().splitlines()[2])
| `conv` | `channels`, `k` (3), `stride` (1), `padding` (dilation * (k // 2)), `groups` (1), `dilation` (1), `bias` (false) | 2-D convolution |
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from resdsl.ir import ops
from resdsl.ir.layers import LAYERS
from resdsl.ir.schema import Parameter, describe


def _argument(parameter: Parameter) -> str:
    if parameter.required:
        return f"`{parameter.name}`"
    shown = parameter.shown if parameter.shown is not None else describe(parameter.default)
    return f"`{parameter.name}` ({shown})"


def layer_table() -> str:
    """One row per built-in layer: its arguments with their defaults, and what it does."""
    rows = ["| layer | arguments (defaults) | what it does |", "|---|---|---|"]
    for name, builtin in LAYERS.items():
        arguments = ", ".join(map(_argument, builtin.parameters)) or "—"
        rows.append(f"| `{name}` | {arguments} | {builtin.layer.summary} |")
    return "\n".join(rows)


def counting_table() -> str:
    """One row per op: what ``stats`` counts for it (fvcore's rules) and what training keeps."""
    rows = ["| op | params, buffers and MACs (per sample) | kept for backward |", "|---|---|---|"]
    for op in ops.OPS:
        rows.append(f"| `{op.kind}` | {op.counting} | {op.memory.describe()} |")
    return "\n".join(rows)


TABLES = {"layers": layer_table, "counting": counting_table}
_SECTION = re.compile(r"(<!-- generated: (\w+) -->\n).*?(<!-- end generated -->)", re.DOTALL)


def regenerate(text: str) -> str:
    """``text`` with every generated section rewritten from the op definitions."""
    return _SECTION.sub(lambda match: f"{match[1]}{TABLES[match[2]]()}\n{match[3]}", text)


def main(argv: list[str]) -> int:
    for path in map(Path, argv or ["README.md"]):
        path.write_text(regenerate(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
