"""Training data for ``resgen train`` (numpy and Pillow only; no framework import).

``--data`` is one of ``synthetic`` (default), ``digits``, ``cifar10:PATH`` or ``folder:PATH``.
Every source gives uint8 images, NHWC, at the spec's input size and channels, and int64 labels.

Batches are a pure function of the step: an epoch's order is a permutation drawn from
``(seed, epoch)`` and a step's augmentation from ``(seed, step, rank)``, so a run resumes at any
step from the step count alone. Under torchrun, rank ``r`` of ``W`` takes every ``W``-th image
of each global batch (DistributedSampler's interleaving); ``--batch-size`` is the global batch.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from resgen.errors import ResgenError
from resgen.train.config import option_error

Split = Literal["train", "test"]
DataKind = Literal["synthetic", "digits", "cifar10", "folder"]
KINDS: tuple[DataKind, ...] = ("synthetic", "digits", "cifar10", "folder")
USAGE = "synthetic, digits, cifar10:PATH or folder:PATH"

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_SIDE = 32
SYNTHETIC_TRAIN, SYNTHETIC_TEST = 8192, 512
DIGITS_TEST_FRACTION = 0.2
FOLDER_TEST_EVERY = 10  # without train/ and val/ folders, every 10th image of a class is held out
STATS_SAMPLE = 512  # images used to estimate the per-channel mean and std


# --- parsing --data ------------------------------------------------------------------------


@dataclass(frozen=True)
class DataArg:
    """A parsed ``--data`` value."""

    kind: DataKind
    path: Path | None
    text: str


def parse(text: str) -> DataArg:
    kind, sep, rest = text.partition(":")
    if kind not in KINDS:
        raise _error(text, f"unknown kind {kind!r}; expected {USAGE}")
    needs_path = kind in ("cifar10", "folder")
    if needs_path and not rest:
        raise _error(text, f"{kind} needs a path: {kind}:PATH")
    if not needs_path and sep:
        raise _error(text, f"{kind} takes no path; expected {USAGE}")
    return DataArg(kind, Path(rest) if needs_path else None, text)  # type: ignore[arg-type]


def _error(text: str, message: str) -> ResgenError:
    return option_error(f"--data {text}", message)


# --- datasets ------------------------------------------------------------------------------


class Dataset(Protocol):
    """Images at the spec's size and channels, labels 0..num_classes-1."""

    name: str
    num_classes: int
    size: int
    channels: int
    augment: bool  # pad-and-crop plus horizontal flip by default (natural images only)

    def labels(self, split: Split) -> np.ndarray: ...

    def images(self, split: Split, indices: np.ndarray) -> np.ndarray: ...


def load(arg: DataArg, size: int, channels: int, num_classes: int, seed: int) -> Dataset:
    """Open (and check) the source ``--data`` names; the synthetic task takes the spec's classes."""
    if arg.kind == "synthetic":
        return SyntheticDataset(size, channels, num_classes, seed)
    if arg.kind == "digits":
        return _digits(size, channels)
    assert arg.path is not None
    if arg.kind == "cifar10":
        return _cifar10(arg, size, channels)
    return _folder(arg, size, channels)


@dataclass
class ArrayDataset:
    """Images held in memory at their native size; fitted to the spec's size per batch."""

    name: str
    num_classes: int
    size: int
    channels: int
    augment: bool
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray

    def labels(self, split: Split) -> np.ndarray:
        return self.train_y if split == "train" else self.test_y

    def images(self, split: Split, indices: np.ndarray) -> np.ndarray:
        source = self.train_x if split == "train" else self.test_x
        return fit_images(source[indices], self.size, self.channels)


def fit_images(x: np.ndarray, size: int, channels: int) -> np.ndarray:
    """uint8 NHWC images resized (bilinear) to ``size`` and adapted to ``channels``: grey is
    replicated, RGB becomes luminance for a one-channel network."""
    from PIL import Image

    if x.shape[1] != size or x.shape[2] != size:
        resized = np.empty((x.shape[0], size, size, x.shape[3]), dtype=np.uint8)
        for i, image in enumerate(x):
            for c in range(x.shape[3]):
                plane = Image.fromarray(image[:, :, c]).resize((size, size), Image.BILINEAR)
                resized[i, :, :, c] = np.asarray(plane)
        x = resized
    have = x.shape[3]
    if have == channels:
        return x
    if have == 1:
        return np.repeat(x, channels, axis=3)
    if have == 3 and channels == 1:
        grey = x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.clip(np.rint(grey), 0, 255).astype(np.uint8)[..., None]
    raise ValueError(f"cannot feed {have}-channel images to a {channels}-channel network")


