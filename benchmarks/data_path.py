"""Where ``resgen train``'s time goes besides the model: harness overhead and data waiting.

- **overhead**: ``resgen train`` against :mod:`benchmarks.bare_loop` (the same generated model,
  SGD settings and batch, one fixed in-memory batch, nothing else), runs interleaved A B, B A,
  ...; each round's ratio is resgen's images/s over the bare loop's (1.0: no overhead).
- **data wait**: ``data_wait_fraction`` from summary.json for 224 x 224 runs of resnet18 on
  the synthetic task and on a folder of JPEG images.
- **workers**: for that folder, the data feed alone (images/s it delivers, no model) and
  ``resgen train`` (images/s and data wait) for each number of data workers.

Every ``resgen train`` here evaluates on 16 held-out images (``--eval-images``): evaluation is
outside the timed steps, and this keeps each run short.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    ROOT,
    Json,
    quiet_env,
    run_command,
    section_main,
    spec_file,
    summarize,
)
from benchmarks.markdown import Column, fixed, provenance, spread, table

RUN_TIMEOUT_S = 600


def resgen_train(spec: str, folder: Path, *options: str) -> Json:
    """One ``resgen train`` run; its summary's figures, or the error."""
    args = [
        sys.executable,
        "-m",
        "resgen",
        "train",
        str(spec_file(spec)),
        "--device",
        "cpu",
        "--eval-images",
        "16",
        "--checkpoint-every",
        "100000",
        "--out",
        str(folder),
        "--force",
        *options,
    ]
    elapsed, code, output = run_command(args, env=quiet_env(), timeout=RUN_TIMEOUT_S)
    if code != 0:
        return {"exit_code": code, "error": output.strip()[-400:]}
    summary = json.loads((folder / "summary.json").read_text())
    keys = ("images_per_second", "data_wait_fraction", "workers", "wall_seconds", "steps")
    return {"process_wall_s": round(elapsed, 2), **{k: summary[k] for k in keys}}


def bare_loop(spec: str, steps: int, batch: int) -> Json:
    args = [
        sys.executable,
        "-m",
        "benchmarks.bare_loop",
        spec,
        "--steps",
        str(steps),
        "--batch-size",
        str(batch),
    ]
    elapsed, code, output = run_command(args, env=quiet_env(), timeout=RUN_TIMEOUT_S)
    if code != 0:
        return {"exit_code": code, "error": output.strip()[-400:]}
    return {"process_wall_s": round(elapsed, 2), **json.loads(output.strip().splitlines()[-1])}


def overhead(scratch: Path, rounds: int, steps: int, batch: int) -> Json:
    """``resgen train SPEC --steps N --batch-size B --no-augment`` against the bare loop."""
    spec = "resnet20_cifar"
    pairs: list[tuple[Json, Json]] = []
    options = (
        "--steps",
        str(steps),
        "--batch-size",
        str(batch),
        "--no-augment",
        "--log-every",
        str(steps),
    )
    for index in range(rounds):  # A B, B A, ...: the order favours neither
        if index % 2 == 0:
            ours = resgen_train(spec, scratch / f"overhead-{index}", *options)
            theirs = bare_loop(spec, steps, batch)
        else:
            theirs = bare_loop(spec, steps, batch)
            ours = resgen_train(spec, scratch / f"overhead-{index}", *options)
        print(
            f"  overhead round {index}: {ours.get('images_per_second')} vs "
            f"{theirs.get('images_per_second')}",
            flush=True,
        )
        pairs.append((ours, theirs))
    ratios = [
        a["images_per_second"] / b["images_per_second"]
        for a, b in pairs
        if "images_per_second" in a and "images_per_second" in b
    ]
    return {
        "command": f"resgen train {spec_file(spec).relative_to(ROOT)} --steps {steps} "
        f"--batch-size {batch} --no-augment",
        "reference": f"python -m benchmarks.bare_loop {spec} --steps {steps} --batch-size {batch}",
        "resgen_images_per_second": summarize([a.get("images_per_second", 0) for a, _ in pairs]),
        "bare_images_per_second": summarize([b.get("images_per_second", 0) for _, b in pairs]),
        "data_wait_fraction": summarize([a.get("data_wait_fraction", 0) for a, _ in pairs]),
        "ratio": summarize(ratios),
        "runs": [{"resgen": a, "bare": b} for a, b in pairs],
    }


