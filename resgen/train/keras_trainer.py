"""The Keras 3 side of ``resgen train``, on Keras's TensorFlow or PyTorch backend.

The generated factory is ``<name>(num_classes=..., input_shape=(H, W, C))``, channels-last. The
model is compiled with cross-entropy on logits and SGD with momentum whose gradient gets
``1e-4 * w`` added for every trainable weight (coupled L2, as torch's SGD does; Keras's own
``weight_decay`` is the decoupled kind), and stepped with ``train_on_batch``, which every Keras
backend implements (``--compile``: XLA on TensorFlow, ``torch.compile`` on PyTorch). On a GPU,
and on a CPU with native bf16 (AMX or AVX512-BF16, :mod:`~resgen.train.hardware`), the default
policy is ``mixed_bfloat16``.

Data: on TensorFlow a ``tf.data`` pipeline makes batches in ``workers`` parallel calls ahead of
the step; on PyTorch the torch backend's feed (DataLoader workers, or the GPU itself) serves
Keras as it serves torch. Op determinism is on for TensorFlow CPU runs, so a resumed run
matches an uninterrupted one bit for bit.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from resgen.errors import ResgenError
from resgen.files import open_regular, write_atomic_with
from resgen.train.backend import ModelInputs
from resgen.train.batches import Batches, Plan
from resgen.train.config import MOMENTUM, WEIGHT_DECAY, TrainConfig, World, option_error
from resgen.train.hardware import cpu_bf16, precision
from resgen.train.resume_state import CHECKPOINT_BYTES, unusable

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # after KERAS_BACKEND is settled
from keras import ops

CHECKPOINT = "checkpoint.npz"
BACKENDS = ("tensorflow", "torch")
PREFETCH = 2  # batches tf.data makes ahead


class CoupledSGD(keras.optimizers.SGD):
    """Keras SGD with momentum, plus ``WEIGHT_DECAY * w`` added to each gradient first: the L2
    penalty torch.optim.SGD's ``weight_decay`` applies (He et al.'s 1e-4)."""

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        decay = ops.multiply(ops.cast(variable, gradient.dtype), WEIGHT_DECAY)
        super().update_step(ops.add(gradient, decay), variable, learning_rate)


def _tensorflow_device(request: str) -> tuple[str, bool]:
    """``auto``: the GPU TensorFlow sees (CUDA, or Metal for ``mps``), else the CPU."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if request in ("cuda", "mps") and not gpus:
        raise option_error(f"--device {request}", "TensorFlow sees no GPU on this machine")
    if request == "cpu" or not gpus:
        tf.config.set_visible_devices([], "GPU")
        tf.config.experimental.enable_op_determinism()
        return "cpu", False
    return gpus[0].name.replace("/physical_device:", "").lower(), True


def _torch_device(request: str) -> tuple[str, bool]:
    """The device Keras's torch backend chose (``--device cpu`` sets ``KERAS_TORCH_DEVICE``
    before Keras loads); a request it cannot honour is the user's error."""
    device = str(ops.zeros(1).device)  # type: ignore[attr-defined]
    kind = device.split(":")[0]
    if request != "auto" and kind != request:
        raise option_error(
            f"--device {request}", f"Keras's torch backend runs on {device} on this machine"
        )
    return device, kind != "cpu"


class KerasFramework:
    """Keras 3 for one process: its backend framework, device and data feed."""

    checkpoint_name = CHECKPOINT

    def __init__(self, config: TrainConfig, world: World) -> None:
        self.config = config
        self.framework = keras.backend.backend()
        if self.framework not in BACKENDS:
            raise option_error(
                "KERAS_BACKEND",
                f"resgen train --backend keras runs on Keras's TensorFlow or PyTorch backend, "
                f"not {self.framework!r}",
            )
        if world.distributed:
            raise option_error("--backend keras", "torchrun runs the torch backend only")
        pick = _tensorflow_device if self.framework == "tensorflow" else _torch_device
        self.device, self.on_gpu = pick(config.device)

    def trainer(self, factory: Callable[..., Any], inputs: ModelInputs) -> KerasTrainer:
        return KerasTrainer(factory, inputs, self.config, self.device, self.on_gpu)

    def feed(self, batches: Batches, start: int, stop: int, workers: int) -> Iterator[Any]:
        if self.framework == "torch":
            import torch

            from resgen.train import torch_feed

            return torch_feed.train_feed(batches, start, stop, torch.device(self.device), workers)
        return _tf_feed(batches, stop - start, lambda i: batches.train_plan(start + i), workers)

    def test_feed(
        self, batches: Batches, batch_size: int, limit: int, workers: int
    ) -> Iterator[Any]:
        if self.framework == "torch":
            import torch

            from resgen.train import torch_feed

            device = torch.device(self.device)
            return torch_feed.test_feed(batches, batch_size, limit, device, workers)
        plans = batches.test_plans(batch_size, limit)
        return _tf_feed(batches, len(plans), plans.__getitem__, workers)

    def read_meta(self, path: Path) -> str:
        with open_regular(path, CHECKPOINT_BYTES, what="checkpoint") as stream:
            try:
                with np.load(stream, allow_pickle=False) as stored:
                    return str(stored["meta"])
            except Exception as exc:  # whatever a damaged or foreign file raises
                raise unusable(path, exc) from None

    def barrier(self) -> None:
        pass

    def close(self) -> None:
        pass


