"""The one naming authority: every layer name a generated file, the plan and transfer use.

PyTorch follows torchvision (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0``,
``fc``) so torchvision checkpoints load strictly; the deep stem follows timm (``conv1.0`` ...
``conv1.6``). Keras follows keras.applications (``conv1_conv``, ``conv2_block1_1_conv``,
``conv2_block1_0_conv``, ``predictions``) so its weights load by layer name. Pre-activation
blocks add ``preact_bn`` (keras ``_preact_bn``) and networks end with ``post_bn``.

The two schemes map one to one: a PyTorch module path names one Keras layer, so weights move by
name alone (:mod:`resgen.transfer`). Keras names inside a block are the block's name plus a
suffix (``conv2_block1`` + ``_1_relu``), built at run time by the generated block function; the
suffixes live here too (:class:`KerasSuffixes`).
"""

from __future__ import annotations

from dataclasses import dataclass

# --- Keras suffixes (keras.applications) -------------------------------------------------------
CONV = "_conv"
NORM = "_bn"
PAD = "_pad"
POOL = "_pool"
RELU = "_relu"
ADD = "_add"
OUT = "_out"
PREACT = "_preact"
SHORTCUT = "_0"
BLOCK = "_block"  # the shortcut's layers: ``_0_conv``, ``_0_bn``, ``_0_pad``, ``_0_pool``

# --- Whole-network layers: (PyTorch attribute, Keras layer) ------------------------------------
STEM_ACTIVATION = "relu"  # PyTorch: the one ReLU module a network or block reuses
STEM_POOL = ("maxpool", "pool1" + POOL)
STEM_POOL_PAD = ("pool_pad", "pool1" + PAD)
KERAS_INPUT = "input_layer"
FINAL_NORM = ("post_bn", "post" + NORM)  # pre-activation networks' last norm
GLOBAL_POOL = ("avgpool", "avg" + POOL)
KERAS_MAX_POOL = "max" + POOL  # keras.applications' ``pooling="max"`` without the top
DROPOUT = ("dropout", "top_dropout")
CLASSIFIER = ("fc", "predictions")

# (torch conv, keras conv, torch norm, keras norm) for each stem conv.
_STEM_NAMES: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "imagenet": (("conv1", "conv1" + CONV, "bn1", "conv1" + NORM),),
    "cifar": (("conv1", "conv1" + CONV, "bn1", "conv1" + NORM),),
    "deep": (
        ("conv1.0", "conv1_1" + CONV, "conv1.1", "conv1_1" + NORM),
        ("conv1.3", "conv1_2" + CONV, "conv1.4", "conv1_2" + NORM),
        ("conv1.6", "conv1_3" + CONV, "bn1", "conv1" + NORM),
    ),
}


def stem_names(kind: str) -> tuple[tuple[str, str, str, str], ...]:
    """Names of the stem's convs and norms, in order."""
    return _STEM_NAMES[kind]


def stem_kinds() -> tuple[str, ...]:
    return tuple(_STEM_NAMES)


def stage_names(stage: int) -> tuple[str, str]:
    """``layer1`` / ``conv2`` for the first stage (keras counts the stem as ``conv1``)."""
    return f"layer{stage}", f"conv{stage + 1}"


def keras_prefix(keras_name: str) -> str:
    """A conv's or norm's Keras name without its suffix: the ``name`` its helper takes."""
    return keras_name.removesuffix(CONV).removesuffix(NORM)


@dataclass(frozen=True)
class TorchBlockAttributes:
    """Attribute names inside a PyTorch block class (``self.conv1``, ``self.downsample``)."""

    @staticmethod
    def conv(k: int) -> str:
        return f"conv{k}"

    @staticmethod
    def norm(k: int) -> str:
        return f"bn{k}"

    preact_norm: str = "preact_bn"
    shortcut: str = "downsample"
    act: str = STEM_ACTIVATION

    def shortcut_conv(self, *, pooled: bool) -> str:
        """The projection conv inside ``downsample``: ``.0``, or ``.1`` after ResNet-D's pool."""
        return f"{self.shortcut}.{1 if pooled else 0}"

    def shortcut_norm(self, *, pooled: bool) -> str:
        return f"{self.shortcut}.{2 if pooled else 1}"


@dataclass(frozen=True)
class KerasSuffixes:
    """Suffixes of Keras layer names, appended to a block's (or a helper's) name at run time.

    ``branch(k)`` is the ``name`` the ``conv2d``/``batch_norm`` helpers take for the k-th
    branch conv and its norm (they append ``conv``/``norm``); the rest end whole layer names.
    """

    conv: str = CONV
    norm: str = NORM
    pad: str = PAD
    pool: str = POOL
    relu: str = RELU
    add: str = ADD
    out: str = OUT
    preact: str = PREACT
    preact_relu: str = PREACT + RELU
    shortcut: str = SHORTCUT
    shortcut_pad: str = SHORTCUT + PAD
    shortcut_pool: str = SHORTCUT + POOL
    block: str = BLOCK  # a stage's blocks: ``<stage>_block1`` on

    @staticmethod
    def branch(k: int) -> str:
        return f"_{k}"

    @staticmethod
    def branch_relu(k: int) -> str:
        return f"_{k}{RELU}"


TORCH_BLOCK = TorchBlockAttributes()
KERAS = KerasSuffixes()


@dataclass(frozen=True)
class BlockNames:
    """Full names of one block's layers (``stage`` is 1-based, ``index`` 0-based)."""

    torch: str
    keras: str

    def conv(self, k: int) -> tuple[str, str]:
        return f"{self.torch}.{TORCH_BLOCK.conv(k)}", f"{self.keras}{KERAS.branch(k)}{CONV}"

    def norm(self, k: int) -> tuple[str, str]:
        return f"{self.torch}.{TORCH_BLOCK.norm(k)}", f"{self.keras}{KERAS.branch(k)}{NORM}"

    @property
    def preact_norm(self) -> tuple[str, str]:
        return f"{self.torch}.{TORCH_BLOCK.preact_norm}", f"{self.keras}{PREACT}{NORM}"

    def projection(self, *, avg: bool) -> tuple[str, str, str, str]:
        """Shortcut conv and norm: ``downsample.0/.1``, or ``.1/.2`` after ResNet-D's pool."""
        return (
            f"{self.torch}.{TORCH_BLOCK.shortcut_conv(pooled=avg)}",
            f"{self.keras}{SHORTCUT}{CONV}",
            f"{self.torch}.{TORCH_BLOCK.shortcut_norm(pooled=avg)}",
            f"{self.keras}{SHORTCUT}{NORM}",
        )

    @property
    def keras_out(self) -> str:
        """The block's output layer (``conv2_block3_out``)."""
        return f"{self.keras}{OUT}"


def block_names(stage: int, index: int) -> BlockNames:
    torch_stage, keras_stage = stage_names(stage)
    return BlockNames(torch=f"{torch_stage}.{index}", keras=f"{keras_stage}{BLOCK}{index + 1}")
