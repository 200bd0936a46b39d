"""Blur anti-aliasing: the [1, 2, 1] x [1, 2, 1] / 16 depthwise filter after reflect padding,
at stride 2 (timm's ``BlurPool2d``, resnetblur*)."""

from resgen.components.anti_alias.base import AntiAliasKind

ORDER = 20
KIND = AntiAliasKind(
    type="blur",
    choice="blur: a [1, 2, 1] x [1, 2, 1] / 16 depthwise filter, reflect-padded, stride 2.",
    phrase="a blur pool",
    kernel=3,
    padding=1,
    rounding="up",
    macs_per_output=3 * 3,  # the filter as a depthwise conv
    dilation_grows=True,
    helper="blur_pool",
)
