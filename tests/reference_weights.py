"""The deterministic weights and inputs behind tests/data/reference_outputs.json.

scripts/write_reference_outputs.py fills timm's and torchvision's models with these values and
records their outputs; tests/test_reference_outputs.py fills the generated models with the same
values and compares. Both sides need only numpy and this file, so the default test suite can
rebuild the weights without timm or torchvision.

The rule, for a state_dict key ``key`` (in the reference model's order; the generated model has
the same keys and shapes) and a seed:

- ``u``: the tensor's values before scaling, uniform in [0, 1) with 24 bits (exact in float32):
  element ``i`` (in row-major order) is ``splitmix64(crc32(f"{seed}:{key}") * 2**32 + i) >> 40``
  divided by ``2**24``. Integer arithmetic only, so every machine gets the same bits.
- a weight of two or more dimensions (conv, linear, ECA's 1-D conv): ``(2u - 1) * sqrt(6 /
  fan_in)``, with ``fan_in`` the product of all dimensions but the first (He-uniform: variance
  2 / fan_in);
- ``running_var``: ``0.5 + u``; ``running_mean``: ``0.2 * (2u - 1)``;
- any other one-dimensional ``weight`` (batch-norm and group-norm scales): ``0.5 + u``;
- any other one-dimensional tensor (norm shifts, biases): ``0.2 * (2u - 1)``;
- ``num_batches_tracked`` (an integer scalar): 0.

Input images: ``images(seed, batch, size)`` is an NCHW float32 batch with unit variance,
``sqrt(3) * (2u - 1)`` under the key ``"input"``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from typing import Any

import numpy as np

MASK = (1 << 64) - 1


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's output function on uint64 counters (wrapping arithmetic, as in C)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform(seed: int, key: str, shape: Iterable[int]) -> np.ndarray:
    """``u`` for ``key``: float64 values in [0, 1), each a multiple of 2**-24."""
    shape = tuple(int(n) for n in shape)
    count = math.prod(shape)
    stream = np.uint64(zlib.crc32(f"{seed}:{key}".encode()) << 32)
    counters = stream + np.arange(count, dtype=np.uint64)
    bits = _splitmix64(counters) >> np.uint64(40)
    return (bits.astype(np.float64) / float(1 << 24)).reshape(shape)


def value(seed: int, key: str, shape: Iterable[int]) -> np.ndarray:
    """The tensor the rule gives ``key``: float32, or int64 for ``num_batches_tracked``."""
    shape = tuple(int(n) for n in shape)
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return np.zeros(shape, dtype=np.int64)
    u = uniform(seed, key, shape)
    if len(shape) >= 2:
        fan_in = math.prod(shape[1:])
        out = (2 * u - 1) * math.sqrt(6 / fan_in)
    elif leaf == "running_var" or leaf == "weight":
        out = 0.5 + u
    else:
        out = 0.2 * (2 * u - 1)
    return out.astype(np.float32)


def state_dict(seed: int, shapes: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every key of ``shapes`` (key -> shape) filled by the rule."""
    return {key: value(seed, key, shape) for key, shape in shapes.items()}


def images(seed: int, batch: int, size: int, channels: int = 3) -> np.ndarray:
    """An NCHW float32 batch with unit variance."""
    u = uniform(seed, "input", (batch, channels, size, size))
    return (math.sqrt(3) * (2 * u - 1)).astype(np.float32)


def load_into(model: Any, seed: int) -> Any:
    """``model`` (a torch module) with the rule's values for its own state_dict, in eval mode.
    Loaded strictly: every key the model has, none it lacks."""
    import torch

    shapes = {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}
    values = {key: torch.from_numpy(array) for key, array in state_dict(seed, shapes).items()}
    model.load_state_dict(values, strict=True)
    return model.eval()
