"""Do generated and reference models run the same operations? A noise-free complement to the
timed ratios: if two models execute the same layers with the same settings, their compiled
graphs do the same work, and a measured ratio away from 1.0 is the machine, not the model.

- torch: ``torch.fx.symbolic_trace`` of the generated ResNet-50 and of the hand-written
  reference (and torchvision's when it imports); the operations counted by kind and target.
- keras: every layer of ``resnet50_v1`` / ``resnet50_v2`` and of keras.applications'
  ResNet50 / ResNet50V2, in order, as (class, configuration without names and initialisers),
  with equivalent spellings made equal (see ``_canonical``).

torch.fx records ``out += identity`` on a traced tensor as an ordinary add, so the one
source-level difference between the generated and the hand-written torch bottleneck (an
in-place residual add) is invisible here; ``benchmarks.diagnose_residual_add`` times it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

from benchmarks.common import Json, section_main
from benchmarks.keras_models import PAIRS
from benchmarks.torch_models import load_generated, torchvision_reason

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

IGNORED_KEYS = {
    "name",
    "trainable",
    "dtype",
    "kernel_initializer",
    "bias_initializer",
    "beta_initializer",
    "gamma_initializer",
    "moving_mean_initializer",
    "moving_variance_initializer",
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "beta_regularizer",
    "gamma_regularizer",
    "kernel_constraint",
    "bias_constraint",
    "beta_constraint",
    "gamma_constraint",
    "batch_shape",
    "sparse",
    "ragged",
    "optional",
}


def _difference(a: Counter[str], b: Counter[str]) -> dict[str, dict[str, int]]:
    return {
        key: {"generated": a[key], "reference": b[key]}
        for key in sorted(set(a) | set(b))
        if a[key] != b[key]
    }


def torch_ops(model: Any) -> Counter[str]:
    import torch.fx

    graph = torch.fx.symbolic_trace(model).graph
    counts: Counter[str] = Counter()
    for node in graph.nodes:
        if node.op == "call_module":
            module = model.get_submodule(node.target)
            counts[f"module {type(module).__name__}"] += 1
        elif node.op in ("call_function", "call_method"):
            target = getattr(node.target, "__name__", str(node.target))
            counts[f"{node.op.removeprefix('call_')} {target}"] += 1
    return counts


def _canonical(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """Spellings that compute the same thing, made equal: batch norm over axis 3 of an NHWC
    tensor is axis -1; a 1x1 convolution pads nothing under "same" or "valid"."""
    if kind == "BatchNormalization" and config.get("axis") in (3, [3]):
        config["axis"] = -1
    if kind == "Conv2D" and list(config.get("kernel_size", ())) == [1, 1]:
        config["padding"] = "valid"
    return config


def keras_layers(model: Any) -> list[str]:
    signature = []
    for layer in model.layers:
        config = {k: v for k, v in layer.get_config().items() if k not in IGNORED_KEYS}
        config = _canonical(type(layer).__name__, config)
        signature.append(f"{type(layer).__name__} {json.dumps(config, sort_keys=True)}")
    return signature


def run(quick: bool) -> Json:
    import keras

    from benchmarks.handwritten_resnet import HandResNet50

    generated = torch_ops(load_generated("torch", "resnet50").resnet50())
    references: dict[str, Any] = {"hand-written ResNet-50": HandResNet50()}
    if torchvision_reason() is None:
        import torchvision

        references["torchvision resnet50"] = torchvision.models.resnet50(weights=None)
    data: Json = {"torch": {}, "keras": {}}
    for label, model in references.items():
        reference = torch_ops(model)
        data["torch"][f"generated resnet50 vs {label}"] = {
            "operations": sum(generated.values()),
            "reference_operations": sum(reference.values()),
            "differences": _difference(generated, reference),
        }
    for name, application in PAIRS:
        ours = keras_layers(getattr(load_generated("keras", name), name)())
        theirs = keras_layers(
            getattr(keras.applications, application)(weights=None, classifier_activation=None)
        )
        first = next(
            (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), None
        )
        data["keras"][f"generated {name} vs keras.applications.{application}"] = {
            "layers": len(ours),
            "reference_layers": len(theirs),
            "same_sequence": ours == theirs,
            "differences": _difference(Counter(ours), Counter(theirs)),
            "first_difference": None
            if first is None
            else {"index": first, "generated": ours[first], "reference": theirs[first]},
        }
        keras.backend.clear_session()
    return data


if __name__ == "__main__":
    section_main("structure", run)
