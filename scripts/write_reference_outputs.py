"""Write tests/data/reference_outputs.json: timm's and torchvision's outputs for one spec of each
layout, with weights and inputs any machine can rebuild (tests/reference_weights.py).

Run in the reference environment (scripts/check_references.sh runs it), never the project's .venv:

    PYTHONPATH=$PWD .venv-ref/bin/python scripts/write_reference_outputs.py

Nothing here imports resgen: the numbers come from the libraries alone. For each entry of MODELS
the library builds its model, the rule fills its state_dict (seed SEED), and the model runs in
eval mode on BATCH images at each of SIZES; the file keeps the logits at CLASSES evenly spaced
class indices and each image's whole-logit L2 norm. tests/test_reference_outputs.py loads the same
values into the generated models (PyTorch and, through resgen.weights.transfer, Keras) in the
default suite, so a change that breaks one of these layouts fails there, not only here.

The file names the commit of this script that wrote it (``git rev-parse HEAD`` with this script
and tests/reference_weights.py unmodified; the writer refuses to record a commit otherwise). When
the numbers are the same as the committed file's, the file is left alone, commit included, so a
run of scripts/check_references.sh never churns it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import reference_weights  # noqa: E402

OUT = ROOT / "tests" / "data" / "reference_outputs.json"
WRITER = "scripts/write_reference_outputs.py"
RULE = "tests/reference_weights.py"
SEED = 2024
BATCH = 2
# 64 px keeps every map even; at 80 px (20 -> 10 -> 5 -> 3) the last strided stage starts on an
# odd map: ceil-mode shortcut pooling and padding at the edge (where a library refuses a size,
# its entry is null and the generated model must refuse it too).
SIZES = (64, 80)
CLASSES = 8
# spec name -> the library that has it. One shipped spec per layout the templates emit that a
# library reproduces (the keras.applications and CIFAR layouts have none here): basic,
# v1.5 bottleneck, ResNeXt, ResNet-D, the tiered stem, squeeze-and-excitation, ECA, blur and
# average-pool anti-aliasing, group norm, ResNet-RS, mixed block kinds; timm's legacy SENet
# (the named layer0, the ceil-mode stem pool, se_module, the activation before SE).
MODELS = {
    "resnet18": "torchvision",
    "resnet50": "torchvision",
    "resnext50_32x4d": "torchvision",
    "resnet50d": "timm",
    "resnet10t": "timm",
    "seresnet18": "timm",
    "ecaresnet26t": "timm",
    "resnetblur18": "timm",
    "resnetaa34d": "timm",
    "resnet50_gn": "timm",
    "resnetrs50": "timm",
    "test_resnet": "timm",
    "legacy_seresnet18": "timm",
}


def reference_model(name: str, library: str) -> torch.nn.Module:
    if library == "torchvision":
        import torchvision

        return getattr(torchvision.models, name)(weights=None)
    import timm

    return timm.create_model(name, pretrained=False)


def class_indices(num_classes: int) -> list[int]:
    return [round(i * (num_classes - 1) / (CLASSES - 1)) for i in range(CLASSES)]


def outputs(name: str, library: str) -> dict[str, Any]:
    model = reference_weights.load_into(reference_model(name, library), SEED)
    entry: dict[str, Any] = {"library": library}
    for size in SIZES:
        x = torch.from_numpy(reference_weights.images(SEED, BATCH, size))
        try:
            with torch.no_grad():
                logits = model(x).double()
        except RuntimeError:  # timm's average-pool anti-aliasing needs even maps
            entry[str(size)] = None
            continue
        indices = class_indices(logits.shape[1])
        entry.update(num_classes=logits.shape[1], classes=indices)
        entry[str(size)] = {
            "logits": [[float(row[i]) for i in indices] for row in logits],
            "l2": [float(row.norm()) for row in logits],
        }
    return entry


def same(old: Any, new: Any) -> bool:
    """Equal up to float32 round-off (thread counts change the order of sums)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(same(old[k], new[k]) for k in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(same(a, b) for a, b in zip(old, new, strict=True))
    if isinstance(old, float) and isinstance(new, float):
        return abs(old - new) <= 1e-6 * max(1.0, abs(new))
    return old == new


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def writer_commit() -> str:
    """HEAD, where this script and the weight rule are as committed there."""
    if git("status", "--porcelain", "--", WRITER, RULE):
        sys.exit(f"{WRITER} or {RULE} differs from HEAD: commit it first, then write")
    return git("rev-parse", "HEAD")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--draft", action="store_true", help="record no commit (for trying a change of the rule)"
    )
    args = parser.parse_args()
    import timm
    import torchvision

    models = {name: outputs(name, library) for name, library in MODELS.items()}
    old = json.loads(args.out.read_text("utf-8")) if args.out.exists() else {}
    if old.get("seed") == SEED and same(old.get("models"), models):
        print(f"{args.out}: unchanged")
        return
    data = {
        "written_by": WRITER,
        "commit": "draft" if args.draft else writer_commit(),
        "weights": RULE,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "seed": SEED,
        "batch": BATCH,
        "sizes": list(SIZES),
        "models": models,
    }
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"{args.out}: written ({len(models)} models)")


if __name__ == "__main__":
    main()
