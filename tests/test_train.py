"""``resgen train``: it learns, records, resumes bit for bit, refuses bad data, and scales out.

Runs are short (tens of steps, small batches) to keep the suite quick on two CPU cores. Torch
runs go in-process through click's runner; Keras runs, Ctrl-C and torchrun need processes.
"""

from __future__ import annotations

import json
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from helpers import (
    REPO,
    SPECS,
    framework_env,
    generated_path,
    import_file,
    made_once,
    run_resgen,
)

pytest.importorskip("torch")

RESNET20 = SPECS / "resnet20_cifar.yaml"
PLAIN20 = SPECS / "plain20_cifar.yaml"
VENV_BIN = Path(sys.executable).parent
# One thread per process, here and in children (helpers.ONE_THREAD): runs are compared bit for bit.
ENV = framework_env(COLUMNS="120")
SUMMARY_FIELDS = {
    "name",
    "backend",
    "device",
    "seed",
    "params",
    "steps",
    "first_loss",
    "final_loss",
    "final_accuracy",
    "test_accuracy",
    "images_per_second",
    "wall_seconds",
    "weights_sha256",
}


def train(*args: str | Path) -> Result:
    """``resgen train ...`` in-process."""
    from resgen.cli.commands import main

    runner = CliRunner(env={"COLUMNS": "120"})
    return runner.invoke(main, ["train", *(str(a) for a in args)], catch_exceptions=False)


def train_process(*args: str | Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """``resgen train ...`` in a real process."""
    return run_resgen("train", *args, env=ENV, timeout=timeout)


def summary(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text())


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's check: 100 steps of ResNet-20 on the synthetic task, on CPU (once a session,
    shared by the xdist workers)."""

    def make(out: Path) -> None:
        result = train(RESNET20, "--backend", "torch", "--data", "synthetic", "--steps", "100",
                       "--batch-size", "32", "--device", "cpu", "--out", out)  # fmt: skip
        assert result.exit_code == 0, result.output

    return made_once(tmp_path_factory, "torch_run", make)


def test_torch_halves_the_loss_within_100_steps(torch_run: Path) -> None:
    record = summary(torch_run)
    assert record["steps"] == 100
    assert record["first_loss"] / record["final_loss"] >= 2, record


def test_summary_metrics_and_curves(torch_run: Path) -> None:
    record = summary(torch_run)
    assert set(record) >= SUMMARY_FIELDS
    assert record["backend"] == "torch" and record["device"].startswith("cpu")
    assert record["name"] == "resnet20_cifar" and record["seed"] == 0
    assert record["params"] == 269_722
    assert record["images_per_second"] > 0 and record["wall_seconds"] > 0
    lines = [json.loads(line) for line in (torch_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, *range(10, 101, 10)]
    assert lines[-1]["loss"] == pytest.approx(record["final_loss"])
    assert {"loss", "accuracy", "lr", "images_per_second"} <= set(lines[0])
    assert (torch_run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


GROUP_NORM_NET = """name: gn_net
num_classes: 10
input: {channels: 3, size: 32}
stem: {type: cifar, channels: 8}
block: {type: basic}
norm: {type: group, groups: 2}
stages:
  - {blocks: 1, channels: 8}
  - {blocks: 1, channels: 16, stride: 2}
