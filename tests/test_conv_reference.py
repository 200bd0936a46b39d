"""The weight-standardised conv kind against timm's own ``StdConv2d`` (timm/layers/std_conv.py):
the generated class equals timm's on random input over kernels, strides, dilations, groups,
bias and epsilon (padding left to each class: timm's get_padding), and a network whose every
conv but the classifier is timm's StdConv2d (timm's ResNet with group norm, its convs swapped)
loads strictly into the generated file of the same spec and gives its outputs. Runs in the
reference environment (scripts/check_references.sh); resgen renders the file there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import import_file

from resgen.rendering.generated import write_model
from resgen.spec.models import Spec

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

pytestmark = pytest.mark.reference

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def spec_of(eps: float) -> Spec:
    """timm's ResNet(Bottleneck, layers=[1, 1, 1, 1], norm_layer='groupnorm', num_classes=10) with
    weight-standardised convs."""
    return Spec.model_validate(
        {
            "name": "std_conv_net",
            "num_classes": 10,
            "input": {"size": 64},
            "block": {"type": "bottleneck"},
            "stages": [
                {"blocks": 1, "channels": 64},
                *({"blocks": 1, "channels": c, "stride": 2} for c in (128, 256, 512)),
            ],
            "norm": {"type": "group"},
            "conv": {"type": "weight_standardized", "eps": eps},
        }
    )


def generated(tmp_path: Path, eps: float) -> Any:
    spec = spec_of(eps)
    path = write_model(tmp_path / f"{spec.name}.yaml", spec, "torch", tmp_path)
    return import_file(path, f"std_conv_{str(eps).replace('-', '_').replace('.', '_')}")


@pytest.mark.parametrize(
    ("in_channels", "out_channels", "kernel", "stride", "dilation", "groups", "bias"),
    [
        (8, 16, 1, 1, 1, 1, False),
        (8, 16, 1, 2, 1, 1, False),
        (8, 16, 3, 1, 1, 1, True),
        (8, 16, 3, 2, 1, 1, False),
        (8, 16, 3, 1, 2, 1, False),
        (8, 16, 3, 1, 1, 4, False),
        (3, 16, 7, 2, 1, 1, False),
    ],
)
@pytest.mark.parametrize("eps", [1e-8, 1e-6])
def test_the_class_equals_timm_s_std_conv(
    in_channels: int,
    out_channels: int,
    kernel: int,
    stride: int,
    dilation: int,
    groups: int,
    bias: bool,
    eps: float,
    tmp_path: Path,
) -> None:
    from timm.layers import StdConv2d

    ours_class = generated(tmp_path, eps).StdConv2d
    arguments = {"stride": stride, "dilation": dilation, "groups": groups, "bias": bias}
    theirs = StdConv2d(in_channels, out_channels, kernel, eps=eps, **arguments)
    ours = ours_class(in_channels, out_channels, kernel, **arguments)
    assert ours.eps == theirs.eps == eps
    assert ours.padding == theirs.padding
    generator = torch.Generator().manual_seed(kernel * 10 + stride)
    with torch.no_grad():
        theirs.weight.copy_(torch.randn(theirs.weight.shape, generator=generator) * 2 + 0.3)
        if bias:
            theirs.bias.copy_(torch.randn(theirs.bias.shape, generator=generator))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, in_channels, 13, 13, generator=generator)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), **TOLERANCE)


def with_std_convs(model: Any, eps: float) -> Any:
    """timm's model with every nn.Conv2d replaced by timm's StdConv2d (default padding)."""
    from timm.layers import StdConv2d

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Conv2d:
                replacement = StdConv2d(
                    child.in_channels,
                    child.out_channels,
                    child.kernel_size[0],
                    stride=child.stride[0],
                    dilation=child.dilation[0],
                    groups=child.groups,
                    bias=child.bias is not None,
                    eps=eps,
                )
                assert replacement.padding == child.padding, name
                setattr(parent, name, replacement)
    return model


def test_a_network_of_timm_s_std_convs_loads_and_agrees(tmp_path: Path) -> None:
    from timm.models.resnet import Bottleneck, ResNet

    eps = 1e-8
    ours = generated(tmp_path, eps).std_conv_net().eval()
    torch.manual_seed(0)
    theirs = ResNet(block=Bottleneck, layers=[1, 1, 1, 1], num_classes=10, norm_layer="groupnorm")
    theirs = with_std_convs(theirs, eps)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for module in theirs.modules():
            if isinstance(module, torch.nn.GroupNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
    theirs.eval()
    standardized = [name for name, m in theirs.named_modules() if type(m).__name__ == "StdConv2d"]
    assert len(standardized) == 17  # the stem's, three and a projection per block
    assert [n for n, m in ours.named_modules() if type(m).__name__ == "StdConv2d"] == standardized
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64, generator=generator)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), **TOLERANCE)
