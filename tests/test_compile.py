"""Generated PyTorch files are compile-clean: ``torch.compile(fullgraph=True)`` traces them with no
graph break in training and in eval mode, and ``torch.export`` exports them with a dynamic batch.

The default run takes the cheapest shipped spec of each code path (what picks the templates and
branches a file runs through: block kinds, stem, shortcut rules, anti-aliasing, attention,
norm, activation, biases; widths and depths only change numbers), with its first stage cut to
two blocks and the others to one, rendered by the same templates (a stage's first block and a
repeated one are all the code a stage has), so it traces in a few minutes on two cores.
``pytest -m slow tests/test_compile.py`` traces the committed file of every layout (as
tests/test_transfer.py chooses its round trips) at full depth.

Tracing only: the ``torch.compile`` backend here hands back the traced graph unchanged, so no
kernel is compiled; ``fullgraph=True`` makes any graph break an error. The export's batch is
checked to be symbolic; the slow run also runs the exported program at a batch size other than
the one it was traced with, against eager mode.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import generated_factory, layout_of, render_generated, shipped_specs

torch = pytest.importorskip("torch")

from resgen.check.validate import load_spec  # noqa: E402
from resgen.plan.planner import build_plan  # noqa: E402
from resgen.plan.stages import spec_stages  # noqa: E402
from resgen.spec.models import Spec  # noqa: E402

SPEC_PATHS = shipped_specs()
MAX_BLOCKS = 2  # in the first stage, in the default run (one in each later stage)
MAX_SIZE = 64  # input side for the ImageNet networks (a multiple of 32, as anti-aliasing needs)
SLOW = pytest.mark.skipif(
    "'slow' not in config.getoption('markexpr')", reason="full depth: run with -m slow"
)


@functools.cache
def _spec(name: str) -> Spec:
    return load_spec(SPEC_PATHS[name])


def _code_path(name: str) -> str:
    """What picks the generated code a spec runs through (its templates and branches): block
    kinds, pre-activation, stem and its pool, shortcut rules, anti-aliasing, attention, norm,
    activation, conv biases, projection kernel and where the stride sits. Widths, groups and
    depths only change numbers in the same code."""
    spec = _spec(name)
    data = spec.model_dump(mode="json")
    block = data["block"]
    kinds = sorted({stage.get("block_type") or block["type"] for stage in data["stages"]})
    kinds = kinds or [block["type"]]  # stages a rule generates (RegNet's) are the block's kind
    chosen = [kinds, block.get("preact"), block.get("stride_on"), data["stem"]["type"]]
    chosen += [data["stem"].get("pool"), (block.get("attention") or {}).get("type")]
    chosen += [data.get(key) for key in ("shortcut", "stride_shortcut", "anti_alias")]
    chosen += [data.get(key) for key in ("activation", "conv_bias", "projection_kernel")]
    chosen += [data.get("naming"), bool(block.get("se_ratio"))]
    return json.dumps([*chosen, data.get("norm", {}).get("type")])


def _cheapest_per(key: Callable[[str], str]) -> list[str]:
    groups: dict[str, list[str]] = {}
    for name in sorted(SPEC_PATHS):
        groups.setdefault(key(name), []).append(name)

    def cost(name: str) -> tuple[int, int]:
        plan = build_plan(_spec(name))
        return plan.params, len(plan.blocks)

    return sorted(min(names, key=cost) for names in groups.values())


LAYOUTS = _cheapest_per(lambda name: layout_of(_spec(name)))  # the slow run: every layout
CODE_PATHS = _cheapest_per(_code_path)  # the default run: every code path, shallow
# timm's resnetv2.py names: what its dialect prints (the stage and stem Sequentials, the stem
# sliced before its pool, the shortcut registered first, the named DownsampleAvg, the conv
# classifier) runs in resnetv2_18d (basic blocks, pooled projections) and resnetv2_50
# (bottlenecks, plain projections); these differ from them and from other namings' code paths
# only in pairs of those (and group norm, which resnet50_gn traces). The slow run traces them.
RESNETV2_COVERED = {"resnetv2_18", "resnetv2_50t", "resnetv2_50d_gn", "resnetv2_50d"}
CODE_PATHS = [name for name in CODE_PATHS if name not in RESNETV2_COVERED]


def _shallow(name: str, folder: Path) -> Spec:
    """The spec with its first stage cut to at most MAX_BLOCKS blocks and every later stage to
    one (a repeated block is the same class in every stage), rendered into ``folder``."""
    data = _spec(name).model_dump(mode="json", exclude_unset=True)
    if "regnet" in data:  # the stages its rule generates, listed
        del data["regnet"]
        data["stages"] = [stage.model_dump(mode="json") for stage in spec_stages(_spec(name))]
    data["stages"] = [
        {**stage, "blocks": min(stage["blocks"], MAX_BLOCKS if index == 0 else 1)}
        for index, stage in enumerate(data["stages"])
    ]
    spec = Spec.model_validate(data)
    render_generated(spec, folder, backends=("torch",))
    return spec


def _no_kernels(graph: Any, example_inputs: Any) -> Any:
    """A torch.compile backend that runs the traced graph as it is: tracing, no compilation."""
    return graph.forward


def check_compile_clean(model: Any, size: int, run_export: bool = False) -> None:
    """Whole-graph tracing (``torch.compile(fullgraph=True)``) in training and in eval mode; an
    export whose batch dimension is symbolic (export refuses a model that specializes it).
    ``run_export``: also run the exported program at another batch against eager mode (its
    module takes seconds to build: the slow run)."""
    x = torch.randn(2, 3, size, size)
    for mode in ("train", "eval"):
        model.train(mode == "train")
        torch._dynamo.reset()
        compiled = torch.compile(model, fullgraph=True, backend=_no_kernels)
        with torch.no_grad():
            compiled(x)  # raises on any graph break (fullgraph=True)
    model.eval()
    batch = torch.export.Dim("batch", min=2, max=4096)
    exported = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    (name,) = exported.graph_signature.user_inputs
    (node,) = (n for n in exported.graph.nodes if n.name == name)
    batch_size, *rest = node.meta["val"].shape
    assert isinstance(batch_size, torch.SymInt) and tuple(rest) == (3, size, size)
    if not run_export:
        return
    other = torch.randn(3, 3, size, size)
    with torch.no_grad():
        expected = model(other)
        got = exported.module()(other)
    assert got.shape == expected.shape == (3, model.num_classes)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4)


def _size(spec: Spec) -> int:
    return min(spec.input.size, MAX_SIZE)


@pytest.mark.parametrize("name", CODE_PATHS)
def test_each_code_path_traces_whole_and_exports_with_a_dynamic_batch(
    name: str, tmp_path: Path
) -> None:
    spec = _shallow(name, tmp_path)
    model = generated_factory("torch", spec.name, tmp_path)(num_classes=10)
    check_compile_clean(model, _size(spec))


@pytest.mark.slow
@SLOW
@pytest.mark.parametrize("name", LAYOUTS)
def test_each_layouts_committed_file_at_full_depth(name: str) -> None:
    model = generated_factory("torch", name)(num_classes=10)
    check_compile_clean(model, _size(_spec(name)), run_export=True)


def test_a_graph_break_is_caught() -> None:
    """The check is not vacuous: a forward with a data-dependent Python branch breaks the graph
    under fullgraph=True."""

    class Breaks(torch.nn.Module):
        num_classes = 2

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:  # data-dependent control flow: a graph break
                return x.mean(dim=(2, 3))[:, :2]
            return x.amax(dim=(2, 3))[:, :2]

    with pytest.raises(Exception, match=r"(?i)graph break|data-dependent|Unsupported"):
        check_compile_clean(Breaks(), 8, run_export=True)
