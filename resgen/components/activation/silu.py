"""SiLU (swish)."""

from resgen.components.activation.base import ActivationKind

ORDER = 20
KIND = ActivationKind(
    type="silu",
    choice="silu (swish)",
    name="SiLU",
    torch="nn.SiLU(inplace=True)",
    keras='"silu"',
)
