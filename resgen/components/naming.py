"""The one naming authority: every layer name a generated file, the plan and transfer use.

PyTorch follows torchvision (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0``,
``fc``) so torchvision checkpoints load strictly; the deep stem follows timm (``conv1.0`` ...
``conv1.6``). Keras follows keras.applications (``conv1_conv``, ``conv2_block1_1_conv``,
``conv2_block1_0_conv``, ``predictions``) so its weights load by layer name. Pre-activation
blocks add ``preact_bn`` (keras ``_preact_bn``) and networks end with ``post_bn``.

The modern knobs take timm's PyTorch names, so timm's state_dicts load strictly: a block's
channel attention is ``se`` (``se.fc1``/``se.fc2`` for squeeze-and-excitation, ``se.conv`` for
ECA), its anti-aliasing pool ``aa``, its stochastic depth ``drop_path``; the stem's pool stays
``maxpool`` whatever replaces it (``maxpool.0`` conv and ``maxpool.1`` norm in ResNet-RS). Their
Keras names follow keras.applications' EfficientNet: ``conv2_block1_se_squeeze``,
``_se_reduce``, ``_se_expand``, ``_se_excite``; ``_eca_conv``; ``_aa``; ``_drop``; and
``pool1_conv``/``pool1_bn`` for the stem's conv pool. Each attention kind composes its names
through :func:`attention_suffix` and :meth:`BlockNames.attention_layer`.

The two schemes map one to one: a PyTorch module path names one Keras layer, so weights move by
name alone (:mod:`resgen.weights.transfer`). Keras names inside a block are the block's name plus a
suffix (``conv2_block1`` + ``_1_relu``), built at run time by the generated block function; the
suffixes live here too (:class:`KerasSuffixes`).

That is the default naming dialect, ``timm`` (timm's ``resnet.py``). Other libraries lay out the
same networks under other PyTorch names (timm's legacy ``senet.py``: ``layer0.conv1``,
``pool0``, ``se_module``, ``last_linear``): each is a :class:`Dialect` listed in
:data:`DIALECTS`, which the spec's ``naming`` picks and the planner asks for every name.
"""

from __future__ import annotations

import re
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
ACT = "_act"  # an activation other than ReLU (``conv1_act``, ``conv2_block1_1_act``)
AA = "_aa"  # the anti-aliasing pool that takes a block's (or the stem's) stride
DROP = "_drop"  # stochastic depth on a block's branch

# --- Whole-network layers: (PyTorch attribute, Keras layer) ------------------------------------
STEM_ACTIVATION = "relu"  # PyTorch: the one ReLU module a network or block reuses
STEM_POOL = ("maxpool", "pool1" + POOL)
STEM_POOL_PAD = ("pool_pad", "pool1" + PAD)
STEM_POOL_KERAS = "pool1"  # the prefix of the Keras layers of the stem's pool
KERAS_INPUT = "input_layer"
FINAL_NORM = ("post_bn", "post" + NORM)  # pre-activation networks' last norm
GLOBAL_POOL = ("avgpool", "avg" + POOL)
KERAS_MAX_POOL = "max" + POOL  # keras.applications' ``pooling="max"`` without the top
DROPOUT = ("dropout", "top_dropout")
CLASSIFIER = ("fc", "predictions")


def stem_conv_names(count: int) -> tuple[tuple[str, str, str, str], ...]:
    """(PyTorch conv, Keras conv, PyTorch norm, Keras norm) for each of a stem's ``count``
    convs: one is torchvision's ``conv1``/``bn1``; several are timm's ``nn.Sequential``
    ``conv1`` (conv, norm, activation each: ``conv1.0``, ``conv1.1``, ``conv1.3`` ...) whose
    last norm is ``bn1``, Keras ``conv1_1_conv`` ... and ``conv1_bn``."""
    if count == 1:
        return (("conv1", "conv1" + CONV, "bn1", "conv1" + NORM),)
    names = []
    for i in range(count):
        keras = f"conv1_{i + 1}"
        torch_norm, keras_norm = f"conv1.{3 * i + 1}", keras + NORM
        if i == count - 1:
            torch_norm, keras_norm = "bn1", "conv1" + NORM
        names.append((f"conv1.{3 * i}", keras + CONV, torch_norm, keras_norm))
    return tuple(names)


def keras_activation(kind: str) -> str:
    """The suffix of an activation layer's Keras name: ``_relu`` (keras.applications), or
    ``_act`` for any other nonlinearity."""
    return RELU if kind == "relu" else ACT


