"""A bare PyTorch training loop, the yardstick for ``resgen train``'s own overhead.

The same generated model (``generated/torch/<spec>.py``), the same SGD settings as ``resgen
train``, and its first synthetic batch (made and normalised by resgen's own data code: on
Gaussian noise instead, the CPU kernels run measurably slower) held in memory and reused every
step; nothing else: ``zero_grad``, forward, loss, backward, step. Timed like ``resgen train``
times itself: from the end of the first step to the end of the last, so its images/s and
``summary.json``'s compare directly. Prints one JSON object.

Usage: ``python -m benchmarks.bare_loop SPEC_NAME --steps 40 --batch-size 128``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time

from benchmarks.common import GENERATED, spec_file
from resgen.check.validate import load_specs
from resgen.train import data
from resgen.train.batches import Batches, channel_stats

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as resgen train sets it

import torch  # after the OpenMP setting
from torch.nn import functional


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bare_loop")
    parser.add_argument("spec")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=128)
    options = parser.parse_args()
    [(_, spec)] = load_specs([spec_file(options.spec)])
    source = data.load(
        data.parse("synthetic"), spec.input.size, spec.input.channels, spec.num_classes, seed=0
    )
    images, labels = Batches(source, options.batch_size, seed=0, augment=False).train(0)
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) * 255 for v in channel_stats(source))
    x = ((torch.from_numpy(images).permute(0, 3, 1, 2).float() - mean) / std).contiguous()
    y = torch.from_numpy(labels)
    path = GENERATED / "torch" / f"{options.spec}.py"
    loader_spec = importlib.util.spec_from_file_location("bare_model", path)
    assert loader_spec is not None and loader_spec.loader is not None
    module = importlib.util.module_from_spec(loader_spec)
    loader_spec.loader.exec_module(module)
    torch.manual_seed(0)
    model = getattr(module, options.spec)(num_classes=spec.num_classes)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.1 * options.batch_size / 256, momentum=0.9, weight_decay=1e-4
    )
    started = time.perf_counter()
    for step in range(options.steps):
        if step == 1:
            started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - started
    images = (options.steps - 1) * options.batch_size
    print(json.dumps({"images_per_second": images / seconds, "seconds": seconds}))


if __name__ == "__main__":
    main()
