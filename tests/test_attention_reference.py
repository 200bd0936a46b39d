"""Every attention kind against timm's own: ``timm.models.resnet.ResNet(block=..., layers=...,
block_args=dict(attn_layer=<type>))`` and the generated PyTorch file of the same network have
the same state_dict keys in the same order, timm's weights load strictly, and the outputs
agree (eval mode, random norm statistics). Runs in the reference environment
(scripts/check_references.sh); resgen renders the file there from a spec written here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import import_file

from resgen.components import attention
from resgen.rendering.generated import write_model
from resgen.spec.models import Spec

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

pytestmark = pytest.mark.reference

TYPES = [kind.KIND.type for kind in attention.KINDS]
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def spec_of(kind: str, block: str) -> Spec:
    """timm's ResNet(block, layers=[1, 1, 1, 1], num_classes=10) with ``attn_layer=kind``."""
    stages = [{"blocks": 1, "channels": c} for c in (64, 128, 256, 512)]
    for stage in stages[1:]:
        stage["stride"] = 2
    return Spec.model_validate(
        {
            "name": f"attn_{kind}_{block}",
            "num_classes": 10,
            "input": {"size": 64},
            "block": {"type": block, "attention": {"type": kind}},
            "stages": stages,
        }
    )


def randomize(model: Any) -> Any:
    """Norms with non-trivial affine parameters and running statistics (timm's defaults are
    ones and zeros, under which a wrong statistic would go unseen)."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d | torch.nn.LayerNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.running_mean.shape) * 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape) + 0.5)
            if isinstance(module, torch.nn.Conv1d | torch.nn.Conv2d) and module.bias is not None:
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
    return model.eval()


@pytest.mark.parametrize("block", ["basic", "bottleneck"])
@pytest.mark.parametrize("kind", TYPES)
def test_each_attention_kind_equals_timm(kind: str, block: str, tmp_path: Path) -> None:
    from timm.models.resnet import BasicBlock, Bottleneck, ResNet

    spec = spec_of(kind, block)
    path = write_model(tmp_path / f"{spec.name}.yaml", spec, "torch", tmp_path)
    ours = getattr(import_file(path, f"attention_{kind}_{block}"), spec.name)().eval()
    torch.manual_seed(0)
    theirs = ResNet(
        block=BasicBlock if block == "basic" else Bottleneck,
        layers=[1, 1, 1, 1],
        num_classes=10,
        block_args={"attn_layer": kind},
    )
    theirs = randomize(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    torch.manual_seed(1)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), **TOLERANCE)
        maps, their_maps = ours.forward_intermediates(x)[1], theirs.forward_intermediates(x)[1]
        for mine, reference in zip(maps, their_maps, strict=True):
            torch.testing.assert_close(mine, reference, **TOLERANCE)