def torch_activation(kind: str) -> str:
    """The attribute of the activation module a PyTorch network or block reuses: ``relu``
    (torchvision), or ``act`` for any other nonlinearity."""
    return STEM_ACTIVATION if kind == "relu" else "act"


def stem_pool_layer(index: int | None, keras_suffix: str) -> tuple[str, str]:
    """A layer of the stem's pool, (PyTorch path, Keras name): PyTorch ``maxpool`` itself
    (``index`` None) or ``maxpool.<index>`` inside its ``nn.Sequential`` (timm's order:
    ResNet-RS's conv ``maxpool.0``, an anti-aliasing pool ``maxpool.1``, the norm after them; a
    blur stem's 3x3/1 max pool ``maxpool.0``, the blur ``maxpool.1``); Keras ``pool1`` and the
    suffix (``pool1_conv``, ``pool1_aa``, ``pool1_bn``, ``pool1_pool``)."""
    torch_pool = STEM_POOL[0]
    torch_name = torch_pool if index is None else f"{torch_pool}.{index}"
    return torch_name, STEM_POOL_KERAS + keras_suffix


def stage_names(stage: int) -> tuple[str, str]:
    """``layer1`` / ``conv2`` for the first stage (keras counts the stem as ``conv1``)."""
    return f"layer{stage}", f"conv{stage + 1}"


def attention_suffix(kind: str, part: str) -> str:
    """A Keras layer of a block's attention is the block's name, the kind, the part:
    ``conv2_block1`` + ``_se_reduce`` (keras.applications' EfficientNet names SE so)."""
    return f"_{kind}_{part}"


def keras_prefix(keras_name: str) -> str:
    """A conv's or norm's Keras name without its suffix: the ``name`` its helper takes."""
    return keras_name.removesuffix(CONV).removesuffix(NORM)


@dataclass(frozen=True)
class TorchBlockAttributes:
    """Attribute names inside a PyTorch block class (``self.conv1``, ``self.downsample``); a
    naming dialect (:class:`Dialect`) may give others (``se_module`` in timm's legacy SENet)."""

    conv_name: str = "conv{k}"  # the k-th main conv (1-based)
    norm_name: str = "bn{k}"  # the norm after it
    # What the norm after the k-th conv is numbered: k plus this (timm's resnetv2.py numbers a
    # pre-activation block's norms by the conv they lead: ``norm1`` before ``conv1``, so the
    # norm after ``conv1`` is ``norm2``).
    norm_offset: int = 0

    def conv(self, k: int) -> str:
        return self.conv_name.format(k=k)

    def norm(self, k: int) -> str:
        return self.norm_name.format(k=k + self.norm_offset)

    preact_norm: str = "preact_bn"
    shortcut: str = "downsample"
    act: str = STEM_ACTIVATION
    attention: str = "se"  # timm's name for the block's attention module, whatever its kind
    anti_alias: str = "aa"
    drop_path: str = "drop_path"

    # The projection's conv and norm inside ``downsample`` where no pool leads it: None, an
    # nn.Sequential's indices (``.0``, ``.1``, timm's resnet.py), or names (timm's regnet.py:
    # ``conv``, ``bn``, which the file prints as an ``OrderedDict``).
    shortcut_parts: tuple[str, str] | None = None
    # ResNet-D's pool inside a named ``downsample`` (timm's resnetv2.py ``DownsampleAvg``:
    # ``pool``, then ``conv``); None: the pooled projection is an nn.Sequential by index.
    shortcut_pool: str | None = None
    # The block registers its shortcut before its branch (timm's resnetv2.py: ``downsample``
    # first in the state_dict), not after it.
    shortcut_first: bool = False

    def shortcut_conv(self, *, pooled: bool) -> str:
        """The projection conv inside ``downsample``: ``.0``, or ``.1`` after ResNet-D's pool."""
        if self.shortcut_parts and (self.shortcut_pool or not pooled):
            return f"{self.shortcut}.{self.shortcut_parts[0]}"
        return f"{self.shortcut}.{1 if pooled else 0}"

    def shortcut_norm(self, *, pooled: bool) -> str:
        if self.shortcut_parts and (self.shortcut_pool or not pooled):
            return f"{self.shortcut}.{self.shortcut_parts[1]}"
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
    act: str = RELU  # an activation after a branch norm: ``_1_relu`` (``_1_act`` if not ReLU)
    anti_alias: str = AA
    drop_path: str = DROP

    @staticmethod
    def branch(k: int) -> str:
        return f"_{k}"

    def branch_relu(self, k: int) -> str:
        return f"_{k}{self.act}"

    @staticmethod
    def lettered(k: int) -> str:
        """The k-th conv of a branch that names its convs by letter, as pycls' RegNet does
        (``f.a``, ``f.b``, ``f.c``): ``_a`` ..., so its layers never share a numbered
        branch's Keras names."""
        return f"_{chr(ord('a') + k - 1)}"

    def lettered_relu(self, k: int) -> str:
        return f"{self.lettered(k)}{self.act}"