def _check_channels(arg: DataArg, have: int, channels: int) -> None:
    if not (have == channels or have == 1 or (have == 3 and channels == 1)):
        raise _error(
            arg.text, f"{have}-channel images cannot feed the spec's {channels} input channels"
        )


def _digits(size: int, channels: int) -> ArrayDataset:
    """scikit-learn's 1,797 8x8 handwritten digits (0..16 grey levels), a stratified 80/20 split
    fixed by ``random_state=0`` so every seed tests on the same images."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = np.clip(np.rint(digits.images * (255 / 16)), 0, 255).astype(np.uint8)[..., None]
    y = digits.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        x, y, test_size=DIGITS_TEST_FRACTION, random_state=0, stratify=y
    )
    return ArrayDataset(
        name="digits",
        num_classes=10,
        size=size,
        channels=channels,
        augment=False,  # a flipped digit is another symbol
        train_x=fit_images(train_x, size, channels),
        train_y=train_y,
        test_x=fit_images(test_x, size, channels),
        test_y=test_y,
    )


class _CifarUnpickler(pickle.Unpickler):
    """Unpickle a CIFAR-10 batch and nothing else: only numpy's array reconstruction may run."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # bytes in a protocol-2 pickle written by Python 3
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _cifar_batch(arg: DataArg, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: a dict with b"data" (N x 3072 uint8, channel planes) and b"labels"."""
    what = f"{path}: not a CIFAR-10 python batch"
    try:
        with path.open("rb") as stream:
            batch = _CifarUnpickler(stream, encoding="bytes").load()
    except FileNotFoundError:
        raise _error(
            arg.text,
            f"{path}: missing (expected {', '.join(CIFAR_TRAIN)} and "
            f"{CIFAR_TEST}, as in cifar-10-python.tar.gz)",
        ) from None
    except OSError as exc:
        raise _error(arg.text, f"{path}: {exc.strerror or exc}") from None
    except Exception as exc:  # any unpickling failure means a malformed file
        raise _error(arg.text, f"{what} ({type(exc).__name__}: {exc})") from None
    if not isinstance(batch, dict):
        raise _error(arg.text, f"{what} (holds a {type(batch).__name__}, not a dict)")
    data, labels = batch.get(b"data"), batch.get(b"labels")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise _error(arg.text, f"{what} (b'data' is not an N x 3072 array)")
    if not isinstance(labels, list) or len(labels) != data.shape[0]:
        raise _error(arg.text, f"{what} (b'labels' is not a list of {data.shape[0]} labels)")
    y = np.asarray(labels, dtype=np.int64)
    if data.dtype != np.uint8 or (y.size and (y.min() < 0 or y.max() > 9)):
        raise _error(arg.text, f"{what} (expected uint8 pixels and labels 0..9)")
    x = data.reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), y


def _cifar10(arg: DataArg, size: int, channels: int) -> ArrayDataset:
    """CIFAR-10 "python version": PATH is cifar-10-batches-py (or the folder holding it)."""
    folder = arg.path
    assert folder is not None
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    if not folder.is_dir():
        raise _error(arg.text, f"{folder}: no such folder")
    _check_channels(arg, 3, channels)
    parts = [_cifar_batch(arg, folder / name) for name in CIFAR_TRAIN]
    test_x, test_y = _cifar_batch(arg, folder / CIFAR_TEST)
    return ArrayDataset(
        name="cifar10",
        num_classes=10,
        size=size,
        channels=channels,
        augment=True,
        train_x=np.concatenate([x for x, _ in parts]),
        train_y=np.concatenate([y for _, y in parts]),
        test_x=test_x,
        test_y=test_y,
    )


@dataclass
class FolderDataset:
    """Class-per-folder images, decoded (and resized) from disk batch by batch."""

    name: str
    num_classes: int
    size: int
    channels: int
    augment: bool
    classes: list[str]
    files: dict[str, list[Path]]
    targets: dict[str, np.ndarray]

    def labels(self, split: Split) -> np.ndarray:
        return self.targets[split]

    def images(self, split: Split, indices: np.ndarray) -> np.ndarray:
        from PIL import Image

        mode = "L" if self.channels == 1 else "RGB"
        out = np.empty((len(indices), self.size, self.size, 1 if mode == "L" else 3), np.uint8)
        for i, index in enumerate(indices):
            with Image.open(self.files[split][int(index)]) as image:
                picture = image.convert(mode).resize((self.size, self.size), Image.BILINEAR)
            out[i] = np.asarray(picture).reshape(out.shape[1:])
        return fit_images(out, self.size, self.channels)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _folder(arg: DataArg, size: int, channels: int) -> FolderDataset:
    """PATH/<class>/*.png|jpg|..., or PATH/train/<class>/... with PATH/val (or test)/<class>/..."""
    from PIL import Image, UnidentifiedImageError

    root = arg.path
    assert root is not None
    if not root.is_dir():
        raise _error(arg.text, f"{root}: no such folder")
    held_out = next((root / n for n in ("val", "test") if (root / n).is_dir()), None)
    split_folders = (root / "train").is_dir() and held_out is not None
    train_root = root / "train" if split_folders else root
    classes = [p.name for p in _class_folders(train_root)]
    if not classes:
        raise _error(arg.text, f"{train_root}: no class folders (expected PATH/<class>/<images>)")
    files: dict[str, list[Path]] = {"train": [], "test": []}
    labels: dict[str, list[int]] = {"train": [], "test": []}
    for label, name in enumerate(classes):
        found = _images_in(train_root / name)
        if not found:
            raise _error(arg.text, f"{train_root / name}: no images ({_suffixes()})")
        if split_folders:
            assert held_out is not None
            test = _images_in(held_out / name) if (held_out / name).is_dir() else []
            train = found
        else:
            test = found[FOLDER_TEST_EVERY - 1 :: FOLDER_TEST_EVERY]
            train = [p for p in found if p not in set(test)]
        for split, paths in (("train", train), ("test", test)):
            files[split] += paths
            labels[split] += [label] * len(paths)
    for path in files["train"] + files["test"]:
        try:
            with Image.open(path) as image:
                image.size  # noqa: B018  (reads the header: a truncated or foreign file fails here)
        except (UnidentifiedImageError, OSError) as exc:
            raise _error(arg.text, f"{path}: not a readable image ({exc})") from None
    return FolderDataset(
        name=f"folder:{root.name}",
        num_classes=len(classes),
        size=size,
        channels=channels,
        augment=True,
        classes=classes,
        files=files,
        targets={s: np.asarray(v, dtype=np.int64) for s, v in labels.items()},
    )


def _suffixes() -> str:
    return " ".join(sorted(IMAGE_SUFFIXES))


@dataclass
class SyntheticDataset:
    """A learnable task generated from the seed: class ``k`` is a fixed texture (three random
    oriented gratings per channel plus a per-channel offset); an image is its class texture,
    circularly shifted by up to 1/8 of the side, at a random contrast, plus Gaussian noise.

    Image ``i`` of a split is a pure function of ``(seed, split, i)``; nothing is stored, so any
    input size works in bounded memory.
    """

    size: int
    channels: int
    num_classes: int
    seed: int
    name: str = "synthetic"
    augment: bool = False  # the shifts are built in, and a flipped texture is another class
    noise: float = 2.0
    _labels: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for split, count, stream in (("train", SYNTHETIC_TRAIN, 0), ("test", SYNTHETIC_TEST, 1)):
            rng = np.random.default_rng([self.seed, 7, stream])
            self._labels[split] = rng.integers(0, self.num_classes, count, dtype=np.int64)
        budget = 256 * 2**20 // (4 * self.size * self.size * self.channels)
        self._prototype = lru_cache(maxsize=max(1, min(self.num_classes, budget)))(self._texture)

    def labels(self, split: Split) -> np.ndarray:
        return self._labels[split]

    def _texture(self, label: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 11, label])
        grid = np.arange(self.size, dtype=np.float32) / self.size
        yy, xx = np.meshgrid(grid, grid, indexing="ij")
        out = np.empty((self.size, self.size, self.channels), dtype=np.float32)
        for c in range(self.channels):
            plane = np.full_like(xx, rng.uniform(-0.5, 0.5))
            for _ in range(3):
                angle, cycles, phase = rng.uniform(0, np.pi), rng.uniform(1, 4), rng.uniform(0, 7)
                along = xx * np.cos(angle) + yy * np.sin(angle)
                plane += np.cos(2 * np.pi * cycles * along + phase) / np.sqrt(3)
            out[:, :, c] = plane
        return out

    def images(self, split: Split, indices: np.ndarray) -> np.ndarray:
        stream = 0 if split == "train" else 1
        shift = max(1, self.size // 8)
        out = np.empty((len(indices), self.size, self.size, self.channels), dtype=np.uint8)
        for i, index in enumerate(indices):
            rng = np.random.default_rng([self.seed, 13, stream, int(index)])
            label = int(self._labels[split][index])
            dy, dx = rng.integers(-shift, shift + 1, size=2)
            image = np.roll(self._prototype(label), (dy, dx), axis=(0, 1))
            image = image * rng.uniform(0.6, 1.4) + rng.normal(0, self.noise, image.shape)
            out[i] = np.clip(np.rint(128 + 48 * image), 0, 255).astype(np.uint8)
        return out


# --- batches -------------------------------------------------------------------------------


def channel_stats(data: Dataset) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std in [0, 1] units, from a fixed sample of training images."""
    count = len(data.labels("train"))
    rng = np.random.default_rng(0)
    sample = np.sort(rng.permutation(count)[: min(count, STATS_SAMPLE)])
    x = data.images("train", sample).astype(np.float64) / 255
    mean = x.mean(axis=(0, 1, 2))
    std = np.maximum(x.std(axis=(0, 1, 2)), 1e-3)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def augment_batch(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Zero-pad by 1/8 of the side (4 pixels at 32x32), random crop back, random h-flip."""
    n, height, width, _ = x.shape
    pad = max(1, height // 8)
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    top = rng.integers(0, 2 * pad + 1, n)
    left = rng.integers(0, 2 * pad + 1, n)
    rows = (top[:, None] + np.arange(height))[:, :, None]
    cols = (left[:, None] + np.arange(width))[:, None, :]
    flip = rng.random(n) < 0.5
    cols = np.where(flip[:, None, None], cols[:, :, ::-1], cols)
    return padded[np.arange(n)[:, None, None], rows, cols]


@dataclass
class Batches:
    """The batches of one run: deterministic in ``(seed, step, rank)``."""

    data: Dataset
    batch_size: int  # global, over all ranks
    seed: int
    augment: bool
    rank: int = 0
    world: int = 1
    _order: tuple[int, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        count = len(self.data.labels("train"))
        if self.batch_size % self.world:
            raise option_error(
                "--batch-size", f"{self.batch_size} does not split over {self.world} processes"
            )
        if self.batch_size > count:
            raise option_error(
                "--batch-size", f"{self.batch_size} is more than the {count} training images"
            )

    @property
    def steps_per_epoch(self) -> int:
        return len(self.data.labels("train")) // self.batch_size

    def order(self, epoch: int) -> np.ndarray:
        if self._order is None or self._order[0] != epoch:
            rng = np.random.default_rng([self.seed, 3, epoch])
            self._order = (epoch, rng.permutation(len(self.data.labels("train"))))
        return self._order[1]

    def train(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """This rank's share of global batch ``step`` (0-based): images uint8 NHWC, labels."""
        epoch, index = divmod(step, self.steps_per_epoch)
        chosen = self.order(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        mine = chosen[self.rank :: self.world]
        x = self.data.images("train", mine)
        if self.augment:
            x = augment_batch(x, np.random.default_rng([self.seed, 5, step, self.rank]))
        return x, self.data.labels("train")[mine]

    def test(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """This rank's share of the held-out split, in order."""
        labels = self.data.labels("test")
        mine = np.arange(self.rank, len(labels), self.world)
        for start in range(0, len(mine), batch_size):
            chunk = mine[start : start + batch_size]
            yield self.data.images("test", chunk), labels[chunk]


def describe(arg: DataArg) -> str:
    return arg.text if arg.path is None else f"{arg.kind}:{os.fspath(arg.path)}"
