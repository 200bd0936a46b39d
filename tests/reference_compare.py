"""Comparing a generated PyTorch model with the library model it reproduces (timm, torchvision).

Shared by the tests marked ``reference`` (run by scripts/check_references.sh in the reference
environment). The library's model gets random norm parameters and measured running statistics
(timm zero-inits each branch's last norm, which would hide the branch); its state_dict loads
strictly into the generated model, and eval-mode outputs on another batch are compared.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import pytest
from helpers import build_generated

TOLERANCE = 1e-5


def library(name: str) -> ModuleType:
    """Import torchvision or timm, or skip: against a CPU-only torch their ops fail to load."""
    try:
        return importlib.import_module(name)
    except (ImportError, RuntimeError, OSError) as error:
        pytest.skip(f"{name} does not import here ({error}); run scripts/check_references.sh")


def randomize_norms(model: Any, size: int, torch: ModuleType) -> None:
    """Random affine parameters in every batch and group norm (and EvoNorm's v, FRN's tau), and
    running statistics measured on a random batch (a cumulative average), so activations stay
    near unit scale at any depth.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
            elif hasattr(module, "apply_act"):  # timm's EvoNorm2dS0, FilterResponseNormTlu2d
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
                for extra, low in (("v", 0.5), ("tau", -0.5)):
                    if getattr(module, extra, None) is not None:
                        getattr(module, extra).uniform_(low, low + 1)
            if isinstance(module, torch.nn.BatchNorm2d):
                module.reset_running_stats()
                module.momentum = None
        model.train()
        model(torch.randn(4, 3, size, size))
    model.eval()


def compare(
    reference: Any, name: str, size: int, torch: ModuleType, *, share: bool = False
) -> float:
    """Load the reference's weights strictly into the generated model; the outputs' max gap.

    With ``share`` the generated model is built on the meta device and takes the reference's
    own tensors (``assign=True``): no second copy of the weights, for the models too large to
    hold twice (resnetv2_152x4_bit: 936M parameters, 3.7 GB each).

    Where the reference cannot run at this size (timm's average-pool anti-aliasing needs an even
    map before every strided block), the generated model must refuse it too: the gap is 0.
    """
    x = torch.randn(2, 3, size, size)
    try:
        randomize_norms(reference, size, torch)
    except RuntimeError:
        ours = build_generated("torch", name).eval()
        ours.load_state_dict(reference.state_dict(), strict=True)
        with pytest.raises(RuntimeError), torch.no_grad():
            ours(x)
        print(f"{name} @ {size}px: the reference and ours both refuse this size")
        return 0.0
    if share:
        with torch.device("meta"):
            ours = build_generated("torch", name).eval()
        ours.load_state_dict(reference.state_dict(), strict=True, assign=True)
        left = [n for n, t in (*ours.named_parameters(), *ours.named_buffers()) if t.is_meta]
        assert not left, f"not in the state_dict: {left}"
    else:
        ours = build_generated("torch", name).eval()
        ours.load_state_dict(reference.state_dict(), strict=True)
    with torch.no_grad():
        expected, actual = reference(x), ours(x)
    assert actual.shape == expected.shape == (2, 1000)
    gap = (actual - expected).abs().max().item()
    scale = expected.abs().max().item()
    print(f"{name} @ {size}px: max |ours - reference| = {gap:.3g} (outputs up to {scale:.3g})")
    return gap
