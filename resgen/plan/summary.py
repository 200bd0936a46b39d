"""What a spec's network is, computed from the plan alone (no torch, no tensorflow).

MACs count the multiply-accumulates of every convolution and the classifier, the convention of
torchvision's published "GFLOPS" and of He et al.'s Table 1; FLOPs are stated as 2 x MACs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from resgen.plan.network import NetworkPlan

if TYPE_CHECKING:  # rich is loaded only to print a table (`--json` does without it)
    from rich.console import Console
    from rich.table import Table


@dataclass(frozen=True)
class Row:
    """One line of the summary table."""

    name: str
    blocks: int
    output: tuple[int, int, int]  # (channels, height, width)
    params: int
    macs: int


def rows(plan: NetworkPlan) -> list[Row]:
    stem = plan.stem
    out = [
        Row("stem", 0, (stem.out_channels, stem.out_size, stem.out_size), stem.params, stem.macs)
    ]
    for stage in plan.stages:
        shape = (stage.out_channels, stage.out_size, stage.out_size)
        out.append(Row(stage.torch_name, len(stage.blocks), shape, stage.params, stage.macs))
    head = plan.head
    out.append(Row("head", 0, (head.num_classes, 1, 1), head.params, head.macs))
    return out


def as_json(plan: NetworkPlan) -> dict[str, Any]:
    """The ``summary --json`` document."""
    return {
        "name": plan.name,
        "depth": plan.depth,
        "input": [plan.stem.in_channels, plan.stem.in_size, plan.stem.in_size],
        "params": plan.params,
        "macs": plan.macs,
        "flops": 2 * plan.macs,
        "stages": [
            {
                "name": row.name,
                "blocks": row.blocks,
                "output": list(row.output),
                "params": row.params,
                "macs": row.macs,
            }
            for row in rows(plan)
        ],
    }


def _si(value: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"{value / scale:.3f} {unit}"
    return str(value)


def table(plan: NetworkPlan) -> Table:
    from rich.table import Table

    size = plan.stem.in_size
    title = f"{plan.name}: depth {plan.depth}, input {plan.stem.in_channels}x{size}x{size}"
    grid = Table(title=title, caption="MACs: multiply-accumulates; FLOPs = 2 x MACs")
    grid.add_column("stage")
    grid.add_column("output (C x H x W)", justify="right")
    grid.add_column("blocks", justify="right")
    grid.add_column("params", justify="right")
    grid.add_column("MACs", justify="right")
    for row in rows(plan):
        c, h, w = row.output
        blocks = str(row.blocks) if row.blocks else ""
        grid.add_row(row.name, f"{c} x {h} x {w}", blocks, f"{row.params:,}", _si(row.macs))
    grid.add_section()
    grid.add_row("total", "", str(len(plan.blocks)), f"{plan.params:,}", _si(plan.macs))
    grid.add_row("FLOPs", "", "", "", _si(2 * plan.macs))
    return grid


def print_summary(plan: NetworkPlan, console: Console | None = None) -> None:
    from rich.console import Console

    console = console or Console()
    console.print(table(plan))
    if plan.derivation:
        console.print(plan.derivation, soft_wrap=True, markup=False, highlight=False)
