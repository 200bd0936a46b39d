"""Write each shipped spec's ``pretrained`` section from what its reference publishes.

Run in the reference environment (torchvision, timm): ``PYTHONPATH=$PWD .venv-ref/bin/python
scripts/pretrained_specs.py [--check]``. The sources, by the spec's family:

- torchvision: ``torchvision.models.get_model_weights(name).DEFAULT.transforms()`` (mean, std,
  interpolation; crop_pct = crop_size / resize_size);
- keras: keras.applications' ``preprocess_input`` modes, ResNet50/101/152 ``caffe`` (BGR,
  [0, 255], the ImageNet means subtracted) and ResNet*V2 ``tf`` ([-1, 1]), no crop
  (keras.applications resizes the whole image: crop_pct 1.0);
- timm (and sknet, res2net): ``timm.models.get_pretrained_cfg(name)``, the default tag's
  pretrained_cfg;
- papers (CIFAR): none published; the specs keep the default and ``resgen train`` its statistics.

The section is the last lines of each spec, under a comment naming the source, and is
replaced on every run; ``--check`` writes nothing and exits 1 if a spec would change.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
MARK = "# pretrained: written by scripts/pretrained_specs.py from "

# keras.applications.imagenet_utils.preprocess_input: mode "caffe" subtracts these (BGR order)
# from BGR pixels in [0, 255]; mode "tf" maps [0, 255] to [-1, 1] (x / 127.5 - 1).
CAFFE_MEAN_BGR = [103.939, 116.779, 123.68]

# Families whose specs are models timm registers (timm's resnet module, and its neighbours that
# issue 20 ships as their own families: ``family: <timm module>``). main defined this twice (a
# tuple, then a set that dropped sknet and res2net); one definition names them all.
TIMM_FAMILIES = ("timm", "resnest", "sknet", "res2net", "regnet")


def family(text: str) -> str | None:
    found = re.search(r"^family: (\w+)$", text, re.M)
    return found[1] if found else None


def torchvision_section(name: str) -> tuple[str, dict]:
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    transforms = weights.transforms()
    crop, resize = transforms.crop_size[0], transforms.resize_size[0]
    return f"torchvision {weights}.transforms()", {
        "channel_order": "rgb",
        "scale": 1,
        "mean": list(transforms.mean),
        "std": list(transforms.std),
        "crop_pct": crop / resize,
        "interpolation": transforms.interpolation.value,
    }


def keras_section(name: str) -> tuple[str, dict]:
    if name.endswith("_v2"):
        return 'keras.applications.resnet_v2.preprocess_input (mode "tf")', {
            "channel_order": "rgb",
            "scale": 255,
            "mean": [127.5] * 3,
            "std": [127.5] * 3,
            "crop_pct": 1.0,
            "interpolation": "bilinear",
        }
    return 'keras.applications.resnet.preprocess_input (mode "caffe")', {
        "channel_order": "bgr",
        "scale": 255,
        "mean": CAFFE_MEAN_BGR,
        "std": [1.0] * 3,
        "crop_pct": 1.0,
        "interpolation": "bilinear",
    }


def timm_section(name: str) -> tuple[str, dict]:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    return f"timm's pretrained_cfg for {name}.{cfg.tag}", {
        "channel_order": "rgb",
        "scale": 1,
        "mean": list(cfg.mean),
        "std": list(cfg.std),
        "crop_pct": cfg.crop_pct,
        "interpolation": cfg.interpolation,
        "_input_size": cfg.input_size[-1],
    }


def block(source: str, values: dict) -> str:
    lines = [MARK + source, "pretrained:"]
    for key, value in values.items():
        if not key.startswith("_"):
            lines.append(f"  {key}: {value!r}".replace("'", ""))
    return "\n".join(lines) + "\n"


def section_for(name: str, kind: str | None) -> tuple[str, dict] | None:
    if kind == "torchvision":
        return torchvision_section(name)
    if kind == "keras":
        return keras_section(name)
    if kind in TIMM_FAMILIES:
        return timm_section(name)
    return None


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path in sorted(SPECS.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        body = text.split(MARK, 1)[0].rstrip("\n") + "\n"
        found = section_for(path.stem, family(text))
        if found is None:
            continue
        source, values = found
        size = re.search(r"^input: \{channels: \d+, size: (\d+)\}", text, re.M)
        if "_input_size" in values and size and int(size[1]) != values["_input_size"]:
            print(f"{path.name}: input size {size[1]}, timm's cfg {values['_input_size']}")
        new = body + block(source, values)
        if new != text:
            stale.append(path.name)
            if not check:
                path.write_text(new, encoding="utf-8")
    verb = "would change" if check else "wrote"
    print(f"{verb} {len(stale)} specs" + (f": {' '.join(stale)}" if stale else ""))
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
