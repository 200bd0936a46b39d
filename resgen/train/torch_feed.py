"""Batches onto a torch device, off the training step's critical path.

Two ways, chosen by what the data is:

- **made on the device**: in-memory arrays already at the spec's size (CIFAR-10 at 32 x 32,
  digits) are uploaded once and indexed, cropped and flipped there; the synthetic task is
  computed there on an accelerator. No host work per step beyond a few index arrays.
- **made by workers**: everything else (image folders, arrays that need resizing, the synthetic
  task when the device is the CPU) is made by torch's ``DataLoader`` in ``workers`` processes,
  two batches each ahead of the step, in pinned memory on CUDA and copied without
  blocking. ``workers=0`` makes each batch in the training process when it is needed.

Either way a batch is :meth:`Batches.make` of the step's :class:`Plan`, so it is the same
whatever the number of workers, and a resumed run gets the batches an uninterrupted one would.
A data error in a worker (a truncated image) travels back as a value and is raised here as the
located line it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from resgen.errors import Problem, ResgenError
from resgen.train.batches import Batches, Crops, Plan
from resgen.train.data import ArrayDataset, Dataset, SyntheticDataset

PREFETCH = 2  # batches each worker makes ahead (torch's default; they sit in shared memory)

TensorBatch = tuple[torch.Tensor, torch.Tensor]  # uint8 NHWC images, int64 labels


@dataclass(frozen=True)
class _Failure:
    """A data error made in a worker, sent back instead of a batch."""

    problems: list[Problem]


def _make(batches: Batches, plan: Plan) -> TensorBatch | _Failure:
    try:
        x, y = batches.make(plan)
    except ResgenError as exc:
        return _Failure(exc.problems)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


class _Steps(TorchDataset[TensorBatch | _Failure]):
    """Item ``i`` is training step ``start + i``, made on the host."""

    def __init__(self, batches: Batches, start: int, stop: int) -> None:
        self.batches, self.start, self.stop = batches, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> TensorBatch | _Failure:
        return _make(self.batches, self.batches.train_plan(self.start + index))


class _Plans(TorchDataset[TensorBatch | _Failure]):
    def __init__(self, batches: Batches, plans: list[Plan]) -> None:
        self.batches, self.plans = batches, plans

    def __len__(self) -> int:
        return len(self.plans)

    def __getitem__(self, index: int) -> TensorBatch | _Failure:
        return _make(self.batches, self.plans[index])


def _from_workers(
    items: TorchDataset[TensorBatch | _Failure], workers: int, device: torch.device
) -> Iterator[TensorBatch]:
    loader = DataLoader(
        items,
        batch_size=None,  # each item is already a batch
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=PREFETCH if workers else None,
    )
    for item in loader:
        if isinstance(item, _Failure):
            raise ResgenError(item.problems)
        x, y = item
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def crop_on_device(x: torch.Tensor, crops: Crops) -> torch.Tensor:
    """:meth:`Crops.apply` on a device tensor: the same pixels, zeros where the crop leaves the
    image."""
    n, height, width, _ = x.shape
    device = x.device
    top = torch.from_numpy(crops.top).to(device) - crops.pad
    left = torch.from_numpy(crops.left).to(device) - crops.pad
    flip = torch.from_numpy(crops.flip).to(device)
    rows = top[:, None] + torch.arange(height, device=device)  # (N, H)
    span = torch.arange(width, device=device)
    cols = left[:, None] + torch.where(flip[:, None], width - 1 - span, span)  # (N, W)
    inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[
        :, None, :
    ]
    picked = x[
        torch.arange(n, device=device)[:, None, None],
        rows.clamp(0, height - 1)[:, :, None],
        cols.clamp(0, width - 1)[:, None, :],
    ]
    return picked * inside[..., None].to(x.dtype)


class _ArraysOnDevice:
    """In-memory images at the spec's size, uploaded once."""

    def __init__(self, data: ArrayDataset, device: torch.device) -> None:
        self.x = {s: torch.from_numpy(data.arrays(s)).to(device) for s in ("train", "test")}
        self.y = {s: torch.from_numpy(data.labels(s)).to(device) for s in ("train", "test")}

    def make(self, plan: Plan, index: torch.Tensor) -> TensorBatch:
        x = self.x[plan.split][index]
        if plan.crops is not None:
            x = crop_on_device(x, plan.crops)
        return x, self.y[plan.split][index]


