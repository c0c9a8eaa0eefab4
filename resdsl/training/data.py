"""Datasets ``resdsl train`` reads from disk (nothing is downloaded), with the augmentation of the
papers they come from and normalization by their own statistics.

``--data`` names one of:

- ``digits``: scikit-learn's bundled 8x8 digits (1,797 images, 10 classes), 1x8x8 in [0, 1]
  before normalization; a fixed held-out fifth is the validation set;
- ``synthetic``: random images and labels shaped for the spec, for throughput;
- a ``cifar-10-batches-py`` or ``cifar-100-python`` folder (the python-pickle release): He et al.'s
  augmentation (4-pixel zero padding, random 32x32 crops, horizontal flips), evaluated on the test batch;
- an ImageFolder directory (one subfolder per class; ``train/`` and ``val/`` inside it if it has
  them, else a fixed held-out tenth): RandomResizedCrop and flips, evaluated on a resize and center crop.

All images are tensors in the main process; a :class:`Batches` iterator shuffles with a generator
seeded by (seed, epoch), so an epoch's order and augmentation do not depend on what ran before: a run
resumed from a checkpoint sees the same batches as one that never stopped.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from resdsl.errors import UsageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class Data:
    """A training and a validation split, as (images, labels) tensors or lazily decoded files."""

    name: str
    train: Split
    val: Split
    classes: int
    shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    defaults: dict[str, Any] = field(default_factory=dict)  # per-dataset training defaults


@dataclass
class Split:
    """``images`` is a uint8 or float tensor N x C x H x W, or a list of files decoded on demand."""

    images: torch.Tensor | list[Path]
    labels: torch.Tensor
    augment: str  # "cifar" | "imagenet" | "none"
    size: tuple[int, int] = (0, 0)

    def __len__(self) -> int:
        return len(self.labels)


def open_data(source: str, shape: Sequence[int], classes: int, *, synthetic_size: int = 1024) -> Data:
    """The dataset ``source`` names (see the module docstring), checked against the spec's input
    ``shape`` and number of ``classes`` before any training starts."""
    if source == "digits":
        data = _digits()
    elif source == "synthetic":
        data = _synthetic(tuple(shape), classes, synthetic_size)
    else:
        path = Path(source)
        if not path.is_dir():
            raise UsageError(f"--data {source}: no such folder, and not digits or synthetic",
                             hint="give a cifar-10-batches-py folder, an ImageFolder directory, digits or synthetic")
        if (path / "data_batch_1").is_file() or ((path / "train").is_file() and (path / "meta").is_file()):
            data = _cifar(path)
        else:
            data = _image_folder(path, tuple(shape))
    _check_fits(data, tuple(shape), classes, source)
    return data


def _check_fits(data: Data, shape: tuple[int, ...], classes: int, source: str) -> None:
    if len(shape) != 3:
        raise UsageError(f"the spec takes a {'x'.join(map(str, shape))} input, not an image",
                         hint="train a network whose input is CxHxW")
    if data.shape != shape:
        given = "x".join(map(str, data.shape))
        raise UsageError(f"--data {source} gives {given} images, but the spec takes {'x'.join(map(str, shape))}",
                         hint=f"write `input {given}` in the spec, or train with --input {given}")
    if data.classes > classes:
        raise UsageError(f"--data {source} has {data.classes} classes, but the spec's output has {classes}",
                         hint=f"set the head's size: --set classes={data.classes}")


def _digits() -> Data:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UsageError("--data digits needs scikit-learn", hint="pip install 'resdsl[train]'") from None
    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).div_(16.0).unsqueeze(1)
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))  # one fixed split
    held = len(labels) // 5
    train, val = order[held:], order[:held]
    mean, std = _statistics(images[train])
    return Data("digits", Split(images[train], labels[train], "none"), Split(images[val], labels[val], "none"),
                10, (1, 8, 8), mean, std,
                defaults={"epochs": 30, "batch_size": 64, "lr": 0.1, "weight_decay": 5e-4, "schedule": "cosine"})


def _synthetic(shape: tuple[int, ...], classes: int, size: int) -> Data:
    if len(shape) != 3:
        raise UsageError(f"the spec takes a {'x'.join(map(str, shape))} input, not an image")
    generator = torch.Generator().manual_seed(0)
    images = torch.rand((size, *shape), generator=generator)
    labels = torch.randint(0, classes, (size,), generator=generator)
    held = max(1, size // 8)
    return Data("synthetic", Split(images[held:], labels[held:], "none"), Split(images[:held], labels[:held], "none"),
                classes, (shape[0], shape[1], shape[2]), (0.5,) * shape[0], (math.sqrt(1 / 12),) * shape[0],
                defaults={"epochs": 1, "batch_size": 64, "lr": 0.1, "schedule": "constant"})


def _unpickle(path: Path) -> dict[str, Any]:
    """A CIFAR batch file. The release is pickled numpy arrays: unpickling runs no code beyond
    rebuilding them, but only the standard folder's own file names are read."""
    with path.open("rb") as file:
        return pickle.load(file, encoding="latin1")  # noqa: S301 — the dataset's own format