"""


def test_final_loss_is_the_mean_loss_of_the_last_window(tmp_path: Path) -> None:
    """final_loss against a loss computed here, outside resgen's loop and records.

    Group norm makes each image's loss independent of its batch, and a learning rate of 1e-30
    leaves every weight as initialised (the steps move them by under one float32 ulp). 16
    training images (PNGs written here), batches of 4, 8 steps, logged every 4: the last window
    is steps 5-8, the second epoch, every image once. So final_loss must be the mean
    cross-entropy of the 16 images under the checkpoint's weights, with the inputs normalised
    as docs/training.md says (per-channel mean and std of the training images). In float32
    (--no-amp): the loss here is computed in float32, and a bf16 CPU defaults to bf16."""
    from PIL import Image

    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    pixels: dict[int, list[np.ndarray]] = {0: [], 1: []}
    for split, count in (("train", 8), ("val", 1)):
        for label in (0, 1):
            folder = tmp_path / "pics" / split / f"class_{label}"
            folder.mkdir(parents=True)
            for i in range(count):
                image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                image[..., label] //= 2  # a class is a darker channel
                Image.fromarray(image).save(folder / f"{i}.png")
                if split == "train":
                    pixels[label].append(image)
    spec = tmp_path / "gn_net.yaml"
    spec.write_text(GROUP_NORM_NET, encoding="utf-8")
    out = tmp_path / "out"
    result = train(spec, "--data", f"folder:{tmp_path / 'pics'}", "--no-augment", "--lr", "1e-30",
                   "--steps", "8", "--batch-size", "4", "--log-every", "4", "--eval-images", "0",
                   "--device", "cpu", "--workers", "0", "--no-amp", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    record = summary(out)
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").open()]
    assert steps == [1, 4, 8] and record["steps"] == 8

    images = np.stack(pixels[0] + pixels[1]).astype(np.float64) / 255  # NHWC, 16 images
    labels = torch.tensor([0] * 8 + [1] * 8)
    mean, std = images.mean(axis=(0, 1, 2)), images.std(axis=(0, 1, 2))
    x = torch.from_numpy(((images - mean) / std).transpose(0, 3, 1, 2).astype(np.float32))
    module = import_file(out / "model.py", "gn_net_final_loss")
    model = module.gn_net(num_classes=2)
    state = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)
    weights = next(v for k, v in state.items() if k in ("model", "state_dict", "weights"))
    model.load_state_dict(weights, strict=True)
    model.train()
    with torch.no_grad():
        losses = torch.nn.functional.cross_entropy(model(x), labels, reduction="none")
    assert record["final_loss"] == pytest.approx(losses.mean().item(), rel=1e-5)
    # The first window is one batch of 4: its loss is another number.
    assert record["first_loss"] != pytest.approx(record["final_loss"], rel=1e-3)


def test_trains_the_bytes_build_writes(torch_run: Path) -> None:
    """OUT/model.py is the file ``resgen build`` writes, byte for byte."""
    golden = generated_path("torch", "resnet20_cifar")
    assert (torch_run / "model.py").read_bytes() == golden.read_bytes()


def test_keras_halves_the_loss_within_100_steps(tmp_path: Path) -> None:
    if not generated_path("keras", "resnet20_cifar").exists():
        pytest.skip("the keras backend is not built yet")
    pytest.importorskip("keras")
    done = train_process(RESNET20, "--backend", "keras", "--data", "synthetic", "--steps", "100",
                         "--batch-size", "32", "--log-every", "50", "--out", tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = summary(tmp_path)
    assert record["backend"] == "keras" and record["steps"] == 100
    assert record["first_loss"] / record["final_loss"] >= 2, record
    assert (tmp_path / "curves.png").exists()


# --- resume ---------------------------------------------------------------------------------

SHORT = ("--batch-size", "8", "--log-every", "4", "--device", "cpu", "--workers", "2")
RESUME_STEPS = ("--steps", "20")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """20 short steps in one go: what every interrupted-and-resumed run must reproduce."""

    def make(out: Path) -> None:
        assert train(RESNET20, *RESUME_STEPS, *SHORT, "--out", out).exit_code == 0

    return summary(made_once(tmp_path_factory, "uninterrupted", make))


def test_resume_gives_the_same_weights(tmp_path: Path, uninterrupted: dict[str, Any]) -> None:
    """7 steps, then --resume to 20 (with a checkpoint at 12 on the way), equals 20 in one go."""
    assert train(RESNET20, "--steps", "7", *SHORT, "--out", tmp_path).exit_code == 0
    resumed = train(RESNET20, *RESUME_STEPS, *SHORT, "--checkpoint-every", "12",
                    "--out", tmp_path, "--resume")  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    record = summary(tmp_path)
    assert record["resumed_at"] == [7]
    assert record["weights_sha256"] == uninterrupted["weights_sha256"]
    assert record["first_loss"] == uninterrupted["first_loss"]
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").open()]
    assert steps == [1, 4, 7, 8, 12, 16, 20]


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_identically(
    tmp_path: Path, uninterrupted: dict[str, Any]
) -> None:
    args = [str(a) for a in (RESNET20, *RESUME_STEPS, *SHORT, "--out", tmp_path)]
    command = [sys.executable, "-m", "resgen", "train", *args]
    process = subprocess.Popen(command, env=ENV, cwd=REPO, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "metrics.jsonl"
    deadline = time.monotonic() + 180
    while not (metrics.exists() and '"step": 4' in metrics.read_text()):
        assert process.poll() is None and time.monotonic() < deadline, process.returncode
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=180)
    if process.returncode == 0:
        pytest.skip("the run finished before the signal arrived")  # a very fast machine
    assert process.returncode == 130, stderr
    assert "interrupted after step" in stderr and "--resume" in stderr
    assert (tmp_path / "checkpoint.pt").exists() and not (tmp_path / "summary.json").exists()
    assert train(*args, "--resume").exit_code == 0
    record = summary(tmp_path)
    assert 4 <= record["resumed_at"][0] < 20
    assert record["weights_sha256"] == uninterrupted["weights_sha256"]


def test_resume_refuses_a_different_run(tmp_path: Path) -> None:
    assert train(RESNET20, "--steps", "2", *SHORT, "--out", tmp_path).exit_code == 0
    changed = train(RESNET20, "--steps", "4", *SHORT, "--seed", "1", "--out", tmp_path, "--resume")
    assert changed.exit_code == 2
    assert "--resume:" in changed.stderr and "seed 0" in changed.stderr


def test_resume_without_a_checkpoint_is_an_error(tmp_path: Path) -> None:
    result = train(RESNET20, "--out", tmp_path / "nothing", "--resume")
    assert result.exit_code == 2
    assert "no checkpoint to resume from" in result.stderr
    assert not (tmp_path / "nothing").exists()


def test_resume_from_a_damaged_checkpoint_is_an_error(tmp_path: Path) -> None:
    tmp_path.joinpath("checkpoint.pt").write_bytes(b"PK\x03\x04 cut short")
    result = train(RESNET20, "--out", tmp_path, "--resume")
    assert result.exit_code == 2
    assert "checkpoint.pt: not a usable checkpoint" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


# --- bad input ------------------------------------------------------------------------------


def _bad_cifar(root: Path) -> str:
    folder = root / "cifar"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(b"not a pickle at all")
    return f"cifar10:{folder}"


def _cifar_wrong_keys(root: Path) -> str:
    folder = root / "cifar_keys"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"pixels": [1, 2]}))
    return f"cifar10:{folder}"


def _cifar_foreign_object(root: Path) -> str:
    folder = root / "cifar_code"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": print}))
    return f"cifar10:{folder}"


def _empty_folder(root: Path) -> str:
    (root / "empty").mkdir()
    return f"folder:{root / 'empty'}"


def _class_without_images(root: Path) -> str:
    (root / "images" / "cat").mkdir(parents=True)
    return f"folder:{root / 'images'}"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: "imagenet", "unknown kind 'imagenet'"),
        (lambda root: "cifar10", "cifar10 needs a path"),
        (lambda root: "digits:/x", "digits takes no path"),
        (lambda root: f"cifar10:{root / 'missing'}", "no such folder"),
        (lambda root: f"folder:{root / 'missing'}", "no such folder"),
        (_bad_cifar, "not a CIFAR-10 python batch"),
        (_cifar_wrong_keys, "b'data' is not an N x 3072 array"),
        (_cifar_foreign_object, "refusing to load builtins.print"),
        (_empty_folder, "no class folders"),
        (_class_without_images, "no images"),
    ],
    ids=[
        "unknown-kind",
        "cifar-no-path",
        "digits-with-path",
        "cifar-missing",
        "folder-missing",
        "cifar-malformed",
        "cifar-wrong-keys",
        "cifar-foreign-object",
        "folder-empty",
        "folder-class-empty",
    ],
)
def test_bad_data_is_one_line_exit_2_nothing_written(
    tmp_path: Path, make: Any, message: str
) -> None:
    value = make(tmp_path)
    out = tmp_path / "out"
    result = train(RESNET20, "--data", value, "--steps", "1", "--out", out)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"--data {value}: "), result.stderr
    assert message in lines[0]
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--steps", "2", "--epochs", "1"), "--steps/--epochs: give one of them"),
        (("--lr", "inf"), "--lr: must be a positive finite number"),
        (("--batch-size", "9000"), "--batch-size: 9000 is more than the 8192 training images"),
        (("--steps", "0"), "--steps: must be at least 1"),
        (("--seed", "-1"), "--seed: must be between 0 and 2**32 - 1, got -1"),
        (("--seed", str(2**64)), "--seed: must be between 0 and 2**32 - 1"),
        (("--workers", "-2"), "--workers: must be at least 0"),
        (("--resume", "--force"), "--resume/--force: give one of them"),
    ],
)
def test_bad_options_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = train(RESNET20, *args, "--out", tmp_path / "out")
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_device_that_is_not_there_is_exit_2(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = train(RESNET20, "--device", "cuda", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "--device cuda: CUDA is not available" in result.stderr


# --- the data sources -----------------------------------------------------------------------


def write_cifar(folder: Path, per_batch: int = 8) -> np.ndarray:
    """Six tiny batches in the distributed format; returns the first training image (HWC)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    first = None
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [b"x.png"] * per_batch}  # fmt: skip
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        if first is None:
            first = data[0].reshape(3, 32, 32).transpose(1, 2, 0)
    assert first is not None
    return first


