"""The res2net block kind against timm's Bottle2neck where the shipped specs' own check
(tests/test_families_reference.py) does not reach: as a feature pyramid (``features_only``).
Dilated (``output_stride`` 16 and 8) they are in tests/test_dilation_reference.py's names.
"""

from __future__ import annotations

import pytest
from helpers import build_generated
from test_timm_reference import TOLERANCE, timm_model

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

pytestmark = pytest.mark.reference

NAMES = ("res2net50_26w_4s", "res2net50d", "res2next50")


def _input() -> torch.Tensor:
    torch.manual_seed(3)
    return torch.randn(2, 3, 64, 64)


@pytest.mark.parametrize("name", NAMES)
def test_res2net_features_equal_timm(name: str) -> None:
    theirs = timm_model(name, features_only=True)
    ours = build_generated("torch", name, features_only=True).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = _input()
    with torch.no_grad():
        maps, their_maps = ours(x), theirs(x)
    assert [m.shape for m in maps] == [m.shape for m in their_maps]
    for mine, reference in zip(maps, their_maps, strict=True):
        torch.testing.assert_close(mine, reference, **TOLERANCE)
