"""The generated PyTorch models against the libraries they reproduce: torchvision and timm.

torchvision and timm need torch's full build (the local CPU wheel cannot load torchvision's
compiled ops), so these tests skip in the project's .venv and run in the reference environment:

    bash scripts/check_references.sh

Each test builds the library's model, gives every norm layer random affine parameters (timm
zero-inits each branch's last norm, which would hide the branch) and running statistics measured
on a random batch, loads its state_dict into the generated model with strict=True and compares
eval-mode outputs on another batch.
"""

from __future__ import annotations

import json

import pytest
from helpers import DATA, REPO, import_file, shipped_specs
from reference_compare import TOLERANCE, compare, library

pytestmark = pytest.mark.reference

TORCHVISION_LISTING = DATA / "torchvision_state_dicts.json"
TIMM_LISTING = DATA / "timm_resnet_zoo.json"
FAMILIES_LISTING = DATA / "timm_families.json"
WRITER = REPO / "scripts" / "write_timm_listing.py"
# 64 px keeps every map even; at 80 px (20 -> 10 -> 5 -> 3) the last strided stage starts on an
# odd map, which exercises ceil-mode shortcut pooling and padding at the edge.
TIMM_SIZES = (64, 80)
FULL_SIZE = {"resnet50d"}  # compared at 224 as well


TORCHVISION_NAMES = list(json.loads(TORCHVISION_LISTING.read_text(encoding="utf-8")))
ZOO = json.loads(TIMM_LISTING.read_text(encoding="utf-8"))
ZOO_NAMES = list(ZOO["models"])
ZOO_SPECS = [name for name in ZOO_NAMES if name in shipped_specs()]


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_torchvision_weights_load_strictly_and_agree(name: str) -> None:
    torchvision = library("torchvision")
    torch = library("torch")
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None)
    assert compare(reference, name, 224, torch) <= TOLERANCE


@pytest.mark.parametrize("name", ZOO_SPECS)
def test_timm_weights_load_strictly_and_agree(name: str) -> None:
    timm = library("timm")
    torch = library("torch")
    for size in (*TIMM_SIZES, *((224,) if name in FULL_SIZE else ())):
        torch.manual_seed(0)
        reference = timm.create_model(name, pretrained=False)
        assert compare(reference, name, size, torch) <= TOLERANCE, size


def test_every_zoo_architecture_has_a_spec() -> None:
    missing = [name for name in ZOO_NAMES if name not in shipped_specs()]
    assert not missing, f"{len(missing)} of {len(ZOO_NAMES)} without a spec: {missing}"


def test_listing_is_current() -> None:
    """The committed listing is what the writer produces from the installed timm."""
    timm = library("timm")
    if timm.__version__ != ZOO["timm"]:
        pytest.skip(f"the listing was written from timm {ZOO['timm']}, not {timm.__version__}")
    writer = import_file(WRITER, "write_timm_listing")
    assert writer.zoo_names() == ZOO_NAMES
    fresh = writer.to_json(writer.listing()) + "\n"
    assert fresh == TIMM_LISTING.read_text(encoding="utf-8")


def test_families_listing_is_current() -> None:
    """The committed listing of timm's six neighbouring residual modules is the writer's."""
    timm = library("timm")
    families = json.loads(FAMILIES_LISTING.read_text(encoding="utf-8"))
    if timm.__version__ != families["timm"]:
        pytest.skip(f"the listing was written from timm {families['timm']}, not {timm.__version__}")
    writer = import_file(WRITER, "write_timm_listing")
    assert len(writer.family_names()) == 87  # the count issue 20 names
    fresh = writer.to_json(writer.families_listing()) + "\n"
    assert fresh == FAMILIES_LISTING.read_text(encoding="utf-8")
