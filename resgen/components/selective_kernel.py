"""timm's selective-kernel conv (``timm.layers.SelectiveKernel``; Li et al. 2019, "Selective
Kernel Networks"), as the two SK block kinds (``block/sk_basic.py``, ``block/sk_bottleneck.py``)
declare, plan, name and check it.

The conv has one path per entry of ``kernel_size`` (timm's default ``[3, 5]``); with
``keep_3x3`` every path is a 3x3 whose dilation is ``(k - 1) // 2`` (a 5x5 becomes a 3x3 of
dilation 2). Each path is a ConvNormAct (conv, batch norm, ReLU) reading the whole input, or
with ``split_input`` its own share of the channels. The attention (``SelectiveKernelAttn``)
sums the paths, takes each channel's mean, and runs a 1x1 conv to ``attn_channels``, batch norm,
ReLU and a 1x1 conv to one logit per path and channel; a softmax over the paths weighs their
sum. ``attn_channels`` is timm's ``make_divisible(channels * rd_ratio, rd_divisor)``.

timm's module names: ``paths.<i>.conv``, ``paths.<i>.bn``, ``attn.fc_reduce``, ``attn.bn``,
``attn.fc_select`` under the block's ``conv<k>``; the block's other convs are ConvNormActs too
(``conv<k>.conv``, ``conv<k>.bn``). Keras names append to the block's ``_<k>``: ``_path<i + 1>``
(``_conv``, ``_bn``, ``_relu``), ``_sk_reduce_conv``, ``_sk_bn``, ``_sk_select_conv`` and the
weightless ``_sk_sum``, ``_sk_squeeze``, ``_sk_relu``, ``_sk_logits``, ``_sk_softmax``; a
ConvNormAct is lettered as RegNet's are (``_a``, ``_b``, ``_c`` with ``_conv``, ``_bn``,
``_relu``): one PyTorch path ``conv<k>.conv`` names one Keras layer in every kind, and
``_<k>_conv`` already names a plain conv.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from resgen.components import naming
from resgen.components.layers import Conv, Norm

# A rule's finding, as block kinds report them (``resgen.components.block.base.Finding``).
Finding = tuple[tuple[str | int, ...], str]
# The network's norm over (PyTorch path, Keras name, channels): ``BranchContext.norm``.
MakeNorm = Callable[[str, str, int], Norm]

KERNEL_SIZE = (3, 5)  # timm's default: a 3x3 path and a 5x5 one (a dilated 3x3 with keep_3x3)
MAX_PATHS = 4
ROUND_LIMIT = 0.9  # timm's make_divisible never rounds down by more than 10%

# PyTorch attributes inside a block's ``conv<k>`` (timm's) and the Keras suffixes after the
# block's ``_<k>`` (one Keras layer per PyTorch path).
PATHS = "paths"
ATTN = "attn"


@dataclass(frozen=True)
class KerasSuffixes:
    """What the Keras helpers append to a selective-kernel conv's name (``conv2_block1_1``)."""

    path: str = "_path"  # + the path's number from 1, then ``_conv``, ``_bn``, ``_relu``
    subsample: str = "_subsample"  # after a path's name: a strided path of even dilation
    sum: str = "_sk_sum"
    squeeze: str = "_sk_squeeze"
    reduce: str = "_sk_reduce"  # the conv2d helper's name: ``_sk_reduce_conv``
    norm: str = "_sk"  # the batch_norm helper's name: ``_sk_bn``
    relu: str = "_sk_relu"
    select: str = "_sk_select"  # ``_sk_select_conv``
    logits: str = "_sk_logits"
    softmax: str = "_sk_softmax"


KERAS = KerasSuffixes()


# --- the spec's fields (each SK kind's Spec lists them) ---------------------------------------


def kernel_size_field() -> Any:
    return Field(
        list(KERNEL_SIZE),
        min_length=2,
        max_length=MAX_PATHS,
        description="One path per kernel size, each odd and at least 3 (timm: `sk_kwargs` "
        "`kernel_size`, default [3, 5]).",
    )


KernelSize = list[Annotated[int, Field(ge=3, le=15)]]


def keep_3x3_field() -> Any:
    return Field(
        True,
        description="Every path is a 3x3 whose dilation is (k - 1) // 2 for kernel size k (a 5x5 "
        "becomes a 3x3 of dilation 2); false: k x k convs (timm: `keep_3x3`).",
    )


def split_input_field() -> Any:
    return Field(
        True,
        description="Each path reads its own equal share of the input channels, not all of them "
        "(timm: `split_input`).",
    )


def rd_ratio_field() -> Any:
    return Field(
        1 / 16,
        gt=0,
        le=1,
        description="The attention's width is channels * rd_ratio, rounded by rd_divisor "
        "(timm: `rd_ratio`).",
    )


def rd_divisor_field() -> Any:
    return Field(
        8,
        ge=1,
        le=1024,
        description="The attention's width is rounded to the nearest multiple of this (halves "
        "up), never below it and never more than 10% down (timm: `rd_divisor`, "
        "make_divisible).",
    )


# --- knobs --------------------------------------------------------------------------------------


