"""What `resdsl train` costs over the loop a user would write by hand, on the same model, data and batch.

    .venv/bin/python bench/train_speed.py [--spec examples/cifar_resnet20.res] [--batch 128] [--steps 40]
                                          [--threads 2] [--repeat 3]

Both sides train the compiled spec with SGD (momentum 0.9, weight decay) in fp32 on in-memory synthetic
images of the spec's input shape: `resdsl.training.train(..., data="synthetic")` for one epoch of
`--steps` steps (its own batching, normalization, learning-rate schedule, metrics, loss checks and a
checkpoint at the end), and a minimal loop (`zero_grad`, forward, cross-entropy, backward, `step` over
pre-made batches). Each is timed over the whole epoch, alternating, best of `--repeat`; the ratio is
hand-written time / resdsl time (1.0 = as fast). resdsl's share of the epoch spent waiting for data is
printed as measured by the run itself (`data_wait_share` in metrics.jsonl).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import resdsl  # noqa: E402
from resdsl.training import Options, train  # noqa: E402


def hand_written(spec: str, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    network = resdsl.load(spec)
    model = network.to_module().train()
    images = torch.rand(steps, batch, *network.input_shape)
    labels = torch.randint(0, network.output_shape[0], (steps, batch))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    started = time.perf_counter()
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images[step]), labels[step])
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def with_resdsl(spec: str, batch: int, steps: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as folder:
        size = batch * steps
        # synthetic data holds out an eighth: ask for enough that the training split has `steps` batches
        options = Options(epochs=1, batch_size=batch, schedule="constant", lr=0.1, weight_decay=5e-4,
                          synthetic_size=size + size // 7 + batch, progress=False)
        result = train(spec, "synthetic", Path(folder) / "run", options, log=lambda line: None)
        row = json.loads((Path(folder) / "run" / "metrics.jsonl").read_text().splitlines()[-1])
        return float(row["seconds"]) * steps / (result.history[-1]["step"]), float(row["data_wait_share"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default=str(ROOT / "examples" / "cifar_resnet20.res"))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hand_written(args.spec, args.batch, 3)  # warm up both paths once
    with_resdsl(args.spec, args.batch, 3)
    hands, ours, waits = [], [], []
    for _ in range(args.repeat):
        hands.append(hand_written(args.spec, args.batch, args.steps))
        seconds, wait = with_resdsl(args.spec, args.batch, args.steps)
        ours.append(seconds)
        waits.append(wait)
    hand, mine = min(hands), min(ours)
    print(f"{Path(args.spec).name}, batch {args.batch}, {args.steps} steps, {args.threads} threads, "
          f"best of {args.repeat}")
    print(f"  hand-written loop   {args.steps / hand:7.2f} steps/s")
    print(f"  resdsl train        {args.steps / mine:7.2f} steps/s   (data wait {100 * min(waits):.1f}% of the epoch)")
    print(f"  ratio               {hand / mine:7.3f}x")


if __name__ == "__main__":
    main()
