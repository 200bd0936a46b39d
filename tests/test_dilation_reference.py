"""Dilated generated models (``output_stride`` 16 and 8) against timm's and torchvision's.

``timm.create_model(name, output_stride=...)`` (timm's ``make_blocks``: a stage past the target
stride runs at stride 1 with dilated convs, the first block of a stage at the previous dilation,
anti-aliasing where ``stride == 2 or first_dilation != dilation``, ResNet-D's shortcut pool as
``AvgPool2dSame``) loads strictly into the committed generated file built with the same
``output_stride`` and gives the same logits, ``features_only`` maps and ``feature_info``;
torchvision's ``resnet50(replace_stride_with_dilation=[False, True, True])`` equals
``resnet50(output_stride=8)``.
"""

from __future__ import annotations

import pytest
from helpers import build_generated
from test_timm_reference import TOLERANCE, timm_model

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

pytestmark = pytest.mark.reference

# timm's resnet.py zoo, then block kinds of issue 20 on timm's ResNet: Res2Net (a stage's first
# block keeps the previous dilation and pools its last group at stride 1) and ResNeSt (dilated
# split convs, no avd pool where a stage stops striding); RegNet-Z (timm's regnet.py: a block
# whose dilation changes would have no shortcut either, and the final conv after the stages).
NAMES = (
    "resnet18",
    "resnet50",
    "seresnext26d_32x4d",
    "resnetblur50",
    "resnetaa50d",
    "res2net50_26w_4s",
    "res2net50d",
    "res2next50",
    "resnest14d",
    "resnest50d_4s2x40d",
    # timm's regnet.py: RegStage's first dilation; the pre-activation regnetv_064's pooled
    # shortcut reads the block's first dilation (create_shortcut's dilation[0]).
    "regnety_040",
    "regnetv_040",
    "regnetv_064",
    "regnetz_005",
    "regnetz_040",
)


def _input() -> torch.Tensor:
    torch.manual_seed(3)
    return torch.randn(2, 3, 64, 64)


@pytest.mark.parametrize("output_stride", (8, 16))
@pytest.mark.parametrize("name", NAMES)
def test_dilated_model_equals_timm(name: str, output_stride: int) -> None:
    theirs = timm_model(name, output_stride=output_stride)
    ours = build_generated("torch", name, output_stride=output_stride).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = _input()
    with torch.no_grad():
        mine, reference = ours.forward_features(x), theirs.forward_features(x)
        # The last map really is at the asked stride (64 px in).
        assert mine.shape[-1] == reference.shape[-1] == 64 // output_stride
        torch.testing.assert_close(mine, reference, **TOLERANCE)
        torch.testing.assert_close(ours(x), theirs(x), **TOLERANCE)


@pytest.mark.parametrize("output_stride", (8, 16))
@pytest.mark.parametrize("name", NAMES)
def test_dilated_features_equal_timm(name: str, output_stride: int) -> None:
    kwargs = {"features_only": True, "output_stride": output_stride}
    theirs = timm_model(name, **kwargs)
    ours = build_generated("torch", name, **kwargs).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    stem = {"act1": "relu"}
    assert ours.feature_info == [
        dict(info, module=stem.get(info["module"], info["module"]))
        for info in theirs.feature_info.get_dicts()
    ]
    x = _input()
    with torch.no_grad():
        maps, their_maps = ours(x), theirs(x)
    assert [m.shape for m in maps] == [m.shape for m in their_maps]
    for mine, reference in zip(maps, their_maps, strict=True):
        torch.testing.assert_close(mine, reference, **TOLERANCE)


@pytest.mark.parametrize("output_stride", (8, 16))
def test_dilated_wide_projection_equals_timm(output_stride: int) -> None:
    """SENet-154's 3x3 projection (timm's down_kernel_size=3) is 3x3 in a dilated stage's first
    block too, dilated by the previous dilation (timm's downsample_conv)."""
    theirs = timm_model("senet154", output_stride=output_stride)
    ours = build_generated("torch", "senet154", output_stride=output_stride).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = _input()
    with torch.no_grad():
        torch.testing.assert_close(
            ours.forward_features(x), theirs.forward_features(x), **TOLERANCE
        )


def test_resnet50_output_stride_8_equals_torchvision_dilation() -> None:
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    theirs = torchvision.models.resnet50(replace_stride_with_dilation=[False, True, True])
    with torch.no_grad():
        for module in theirs.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    theirs.eval()
    ours = build_generated("torch", "resnet50", output_stride=8).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = _input()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), **TOLERANCE)


def test_the_deeplab_example_runs_as_printed(tmp_path) -> None:
    """docs/backbones.md's DeepLabV3 example (torchvision's head on the dilated resnet50, equal
    to torchvision's deeplabv3_resnet50) prints the text block that follows it."""
    import re
    import subprocess
    import sys

    from helpers import REPO

    pytest.importorskip("torchvision")
    page = (REPO / "docs" / "backbones.md").read_text(encoding="utf-8")
    pairs = re.findall(r"```python\n(.*?)```\n.*?```text\n(.*?)```", page, re.S)
    [(code, expected)] = [pair for pair in pairs if "DeepLabHead" in pair[0]]
    script = tmp_path / "deeplab.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == expected
