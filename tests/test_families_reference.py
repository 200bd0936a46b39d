"""The generated PyTorch models of timm's neighbouring residual families against timm itself.

Marked ``reference``: timm needs torch's full build, so this runs in the reference environment
(``bash scripts/check_references.sh``). Every shipped spec that tests/data/timm_families.json
names is built by timm 1.0.31, its weights load strictly into the generated model, and eval-mode
outputs agree within TOLERANCE at two sizes (an even and an odd map before the last stage).
"""

from __future__ import annotations

import json

import pytest
from helpers import DATA, shipped_specs
from reference_compare import TOLERANCE, compare, library

pytestmark = pytest.mark.reference

LISTING = json.loads((DATA / "timm_families.json").read_text(encoding="utf-8"))
FAMILY_SPECS = [name for name in LISTING["models"] if name in shipped_specs()]
SIZES = (64, 80)
# Above this many parameters the generated model shares the reference's tensors instead of
# holding a copy (compare's ``share``): two resnetv2_152x4_bit would take 7.5 GB.
SHARE_PARAMS = 500_000_000

# Above this many parameters even one shared copy is too much for a shared machine (~6 GB):
# regnety_2560's 1.28G take 5.1 GB alone, 10.3 GB with ours beside it. Its keys, shapes,
# parameters and MACs are held by tests/test_families_listing.py; its outputs equal timm's when
# the two run one at a time (tests/test_regnet_reference.py, -m "reference and slow").
MAX_PARAMS = 1_000_000_000


def _marks(name: str) -> list[pytest.MarkDecorator]:
    params = LISTING["models"][name]["params"]
    if params <= MAX_PARAMS:
        return []
    reason = f"{params:,} parameters: over ~6 GB on a shared machine; -m 'reference and slow'"
    return [pytest.mark.skip(reason=reason)]


@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in FAMILY_SPECS])
def test_timm_weights_load_strictly_and_agree(name: str) -> None:
    timm = library("timm")
    torch = library("torch")
    for size in SIZES:
        torch.manual_seed(0)
        reference = timm.create_model(name, pretrained=False)
        share = LISTING["models"][name]["params"] > SHARE_PARAMS
        assert compare(reference, name, size, torch, share=share) <= TOLERANCE, size
        del reference  # before the next size's is built: one at a time