class _SyntheticOnDevice:
    """:class:`SyntheticDataset`'s images computed on the device: the class textures at each
    image's shifted coordinates, plus its window of the noise bank (the same arithmetic as the
    host, up to the last bit of ``cos``)."""

    def __init__(self, data: SyntheticDataset, device: torch.device) -> None:
        def put(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array)).to(device)

        self.size = data.size
        self.offset, self.angle = put(data.offset), put(data.angle)
        self.cycles, self.phase = put(data.cycles), put(data.phase)
        self.bank = put(data.noise_bank)
        self.splits = {
            name: {k: put(v) for k, v in vars(made).items()} for name, made in data.splits.items()
        }
        self.device = device

    def make(self, plan: Plan, index: torch.Tensor) -> TensorBatch:
        made = self.splits[plan.split]
        labels = made["labels"][index]
        side = torch.arange(self.size, device=self.device)
        shift, noise_shift = made["shift"][index], made["noise_shift"][index]
        rows = (side - shift[:, :1]) % self.size  # (N, H): source row of each output row
        cols = (side - shift[:, 1:]) % self.size
        yy = (rows.float() / self.size)[:, None, :, None]  # (N, 1, H, 1)
        xx = (cols.float() / self.size)[:, None, None, :]  # (N, 1, 1, W)
        plane = self.offset[labels][:, :, None, None].expand(-1, -1, self.size, self.size)
        for j in range(3):
            angle = self.angle[labels, :, j][:, :, None, None]  # (N, C, 1, 1)
            along = xx * torch.cos(angle) + yy * torch.sin(angle)
            wave = np.float32(2 * math.pi) * self.cycles[labels, :, j][:, :, None, None] * along
            plane = plane + torch.cos(
                wave + self.phase[labels, :, j][:, :, None, None]
            ) / np.float32(math.sqrt(3))
        noise_rows = (side - noise_shift[:, :1]) % self.size
        noise_cols = (side - noise_shift[:, 1:]) % self.size
        noise = self.bank[
            made["noise"][index][:, None, None], noise_rows[:, :, None], noise_cols[:, None, :]
        ]  # (N, H, W, C)
        image = plane.permute(0, 2, 3, 1) * made["contrast"][index][:, None, None, None] + noise
        pixels = torch.clamp(torch.round(128 + 48 * image), 0, 255).to(torch.uint8)
        if plan.crops is not None:
            pixels = crop_on_device(pixels, plan.crops)
        return pixels, labels


def made_on_device(data: Dataset, device: torch.device) -> bool:
    """Whether batches of ``data`` are made on ``device`` itself (no workers)."""
    return (isinstance(data, ArrayDataset) and data.fitted) or (
        isinstance(data, SyntheticDataset) and device.type != "cpu"
    )


def _on_device(data: Dataset, device: torch.device) -> _ArraysOnDevice | _SyntheticOnDevice | None:
    if not made_on_device(data, device):
        return None
    if isinstance(data, ArrayDataset):
        return _ArraysOnDevice(data, device)
    assert isinstance(data, SyntheticDataset)
    return _SyntheticOnDevice(data, device)


def _from_device(
    maker: _ArraysOnDevice | _SyntheticOnDevice, plans: Iterator[Plan], device: torch.device
) -> Iterator[TensorBatch]:
    for plan in plans:
        yield maker.make(plan, torch.from_numpy(plan.indices).to(device))


def train_feed(
    batches: Batches, start: int, stop: int, device: torch.device, workers: int
) -> Iterator[TensorBatch]:
    """Training steps ``start`` .. ``stop - 1`` as device tensors."""
    maker = _on_device(batches.data, device)
    if maker is not None:
        return _from_device(maker, (batches.train_plan(s) for s in range(start, stop)), device)
    return _from_workers(_Steps(batches, start, stop), workers, device)


def test_feed(
    batches: Batches, batch_size: int, limit: int, device: torch.device, workers: int
) -> Iterator[TensorBatch]:
    """This rank's share of the held-out split as device tensors."""
    plans = batches.test_plans(batch_size, limit)
    maker = _on_device(batches.data, device)
    if maker is not None:
        return _from_device(maker, iter(plans), device)
    return _from_workers(_Plans(batches, plans), min(workers, len(plans)), device)
