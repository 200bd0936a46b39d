"""Shared fixtures: where the shipped specs are, and running the command line in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers import REPO


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    """The shipped specs (``specs/`` at the repository root)."""
    return REPO / "specs"


@pytest.fixture
def cli() -> Callable[..., Result]:
    """``cli("validate", "x.yaml")`` runs ``resgen`` in-process with stdout and stderr apart.

    Rich sees an 80-column terminal, whatever the one running the tests is.
    """
    from resgen.cli import main

    def invoke(*args: str | Path) -> Result:
        runner = CliRunner(env={"COLUMNS": "80"})
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=True)

    return invoke
