"""RegNet as a rule (Radosavovic et al. 2020, "Designing Network Design Spaces"): a few numbers
generate every stage's width and depth.

A RegNet's block widths are a quantized linear function of the block index ``j`` (0 ... d-1):
``u_j = w0 + wa * j``; each is snapped to the nearest power of ``wm`` over ``w0``,
``s_j = round(log(u_j / w0) / log(wm))``, and ``w_j = round(w0 * wm ** s_j / q) * q`` (``q`` = 8).
Blocks of equal width form a stage. Each stage's bottleneck width (``w * bottle_ratio``) is then
made a multiple of its group width (the group width never exceeding it), and the stage width is
that over the ratio. This is pycls' ``generate_regnet`` and ``adjust_ws_gs_comp`` and timm's
``generate_regnet``, ``adjust_widths_groups_comp`` and ``RegNet._get_stage_args``.

Nothing here imports a framework: the arithmetic is float64, as pycls' numpy (timm repeats it
in float32; the tests hold every RegNet-X and RegNet-Y of timm's listing to these widths).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RegNetStage:
    """One generated stage: its output width, its blocks and the group width of its 3x3."""

    width: int
    depth: int
    group_width: int


def block_widths(depth: int, w0: int, wa: float, wm: float, quant: int = 8) -> list[int]:
    """Every block's width before the group adjustment (the paper's eq. 2-4, pycls'
    ``generate_regnet``)."""
    widths = []
    for j in range(depth):
        continuous = w0 + wa * j
        exponent = round(math.log(continuous / w0) / math.log(wm))
        widths.append(int(round(w0 * wm**exponent / quant) * quant))
    return widths


def quantize(value: float, q: int) -> int:
    """The multiple of ``q`` nearest ``value`` (timm's and pycls' ``quantize_float``)."""
    return int(round(value / q) * q)


def make_divisible(value: int, q: int) -> int:
    """torchvision's rounding (``_make_divisible``, timm's ``group_min_ratio`` models): the
    multiple of ``q`` nearest ``value`` (halves up), at least ``q``, raised by ``q`` where it
    would lose more than a tenth of ``value``."""
    out = max(q, int(value + q / 2) // q * q)
    return out + q if out < 0.9 * value else out


def stages(
    depth: int,
    w0: int,
    wa: float,
    wm: float,
    group_width: int,
    bottle_ratio: float = 1.0,
    quant: int = 8,
    rounding: str = "nearest",
) -> tuple[RegNetStage, ...]:
    """The stages a RegNet's numbers generate: runs of equal block widths, in order, each made
    compatible with its group width (``rounding``: ``nearest``, pycls' and timm's, or
    ``torchvision``'s :func:`make_divisible`)."""
    runs: list[list[int]] = []
    for width in block_widths(depth, w0, wa, wm, quant):
        if runs and runs[-1][0] == width:
            runs[-1][1] += 1
        else:
            runs.append([width, 1])
    out = []
    for width, count in runs:
        bottleneck = int(width * bottle_ratio)
        if bottleneck < 1:  # no channel to group (the rules refuse it)
            out.append(RegNetStage(0, count, group_width))
            continue
        group = min(group_width, bottleneck)
        if rounding == "torchvision":
            bottleneck = make_divisible(bottleneck, group)
        else:
            bottleneck = quantize(bottleneck, group)
        out.append(RegNetStage(int(bottleneck / bottle_ratio), count, group))
    return tuple(out)


def inner_width(width: int, bottle_ratio: float) -> int:
    """A block's bottleneck width: timm's ``int(round(out_chs * bottle_ratio))``."""
    return round(width * bottle_ratio)


def groups(width: int, bottle_ratio: float, group_width: int) -> int:
    """The 3x3's groups: the bottleneck width over the group width, which never exceeds it
    (timm's ``bottleneck_chs // group_size`` after ``adjust_widths_groups_comp``)."""
    inner = inner_width(width, bottle_ratio)
    return inner // min(group_width, inner)
