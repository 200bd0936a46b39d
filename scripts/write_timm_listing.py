"""Write tests/data/timm_resnet_zoo.json and timm_families.json: facts about timm's residual
networks, taken from timm itself.

Run with the reference environment (see scripts/check_references.sh), never the project's .venv:

    .venv-ref/bin/python scripts/write_timm_listing.py             # both listings
    .venv-ref/bin/python scripts/write_timm_listing.py --only zoo  # or: --only families

``timm_resnet_zoo.json`` covers every name ``timm.list_models(module="resnet")`` lists, except the
``*_pruned`` ones; ``timm_families.json`` every name of the six neighbouring residual modules
(FAMILY_MODULES: resnest, res2net, sknet, resnetv2, regnet and the legacy senet). For each model,
in timm's order, a listing holds: the parameter count, the pretrained config's tag and default input
size, operation counts at 1x3x224x224 from ``torch.utils.flop_counter.FlopCounterMode`` (per aten
op and per leaf module class, so a MACs comparison can pick its convention: the counter says 2
FLOPs per multiply-add, and counts functional convolutions such as BlurPool2d's that module hooks
miss), and every state_dict key with its shape, in order (buffers included; ``num_batches_tracked``
is []).
Models are built on the meta device: shapes and counts without allocating or computing anything.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import timm
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
DEFAULT_OUT = DATA / "timm_resnet_zoo.json"
FAMILIES_OUT = DATA / "timm_families.json"
FAMILY_MODULES = ("resnest", "res2net", "sknet", "resnetv2", "regnet", "senet")
FLOP_INPUT = (1, 3, 224, 224)


def zoo_names() -> list[str]:
    """timm's ResNet registry, less the two pruned variants (whose widths timm reads from files)."""
    return [name for name in timm.list_models(module="resnet") if not name.endswith("_pruned")]


def family_names() -> dict[str, str]:
    """Every model of the six neighbouring residual modules: name -> its timm module."""
    return {name: module for module in FAMILY_MODULES for name in timm.list_models(module=module)}


def leaf_flops_by_class(
    model: torch.nn.Module, counts: dict[str, dict[Any, int]]
) -> dict[str, int]:
    """FLOPs summed per class of the innermost module that issued them (Conv2d, BlurPool2d, ...)."""
    root = type(model).__name__
    paths = [path for path in counts if path.startswith(f"{root}.")]
    totals: Counter[str] = Counter()
    for path in paths:
        if any(other.startswith(f"{path}.") for other in paths):
            continue
        module = model.get_submodule(path.removeprefix(f"{root}."))
        totals[type(module).__name__] += sum(counts[path].values())
    return dict(sorted(totals.items()))


def describe(name: str) -> dict[str, Any]:
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(FLOP_INPUT, device="meta"))
    counts = counter.get_flop_counts()
    flops = {str(op): int(value) for op, value in counts["Global"].items()}
    cfg = model.pretrained_cfg
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "pretrained_tag": cfg["tag"],
        "input_size": list(cfg["input_size"]),
        "flops": dict(sorted(flops.items())),
        "flops_by_module": leaf_flops_by_class(model, counts),
        "state_dict": {key: list(value.shape) for key, value in model.state_dict().items()},
    }


def to_json(value: Any, indent: int = 0) -> str:
    """JSON with one key per line and short lists inline: a change to one shape is one diff line."""
    if isinstance(value, dict):
        pad = " " * (indent + 2)
        items = [f"{pad}{json.dumps(k)}: {to_json(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}" if items else "{}"
    return json.dumps(value)


def header() -> dict[str, Any]:
    """Versions and the counting convention, at the head of either listing."""
    return {
        "timm": timm.__version__,
        "torch": torch.__version__.split("+")[0],
        "flop_input": list(FLOP_INPUT),
        "flop_convention": "FlopCounterMode: 2 FLOPs per multiply-add (conv, addmm)",
    }


def listing() -> dict[str, Any]:
    """The ResNet zoo's document: the header and every model in timm's order."""
    return {**header(), "models": {name: describe(name) for name in zoo_names()}}


def families_listing() -> dict[str, Any]:
    """The neighbouring families' document: as :func:`listing`, each model naming its module."""
    models = {name: {"module": module, **describe(name)} for name, module in family_names().items()}
    return {**header(), "modules": list(FAMILY_MODULES), "models": models}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("zoo", "families"), help="write one listing")
    args = parser.parse_args()
    writers = {"zoo": (listing, DEFAULT_OUT), "families": (families_listing, FAMILIES_OUT)}
    for key, (write, out) in writers.items():
        if args.only in (None, key):
            document = write()
            out.write_text(to_json(document) + "\n", encoding="utf-8")
            print(f"wrote {len(document['models'])} models to {out}")


if __name__ == "__main__":
    main()
