"""The training loop behind ``resdsl train`` and :func:`resdsl.train`: one process or many
(``torchrun``: DistributedDataParallel), checkpoints every epoch, metrics per epoch.

Determinism: batches depend only on (seed, epoch, batch) (see :class:`~resdsl.training.data.Batches`),
the model's own randomness (dropout, stochastic depth) on torch's RNG, which checkpoints keep. On a
CPU, a run killed and resumed ends with the weights bitwise equal to an uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resdsl.errors import ResdslError, UsageError
from resdsl.training import checkpoint
from resdsl.training.data import Batches, Data, open_data

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
FINITE_CHECK_STEPS = 20  #: steps between checks that the loss is finite (each waits for the device)
SCHEDULES = ("cosine", "step", "constant")
OPTIMIZERS = ("sgd", "adamw")


@dataclass
class Options:
    """Everything a run can be told; ``None`` takes the dataset's default (see :mod:`resdsl.training.data`)."""

    epochs: int | None = None
    batch_size: int | None = None  # the global batch: split across processes
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float | None = None  # never on biases and norm parameters (anything 1-D)
    schedule: str | None = None
    milestones: tuple[int, ...] | None = None  # epochs where a step schedule multiplies by gamma
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    workers: int = 0
    device: str = "auto"
    seed: int = 0
    init_from: str | None = None
    ignore: tuple[str, ...] = ()
    rename: tuple[str, ...] = ()  # FROM=TO regular expressions over checkpoint keys
    freeze: tuple[str, ...] = ()
    sync_bn: bool = False
    checkpoint_every: int = 0  # steps between mid-epoch checkpoints (0: at each epoch's end only)
    synthetic_size: int = 1024
    progress: bool | None = None  # a progress bar; None: when stdout is a terminal

    def resolved(self, data: Data) -> Options:
        """These options with the dataset's defaults filled in, checked."""
        defaults: dict[str, Any] = {"epochs": 10, "batch_size": 128, "lr": 0.1 if self.optimizer == "sgd" else 1e-3,
                    "weight_decay": 5e-4 if self.optimizer == "sgd" else 0.05, "schedule": "cosine",
                    "milestones": ()} | data.defaults
        filled = dataclasses.replace(self, **{key: defaults[key] for key in defaults
                                              if hasattr(self, key) and getattr(self, key) is None})
        filled.check()
        return filled

    def check(self) -> None:
        problems = [
            (self.epochs is not None and self.epochs < 1, "--epochs must be at least 1"),
            (self.batch_size is not None and self.batch_size < 1, "--batch-size must be at least 1"),
            (self.optimizer not in OPTIMIZERS, f"--optimizer is one of {', '.join(OPTIMIZERS)}"),
            (self.schedule is not None and self.schedule not in SCHEDULES,
             f"--schedule is one of {', '.join(SCHEDULES)}"),
            (self.precision not in PRECISIONS, f"--precision is one of {', '.join(PRECISIONS)}"),
            (self.lr is not None and not (0 < self.lr < math.inf), "--lr must be positive"),
            (not 0 <= self.label_smoothing < 1, "--label-smoothing is in [0, 1)"),
            (self.warmup_epochs < 0, "--warmup-epochs cannot be negative"),
            (self.workers < 0, "--workers cannot be negative"),
        ]
        for bad, message in problems:
            if bad:
                raise UsageError(message)
        for rule in self.rename:
            source, sep, _ = rule.partition("=")
            if not sep:
                raise UsageError(f"--rename {rule}: write FROM=TO (a regular expression and its replacement)")
            try:
                re.compile(source)
            except re.error as error:
                raise UsageError(f"--rename {rule}: {error}") from None


@dataclass
class Result:
    """What a run ended with: its directory, the last epoch's metrics and the best top-1."""

    run_dir: Path
    metrics: dict[str, float]
    best_top1: float
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"Result({self.run_dir}: {self.epochs} epochs, top-1 {self.metrics.get('val_top1', 0):.2%}, "
                f"best {self.best_top1:.2%})")