def test_cifar10_loader_reads_the_python_batches(tmp_path: Path) -> None:
    from resgen.train import data

    first = write_cifar(tmp_path / "cifar-10-batches-py")
    dataset = data.load(data.parse(f"cifar10:{tmp_path}"), 32, 3, 10, seed=0)
    assert len(dataset.labels("train")) == 40 and len(dataset.labels("test")) == 8
    np.testing.assert_array_equal(dataset.images("train", np.array([0]))[0], first)
    grey = data.load(data.parse(f"cifar10:{tmp_path}"), 16, 1, 10, seed=0)
    assert grey.images("test", np.arange(3)).shape == (3, 16, 16, 1)


def test_cifar10_trains_from_the_command_line(tmp_path: Path) -> None:
    write_cifar(tmp_path / "cifar")
    result = train(RESNET20, "--data", f"cifar10:{tmp_path / 'cifar'}", "--steps", "3",
                   "--batch-size", "8", "--out", tmp_path / "out")  # fmt: skip
    assert result.exit_code == 0, result.output
    record = summary(tmp_path / "out")
    assert record["augment"] is True and record["test_images"] == 8


def write_folder(root: Path, classes: int = 3, per_class: int = 10) -> None:
    from PIL import Image

    for label in range(classes):
        (root / f"class_{label}").mkdir(parents=True)
        for i in range(per_class):
            colour = (80 * label, 255 - 80 * label, 10 * i)
            Image.new("RGB", (20 + i, 24), colour).save(root / f"class_{label}" / f"{i:02}.png")


