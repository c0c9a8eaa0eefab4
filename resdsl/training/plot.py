"""``resdsl plot RUN_DIR -o curves.png``: a run's loss and accuracy curves from its ``metrics.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path

from resdsl.errors import UsageError


def plot(run_dir: str | Path, output: str | Path, dpi: int = 120) -> Path:
    """Two panels by epoch: training and held-out loss; training top-1 and held-out top-1 and top-5."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError("plot needs matplotlib", hint="pip install 'resdsl[train]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from resdsl.output import check_writable, write_file

    metrics = Path(run_dir) / "metrics.jsonl"
    try:
        rows = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as error:
        raise UsageError(f"{run_dir}: no readable metrics.jsonl ({error})"[:300],
                         hint="plot a directory that `resdsl train --out` wrote") from None
    if not rows:
        raise UsageError(f"{metrics} has no epochs yet")
    output = Path(output)
    check_writable(output)
    epochs = [row["epoch"] for row in rows]
    figure, (losses, accuracy) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    losses.plot(epochs, [row["train_loss"] for row in rows], marker="o", label="training")
    losses.plot(epochs, [row["val_loss"] for row in rows], marker="o", label="held out")
    losses.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss", yscale="log")
    accuracy.plot(epochs, [100 * row["train_top1"] for row in rows], marker="o", label="training top-1")
    accuracy.plot(epochs, [100 * row["val_top1"] for row in rows], marker="o", label="held-out top-1")
    accuracy.plot(epochs, [100 * row["val_top5"] for row in rows], marker=".", linestyle="--", label="held-out top-5")
    accuracy.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for axes in (losses, accuracy):
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(f"{Path(run_dir).resolve().name}: best held-out top-1 {max(r['val_top1'] for r in rows):.2%}")
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format=output.suffix.lstrip(".").lower() or "png", dpi=dpi)
    plt.close(figure)
    return write_file(output, buffer.getvalue())
