"""Render time against node count: DOT generation and Graphviz's SVG layout, expanded and collapsed.

    .venv/bin/python bench/render_speed.py
"""

from __future__ import annotations

import time
from pathlib import Path

import resdsl
from resdsl.backends.graphviz import render, to_dot

ROOT = Path(__file__).resolve().parent.parent


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    print(f"{'network':<18} {'collapse':<8} {'nodes':>6} {'drawn':>6} {'DOT s':>7} {'SVG s':>7}")
    for name in ("resnet18", "resnet50", "resnet101", "resnet152", "preact_resnet164", "densenet121"):
        graph = resdsl.load(ROOT / "examples" / f"{name}.res").graph
        for collapse in ("none", "blocks"):
            dot_seconds = timed(lambda graph=graph, collapse=collapse: to_dot(graph, collapse))
            drawn = to_dot(graph, collapse).count("tooltip=")
            svg_seconds = timed(lambda graph=graph, collapse=collapse: render(graph, "svg", collapse=collapse))
            print(f"{name:<18} {collapse:<8} {len(graph):>6} {drawn:>6} {dot_seconds:>7.3f} {svg_seconds:>7.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
