"""The PyTorch side of ``resgen train``: device, DistributedDataParallel, one SGD step, checkpoints.

On CUDA, and on CPUs with native bf16 (AMX or AVX512-BF16, :mod:`~resgen.train.hardware`), the
defaults are bf16 autocast and channels_last tensors (``--no-amp``, ``--no-channels-last`` turn
them off); on CUDA also ``cudnn.benchmark`` and TF32 matmuls; ``--compile`` wraps
the step's model in ``torch.compile``. Under torchrun (``WORLD_SIZE`` > 1) the model is wrapped
in DistributedDataParallel over gloo (CPU) or NCCL (CUDA); DDP averages gradients and
broadcasts rank 0's batch-norm buffers each step, so the replicas stay identical.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

# Idle OpenMP threads sleep instead of spinning (unless the user chose otherwise). On a CPU
# shared with other work, spinning threads made a 2-thread run 2-3x slower than 1 thread here.
# OpenMP reads this once, when torch loads it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional

from resgen.files import open_regular, write_atomic_with
from resgen.train import torch_feed
from resgen.train.backend import ModelInputs
from resgen.train.batches import Batches
from resgen.train.config import MOMENTUM, WEIGHT_DECAY, TrainConfig, World, option_error
from resgen.train.hardware import cpu_bf16, precision
from resgen.train.resume_state import CHECKPOINT_BYTES, unusable

CHECKPOINT = "checkpoint.pt"


def pick_device(request: str, world: World) -> torch.device:
    """``auto``: CUDA, then MPS, then CPU. An unavailable request is the user's error."""
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if request == "auto":
        request = "cuda" if cuda else "mps" if mps else "cpu"
    if request == "cuda" and not cuda:
        raise option_error("--device cuda", f"CUDA is not available to torch {torch.__version__}")
    if request == "mps" and not mps:
        raise option_error("--device mps", "Apple's MPS is not available on this machine")
    if request == "mps" and world.distributed:
        raise option_error("--device mps", "torchrun runs on CPU (gloo) or CUDA (NCCL), not MPS")
    if request == "cuda":
        return torch.device("cuda", world.local_rank % torch.cuda.device_count())
    return torch.device(request)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads > 1 else ''})"
    return str(device)


class TorchFramework:
    """PyTorch for one process: its device, its place in a torchrun group, its data feed."""

    checkpoint_name = CHECKPOINT

    def __init__(self, config: TrainConfig, world: World) -> None:
        self.config, self.world = config, world
        self.device = pick_device(config.device, world)
        if world.distributed and not dist.is_initialized():
            if self.device.type == "cuda":  # NCCL between GPUs, gloo between CPU processes
                torch.cuda.set_device(self.device)
                dist.init_process_group("nccl", device_id=self.device)
            else:
                dist.init_process_group("gloo")

    def trainer(self, factory: Callable[..., nn.Module], inputs: ModelInputs) -> TorchTrainer:
        return TorchTrainer(factory, inputs, self.config, self.world, self.device)

    def feed(self, batches: Batches, start: int, stop: int, workers: int) -> Iterator[Any]:
        return torch_feed.train_feed(batches, start, stop, self.device, workers)

    def test_feed(
        self, batches: Batches, batch_size: int, limit: int, workers: int
    ) -> Iterator[Any]:
        return torch_feed.test_feed(batches, batch_size, limit, self.device, workers)

    def read_meta(self, path: Path) -> str:
        return str(_read(path, "cpu")["meta"])

    def barrier(self) -> None:
        if self.world.distributed:
            dist.barrier()

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


