"""The norm's eps and momentum bounds, justified by float32 arithmetic (with torch).

- eps: batch norm divides by sqrt(var + eps), and differentiating rsqrt(var + eps) multiplies
  by (var + eps)^-1.5; for a channel that never varies (var = 0) that is eps^-1.5, which
  overflows float32 (max 3.4e38), turning gradients into NaN (inf * 0), once eps < 2e-26.
  5e-324 is 0 in float32 outright. The bound, 1e-12, keeps eps^-1.5 at 1e18.
- momentum: Keras keeps 1 - momentum in float32, whose spacing just below 1 is 2^-24 = 6e-8;
  the momentum it really applies, 1 - float32(1 - momentum), is within 0.03% of the spec's at
  the bound, 1e-4, and 0 (running statistics frozen) below about 3e-8.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers import import_file

from resgen.rendering.render import render
from resgen.spec.models import MIN_NORM_EPS, MIN_NORM_MOMENTUM, Spec

torch = pytest.importorskip("torch")


def normalized_with_grads(eps: float, constant: bool) -> tuple[bool, bool]:
    """Batch norm written as its formula (as autodiff frameworks see it), float32: are the
    output and the input's gradient finite?"""
    generator = torch.Generator().manual_seed(0)
    x = torch.full((8, 4), 3.0) if constant else torch.randn(8, 4, generator=generator)
    x.requires_grad_(True)
    mean = x.mean(0)
    var = ((x - mean) ** 2).mean(0)
    y = (x - mean) * torch.rsqrt(var + torch.tensor(eps, dtype=torch.float32))
    (y * torch.randn(y.shape, generator=generator)).sum().backward()
    assert x.grad is not None
    return bool(torch.isfinite(y).all()), bool(torch.isfinite(x.grad).all())


def test_eps_below_2e_26_gives_nan_gradients_for_a_channel_that_never_varies() -> None:
    for eps in (1e-38, 1e-30, 2e-26):
        assert normalized_with_grads(eps, constant=True) == (True, False), eps
        assert normalized_with_grads(eps, constant=False) == (True, True), eps
    for eps in (MIN_NORM_EPS, 1e-5):
        assert normalized_with_grads(eps, constant=True) == (True, True), eps
    assert 1e-20 * float(np.finfo(np.float32).max) > MIN_NORM_EPS**-1.5  # a wide margin


def test_the_smallest_double_is_zero_in_float32_and_batch_norm_divides_by_it() -> None:
    assert np.float32(5e-324) == 0
    norm = torch.nn.BatchNorm2d(2, eps=5e-324).train()
    assert not torch.isfinite(norm(torch.ones(4, 2, 3, 3))).all()


def test_a_generated_model_at_the_eps_bound_stays_finite_on_a_constant_input() -> None:
    spec = Spec.model_validate(
        {
            "name": "tiny",
            "input": {"channels": 3, "size": 8},
            "stem": {"type": "cifar", "channels": 4},
            "block": {"type": "basic"},
            "stages": [{"blocks": 2, "channels": 4}, {"blocks": 1, "channels": 8, "stride": 2}],
            "num_classes": 3,
            "norm": {"eps": MIN_NORM_EPS, "momentum": MIN_NORM_MOMENTUM},
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tiny.py"
        path.write_text(render(spec, "torch", "specs/tiny.yaml"), encoding="utf-8")
        model = import_file(path, "norm_bounds").tiny().train()
    x = torch.zeros(2, 3, 8, 8, requires_grad=True)  # every channel of every norm is constant
    y = model(x)
    (y * torch.randn(y.shape, generator=torch.Generator().manual_seed(0))).sum().backward()
    grads = [p.grad for p in model.parameters()] + [x.grad]
    assert torch.isfinite(y).all() and all(g is not None and torch.isfinite(g).all() for g in grads)


def keras_momentum(momentum: float) -> float:
    """The momentum Keras really applies: its decay 1 - momentum is stored in float32."""
    return float(np.float32(1) - np.float32(1 - momentum))


def test_momentum_at_the_bound_survives_keras_float32_and_smaller_ones_do_not() -> None:
    assert abs(keras_momentum(MIN_NORM_MOMENTUM) / MIN_NORM_MOMENTUM - 1) < 3e-4
    assert abs(keras_momentum(0.01) / 0.01 - 1) < 1e-5  # keras.applications' 0.99
    assert abs(keras_momentum(1e-6) / 1e-6 - 1) > 1e-2
    assert keras_momentum(2e-8) == 0.0  # running statistics would never move
