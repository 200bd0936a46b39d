"""Property-based fuzzing of the whole spec space (hypothesis).

Three properties:

- every VALID spec (random stages, blocks, widths, strides, block kinds, shortcuts, stems,
  biases, norms, dropout, input shapes, classes, names and descriptions, and the modern knobs:
  squeeze-and-excitation, ECA, tiered stem widths, the conv stem pool, average and blur
  anti-aliasing, group norm, the four activations, drop path, 3x3 projections, reduce_first)
  validates, renders an
  ASCII, ruff-clean file per backend that imports, builds, runs forward and backward with the
  right output shape, and whose parameter count equals the plan's (what ``resgen summary``
  prints) in torch and in keras (trainable weights); with weights moved torch -> keras, both
  give the same outputs;
- every MUTATION of a valid spec (dropped keys, wrong types, out-of-range numbers, unknown keys,
  garbage bytes, cut or doubled text) is either valid or refused with exit 2 and one located
  ``file:line:col: ...`` line per problem: never a traceback, and nothing written;
- every spec NEAR A BUDGET (total blocks, `extends` chain length and bytes, 64-bit integers,
  the norm's eps and momentum bounds) builds when it is inside every bound and is refused with
  located lines, writing nothing, when it is outside one.

Profiles (``RESGEN_FUZZ``): ``ci`` (default) is bounded and derandomized, so CI runs the same
examples every time; ``long`` explores freely with many more examples::

    RESGEN_FUZZ=long .venv/bin/pytest tests/test_fuzz.py -p no:cacheprovider
"""

from __future__ import annotations

import ast
import json
import math
import os
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import LOCATED, import_file, ruff_clean, to_yaml
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from resgen.check.rules import MAX_BLOCKS as TOTAL_BLOCKS
from resgen.check.validate import load_spec
from resgen.cli.commands import main
from resgen.errors import SpecError
from resgen.plan import summary
from resgen.plan.planner import build_plan
from resgen.rendering.render import render, templates_dir
from resgen.spec.loader import MAX_CHAIN_BYTES, MAX_CHAIN_FILES, MAX_FILE_BYTES, MAX_INT_BITS
from resgen.spec.models import (
    BUILTIN_NAMES,
    DEVICE_NAMES,
    MIN_NORM_EPS,
    MIN_NORM_MOMENTUM,
    RESERVED_NAMES,
    STARTUP_NAMES,
    STDLIB_NAMES,
    Spec,
)

torch = pytest.importorskip("torch")

PROFILE = os.environ.get("RESGEN_FUZZ", "ci")
_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile(
    "resgen-fuzz-ci", max_examples=8, derandomize=True, database=None, **_COMMON
)
settings.register_profile("resgen-fuzz-long", max_examples=300, **_COMMON)
if PROFILE not in ("ci", "long"):
    raise ValueError(f"RESGEN_FUZZ must be 'ci' or 'long', not {PROFILE!r}")
FUZZ = settings.get_profile(f"resgen-fuzz-{PROFILE}")
# The mutation property is cheap (no model is built): it runs many more examples.
MUTATION_EXAMPLES = 300 if PROFILE == "ci" else 5000
# Most blocks per stage, widest stage, largest input: small in CI so a keras model builds and
# runs backward in a second or two; the whole range the issue names in the long profile.
MAX_BLOCKS, MAX_CHANNELS, MAX_SIZE = (2, 8, 24) if PROFILE == "ci" else (4, 16, 64)

KERAS_READY = (templates_dir() / "keras" / "model.py.j2").exists()
BACKENDS = ("torch", "keras") if KERAS_READY else ("torch",)

# --------------------------------------------------------------------------------------------
# valid specs


def usable_name(name: str) -> bool:
    import keyword

    taken = RESERVED_NAMES | BUILTIN_NAMES | STDLIB_NAMES | DEVICE_NAMES | set(STARTUP_NAMES)
    return not (keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in taken)


