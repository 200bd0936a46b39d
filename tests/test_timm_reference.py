"""The generated PyTorch models against timm's own models of the same name (runs where timm does).

timm's weights (freshly initialised, with non-trivial norm statistics: this machine cannot
download checkpoints) load strictly into the committed generated file; then
``forward_intermediates`` (every ``indices`` form), ``forward_features``, ``forward_head`` with
and without ``pre_logits``, ``num_features``, ``num_classes=0`` and ``reset_classifier(0)`` must
give timm's values. Only torch, timm and the generated files are imported, so the reference
environment (scripts/check_references.sh) needs nothing of resgen's.
"""

from __future__ import annotations

import pytest
from helpers import build_generated

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

pytestmark = pytest.mark.reference

# Shipped specs that timm registers under the same name and layout.
NAMES = ("resnet18", "resnet50", "resnet50d", "resnext50_32x4d", "wide_resnet50_2")
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def timm_model(name: str, **kwargs: int) -> torch.nn.Module:
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, **kwargs)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def twins(name: str, **kwargs: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    theirs = timm_model(name, **kwargs)
    ours = build_generated("torch", name, **kwargs).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


@pytest.mark.parametrize("name", NAMES)
def test_forward_intermediates_equal_timm(name: str) -> None:
    ours, theirs = twins(name)
    assert ours.num_features == theirs.num_features
    torch.manual_seed(1)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        for indices in (None, 2, [0, -1], (1, 3)):
            final, maps = ours.forward_intermediates(x, indices=indices)
            their_final, their_maps = theirs.forward_intermediates(x, indices=indices)
            assert [m.shape for m in maps] == [m.shape for m in their_maps], indices
            for mine, reference in zip(maps, their_maps, strict=True):
                torch.testing.assert_close(mine, reference, **TOLERANCE)
            torch.testing.assert_close(final, their_final, **TOLERANCE)
        only = ours.forward_intermediates(x, intermediates_only=True)
        their_only = theirs.forward_intermediates(x, intermediates_only=True)
        assert [m.shape for m in only] == [m.shape for m in their_only]


@pytest.mark.parametrize("name", NAMES)
def test_features_and_head_equal_timm(name: str) -> None:
    ours, theirs = twins(name)
    torch.manual_seed(2)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = ours.forward_features(x)
        torch.testing.assert_close(features, theirs.forward_features(x), **TOLERANCE)
        for pre_logits in (False, True):
            torch.testing.assert_close(
                ours.forward_head(features, pre_logits=pre_logits),
                theirs.forward_head(features, pre_logits=pre_logits),
                **TOLERANCE,
            )
        torch.testing.assert_close(ours(x), theirs(x), **TOLERANCE)
        ours.reset_classifier(0)
        theirs.reset_classifier(0)
        torch.testing.assert_close(ours(x), theirs(x), **TOLERANCE)


@pytest.mark.parametrize("name", NAMES)
def test_no_classifier_equals_timm(name: str) -> None:
    ours, theirs = twins(name, num_classes=0)
    assert isinstance(ours.fc, torch.nn.Identity) and isinstance(theirs.fc, torch.nn.Identity)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), **TOLERANCE)
