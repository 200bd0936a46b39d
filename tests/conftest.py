"""Shared fixtures: where the shipped specs are, and running the command line in-process.

Importing this sets one thread per framework (:data:`helpers.ONE_THREAD`) before any test module
imports torch, TensorFlow or JAX, and gives the session's child processes one JAX compilation
cache: Keras on JAX compiles every op per shape, and the JAX children (test_backends, the
training checks of test_keras_backend and test_keras_knobs, convert's round trip) build networks
of the same widths. The cache lives in a temporary folder made by the first process (xdist's
workers inherit it) and removed by it at the end; one already set in the environment is kept.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers import ONE_THREAD, REPO

os.environ.update(ONE_THREAD)

_JAX_CACHE: str | None = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _JAX_CACHE = tempfile.mkdtemp(prefix="resgen-tests-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _JAX_CACHE
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _JAX_CACHE is not None:
        shutil.rmtree(_JAX_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True)
def _own_build_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each test's ``resgen build`` (in-process or a child process) starts with an empty build
    cache of its own, never the user's: no test sees another's entries."""
    monkeypatch.setenv("RESGEN_CACHE_DIR", str(tmp_path_factory.mktemp("resgen-cache")))


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    """The shipped specs (``specs/`` at the repository root)."""
    return REPO / "specs"


@pytest.fixture
def cli() -> Callable[..., Result]:
    """``cli("validate", "x.yaml")`` runs ``resgen`` in-process with stdout and stderr apart.

    Rich sees an 80-column terminal, whatever the one running the tests is.
    """
    from resgen.cli.commands import main

    def invoke(*args: str | Path) -> Result:
        runner = CliRunner(env={"COLUMNS": "80"})
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=True)

    return invoke
