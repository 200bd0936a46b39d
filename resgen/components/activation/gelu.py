"""GELU, exact (with erf): PyTorch's and Keras' default."""

from resgen.components.activation.base import ActivationKind

ORDER = 30
KIND = ActivationKind(
    type="gelu",
    choice="gelu (exact, with erf)",
    name="GELU",
    torch="nn.GELU()",
    keras='"gelu"',
)