TORCH_BLOCK = TorchBlockAttributes()
KERAS = KerasSuffixes()


@dataclass(frozen=True)
class BlockNames:
    """Full names of one block's layers (``stage`` is 1-based, ``index`` 0-based)."""

    torch: str
    keras: str
    attributes: TorchBlockAttributes = TORCH_BLOCK  # the dialect's names inside the block

    def conv(self, k: int) -> tuple[str, str]:
        return f"{self.torch}.{self.attributes.conv(k)}", f"{self.keras}{KERAS.branch(k)}{CONV}"

    def norm(self, k: int) -> tuple[str, str]:
        return f"{self.torch}.{self.attributes.norm(k)}", f"{self.keras}{KERAS.branch(k)}{NORM}"

    @property
    def preact_norm(self) -> tuple[str, str]:
        return f"{self.torch}.{self.attributes.preact_norm}", f"{self.keras}{PREACT}{NORM}"

    def branch_layer(self, torch_attribute: str, keras_suffix: str) -> tuple[str, str]:
        """Any other layer of a block kind's branch: ``layer1.0`` + ``.conv2.fc1`` (timm's
        path inside the block) and ``conv2_block1`` + the kind's suffix (``_2_fc1_conv``).
        Kinds name their layers through this, so a PyTorch path names one Keras layer."""
        return f"{self.torch}.{torch_attribute}", f"{self.keras}{keras_suffix}"

    def projection(self, *, avg: bool) -> tuple[str, str, str, str]:
        """Shortcut conv and norm: ``downsample.0/.1``, or ``.1/.2`` after ResNet-D's pool."""
        return (
            f"{self.torch}.{self.attributes.shortcut_conv(pooled=avg)}",
            f"{self.keras}{SHORTCUT}{CONV}",
            f"{self.torch}.{self.attributes.shortcut_norm(pooled=avg)}",
            f"{self.keras}{SHORTCUT}{NORM}",
        )

    @property
    def keras_out(self) -> str:
        """The block's output layer (``conv2_block3_out``)."""
        return f"{self.keras}{OUT}"

    @property
    def attention(self) -> tuple[str, str]:
        """The attention module (``layer1.0.se``) and the prefix of its Keras layers."""
        return f"{self.torch}.{self.attributes.attention}", self.keras

    def attention_layer(self, torch_attribute: str, keras_suffix: str) -> tuple[str, str]:
        """A layer inside the attention module: ``layer1.0.se.fc1`` and the block's name plus
        the kind's suffix (``conv2_block1_se_reduce``, see :func:`attention_suffix`)."""
        torch_name = f"{self.torch}.{self.attributes.attention}.{torch_attribute}"
        return torch_name, f"{self.keras}{keras_suffix}"

    @property
    def anti_alias(self) -> tuple[str, str]:
        return f"{self.torch}.{self.attributes.anti_alias}", f"{self.keras}{AA}"

    @property
    def drop_path(self) -> tuple[str, str]:
        return f"{self.torch}.{self.attributes.drop_path}", f"{self.keras}{DROP}"


def block_names(stage: int, index: int) -> BlockNames:
    """The names of block ``index`` (0-based) of ``stage`` (1-based) in the default dialect
    (:meth:`Dialect.block_names` in another)."""
    return TIMM.block_names(stage, index)


# --- Naming dialects -----------------------------------------------------------------------------

# The numbers a stage's or block's path may hold: ``s``/``b`` count stages and blocks from 1,
# ``s0``/``b0`` from 0.
_PLACES = {
    "s": r"(?P<s>[1-9][0-9]*)",
    "s0": r"(?P<s0>0|[1-9][0-9]*)",
    "b": r"(?P<b>[1-9][0-9]*)",
    "b0": r"(?P<b0>0|[1-9][0-9]*)",
}


