"""Each activation kind (resgen/components/activation/): the PyTorch module its files construct
computes its published formula, and only a kind that says so never outputs a negative value
(what the Keras stem's zero padding relies on). The spec's choices are the registered kinds."""

from __future__ import annotations

import math
import typing

import pytest

from resgen.components import activation
from resgen.spec.models import Spec

torch = pytest.importorskip("torch")

SQRT_2_PI = math.sqrt(2 / math.pi)
FORMULAS = {
    "relu": lambda x: max(0.0, x),
    "silu": lambda x: x / (1 + math.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1 + math.erf(x / math.sqrt(2))),
    "gelu_tanh": lambda x: 0.5 * x * (1 + math.tanh(SQRT_2_PI * (x + 0.044715 * x**3))),
}


def test_the_spec_offers_exactly_the_registered_kinds() -> None:
    choices = typing.get_args(Spec.model_fields["activation"].annotation)
    assert choices == tuple(module.KIND.type for module in activation.KINDS)
    assert set(FORMULAS) == set(choices)


@pytest.mark.parametrize("word", sorted(FORMULAS))
def test_the_module_computes_the_formula(word: str) -> None:
    kind = activation.kind(word)
    module = eval(kind.torch, {"nn": torch.nn})  # the text the generated file prints
    xs = [i / 4 for i in range(-24, 25)]
    with torch.no_grad():
        out = module(torch.tensor(xs, dtype=torch.float64)).tolist()
    for x, y in zip(xs, out, strict=True):
        assert y == pytest.approx(FORMULAS[word](x), abs=1e-12), (word, x)
    assert kind.non_negative == (min(out) >= 0), word
