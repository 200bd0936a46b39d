"""The seam between ``resgen train`` and a framework: one :class:`Framework` per process.

:mod:`~resgen.train.torch_trainer` and :mod:`~resgen.train.keras_trainer` each implement it; the
session and the step loop see only these protocols. A backend owns what is process-wide (the
device, the torchrun group, the data feed that puts batches on the device, the checkpoint
format) and builds a :class:`Trainer` per network: the one way to construct one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from resgen.train.batches import Batches

Stats = tuple[tuple[float, ...], tuple[float, ...]]


@dataclass(frozen=True)
class ModelInputs:
    """What a trainer needs to know about the data: classes, image shape, normalisation."""

    num_classes: int
    size: int
    channels: int
    stats: Stats  # per-channel mean and std, in [0, 1] units, RGB order
    bgr: bool = False  # the weights take BGR: reverse the channels after normalising


class Trainer(Protocol):
    """One generated network under SGD in one framework."""

    framework: str  # "torch 2.13.0", "keras 3.15.1 (tensorflow 2.21.0)"
    device: str  # what runs it, in words: "cpu (2 threads)", "cuda:0 (NVIDIA H100 ...)"
    params: int  # trainable parameters
    amp: bool
    channels_last: bool
    precision: str  # what the steps compute in: "bf16" (autocast, mixed_bfloat16) or "float32"

    def train_step(self, batch: Any, lr: float) -> Any:
        """One SGD step on a batch from the feed; returns this rank's (loss, correct, images)
        without waiting for the device."""
        ...

    def fetch(self, pending: list[Any]) -> list[tuple[float, float, int]]:
        """Wait for steps' results: (mean loss, correct, images) each, this rank's share."""
        ...

    def all_sum(self, values: list[float]) -> list[float]:
        """Sum over torchrun ranks (identity in a single process)."""
        ...

    def evaluate(self, batches: Iterable[Any]) -> tuple[float, int]:
        """Eval-mode (summed loss, correct) over batches from the test feed."""
        ...

    def save(self, path: Path, meta: str) -> None:
        """Write a checkpoint with the run record ``meta`` (JSON) atomically; rank 0 writes,
        every rank returns after it exists."""
        ...

    def load(self, path: Path) -> str:
        """Restore model, optimizer and RNG states; return the run record."""
        ...

    def weight_digests(self) -> list[str]:
        """sha256 of every rank's weights and buffers (rank 0 gets all; others may get [])."""
        ...


class Framework(Protocol):
    """A framework, opened for one process: device chosen, torchrun group joined."""

    checkpoint_name: str  # "checkpoint.pt", "checkpoint.npz"

    def trainer(self, factory: Callable[..., Any], inputs: ModelInputs) -> Trainer:
        """Build the network from its generated factory, on this backend's device."""
        ...

    def feed(self, batches: Batches, start: int, stop: int, workers: int) -> Iterator[Any]:
        """Training batches ``start`` .. ``stop - 1``, on the device, made ahead of the step."""
        ...

    def test_feed(
        self, batches: Batches, batch_size: int, limit: int, workers: int
    ) -> Iterator[Any]:
        """This rank's share of the first ``limit`` held-out images, on the device."""
        ...

    def read_meta(self, path: Path) -> str:
        """The run record in a checkpoint, read without building a network."""
        ...

    def barrier(self) -> None:
        """Wait for every torchrun rank (nothing in a single process)."""
        ...

    def close(self) -> None:
        """Leave the torchrun group, if any."""
        ...
