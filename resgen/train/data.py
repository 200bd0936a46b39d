"""Training data for ``resgen train``: the ``--data`` sources (numpy and Pillow; no framework).

``--data`` is one of ``synthetic`` (default), ``digits``, ``cifar10:PATH`` or ``folder:PATH``.
Every source gives uint8 images, NHWC, at the spec's input size and channels, and int64 labels;
image ``i`` of a split is a pure function of the source (and, for ``synthetic``, the seed).
Which images make a step's batch, and how they are augmented, is :mod:`resgen.train.batches`.

Every file read is a regular file within a size bound (:func:`resgen.files.open_regular`), and an
image's pixel count is checked against :data:`PIXEL_BUDGET` from its header, before it is
decoded. A problem is one line naming the file, raised as :class:`~resgen.errors.ResgenError`.
"""

from __future__ import annotations

import os
import pickle
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

import numpy as np

from resgen.errors import ResgenError
from resgen.files import MIB, open_regular
from resgen.train.config import option_error

Split = Literal["train", "test"]
DataKind = Literal["synthetic", "digits", "cifar10", "folder"]
KINDS: tuple[DataKind, ...] = ("synthetic", "digits", "cifar10", "folder")
USAGE = "synthetic, digits, cifar10:PATH or folder:PATH"

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_SIDE = 32
CIFAR_CLASSES = 10
SYNTHETIC_TRAIN, SYNTHETIC_TEST = 8192, 512
DIGITS_TEST_FRACTION = 0.2
FOLDER_TEST_EVERY = 10  # without train/ and val/ folders, every 10th image of a class is held out

# Budgets on what one file may cost (documented in docs/training.md, "Guarantees").
CIFAR_BATCH_BYTES = 64 * MIB  # a real batch is 31 MB
IMAGE_FILE_BYTES = 64 * MIB
PIXEL_BUDGET = 8192 * 8192  # pixels per image, checked from the header before decoding

# The synthetic task: per-image noise is a window of one of NOISE_BANK stored noise images.
NOISE_BANK_BYTES = 64 * MIB
NOISE_BANK_MAX = 32
SYNTHETIC_CHUNK = 64  # images made together (bounds the float32 temporaries)
TEXTURE_CACHE_BYTES = 256 * MIB


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


def _refusal(exc: ResgenError) -> str:
    """A file refusal from :mod:`resgen.files` as ``path: reason``, for a message of its own."""
    problem = exc.problems[0]
    return f"{problem.file}: {problem.message}"


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

    def arrays(self, split: Split) -> np.ndarray:
        return self.train_x if split == "train" else self.test_x

    @property
    def fitted(self) -> bool:
        """Whether the stored images already have the spec's size and channels (then a batch
        is a plain index into them, which a device can do itself)."""
        return self.train_x.shape[1:] == (self.size, self.size, self.channels)

    def images(self, split: Split, indices: np.ndarray) -> np.ndarray:
        return fit_images(self.arrays(split)[indices], self.size, self.channels)


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


# --- CIFAR-10 ------------------------------------------------------------------------------


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


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cifar_labels(labels: list[Any]) -> np.ndarray | int:
    """The labels as int64, or the position of the first that is not an integer 0..9."""
    for position, label in enumerate(labels):
        if isinstance(label, bool) or not isinstance(label, int | np.integer):
            return position
        if not 0 <= int(label) < CIFAR_CLASSES:
            return position
    return np.asarray(labels, dtype=np.int64)