def make_divisible(value: float, divisor: int) -> int:
    """timm's ``make_divisible(value, divisor)``: the nearest multiple of ``divisor`` (halves
    up), at least ``divisor``, one multiple more where that loses over 10% of ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < ROUND_LIMIT * value else rounded


@dataclass(frozen=True)
class SelectiveKernelKnobs:
    """The selective-kernel conv's settings (timm's ``sk_kwargs``); the SK kinds' knobs mix
    them in (this module imports no block kind, so the kinds can import it)."""

    groups: int = 1
    kernel_size: tuple[int, ...] = KERNEL_SIZE
    keep_3x3: bool = True
    split_input: bool = True
    rd_ratio: float = 1 / 16
    rd_divisor: int = 8

    @property
    def paths(self) -> tuple[tuple[int, int], ...]:
        """(kernel, dilation) of each path, at the block's dilation 1."""
        if self.keep_3x3:
            return tuple((3, (k - 1) // 2) for k in self.kernel_size)
        return tuple((k, 1) for k in self.kernel_size)

    @property
    def keras(self) -> KerasSuffixes:
        return KERAS

    def attn_channels(self, channels: int) -> int:
        return make_divisible(channels * self.rd_ratio, self.rd_divisor)

    def conv_phrase(self) -> str:
        """The selective-kernel conv in words."""
        paths = " and ".join(_path_words(kernel, rate) for kernel, rate in self.paths)
        read = "each on its share of the input" if self.split_input else "each on all the input"
        grouped = f", in {self.groups} groups" if self.groups > 1 else ""
        return (
            f"a selective-kernel conv ({paths}, {read}{grouped}; a softmax over the paths "
            f"from an attention of width channels * {self.rd_ratio:g} in multiples of "
            f"{self.rd_divisor})"
        )


def _path_words(kernel: int, rate: int) -> str:
    dilated = f" of dilation {rate}" if rate > 1 else ""
    return f"a {kernel}x{kernel} path{dilated}"


def knobs_of(spec: Any, groups: int = 1) -> dict[str, Any]:
    """The selective-kernel knobs' values from a block spec."""
    return {
        "groups": groups,
        "kernel_size": tuple(spec.kernel_size),
        "keep_3x3": spec.keep_3x3,
        "split_input": spec.split_input,
        "rd_ratio": spec.rd_ratio,
        "rd_divisor": spec.rd_divisor,
    }


# --- the planned layers ---------------------------------------------------------------------


def conv_norm(
    names: naming.BlockNames, k: int, shape: tuple[int, int, int], size: int, norm: MakeNorm
) -> tuple[Conv, Norm]:
    """A ConvNormAct ``conv<k>`` ((in, out, kernel), stride 1, no bias) and its norm."""
    cin, cout, kernel = shape
    conv = Conv(
        *names.branch_layer(f"conv{k}.conv", f"{naming.KERAS.lettered(k)}{naming.CONV}"),
        in_channels=cin,
        out_channels=cout,
        kernel=kernel,
        stride=1,
        groups=1,
        bias=False,
        in_size=size,
    )
    return conv, norm(
        *names.branch_layer(f"conv{k}.bn", f"{naming.KERAS.lettered(k)}{naming.NORM}"), cout
    )


def selective_kernel(
    names: naming.BlockNames,
    k: int,
    knobs: SelectiveKernelKnobs,
    channels: tuple[int, int],
    stride: int,
    size: int,
    norm: MakeNorm,
) -> tuple[list[Conv | Norm], int]:
    """The layers of the selective-kernel conv ``conv<k>`` from ``channels`` (in, out), in
    timm's registration order, and the map size after it."""
    in_channels, out_channels = channels
    paths = knobs.paths
    path_in = in_channels // len(paths) if knobs.split_input else in_channels
    groups = min(out_channels, knobs.groups)
    layers: list[Conv | Norm] = []
    out_size = size
    for i, (kernel, _) in enumerate(paths):
        torch_path, keras_path = f"conv{k}.{PATHS}.{i}", f"_{k}{KERAS.path}{i + 1}"
        conv = Conv(
            *names.branch_layer(f"{torch_path}.conv", f"{keras_path}{naming.CONV}"),
            in_channels=path_in,
            out_channels=out_channels,
            kernel=kernel,
            stride=stride,
            groups=groups,
            bias=False,
            in_size=size,
        )
        path_norm = norm(
            *names.branch_layer(f"{torch_path}.bn", f"{keras_path}{naming.NORM}"), out_channels
        )
        layers += [conv, path_norm]
        out_size = conv.out_size
    attn = knobs.attn_channels(out_channels)
    for torch_name, keras_suffix, cin, cout in (
        ("fc_reduce", KERAS.reduce, out_channels, attn),
        ("fc_select", KERAS.select, attn, out_channels * len(paths)),
    ):
        conv = Conv(
            *names.branch_layer(f"conv{k}.{ATTN}.{torch_name}", f"_{k}{keras_suffix}{naming.CONV}"),
            in_channels=cin,
            out_channels=cout,
            kernel=1,
            stride=1,
            groups=1,
            bias=False,
            in_size=1,  # the channels' means
        )
        layers.append(conv)
        if torch_name == "fc_reduce":
            norm_names = names.branch_layer(f"conv{k}.{ATTN}.bn", f"_{k}{KERAS.norm}{naming.NORM}")
            layers.append(norm(*norm_names, attn))
    return layers, out_size


def weights(names: naming.BlockNames, k: int) -> list[tuple[str, str, str]]:
    """The weighted layers of a selective-kernel conv ``conv<k>`` with up to MAX_PATHS paths:
    (layer kind, PyTorch path, Keras name)."""
    out: list[tuple[str, str, str]] = []
    for i in range(MAX_PATHS):
        torch_path, keras_path = f"conv{k}.{PATHS}.{i}", f"_{k}{KERAS.path}{i + 1}"
        out.append(
            ("conv", *names.branch_layer(f"{torch_path}.conv", f"{keras_path}{naming.CONV}"))
        )
        out.append(("norm", *names.branch_layer(f"{torch_path}.bn", f"{keras_path}{naming.NORM}")))
    reduce, select = f"_{k}{KERAS.reduce}{naming.CONV}", f"_{k}{KERAS.select}{naming.CONV}"
    out.append(("conv", *names.branch_layer(f"conv{k}.{ATTN}.fc_reduce", reduce)))
    out.append(
        ("norm", *names.branch_layer(f"conv{k}.{ATTN}.bn", f"_{k}{KERAS.norm}{naming.NORM}"))
    )
    out.append(("conv", *names.branch_layer(f"conv{k}.{ATTN}.fc_select", select)))
    return out


def conv_norm_weights(names: naming.BlockNames, k: int) -> list[tuple[str, str, str]]:
    """A ConvNormAct ``conv<k>``'s conv and norm."""
    return [
        ("conv", *names.branch_layer(f"conv{k}.conv", f"{naming.KERAS.lettered(k)}{naming.CONV}")),
        ("norm", *names.branch_layer(f"conv{k}.bn", f"{naming.KERAS.lettered(k)}{naming.NORM}")),
    ]


# --- rules ----------------------------------------------------------------------------------------


def check(spec: Any, sk_types: tuple[str, ...]) -> list[Finding]:
    """What timm's SelectiveKernel (as the SK blocks build it) or the Keras twin cannot do."""
    block = spec.block
    found: list[Finding] = []
    for i, kernel in enumerate(block.kernel_size):
        if kernel % 2 == 0:
            found.append(
                (
                    ("block", "kernel_size", i),
                    f"kernel size {kernel} is even; timm's paths take odd kernels (3, 5, 7, ...)",
                )
            )
        elif block.keep_3x3 and (kernel - 1) // 2 > 1 and (kernel - 1) // 2 % 2:
            found.append(
                (
                    ("block", "kernel_size", i),
                    f"with keep_3x3 a kernel of {kernel} is a 3x3 of odd dilation "
                    f"{(kernel - 1) // 2}, which the Keras file cannot run at stride 2 (Keras "
                    "strides or dilates a conv, not both); use 3, 5, 9 or 13, or keep_3x3: false",
                )
            )
    if spec.anti_alias != "none":
        found.append(
            (
                ("anti_alias",),
                f"{block.type} blocks take no anti-aliasing (timm puts a pool in "
                "each path of the selective-kernel conv); set it to none",
            )
        )
    if spec.norm.type != "batch":
        found.append(
            (
                ("norm", "type"),
                f"{block.type} blocks use batch norm (timm's SelectiveKernelAttn "
                "always does); set it to batch",
            )
        )
    if spec.conv_bias != "none":
        found.append(
            (
                ("conv_bias",),
                f"{block.type} blocks' convs have no bias (timm's ConvNormAct); set it to none",
            )
        )
    if spec.activation != "relu":
        found.append(
            (
                ("activation",),
                f"{block.type} blocks use ReLU (timm's selective-kernel "
                "attention always does); set it to relu",
            )
        )
    kinds = {stage.block_type or block.type for stage in spec.stages}
    if len(kinds & set(sk_types)) > 1:
        found.append(
            (
                ("stages",),
                "a network takes one selective-kernel block kind; its stages mix "
                f"{' and '.join(sorted(kinds & set(sk_types)))}",
            )
        )
    return found


def check_split(
    knobs: SelectiveKernelKnobs, in_channels: int, out_channels: int, where: str
) -> str | None:
    """Why the selective-kernel conv of ``in_channels`` to ``out_channels`` cannot be built
    (each path's input splits evenly, and its groups divide it), or None."""
    paths = len(knobs.paths)
    if knobs.split_input and in_channels % paths:
        return (
            f"{where} has {in_channels} input channels, which split_input cannot share among "
            f"{paths} paths"
        )
    path_in = in_channels // paths if knobs.split_input else in_channels
    groups = min(out_channels, knobs.groups)
    if path_in % groups or out_channels % groups:
        return (
            f"{where}'s paths read {path_in} and write {out_channels} channels, which "
            f"{groups} groups do not divide"
        )
    return None
