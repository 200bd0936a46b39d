"""``resgen train``: the click command. Frameworks are imported only when it runs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from resgen.backends import BACKENDS
from resgen.cli.support import user_errors
from resgen.train.config import DEFAULT_BATCH_SIZE, DEFAULT_STEPS, EXIT_INTERRUPTED

F = TypeVar("F", bound=Callable[..., Any])

EPILOG = f"""\b
Exit codes:
  0    trained; OUT holds model.py, metrics.jsonl, summary.json, curves.png, a checkpoint
  1    the run failed: the loss stopped being finite
  2    bad input: a spec, --data, --device, --out, --resume (one line per problem)
  {EXIT_INTERRUPTED}  stopped by Ctrl-C or SIGTERM after saving a checkpoint; --resume continues

\b
Scale out with torchrun (DistributedDataParallel, gloo on CPU, NCCL on CUDA):
  torchrun --standalone --nproc-per-node 2 -m resgen train SPEC --backend torch
"""


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--backend", type=click.Choice(BACKENDS), default="torch", show_default=True)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    default="auto",
    show_default=True,
    help="auto: CUDA, then MPS, then CPU.",
)
@click.option(
    "--data",
    default="synthetic",
    show_default=True,
    metavar="KIND",
    help="synthetic | digits | cifar10:PATH (the python batches) | folder:PATH (class folders).",
)
@click.option("--steps", type=int, help=f"SGD steps [default: {DEFAULT_STEPS}].")
@click.option("--epochs", type=int, help="Passes over the training split (instead of --steps).")
@click.option(
    "--batch-size",
    type=int,
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Global batch (split over torchrun processes).",
)
@click.option("--lr", type=float, help="Initial rate [default: 0.1 * batch-size / 256].")
@click.option(
    "--schedule",
    type=click.Choice(["plateau", "step"]),
    default="plateau",
    show_default=True,
    help="Divide the rate by 10 on a loss plateau, or at 50% and 75% of the steps.",
)
@click.option("--amp/--no-amp", default=None, help="bf16 autocast [default: on for GPUs].")
@click.option(
    "--channels-last/--no-channels-last",
    default=None,
    help="channels_last tensors, torch [default: on for CUDA].",
)
@click.option(
    "--compile", "compile_", is_flag=True, help="torch.compile (keras: XLA, or torch.compile)."
)
@click.option(
    "--augment/--no-augment",
    default=None,
    help="Pad-and-crop + flip [default: on for cifar10 and folder].",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="0 to 2**32 - 1: weights, data, order."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Run folder [default: runs/<name>; several specs: OUT/<name>].",
)
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in OUT.")
@click.option(
    "--force",
    is_flag=True,
    help="Start a new run in OUT even if it is not a resgen run folder (replaces its run files).",
)
@click.option(
    "--workers",
    type=int,
    help="Data-loading processes [default: usable cores, at most 8; 0: the training process].",
)
@click.option(
    "--eval-images",
    type=int,
    metavar="N",
    help="Evaluate on the first N held-out images [default: all of them; 0: skip].",
)
@click.option(
    "--plot",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also overlay every spec's training-error curve in this PNG.",
)
@click.option("--log-every", type=int, default=10, show_default=True, help="Steps per log line.")
@click.option("--checkpoint-every", type=int, default=200, show_default=True)
@user_errors
def train(
    specs: tuple[Path, ...],
    backend: str,
    device: str,
    data: str,
    steps: int | None,
    epochs: int | None,
    batch_size: int,
    lr: float | None,
    schedule: str,
    amp: bool | None,
    channels_last: bool | None,
    compile_: bool,
    augment: bool | None,
    seed: int,
    out: Path | None,
    resume: bool,
    force: bool,
    workers: int | None,
    eval_images: int | None,
    plot: Path | None,
    log_every: int,
    checkpoint_every: int,
) -> None:
    """Test-train the generated network of each SPEC (the file `build` writes) on CPU or GPU.

    The paper's recipe: SGD, momentum 0.9, weight decay 1e-4, rate 0.1 x batch/256 divided by 10
    on plateaus, no dropout. Several specs train with the same budget into OUT/<name>.
    """
    from rich.console import Console

    from resgen.train.config import TrainConfig
    from resgen.train.loop import Diverged, Interrupted
    from resgen.train.session import train_all

    config = TrainConfig(
        backend=backend,  # type: ignore[arg-type]
        device=device,  # type: ignore[arg-type]
        data=data,
        steps=steps,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        schedule=schedule,  # type: ignore[arg-type]
        amp=amp,
        channels_last=channels_last,
        compile=compile_,
        seed=seed,
        augment=augment,
        log_every=log_every,
        checkpoint_every=checkpoint_every,
        resume=resume,
        force=force,
        workers=workers,
        eval_images=eval_images,
    )
    console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
    try:
        train_all(specs, config, out, plot, console)
    except Interrupted as stop:
        console.print(
            f"interrupted after step {stop.step}; checkpoint saved. "
            "Run the same command with --resume to continue."
        )
        sys.exit(EXIT_INTERRUPTED)
    except Diverged as failure:
        console.print(f"training failed: {failure}; try a lower --lr")
        sys.exit(1)