# ----------------------------------------------------------------------------------------------------
# Processes


@dataclass
class World:
    """This process's place among the ``torchrun`` processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.size > 1:
            torch.distributed.barrier()


def join_world(device: str) -> World:
    """Under ``torchrun`` (WORLD_SIZE > 1): a process group, ``nccl`` on GPUs and ``gloo`` on CPUs."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device here", hint="use --device cpu")
    target = torch.device(f"cuda:{local}" if device == "cuda" else device)
    if target.type == "cuda":
        torch.cuda.set_device(target)
    if size > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if target.type == "cuda" else "gloo")
    return World(rank, size, local, target)


# ----------------------------------------------------------------------------------------------------
# The run


def train(spec: str | Path | None, data: str | None, out: str | Path, options: Options | None = None, *,
          resume: bool = False, input_shape: tuple[int, ...] | None = None,
          overrides: dict[str, Any] | None = None, log: Callable[[str], None] | None = None) -> Result:
    """Train the network ``spec`` on ``data`` (see :func:`resdsl.training.data.open_data`) into the run
    directory ``out``: checkpoints ``last`` and ``best``, ``metrics.jsonl`` and ``metrics.csv``,
    TensorBoard scalars when tensorboard is installed. ``resume=True`` continues the run in ``out``
    from its ``last`` checkpoint, with the spec, data and options it was started with (``options``
    may raise the number of epochs)."""
    run_dir = Path(out)
    world = join_world(options.device if options else "auto")
    say = log or (lambda text: print(text, flush=True))
    planned = plan(spec, data, run_dir, options, resume=resume, input_shape=input_shape, overrides=overrides,
                   world_size=world.size, device_type=world.device.type, main=world.main)
    if world.main and not resume:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_json(run_dir / "run.json", {
            "spec": str(planned.spec), "data": str(planned.data),
            "input_shape": list(planned.input_shape) if planned.input_shape else None,
            "overrides": planned.overrides, "options": dataclasses.asdict(planned.options),
            "spec_sha256": planned.digest, "network": planned.network.name, "world_size": world.size})
    world.barrier()
    return _Run(planned.network, planned.dataset, planned.options, run_dir, world,
                say if world.main else (lambda text: None), resume).run()


@dataclass
class Plan:
    """A run checked before it starts: the network, the data, the options with defaults filled in."""

    network: Any
    dataset: Data
    options: Options
    spec: str | Path
    data: str
    input_shape: tuple[int, ...] | None
    overrides: dict[str, Any]
    digest: str


