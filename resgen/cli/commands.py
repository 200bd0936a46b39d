"""The ``resgen`` command line: thin commands that call the library and map results to exit codes.

Exit codes: 0 ok; 1 a check or a training run failed; 2 bad input (usage, spec, file).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from resgen._version import __version__
from resgen.backends import BACKENDS
from resgen.cli.support import (
    EPILOG,
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    NonEmptyPath,
    ResgenGroup,
    user_errors,
)
from resgen.cli.train_command import train


@click.group(
    "resgen",
    cls=ResgenGroup,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="resgen")
def main() -> None:
    """resgen: residual networks from YAML specs, as readable PyTorch and Keras 3 files."""


BACKEND_CHOICE = click.Choice([*BACKENDS, "all"])


@main.command(epilog=EPILOG)
@click.argument("paths", nargs=-1, required=True, type=NonEmptyPath(path_type=Path))
@click.option("--backend", type=BACKEND_CHOICE, default="torch", show_default=True)
@click.option(
    "--out",
    type=NonEmptyPath(path_type=Path),
    default=Path("generated"),
    show_default=True,
    help="Files go to OUT/<backend>/<name>.py (a folder; created if missing).",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 listing files not current.")
@click.option("--force", is_flag=True, help="Overwrite hand-edited files and foreign files.")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Read, plan and render every spec, even those the build cache knows unchanged "
    "(the cache is in $RESGEN_CACHE_DIR, else $XDG_CACHE_HOME/resgen or ~/.cache/resgen).",
)
@user_errors
def build(
    paths: tuple[Path, ...], backend: str, out: Path, check: bool, force: bool, no_cache: bool
) -> None:
    """Render each spec (files or folders of *.yaml) into a standalone source file.

    A spec whose inputs did not change since a build (its bytes, its bases', resgen's own) and
    whose files are still what that build wrote is not read again: see --no-cache.
    """
    from resgen.rendering import build as builder
    from resgen.rendering.cache import BuildCache

    backends = BACKENDS if backend == "all" else (backend,)
    cache = None if no_cache else BuildCache.default()
    if check:
        findings = builder.check(paths, backends, out, cache=cache)  # type: ignore[arg-type]
        for finding in findings:
            click.echo(str(finding))
        if findings:
            click.echo(f"{len(findings)} file(s) not current; run the same command without --check")
            sys.exit(EXIT_FAILED)
        click.echo("all generated files are current")
        return
    written = builder.build(paths, backends, out, force=force, cache=cache)  # type: ignore[arg-type]
    for path in written:
        click.echo(f"wrote {path}")
    if not written:
        click.echo("nothing to do: every file is current")


@main.command(epilog=EPILOG)
@click.argument("paths", nargs=-1, required=True, type=NonEmptyPath(path_type=Path))
@user_errors
def validate(paths: tuple[Path, ...]) -> None:
    """Check specs; print one located line per problem."""
    from resgen.check.validate import load_specs

    loaded = load_specs(paths)
    click.echo(f"{len(loaded)} spec(s) valid")


@main.command(epilog=EPILOG)
@click.argument("spec", type=NonEmptyPath(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@user_errors
def summary(spec: Path, as_json: bool) -> None:
    """Per-stage shapes, parameters and MACs, computed from the spec alone."""
    from resgen.check.validate import load_planned
    from resgen.plan import summary as summaries

    plan = load_planned(spec).plan
    if as_json:
        click.echo(json.dumps(summaries.as_json(plan), indent=2))
    else:
        summaries.print_summary(plan)


@main.command("list", epilog=EPILOG)
@click.argument("folder", required=False, default=Path("specs"), type=NonEmptyPath(path_type=Path))
@user_errors
def list_specs(folder: Path) -> None:
    """One row per spec in FOLDER (default specs/): name, family, depth, parameters, MACs."""
    from rich.console import Console
    from rich.table import Table

    from resgen.check.validate import load_all_planned

    table = Table(caption="MACs: multiply-accumulates per image at the spec's input size")
    for column in ("name", "family", "depth", "params", "GMACs", "block", "shortcut", "input"):
        numeric = column in ("depth", "params", "GMACs")
        table.add_column(column, justify="right" if numeric else "left", no_wrap=True)
    for _, planned in load_all_planned([folder]):
        spec, plan = planned.spec, planned.plan
        block = plan.block_class
        kind = f"preact {block.type}" if block.preact else block.type
        size = spec.input.size
        table.add_row(
            spec.name,
            spec.family or "",
            str(plan.depth),
            f"{plan.params:,}",
            f"{plan.macs / 1e9:.3f}",
            kind,
            spec.shortcut,
            f"{spec.input.channels}x{size}x{size}",
        )
    # Not a terminal: wide enough that no cell is cut (a 64-character name still fits).
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@main.command(epilog=EPILOG)
def schema() -> None:
    """Print the spec's JSON Schema (for yaml-language-server and other editors)."""
    from resgen.spec.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@main.command(epilog=EPILOG)
@click.argument("spec", type=NonEmptyPath(path_type=Path))
@click.argument("source", metavar="IN", type=NonEmptyPath(path_type=Path))
@click.argument("target", metavar="OUT", type=NonEmptyPath(path_type=Path))
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.option(
    "--adapt",
    is_flag=True,
    help="Fit a 3-channel stem to the spec's input channels (timm's rule) and leave a "
    "classifier of another size at the spec's initialisation.",
)
@user_errors
def convert(spec: Path, source: Path, target: Path, force: bool, adapt: bool) -> None:
    """Move a checkpoint between SPEC's PyTorch and Keras models, verified.

    \b
    The suffixes decide the direction:
      .pt, .pth      PyTorch state_dict (bare, or under "state_dict" or "model")
      .safetensors   PyTorch safetensors
      .weights.h5    Keras 3 weights (model.save_weights)
      .h5            Keras 2 weights by layer name (keras.applications' downloads; IN only)
    IN is loaded strictly; both models then run one random batch in eval mode and OUT is
    written only when, at every stage, the checked model is about as close to the float64
    answer as float32 PyTorch is, with every value finite (else exit 1). transformers' and
    OpenMMLab's names are read too (resgen/weights/dialects.py).
    """
    from resgen.weights import convert as converter

    request = converter.prepare(spec, source, target, force=force, adapt=adapt)  # no framework
    missing = converter.missing_framework()
    if missing is not None:
        click.echo(f"resgen convert needs {missing}; see docs/install.md", err=True)
        sys.exit(EXIT_BAD_INPUT)
    report = converter.run(request)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        click.echo(f"not written: {target} ({report.reason})")
        sys.exit(EXIT_FAILED)
    click.echo(f"wrote {target}")


main.add_command(train)
