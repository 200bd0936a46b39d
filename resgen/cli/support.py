"""What every resgen command shares: exit codes, the epilog that documents them, the mapping of
user errors to located lines and exit 2, and the group that makes click's usage errors one line
too. ``resgen.cli.commands`` and ``resgen.cli.train_command`` both import it; neither imports the
other's internals."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from resgen.errors import Problem, ResgenError, one_line
from resgen.files import WriteFailed

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
            message = exc.strerror or str(exc)
            if isinstance(exc, WriteFailed):
                message = f"cannot write it: {message}; it was left as it was"
            click.echo(str(Problem.at_file(name, message)), err=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper  # type: ignore[return-value]


def usage_line(exc: click.UsageError) -> str:
    """A click usage error as one line: ``resgen build: invalid value for '--backend': 'tf' is
    not one of 'torch', 'keras', 'all'; see 'resgen build --help'``."""
    where = exc.ctx.command_path if exc.ctx is not None else "resgen"
    message = " ".join(exc.format_message().split()).rstrip(".")
    message = message.replace(". Did you mean", "; did you mean")
    message = message[:1].lower() + message[1:]
    return one_line(f"{where}: {message}; see '{where} --help'")


class NonEmptyPath(click.Path):
    """``click.Path`` that refuses an empty value (``--out ""``), which ``Path("")`` would quietly
    read as the current folder."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value:
            self.fail("the path is empty", param, ctx)
        return super().convert(value, param, ctx)


class ResgenGroup(click.Group):
    """A click group whose usage errors (unknown options, bad choices, missing arguments, in any
    subcommand, ``train`` included) are one line on stderr and exit 2, like every user error."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            click.echo(usage_line(exc), err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.ClickException as exc:
            click.echo(one_line(exc.format_message()), err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(EXIT_FAILED)
        sys.exit(result if isinstance(result, int) else EXIT_OK)
