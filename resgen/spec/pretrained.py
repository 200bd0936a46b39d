"""How a network's weights expect their images: the spec's ``pretrained`` section, as data.

A checkpoint is only right for images prepared the way it was trained: torchvision's and timm's
weights take RGB scaled to [0, 1], then standardised per channel; keras.applications' ResNet50
weights take BGR in [0, 255] with the ImageNet means subtracted ("caffe" mode) and its ResNetV2
weights RGB scaled to [-1, 1] ("tf" mode). The section states it once; the PyTorch file prints
it as timm's ``PRETRAINED_CFG`` (mean and std on RGB in [0, 1]), the Keras file as
``preprocess_input`` (keras.applications' convention: RGB images in [0, 255]), and ``resgen
train`` normalises with it. Nothing here imports a framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Interpolation = Literal["bilinear", "bicubic", "nearest"]


class PretrainedSpec(BaseModel):
    """The input the weights expect. ``mean`` and ``std`` are per channel, in ``channel_order``,
    in the units of ``scale``: pixels go to [0, ``scale``], then ``(x - mean) / std``."""

    model_config = ConfigDict(  # as resgen.spec.models's models
        extra="forbid", frozen=True, strict=True, allow_inf_nan=False, validate_default=False
    )

    channel_order: Literal["rgb", "bgr"] = Field(
        "rgb",
        description="The channel order the weights expect (keras.applications' ResNet50: bgr).",
    )
    scale: Literal[1, 255] = Field(
        1,
        description="Pixels are first scaled to [0, scale]: 1 for torchvision and timm, 255 for "
        "keras.applications (mean and std are in these units).",
    )
    mean: list[float] = Field(
        list(IMAGENET_MEAN),
        min_length=1,
        max_length=64,
        description="Per-channel mean, subtracted (ImageNet's by default).",
    )
    std: list[Annotated[float, Field(gt=0)]] = Field(
        list(IMAGENET_STD),
        min_length=1,
        max_length=64,
        description="Per-channel standard deviation, divided by (ImageNet's by default).",
    )
    crop_pct: float = Field(
        0.875,
        gt=0,
        le=1,
        description="Evaluation crop: resize the shorter side to size / crop_pct, then take "
        "the centre size x size (timm's crop_pct; torchvision's 224 of 256 is 0.875).",
    )
    interpolation: Interpolation = Field(
        "bilinear", description="The resize's interpolation (timm: `interpolation`)."
    )


@dataclass(frozen=True)
class Preprocessing:
    """The plan's copy of the section, with what each file prints derived from it."""

    channel_order: Literal["rgb", "bgr"]
    scale: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_pct: float
    interpolation: Interpolation
    size: int  # the spec's input size
    channels: int
    given: bool  # the spec states it (``resgen train`` then normalises with it)

    @property
    def bgr(self) -> bool:
        return self.channel_order == "bgr"

    @property
    def unit_mean(self) -> tuple[float, ...]:
        """timm's mean: on RGB in [0, 1]."""
        return _rgb(tuple(_round(v / self.scale) for v in self.mean), self.bgr)

    @property
    def unit_std(self) -> tuple[float, ...]:
        """timm's std: on RGB in [0, 1]."""
        return _rgb(tuple(_round(v / self.scale) for v in self.std), self.bgr)

    @property
    def timm_cfg(self) -> tuple[tuple[str, object], ...]:
        """``PRETRAINED_CFG``'s items: timm's keys, then the channel order timm assumes."""
        return (
            ("input_size", (self.channels, self.size, self.size)),
            ("interpolation", self.interpolation),
            ("crop_pct", self.crop_pct),
            ("mean", self.unit_mean),
            ("std", self.unit_std),
            ("channel_order", self.channel_order),
        )

    @property
    def keras_factor(self) -> float | None:
        """What multiplies a [0, 255] pixel first (None: nothing, the units are already 255)."""
        return None if self.scale == 255 else self.scale / 255

    @property
    def unit_std_is_one(self) -> bool:
        return all(v == 1 for v in self.std)


def _round(value: float) -> float:
    """A quotient as the file prints it: 12 significant digits (0.4549019607843137 would
    print the float's noise)."""
    return float(f"{value:.12g}")


def _rgb(values: tuple[float, ...], bgr: bool) -> tuple[float, ...]:
    """Per-channel values in RGB order (three channels given in BGR are reversed)."""
    return values[::-1] if bgr and len(values) == 3 else values


def preprocessing(section: PretrainedSpec | None, size: int, channels: int) -> Preprocessing:
    """The plan's preprocessing: the spec's section, or ImageNet's defaults where it has none."""
    given = section is not None
    section = section or PretrainedSpec()
    mean, std = tuple(section.mean), tuple(section.std)
    if not given and channels != len(mean):  # ImageNet's averaged over RGB, per channel
        mean = (_round(sum(mean) / len(mean)),) * channels
        std = (_round(sum(std) / len(std)),) * channels
    return Preprocessing(
        section.channel_order,
        section.scale,
        mean,
        std,
        section.crop_pct,
        section.interpolation,
        size,
        channels,
        given,
    )


def check(section: PretrainedSpec | None, channels: int) -> list[tuple[tuple[str, ...], str]]:
    """Cross-field problems: one mean and std per input channel; BGR needs three."""
    if section is None:
        return []
    problems = []
    for field in ("mean", "std"):
        count = len(getattr(section, field))
        if count != channels:
            message = f"{count} values for {channels} input channels; give one per channel"
            problems.append((("pretrained", field), message))
    if section.channel_order == "bgr" and channels != 3:
        problems.append((("pretrained", "channel_order"), "bgr needs 3 input channels"))
    return problems


def describe(pre: Preprocessing) -> str:
    """The steps in words, for the files' comments and docstrings."""
    steps = ["reverse the channels to BGR"] if pre.bgr else []
    steps.append("scale to [0, 1]" if pre.scale == 1 else "keep [0, 255]")
    steps.append(
        "subtract the mean"
        if all(v == 1 for v in pre.std)
        else "subtract the mean, divide by the std"
    )
    return ", ".join(steps)