def _cifar(path: Path) -> Data:
    hundred = (path / "train").is_file()
    files = ([path / "train"], path / "test") if hundred else \
        ([path / f"data_batch_{i}" for i in range(1, 6)], path / "test_batch")
    key = "fine_labels" if hundred else "labels"
    missing = [str(f) for f in [*files[0], files[1]] if not f.is_file()]
    if missing:
        raise UsageError(f"--data {path}: missing {', '.join(missing)}",
                         hint="unpack the whole CIFAR python release there")
    try:
        parts = [_unpickle(f) for f in files[0]]
        test = _unpickle(files[1])
        train_images = torch.cat([torch.as_tensor(p["data"]) for p in parts]).view(-1, 3, 32, 32)
        train_labels = torch.cat([torch.as_tensor(p[key]) for p in parts]).long()
        test_images = torch.as_tensor(test["data"]).view(-1, 3, 32, 32)
        test_labels = torch.as_tensor(test[key]).long()
    except (OSError, KeyError, ValueError, RuntimeError, pickle.UnpicklingError, EOFError) as error:
        raise UsageError(f"--data {path}: not a CIFAR python release ({type(error).__name__}: {error})"[:300]) from None
    mean, std = _statistics(train_images.float().div_(255))
    return Data("cifar100" if hundred else "cifar10", Split(train_images, train_labels, "cifar"),
                Split(test_images, test_labels, "none"), 100 if hundred else 10, (3, 32, 32), mean, std,
                # He et al. 2016, section 4.2: 64k iterations of batch 128 (164 epochs), lr 0.1 divided by 10
                # at 32k and 48k, weight decay 1e-4, momentum 0.9
                defaults={"epochs": 164, "batch_size": 128, "lr": 0.1, "weight_decay": 1e-4, "schedule": "step",
                          "milestones": (82, 123)})


