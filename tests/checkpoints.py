"""Weights that look trained (so that batch-norm statistics matter) and fixed input batches,
for the checkpoint, export, convert and backend tests.

numpy is the only framework imported here; torch-side helpers import torch when called.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def trained_like(shapes: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """A PyTorch state_dict with the given names and shapes whose values look trained:
    He-scaled convs (fan out), norm scales in [0.1, 0.5], shifts and means in [-0.1, 0.1],
    running variances in [0.5, 1.5], a small classifier."""
    import torch

    generator = torch.Generator().manual_seed(seed)

    def uniform(shape: list[int], low: float, high: float) -> torch.Tensor:
        return torch.rand(shape, generator=generator) * (high - low) + low

    state: dict[str, torch.Tensor] = {}
    for key, raw in shapes.items():
        shape = list(raw)
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000)
        elif len(shape) == 4:
            fan_out = shape[0] * shape[2] * shape[3]
            state[key] = torch.randn(shape, generator=generator) * (2 / fan_out) ** 0.5
        elif len(shape) == 2:
            state[key] = torch.randn(shape, generator=generator) * 0.01
        elif key.endswith("running_var"):
            state[key] = uniform(shape, 0.5, 1.5)
        elif key.endswith(".weight"):
            state[key] = uniform(shape, 0.1, 0.5)
        else:
            state[key] = uniform(shape, -0.1, 0.1)
    return state


def randomize_torch(model: Any, seed: int = 0) -> Any:
    """``model`` with :func:`trained_like` weights, in eval mode."""
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    model.load_state_dict(trained_like(shapes, seed), strict=True)
    return model.eval()


def randomize_keras(model: Any, seed: int = 0) -> Any:
    """The Keras counterpart: kernels kept (He-scaled at init), the rest as trained_like."""
    rng = np.random.default_rng(seed)
    ranges = {"gamma": (0.1, 0.5), "moving_variance": (0.5, 1.5)}
    for variable in model.weights:
        name = variable.path.rsplit("/", 1)[-1]
        if name in ranges or name in ("beta", "moving_mean", "bias"):
            low, high = ranges.get(name, (-0.1, 0.1))
            variable.assign(rng.uniform(low, high, tuple(variable.shape)).astype("float32"))
    return model


def randomize_keras_all(
    model: Any,
    seed: int = 0,
    gamma: tuple[float, float] = (0.1, 0.5),
    shift: tuple[float, float] = (-0.1, 0.1),
) -> None:
    """Every variable of a Keras model random, activations near unit scale: kernels with variance
    1 / fan-in, norm scales in ``gamma``, moving variances in [0.5, 2], everything else (shifts,
    moving means, biases) in ``shift``."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if variable.name == "moving_variance":
            value = rng.uniform(0.5, 2.0, shape)
        elif variable.name == "gamma":
            value = rng.uniform(*gamma, shape)
        elif variable.name == "kernel":
            value = rng.standard_normal(shape) * np.sqrt(1.0 / np.prod(shape[:-1]))
        else:
            value = rng.uniform(*shift, shape)
        variable.assign(value.astype("float32"))


def keras_outputs(model: Any, x: np.ndarray) -> np.ndarray:
    """A Keras model's eval-mode outputs for NCHW images ``x`` (it takes NHWC), as numpy."""
    import keras

    return keras.ops.convert_to_numpy(model(x.transpose(0, 2, 3, 1), training=False))


def images(batch: int, size: int, channels: int = 3, seed: int = 7) -> np.ndarray:
    """A fixed NCHW float32 batch."""
    shape = (batch, channels, size, size)
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