class TorchTrainer:
    """A generated ``nn.Module`` under SGD, on one device, optionally one DDP replica of many."""

    def __init__(
        self,
        factory: Callable[..., nn.Module],
        inputs: ModelInputs,
        config: TrainConfig,
        world: World,
        device: torch.device,
    ) -> None:
        self.world = world
        self.torch_device = device
        on_cuda = device.type == "cuda"
        fast_bf16 = on_cuda or (device.type == "cpu" and cpu_bf16())
        self.amp = fast_bf16 if config.amp is None else config.amp
        self.channels_last = fast_bf16 if config.channels_last is None else config.channels_last
        self.precision = precision(self.amp)
        self.memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        if on_cuda:
            torch.backends.cudnn.benchmark = True
            torch.set_float32_matmul_precision("high")
        torch.manual_seed(config.seed)
        model = factory(num_classes=inputs.num_classes)
        self.model = model.to(device, memory_format=self.memory_format)
        self.params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        stepped: nn.Module = self.model
        if world.distributed:
            stepped = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device.index] if on_cuda else None
            )
        self.step_model: Callable[[torch.Tensor], torch.Tensor] = (
            torch.compile(stepped) if config.compile else stepped
        )
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=config.base_lr,
            momentum=MOMENTUM,
            weight_decay=WEIGHT_DECAY,
            fused=True if on_cuda else None,  # one kernel for every parameter's update
        )
        mean, std = (torch.tensor(v, device=device).view(1, -1, 1, 1) * 255 for v in inputs.stats)
        self.mean, self.std, self.bgr = mean, std, inputs.bgr
        self.framework = f"torch {torch.__version__}"
        self.device = describe(device)
        self.model.train()

    def _inputs(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC on the device -> normalised float NCHW (channels_last strides come free:
        NHWC memory permuted to NCHW is exactly channels_last)."""
        x = (images.permute(0, 3, 1, 2).float() - self.mean) / self.std
        if self.bgr:  # the weights take BGR (keras.applications' caffe mode)
            x = x.flip(1)
        return x.contiguous(memory_format=self.memory_format)

    def train_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], lr: float
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        images, y = batch
        x = self._inputs(images)
        with torch.autocast(self.torch_device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits = self.step_model(x)
        loss = functional.cross_entropy(logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        correct = (logits.detach().argmax(dim=1) == y).sum()
        return loss.detach(), correct, len(y)

    def fetch(self, pending: list[Any]) -> list[tuple[float, float, int]]:
        if not pending:
            return []
        losses = torch.stack([p[0] for p in pending]).float().cpu().tolist()
        corrects = torch.stack([p[1] for p in pending]).cpu().tolist()
        return [
            (loss, float(c), p[2]) for loss, c, p in zip(losses, corrects, pending, strict=True)
        ]

    def all_sum(self, values: list[float]) -> list[float]:
        if not self.world.distributed:
            return values
        device = self.torch_device if self.torch_device.type == "cuda" else torch.device("cpu")
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return tensor.cpu().tolist()

    def _settle_buffers(self) -> None:
        """Give every replica rank 0's batch-norm statistics. DDP broadcasts them before each
        forward, so after the last step each replica still holds its own shard's update."""
        if self.world.distributed:
            for buffer in self.model.buffers():
                dist.broadcast(buffer, src=0)

    @torch.no_grad()
    def evaluate(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> tuple[float, int]:
        self._settle_buffers()
        self.model.eval()
        loss, correct = 0.0, 0
        for images, y in batches:
            x = self._inputs(images)
            with torch.autocast(self.torch_device.type, dtype=torch.bfloat16, enabled=self.amp):
                logits = self.model(x)
            loss += functional.cross_entropy(logits.float(), y, reduction="sum").item()
            correct += int((logits.argmax(dim=1) == y).sum().item())
        self.model.train()
        return loss, correct

    def save(self, path: Path, meta: str) -> None:
        if self.world.is_main:
            state = {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "rng": {
                    "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                },
                "meta": meta,
            }
            buffer = io.BytesIO()  # serialised first: a failing disk fails our write, not torch's
            torch.save(state, buffer)
            write_atomic_with(path, lambda stream: stream.write(buffer.getbuffer()))
        if self.world.distributed:
            dist.barrier()

    def load(self, path: Path) -> str:
        state = _read(path, self.torch_device)
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"]["torch"].cpu())
            if state["rng"]["cuda"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
        except Exception as exc:  # whatever a damaged or foreign file raises
            raise unusable(path, exc) from None
        return str(state["meta"])

    def weight_digests(self) -> list[str]:
        self._settle_buffers()
        digest = hashlib.sha256()
        for name, tensor in self.model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
        mine = digest.hexdigest()
        if not self.world.distributed:
            return [mine]
        gathered: list[Any] = [None] * self.world.size
        dist.all_gather_object(gathered, mine)
        return [str(d) for d in gathered]


def _read(path: Path, device: torch.device | str) -> dict[str, Any]:
    """A checkpoint's contents: a regular file within the size bound, tensors only."""
    with open_regular(path, CHECKPOINT_BYTES, what="checkpoint") as stream:
        try:
            state = torch.load(stream, map_location=device, weights_only=True)
        except Exception as exc:  # whatever a damaged or foreign file raises
            raise unusable(path, exc) from None
    if not isinstance(state, dict) or not isinstance(state.get("meta"), str):
        raise unusable(path, "no run record in it")
    return state
