"""``resdsl.training``: it learns, its checkpoints lose nothing, a killed run resumes to the same
weights, and bad input is one clear error before any training."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import resdsl
from conftest import ROOT
from resdsl.errors import ResdslError, UsageError
from resdsl.training import Options, train
from resdsl.training.data import Batches, open_data

DIGITS = ROOT / "examples" / "digits_resnet.res"
TINY = "network tiny(classes: 10) {{ input {shape}  conv(8) bn relu avgpool(global) flatten fc: linear(classes) }}"


def _tiny(tmp_path: Path, shape: str = "1x8x8") -> Path:
    path = tmp_path / "tiny.res"
    path.write_text(TINY.format(shape=shape))
    return path


def _weights(run: Path, tag: str = "last") -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run / tag / "model.safetensors"))


def test_digits_learns_and_records_everything(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = train(DIGITS, "digits", run, Options(epochs=2, progress=False), overrides={"width": 8, "units": 1},
                   log=lambda line: None)
    assert result.metrics["val_top1"] > 0.8  # chance is 0.1
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert {"train_loss", "val_loss", "val_top1", "val_top5", "lr", "images_per_second"} <= rows[0].keys()
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,step,lr,train_loss")
    model = resdsl.compile(DIGITS, width=8, units=1)
    loaded = resdsl.load_weights(model, run / "last" / "model.safetensors")
    assert repr(loaded).startswith("<loaded ") and len(repr(loaded)) < 200  # a summary, not the module
    assert (run / "best").resolve().parent == (run / "checkpoints").resolve()
    assert len(list((run / "checkpoints").iterdir())) == 2  # one last, one best: older ones removed
    assert any(f.name.startswith("events.out.tfevents") for f in (run / "tensorboard").iterdir())


_KILLED = """
import os, signal, sys, torch
sys.path.insert(0, {root!r})
from resdsl.training import Options, train
steps = 0
original = torch.optim.SGD.step
def step(self, *args, **kwargs):
    global steps
    steps += 1
    result = original(self, *args, **kwargs)
    if steps == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)
    return result
torch.optim.SGD.step = step
torch.set_num_threads(1)
train({spec!r}, "digits", {run!r}, Options(epochs=3, checkpoint_every=5, progress=False),
      overrides={{"width": 4, "units": 1}})
"""


def test_a_killed_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    """SIGKILL in the middle of the second epoch (23 steps per epoch), 4 steps after a mid-epoch checkpoint;
    resumed, the run ends with weights bitwise equal to an uninterrupted run with the same seed (CPU,
    deterministic algorithms, batches that depend only on seed, epoch and batch number)."""
    killed = tmp_path / "killed"
    script = _KILLED.format(root=str(ROOT), kill_at=34, spec=str(DIGITS), run=str(killed))
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert os.readlink(killed / "last") == "checkpoints/last-0000000030"  # the mid-epoch checkpoint at step 30
    resumed = train(None, None, killed, resume=True, log=lambda line: None)
    whole = train(DIGITS, "digits", tmp_path / "whole", Options(epochs=3, checkpoint_every=5, progress=False),
                  overrides={"width": 4, "units": 1}, log=lambda line: None)
    assert resumed.epochs == whole.epochs == 3
    ours, theirs = _weights(killed), _weights(tmp_path / "whole")
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[key], theirs[key]) for key in ours)
    assert [r["val_top1"] for r in resumed.history] == [r["val_top1"] for r in whole.history][: len(resumed.history)]


_KILLED_WHILE_SAVING = """
import os, signal, sys, torch
sys.path.insert(0, {root!r})
from resdsl.training import Options, train
saves = 0
original = os.replace
def replace(source, target):
    global saves
    if os.path.basename(target) == "last":
        saves += 1
        if saves == 2:  # epoch 2's `last`: die with the new checkpoint written but not linked
            os.kill(os.getpid(), signal.SIGKILL)
    return original(source, target)
