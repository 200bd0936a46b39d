"""The training data path: batches made by workers or on the device are the batches the host
makes, whatever the number of workers; the time spent waiting for them is reported; the Keras
trainer runs on Keras's torch backend too, with torch's SGD update."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import framework_env, run_python, run_resgen, spec_path

torch = pytest.importorskip("torch")

RESNET20 = spec_path("resnet20_cifar")
SHORT = ("--steps", "6", "--batch-size", "8", "--log-every", "3", "--device", "cpu")


def train(*args: str | Path) -> dict[str, Any]:
    from resgen.cli.commands import main

    runner = CliRunner(env={"COLUMNS": "120"})
    result = runner.invoke(main, ["train", *(str(a) for a in args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = Path(str(args[args.index("--out") + 1]))
    return json.loads((out / "summary.json").read_text())


def write_cifar(folder: Path) -> None:
    import pickle

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (16, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, 16)]
        (folder / name).write_bytes(pickle.dumps({b"labels": labels, b"data": data}, protocol=2))


@pytest.mark.parametrize("kind", ["synthetic", "cifar10", "folder"])
def test_the_number_of_workers_does_not_change_the_run(tmp_path: Path, kind: str) -> None:
    """In-process (0), one and two workers train to the same weights bit for bit."""
    data = kind
    if kind == "cifar10":
        write_cifar(tmp_path / "cifar")
        data = f"cifar10:{tmp_path / 'cifar'}"
    elif kind == "folder":
        from PIL import Image

        for label in range(3):
            (tmp_path / "pics" / f"c{label}").mkdir(parents=True)
            for i in range(8):
                colour = (80 * label, 20 * i, 100)
                Image.new("RGB", (20 + i, 18), colour).save(tmp_path / "pics" / f"c{label}/{i}.png")
        data = f"folder:{tmp_path / 'pics'}"
    digests = {
        workers: train(
            RESNET20,
            *SHORT,
            "--data",
            data,
            "--workers",
            workers,
            "--out",
            tmp_path / f"w{workers}",
        )["weights_sha256"]
        for workers in ("0", "1", "2")
    }
    assert len(set(digests.values())) == 1, digests


def test_summary_and_metrics_report_speed_and_data_wait(tmp_path: Path) -> None:
    record = train(RESNET20, *SHORT, "--out", tmp_path)
    assert record["images_per_second"] > 0 and record["workers"] >= 1
    assert 0 <= record["data_wait_fraction"] <= 1
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 3, 6]
    for row in rows:
        assert row["images_per_second"] > 0 and 0 <= row["data_wait_fraction"] <= 1


def test_eval_images_limits_the_evaluation(tmp_path: Path) -> None:
    record = train(RESNET20, *SHORT, "--eval-images", "40", "--out", tmp_path / "a")
    assert record["test_images"] == 40
    assert (
        train(RESNET20, *SHORT, "--eval-images", "0", "--out", tmp_path / "b")["test_accuracy"]
        is None
    )


def test_crops_on_the_device_equal_crops_on_the_host() -> None:
    from resgen.train.batches import Crops
    from resgen.train.torch_feed import crop_on_device

    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    for side_rng in range(3):
        crops = Crops.draw(64, 32, np.random.default_rng(side_rng))
        host = crops.apply(x)
        device = crop_on_device(torch.from_numpy(x), crops).numpy()
        np.testing.assert_array_equal(device, host)


def test_array_batches_made_on_the_device_equal_the_host_batches(tmp_path: Path) -> None:
    from resgen.train import data, torch_feed
    from resgen.train.batches import Batches

    write_cifar(tmp_path / "cifar")
    dataset = data.load(data.parse(f"cifar10:{tmp_path / 'cifar'}"), 32, 3, 10, seed=0)
    batches = Batches(dataset, 16, seed=4, augment=True)
    assert torch_feed.made_on_device(dataset, torch.device("cpu"))
    made = list(torch_feed.train_feed(batches, 3, 9, torch.device("cpu"), workers=0))
    for step, (x, y) in zip(range(3, 9), made, strict=True):
        host_x, host_y = batches.train(step)
        np.testing.assert_array_equal(x.numpy(), host_x)
        np.testing.assert_array_equal(y.numpy(), host_y)


@pytest.mark.parametrize(("size", "channels"), [(32, 3), (24, 1), (64, 2)])
def test_synthetic_images_made_by_torch_match_the_host_formula(size: int, channels: int) -> None:
    """What a GPU computes for the synthetic task (run here on the CPU) is the host's image,
    up to one grey level where ``cos`` rounds differently."""
    from resgen.train import data
    from resgen.train.batches import Batches
    from resgen.train.torch_feed import _SyntheticOnDevice

    dataset = data.load(data.parse("synthetic"), size, channels, 7, seed=2)
    assert isinstance(dataset, data.SyntheticDataset)
    maker = _SyntheticOnDevice(dataset, torch.device("cpu"))
    batches = Batches(dataset, 32, seed=2, augment=True)
    for step in (0, 5):
        plan = batches.train_plan(step)
        x, y = maker.make(plan, torch.from_numpy(plan.indices))
        host_x, host_y = batches.make(plan)
        np.testing.assert_array_equal(y.numpy(), host_y)
        difference = np.abs(x.numpy().astype(int) - host_x.astype(int))
        assert difference.max() <= 1 and (difference == 0).mean() > 0.999


def test_synthetic_images_are_a_function_of_the_image_not_the_batch() -> None:
    from resgen.train import data

    dataset = data.load(data.parse("synthetic"), 16, 3, 10, seed=0)
    whole = dataset.images("train", np.arange(10))
    one_by_one = np.concatenate([dataset.images("train", np.array([i])) for i in range(10)])
    np.testing.assert_array_equal(whole, one_by_one)
    std = whole.astype(float).std()
    assert 20 < std < 120  # textures plus noise, not a flat or saturated image


SGD_CHECK = textwrap.dedent(
    """
    import numpy as np, keras, torch
    from resgen.train.keras_trainer import CoupledSGD
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(5, 3)).astype("float32"); b0 = rng.normal(size=3).astype("float32")
    x = rng.normal(size=(8, 5)).astype("float32"); y = rng.integers(0, 3, 8)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    model.set_weights([w0, b0])
    model.compile(optimizer=CoupledSGD(learning_rate=0.1, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    reference = torch.nn.Linear(5, 3)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(w0.T)); reference.bias.copy_(torch.from_numpy(b0))
    sgd = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    for _ in range(4):
        model.train_on_batch(x, y)
        sgd.zero_grad()
        logits = reference(torch.from_numpy(x))
        torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).backward()
        sgd.step()
    w, b = model.get_weights()
    print(float(max(np.abs(w - reference.weight.detach().numpy().T).max(),
                    np.abs(b - reference.bias.detach().numpy()).max())))
    """
)


@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_keras_sgd_takes_torch_sgd_steps(backend: str) -> None:
    """Keras's SGD plus the coupled decay follows torch.optim.SGD(momentum=0.9, weight_decay
    =1e-4) step for step, on each Keras backend resgen trains on."""
    pytest.importorskip("keras")
    done = run_python(SGD_CHECK, keras_backend=backend, timeout=300)
    assert float(done.stdout.strip().splitlines()[-1]) < 1e-5


def test_keras_trains_on_its_torch_backend(tmp_path: Path) -> None:
    """What the GPU check runs where TensorFlow is absent: Keras on PyTorch, fed by the torch
    data path."""
    pytest.importorskip("keras")
    done = run_resgen("train", RESNET20, "--backend", "keras", "--steps", "40",
                      "--batch-size", "32", "--log-every", "20", "--device", "cpu",
                      "--eval-images", "64", "--out", tmp_path,
                      env=framework_env(keras_backend="torch"), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "summary.json").read_text())
    assert record["framework"].startswith("keras") and "torch" in record["framework"]
    assert record["first_loss"] / record["final_loss"] >= 1.5, record
