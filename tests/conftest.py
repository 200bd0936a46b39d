"""Shared fixtures: where the shipped specs are, and running the command line in-process.

Importing this sets one thread per framework (:data:`helpers.ONE_THREAD`) before any test module
imports torch, TensorFlow or JAX.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers import ONE_THREAD, REPO

os.environ.update(ONE_THREAD)


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