@dataclass(frozen=True)
class Dialect:
    """One library's PyTorch names for a network's modules; the spec's ``naming`` picks one.

    ``timm`` (the default) is torchvision's and timm's ``resnet.py``, as described above.
    Another dialect renames the PyTorch side: Keras names stay keras.applications-style (but
    where a stem's Sequential names each norm after its conv, so does Keras), so a PyTorch
    path still names one Keras layer of a model and :mod:`resgen.weights.transfer` pairs the paths
    of every dialect.

    - ``stem``: None keeps the stem's layers as the network's attributes (``conv1``, ``bn1``,
      ``relu``; the deep stem's ``conv1`` Sequential); a name holds them in one
      ``nn.Sequential`` of that name whose children are ``stem_conv``, ``stem_norm`` and
      ``stem_act`` with ``{i}`` the conv's number from 1 and ``{act}`` the activation's
      attribute (legacy SENet: ``layer0.conv1``, ``layer0.bn1``, ``layer0.relu1``);
    - ``stem_pool``: the stem pool's attribute (``maxpool``; legacy SENet: ``pool0``);
    - ``stage``: a stage's path, and ``block`` a block's path in it (``{stage}`` the stage's),
      with ``{s}``/``{s0}`` the stage's and ``{b}``/``{b0}`` the block's number counted from 1
      or 0 (``layer{s}`` and ``{stage}.{b0}``: ``layer1.0``);
    - ``block_attributes``: the names inside a block class (:class:`TorchBlockAttributes`:
      convs, norms, ``downsample``, the attention module, ...);
    - ``final_norm``, ``global_pool``, ``classifier``: the head's attributes.

    Paths with a dot (``stem.conv``, ``head.fc``) are for the templates of the family that
    adds such a dialect to print.
    """

    name: str
    description: str  # its words in the spec field's description
    follows: str = "torchvision and timm"  # whose checkpoints load (the file's docstring)
    stem: str | None = None
    stem_conv: str = "conv{i}"
    stem_norm: str = "bn{i}"
    stem_act: str = "{act}{i}"
    stem_one_conv: str | None = None  # a one-conv stem's conv in the Sequential (``conv``)
    stem_pool: str = STEM_POOL[0]
    stem_pool_pad: str = STEM_POOL_PAD[0]  # the zero padding before a zero-padded max pool
    stage: str = "layer{s}"
    block: str = "{stage}.{b0}"
    block_attributes: TorchBlockAttributes = TORCH_BLOCK
    final_norm: str = FINAL_NORM[0]
    global_pool: str = GLOBAL_POOL[0]
    classifier: str = CLASSIFIER[0]
    # The classifier is a 1x1 conv with a bias on the pooled map (timm's ClassifierHead with
    # ``use_conv=True``: weight ``(classes, features, 1, 1)``), not an ``nn.Linear``.
    classifier_conv: bool = False

    def stem_names(self, count: int) -> tuple[tuple[str, str, str, str], ...]:
        """(torch conv, keras conv, torch norm, keras norm) of each of a stem's ``count`` convs:
        :func:`stem_conv_names`, or their places in the dialect's stem ``nn.Sequential``."""
        names = stem_conv_names(count)
        if self.stem is None:
            return names
        # Each norm is its conv's on both sides (``layer0.bn3`` is ``conv1_3_bn``, not the deep
        # stem's ``conv1_bn``, which a one-conv stem's ``layer0.bn1`` names).
        if count == 1 and self.stem_one_conv:
            only = f"{self.stem}.{self.stem_one_conv}"
            return ((only, names[0][1], self._in_stem(self.stem_norm, 1), names[0][3]),)
        return tuple(
            (
                self._in_stem(self.stem_conv, i),
                conv,
                self._in_stem(self.stem_norm, i),
                keras_prefix(conv) + NORM,
            )
            for i, (_, conv, _, _) in enumerate(names, 1)
        )

    def stem_acts(self, count: int, activation: str) -> tuple[str, ...]:
        """The activations inside the stem's Sequential, one per conv (none without one)."""
        if self.stem is None:
            return ()
        act = torch_activation(activation)
        return tuple(self.stem_act.format(act=act, i=i) for i in range(1, count + 1))

    def _in_stem(self, template: str, i: int) -> str:
        return f"{self.stem}.{template.format(i=i)}"

    @property
    def stage_container(self) -> str | None:
        """The network's attribute that holds its stages as one ``nn.Sequential`` where a
        stage's path has a dot (``stages`` of ``stages.{s0}``); None: each is an attribute."""
        container, dot, _ = self.stage.partition(".")
        return container if dot else None

    @property
    def stage_blocks(self) -> str | None:
        """The attribute inside a stage that holds its blocks where they are not the stage's
        own children (``blocks`` of ``{stage}.blocks.{b0}``, timm's ResNetStage)."""
        inner = self.block.removeprefix("{stage}.").removesuffix(".{b0}")
        return inner if inner != self.block and "{" not in inner else None

    def stage_names(self, stage: int) -> tuple[str, str]:
        """A stage's PyTorch path (``stage`` from 1) and Keras prefix (``conv2``, as ever)."""
        return self.stage.format(s=stage, s0=stage - 1), stage_names(stage)[1]

    def block_names(self, stage: int, index: int) -> BlockNames:
        """Block ``index`` (from 0) of ``stage`` (from 1): its paths in both frameworks."""
        torch_stage, keras_stage = self.stage_names(stage)
        path = self.block.format(stage=torch_stage, b=index + 1, b0=index)
        keras = f"{keras_stage}{BLOCK}{index + 1}"
        return BlockNames(torch=path, keras=keras, attributes=self.block_attributes)

    def block_child(self) -> str | None:
        """What a stage's ``nn.Sequential`` names block ``b`` (from 1) after: None for its
        index (``{stage}.{b0}``), else the prefix before ``b`` (``{stage}.b{b}``: ``b``)."""
        if self.block == "{stage}.{b0}" or self.stage_blocks:
            return None
        prefix = self.block.removeprefix("{stage}.")
        assert prefix.endswith("{b}") and "{" not in prefix[:-3], self.block
        return prefix[:-3]

    def block_place(self, path: str) -> tuple[int, int] | None:
        """(stage from 1, block from 0) of a module path inside one of this dialect's blocks."""
        template = self.block.replace("{stage}", self.stage) + "."
        parts = re.split(r"\{(\w+)\}", template)
        pattern = "".join(_PLACES[p] if k % 2 else re.escape(p) for k, p in enumerate(parts))
        match = re.match(pattern, path)
        if match is None:
            return None
        found = match.groupdict()
        stage = int(found["s"]) if found.get("s") else int(found["s0"]) + 1
        index = int(found["b"]) - 1 if found.get("b") else int(found["b0"])
        return stage, index


