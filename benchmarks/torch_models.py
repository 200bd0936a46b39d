"""Generated PyTorch ResNet-50 against references: same weights, same input, same process.

References: torchvision's ``resnet50`` when torchvision imports (it cannot with this project's
CPU-only torch wheel, so that comparison is recorded as skipped there), and always an
independent hand-written torchvision-style ResNet-50 (``benchmarks/handwritten_resnet.py``),
the CPU stand-in. The generated model's ``state_dict`` is loaded into the reference with
``strict=True`` and the outputs are compared before anything is timed.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from benchmarks.common import GENERATED, Json, interleaved, section_main


def load_generated(backend: str, name: str) -> ModuleType:
    """Import ``generated/<backend>/<name>.py`` as a stand-alone module, as a user vendors it."""
    path = GENERATED / backend / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"generated_{backend}_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def torchvision_reason() -> str | None:
    """None when torchvision imports, else why the comparison is skipped."""
    try:
        import torchvision  # noqa: F401
    except Exception as exc:
        return f"skipped: torchvision not importable on this machine ({type(exc).__name__})"
    return None


def compare(
    candidate: Any, reference: Any, device: str, batch: int, rounds: tuple[int, int], warmup: int
) -> Json:
    """Forward (eval, inference mode) and forward+backward (train mode, cross-entropy,
    gradients of every parameter) of two models holding the same weights."""
    import torch
    import torch.nn.functional as F

    reference.load_state_dict(candidate.state_dict(), strict=True)
    candidate.to(device)
    reference.to(device)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, 224, 224, generator=generator).to(device)
    labels = torch.randint(0, 1000, (batch,), generator=generator).to(device)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    candidate.eval()
    reference.eval()
    with torch.inference_mode():
        expected = reference(images)
        difference = (candidate(images) - expected).abs().max().item()
        scale = expected.abs().max().item()

    def forward(model: Any) -> Callable[[], None]:
        def call() -> None:
            with torch.inference_mode():
                model(images)
            sync()

        return call

    def train_step(model: Any) -> Callable[[], None]:
        def call() -> None:
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(images), labels).backward()
            sync()

        return call

    result: Json = {
        "device": device,
        "batch": batch,
        "input": [batch, 3, 224, 224],
        "max_abs_output_difference": difference,
        "max_abs_output": scale,
    }
    result["forward"] = interleaved(
        forward(candidate), forward(reference), rounds=rounds[0], warmup=warmup, budget_s=45
    )
    candidate.train()
    reference.train()
    result["forward_backward"] = interleaved(
        train_step(candidate), train_step(reference), rounds=rounds[1], warmup=warmup, budget_s=75
    )
    candidate.to("cpu")
    reference.to("cpu")
    return result


def run(quick: bool) -> Json:
    import torch

    torch.manual_seed(0)
    cuda = torch.cuda.is_available()
    generated = load_generated("torch", "resnet50")
    rounds, warmup = ((3, 3), 1) if quick else ((14, 10), 2)
    gpu_rounds = (rounds[0] * 3, rounds[1] * 3)
    cpu_batch = 2 if quick else 8
    data: Json = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if cuda else None,
        "ratio_meaning": "generated time / reference time (above 1: generated slower)",
        "comparisons": {},
    }
    comparisons: dict[str, Json] = data["comparisons"]

    from benchmarks.handwritten_resnet import HandResNet50

    comparisons["generated resnet50 vs hand-written ResNet-50 (CPU stand-in), cpu"] = compare(
        generated.resnet50(), HandResNet50(), "cpu", cpu_batch, rounds, warmup
    )
    if cuda:
        comparisons["generated resnet50 vs hand-written ResNet-50, cuda"] = compare(
            generated.resnet50(), HandResNet50(), "cuda", 64, gpu_rounds, warmup * 5
        )

    reason = torchvision_reason()
    if reason is None:
        import torchvision

        data["torchvision"] = torchvision.__version__
        device, batch = ("cuda", 64) if cuda else ("cpu", cpu_batch)
        comparisons[f"generated resnet50 vs torchvision resnet50, {device}"] = compare(
            generated.resnet50(),
            torchvision.models.resnet50(weights=None),
            device,
            batch,
            gpu_rounds if cuda else rounds,
            warmup * 5 if cuda else warmup,
        )
    else:
        comparisons["generated resnet50 vs torchvision resnet50"] = {"skipped": reason}
    return data


if __name__ == "__main__":
    section_main("torch_models", run)
