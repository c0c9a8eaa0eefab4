"""How long a user waits: `resdsl stats` against importing torch + torchvision + fvcore, as whole processes.

    .venv/bin/python bench/stats_speed.py [--repeat 11] [--largest 100000]

Prints the median (and fastest) wall time of `resdsl stats examples/resnet152.res`, of the tracer a user
would otherwise run, and of importing resdsl's two dependencies alone (the floor no code of ours can
go below), runs alternating between the commands so that a slow moment of the machine is shared. Then
a scaling run over generated specs of 1,000 / 10,000 / 100,000 basic blocks: loading and stats in
process, timed apart, with the time per node, and the whole `resdsl stats` command; the fastest of a
few runs, each in a fresh process. resdsl's modules are
byte-compiled first, as installing the wheel does (an editable install under PYTHONDONTWRITEBYTECODE
would recompile them in every run).
"""

from __future__ import annotations

import argparse
import compileall
import gc
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


def resdsl_command() -> list[str]:
    """The `resdsl` script next to this interpreter (what a user types), else `python -m resdsl`."""
    script = Path(sys.executable).parent / "resdsl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "resdsl"]


def walls(commands: dict[str, list[str]], repeat: dict[str, int]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(max(repeat.values())):
        for name, command in commands.items():
            if round_ < repeat[name]:
                start = time.perf_counter()
                subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
                times[name].append(time.perf_counter() - start)
    return times


def deep_spec(blocks: int) -> str:
    return ("import std (basic)\nnetwork deep { input 16x8x8\n"
            f"  stage body: basic(16) * {blocks}\n  stage head {{ avgpool(global) flatten linear(10) }}\n}}\n")


def scaling(path: Path, blocks: int) -> tuple[int, float, float, float]:
    """Nodes, load seconds and stats seconds for a spec of ``blocks`` basic blocks, in this process,
    with the cyclic garbage collector off as the ``resdsl`` command has it (:func:`resdsl.cli.run`);
    then the seconds networkx alone takes to build the same graph, node by node and edge by edge with
    the same attributes, as lowering does: the container's own share, and how it grows with size."""
    gc.disable()
    import networkx as nx

    import resdsl

    start = time.perf_counter()
    network = resdsl.load(path, max_nodes=10 * blocks + 100)
    loaded = time.perf_counter()
    network.stats()
    done = time.perf_counter()
    nodes, edges = list(network.graph.nodes(data=True)), list(network.graph.edges(data=True))
    copied = time.perf_counter()
    copy = nx.DiGraph()
    for node, data in nodes:
        copy.add_node(node, **data)
    for source, target, data in edges:
        copy.add_edge(source, target, **data)
    return len(network.graph), loaded - start, done - loaded, time.perf_counter() - copied


def fastest_scaling(sizes: dict[int, int], folder: Path) -> dict[int, tuple[int, float, float, float, float]]:
    """Per size, the fastest of ``sizes[blocks]`` runs of loading + stats in a fresh process, of networkx
    building the same graph, and of the whole ``resdsl stats`` command; sizes take turns, since the
    machine's speed drifts by 20% over minutes, more than what is being measured. Returns nodes,
    load s, stats s, networkx s, command s."""
    best: dict[int, tuple[int, float, float, float, float]] = {}
    for round_ in range(max(sizes.values())):
        for blocks, runs in sizes.items():
            if round_ >= runs:
                continue
            path = folder / f"deep{blocks}.res"
            path.write_text(deep_spec(blocks))
            out = subprocess.run([sys.executable, __file__, "--scale", str(blocks), str(path)], cwd=ROOT,
                                 check=True, capture_output=True, text=True).stdout.split()
            nodes, load, analysis, container = int(out[0]), float(out[1]), float(out[2]), float(out[3])
            command = walls({"stats": [*resdsl_command(), "stats", str(path), "--max-nodes", str(10 * blocks + 100)]},
                            {"stats": 1})["stats"][0]
            previous = best.get(blocks, (nodes, load, analysis, container, command))
            fastest_in_process = min((load, analysis), previous[1:3], key=sum)
            best[blocks] = (nodes, *fastest_in_process, min(container, previous[3]), min(command, previous[4]))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--largest", type=int, default=100_000, help="blocks in the largest scaling run")
    parser.add_argument("--scale", nargs=2, help=argparse.SUPPRESS)  # BLOCKS PATH: one run, for fastest_scaling
    args = parser.parse_args()
    if args.scale:
        print(*scaling(Path(args.scale[1]), int(args.scale[0])))
        return
    compileall.compile_dir(ROOT / "resdsl", quiet=1)
    commands = {
        "resdsl": [*resdsl_command(), "stats", "examples/resnet152.res"],
        "tracer": [sys.executable, "-c", TRACER],
        "floor": [sys.executable, "-c", "import networkx, lark"],
    }
    times = walls(commands, {"resdsl": args.repeat, "tracer": max(1, args.repeat // 4), "floor": args.repeat})
    median = {name: statistics.median(values) for name, values in times.items()}
    fastest = {name: min(values) for name, values in times.items()}
    print(f"resnet152, whole process, wall time over {args.repeat} runs      median   fastest")
    print(f"  resdsl stats examples/resnet152.res              {median['resdsl']:7.3f} s {fastest['resdsl']:7.3f} s")
    print(f"  torch + torchvision + fvcore FlopCountAnalysis    {median['tracer']:7.3f} s {fastest['tracer']:7.3f} s")
    print(f"  ratio                                            {median['tracer'] / median['resdsl']:7.1f}x faster")
    print(f"  floor: python -c 'import networkx, lark'         {median['floor']:7.3f} s {fastest['floor']:7.3f} s")
    print(f"  resdsl's own share (median - floor)              {median['resdsl'] - median['floor']:7.3f} s")
    sizes = {blocks: runs for blocks, runs in ((1_000, 7), (10_000, 5), (100_000, 3)) if blocks <= args.largest}
    print("\nscaling: N basic blocks, fastest of 7 / 5 / 3 runs, sizes taking turns. In process: load (parse,")
    print("lower, lint, shapes) and stats; networkx: networkx alone building the same graph (about its share of load);")
    print("command: `resdsl stats deep.res` as a whole process, startup and exit included")
    print(f"  {'blocks':>8} {'nodes':>9} {'load s':>8} {'stats s':>8} {'µs/node':>8} {'nodes/s':>9} "
          f"{'networkx µs/node':>17} {'command s':>10}")
    with tempfile.TemporaryDirectory() as folder:
        for blocks, (nodes, load, analysis, container, command) in fastest_scaling(sizes, Path(folder)).items():
            elapsed = load + analysis
            print(f"  {blocks:>8,} {nodes:>9,} {load:>8.2f} {analysis:>8.2f} {1e6 * elapsed / nodes:>8.1f} "
                  f"{nodes / elapsed:>9,.0f} {1e6 * container / nodes:>17.1f} {command:>10.2f}")

if __name__ == "__main__":
    main()