TIMM = Dialect(
    "timm",
    "timm: torchvision's and timm's resnet.py (`conv1`, `bn1`, `layer1.0.conv1`, "
    "`layer1.0.se`, `fc`)",
)
LEGACY_SENET = Dialect(
    "legacy_senet",
    "legacy_senet: timm's senet.py, the Caffe-era names (`layer0.conv1`, `layer0.bn1`, "
    "`pool0`, `layer1.0.se_module`, `last_linear`)",
    follows="timm's legacy senet.py (layer0, se_module, last_linear)",
    stem="layer0",
    stem_pool="pool0",
    block_attributes=TorchBlockAttributes(attention="se_module"),
    global_pool="global_pool",
    classifier="last_linear",
)

REGNET = Dialect(
    "regnet",
    "regnet: timm's regnet.py (`stem.conv`, `stem.bn`, `s1.b1.conv1.conv`, "
    "`s1.b1.downsample.conv`, `head.fc`)",
    stem="stem",
    stem_conv="conv",
    stem_norm="bn",
    stem_act="act",
    stage="s{s}",
    block="{stage}.b{b}",
    block_attributes=TorchBlockAttributes(shortcut_parts=("conv", "bn")),
    classifier="head.fc",
)

RESNETV2 = Dialect(
    "resnetv2",
    "resnetv2: timm's resnetv2.py (`stem.conv`, `stages.0.blocks.0.norm1`, "
    "`stages.0.blocks.0.downsample.conv`, `norm`, `head.fc` as a 1x1 conv)",
    follows="timm's resnetv2.py (stem, stages.N.blocks.M, norm, head.fc)",
    stem="stem",
    stem_conv="conv{i}",
    stem_norm="norm{i}",
    stem_act="act{i}",
    stem_one_conv="conv",
    stem_pool="stem.pool",
    stem_pool_pad="stem.pad",
    stage="stages.{s0}",
    block="{stage}.blocks.{b0}",
    block_attributes=TorchBlockAttributes(
        norm_name="norm{k}",
        norm_offset=1,
        preact_norm="norm1",
        shortcut_parts=("conv", "norm"),
        shortcut_pool="pool",
        shortcut_first=True,
    ),
    final_norm="norm",
    classifier="head.fc",
    classifier_conv=True,
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (TIMM, LEGACY_SENET, REGNET, RESNETV2)}


def dialect(name: str) -> Dialect:
    """The dialect the spec's ``naming`` names."""
    return DIALECTS[name]
