"""Exports of the committed generated files, with a dynamic batch dimension.

- ONNX (``torch.onnx.export``, dynamo): the graph's batch axis is symbolic, and batches of 1
  and 7 through onnxruntime equal eager PyTorch within 1e-4;
- ``torch.export`` with ``Dim("batch")``: batches of 1 and 7 equal eager, also after
  ``torch.export.save`` / ``load``;
- Keras ``model.export`` to a TensorFlow SavedModel, reloaded with ``tf.saved_model.load`` and
  run on batches of 1 and 7.

The specs cover each block kind: option A's custom zero-pad shortcut (resnet20_cifar), the
deep stem with ResNet-D's pooled projection (resnet50d), pre-activation bottlenecks with the
stride on the last block (resnet50_v2) and grouped convs (resnext50_32x4d). Weights look
trained (:mod:`checkpoints`), so batch-norm statistics take part.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from checkpoints import images, randomize_keras, randomize_torch  # noqa: E402
from helpers import generated_factory  # noqa: E402

# Keras' TensorFlow backend converts with np.array(x) in a way NumPy 2 deprecates; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

TOLERANCE = 1e-4
CASES = [
    ("resnet20_cifar", 32),
    ("resnet50d", 64),
    ("resnet50_v2", 64),
    ("resnext50_32x4d", 64),
]
BATCHES = (1, 7)  # the export traces a batch of 2


def torch_model(name: str):
    return randomize_torch(generated_factory("torch", name)())


def eager(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize(("name", "size"), CASES[:3])
def test_onnx_with_a_dynamic_batch(name: str, size: int, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    model = torch_model(name)
    path = tmp_path / f"{name}.onnx"
    batch = torch.export.Dim("batch", min=1, max=1024)
    torch.onnx.export(
        model,
        (torch.from_numpy(images(2, size)),),
        str(path),
        input_names=["x"],
        output_names=["logits"],
        dynamic_shapes={"x": {0: batch}},
        dynamo=True,
        verbose=False,
    )
    graph = onnx.load(str(path)).graph
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].HasField("dim_value")  # symbolic batch
    assert [d.dim_value for d in dims[1:]] == [3, size, size]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for count in BATCHES:
        x = images(count, size, seed=count)
        (got,) = session.run(None, {"x": x})
        expected = eager(model, x)
        assert got.shape == expected.shape == (count, 1000 if size > 32 else 10)
        assert np.abs(got - expected).max() < TOLERANCE, (name, count)


@pytest.mark.parametrize(("name", "size"), CASES)
def test_torch_export_with_a_dynamic_batch(name: str, size: int, tmp_path: Path) -> None:
    model = torch_model(name)
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(
        model, (torch.from_numpy(images(2, size)),), dynamic_shapes={"x": {0: batch}}
    )
    path = tmp_path / f"{name}.pt2"
    torch.export.save(program, path)
    reloaded = torch.export.load(path)
    for count in BATCHES:
        x = images(count, size, seed=count)
        expected = eager(model, x)
        for exported in (program, reloaded):
            with torch.no_grad():
                got = exported.module()(torch.from_numpy(x)).numpy()
            assert got.shape == expected.shape
            assert np.abs(got - expected).max() < TOLERANCE, (name, count)
    with pytest.raises(AssertionError, match="<= 64"):  # the declared range is enforced
        program.module()(torch.zeros(65, 3, size, size))


@pytest.mark.parametrize(("name", "size"), [CASES[0], CASES[2]])
def test_keras_export_to_a_savedmodel(name: str, size: int, tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("SavedModel export runs on the TensorFlow backend")
    tf = pytest.importorskip("tensorflow")
    model = randomize_keras(generated_factory("keras", name)(input_shape=(size, size, 3)))
    path = tmp_path / f"{name}_savedmodel"
    model.export(str(path), format="tf_saved_model", verbose=False)
    reloaded = tf.saved_model.load(str(path))
    (spec,) = reloaded.signatures["serving_default"].structured_input_signature[1].values()
    assert tuple(spec.shape) == (None, size, size, 3)
    for count in BATCHES:
        x = images(count, size, seed=count).transpose(0, 2, 3, 1)
        expected = keras.ops.convert_to_numpy(model(x, training=False))
        got = reloaded.serve(tf.constant(x)).numpy()
        assert got.shape == expected.shape == (count, 1000 if size > 32 else 10)
        assert np.abs(got - expected).max() < TOLERANCE, (name, count)
