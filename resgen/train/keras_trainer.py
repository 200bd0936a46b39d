"""The Keras 3 side of ``resgen train``, on Keras's TensorFlow backend.

The generated factory is ``<name>(num_classes=..., input_shape=(H, W, C))``, channels-last. The
step is a ``tf.function`` (XLA with ``--compile``): cross-entropy, plus weight decay added to the
gradient of every trainable variable (as torch's SGD does; Keras's own ``weight_decay`` is the
decoupled kind), then Keras SGD with momentum. On a GPU the default policy is
``mixed_bfloat16``. Op determinism is on for CPU runs, so a resumed run matches an uninterrupted
one bit for bit.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from resgen.files import write_atomic_with
from resgen.train.config import MOMENTUM, WEIGHT_DECAY, TrainConfig, World, option_error

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # after KERAS_BACKEND is settled
import tensorflow as tf

CHECKPOINT = "checkpoint.npz"
EVAL_BATCH = 256


def pick_device(request: str, world: World) -> str:
    """``auto``: the GPU TensorFlow sees (CUDA, or Metal for ``mps``), else the CPU."""
    if keras.backend.backend() != "tensorflow":
        raise option_error(
            "KERAS_BACKEND",
            f"resgen train --backend keras runs on Keras's TensorFlow backend, not "
            f"{keras.backend.backend()!r}; unset KERAS_BACKEND",
        )
    if world.distributed:
        raise option_error("--backend keras", "torchrun runs the torch backend only")
    gpus = tf.config.list_physical_devices("GPU")
    if request in ("cuda", "mps") and not gpus:
        raise option_error(f"--device {request}", "TensorFlow sees no GPU on this machine")
    if request == "cpu" or not gpus:
        tf.config.set_visible_devices([], "GPU")
        tf.config.experimental.enable_op_determinism()
        return "cpu"
    return "gpu"


class KerasTrainer:
    """A generated ``keras.Model`` under SGD in a custom TensorFlow step."""

    checkpoint_name = CHECKPOINT

    def __init__(
        self,
        factory: Callable[..., Any],
        num_classes: int,
        input_shape: tuple[int, int, int],
        stats: tuple[tuple[float, ...], tuple[float, ...]],
        config: TrainConfig,
        device: str,
    ) -> None:
        on_gpu = device == "gpu"
        self.amp = on_gpu if config.amp is None else config.amp
        keras.mixed_precision.set_global_policy("mixed_bfloat16" if self.amp else "float32")
        keras.utils.set_random_seed(config.seed)
        self.model = factory(num_classes=num_classes, input_shape=input_shape)
        self.variables = self.model.trainable_variables
        self.params = int(sum(np.prod(v.shape) for v in self.variables))
        self.optimizer = keras.optimizers.SGD(learning_rate=config.base_lr, momentum=MOMENTUM)
        self.optimizer.build(self.variables)
        mean, std = (np.asarray(v, dtype=np.float32) * 255 for v in stats)
        self.mean, self.std = tf.constant(mean), tf.constant(std)
        self._step = tf.function(self._train_step, jit_compile=bool(config.compile))
        self._eval = tf.function(self._eval_step, jit_compile=bool(config.compile))
        self.framework = f"keras {keras.__version__} (tensorflow {tf.__version__})"
        name = tf.config.list_physical_devices("GPU")[0].name if on_gpu else "cpu"
        self.device = name.replace("/physical_device:", "").lower()

    def _inputs(self, images: tf.Tensor) -> tf.Tensor:
        return (tf.cast(images, tf.float32) - self.mean) / self.std

    def _train_step(self, images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            logits = tf.cast(self.model(self._inputs(images), training=True), tf.float32)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            )
        grads = tape.gradient(loss, self.variables)
        grads = [g + WEIGHT_DECAY * v for g, v in zip(grads, self.variables, strict=True)]
        self.optimizer.apply(grads, self.variables)
        correct = tf.reduce_sum(tf.cast(tf.argmax(logits, axis=1) == labels, tf.int32))
        return loss, correct

    def _eval_step(self, images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        logits = tf.cast(self.model(self._inputs(images), training=False), tf.float32)
        loss = tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        )
        correct = tf.reduce_sum(tf.cast(tf.argmax(logits, axis=1) == labels, tf.int32))
        return loss, correct

    def train_step(self, images: np.ndarray, labels: np.ndarray, lr: float) -> Any:
        self.optimizer.learning_rate.assign(lr)
        loss, correct = self._step(tf.constant(images), tf.constant(labels))
        return loss, correct, len(labels)

    def fetch(self, pending: list[Any]) -> list[tuple[float, float, int]]:
        return [(float(loss.numpy()), float(correct.numpy()), n) for loss, correct, n in pending]

    def all_sum(self, values: list[float]) -> list[float]:
        return values

    def evaluate(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[float, int]:
        loss, correct = 0.0, 0
        for images, labels in batches:
            batch_loss, batch_correct = self._eval(tf.constant(images), tf.constant(labels))
            loss += float(batch_loss.numpy())
            correct += int(batch_correct.numpy())
        return loss, correct

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"model_{i}": w for i, w in enumerate(self.model.get_weights())}
        for i, variable in enumerate(self.optimizer.variables):
            arrays[f"optimizer_{i}"] = np.asarray(variable.numpy())
        return arrays

    def save(self, path: Path, meta: dict[str, Any]) -> None:
        arrays = self._arrays()
        arrays["meta"] = np.asarray(json.dumps(meta))

        def write(stream: Any) -> None:
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            stream.write(buffer.getvalue())

        write_atomic_with(path, write)

    def load(self, path: Path) -> dict[str, Any]:
        try:
            with np.load(path, allow_pickle=False) as stored:
                weights = self.model.get_weights()
                self.model.set_weights([stored[f"model_{i}"] for i in range(len(weights))])
                for i, variable in enumerate(self.optimizer.variables):
                    variable.assign(stored[f"optimizer_{i}"])
                meta: dict[str, Any] = json.loads(str(stored["meta"]))
        except Exception as exc:  # whatever a damaged or foreign file raises
            raise option_error(
                "--resume", f"{path}: not a usable checkpoint ({type(exc).__name__}: {exc})"
            ) from None
        return meta

    def weight_digests(self) -> list[str]:
        digest = hashlib.sha256()
        for weights in self.model.get_weights():
            digest.update(np.ascontiguousarray(weights).tobytes())
        return [digest.hexdigest()]


def read_meta(path: Path) -> dict[str, Any]:
    """The loop's record in a checkpoint, read without building a model."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return json.loads(str(stored["meta"]))  # type: ignore[no-any-return]
    except Exception as exc:  # whatever a damaged or foreign file raises
        raise option_error(
            "--resume", f"{path}: not a usable checkpoint ({type(exc).__name__}: {exc})"
        ) from None
