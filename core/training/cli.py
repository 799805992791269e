"""`layerloom train`: train a project file from the command line, alone or under torchrun.

    layerloom train FILE.json [--data SOURCE] [--val-data SOURCE] [--epochs N] [--batch-size N] [--lr X]
                    [--optimizer NAME] [--device auto|cpu|cuda|mps] [--seed N] [--threads N]
                    [--out DIR] [--resume RUN_DIR] [--json]

The project's data settings are the default data; --data replaces the source (its options are kept only
when it names the same source). A progress bar per epoch goes to stderr, the summary to stdout; with
--json the last line of stdout is one JSON object: status, epochs, final, best, run_dir, samples_per_s.
Ctrl-C stops after the current step and saves a checkpoint (a second Ctrl-C quits at once).

Exit status: 0 finished, 1 a file, the data or the training failed, 2 a wrong command line or setting,
130 stopped by Ctrl-C. Every error is one message, never a traceback.

Distributed: `torchrun --nproc_per_node=N --no-python layerloom train FILE.json …` (see distributed.py).
What it checks before the run is in cli_inputs.py, what it prints in cli_output.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from typing import Any

from layerloom.core.cli import subcommand
from layerloom.core.errors import LayerloomError
from layerloom.core.training.cli_inputs import BadInput, prepare
from layerloom.core.training.cli_output import Output, Progress

PROG = "layerloom train"
HELP = "train a project: progress per epoch, a run folder with checkpoints, metrics and TensorBoard logs"


def configure_train(p: argparse.ArgumentParser) -> None:
    """The arguments of `layerloom train` (also of `python -m layerloom.core.training.cli`)."""
    p.add_argument("file", metavar="FILE.json", help="the project file to train")
    p.add_argument("--data", metavar="SOURCE", help="data set name (digits, iris, mnist, …) or a file or folder; "
                   "default: the project's data")
    p.add_argument("--val-data", metavar="SOURCE", help="a separate validation set (instead of a split)")
    p.add_argument("--epochs", type=int, metavar="N", help="passes over the training data")
    p.add_argument("--batch-size", type=int, metavar="N", help="samples per optimizer step (per process)")
    p.add_argument("--lr", type=float, metavar="X", help="learning rate")
    p.add_argument("--optimizer", metavar="NAME", help="sgd, adam, adamw or rmsprop")
    p.add_argument("--device", metavar="DEVICE", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=int, metavar="N", help="seed of every random generator (same seed: same run)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads (per process); default: the cores other "
                   "work leaves free when the run starts (layerloom doctor shows the choice)")
    p.add_argument("--out", metavar="DIR", default="runs", help="where run folders go (default: ./runs)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in this folder from its last checkpoint, "
                   "up to the number of epochs asked for")
    p.add_argument("--json", action="store_true", help="end stdout with one JSON object describing the result")


# --- the command ------------------------------------------------------------------------------------


@subcommand("train", HELP, configure_train)
def run_train(args: argparse.Namespace) -> int:
    """`layerloom train FILE.json …`: check the input, run the trainer, print the result; the exit status."""
    from layerloom.core.training.distributed import from_environment

    ctx = from_environment()
    main = ctx is None or ctx.is_main
    out = Output(json_mode=bool(args.json), enabled=main)
    try:
        project, settings, prepared = prepare(args, ctx, out)
    except BadInput as err:
        out.fail(str(err))
        if ctx is not None:
            ctx.close()
        return err.status
    except LayerloomError as err:
        out.fail(str(err))
        if ctx is not None:
            ctx.close()
        return 1

    from layerloom.core.training.control import TrainControl
    from layerloom.core.training.trainer import Trainer

    name = project.name or os.path.splitext(os.path.basename(args.file))[0]
    trainer = Trainer(project, prepared, settings=settings, run_root=args.out, resume=args.resume,
                      project_name=name, distributed=ctx)
    control = TrainControl()
    progress = Progress(out) if main else None
    interrupted = StopOnInterrupt(control)
    with interrupted:
        result = trainer.run(progress, control)
    out.summary(result)
    if result.status == "failed":
        return 1
    if result.status == "stopped":
        return 130 if interrupted.count else 0
    return 0


class StopOnInterrupt:
    """Ctrl-C (SIGINT) and SIGTERM stop after the current step (a checkpoint is saved); a second Ctrl-C
    interrupts at once."""

    def __init__(self, control):
        self.control = control
        self.count = 0
        self._old: dict[int, Any] = {}

    def _handler(self, signum, frame):
        self.count += 1
        if self.count > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.control.stop()
        print("\nstopping after this step (Ctrl-C again to quit at once)…", file=sys.stderr, flush=True)

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(ValueError, OSError):
                    self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, old)
        return False


# --- `python -m` ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """`python -m layerloom.core.training.cli FILE.json …`: the same as `layerloom train FILE.json …`."""
    parser = argparse.ArgumentParser(prog=PROG, description=HELP)
    configure_train(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return run_train(args)
    except KeyboardInterrupt:
        print("layerloom: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # the last resort: one sentence (core/errors_text.py), never a traceback
        from layerloom.core.errors_text import describe, is_bug

        if is_bug(err) and os.environ.get("LAYERLOOM_DEBUG"):
            raise
        print(f"layerloom: {describe(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
