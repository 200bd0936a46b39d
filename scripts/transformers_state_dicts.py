"""Write tests/data/transformers_state_dicts.json: the state_dict keys and shapes of
transformers' ResNetForImageClassification for ResNet-18 and ResNet-50 (the configurations of
microsoft/resnet-18 and microsoft/resnet-50), so that the default test suite can check the
checkpoint dialect without transformers. Run in the reference environment:
``PYTHONPATH=$PWD .venv-ref/bin/python scripts/transformers_state_dicts.py``;
tests/test_backbone_reference.py checks the file against transformers itself.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "transformers_state_dicts.json"

CONFIGS = {
    "resnet18": {
        "depths": [2, 2, 2, 2],
        "hidden_sizes": [64, 128, 256, 512],
        "layer_type": "basic",
    },
    "resnet50": {"depths": [3, 4, 6, 3], "hidden_sizes": [256, 512, 1024, 2048]},
}


def listing() -> dict[str, dict[str, list[int]]]:
    from transformers import ResNetConfig, ResNetForImageClassification

    out = {}
    for name, kwargs in CONFIGS.items():
        model = ResNetForImageClassification(ResNetConfig(num_labels=1000, **kwargs))
        out[name] = {key: list(value.shape) for key, value in model.state_dict().items()}
    return out


if __name__ == "__main__":
    OUT.write_text(json.dumps(listing(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
