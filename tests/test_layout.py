"""resgen.rendering.layout.fit breaks a long line where ``ruff format`` (the independent truth)
does."""

from __future__ import annotations

import subprocess

import pytest
from helpers import RUFF

from resgen.rendering.layout import LINE_LENGTH, fit

# (enclosing lines, the line to lay out): calls that fit, hug or explode; defs of every length.
CASES = [
    ("def f():\n", '    out = conv2d(x, width, 1, use_bias=False, name=f"{name}_1")'),
    (
        "def f():\n",
        "    out = conv2d(out, width, 3, strides=stride, groups=GROUPS, use_bias=False, "
        'name=f"{name}_2")',
    ),
    (
        "def f():\n    if x:\n",
        "        shortcut = conv2d(preact, out_channels, 1, strides=stride, use_bias=True, "
        'name=f"{name}_0")',
    ),
    (
        "class A:\n    def __init__(self):\n",
        "        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, stride=stride, "
        "bias=False)",
    ),
    (
        "def f():\n",
        "    out = a_function_with_a_long_name(first_argument_is_long, second_argument_too, "
        'third=(1, 2), fourth="a, b", fifth=[3, 4])',
    ),
    ("", "def resnet50(num_classes: int = 1000) -> ResNet:"),
    ("", f"def {'n' * 60}(num_classes: int = 1000) -> ResNet:"),
    ("", f"def {'n' * 64}(num_classes: int = 1000000) -> ResNet:"),
]


def ruff_format(source: str) -> str:
    result = subprocess.run(
        [str(RUFF), "format", "--isolated", "-"],
        input=source,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


@pytest.mark.parametrize(("context", "line"), CASES)
def test_fit_lays_out_as_ruff_format_does(context: str, line: str) -> None:
    tail = "    pass\n" if line.startswith("def ") else ""
    ours = context + fit(line + "\n") + tail
    assert ruff_format(ours) == ours
    assert ruff_format(context + line + "\n" + tail) == ours


def test_short_lines_are_left_alone() -> None:
    line = "    x = f(a, b)\n"
    assert fit(line) == line
    assert all(len(row) <= LINE_LENGTH for row in fit(CASES[1][1]).splitlines())


def test_a_line_without_brackets_is_refused() -> None:
    with pytest.raises(ValueError, match="no bracketed arguments"):
        fit("x = " + "a" * 100)
