"""The two naming schemes resgen emits, and the one-to-one map between them.

PyTorch follows torchvision (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0``,
``fc``) so torchvision checkpoints load strictly; the deep stem follows timm (``conv1.0`` ...
``conv1.6``). Keras follows keras.applications (``conv1_conv``, ``conv2_block1_1_conv``,
``conv2_block1_0_conv``, ``predictions``) so its weights load by layer name. Pre-activation
blocks add ``preact_bn`` (keras ``_preact_bn``) and networks end with ``post_bn``.
"""

from __future__ import annotations

from dataclasses import dataclass

# (torch conv, keras conv, torch norm, keras norm) for each stem conv.
_STEM_NAMES: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "imagenet": (("conv1", "conv1_conv", "bn1", "conv1_bn"),),
    "cifar": (("conv1", "conv1_conv", "bn1", "conv1_bn"),),
    "deep": (
        ("conv1.0", "conv1_1_conv", "conv1.1", "conv1_1_bn"),
        ("conv1.3", "conv1_2_conv", "conv1.4", "conv1_2_bn"),
        ("conv1.6", "conv1_3_conv", "bn1", "conv1_bn"),
    ),
}


def stem_names(kind: str) -> tuple[tuple[str, str, str, str], ...]:
    """Names of the stem's convs and norms, in order."""
    return _STEM_NAMES[kind]


def stage_names(stage: int) -> tuple[str, str]:
    """``layer1`` / ``conv2`` for the first stage (keras counts the stem as ``conv1``)."""
    return f"layer{stage}", f"conv{stage + 1}"


@dataclass(frozen=True)
class BlockNames:
    """Name builder for one block (``stage`` is 1-based, ``index`` 0-based)."""

    torch: str
    keras: str

    def conv(self, k: int) -> tuple[str, str]:
        return f"{self.torch}.conv{k}", f"{self.keras}_{k}_conv"

    def norm(self, k: int) -> tuple[str, str]:
        return f"{self.torch}.bn{k}", f"{self.keras}_{k}_bn"

    @property
    def preact_norm(self) -> tuple[str, str]:
        return f"{self.torch}.preact_bn", f"{self.keras}_preact_bn"

    def projection(self, *, avg: bool) -> tuple[str, str, str, str]:
        """Shortcut conv and norm: ``downsample.0/.1``, or ``.1/.2`` after ResNet-D's pool."""
        first = 1 if avg else 0
        return (
            f"{self.torch}.downsample.{first}",
            f"{self.keras}_0_conv",
            f"{self.torch}.downsample.{first + 1}",
            f"{self.keras}_0_bn",
        )


def block_names(stage: int, index: int) -> BlockNames:
    torch_stage, keras_stage = stage_names(stage)
    return BlockNames(torch=f"{torch_stage}.{index}", keras=f"{keras_stage}_block{index + 1}")