os.replace = replace
torch.set_num_threads(1)
train({spec!r}, "digits", {run!r}, Options(epochs=3, progress=False), overrides={{"width": 4, "units": 1}})
"""


def test_a_kill_while_saving_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    script = _KILLED_WHILE_SAVING.format(root=str(ROOT), spec=str(DIGITS), run=str(run))
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert os.readlink(run / "last") == "checkpoints/last-0000000023"  # epoch 1's, complete
    weights = _weights(run)
    assert weights and all(torch.isfinite(t).all() for t in weights.values())
    resumed = train(None, None, run, resume=True, log=lambda line: None)
    assert resumed.epochs == 3


def test_a_damaged_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(_tiny(tmp_path), "digits", run, Options(epochs=1, progress=False), log=lambda line: None)
    weights = run / "last" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ResdslError, match="cannot be read"):
        train(None, None, run, resume=True, options=Options(epochs=2), log=lambda line: None)


def test_bad_input_stops_before_training(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="gives 1x8x8 images, but the spec takes 3x32x32"):
        train(_tiny(tmp_path, "3x32x32"), "digits", tmp_path / "a", log=lambda line: None)
    with pytest.raises(UsageError, match="has 10 classes, but the spec's output has 5"):
        train(_tiny(tmp_path), "digits", tmp_path / "b", overrides={"classes": 5}, log=lambda line: None)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(UsageError, match="is not empty"):
        train(_tiny(tmp_path), "digits", tmp_path / "full", log=lambda line: None)
    with pytest.raises(UsageError, match="that is a file"):
        train(_tiny(tmp_path), "digits", tmp_path / "full" / "x", log=lambda line: None)
    with pytest.raises(UsageError, match="no such folder"):
        train(_tiny(tmp_path), str(tmp_path / "nowhere"), tmp_path / "c", log=lambda line: None)
    with pytest.raises(UsageError, match="--resume"):
        train(None, None, tmp_path / "nothing", resume=True, log=lambda line: None)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing half-made


def test_weight_decay_skips_biases_and_norms(tmp_path: Path) -> None:
    from resdsl.training.engine import _optimizer

    model = resdsl.compile(_tiny(tmp_path))
    optimizer = _optimizer(model, Options(lr=0.1, weight_decay=5e-4))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 5e-4 and plain["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in decayed["params"]) == ["conv1.weight", "fc.weight"]
    assert sorted(names[id(p)] for p in plain["params"]) == ["bn1.bias", "bn1.weight", "fc.bias"]


def test_schedules() -> None:
    from resdsl.training.engine import _Run

    run = object.__new__(_Run)
    run.steps_per_epoch = 10
    run.options = Options(epochs=10, lr=0.1, schedule="step", milestones=(5, 8))
    assert [round(run.lr(s), 6) for s in (0, 49, 50, 79, 80, 99)] == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    run.options = Options(epochs=10, lr=0.1, schedule="cosine", warmup_epochs=1)
    assert [round(run.lr(s), 6) for s in (0, 4, 9)] == [0.01, 0.05, 0.1]  # linear warmup over the first epoch
    assert run.lr(10) == pytest.approx(0.1) and run.lr(55) == pytest.approx(0.05) and run.lr(100) == pytest.approx(0)


def test_transfer_learning(tmp_path: Path) -> None:
    """--init-from with DDP's `module.` prefix and a rename, a new head (--set classes, --ignore fc.*), and
    --freeze: frozen weights and frozen batch norms' running statistics stay as they were."""
    source = resdsl.compile(_tiny(tmp_path))
    state = {f"module.{k.replace('conv1', 'stem_conv')}": v for k, v in source.state_dict().items()}
    with torch.no_grad():
        state["module.bn1.running_mean"].fill_(0.25)
    torch.save(state, tmp_path / "pretrained.pth")
    run = tmp_path / "run"
    train(_tiny(tmp_path), "digits", run, Options(epochs=1, progress=False, init_from=str(tmp_path / "pretrained.pth"),
                                                  rename=("stem_conv=conv1",), ignore=("fc.*",),
                                                  freeze=("conv1", "bn1")),
          overrides={"classes": 12}, log=lambda line: None)
    weights = _weights(run)
    assert torch.equal(weights["conv1.weight"], source.state_dict()["conv1.weight"])
    assert torch.equal(weights["bn1.running_mean"], torch.full((8,), 0.25))
    assert weights["fc.weight"].shape == (12, 8)