def _cifar_batch(arg: DataArg, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: a dict with b"data" (N x 3072 uint8, channel planes) and b"labels"."""
    what = f"{path}: not a CIFAR-10 python batch"
    if not os.path.lexists(path):
        raise _error(
            arg.text,
            f"{path}: missing (expected {', '.join(CIFAR_TRAIN)} and "
            f"{CIFAR_TEST}, as in cifar-10-python.tar.gz)",
        )
    try:
        with open_regular(path, CIFAR_BATCH_BYTES, what="CIFAR batch") as stream:
            batch = _CifarUnpickler(stream, encoding="bytes").load()
    except ResgenError as exc:
        raise _error(arg.text, _refusal(exc)) from None
    except OSError as exc:
        raise _error(arg.text, f"{path}: {exc.strerror or exc}") from None
    except Exception as exc:  # any unpickling failure means a malformed file
        raise _error(arg.text, f"{what} ({type(exc).__name__}: {_short(str(exc), 120)})") from None
    if not isinstance(batch, dict):
        raise _error(arg.text, f"{what} (holds a {type(batch).__name__}, not a dict)")
    data, labels = batch.get(b"data"), batch.get(b"labels")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise _error(arg.text, f"{what} (b'data' is not an N x 3072 array)")
    if data.dtype != np.uint8:
        raise _error(arg.text, f"{what} (b'data' holds {data.dtype}, not uint8 pixels)")
    if not isinstance(labels, list) or len(labels) != data.shape[0]:
        raise _error(arg.text, f"{what} (b'labels' is not a list of {data.shape[0]} labels)")
    y = _cifar_labels(labels)
    if isinstance(y, int):
        raise _error(arg.text, f"{what} (label {y} is {_short(labels[y])}, not an integer 0..9)")
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
        num_classes=CIFAR_CLASSES,
        size=size,
        channels=channels,
        augment=True,
        train_x=np.concatenate([x for x, _ in parts]),
        train_y=np.concatenate([y for _, y in parts]),
        test_x=test_x,
        test_y=test_y,
    )


# --- image folders -------------------------------------------------------------------------


class ImageError(Exception):
    """An image file that cannot be used: ``str()`` is ``path: what is wrong``."""


def _open_image(path: Path, stream: BinaryIO) -> Any:
    """Pillow's lazy image (header only), refused when its pixels exceed the budget."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageError(f"{path}: more than {PIXEL_BUDGET:,} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc})") from None
    width, height = image.size
    if width * height > PIXEL_BUDGET:
        image.close()
        raise ImageError(
            f"{path}: {width} x {height} pixels, more than the budget of {PIXEL_BUDGET:,} "
            "(8192 x 8192) per image"
        )
    return image


def read_image(path: Path, size: int, mode: str) -> np.ndarray:
    """Decode one image file to ``size`` x ``size`` in Pillow ``mode`` ("L" or "RGB")."""
    from PIL import Image

    try:
        with open_regular(path, IMAGE_FILE_BYTES, what="image") as stream:
            image = _open_image(path, stream)
            try:
                image.draft(mode, (size, size))  # JPEG: decode at the nearest larger scale
                picture = image.convert(mode).resize((size, size), Image.BILINEAR)
            finally:
                image.close()
    except ResgenError as exc:
        raise ImageError(_refusal(exc)) from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise ImageError(f"{path}: cannot decode ({exc})") from None
    return np.asarray(picture)


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
    source: str  # the --data text, for messages

    def labels(self, split: Split) -> np.ndarray:
        return self.targets[split]

    def images(self, split: Split, indices: np.ndarray) -> np.ndarray:
        mode = "L" if self.channels == 1 else "RGB"
        out = np.empty((len(indices), self.size, self.size, 1 if mode == "L" else 3), np.uint8)
        for i, index in enumerate(indices):
            try:
                picture = read_image(self.files[split][int(index)], self.size, mode)
            except ImageError as exc:
                raise _error(self.source, str(exc)) from None
            out[i] = picture.reshape(out.shape[1:])
        return fit_images(out, self.size, self.channels)


def _images_in(arg: DataArg, folder: Path) -> list[Path]:
    """The image files of one class folder; an entry with an image suffix that is not a regular
    file (a FIFO, a dangling link, a folder) is refused rather than skipped."""
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            regular = path.is_file()
        except OSError:
            regular = False
        if not regular:
            what = "a dangling link" if not path.exists() else "not a regular file"
            raise _error(arg.text, f"{path}: {what}")
        found.append(path)
    return found


def _class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _check_header(arg: DataArg, path: Path) -> None:
    try:
        with open_regular(path, IMAGE_FILE_BYTES, what="image") as stream:
            _open_image(path, stream).close()
    except ResgenError as exc:
        raise _error(arg.text, _refusal(exc)) from None
    except ImageError as exc:
        raise _error(arg.text, str(exc)) from None


def _folder(arg: DataArg, size: int, channels: int) -> FolderDataset:
    """PATH/<class>/*.png|jpg|..., or PATH/train/<class>/... with PATH/val (or test)/<class>/..."""
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
        found = _images_in(arg, train_root / name)
        if not found:
            raise _error(arg.text, f"{train_root / name}: no images ({_suffixes()})")
        if split_folders:
            assert held_out is not None
            test = _images_in(arg, held_out / name) if (held_out / name).is_dir() else []
            train = found
        else:
            test = found[FOLDER_TEST_EVERY - 1 :: FOLDER_TEST_EVERY]
            train = [p for p in found if p not in set(test)]
        for split, paths in (("train", train), ("test", test)):
            files[split] += paths
            labels[split] += [label] * len(paths)
    for path in files["train"] + files["test"]:
        _check_header(arg, path)
    return FolderDataset(
        name=f"folder:{root.name}",
        num_classes=len(classes),
        size=size,
        channels=channels,
        augment=True,
        classes=classes,
        files=files,
        targets={s: np.asarray(v, dtype=np.int64) for s, v in labels.items()},
        source=arg.text,
    )


def _suffixes() -> str:
    return " ".join(sorted(IMAGE_SUFFIXES))


# --- the synthetic task --------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticImages:
    """What makes each image of one split: its label, the circular shift of its class texture,
    its contrast, and which stored noise image (shifted how) is added."""

    labels: np.ndarray  # (N,) int64
    shift: np.ndarray  # (N, 2) int64: rows, columns
    contrast: np.ndarray  # (N,) float32
    noise: np.ndarray  # (N,) int64: index into the noise bank
    noise_shift: np.ndarray  # (N, 2) int64


@dataclass
class SyntheticDataset:
    """A learnable task generated from the seed: class ``k`` is a fixed texture (three random
    oriented gratings per channel plus a per-channel offset); an image is its class texture,
    circularly shifted by up to 1/8 of the side, at a random contrast, plus Gaussian noise (a
    circularly shifted window of one of a few stored noise images).

    Image ``i`` of a split is a pure function of ``(seed, split, i)``. Only per-image numbers,
    per-class grating parameters and the noise bank are stored, so any input size works in
    bounded memory; :mod:`resgen.train.torch_feed` computes the same images on a GPU.
    """

    size: int
    channels: int
    num_classes: int
    seed: int
    name: str = "synthetic"
    augment: bool = False  # the shifts are built in, and a flipped texture is another class
    noise_std: float = 2.0
    splits: dict[str, SyntheticImages] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        shift = max(1, self.size // 8)
        plane = 4 * self.size * self.size * self.channels
        bank = max(1, min(NOISE_BANK_MAX, NOISE_BANK_BYTES // plane))
        for split, count, stream in (("train", SYNTHETIC_TRAIN, 0), ("test", SYNTHETIC_TEST, 1)):
            labels = np.random.default_rng([self.seed, 7, stream])
            rng = np.random.default_rng([self.seed, 13, stream])
            self.splits[split] = SyntheticImages(
                labels=labels.integers(0, self.num_classes, count, dtype=np.int64),
                shift=rng.integers(-shift, shift + 1, (count, 2), dtype=np.int64),
                contrast=rng.uniform(0.6, 1.4, count).astype(np.float32),
                noise=rng.integers(0, bank, count, dtype=np.int64),
                noise_shift=rng.integers(0, self.size, (count, 2), dtype=np.int64),
            )
        rng = np.random.default_rng([self.seed, 11])
        gratings = (self.num_classes, self.channels, 3)
        self.offset = rng.uniform(-0.5, 0.5, (self.num_classes, self.channels)).astype(np.float32)
        self.angle = rng.uniform(0, np.pi, gratings).astype(np.float32)
        self.cycles = rng.uniform(1, 4, gratings).astype(np.float32)
        self.phase = rng.uniform(0, 7, gratings).astype(np.float32)
        noise = np.random.default_rng([self.seed, 17])
        shape = (bank, self.size, self.size, self.channels)
        self.noise_bank = noise.normal(0, self.noise_std, shape).astype(np.float32)
        cached = max(1, min(self.num_classes, TEXTURE_CACHE_BYTES // plane))
        self._texture = lru_cache(maxsize=cached)(self._make_texture)

    def labels(self, split: Split) -> np.ndarray:
        return self.splits[split].labels

    def _make_texture(self, label: int) -> np.ndarray:
        """Class ``label``'s texture, HWC float32, at coordinates ``index / size``."""
        grid = np.arange(self.size, dtype=np.float32) / np.float32(self.size)
        yy, xx = np.meshgrid(grid, grid, indexing="ij")
        out = np.empty((self.size, self.size, self.channels), dtype=np.float32)
        for c in range(self.channels):
            plane = np.full_like(xx, self.offset[label, c])
            for j in range(3):
                angle = self.angle[label, c, j]
                along = xx * np.cos(angle) + yy * np.sin(angle)
                wave = np.float32(2 * np.pi) * self.cycles[label, c, j] * along
                plane += np.cos(wave + self.phase[label, c, j]) / np.float32(np.sqrt(3))
            out[:, :, c] = plane
        return out

    def images(self, split: Split, indices: np.ndarray) -> np.ndarray:
        """The images, made :data:`SYNTHETIC_CHUNK` at a time with whole-array operations."""
        out = np.empty((len(indices), self.size, self.size, self.channels), dtype=np.uint8)
        for start in range(0, len(indices), SYNTHETIC_CHUNK):
            chunk = np.asarray(indices[start : start + SYNTHETIC_CHUNK], dtype=np.int64)
            out[start : start + len(chunk)] = self._make(self.splits[split], chunk)
        return out

    def _make(self, made: SyntheticImages, index: np.ndarray) -> np.ndarray:
        side = np.arange(self.size)
        classes, which = np.unique(made.labels[index], return_inverse=True)
        textures = np.stack([self._texture(int(label)) for label in classes])

        def window(planes: np.ndarray, pick: np.ndarray, shift: np.ndarray) -> np.ndarray:
            """``planes[pick]`` shifted circularly by ``shift`` (rows, columns), per image."""
            rows = (side - shift[:, :1]) % self.size
            cols = (side - shift[:, 1:]) % self.size
            return planes[pick[:, None, None], rows[:, :, None], cols[:, None, :]]

        image = window(textures, which, made.shift[index])
        image *= made.contrast[index][:, None, None, None]
        image += window(self.noise_bank, made.noise[index], made.noise_shift[index])
        return np.clip(np.rint(np.float32(128) + np.float32(48) * image), 0, 255)
