"""``resdsl import`` on torchvision's ResNet-152: where the time goes, against what a user would
otherwise run to look at the model (``torch.fx.symbolic_trace`` alone).

    python bench/import_speed.py [--model resnet152] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

import torch
import torchvision

from resdsl.importing import import_module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="resnet152")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    model = getattr(torchvision.models, args.model)()
    built = time.perf_counter() - start
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        start = time.perf_counter()
        torch.fx.symbolic_trace(model)
        fx = time.perf_counter() - start
        imported = import_module(model, (3, 224, 224), args.model)
        for key, value in {"fx": fx, **imported.seconds}.items():
            best[key] = min(best.get(key, value), value)
    total = best["trace"] + best["write"]
    print(f"{args.model}: building the model (torchvision, random weights) {built:.2f} s")
    print(f"  torch.fx.symbolic_trace alone        {best['fx']:.3f} s")
    print(f"  import: trace into ops               {best['trace']:.3f} s")
    print(f"  import: write, lower and check spec  {best['write']:.3f} s")
    print(f"  import total                         {total:.3f} s   ({total / best['fx']:.1f}x symbolic_trace; "
          f"written with {imported.level})")


if __name__ == "__main__":
    main()