def test_cifar_and_image_folder_from_disk(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    generator = torch.Generator().manual_seed(0)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        batch = {"data": torch.randint(0, 256, (20, 3072), generator=generator, dtype=torch.uint8).numpy(),
                 "labels": torch.randint(0, 10, (20,), generator=generator).tolist()}
        with (folder / name).open("wb") as file:
            pickle.dump(batch, file)
    data = open_data(str(folder), (3, 32, 32), 10)
    assert (len(data.train), len(data.val), data.classes) == (100, 20, 10)
    images, labels = next(Batches(data, data.train, 8, train=True).epoch(0))
    assert images.shape == (8, 3, 32, 32) and labels.shape == (8,)
    assert abs(float(torch.cat([b[0] for b in Batches(data, data.val, 10, train=False).epoch(0)]).mean())) < 0.1

    from PIL import Image

    for index in range(12):
        target = tmp_path / "pets" / ("cat" if index % 2 else "dog")
        target.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40 + index, 30), (index * 20, 100, 200)).save(target / f"{index}.png")
    data = open_data(str(tmp_path / "pets"), (3, 24, 24), 2)
    assert (len(data.train) + len(data.val), data.classes) == (12, 2)
    assert data.mean[1] == pytest.approx(100 / 255, abs=1e-3) and data.std[2] == pytest.approx(0, abs=1e-3)
    images, _ = next(Batches(data, data.train, 4, train=True, workers=1).epoch(0))
    assert images.shape == (4, 3, 24, 24)


def test_batches_split_over_processes_cover_the_global_batch() -> None:
    """Rank r's batch n holds the global batch n's positions r, r + world, ...: two processes at batch 8 see
    what one process at batch 16 sees."""
    data = open_data("synthetic", (3, 8, 8), 10, synthetic_size=64)
    one = Batches(data, data.train, 16, train=True, seed=3)
    two = [Batches(data, data.train, 8, train=True, seed=3, rank=r, world=2) for r in range(2)]
    order = one.indices(1)
    halves = [b.indices(1) for b in two]
    assert torch.equal(torch.sort(torch.cat([h[:8] for h in halves])).values, torch.sort(order[:16]).values)


NORM_FREE = "network nonorm(classes: 10) { input 1x8x8  conv(16) relu conv(32, stride: 2) relu avgpool(global) flatten fc: linear(classes) }"


