"""Training memory on CUDA: `stats` training_bytes against what autograd keeps there (saved-tensor hooks).

    python3 bench/cuda_saved_tensors.py [--device cuda]

The CPU test (tests/test_compile.py) checks every example; this checks the device the figure is for:
cuDNN's convolution and batch norm, and the fused dropout kernel with its 1-byte mask. Batch 8, the
model and input in fp32, then in bf16 (the whole model cast, no autocast).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import resdsl  # noqa: E402
from resdsl.backends.torch_tools import saved_for_backward  # noqa: E402

EXTRA = {
    "activations_dropout": "import std\nnetwork n { input 3x32x32  conv(16) bn relu se_basic(16) maxpool(k: 2) "
                           "conv(8) gelu silu tanh sigmoid dropout(0.3) conv(8) avgpool(global) flatten linear(10) }",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda", help="cpu runs too (its dropout keeps a float mask)")
    device = torch.device(parser.parse_args().device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"device: {name}, torch {torch.__version__}, batch 8")
    print(f"{'network':<24} {'dtype':<5} {'stats bytes':>14} {'autograd bytes':>15}  verdict")
    specs = {p.stem: p for p in sorted((ROOT / "examples").glob("*.res"))} | EXTRA
    failures = runs = 0
    for name, spec in specs.items():
        network = resdsl.load(spec)
        figures = network.stats(batch=8).memory["training_bytes"]
        for dtype_name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            model = network.to_module().to(device, dtype).train()
            x = torch.randn(8, *network.input_shape, device=device, dtype=dtype)
            measured, expected = saved_for_backward(model, x), figures[dtype_name]
            failures += measured != expected
            runs += 1
            verdict = "equal" if measured == expected else f"DIFFERENT by {measured - expected:+,}"
            print(f"{name:<24} {dtype_name:<5} {expected:>14,} {measured:>15,}  {verdict}")
    print(f"{runs - failures} of {runs} equal")


if __name__ == "__main__":
    main()
