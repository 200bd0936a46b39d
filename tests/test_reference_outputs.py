"""The committed generated models against outputs that timm and torchvision computed, in the
default suite (no timm or torchvision needed here).

tests/data/reference_outputs.json holds, for one shipped spec of each layout a library
reproduces, the library's logits for a fixed input with weights given by a deterministic rule
(tests/reference_weights.py); scripts/write_reference_outputs.py wrote it from the libraries
(scripts/check_references.sh runs it), and the file names the commit of the writer that did. Here
the same rule fills the generated PyTorch model (strictly: every key, no other) and its Keras twin
(through resgen.weights.transfer.torch_to_keras), and both must give the library's numbers. The full
check (every spec, several sizes, weights from the library's own model) is
scripts/check_references.sh; this one catches a regression in these layouts on every run.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from typing import Any

import pytest
import reference_weights
from helpers import DATA, REPO, build_generated, shipped_specs

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

OUTPUTS = DATA / "reference_outputs.json"
WRITER = REPO / "scripts" / "write_reference_outputs.py"
REFERENCE = json.loads(OUTPUTS.read_text(encoding="utf-8"))
NAMES = sorted(REFERENCE["models"])
# Relative to each image's largest logit: float32 round-off between builds of torch and between
# frameworks (measured: PyTorch against the library 0 to 1.5e-5, resnetrs50 the largest), and the
# cross-backend bound the transfer tests hold. A wrong layer moves logits by tens of percent.
TOLERANCE = 1e-4
# The two images' logits must differ by far more than the tolerance: a comparison that a wrong
# layer could pass by matching a constant (a bias, a dead branch) proves nothing.
SIGNAL = 100
# Keras against the library for the cheapest few: tests/test_transfer.py holds every layout's
# Keras file to its PyTorch twin, so the rest follow from the PyTorch comparison here.
KERAS_NAMES = ["resnet10t", "resnet18", "seresnet18", "test_resnet"]


def writer_models() -> dict[str, str]:
    """MODELS as the writer script spells it (read, not imported: it needs timm)."""
    tree = ast.parse(WRITER.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "MODELS":
            return ast.literal_eval(node.value)
    raise AssertionError("no MODELS in the writer")


def test_the_file_names_its_writer_and_the_commit_that_wrote_it() -> None:
    assert REFERENCE["written_by"] == "scripts/write_reference_outputs.py"
    assert REFERENCE["weights"] == "tests/reference_weights.py"
    assert re.fullmatch(r"[0-9a-f]{40}", REFERENCE["commit"]), REFERENCE["commit"]
    assert writer_models() == {
        name: entry["library"] for name, entry in REFERENCE["models"].items()
    }
    assert set(NAMES) <= set(shipped_specs()) and set(KERAS_NAMES) <= set(NAMES)
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        pytest.skip("no git checkout here to look the commit up in")
    shown = subprocess.run(
        [git, "cat-file", "-e", f"{REFERENCE['commit']}:scripts/write_reference_outputs.py"],
        cwd=REPO,
        capture_output=True,
    )
    if (
        shown.returncode != 0
        and subprocess.run(
            [git, "rev-parse", "--is-shallow-repository"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        == "true"
    ):
        pytest.skip("a shallow clone: the writing commit is not here")
    assert shown.returncode == 0, (
        f"commit {REFERENCE['commit']} with the writer is not in this history (a squash or a "
        "rebase drops it): delete the file and run scripts/write_reference_outputs.py again"
    )


def check(name: str, size: int, got: Any) -> None:
    entry = REFERENCE["models"][name]
    expected = np.array(entry[str(size)]["logits"])
    picked = got[:, entry["classes"]]
    scale = np.abs(expected).max(axis=1, keepdims=True)
    gap = np.abs(picked - expected) / scale
    assert gap.max() <= TOLERANCE, (name, size, gap.max())
    norms = np.linalg.norm(got, axis=1)
    np.testing.assert_allclose(norms, entry[str(size)]["l2"], rtol=TOLERANCE)
    # The input matters: the two images differ by far more than the tolerance.
    signal = np.abs(expected[0] - expected[1]).max() / scale.max()
    assert signal > SIGNAL * TOLERANCE, (name, size, signal)


def inputs(size: int) -> np.ndarray:
    return reference_weights.images(REFERENCE["seed"], REFERENCE["batch"], size)


CASES = [(name, size) for name in NAMES for size in REFERENCE["sizes"]]


@pytest.mark.parametrize(("name", "size"), CASES)
def test_pytorch_gives_the_library_outputs(name: str, size: int) -> None:
    model = build_generated("torch", name, num_classes=REFERENCE["models"][name]["num_classes"])
    reference_weights.load_into(model, REFERENCE["seed"])
    x = torch.from_numpy(inputs(size))
    if REFERENCE["models"][name][str(size)] is None:  # the library refuses this size: so do we
        with pytest.raises(RuntimeError), torch.no_grad():
            model(x)
        return
    with torch.no_grad():
        got = model(x).double().numpy()
    check(name, size, got)


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_keras_twin_gives_the_library_outputs(name: str) -> None:
    """The Keras file, with the rule's weights moved from the PyTorch model by
    resgen.weights.transfer."""
    keras = pytest.importorskip("keras")
    from resgen.weights.transfer import torch_to_keras

    classes = REFERENCE["models"][name]["num_classes"]
    size = REFERENCE["sizes"][0]
    source = build_generated("torch", name, num_classes=classes)
    reference_weights.load_into(source, REFERENCE["seed"])
    model = build_generated("keras", name, num_classes=classes, input_shape=(size, size, 3))
    torch_to_keras(source, model)
    x = inputs(size).transpose(0, 2, 3, 1)
    got = keras.ops.convert_to_numpy(model(x, training=False)).astype(np.float64)
    check(name, size, got)


def test_the_rule_is_what_its_docstring_says() -> None:
    """Spot values of the rule, worked out independently (splitmix64 in plain Python integers)."""
    import zlib

    def splitmix64(x: int) -> int:
        mask = (1 << 64) - 1
        z = (x + 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    assert splitmix64(0) == 0xE220A8397B1DCDAF  # splitmix64's first output from seed 0
    u = reference_weights.uniform(7, "fc.weight", (3, 5))
    stream = zlib.crc32(b"7:fc.weight") << 32
    for i in (0, 1, 14):
        assert u.flat[i] == (splitmix64(stream + i) >> 40) / 2**24
    conv = reference_weights.value(7, "layer1.0.conv1.weight", (8, 4, 3, 3))
    assert conv.dtype == np.float32 and np.abs(conv).max() <= (6 / 36) ** 0.5
    assert np.all(reference_weights.value(7, "bn1.running_var", (64,)) >= 0.5)
    assert reference_weights.value(7, "bn1.num_batches_tracked", ()).dtype == np.int64
