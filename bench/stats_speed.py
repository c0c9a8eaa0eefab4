"""How long a user waits: `resdsl stats` against importing torch + torchvision + fvcore, as whole processes.

    .venv/bin/python bench/stats_speed.py [--repeat 5]

Prints the median wall time of each and their ratio, then a scaling run over generated specs of
1,000 / 10,000 / 100,000 blocks (lowering + stats, in process) with the time per node.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRACER = (
    "import torch, torchvision\n"
    "from fvcore.nn import FlopCountAnalysis\n"
    "model = torchvision.models.resnet152().eval()\n"
    "analysis = FlopCountAnalysis(model, torch.randn(1, 3, 224, 224))\n"
    "analysis.unsupported_ops_warnings(False)\n"
    "print(analysis.total())\n"
)


def wall(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def scaling(blocks: int) -> tuple[int, float]:
    import resdsl

    spec = ("import std (basic)\nnetwork deep { input 16x8x8\n"
            f"  stage body = basic(16) * {blocks}\n  head {{ avgpool(global) flatten linear(10) }}\n}}\n")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "deep.res"
        path.write_text(spec)
        start = time.perf_counter()
        network = resdsl.load(path, max_nodes=10 * blocks + 100)
        network.stats()
        elapsed = time.perf_counter() - start
    return len(network.graph), elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    resdsl_time = wall([sys.executable, "-m", "resdsl", "stats", "examples/resnet152.res"], args.repeat)
    tracer_time = wall([sys.executable, "-c", TRACER], max(1, args.repeat // 2))
    print("resnet152, whole process, median wall time")
    print(f"  resdsl stats examples/resnet152.res          {resdsl_time:7.3f} s")
    print(f"  torch + torchvision + fvcore FlopCountAnalysis {tracer_time:7.3f} s")
    print(f"  ratio                                        {tracer_time / resdsl_time:7.1f}x faster")
    print("\nscaling: lowering + shapes + stats of N basic blocks, in process")
    print(f"  {'blocks':>8} {'nodes':>9} {'seconds':>9} {'µs/node':>9} {'nodes/s':>10}")
    for blocks in (1_000, 10_000, 100_000):
        nodes, elapsed = scaling(blocks)
        print(f"  {blocks:>8,} {nodes:>9,} {elapsed:>9.2f} {1e6 * elapsed / nodes:>9.1f} {nodes / elapsed:>10,.0f}")


if __name__ == "__main__":
    main()
