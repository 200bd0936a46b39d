"""What every resgen command shares: exit codes, the epilog that documents them, and the
mapping of user errors to located lines and exit 2. ``resgen.cli`` and ``resgen.train.cli``
both import it; neither imports the other's internals."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from resgen.errors import Problem, ResgenError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

F = TypeVar("F", bound=Callable[..., Any])

EPILOG = """\b
Exit codes:
  0  ok
  1  a check or a training run failed
  2  bad input: usage, a spec, a file (one line per problem: file:line:col: field: message)
"""


def user_errors(func: F) -> F:
    """Turn the user-error family (and unreadable paths) into located lines and exit 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ResgenError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            sys.exit(EXIT_BAD_INPUT)
        except OSError as exc:
            name = exc.filename if exc.filename is not None else ""
            click.echo(str(Problem.at_file(name, exc.strerror or str(exc))), err=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper  # type: ignore[return-value]
