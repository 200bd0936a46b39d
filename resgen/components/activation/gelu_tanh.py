"""GELU's tanh approximation: a registered function of the Keras file."""

from resgen.components.activation.base import ActivationKind

ORDER = 40
KIND = ActivationKind(
    type="gelu_tanh",
    choice="gelu_tanh (the tanh approximation)",
    name="GELU (tanh approximation)",
    torch='nn.GELU(approximate="tanh")',
    keras="gelu_tanh",
    keras_helper="gelu_tanh",
)
