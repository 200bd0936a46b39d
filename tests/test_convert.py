"""``resgen convert``: checkpoints moved between a spec's PyTorch and Keras twins, verified.

The truths the conversions are held to come from outside resgen's converter: torchvision's
state_dict listing (tests/data) for the PyTorch checkpoint, ``keras.applications.ResNet50`` for
the Keras one, and each framework's own loader (``keras.Model.load_weights``,
``safetensors.torch.load_file`` with ``load_state_dict(strict=True)``) for what was written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import DATA, framework_env, generated_factory, no_traceback, run_resgen, spec_path

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
np = pytest.importorskip("numpy")
safetensors_torch = pytest.importorskip("safetensors.torch")

from checkpoints import images, keras_outputs, randomize_keras, trained_like  # noqa: E402

from resgen.weights import checkpoint  # noqa: E402
from resgen.weights import convert as converter  # noqa: E402

# Keras' TensorFlow backend converts with np.array(x) in a way NumPy 2 deprecates; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

TORCHVISION = DATA / "torchvision_state_dicts.json"
TOLERANCE = 1e-4


def torchvision_listing(name: str) -> dict[str, list[int]]:
    return json.loads(TORCHVISION.read_text())[name]["state_dict"]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --------------------------------------------------------------------------------------------
# each direction, against outside truths


def test_torchvision_resnet50_checkpoint_to_keras(tmp_path: Path, cli: Callable) -> None:
    """The issue's first case: a torchvision-shaped checkpoint (torchvision's keys and shapes,
    saved under "state_dict" as training scripts do) becomes a .weights.h5 that Keras' own
    loader puts into the generated Keras resnet50, which then gives the PyTorch outputs."""
    state = trained_like(torchvision_listing("resnet50"))
    source, target = tmp_path / "resnet50.pth", tmp_path / "resnet50.weights.h5"
    torch.save({"epoch": 90, "state_dict": state}, source)

    result = cli("convert", spec_path("resnet50"), source, target)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for where in ("stem", "layer1 / conv2", "layer4 / conv5", "logits", "criterion: "):
        assert any(line.strip().startswith(where) for line in lines), where
    assert lines[-2].endswith(": ok")
    logits = next(line for line in lines if line.strip().startswith("logits")).split()
    assert 0 < float(logits[4]) < TOLERANCE  # two frameworks: round-off, and no more
    assert lines[-1] == f"wrote {target}"

    reference = generated_factory("torch", "resnet50")().eval()
    reference.load_state_dict(state, strict=True)
    model = generated_factory("keras", "resnet50")()
    model.load_weights(target)
    x = images(2, 224)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    assert np.abs(keras_outputs(model, x) - expected).max() < TOLERANCE
    assert leftovers(tmp_path) == []


def test_keras_applications_resnet50_to_safetensors(tmp_path: Path, cli: Callable) -> None:
    """The issue's second case: keras.applications.ResNet50's own .weights.h5 becomes a
    .safetensors that loads strictly into the generated PyTorch resnet50_v1 and gives
    keras.applications' outputs. So does the Keras 2 style .h5 that keras.applications'
    pretrained downloads are (weights by layer name), here written by ``model.save``; and
    that file, offered to resnet50 (v1.5: no conv biases), is refused naming the biases."""
    application = keras.applications.ResNet50(weights=None, classifier_activation=None)
    randomize_keras(application)
    source, target = tmp_path / "ResNet50.weights.h5", tmp_path / "resnet50_v1.safetensors"
    application.save_weights(source)
    legacy = tmp_path / "ResNet50.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras deprecates writing .h5; reading it is the point
        application.save(legacy)
    x = images(2, 224)
    expected = keras_outputs(application, x)

    for checkpoint_file, out in ((source, target), (legacy, tmp_path / "from_legacy.pt")):
        result = cli("convert", spec_path("resnet50_v1"), checkpoint_file, out)
        assert result.exit_code == 0, result.output
        assert "layer3 / conv4" in result.stdout
        state = (
            safetensors_torch.load_file(out)
            if out.suffix == ".safetensors"
            else torch.load(out, weights_only=True)
        )
        model = generated_factory("torch", "resnet50_v1")().eval()
        model.load_state_dict(state, strict=True)
        with torch.no_grad():
            got = model(torch.from_numpy(x)).numpy()
        assert np.abs(got - expected).max() < TOLERANCE, checkpoint_file

    result = cli("convert", spec_path("resnet50"), legacy, tmp_path / "v15.pt")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert "does not fit resnet50: 0 missing, 53 unexpected, 0 misshapen" in lines[0]
    assert lines[1] == f"{legacy}:1:1: conv1_conv/bias: unexpected (64, not in resnet50)"


def test_keras_to_pt_and_torch_format_rewrite(tmp_path: Path, cli: Callable) -> None:
    """Keras -> .pt; then .pt (as DistributedDataParallel saves it, under "model") ->
    .safetensors, which must hold the same tensors bit for bit."""
    model = randomize_keras(generated_factory("keras", "resnet20_cifar")(), seed=1)
    keras_file = tmp_path / "cifar.weights.h5"
    model.save_weights(keras_file)

    first = tmp_path / "cifar.pt"
    result = cli("convert", spec_path("resnet20_cifar"), keras_file, first)
    assert result.exit_code == 0, result.output
    state = torch.load(first, weights_only=True)
    reference = generated_factory("torch", "resnet20_cifar")().eval()
    reference.load_state_dict(state, strict=True)
    x = images(2, 32)
    with torch.no_grad():
        assert np.abs(reference(torch.from_numpy(x)).numpy() - keras_outputs(model, x)).max() < 1e-4

    wrapped = tmp_path / "ddp.pth"
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "step": 5}, wrapped)
    second = tmp_path / "cifar.safetensors"
    result = cli("convert", spec_path("resnet20_cifar"), wrapped, second)
    assert result.exit_code == 0, result.output
    assert "layer3 / conv4" not in result.stdout and "  layer3 " in result.stdout
    rewritten = safetensors_torch.load_file(second)
    assert sorted(rewritten) == sorted(state)  # safetensors stores names sorted
    for key, value in state.items():
        assert torch.equal(rewritten[key], value), key


KINDS = ["resnet50_v2", "resnet50d", "resnext50_32x4d", "preact_resnet164_cifar", "plain20_cifar"]


@pytest.mark.parametrize("name", KINDS)
def test_every_block_kind_converts_through_the_library(name: str, tmp_path: Path) -> None:
    """Pre-activation bottlenecks with the stride on each stage's last block, the deep stem with
    ResNet-D's pooled projection, grouped convs, a 164-layer pre-activation network, and no
    shortcuts at all: the Report covers the stem, every stage and the logits, and the file
    written gives, through Keras' own loader, the PyTorch model's outputs."""
    model = generated_factory("torch", name)()
    state = trained_like({k: list(v.shape) for k, v in model.state_dict().items()})
    model.load_state_dict(state, strict=True)
    source, target = tmp_path / f"{name}.pt", tmp_path / f"{name}.weights.h5"
    torch.save(state, source)
    report = converter.convert(spec_path(name), source, target)
    assert report.ok and report.overall < TOLERANCE
    stages = [d.where for d in report.differences[1:-1]]
    assert stages == [f"layer{i} / conv{i + 1}" for i in range(1, len(stages) + 1)]
    assert report.tensors == len(state)
    spec_size = report.batch[-1]
    keras_model = generated_factory("keras", name)()
    keras_model.load_weights(target)
    x = images(2, spec_size, seed=3)
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x)).numpy()
    assert np.abs(keras_outputs(keras_model, x) - expected).max() < TOLERANCE


@pytest.mark.parametrize("backend", ["jax"])
def test_round_trip_on_another_keras_backend(backend: str, cifar_checkpoint: Path) -> None:
    """torch -> Keras -> torch with Keras on JAX (a subprocess with KERAS_BACKEND; PyTorch's
    backend works too, and is left out for time): the tensors come back bit for bit."""
    spec = spec_path("resnet20_cifar")
    keras_file = cifar_checkpoint.with_name("k.weights.h5")
    back = cifar_checkpoint.with_name("b.pt")
    env = framework_env(keras_backend=backend)
    for source, target in ((cifar_checkpoint, keras_file), (keras_file, back)):
        result = run_resgen("convert", spec, source, target, env=env, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    original = torch.load(cifar_checkpoint, weights_only=True)
    returned = torch.load(back, weights_only=True)
    for key, value in original.items():
        if not key.endswith("num_batches_tracked"):  # Keras has no such counter
            assert torch.equal(returned[key], value), key


# --------------------------------------------------------------------------------------------
# checkpoints that do not fit, paths that are wrong


def test_mismatched_checkpoint_names_every_tensor_and_writes_nothing(
    tmp_path: Path, cli: Callable
) -> None:
    state = trained_like(torchvision_listing("resnet18"))
    del state["fc.bias"], state["layer2.0.bn1.running_mean"]
    state["head.weight"] = torch.zeros(10, 512)
    state["layer1.0.conv1.weight"] = torch.zeros(64, 32, 3, 3)
    source, target = tmp_path / "bad.pt", tmp_path / "out.weights.h5"
    torch.save(state, source)
    result = cli("convert", spec_path("resnet18"), source, target)
    no_traceback(result)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    where = f"{source}:1:1:"
    assert lines == [
        f"{where} does not fit resnet18: 2 missing, 1 unexpected, 1 misshapen tensor(s); "
        "nothing written",
        f"{where} layer2.0.bn1.running_mean: missing (the model's is 128)",
        f"{where} fc.bias: missing (the model's is 1000)",
        f"{where} head.weight: unexpected (10 x 512, not in resnet18)",
        f"{where} layer1.0.conv1.weight: shape 64 x 32 x 3 x 3, the model's is 64 x 64 x 3 x 3",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt"]


def test_a_checkpoint_of_another_network_lists_a_screenful(tmp_path: Path, cli: Callable) -> None:
    source, target = tmp_path / "resnet50.safetensors", tmp_path / "out.weights.h5"
    safetensors_torch.save_file(trained_like(torchvision_listing("resnet50")), source)
    result = cli("convert", spec_path("resnet18"), source, target)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 + checkpoint.MAX_LISTED + 1
    counts = re.search(r"(\d+) missing, (\d+) unexpected, (\d+) misshapen", lines[0])
    assert counts is not None, lines[0]
    total = sum(int(n) for n in counts.groups())
    assert total > 2 * checkpoint.MAX_LISTED
    assert lines[-1] == f"{source}:1:1: ... and {total - checkpoint.MAX_LISTED} more"
    assert not target.exists()


def test_a_keras_file_that_does_not_fit_names_layers(tmp_path: Path, cli: Callable) -> None:
    """resnet20_cifar's weights into resnet32_cifar: Keras files address weights by position,
    so the 12 blocks resnet32 has beyond resnet20's 9 (2 convs and 2 norms each: 10 tensors)
    show as 60 missing tensors, named by the model's layers, in the model's order."""
    source, target = tmp_path / "r20.weights.h5", tmp_path / "r32.pt"
    generated_factory("keras", "resnet20_cifar")().save_weights(source)
    result = cli("convert", spec_path("resnet32_cifar"), source, target)
    no_traceback(result)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{source}:1:1: does not fit resnet32_cifar: 60 missing, 0 unex")
    assert lines[1].startswith(f"{source}:1:1: conv3_block5_1_conv/kernel (layers/")
    assert lines[1].endswith("): missing (the model's is 3 x 3 x 32 x 32)")
    assert not target.exists()


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("w.npz", "w.pt", "unknown checkpoint suffix: use .pt, .pth, .safetensors"),
        ("w.pt", "w.h5", "write Keras weights as .weights.h5 (Keras 3)"),
        ("a.weights.h5", "b.weights.h5", "IN and OUT are both Keras weights: nothing to convert"),
    ],
)
def test_suffixes_are_checked_first(
    source: str, target: str, message: str, tmp_path: Path, cli: Callable
) -> None:
    result = cli("convert", spec_path("resnet18"), tmp_path / source, tmp_path / target)
    no_traceback(result)
    assert result.exit_code == 2
    assert message in result.stderr


def test_unreadable_checkpoints(tmp_path: Path, cli: Callable) -> None:
    pickled = tmp_path / "model.pt"
    # a whole module, not weights
    torch.save(generated_factory("torch", "resnet20_cifar")(), pickled)
    garbage = tmp_path / "garbage.weights.h5"
    garbage.write_bytes(b"not hdf5")
    listed = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], listed)
    cases = {
        pickled: "not a PyTorch checkpoint loadable with weights_only=True: ",
        garbage: "not an HDF5 file: ",
        listed: "holds a list, not a state_dict",
        tmp_path / "absent.pt": "cannot read the checkpoint: no such file",
    }
    for source, message in cases.items():
        result = cli("convert", spec_path("resnet20_cifar"), source, tmp_path / "o.safetensors")
        no_traceback(result)
        assert result.exit_code == 2, source
        assert result.stderr.startswith(f"{source}:1:1: {message}"), result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "o.safetensors").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_or_folder_is_refused_without_blocking(tmp_path: Path) -> None:
    """Run as a subprocess with a timeout: a reader that opened the FIFO would hang."""
    fifo, folder = tmp_path / "pipe.pt", tmp_path / "folder.pt"
    os.mkfifo(fifo)
    folder.mkdir()
    for source in (fifo, folder):
        result = run_resgen(
            "convert", spec_path("resnet20_cifar"), source, "o.pt", cwd=tmp_path, timeout=120
        )
        assert result.returncode == 2, result.stderr
        kind = "a FIFO (named pipe)" if source == fifo else "a folder"
        assert result.stderr.splitlines()[-1] == (
            f"{source}:1:1: cannot read the checkpoint: it is {kind}, not a regular file"
        )
    assert not (tmp_path / "o.pt").exists()


# --------------------------------------------------------------------------------------------
# OUT: --force, atomic, written only when verified


@pytest.fixture
def cifar_checkpoint(tmp_path: Path) -> Path:
    model = generated_factory("torch", "resnet20_cifar")()
    state = trained_like({k: list(v.shape) for k, v in model.state_dict().items()})
    path = tmp_path / "in.pt"
    torch.save(state, path)
    return path


def test_an_existing_out_needs_force(cifar_checkpoint: Path, cli: Callable) -> None:
    target = cifar_checkpoint.with_name("out.weights.h5")
    target.write_bytes(b"keep me")
    spec = spec_path("resnet20_cifar")
    result = cli("convert", spec, cifar_checkpoint, target)
    assert result.exit_code == 2
    assert result.stderr == f"{target}:1:1: OUT exists; pass --force to replace it\n"
    assert target.read_bytes() == b"keep me"
    result = cli("convert", spec, cifar_checkpoint, target, "--force")
    assert result.exit_code == 0, result.output
    model = generated_factory("keras", "resnet20_cifar")()
    model.load_weights(target)  # a real Keras file now
    assert leftovers(target.parent) == []


def test_models_that_disagree_write_nothing_and_exit_1(
    cifar_checkpoint: Path, cli: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Allowing no error at all, the round-off between two frameworks is a disagreement."""
    monkeypatch.setattr(converter, "FACTOR", 0.0)
    monkeypatch.setattr(converter, "RELATIVE", 0.0)
    target = cifar_checkpoint.with_name("out.weights.h5")
    target.write_bytes(b"old")
    result = cli("convert", spec_path("resnet20_cifar"), cifar_checkpoint, target, "--force")
    no_traceback(result)
    assert result.exit_code == 1
    assert "max(0 x float32 err, 0 x max |out|) at every point, all values finite: DIFFERENT" in (
        result.stdout
    )
    assert result.stdout.splitlines()[-1].startswith(f"not written: {target} (outside the")
    assert target.read_bytes() == b"old"


def test_a_write_that_fails_leaves_the_old_file(
    cifar_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = cifar_checkpoint.with_name("out.safetensors")
    target.write_bytes(b"old")

    import resgen.files

    original = resgen.files.write_atomic_with

    def failing(path: Path, write: Callable) -> None:
        def broken(stream) -> None:  # the disk fills up half-way
            stream.write(b"partial")
            raise OSError(28, "No space left on device")

        original(path, broken)

    monkeypatch.setattr(converter, "write_atomic_with", failing)
    with pytest.raises(OSError, match="No space left"):
        converter.convert(spec_path("resnet20_cifar"), cifar_checkpoint, target, force=True)
    assert target.read_bytes() == b"old"
    assert leftovers(target.parent) == []


def test_import_and_help_load_no_framework() -> None:
    script = (
        "import sys, resgen.weights.convert\n"
        "from click.testing import CliRunner\n"
        "from resgen.cli.commands import main\n"
        "result = CliRunner().invoke(main, ['convert', '--help'])\n"
        "assert result.exit_code == 0 and 'Exit codes:' in result.output, result.output\n"
        "assert '.weights.h5' in result.output\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'keras',"
        " 'tensorflow', 'jax', 'h5py', 'safetensors', 'numpy'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
