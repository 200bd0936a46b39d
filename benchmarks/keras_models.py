"""Generated Keras models against keras.applications: same weights, same input, same process.

``resnet50_v1`` against ``keras.applications.ResNet50`` and ``resnet50_v2`` against
``ResNet50V2``, both built with ``weights=None``; the reference's weights are then copied into
the generated model by layer name, and the outputs compared, before anything is timed. Both
models run through the same kind of compiled ``tf.function`` (forward in inference mode;
forward and gradients of every trainable weight in training mode), on the TensorFlow backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from benchmarks.common import Json, interleaved, section_main
from benchmarks.torch_models import load_generated

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

PAIRS = (("resnet50_v1", "ResNet50"), ("resnet50_v2", "ResNet50V2"))


def copy_by_name(source: Any, target: Any) -> tuple[int, str]:
    """Copy every weighted layer of ``source`` into the layer of the same name in ``target``;
    resgen's own helper when it exists, else a plain loop. Returns (layers copied, how)."""
    try:
        from resgen.weights import transfer
    except ImportError:
        transfer = None
    helper = None
    if transfer is not None:
        for name in ("copy_weights_by_name", "keras_applications_to_keras", "copy_by_name"):
            helper = getattr(transfer, name, None)
            if helper is not None:
                break
    if helper is not None:
        copied = helper(source, target)
        if not isinstance(copied, int):
            copied = sum(1 for layer in target.layers if layer.weights)
        return copied, f"resgen.weights.transfer.{helper.__name__}"
    copied = 0
    for layer in target.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
            copied += 1
    return copied, "by-name loop in benchmarks/keras_models.py"


def compare(name: str, application: str, batch: int, rounds: tuple[int, int], warmup: int) -> Json:
    import keras
    import numpy as np
    import tensorflow as tf

    ours = getattr(load_generated("keras", name), name)()
    # the generated models return logits: the reference's softmax is left off to match
    reference = getattr(keras.applications, application)(weights=None, classifier_activation=None)
    copied, how = copy_by_name(reference, ours)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.standard_normal((batch, 224, 224, 3), dtype=np.float32))
    target = tf.constant(rng.random((batch, 1000), dtype=np.float32))

    def forward(model: Any) -> Callable[[], None]:
        compiled = tf.function(lambda x: model(x, training=False), jit_compile=False)

        def call() -> None:
            compiled(images).numpy()

        return call

    def train_step(model: Any) -> Callable[[], None]:
        variables = model.trainable_variables

        @tf.function(jit_compile=False)
        def step(x: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model(x, training=True) * target)
            gradients = tape.gradient(loss, variables)
            return tf.add_n([tf.reduce_sum(g) for g in gradients])

        def call() -> None:
            step(images).numpy()

        return call

    ours_forward, reference_forward = forward(ours), forward(reference)
    out_ours = ours(images, training=False)
    out_reference = reference(images, training=False)
    difference = float(np.max(np.abs(np.asarray(out_ours) - np.asarray(out_reference))))
    scale = float(np.max(np.abs(np.asarray(out_reference))))
    result: Json = {
        "generated": name,
        "reference": f"keras.applications.{application}(weights=None, classifier_activation=None)",
        "batch": batch,
        "input": [batch, 224, 224, 3],
        "weights_copied_layers": copied,
        "weights_copied_with": how,
        "params_generated": int(ours.count_params()),
        "params_reference": int(reference.count_params()),
        "max_abs_output_difference": difference,
        "max_abs_output": scale,
    }
    result["forward"] = interleaved(ours_forward, reference_forward, rounds[0], warmup, budget_s=25)
    result["forward_backward"] = interleaved(
        train_step(ours), train_step(reference), rounds[1], warmup, budget_s=55
    )
    return result


def run(quick: bool) -> Json:
    import keras
    import tensorflow as tf

    rounds, warmup = ((3, 3), 1) if quick else ((12, 7), 2)
    batch = 2 if quick else 8
    data: Json = {
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "backend": keras.backend.backend(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "ratio_meaning": "generated time / reference time (above 1: generated slower)",
        "comparisons": {},
    }
    for name, application in PAIRS:
        label = f"generated {name} vs keras.applications.{application}"
        try:
            data["comparisons"][label] = compare(name, application, batch, rounds, warmup)
        except (FileNotFoundError, ImportError) as exc:
            data["comparisons"][label] = {"skipped": f"{type(exc).__name__}: {exc}"}
        keras.backend.clear_session()
    return data


if __name__ == "__main__":
    section_main("keras_models", run)