def write_jpegs(root: Path, classes: int, per_class: int, side: tuple[int, int]) -> None:
    """Photograph-like JPEGs (smooth colour fields plus noise), ``side`` = (width, height)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    width, height = side
    yy, xx = np.mgrid[0:height, 0:width] / max(side)
    for label in range(classes):
        (root / f"class_{label:02}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            phase = rng.uniform(0, 6, 3)
            planes = [np.sin(6 * xx * (c + 1) + 4 * yy + phase[c] + label) for c in range(3)]
            image = 127 + 80 * np.stack(planes, axis=-1) + rng.normal(0, 12, (height, width, 3))
            pixels = np.clip(image, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / f"class_{label:02}" / f"{i:03}.jpg", quality=90)


def feed_speed(folder: Path, workers: int, batch: int, steps: int) -> Json:
    """Images/s the torch data feed delivers for the folder at 224 x 224, with no model."""
    import torch

    from resgen.train import data
    from resgen.train.batches import Batches
    from resgen.train.torch_feed import train_feed

    dataset = data.load(data.parse(f"folder:{folder}"), 224, 3, 1000, seed=0)
    batches = Batches(dataset, batch, seed=0, augment=True)
    feed = train_feed(batches, 0, steps, torch.device("cpu"), workers)
    next(feed)  # workers started, first batch made: not timed
    started = time.perf_counter()
    count = sum(len(y) for _, y in feed)
    return {"workers": workers, "images_per_second": count / (time.perf_counter() - started)}


def run(quick: bool) -> Json:
    load = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="resgen-data-path-"))
    folder = scratch / "jpegs"
    write_jpegs(folder, classes=8, per_class=12 if quick else 40, side=(320, 256))
    steps224 = ("--steps", "3" if quick else "8", "--batch-size", "16", "--log-every", "100")
    result: Json = {"cores": len(os.sched_getaffinity(0)), "load_before": list(load)}
    print("data_path: overhead", flush=True)
    result["overhead"] = overhead(
        scratch, 1 if quick else 6, 6 if quick else 40, 32 if quick else 128
    )
    print("data_path: data wait at 224 x 224", flush=True)
    result["data_wait"] = {
        "synthetic": resgen_train("resnet18", scratch / "syn224", *steps224),
        "folder": resgen_train(
            "resnet18", scratch / "jpg224", "--data", f"folder:{folder}", *steps224
        ),
    }
    print("data_path: workers", flush=True)
    result["folder"] = {"images": sum(1 for _ in folder.rglob("*.jpg")), "side": "320 x 256 JPEG"}
    counts = (0, 1, 2)
    speeds: dict[int, list[float]] = {w: [] for w in counts}
    for index in range(1 if quick else 3):  # rotated order: 0 1 2, 1 2 0, 2 0 1
        for w in counts[index:] + counts[:index]:
            speeds[w].append(feed_speed(folder, w, 32, 4 if quick else 12)["images_per_second"])
    result["feed"] = [{"workers": w, "images_per_second": summarize(speeds[w])} for w in counts]
    result["workers"] = [
        {
            "workers": w,
            **resgen_train(
                "resnet18",
                scratch / f"w{w}",
                "--data",
                f"folder:{folder}",
                "--workers",
                str(w),
                *steps224,
            ),
        }
        for w in (0, 1, 2)
    ]
    result["load_after"] = list(os.getloadavg())
    return result


def report(data: Json | None) -> list[str]:
    """The section's Markdown: overhead ratio, data wait, workers."""
    lines = ["## Data path and harness overhead (`resgen train`, CPU)", ""]
    if not data:
        return [*lines, "_not run_", ""]
    over = data["overhead"]
    ratio = over["ratio"]
    lines += [
        provenance(data),
        "",
        f"`{over['command']}` against `{over['reference']}` (the same generated model, SGD "
        "settings and batch; one fixed in-memory batch), interleaved; images/s over the steps "
        "after the first.",
        "",
    ]
    lines += table(
        [Column("", "label"), Column("images/s (median, min-max)", "value", "r")],
        [
            {"label": "resgen train", "value": spread(over["resgen_images_per_second"], 1)},
            {"label": "bare loop", "value": spread(over["bare_images_per_second"], 1)},
            {"label": "ratio resgen / bare, per round", "value": spread(ratio, 3)},
            {
                "label": "resgen's data_wait_fraction",
                "value": spread(over["data_wait_fraction"], 4),
            },
        ],
    )
    wait = data["data_wait"]
    columns = [
        Column("run (resnet18, 224 x 224, CPU)", "label"),
        Column("images/s", "images_per_second", "r", fixed(1)),
        Column("data_wait_fraction", "data_wait_fraction", "r", fixed(4)),
        Column("workers", "workers", "r"),
    ]
    rows = [
        {
            "label": "synthetic (made by workers on a CPU; on the GPU itself with CUDA)",
            **wait["synthetic"],
        },
        {
            "label": f"folder of {data['folder']['images']} images ({data['folder']['side']})",
            **wait["folder"],
        },
    ]
    lines += table(columns, rows)
    lines += [
        f"Data workers: the folder of {data['folder']['images']} images "
        f"({data['folder']['side']}) decoded, resized to 224 x 224, cropped and flipped by the "
        "feed alone (no model), and `resgen train` of resnet18 on it:",
        "",
    ]
    trained = {row["workers"]: row for row in data["workers"]}
    lines += table(
        [
            Column("workers", "workers", "r"),
            Column("feed alone, images/s (median, min-max)", "feed", "r"),
            Column("resgen train, images/s", "train", "r", fixed(1)),
            Column("data_wait_fraction", "wait", "r", fixed(4)),
        ],
        [
            {
                "workers": row["workers"],
                "feed": spread(row["images_per_second"], 0),
                "train": trained.get(row["workers"], {}).get("images_per_second"),
                "wait": trained.get(row["workers"], {}).get("data_wait_fraction"),
            }
            for row in data["feed"]
        ],
    )
    return lines


if __name__ == "__main__":
    section_main("data_path", run)
