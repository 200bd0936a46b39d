"""Average anti-aliasing: a 2x2/2 average pool (timm's ``aa_layer=nn.AvgPool2d``, resnetaa*)."""

from resgen.components.anti_alias.base import AntiAliasKind

ORDER = 10
KIND = AntiAliasKind(
    type="avg",
    choice="avg: a 2x2/2 average pool (rounds down: every strided block must start on an even "
    "map).",
    phrase="a 2x2/2 average pool",
    kernel=2,
    padding=0,
    rounding="down",
    macs_per_output=0,
)