def _tf_feed(
    batches: Batches, count: int, plan: Callable[[int], Plan], workers: int
) -> Iterator[Any]:
    """Batches ``plan(0)`` .. ``plan(count - 1)`` made by ``tf.data`` in ``workers`` parallel
    calls (delivered in order), ahead of use."""
    import tensorflow as tf

    failures: list[ResgenError] = []

    def make(index: np.int64) -> tuple[np.ndarray, np.ndarray]:
        try:
            return batches.make(plan(int(index)))
        except ResgenError as exc:  # raised where the batch is consumed
            failures.append(exc)
            return np.zeros((0, 1, 1, 1), np.uint8), np.zeros(0, np.int64)

    pipeline = (
        tf.data.Dataset.range(count)
        .map(
            lambda i: tf.numpy_function(make, [i], (tf.uint8, tf.int64), stateful=False),
            num_parallel_calls=workers or None,
            deterministic=True,
        )
        .prefetch(PREFETCH)
    )
    for images, labels in pipeline:
        if failures:
            raise failures[0]
        yield images, labels


class KerasTrainer:
    """A generated ``keras.Model`` compiled for SGD and stepped with ``train_on_batch``."""

    channels_last = True

    def __init__(
        self,
        factory: Callable[..., Any],
        inputs: ModelInputs,
        config: TrainConfig,
        device: str,
        on_gpu: bool,
    ) -> None:
        fast_bf16 = on_gpu or cpu_bf16()
        self.amp = fast_bf16 if config.amp is None else config.amp
        self.precision = precision(self.amp)
        keras.mixed_precision.set_global_policy("mixed_bfloat16" if self.amp else "float32")
        keras.utils.set_random_seed(config.seed)
        shape = (inputs.size, inputs.size, inputs.channels)
        self.model = factory(num_classes=inputs.num_classes, input_shape=shape)
        self.optimizer = CoupledSGD(learning_rate=config.base_lr, momentum=MOMENTUM)
        self.model.compile(
            optimizer=self.optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            jit_compile=bool(config.compile),
        )
        self.optimizer.build(self.model.trainable_variables)
        self.params = int(sum(np.prod(v.shape) for v in self.model.trainable_variables))
        self.mean, self.std = (np.asarray(v, dtype=np.float32) * 255 for v in inputs.stats)
        self.bgr = inputs.bgr
        backend = keras.backend.backend()
        version = __import__(backend).__version__
        self.framework = f"keras {keras.__version__} ({backend} {version})"
        self.device = device

    def _inputs(self, images: Any) -> Any:
        x = ops.divide(ops.subtract(ops.cast(images, "float32"), self.mean), self.std)
        return ops.flip(x, axis=-1) if self.bgr else x  # BGR: keras.applications' caffe mode

    def train_step(self, batch: tuple[Any, Any], lr: float) -> tuple[float, float, int]:
        images, labels = batch
        self.optimizer.learning_rate = lr
        logs = self.model.train_on_batch(self._inputs(images), labels, return_dict=True)
        count = int(labels.shape[0])
        return float(logs["loss"]), float(logs["accuracy"]) * count, count

    def fetch(self, pending: list[Any]) -> list[tuple[float, float, int]]:
        return list(pending)

    def all_sum(self, values: list[float]) -> list[float]:
        return values

    def evaluate(self, batches: Iterable[tuple[Any, Any]]) -> tuple[float, int]:
        loss, correct = 0.0, 0
        for images, labels in batches:
            logits = np.asarray(self.model.predict_on_batch(self._inputs(images)), np.float64)
            y = np.asarray(ops.convert_to_numpy(labels))
            shifted = logits - logits.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(shifted).sum(axis=1))
            loss += float((log_norm - shifted[np.arange(len(y)), y]).sum())
            correct += int((logits.argmax(axis=1) == y).sum())
        return loss, correct

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"model_{i}": w for i, w in enumerate(self.model.get_weights())}
        for i, variable in enumerate(self.optimizer.variables):
            arrays[f"optimizer_{i}"] = np.asarray(ops.convert_to_numpy(variable))
        return arrays

    def save(self, path: Path, meta: str) -> None:
        arrays = self._arrays()
        arrays["meta"] = np.asarray(meta)

        def write(stream: Any) -> None:
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            stream.write(buffer.getvalue())

        write_atomic_with(path, write)

    def load(self, path: Path) -> str:
        with open_regular(path, CHECKPOINT_BYTES, what="checkpoint") as stream:
            try:
                with np.load(stream, allow_pickle=False) as stored:
                    weights = self.model.get_weights()
                    self.model.set_weights([stored[f"model_{i}"] for i in range(len(weights))])
                    for i, variable in enumerate(self.optimizer.variables):
                        variable.assign(stored[f"optimizer_{i}"])
                    return str(stored["meta"])
            except Exception as exc:  # whatever a damaged or foreign file raises
                raise unusable(path, exc) from None

    def weight_digests(self) -> list[str]:
        digest = hashlib.sha256()
        for weights in self.model.get_weights():
            digest.update(np.ascontiguousarray(weights).tobytes())
        return [digest.hexdigest()]
