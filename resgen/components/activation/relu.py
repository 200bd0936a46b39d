"""ReLU, torchvision's and timm's default."""

from resgen.components.activation.base import ActivationKind

ORDER = 10
KIND = ActivationKind(
    type="relu",
    choice="relu",
    name="ReLU",
    torch="nn.ReLU(inplace=True)",
    keras='"relu"',
    non_negative=True,
)
