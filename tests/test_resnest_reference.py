"""ResNeSt blocks beyond the 8 shipped specs against timm's own ResNestBottleneck.

Marked ``reference`` (timm needs torch's full build: ``bash scripts/check_references.sh``). The
shipped specs are held to timm in tests/test_families_reference.py; here timm's ``ResNet`` with
``ResNestBottleneck`` and the arguments no shipped spec uses (avd off, so the split conv
strides; radix 1 without groups; radix 4 with the pool first and no cardinality; SiLU, which
the split attention does not take) loads strictly into the file resgen generates from the
matching spec and gives timm's outputs. Dilated (``output_stride`` 16 and 8), resnest14d and
resnest50d_4s2x40d are in tests/test_dilation_reference.py's names.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import build_generated, render_generated, spec_path
from reference_compare import randomize_norms
from test_timm_reference import TOLERANCE

from resgen.check.validate import load_spec

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

pytestmark = pytest.mark.reference

# resgen's block fields -> timm's block_args, on resnest14d's network (deep stem 32, avg_down).
VARIANTS = {
    "avd_off": ({"avd": False}, {"radix": 2, "avd": False}),
    "radix_1": ({"radix": 1}, {"radix": 1, "avd": True}),
    "avd_first_radix_4": (
        {"radix": 4, "avd_first": True},
        {"radix": 4, "avd": True, "avd_first": True},
    ),
    # SiLU in the stem and blocks; timm's SplitAttn keeps its own ReLUs (none is passed to it).
    "silu": ({}, {"radix": 2, "avd": True}),
}
SPEC_UPDATES = {"silu": {"activation": "silu"}}
RESNET_KWARGS = {"silu": {"act_layer": "silu"}}


@pytest.mark.parametrize("variant", VARIANTS)
def test_block_arguments_equal_timms(variant: str, tmp_path: Path) -> None:
    from timm.models.resnest import ResNestBottleneck
    from timm.models.resnet import ResNet

    ours_block, block_args = VARIANTS[variant]
    base = load_spec(spec_path("resnest14d"))
    block = base.block.model_copy(update=ours_block)
    update = {"name": f"resnest14d_{variant}", "block": block, **SPEC_UPDATES.get(variant, {})}
    spec = base.model_copy(update=update)
    render_generated(spec, tmp_path, ("torch",))
    torch.manual_seed(0)
    theirs = ResNet(
        block=ResNestBottleneck,
        layers=[1, 1, 1, 1],
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        block_args=block_args,
        **RESNET_KWARGS.get(variant, {}),
    )
    randomize_norms(theirs, 64, torch)
    ours = build_generated("torch", spec.name, tmp_path).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 80, 80)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), **TOLERANCE)
