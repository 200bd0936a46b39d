"""Diagnostic, not part of the default run: does the residual add explain a torch ratio?

The generated bottleneck ends with ``self.relu(out + shortcut)`` (a new tensor per block);
torchvision and the hand-written reference end with ``out += identity`` (in place). This runs
three models with the same weights, interleaved: the generated ResNet-50, the same with its
blocks' forward patched to add in place, and the hand-written reference.

``.venv/bin/python -m benchmarks.diagnose_residual_add [--quick]`` writes
``benchmarks/results/diagnose_residual_add.json``.
"""

from __future__ import annotations

import types
from typing import Any

from benchmarks.common import Json, interleaved, section_main
from benchmarks.torch_models import load_generated


def inplace_forward(self: Any, x: Any) -> Any:
    """The generated bottleneck's forward with ``out += shortcut`` instead of ``out + shortcut``."""
    shortcut = x if self.downsample is None else self.downsample(x)
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    out += shortcut
    return self.relu(out)


def run(quick: bool) -> Json:
    import torch
    import torch.nn.functional as F

    from benchmarks.handwritten_resnet import HandResNet50

    module = load_generated("torch", "resnet50")
    generated = module.resnet50()
    patched = module.resnet50()
    patched.load_state_dict(generated.state_dict())
    for block in patched.modules():
        if isinstance(block, module.Bottleneck):
            block.forward = types.MethodType(inplace_forward, block)
    reference = HandResNet50()
    reference.load_state_dict(generated.state_dict())
    batch = 2 if quick else 8
    rounds = 3 if quick else 12
    budget = 40.0  # seconds per comparison: a busy machine gives fewer rounds, not a longer run
    images = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 1000, (batch,), generator=torch.Generator().manual_seed(1))

    def forward(model: Any) -> Any:
        def call() -> None:
            with torch.inference_mode():
                model(images)

        return call

    def train_step(model: Any) -> Any:
        def call() -> None:
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(images), labels).backward()

        return call

    data: Json = {"batch": batch, "threads": torch.get_num_threads()}
    for model in (generated, patched, reference):
        model.eval()
    data["forward"] = {
        "generated_vs_reference": interleaved(
            forward(generated), forward(reference), rounds, budget_s=budget
        ),
        "inplace_vs_reference": interleaved(
            forward(patched), forward(reference), rounds, budget_s=budget
        ),
        "generated_vs_inplace": interleaved(
            forward(generated), forward(patched), rounds, budget_s=budget
        ),
    }
    for model in (generated, patched, reference):
        model.train()
    data["forward_backward"] = {
        "generated_vs_inplace": interleaved(
            train_step(generated), train_step(patched), rounds, budget_s=2 * budget
        ),
    }
    return data


if __name__ == "__main__":
    section_main("diagnose_residual_add", run)