def plan(spec: str | Path | None, data: str | None, run_dir: Path, options: Options | None, *, resume: bool,
         input_shape: tuple[int, ...] | None, overrides: dict[str, Any] | None, world_size: int,
         device_type: str, main: bool = True) -> Plan:
    """Everything a run needs checked, before any process starts training or anything is written:
    ``resdsl train --nproc`` calls it before launching the processes, so a fault is one clear error."""
    import resdsl

    if resume:
        recorded = _read_run(run_dir)
        spec, data = recorded["spec"], recorded["data"]
        input_shape = tuple(recorded["input_shape"]) if recorded["input_shape"] else None
        overrides = recorded["overrides"]
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in recorded["options"].items()}
        stored = Options(**fields)
        if options is not None and options.epochs is not None:
            stored = dataclasses.replace(stored, epochs=options.epochs)
        options = stored
    else:
        options = options or Options()
        if spec is None or data is None:
            raise UsageError("train needs a spec and --data (or --resume RUN_DIR)")
        if run_dir.exists() and not run_dir.is_dir():
            raise UsageError(f"--out {run_dir}: that is a file; a run directory is a folder",
                             hint="choose a new folder: --out runs/NAME")
        if main and run_dir.exists() and any(run_dir.iterdir()):
            raise UsageError(f"{run_dir} is not empty: a run directory holds one run",
                             hint=f"continue it with --resume {run_dir}, or choose a new --out")
    options.check()
    if options.sync_bn and world_size > 1 and device_type != "cuda":
        raise UsageError("--sync-bn needs GPUs: PyTorch's SyncBatchNorm runs on CUDA devices only",
                         hint="leave it out on CPUs, or train a norm-free or group-norm spec there")
    network = resdsl.load(spec, input_shape=input_shape, **(overrides or {}))
    if len(network.output_shapes) != 1 or len(network.output_shape) != 1:
        raise UsageError(f"{network.name} gives {network.output_shapes}: train takes a classifier (one output "
                         "of class scores)")
    dataset = open_data(str(data), network.input_shape, network.output_shape[0],
                        synthetic_size=options.synthetic_size)
    options = options.resolved(dataset)
    assert options.batch_size is not None and options.epochs is not None
    if options.batch_size % world_size:
        raise UsageError(f"--batch-size {options.batch_size} does not split over {world_size} processes",
                         hint=f"use a multiple of {world_size}")
    digest = hashlib.sha256(network.to_source().encode()).hexdigest()
    if resume and digest != _read_run(run_dir)["spec_sha256"]:
        raise ResdslError(f"the spec {spec} has changed since the run in {run_dir} started",
                          hint="resume with the spec it was started with, or start a new run")
    return Plan(network, dataset, options, spec, str(data), input_shape, dict(overrides or {}), digest)