def test_folder_loader_reads_class_folders(tmp_path: Path) -> None:
    from resgen.train import data

    write_folder(tmp_path / "pics")
    dataset = data.load(data.parse(f"folder:{tmp_path / 'pics'}"), 32, 3, 1000, seed=0)
    assert dataset.num_classes == 3  # the folder decides, not the spec's 1000
    assert len(dataset.labels("train")) == 27 and len(dataset.labels("test")) == 3
    images = dataset.images("train", np.arange(27))
    assert images.shape == (27, 32, 32, 3) and images.dtype == np.uint8
    assert tuple(images[0, 0, 0]) == (0, 255, 0)
    assert list(dataset.labels("train")[:9]) == [0] * 9


def test_folder_trains_from_the_command_line(tmp_path: Path) -> None:
    write_folder(tmp_path / "pics")
    result = train(RESNET20, "--data", f"folder:{tmp_path / 'pics'}", "--steps", "2",
                   "--batch-size", "6", "--out", tmp_path / "out")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert summary(tmp_path / "out")["num_classes"] == 3


def test_digits_and_synthetic_fit_the_spec() -> None:
    from resgen.train import data

    digits = data.load(data.parse("digits"), 32, 3, 10, seed=0)
    assert digits.images("train", np.arange(4)).shape == (4, 32, 32, 3)
    assert len(digits.labels("train")) + len(digits.labels("test")) == 1797
    synthetic = data.load(data.parse("synthetic"), 24, 2, 7, seed=3)
    again = data.load(data.parse("synthetic"), 24, 2, 7, seed=3)
    picks = np.array([5, 0, 77])
    np.testing.assert_array_equal(synthetic.images("train", picks), again.images("train", picks))
    assert synthetic.images("test", picks).shape == (3, 24, 24, 2)
    assert set(np.unique(synthetic.labels("train"))) == set(range(7))


