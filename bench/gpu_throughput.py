"""resdsl-compiled ResNets against torchvision's on a GPU, same process, same settings.

    python bench/gpu_throughput.py [--models resnet50 resnet18] [--batch 256] [--steps 30]

bf16 autocast, channels_last, batch 256; a training step (SGD, cross-entropy) and inference; eager and
``torch.compile(fullgraph=True)``. Prints images per second and the ratio resdsl / torchvision per
cell, then ``resdsl.optimize`` (batch norm folded into conv, channels_last, compiled) against
torchvision + ``torch.compile``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torchvision

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import resdsl  # noqa: E402


def timed(step, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def compiled(model: torch.nn.Module) -> torch.nn.Module:
    return torch.compile(model, fullgraph=True)


def throughput(model: torch.nn.Module, mode: str, wrap, batch: int, steps: int) -> float:
    """Images per second; ``wrap`` turns the CUDA, channels_last model into what runs (None: eager)."""
    model = model.cuda().to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, 224, 224, device="cuda").to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device="cuda")
    if mode == "train":
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        forward = wrap(model) if wrap else model

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", torch.bfloat16):
                loss = torch.nn.functional.cross_entropy(forward(x), y)
            loss.backward()
            optimizer.step()
    else:
        model.eval()
        forward = wrap(model) if wrap else model

        def step() -> None:
            with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16):
                forward(x)
    seconds = timed(step, steps, warmup=10 if wrap else 5)
    return batch * steps / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["resnet50", "resnet18"])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, torchvision {torchvision.__version__}")
    print(f"bf16 autocast, channels_last, batch {args.batch}, {args.steps} timed steps\n")
    print(f"{'model':<10} {'cell':<20} {'torchvision img/s':>18} {'resdsl img/s':>13} {'ratio':>7}")
    for name in args.models:
        for mode in ("train", "inference"):
            for wrap in (None, compiled):
                torch.manual_seed(0)
                ours = resdsl.compile(ROOT / "examples" / f"{name}.res")
                theirs = getattr(torchvision.models, name)()
                # Alternate who goes first so neither always meets a warmer GPU.
                first, second = (theirs, ours) if wrap else (ours, theirs)
                a = throughput(first, mode, wrap, args.batch, args.steps)
                b = throughput(second, mode, wrap, args.batch, args.steps)
                tv, rd = (a, b) if first is theirs else (b, a)
                cell = f"{mode} {'compile' if wrap else 'eager'}"
                print(f"{name:<10} {cell:<20} {tv:>18,.0f} {rd:>13,.0f} {rd / tv:>7.3f}", flush=True)
                torch.cuda.empty_cache()
        ours = resdsl.compile(ROOT / "examples" / f"{name}.res")
        theirs = getattr(torchvision.models, name)()
        tv = throughput(theirs, "inference", compiled, args.batch, args.steps)
        rd = throughput(ours, "inference", resdsl.optimize, args.batch, args.steps)
        print(f"{name:<10} {'optimize vs compile':<20} {tv:>18,.0f} {rd:>13,.0f} {rd / tv:>7.3f}", flush=True)


if __name__ == "__main__":
    main()