class _Run:
    def __init__(self, network: Any, data: Data, options: Options, run_dir: Path, world: World,
                 say: Callable[[str], None], resume: bool) -> None:
        self.network, self.data, self.options, self.run_dir, self.world, self.say = \
            network, data, options, run_dir, world, say
        assert options.batch_size is not None and options.epochs is not None
        _seed_everything(options.seed)
        torch.use_deterministic_algorithms(world.device.type == "cpu", warn_only=True)
        model = network.to_module()
        if options.init_from:
            _init_from(model, options)
        if options.freeze:
            from resdsl.backends.torch_tools import freeze

            freeze(model, *options.freeze)
        self.frozen_norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase)
                             and any(True for _ in m.parameters(recurse=False))
                             and not any(p.requires_grad for p in m.parameters(recurse=False))]
        if options.sync_bn and world.size > 1:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = model.to(world.device)
        if options.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.optimizer = _optimizer(model, options)
        self.scaler = torch.amp.GradScaler(world.device.type, enabled=options.precision == "fp16")
        per_rank = options.batch_size // world.size
        self.train_batches = Batches(data, data.train, per_rank, train=True, seed=options.seed,
                                     rank=world.rank, world=world.size, workers=options.workers)
        self.val_batches = Batches(data, data.val, per_rank, train=False, rank=world.rank, world=world.size,
                                   workers=options.workers)
        self.steps_per_epoch = len(self.train_batches)
        self.total_steps = self.steps_per_epoch * options.epochs
        self.epoch, self.step, self.best = 0, 0, -1.0
        self.history: list[dict[str, float]] = []
        if resume:
            self._restore()
        self.wrapped: nn.Module = model
        if world.size > 1:
            self.wrapped = nn.parallel.DistributedDataParallel(
                model, device_ids=[world.device.index] if world.device.type == "cuda" else None)
        self.forward: Callable[[torch.Tensor], torch.Tensor] = \
            torch.compile(self.wrapped) if options.compile else self.wrapped
        self.loss = nn.CrossEntropyLoss(label_smoothing=options.label_smoothing)
        self.tensorboard = _tensorboard(run_dir) if world.main else None

    # -- the schedule: a pure function of the step, so resuming needs only the step ---------------------

    def lr(self, step: int) -> float:
        options = self.options
        assert options.lr is not None and options.epochs is not None
        epoch = step / self.steps_per_epoch
        warmup = options.warmup_epochs
        if warmup and epoch < warmup:
            return options.lr * (step + 1) / (warmup * self.steps_per_epoch)
        if options.schedule == "cosine":
            span = max(1e-9, options.epochs - warmup)
            return options.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (epoch - warmup) / span)))
        if options.schedule == "step":
            return options.lr * options.gamma ** sum(epoch >= m for m in (options.milestones or ()))
        return options.lr

    # -- one run -----------------------------------------------------------------------------------------

    def run(self) -> Result:
        options = self.options
        assert options.epochs is not None
        self.say(f"{self.network.name}: {sum(p.numel() for p in self.model.parameters()):,} parameters; "
                 f"{self.data.name}: {len(self.data.train):,} training and {len(self.data.val):,} held-out images; "
                 f"{options.epochs} epochs of {self.steps_per_epoch} steps, batch {options.batch_size}"
                 f"{f' over {self.world.size} processes' if self.world.size > 1 else ''} on {self.world.device}")
        metrics: dict[str, float] = {}
        while self.epoch < options.epochs:
            skip = self.step - self.epoch * self.steps_per_epoch
            started = time.perf_counter()
            train_loss, train_top1, seen, waited = self._train_epoch(skip)
            elapsed = time.perf_counter() - started
            val = self._evaluate()
            metrics = {"epoch": self.epoch + 1, "step": self.step, "lr": self.lr(self.step - 1),
                       "train_loss": train_loss, "train_top1": train_top1, **val,
                       "images_per_second": seen * self.world.size / max(elapsed, 1e-9),
                       "data_wait_share": waited / max(elapsed, 1e-9), "seconds": elapsed}
            self.epoch += 1
            improved = val["val_top1"] > self.best
            self.best = max(self.best, val["val_top1"])
            self.history.append(metrics)
            if self.world.main:
                self._record(metrics)
                self._save("last")
                if improved:
                    self._save("best")
            self.world.barrier()
            self.say(f"epoch {self.epoch}/{options.epochs}  loss {train_loss:.4f}  val loss {val['val_loss']:.4f}  "
                     f"top-1 {val['val_top1']:.2%}  top-5 {val['val_top5']:.2%}  "
                     f"{metrics['images_per_second']:,.0f} img/s  {elapsed:.1f} s")
        if self.tensorboard is not None:
            self.tensorboard.close()
        return Result(self.run_dir, metrics, self.best, self.epoch, self.history)

    def _set_train(self) -> None:
        self.model.train()
        for norm in self.frozen_norms:  # frozen batch norms keep their running statistics
            norm.eval()

    def _train_epoch(self, skip: int) -> tuple[float, float, int, float]:
        self._set_train()
        options, device = self.options, self.world.device
        autocast = _autocast(device, options.precision)
        # running sums stay on the device: reading a value back each step would wait for the GPU each step
        total_loss = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        waited = 0.0
        progress = _Progress(self, skip)
        batches = self.train_batches.epoch(self.epoch, skip)
        while True:
            before = time.perf_counter()
            item = next(batches, None)
            waited += time.perf_counter() - before
            if item is None:
                break
            images, labels = item
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            if options.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr(self.step)
            self.optimizer.zero_grad(set_to_none=True)
            with autocast:
                logits = self.forward(images)
                loss = self.loss(logits.float(), labels)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.step += 1
            total_loss += loss.detach().double() * len(labels)
            correct += (logits.argmax(1) == labels).sum()
            seen += len(labels)
            progress.update(len(labels), loss)
            saving = bool(options.checkpoint_every) and self.step % options.checkpoint_every == 0
            if saving or self.step % FINITE_CHECK_STEPS == 0:
                self._check_finite(total_loss)
            if saving and self.world.main:
                self._save("last")
        progress.close()
        self._check_finite(total_loss)
        sums = self._all_reduce([float(total_loss), int(correct), seen])
        return sums[0] / max(sums[2], 1), sums[1] / max(sums[2], 1), seen, waited

    def _check_finite(self, total_loss: torch.Tensor) -> None:
        """Stop a run whose loss has become infinite or NaN, before it writes such weights to a checkpoint."""
        if not torch.isfinite(total_loss):
            raise ResdslError(f"the loss became {float(total_loss)} by step {self.step}",
                              hint="lower --lr, add --warmup-epochs, or use --precision bf16/fp32")

    @torch.no_grad()
    def _evaluate(self) -> dict[str, float]:
        self.model.eval()
        device = self.world.device
        loss_sum, top1, top5, seen = 0.0, 0.0, 0.0, 0.0
        loss = nn.CrossEntropyLoss(reduction="sum")
        with _autocast(device, self.options.precision):
            for images, labels in self.val_batches.epoch(0):
                images, labels = images.to(device), labels.to(device)
                if self.options.channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                logits = self.model(images).float()
                loss_sum += float(loss(logits, labels))
                best = logits.topk(min(5, logits.shape[1]), 1).indices
                top1 += int((best[:, 0] == labels).sum())
                top5 += int((best == labels[:, None]).any(1).sum())
                seen += len(labels)
        loss_sum, top1, top5, seen = self._all_reduce([loss_sum, top1, top5, seen])
        return {"val_loss": loss_sum / max(seen, 1), "val_top1": top1 / max(seen, 1), "val_top5": top5 / max(seen, 1)}

    def _all_reduce(self, values: list[float]) -> list[float]:
        if self.world.size == 1:
            return [float(v) for v in values]
        tensor = torch.tensor(values, dtype=torch.float64, device=self.world.device)
        torch.distributed.all_reduce(tensor)
        return tensor.tolist()

    # -- checkpoints and metrics ------------------------------------------------------------------------

    def _save(self, tag: str) -> None:
        state = {"epoch": self.epoch, "step": self.step, "best": self.best,
                 "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                 "schedule": {"step": self.step, "steps_per_epoch": self.steps_per_epoch},
                 "rng": {"torch": torch.get_rng_state(), "python": random.getstate(),
                         "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}}
        checkpoint.save(self.run_dir, tag, self.model.state_dict(), state)

    def _restore(self) -> None:
        weights, state = checkpoint.load(self.run_dir, "last")
        try:
            self.model.load_state_dict(weights, strict=True)
            self.optimizer.load_state_dict(state["optimizer"])
            self.scaler.load_state_dict(state["scaler"])
        except (RuntimeError, KeyError, ValueError) as error:
            raise ResdslError(f"the checkpoint in {self.run_dir} does not fit this network: "
                              f"{str(error).splitlines()[0][:300]}") from None
        written = state["schedule"]["steps_per_epoch"]
        if written != self.steps_per_epoch:
            raise ResdslError(f"the checkpoint in {self.run_dir} was written with {written} steps per epoch, "
                              f"this run has {self.steps_per_epoch}",
                              hint="resume with the batch size and number of processes the run started with")
        self.epoch, self.step, self.best = int(state["epoch"]), int(state["step"]), float(state["best"])
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(_tuples(state["rng"]["python"]))
        if torch.cuda.is_available() and state["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.history = _read_metrics(self.run_dir)[: self.epoch]
        self.say(f"resumed {self.run_dir} at epoch {self.epoch}, step {self.step}")

    def _record(self, metrics: dict[str, float]) -> None:
        history = self.history
        _write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(row) + "\n" for row in history))
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(list(history[0]))
        writer.writerows([row[key] for key in history[0]] for row in history)
        _write_text(self.run_dir / "metrics.csv", table.getvalue())
        if self.tensorboard is not None:
            for key, value in metrics.items():
                if key not in ("epoch", "step"):
                    self.tensorboard.add_scalar(key, value, int(metrics["epoch"]))
            self.tensorboard.flush()


class _Progress:
    """A tqdm bar with loss, learning rate, img/s and ETA on a terminal; otherwise a plain line every
    10 seconds within an epoch (each epoch ends with its own line)."""

    def __init__(self, run: _Run, skip: int) -> None:
        self.run, self.started, self.seen, self.done = run, time.perf_counter(), 0, skip
        self.total = run.steps_per_epoch
        wanted = run.options.progress if run.options.progress is not None else sys.stdout.isatty()
        self.bar = None
        if wanted and run.world.main:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, initial=skip, desc=f"epoch {run.epoch + 1}/{run.options.epochs}",
                            unit="step", leave=False, dynamic_ncols=True)
        self.last_line = self.started

    def update(self, images: int, loss: torch.Tensor) -> None:
        """One step done; the loss is read back from the device only when it is shown (twice a second
        at most), so that the progress bar does not make every step wait for the GPU."""
        self.seen += images * self.run.world.size
        self.done += 1
        now = time.perf_counter()
        rate = self.seen / max(now - self.started, 1e-9)
        lr = self.run.lr(self.run.step - 1)
        if self.bar is not None:
            if now - self.last_line >= 0.5:
                self.last_line = now
                self.bar.set_postfix_str(f"loss {loss.item():.4f} lr {lr:.4g} {rate:,.0f} img/s", refresh=False)
            self.bar.update(1)
        elif self.run.world.main and now - self.last_line >= 10 and self.done < self.total:
            self.last_line = now
            left = (self.total - self.done) * (now - self.started) / max(1, self.done)
            self.run.say(f"  epoch {self.run.epoch + 1} step {self.done}/{self.total}  loss {loss.item():.4f}  "
                         f"lr {lr:.4g}  {rate:,.0f} img/s  eta {left:.0f} s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ----------------------------------------------------------------------------------------------------
# Helpers


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _optimizer(model: nn.Module, options: Options) -> torch.optim.Optimizer:
    """SGD (momentum, optionally Nesterov) or AdamW; weight decay only on weights of 2 or more dimensions
    (not biases, norm scales and shifts, layer scales); frozen parameters left out."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    plain = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups: list[dict[str, Any]] = [{"params": decay, "weight_decay": options.weight_decay},
                                    {"params": plain, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise UsageError("every parameter is frozen: nothing to train", hint="freeze fewer stages with --freeze")
    if options.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=options.lr or 0.1, momentum=options.momentum, nesterov=options.nesterov)
    return torch.optim.AdamW(groups, lr=options.lr or 1e-3)


def _init_from(model: nn.Module, options: Options) -> None:
    """Weights from ``--init-from``: DDP's ``module.`` prefix stripped, ``--rename`` rules applied in
    order, ``--ignore`` globs skipped on both sides; everything else must fit exactly."""
    from resdsl.backends.torch_tools import load_state, read_state_dict

    assert options.init_from is not None
    state = read_state_dict(options.init_from)
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module."):]: value for key, value in state.items()}
    for rule in options.rename:
        source, _, target = rule.partition("=")
        state = {re.sub(source, target, key): value for key, value in state.items()}
    load_state(model, state, options.init_from, options.ignore)


def _tensorboard(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _tuples(value: Any) -> Any:
    """Python's RNG state after a trip through torch.save (its tuples come back as tuples; lists are kept)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, tuple):
        return tuple(_tuples(v) for v in value)
    return value


def _write_text(path: Path, text: str) -> None:
    from resdsl.output import write_file

    write_file(path, text.encode("utf-8"))


def _write_json(path: Path, value: Any) -> None:
    _write_text(path, json.dumps(value, indent=2) + "\n")


def _read_run(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "run.json"
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"--resume {run_dir}: not a run directory ({path}: {error})"[:300],
                         hint="resume a directory that `resdsl train --out` made") from None
    if not isinstance(recorded, dict) or not {"spec", "data", "options", "spec_sha256"} <= recorded.keys():
        raise UsageError(f"--resume {run_dir}: {path} is not a run record")
    return recorded


def _read_metrics(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
