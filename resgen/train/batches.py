"""Which images make each batch, and how they are augmented: a pure function of the step.

An epoch's order is a permutation drawn from ``(seed, epoch)``; a step's augmentation (crop
offsets and flips) from ``(seed, step, rank)``. So a run resumes at any step from the step count
alone, and a batch can be made anywhere: in a data-loader worker, in the training process, or
on the GPU (:mod:`resgen.train.torch_feed`), with the same result. Under torchrun, rank ``r`` of
``W`` takes every ``W``-th image of each global batch (DistributedSampler's interleaving);
``--batch-size`` is the global batch.

A :class:`Plan` says what one batch is (split, image indices, crops); :meth:`Batches.make`
turns it into uint8 NHWC images and int64 labels on the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from resgen.train.config import option_error
from resgen.train.data import Dataset, Split

STATS_SAMPLE = 512  # images used to estimate the per-channel mean and std
STATS_BYTES = 64 << 20  # pixels (uint8) read at a time for them


@dataclass(frozen=True)
class Crops:
    """Pad-and-crop plus horizontal flip for each image of a batch (He et al. 2015, sec. 4.2:
    zero-pad 4 pixels of a 32 x 32 image, crop 32 x 32 at random, flip half the images)."""

    pad: int
    top: np.ndarray  # (N,) offsets into the padded image, 0..2*pad
    left: np.ndarray
    flip: np.ndarray  # (N,) bool

    @classmethod
    def draw(cls, count: int, side: int, rng: np.random.Generator) -> Crops:
        pad = max(1, side // 8)
        top = rng.integers(0, 2 * pad + 1, count)
        left = rng.integers(0, 2 * pad + 1, count)
        return cls(pad, top, left, rng.random(count) < 0.5)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Crop (and flip) each image of uint8 NHWC ``x`` out of its zero-padded self."""
        n, height, width, _ = x.shape
        pad = self.pad
        padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        rows = (self.top[:, None] + np.arange(height))[:, :, None]
        cols = (self.left[:, None] + np.arange(width))[:, None, :]
        cols = np.where(self.flip[:, None, None], cols[:, :, ::-1], cols)
        return padded[np.arange(n)[:, None, None], rows, cols]


@dataclass(frozen=True)
class Plan:
    """One batch: which images of which split, and their crops (None: as they are)."""

    split: Split
    indices: np.ndarray
    crops: Crops | None = None


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

    @property
    def test_count(self) -> int:
        return len(self.data.labels("test"))

    def order(self, epoch: int) -> np.ndarray:
        if self._order is None or self._order[0] != epoch:
            rng = np.random.default_rng([self.seed, 3, epoch])
            self._order = (epoch, rng.permutation(len(self.data.labels("train"))))
        return self._order[1]

    def train_plan(self, step: int) -> Plan:
        """This rank's share of global batch ``step`` (0-based)."""
        epoch, index = divmod(step, self.steps_per_epoch)
        chosen = self.order(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        mine = chosen[self.rank :: self.world]
        crops = None
        if self.augment:
            rng = np.random.default_rng([self.seed, 5, step, self.rank])
            crops = Crops.draw(len(mine), self.data.size, rng)
        return Plan("train", mine, crops)

    def test_plans(self, batch_size: int, limit: int | None = None) -> list[Plan]:
        """This rank's share of the held-out split (its first ``limit`` images), in order,
        ``batch_size`` at a time."""
        count = self.test_count if limit is None else min(limit, self.test_count)
        mine = np.arange(self.rank, count, self.world)
        return [Plan("test", mine[i : i + batch_size]) for i in range(0, len(mine), batch_size)]

    def make(self, plan: Plan) -> tuple[np.ndarray, np.ndarray]:
        """The batch a plan describes: images uint8 NHWC, labels int64."""
        x = self.data.images(plan.split, plan.indices)
        if plan.crops is not None:
            x = plan.crops.apply(x)
        return x, self.data.labels(plan.split)[plan.indices]

    def train(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """This rank's share of global batch ``step``, made on the host."""
        return self.make(self.train_plan(step))


def channel_stats(data: Dataset) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std in [0, 1] units, from a fixed sample of training images.

    The sample is read :data:`STATS_BYTES` of pixels at a time and counted into one 256-bin
    histogram per channel, so memory is bounded whatever the image size (512 images of
    2048 px as float64 were 48 GiB) and the sums are exact."""
    count = len(data.labels("train"))
    rng = np.random.default_rng(0)
    sample = np.sort(rng.permutation(count)[: min(count, STATS_SAMPLE)])
    image_bytes = data.size * data.size * max(data.channels, 1)
    step = max(1, STATS_BYTES // image_bytes)
    histogram: np.ndarray | None = None
    for start in range(0, len(sample), step):
        x = data.images("train", sample[start : start + step])
        if histogram is None:
            histogram = np.zeros((x.shape[-1], 256), dtype=np.int64)
        for channel in range(x.shape[-1]):
            histogram[channel] += np.bincount(x[..., channel].ravel(), minlength=256)
    assert histogram is not None
    values = np.arange(256, dtype=np.float64) / 255
    pixels = histogram.sum(axis=1).astype(np.float64)
    mean = histogram @ values / pixels
    variance = np.maximum(histogram @ values**2 / pixels - mean**2, 0.0)
    std = np.maximum(np.sqrt(variance), 1e-3)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