def test_batches_shard_like_distributed_sampler() -> None:
    from resgen.train import data
    from resgen.train.batches import Batches

    source = data.load(data.parse("synthetic"), 8, 1, 4, seed=0)
    whole = Batches(source, 8, seed=0, augment=False)
    halves = [Batches(source, 8, seed=0, augment=False, rank=r, world=2) for r in (0, 1)]
    for step in (0, 5, whole.steps_per_epoch + 1):
        labels = whole.train(step)[1]
        np.testing.assert_array_equal(halves[0].train(step)[1], labels[0::2])
        np.testing.assert_array_equal(halves[1].train(step)[1], labels[1::2])


def test_augmentation_pads_crops_and_flips() -> None:
    from resgen.train.batches import Crops

    x = np.arange(2 * 32 * 32 * 3, dtype=np.uint8).reshape(2, 32, 32, 3)
    out = Crops.draw(2, 32, np.random.default_rng(0)).apply(x)
    assert out.shape == x.shape
    for image, source in zip(out, x, strict=True):
        found = any(
            np.array_equal(image, view)
            for padded in [np.pad(source, ((4, 4), (4, 4), (0, 0)))]
            for top in range(9)
            for left in range(9)
            for view in (
                padded[top : top + 32, left : left + 32],
                padded[top : top + 32, left : left + 32][:, ::-1],
            )
        )
        assert found


# --- several specs, torchrun, imports -------------------------------------------------------


def test_several_specs_same_budget_and_overlay(tmp_path: Path) -> None:
    plot = tmp_path / "overlay.png"
    result = train(PLAIN20, RESNET20, "--steps", "3", "--batch-size", "8",
                   "--out", tmp_path / "runs", "--plot", plot)  # fmt: skip
    assert result.exit_code == 0, result.output
    plain, residual = (summary(tmp_path / "runs" / n) for n in ("plain20_cifar", "resnet20_cifar"))
    for key in ("steps", "batch_size", "seed", "data", "lr"):
        assert plain[key] == residual[key]
    assert plain["shortcut"] == "none" and residual["shortcut"] == "zero_pad"
    assert plot.read_bytes()[:4] == b"\x89PNG"
    longer = train(PLAIN20, RESNET20, "--steps", "4", "--batch-size", "8",
                   "--out", tmp_path / "runs", "--resume")  # fmt: skip
    assert longer.exit_code == 0, longer.output
    for name in ("plain20_cifar", "resnet20_cifar"):
        assert summary(tmp_path / "runs" / name)["resumed_at"] == [3]


def test_torchrun_two_processes_keep_identical_replicas(tmp_path: Path) -> None:
    torchrun = VENV_BIN / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this python")
    launch = [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "resgen", "train"]
    args = [str(RESNET20), "--steps", "6", "--batch-size", "8", "--log-every", "3"]
    done = subprocess.run(
        [*launch, *args, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    record = summary(tmp_path)
    assert record["world_size"] == 2
    digests = record["replica_weights_sha256"]
    assert len(digests) == 2 and digests[0] == digests[1] == record["weights_sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".resgen-run",
        "checkpoint.pt",
        "curves.png",
        "metrics.jsonl",
        "model.py",
        "summary.json",
    ]