def _image_folder(path: Path, shape: tuple[int, ...]) -> Data:
    def scan(root: Path, names: list[str] | None = None) -> tuple[list[str], list[Path], list[int]]:
        names = names or sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        files: list[Path] = []
        labels: list[int] = []
        for index, name in enumerate(names):
            found = sorted(f for f in (root / name).rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            files += found
            labels += [index] * len(found)
        return names, files, labels

    if (path / "train").is_dir() and (path / "val").is_dir():
        names, train_files, train_labels = scan(path / "train")
        _, val_files, val_labels = scan(path / "val", names)
    else:
        names, files, labels = scan(path)
        order = torch.randperm(len(files), generator=torch.Generator().manual_seed(0)).tolist()
        held = set(order[: max(1, len(files) // 10)])
        train_files = [f for i, f in enumerate(files) if i not in held]
        train_labels = [y for i, y in enumerate(labels) if i not in held]
        val_files = [f for i, f in enumerate(files) if i in held]
        val_labels = [y for i, y in enumerate(labels) if i in held]
    if len(names) < 2 or not train_files or not val_files:
        raise UsageError(f"--data {path}: an ImageFolder needs a subfolder per class (at least two) with images",
                         hint="lay out DATA/CLASS/IMAGE.jpg, or DATA/train/CLASS/... and DATA/val/CLASS/...")
    channels, height, width = shape
    size = (height, width)
    # The dataset's own statistics, from up to 256 training images (a fixed sample) as evaluation sees them
    sample = torch.randperm(len(train_files), generator=torch.Generator().manual_seed(0))[:256].tolist()
    generator = torch.Generator().manual_seed(0)
    mean, std = _statistics(torch.stack([_decode(train_files[i], size, "center", channels, generator)
                                         for i in sample]))
    return Data(path.name, Split(train_files, torch.tensor(train_labels), "imagenet", size),
                Split(val_files, torch.tensor(val_labels), "center", size), len(names), (channels, height, width),
                mean, std, defaults={"epochs": 90, "batch_size": 256, "lr": 0.1, "weight_decay": 1e-4,
                                     "schedule": "step", "milestones": (30, 60)})


def _statistics(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation over every pixel of ``images`` (N x C x H x W, in [0, 1])."""
    flat = images.transpose(0, 1).reshape(images.shape[1], -1).double()
    return tuple(flat.mean(1).tolist()), tuple(flat.std(1).tolist())


class Batches:
    """Batches of one split, epoch by epoch: shuffled (train) by a generator seeded from (seed, epoch),
    each batch augmented by a generator seeded from (seed, epoch, batch), then normalized. Nothing
    depends on what ran before, so a resumed run (even from the middle of an epoch) sees the batches
    an uninterrupted one does, with any number of workers. ``rank``/``world`` split each batch's worth
    of positions as DistributedSampler does (for training, padding the order so that ranks see equal
    counts; held-out images are each evaluated once)."""

    def __init__(self, data: Data, split: Split, batch_size: int, *, train: bool, seed: int = 0,
                 rank: int = 0, world: int = 1, workers: int = 0) -> None:
        self.data, self.split, self.batch_size, self.train = data, split, batch_size, train
        self.seed, self.rank, self.world, self.workers = seed, rank, world, workers
        self.mean = torch.tensor(data.mean).view(-1, 1, 1)
        self.std = torch.tensor(data.std).view(-1, 1, 1)

    def indices(self, epoch: int) -> torch.Tensor:
        total = len(self.split)
        if self.train:
            order = torch.randperm(total, generator=torch.Generator().manual_seed(_mix(self.seed, epoch)))
        else:
            order = torch.arange(total)
        per_rank = math.ceil(total / self.world)
        if self.train and per_rank * self.world > total:  # evaluation sees each image once, unpadded
            order = torch.cat([order, order[: per_rank * self.world - total]])
        return order[self.rank::self.world]

    def __len__(self) -> int:
        total = len(self.split)
        per_rank = math.ceil(total / self.world) if self.train else len(range(self.rank, total, self.world))
        return math.ceil(per_rank / self.batch_size)

    def epoch(self, epoch: int, skip: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's batches from batch ``skip`` on (a run resumed within an epoch)."""
        batches = _EpochBatches(self, epoch, skip)
        if not self.workers:
            yield from (batches[number] for number in range(len(batches)))
            return
        loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False, num_workers=self.workers)
        yield from loader

    def batch(self, epoch: int, order: torch.Tensor, number: int) -> tuple[torch.Tensor, torch.Tensor]:
        chosen = order[number * self.batch_size:(number + 1) * self.batch_size]
        generator = torch.Generator().manual_seed(_mix(self.seed, epoch, number, self.rank))
        images = self.split.images
        if isinstance(images, list):
            augment = self.split.augment if self.train else "center"
            batch = torch.stack([_decode(images[i], self.split.size, augment, self.data.shape[0], generator)
                                 for i in chosen.tolist()])
        else:
            batch = images[chosen]
            batch = batch.float().div_(255) if batch.dtype == torch.uint8 else batch.float()
            if self.train and self.split.augment == "cifar":
                batch = _pad_crop_flip(batch, 4, generator)
        return (batch - self.mean) / self.std, self.split.labels[chosen]


class _EpochBatches(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Batch ``skip + n`` of one epoch as item ``n``: what DataLoader workers compute."""

    def __init__(self, batches: Batches, epoch: int, skip: int) -> None:
        self.batches, self.epoch, self.skip = batches, epoch, skip
        self.order = batches.indices(epoch)

    def __len__(self) -> int:
        return max(0, len(self.batches) - self.skip)

    def __getitem__(self, number: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.batches.batch(self.epoch, self.order, self.skip + number)


def _mix(*numbers: int) -> int:
    """One 63-bit seed from several integers (splitmix64 steps), so nearby tuples give unrelated streams."""
    state = 0x9E3779B97F4A7C15
    for number in numbers:
        state = (state ^ (number & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        state = (state ^ (state >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
    return state >> 1


def _pad_crop_flip(batch: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """He et al.'s CIFAR augmentation: zero-pad by ``pad``, crop a random window of the original size,
    flip half the images horizontally."""
    count, _, height, width = batch.shape
    padded = torch.nn.functional.pad(batch, (pad, pad, pad, pad))
    tops = torch.randint(0, 2 * pad + 1, (count,), generator=generator).tolist()
    lefts = torch.randint(0, 2 * pad + 1, (count,), generator=generator).tolist()
    flips = (torch.rand(count, generator=generator) < 0.5).tolist()
    out = torch.stack([padded[i, :, t:t + height, s:s + width] for i, (t, s) in enumerate(zip(tops, lefts))])
    flipped = [i for i, flip in enumerate(flips) if flip]
    if flipped:
        out[flipped] = out[flipped].flip(-1)
    return out


def _decode(path: Path, size: tuple[int, int], augment: str, channels: int, generator: torch.Generator) -> torch.Tensor:
    """One image file as a C x H x W float tensor in [0, 1]: RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3)
    and a flip for training, a resize to 8/7 of the size and a center crop for evaluation."""
    from PIL import Image

    with Image.open(path) as opened:
        image = opened.convert("RGB" if channels == 3 else "L")
    height, width = size
    if augment == "imagenet":
        left, top, crop_w, crop_h = _random_resized_crop(image.width, image.height, generator)
        image = image.resize((width, height), Image.Resampling.BILINEAR, box=(left, top, left + crop_w, top + crop_h))
        if torch.rand(1, generator=generator).item() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    else:
        scale = max(height, width) * 8 / 7 / min(image.width, image.height)
        resized = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
        image = image.resize(resized, Image.Resampling.BILINEAR)
        left, top = (image.width - width) // 2, (image.height - height) // 2
        image = image.crop((left, top, left + width, top + height))
    tensor = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return tensor.view(height, width, channels).permute(2, 0, 1).float().div_(255)


def _random_resized_crop(width: int, height: int, generator: torch.Generator) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop window (10 tries, then the center crop at the nearest ratio)."""
    area = width * height
    for _ in range(10):
        target = area * (0.08 + 0.92 * torch.rand(1, generator=generator).item())
        log_ratio = math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * torch.rand(1, generator=generator).item()
        ratio = math.exp(log_ratio)
        crop_w, crop_h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            top = int(torch.randint(0, height - crop_h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - crop_w + 1, (1,), generator=generator))
            return left, top, crop_w, crop_h
    ratio = width / height
    if ratio < 3 / 4:
        crop_w, crop_h = width, round(width / (3 / 4))
    elif ratio > 4 / 3:
        crop_w, crop_h = round(height * (4 / 3)), height
    else:
        crop_w, crop_h = width, height
    return (width - crop_w) // 2, (height - crop_h) // 2, crop_w, crop_h