def test_two_processes_match_one_at_the_same_global_batch(tmp_path: Path) -> None:
    """`--nproc 2` runs torchrun: two gloo processes, DDP averaging gradients, each with half of every global
    batch. A norm-free net (batch norm would see half batches) ends within float rounding of one process,
    and evaluation counts each held-out image once."""
    spec = tmp_path / "nonorm.res"
    spec.write_text(NORM_FREE)
    command = [sys.executable, "-m", "resdsl", "train", str(spec), "--data", "digits", "--epochs", "2",
               "--batch-size", "32", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    two = subprocess.run([*command, "--out", str(tmp_path / "two"), "--nproc", "2"], capture_output=True, text=True,
                         timeout=300, env=env)
    assert two.returncode == 0, two.stderr[-2000:]
    assert "over 2 processes" in two.stdout
    one = train(spec, "digits", tmp_path / "one", Options(epochs=2, batch_size=32, progress=False),
                log=lambda line: None)
    ours, theirs = _weights(tmp_path / "two"), _weights(tmp_path / "one")
    assert max((ours[k] - theirs[k]).abs().max().item() for k in ours) < 1e-5
    rows = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["val_top1"] == pytest.approx(one.metrics["val_top1"], abs=1e-12)
    assert rows[-1]["val_loss"] == pytest.approx(one.metrics["val_loss"], rel=1e-5)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from resdsl.cli import main

    assert main(["train", str(DIGITS), "--data", "digits"]) == 2
    assert "train needs SPEC, --data and --out" in capsys.readouterr().err
    assert main(["train", str(_tiny(tmp_path, "3x32x32")), "--data", "digits", "--out", str(tmp_path / "r")]) == 2
    assert "gives 1x8x8 images" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main(["train", str(_tiny(tmp_path)), "--data", "digits", "--out", str(run), "--epochs", "1",
                 "--no-progress", "--label-smoothing", "0.1", "--optimizer", "adamw", "--warmup-epochs", "0.5"]) == 0
    assert "done: 1 epochs" in capsys.readouterr().out
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-progress"]) == 0
    assert "resumed" in capsys.readouterr().out
    assert main(["plot", str(run), "-o", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["train", str(DIGITS), "--data", "digits", "--out", str(tmp_path / "sync"), "--nproc", "2",
                 "--sync-bn", "--device", "cpu"]) == 2
    assert "--sync-bn needs GPUs" in capsys.readouterr().err
    assert not (tmp_path / "sync").exists()
    assert main(["plot", str(tmp_path), "-o", str(tmp_path / "none.png")]) == 2
    assert not (tmp_path / "none.png").exists()


@pytest.mark.parametrize("suffix", [".onnx", ".pt2"])
def test_export_trained_weights(tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A trained run's best weights exported, then run by onnxruntime (or reloaded by torch.export) at another
    batch size: outputs within 1e-4 of the PyTorch module's."""
    import numpy as np

    from resdsl.cli import main

    run = tmp_path / "run"
    spec = _tiny(tmp_path)
    train(spec, "digits", run, Options(epochs=1, progress=False), log=lambda line: None)
    output = tmp_path / f"model{suffix}"
    weights = run / "best" / "model.safetensors"
    assert main(["export", str(spec), "--weights", str(weights), "-o", str(output)]) == 0
    assert "outputs within" in capsys.readouterr().out
    model = resdsl.compile(spec).eval()
    resdsl.load_weights(model, weights)
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        expected = model(x).numpy()
    if suffix == ".onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
        actual = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    else:
        actual = torch.export.load(output).module()(x).detach().numpy()
    assert np.abs(actual - expected).max() <= 1e-4
    assert main(["export", str(spec), "-o", str(tmp_path / "model.tflite")]) == 2


def test_optimize_leaves_the_callers_model_alone(tmp_path: Path) -> None:
    model = resdsl.compile(_tiny(tmp_path)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = resdsl.optimize(model)
    assert model.training and fast is not model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert "bn1" in dict(model.named_modules())  # not folded away in the caller's model


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_and_channels_last(tmp_path: Path, precision: str) -> None:
    """bf16 autocast, and fp16 with a gradient scaler, with channels_last: the run learns on a CPU and keeps
    fp32 weights."""
    result = train(DIGITS, "digits", tmp_path / "run", Options(epochs=2, precision=precision, channels_last=True,
                                                               progress=False),
                   overrides={"width": 8, "units": 1}, log=lambda line: None)
    assert result.metrics["val_top1"] > 0.5
    assert all(t.dtype in (torch.float32, torch.int64) for t in _weights(tmp_path / "run").values())


def test_compiled_training_follows_eager(tmp_path: Path) -> None:
    """--compile (torch.compile, inductor on a CPU) trains the same model: after an epoch, weights within
    float reordering of the eager run's."""
    spec = _tiny(tmp_path)
    for name, compiled in (("eager", False), ("compiled", True)):
        train(spec, "digits", tmp_path / name, Options(epochs=1, compile=compiled, progress=False),
              log=lambda line: None)
    eager, compiled_ = _weights(tmp_path / "eager"), _weights(tmp_path / "compiled")
    assert max((eager[k].float() - compiled_[k].float()).abs().max().item() for k in eager) < 1e-3


def test_a_diverging_run_stops_before_saving_nan_weights(tmp_path: Path) -> None:
    spec = tmp_path / "nonorm.res"
    spec.write_text(NORM_FREE)
    with pytest.raises(ResdslError, match=r"the loss became (nan|inf) by step 5"):
        train(spec, "digits", tmp_path / "run", Options(epochs=1, lr=1e30, checkpoint_every=5, progress=False),
              log=lambda line: None)
    assert not (tmp_path / "run" / "last").exists()
