"""The selective-kernel knobs no shipped spec uses, against timm itself: the networks of
tests/test_sk_blocks.py (KNOBS) and ``timm.models.resnet.ResNet(block=SelectiveKernelBasic /
SelectiveKernelBottleneck, layers=[1, 1, 1, 1], block_args=dict(sk_kwargs=...), ...)`` have the
same state_dict keys in the same order, timm's weights load strictly, and the outputs agree
(eval mode, random norm statistics). Runs in the reference environment
(scripts/check_references.sh); resgen renders the file there from the spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import import_file
from test_attention_reference import TOLERANCE, randomize
from test_sk_blocks import knobs_spec

from resgen.rendering.generated import write_model

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

pytestmark = pytest.mark.reference


def timm_model(name: str) -> Any:
    """The network of KNOBS[name] as timm's ResNet builds it."""
    from timm.models.resnet import ResNet
    from timm.models.sknet import SelectiveKernelBasic, SelectiveKernelBottleneck

    if name == "sk_knobs_basic":
        return ResNet(
            block=SelectiveKernelBasic,
            layers=[1, 1, 1, 1],
            num_classes=10,
            block_reduce_first=2,
            drop_path_rate=0.1,
            zero_init_last=False,
            block_args={
                "sk_kwargs": {"kernel_size": [3, 5, 9], "split_input": False},
                "attn_layer": "se",
            },
        )
    return ResNet(
        block=SelectiveKernelBottleneck,
        layers=[1, 1, 1, 1],
        num_classes=10,
        cardinality=4,
        base_width=8,
        output_stride=16,
        block_args={"sk_kwargs": {"kernel_size": [3, 5], "keep_3x3": False}},
    )


@pytest.mark.parametrize("name", ["sk_knobs_basic", "sk_knobs_bottleneck"])
def test_unshipped_knobs_equal_timm(name: str, tmp_path: Path) -> None:
    spec = knobs_spec(name)
    path = write_model(tmp_path / f"{name}.yaml", spec, "torch", tmp_path)
    ours = getattr(import_file(path, f"reference_{name}"), name)().eval()
    torch.manual_seed(0)
    theirs = randomize(timm_model(name))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    for size in (64, 80):
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), **TOLERANCE)
