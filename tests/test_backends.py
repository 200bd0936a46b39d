"""The committed generated/keras files on Keras' three backends: TensorFlow, JAX and PyTorch.

One set of weights is saved here; this process (TensorFlow) and a subprocess per other backend
(``KERAS_BACKEND``) load it into shipped specs' models of every block kind and return their
eval-mode outputs, then take one SGD step on a fixed batch and return the loss and every updated
weight. JAX and PyTorch must
agree with TensorFlow within 1e-4. jax is a dev dependency, so nothing here skips for want of
a backend.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

keras = pytest.importorskip("keras")
np = pytest.importorskip("numpy")

from checkpoints import images, randomize_keras  # noqa: E402
from helpers import build_to_load, generated_factory, run_python  # noqa: E402

# Keras' TensorFlow backend converts with np.array(x) in a way NumPy 2 deprecates; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

BACKENDS = ("tensorflow", "jax", "torch")
TOLERANCE = 1e-4
CLASSES = 10
# (spec, input size): every block kind and shortcut the shipped specs use; small inputs, since
# JAX runs a Keras model's __call__ op by op.
EVAL = [
    ("resnet20_cifar", 32),  # basic blocks, option A (a custom layer)
    ("resnet18", 32),  # basic blocks, projection
    ("resnet50", 64),  # bottleneck v1.5: explicit padding before strided 3x3 convs
    ("resnet50_v1", 32),  # bottleneck, stride on the 1x1, conv biases
    ("resnet50_v2", 32),  # pre-activation, stride on each stage's last block
    ("resnext50_32x4d", 32),  # grouped convs
    ("resnet50d", 32),  # deep stem, ResNet-D pooled projection
]
TRAIN = [("resnet20_cifar", 32), ("resnet50_v2", 64)]
BATCH = 4


def run_cases(folder: Path, cases: list[str]) -> dict[str, np.ndarray]:
    """Every case (``name:size:train``) on this process's Keras backend: the eval-mode output of
    the weights saved in ``folder``; for a training case also one SGD step's loss, how many
    variables it changed and every variable after it."""
    data = np.load(folder / "inputs.npz")
    results = {}
    for case in cases:
        name, size, train = case.split(":")
        shape = (int(size),) * 2 + (3,)
        model = build_to_load(
            generated_factory("keras", name), num_classes=CLASSES, input_shape=shape
        )
        model.load_weights(folder / f"{name}_{size}.weights.h5")
        x = data[f"x{size}"]
        results[f"{name}_{size}_eval"] = keras.ops.convert_to_numpy(model(x, training=False))
        if train == "1":
            model.compile(
                optimizer=keras.optimizers.SGD(learning_rate=0.1),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
            before = [keras.ops.convert_to_numpy(v).copy() for v in model.weights]
            loss = model.train_on_batch(x, data[f"y{size}"])
            results[f"{name}_{size}_loss"] = np.asarray(loss, dtype="float64")
            after = [keras.ops.convert_to_numpy(v) for v in model.weights]
            changed = sum(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
            results[f"{name}_{size}_changed"] = np.asarray(changed)
            for variable, value in zip(model.weights, after, strict=True):
                results[f"{name}_{size}_w_{variable.path}"] = value
    return results


SCRIPT = """
import sys
from pathlib import Path
import numpy as np
import keras
from test_backends import run_cases

folder = Path(sys.argv[1])
np.savez(folder / f"{keras.backend.backend()}.npz", **run_cases(folder, sys.argv[2:]))
print(keras.backend.backend())
"""


def run_backend(backend: str, folder: Path, cases: list[str]) -> dict[str, np.ndarray]:
    """:func:`run_cases` on ``backend``: here if this process runs it (TensorFlow, unless
    KERAS_BACKEND says otherwise), else in a child process."""
    if keras.backend.backend() == backend:
        return run_cases(folder, cases)
    result = run_python(SCRIPT, folder, *cases, keras_backend=backend, cwd=folder)
    assert result.stdout.split()[0] == backend, result.stdout  # it really ran there
    with np.load(folder / f"{backend}.npz") as saved:
        return dict(saved)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Weights and inputs for every case, saved by this process (any backend)."""
    folder = tmp_path_factory.mktemp("backends")
    cases = {(name, size): False for name, size in EVAL}
    cases.update({case: True for case in TRAIN})
    for index, (name, size) in enumerate(cases):
        model = generated_factory("keras", name)(num_classes=CLASSES, input_shape=(size, size, 3))
        randomize_keras(model, seed=index)
        model.save_weights(folder / f"{name}_{size}.weights.h5")
    arrays: dict[str, np.ndarray] = {}
    for size in sorted({size for _, size in cases}):
        arrays[f"x{size}"] = images(BATCH, size, seed=size).transpose(0, 2, 3, 1)
        arrays[f"y{size}"] = np.arange(BATCH) % CLASSES
    np.savez(folder / "inputs.npz", **arrays)
    return folder, [f"{name}:{size}:{int(train)}" for (name, size), train in cases.items()]


def test_same_outputs_and_training_step_on_every_backend(saved: tuple[Path, list[str]]) -> None:
    """Eval outputs equal TensorFlow's within 1e-4 for every case. One SGD step: the loss
    (a training-mode forward: batch statistics) agrees within 1e-4 relative, the classifier's
    update (which depends on the forward pass alone) within 1e-4, and every weight, moving
    statistics included, changed. (Deeper updates are not compared: backpropagating through
    batch norm at initialisation amplifies round-off by orders of magnitude, so a 50-layer
    network's first-layer gradients differ by percents between any two frameworks.)

    One test runs the three backends one after another: a module fixture would run the
    reference once per xdist worker."""
    folder, cases = saved
    reference = run_backend("tensorflow", folder, cases)
    for backend in BACKENDS[1:]:
        check_against(reference, run_backend(backend, folder, cases), backend)


@functools.cache
def weight_count(name: str) -> int:
    """How many variables the Keras model has, moving statistics included."""
    return len(generated_factory("keras", name)(num_classes=CLASSES).weights)


def check_against(
    reference: dict[str, np.ndarray], got: dict[str, np.ndarray], backend: str
) -> None:
    for name, size in EVAL:
        key = f"{name}_{size}_eval"
        assert reference[key].shape == got[key].shape == (BATCH, CLASSES)
        assert np.abs(reference[key]).max() > 0.05  # the head sees real, varied activations
        assert np.abs(got[key] - reference[key]).max() < TOLERANCE, (backend, name)
    for name, size in TRAIN:
        prefix = f"{name}_{size}_"
        loss = float(reference[prefix + "loss"])
        assert np.isfinite(loss) and loss > 0
        assert abs(float(got[prefix + "loss"]) - loss) < TOLERANCE * loss, (backend, name)
        for variable in ("predictions/kernel", "predictions/bias"):
            difference = np.abs(got[prefix + "w_" + variable] - reference[prefix + "w_" + variable])
            assert difference.max() < TOLERANCE, (backend, name, variable)
        weights = weight_count(name)
        assert int(reference[prefix + "changed"]) == int(got[prefix + "changed"]) == weights