names = st.from_regex(r"\A[a-z][a-z0-9_]{0,63}\Z").filter(usable_name)


@st.composite
def valid_specs(
    draw: st.DrawFn, kinds: tuple[str, ...] = ("basic", "bottleneck")
) -> dict[str, Any]:
    """A spec dict that passes every field and cross-field rule, kept small enough to run."""
    kind = draw(st.sampled_from(kinds))
    preact = draw(st.booleans())
    block: dict[str, Any] = {"type": kind}
    if draw(st.booleans()):
        block["preact"] = preact
    else:
        preact = False
    block["stride_at"] = draw(st.sampled_from(["first", "last"]))
    expansion = 1
    min_channels = 1
    if kind == "bottleneck":
        block["stride_on"] = draw(st.sampled_from(["3x3", "1x1"]))
        block["groups"] = draw(st.sampled_from([1, 1, 2, 3, 4]))
        block["width_per_group"] = draw(st.sampled_from([16, 32, 64, 64, 100, 128]))
        expansion = draw(st.sampled_from([1, 2, 4]))
        block["expansion"] = expansion
        min_channels = math.ceil(64 / block["width_per_group"])  # inner width >= 1 per group

    shortcut = draw(
        st.sampled_from(["zero_pad", "projection", "always_projection", "avg_projection", "none"])
    )
    # Anti-aliasing moves a 3x3 conv's stride to a pool, so strided 1x1s cannot take it.
    anti_alias = draw(st.sampled_from(["none", "none", "avg", "blur"]))
    if anti_alias != "none" and kind == "bottleneck":
        block["stride_on"] = "3x3"
    stem_type = draw(st.sampled_from(["imagenet", "cifar", "deep"]))
    stem_channels = draw(st.integers(1, MAX_CHANNELS))
    if stem_type == "deep":
        stem_channels = 2 * math.ceil(stem_channels / 2)
    stem: dict[str, Any] = {"type": stem_type, "channels": stem_channels}
    if stem_type == "deep" and draw(st.booleans()):  # a tiered stem: each conv's own width
        widths = [draw(st.integers(1, MAX_CHANNELS)) for _ in range(3)]
        stem_channels = widths[-1]
        stem = {"type": "deep", "widths": widths}
        if draw(st.booleans()):
            stem["channels"] = stem_channels
    if stem_type != "cifar":
        if draw(st.integers(0, 3)) == 0:
            stem["pool"] = "conv"  # ResNet-RS: a strided conv in place of the max pool
        elif anti_alias == "none":  # only the max pool pads
            stem["pool_padding"] = draw(st.sampled_from(["ignore", "zeros"]))

    stages = []
    previous = stem_channels
    for _ in range(draw(st.integers(1, 5))):
        low = min_channels
        if shortcut == "zero_pad":  # option A can only add channels
            low = max(low, math.ceil(previous / expansion))
        channels = draw(st.integers(low, max(low, MAX_CHANNELS)))
        stage: dict[str, Any] = {"blocks": draw(st.integers(1, MAX_BLOCKS)), "channels": channels}
        stride = draw(st.sampled_from([1, 2]))
        if stride == 2 or draw(st.booleans()):
            stage["stride"] = stride
        stages.append(stage)
        previous = channels * expansion

    downsamplings = (2 if stem_type != "cifar" else 0) + sum(
        1 for s in stages if s.get("stride") == 2
    )
    if anti_alias == "avg" and 2**downsamplings > 2 * MAX_SIZE:
        anti_alias = "blur"  # too many halvings for an even map at every one of them
    if anti_alias == "avg":
        # A 2x2 average pool rounds down where the shortcut rounds up: every map it halves
        # must be even (as timm), so the size is a multiple of 2 ** downsamplings.
        step = 2**downsamplings
        size = step * draw(st.integers(1, max(1, MAX_SIZE // step)))
    else:
        smallest = 1 if downsamplings == 0 else 2 ** (downsamplings - 1) + 1
        size = draw(st.integers(smallest, max(smallest, MAX_SIZE)))

    spec: dict[str, Any] = {
        "name": draw(names),
        "description": draw(st.text(max_size=120)),
        "num_classes": draw(st.integers(1, 12)),
        "input": {"channels": draw(st.integers(1, 4)), "size": size},
        "stem": stem,
        "block": block,
        "stages": stages,
        "shortcut": shortcut,
    }
    if shortcut in ("projection", "avg_projection"):
        spec["stride_shortcut"] = draw(st.sampled_from(["projection", "subsample"]))
    spec["conv_bias"] = draw(st.sampled_from(["none", "all", "unnormalized"]))
    if draw(st.booleans()):
        spec["norm"] = {
            "eps": draw(st.sampled_from([1e-5, 1.001e-5, 1e-3])),
            "momentum": draw(st.sampled_from([0.1, 0.01, 0.5, 1.0])),
        }
    if not preact and shortcut != "none":
        spec["zero_init_residual"] = draw(st.booleans())
    spec["dropout"] = draw(st.sampled_from([0.0, 0.0, 0.2, 0.5]))
    modern_knobs(draw, spec, anti_alias)
    return spec


def modern_knobs(draw: st.DrawFn, spec: dict[str, Any], anti_alias: str) -> None:
    """The knobs of timm's zoo, each drawn within the cross-field rules resgen states."""
    block, stages, shortcut = spec["block"], spec["stages"], spec["shortcut"]
    if anti_alias != "none":
        spec["anti_alias"] = anti_alias
    spec["activation"] = draw(st.sampled_from(["relu", "relu", "silu", "gelu", "gelu_tanh"]))
    attention = draw(st.sampled_from(["none", "se", "se", "eca", "eca"]))
    if attention == "se":
        se: dict[str, Any] = {"type": "se"}
        choice = draw(st.integers(0, 2))
        if choice == 1:
            se["ratio"] = draw(st.sampled_from([0.25, 0.0625, 1.0]))
        elif choice == 2:
            se["hidden_channels"] = draw(st.integers(1, MAX_CHANNELS))
        block["attention"] = se
    elif attention == "eca":
        eca: dict[str, Any] = {"type": "eca"}
        if draw(st.booleans()):
            eca["kernel_size"] = draw(st.sampled_from([1, 3, 5]))
        block["attention"] = eca
    wide_enough = min(stage["channels"] for stage in stages) >= 2
    if block["type"] == "basic" and wide_enough and draw(st.booleans()):
        block["reduce_first"] = 2  # the first conv at half width (senet154's basic stages)
    if shortcut in ("projection", "always_projection") and draw(st.booleans()):
        spec["projection_kernel"] = 3
    if shortcut != "none" and sum(s["blocks"] for s in stages) >= 2:
        spec["drop_path_rate"] = draw(st.sampled_from([0.0, 0.1, 0.25]))
    if draw(st.integers(0, 3)) == 0:
        # Group norm: 2 groups where every normalized width is even, else 1 (layer norm's
        # statistics over all channels); no momentum, it keeps no running statistics.
        norm = {k: v for k, v in spec.get("norm", {}).items() if k == "eps"}
        spec["norm"] = {**norm, "type": "group", "groups": 1}
        if draw(st.booleans()):
            widths = [n.channels for n in build_plan(Spec.model_validate(spec)).norms]
            if all(width % 2 == 0 for width in widths):
                spec["norm"]["groups"] = 2


# Regression examples: each reproduces a bug found while writing these tests (see git log).
REGRESSIONS: list[dict[str, Any]] = [
    # a long name: the torch factory's signature no longer fit on one line (ruff format)
    {
        "name": "a" * 64,
        "description": '"quoted first',
        "num_classes": 7,
        "input": {"channels": 1, "size": 9},
        "stem": {"type": "cifar", "channels": 3},
        "block": {"type": "basic", "stride_at": "last"},
        "stages": [{"blocks": 2, "channels": 3}, {"blocks": 1, "channels": 5, "stride": 2}],
        "shortcut": "zero_pad",
    },
    # always_projection: the torch downsample was indented for an `if` (ruff format)
    {
        "name": "b",
        "num_classes": 1,
        "input": {"channels": 1, "size": 2},
        "stem": {"type": "cifar", "channels": 1},
        "block": {"type": "basic"},
        "stages": [{"blocks": 1, "channels": 1, "stride": 2}],
        "shortcut": "always_projection",
    },
    # zero_init_residual: a torch comment ran past 88 columns (ruff format)
    {
        "name": "c",
        "num_classes": 1,
        "input": {"channels": 1, "size": 2},
        "stem": {"type": "cifar", "channels": 1},
        "block": {"type": "basic"},
        "stages": [{"blocks": 1, "channels": 1, "stride": 2}],
        "shortcut": "zero_pad",
        "zero_init_residual": True,
    },
]


# --------------------------------------------------------------------------------------------
# helpers


def keras_module() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TensorFlow 2.21's oneDNN CPU kernel for the gradient of a strided 1x1 conv corrupts the
    # heap for some small widths and even sizes (7 -> 14 channels at 58 x 58 segfaults; found
    # by this fuzzer, reproduced with tf.nn.conv2d alone): a crash would end the whole run
    # without naming the spec. Effective where this imports TensorFlow first (the long run).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import keras

    return keras


def check_torch(module: ModuleType, name: str, batch: Any, classes: int, params: int) -> Any:
    torch.manual_seed(0)
    model = getattr(module, name)(num_classes=classes)
    assert sum(p.numel() for p in model.parameters()) == params
    out = model(batch)
    assert out.shape == (batch.shape[0], classes)
    out.square().mean().backward()
    for key, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{key} takes no part in the output"
        assert torch.isfinite(parameter.grad).all(), key
    return model


def randomize_(model: Any) -> None:
    """Random weights and running statistics, so a transfer that drops any of them shows."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                values = torch.randn(tensor.shape, generator=generator) * 0.5
                if key.endswith("running_var"):
                    values = values.abs() + 0.5
                tensor.copy_(values)


def check_keras(
    module: ModuleType, name: str, spec: Any, batch: Any, classes: int, params: int
) -> Any:
    keras = keras_module()
    import numpy as np
    import tensorflow as tf

    size, channels = spec.input.size, spec.input.channels
    model = getattr(module, name)(num_classes=classes, input_shape=(size, size, channels))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == params
    x = np.transpose(batch.numpy(), (0, 2, 3, 1))
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        loss = keras.ops.mean(keras.ops.square(out))
    assert tuple(out.shape) == (batch.shape[0], classes)
    grads = tape.gradient(loss, model.trainable_weights)
    for weight, grad in zip(model.trainable_weights, grads, strict=True):
        assert grad is not None, f"{weight.path} takes no part in the output"
    return model


def same_outputs(torch_model: Any, keras_model: Any, batch: Any) -> None:
    import numpy as np

    from resgen.weights.transfer import torch_to_keras

    randomize_(torch_model)
    torch_model.eval()
    torch_to_keras(torch_model, keras_model)
    with torch.no_grad():
        expected = torch_model(batch).numpy()
    got = np.asarray(keras_model(np.transpose(batch.numpy(), (0, 2, 3, 1)), training=False))
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * scale)


# --------------------------------------------------------------------------------------------
# property 1: valid specs build, run, and count the same everywhere


@pytest.mark.parametrize("kind", ["basic", "bottleneck"])  # two tests: xdist runs both at once
@FUZZ
@given(data=st.data())
def test_valid_specs_build_run_and_agree(kind: str, data: st.DataObject) -> None:
    check_valid_spec(data.draw(valid_specs((kind,)), label="spec"))


@pytest.mark.parametrize("index", range(len(REGRESSIONS)))
def test_regression_examples(index: int) -> None:
    check_valid_spec(REGRESSIONS[index])


def check_valid_spec(spec: dict[str, Any]) -> None:
    text = to_yaml(spec)
    if currently_in_test_context():
        note(text)  # shown with a failing example, as the spec file a user would write
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "pyproject.toml").write_text("")
        spec_file = root / "specs" / "fuzz.yaml"
        spec_file.parent.mkdir()
        spec_file.write_text(text, encoding="utf-8")
        try:
            validated = load_spec(spec_file)
        except SpecError as exc:
            raise AssertionError(f"a valid spec was refused:\n{exc}") from None
        plan = build_plan(validated)
        params = summary.as_json(plan)["params"]
        assert params == plan.params
        name = validated.name
        files = {}
        for backend in BACKENDS:
            source = render(validated, backend, "specs/fuzz.yaml", plan)
            assert source.isascii()
            ast.parse(source)
            path = root / backend / f"{name}.py"
            path.parent.mkdir()
            path.write_text(source, encoding="utf-8")
            files[backend] = path
        ruff_clean(*files.values())

        # Not the default head: the argument is honoured, and the count moves by one row of
        # the classifier (weights and bias) per class.
        classes = spec["num_classes"] + 1
        params += plan.head.in_features + 1
        size, channels = validated.input.size, validated.input.channels
        batch = torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(0))
        torch_model = check_torch(import_file(files["torch"]), name, batch, classes, params)
        if "keras" in files:
            keras_module()  # settles the environment before the file's `import keras`
            keras_model = check_keras(
                import_file(files["keras"]), name, validated, batch, classes, params
            )
            same_outputs(torch_model, keras_model, batch)
            keras_module().backend.clear_session()


# --------------------------------------------------------------------------------------------
# property 2: mutated specs are valid or refused with located lines, never a traceback

WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.sampled_from([0, -1, 1, 2, 3, 63, 64, 65, 4097, 8193, 2**31, 2**63, 10**400]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.5, -0.0, 1e-300, 1e300, 2.0, 1.0]),
    st.text(max_size=12),
    st.sampled_from(
        ["basic", "bottleneck", "3x3", "1x1", "first", "last", "zeros", "deep", "none", "", "~"]
    ),
    st.lists(st.integers(0, 4), max_size=3),
    st.dictionaries(st.sampled_from(["type", "blocks", "x", "channels"]), st.integers(-2, 9)),
)


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths_of(item, (*prefix, i))
    return found


def parent_and_key(root: Any, path: tuple[Any, ...]) -> tuple[Any, Any]:
    node = root
    for part in path[:-1]:
        node = node[part]
    return node, path[-1]


@st.composite
def mutated_specs(draw: st.DrawFn) -> bytes:
    """The bytes of a spec file: a valid spec with one to three mutations."""
    spec = json.loads(json.dumps(draw(valid_specs())))
    for _ in range(draw(st.integers(1, 3))):
        paths = paths_of(spec)
        how = draw(st.sampled_from(["drop", "replace", "unknown", "nest", "text"]))
        if how == "text":
            break
        path = draw(st.sampled_from(paths))
        parent, key = parent_and_key(spec, path)
        if how == "drop":
            del parent[key]
        elif how == "replace":
            parent[key] = draw(WRONG_VALUES)
        elif how == "unknown":
            target = parent if isinstance(parent, dict) else spec
            target[draw(st.text(min_size=1, max_size=10))] = draw(WRONG_VALUES)
        else:  # a mapping or list where a scalar belongs, or the reverse
            parent[key] = [parent[key]] if draw(st.booleans()) else {"value": parent[key]}
    data = to_yaml(spec).encode("utf-8") if isinstance(spec, dict) else b""
    for _ in range(draw(st.integers(0, 2))):
        edit = draw(st.sampled_from(["insert", "delete", "duplicate", "truncate", "swap"]))
        at = draw(st.integers(0, len(data)))
        if edit == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=6)) + data[at:]
        elif edit == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 8)) :]
        elif edit == "duplicate":
            lines = data.split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            data = b"\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])
        elif edit == "truncate":
            data = data[:at]
        else:
            snippet = draw(st.sampled_from([b"\t", b"&a ", b"*a", b"!!python/object ", b"{", b"]"]))
            data = data[:at] + snippet + data[at:]
    return data


def assert_refused_with_located_lines(result: Any, spec_file: Path) -> None:
    lines = result.stderr.splitlines()
    assert lines, "refused without a word"
    for line in lines:
        match = LOCATED.match(line)
        assert match, line
        assert int(match["line"]) >= 1 and int(match["col"]) >= 1, line
        assert match["file"] == str(spec_file), line


@settings(FUZZ, max_examples=MUTATION_EXAMPLES)
@given(data=mutated_specs())
@example(data=b"")
@example(data=b"\xff\xfe")
@example(data=b"name: x\x00\n")
@example(data=b"- a\n- b\n")
@example(data=b"name: [\n")
def test_mutated_specs_are_valid_or_refused_with_located_lines(data: bytes) -> None:
    note(repr(data))
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        spec_file = root / "spec.yaml"
        spec_file.write_bytes(data)
        out = root / "out"
        checked = runner.invoke(main, ["validate", str(spec_file)])
        built = runner.invoke(main, ["build", str(spec_file), "--out", str(out)])
        for result in (checked, built):
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise AssertionError("traceback") from result.exception
            assert "Traceback" not in result.output
        assert checked.exit_code in (0, 2)
        assert built.exit_code == checked.exit_code, (checked.output, built.output)
        if checked.exit_code == 2:
            assert_refused_with_located_lines(checked, spec_file)
            assert_refused_with_located_lines(built, spec_file)
            assert not out.exists(), "a refused build wrote something"
        else:
            written = sorted(out.rglob("*.py"))
            assert len(written) == 1
            ast.parse(written[0].read_text(encoding="utf-8"))
        assert sorted(p.name for p in root.iterdir()) in (["spec.yaml"], ["out", "spec.yaml"])


# --------------------------------------------------------------------------------------------
# property 3: specs near the budgets build when inside them and are refused cleanly outside


TINY = {
    "input": {"channels": 1, "size": 2},
    "stem": {"type": "cifar", "channels": 1},
    "block": {"type": "basic"},
    "shortcut": "zero_pad",
    "num_classes": 2,
}


BREACH_SAYS = {
    "blocks": f"blocks in all exceed resgen's bound of {TOTAL_BLOCKS:,}",
    "eps": ": norm.eps: must be >= 1e-12",
    "momentum": ": norm.momentum: must be >= 0.0001",
    "integer": ": num_classes: ",
    "chain_files": f": extends: the extends chain is longer than {MAX_CHAIN_FILES} files",
    "chain_bytes": ": extends: the extends chain holds more than 512 KiB of spec text",
    "file_bytes": "cannot read the spec: it is larger than 256 KiB",
}
BUDGETS = tuple(BREACH_SAYS)


@st.composite
def near_budget_specs(draw: st.DrawFn) -> tuple[dict[str, str], str | None]:
    """Spec files (name -> text; ``s0.yaml`` is the one built), every value at or just inside
    its bound except, sometimes, one just outside: the budget it breaks, or None."""
    breach = draw(st.sampled_from([None, None, *BUDGETS]))

    def near(bound: float, outside: bool, below_is_out: bool) -> float:
        factors = [1.0, 1.000001, 2.0] if below_is_out else [1.0, 0.999999, 0.5]
        if outside:
            factors = [0.999999, 0.5] if below_is_out else [1.000001, 2.0]
        return bound * draw(st.sampled_from(factors))

    spec: dict[str, Any] = {"name": "near", **TINY}
    # total blocks: a few stages (at most 1,000 blocks each) summing to near the bound
    total = TOTAL_BLOCKS + (
        draw(st.integers(1, 3)) if breach == "blocks" else -draw(st.integers(0, 3))
    )
    count = draw(st.integers(3, 13))  # splitting the (at most two) big stages adds two
    cuts = sorted(draw(st.lists(st.integers(1, total - 1), min_size=count - 1, max_size=count - 1)))
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True) if b > a]
    while max(sizes) > 1000:
        big = sizes.index(max(sizes))
        sizes[big : big + 1] = [sizes[big] // 2, sizes[big] - sizes[big] // 2]
    assert sum(sizes) == total and len(sizes) <= 16
    spec["stages"] = [{"blocks": n, "channels": 1} for n in sizes]
    spec["norm"] = {
        "eps": near(MIN_NORM_EPS, breach == "eps", below_is_out=True),
        "momentum": near(MIN_NORM_MOMENTUM, breach == "momentum", below_is_out=True),
    }
    if breach == "integer":  # over num_classes' bound whether it fits in 64 bits or not
        big = 2**MAX_INT_BITS + draw(st.integers(-2, 2))
        spec["num_classes"] = draw(st.sampled_from([big, -big - 1]))
    # an extends chain: its length, its files' bytes and its bytes in all near their bounds
    if breach == "chain_files":
        length = draw(st.integers(MAX_CHAIN_FILES + 1, MAX_CHAIN_FILES + 2))
    else:  # two files can hold the chain's bytes; three can exceed them
        length = draw(st.integers(3 if breach == "chain_bytes" else 1, MAX_CHAIN_FILES))
    texts = {f"s{i}.yaml": f"extends: s{i + 1}.yaml\n" for i in range(length - 1)}
    texts[f"s{length - 1}.yaml"] = "description: the last base\n" if length > 1 else ""
    texts["s0.yaml"] += to_yaml(spec)
    sizes = {name: len(text.encode()) for name, text in texts.items()}
    if breach == "chain_bytes":
        wanted = MAX_CHAIN_BYTES + draw(st.integers(1, 4096))
    else:
        wanted = min(MAX_CHAIN_BYTES, length * MAX_FILE_BYTES) - draw(st.integers(0, 4096))
    if breach in ("chain_bytes", "file_bytes") or draw(st.booleans()):
        share, extra = divmod(wanted - sum(sizes.values()), length)
        for i, name in enumerate(texts):  # pad each file with comment lines
            sizes[name] += share + (i < extra)
        if breach == "file_bytes":  # one file just over its bound, the chain within its own
            name = draw(st.sampled_from(sorted(texts)))
            sizes[name] = MAX_FILE_BYTES + draw(st.integers(1, 64))
        for name in texts:
            lines, rest = divmod(sizes[name] - len(texts[name].encode()), 2003)
            texts[name] += f"# {'x' * 2000}\n" * lines + ("#" * (rest - 1) + "\n" if rest else "")
    assert all(len(t.encode()) <= MAX_FILE_BYTES for t in texts.values()) != (
        breach == "file_bytes"
    )
    return texts, breach


@settings(FUZZ, max_examples=MUTATION_EXAMPLES // 10)
@given(case=near_budget_specs())
def test_specs_near_the_budgets_build_or_are_refused_cleanly(
    case: tuple[dict[str, str], str | None],
) -> None:
    texts, breach = case
    inside = breach is None
    note({name: text[:300] for name, text in texts.items()})
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, text in texts.items():
            (root / name).write_text(text, encoding="utf-8")
        spec_file, out = root / "s0.yaml", root / "out"
        result = runner.invoke(main, ["build", str(spec_file), "--out", str(out)])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError("traceback") from result.exception
        if inside:
            assert result.exit_code == 0, result.output
            (written,) = out.rglob("*.py")
            ast.parse(written.read_text(encoding="utf-8"))
        else:
            assert result.exit_code == 2, result.output
            assert result.stdout == ""
            for line in result.stderr.splitlines():
                match = LOCATED.match(line)
                assert match and Path(match["file"]).parent == root, line
            assert BREACH_SAYS[breach] in result.stderr, (breach, result.stderr)
            assert not out.exists(), "a refused build wrote something"
