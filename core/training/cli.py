"""`layerloom train`: train a project file from the command line, alone or under torchrun.

    layerloom train FILE.json [--data SOURCE] [--val-data SOURCE] [--epochs N] [--batch-size N] [--lr X]
                    [--optimizer NAME] [--device auto|cpu|cuda|mps] [--seed N] [--out DIR]
                    [--resume RUN_DIR] [--json]

The project's data settings are the default data; --data replaces the source (its options are kept only
when it names the same source). A progress bar per epoch goes to stderr, the summary to stdout; with
--json the last line of stdout is one JSON object: status, epochs, final, best, run_dir, samples_per_s.
Ctrl-C stops after the current step and saves a checkpoint (a second Ctrl-C quits at once).

Exit status: 0 finished, 1 a file, the data or the training failed, 2 a wrong command line or setting,
130 stopped by Ctrl-C. Every error is one message, never a traceback.

Distributed: `torchrun --nproc_per_node=N --no-python layerloom train FILE.json …` (see distributed.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import time
from typing import Any

from layerloom.core.errors import LayerloomError

PROG = "layerloom train"
HELP = "train a project: progress per epoch, a run folder with checkpoints, metrics and TensorBoard logs"

# flags that override a training setting: flag → setting name
_OVERRIDES = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "optimizer": "optimizer",
              "device": "device", "seed": "seed"}
_FLAG = {"epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr", "optimizer": "--optimizer",
         "device": "--device", "seed": "--seed"}


class BadInput(LayerloomError):
    """Input the command refuses; `status` is the exit status (1: a file or the data, 2: the command line)."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


def configure_train(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--out", metavar="DIR", default="runs", help="where run folders go (default: ./runs)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in this folder from its last checkpoint, "
                   "up to the number of epochs asked for")
    p.add_argument("--json", action="store_true", help="end stdout with one JSON object describing the result")


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    """Add `train` to an argparse subparsers object; the parser's defaults hold `run=run_train`."""
    p = subparsers.add_parser("train", help=HELP, description=HELP)
    configure_train(p)
    p.set_defaults(run=run_train)
    return p


# --- the command ------------------------------------------------------------------------------------


def run_train(args: argparse.Namespace) -> int:
    from layerloom.core.training.distributed import from_environment

    ctx = from_environment()
    main = ctx is None or ctx.is_main
    out = _Output(json_mode=bool(args.json), enabled=main)
    try:
        _check_paths(args, probe=main)  # only rank 0 writes the run folder (and probes for it)
        project, settings = _project_and_settings(args)
        settings = _usable_threads(settings, out)
        if ctx is not None:
            try:
                ctx.init(settings.device)
            except RuntimeError as err:
                raise BadInput(f"distributed training cannot start: {err}") from None
        bundle = _load_data(args, project, settings, ctx, out)
        _check_fit(bundle, project)
        _record_data(args, project)
        if args.resume and not os.path.exists(args.resume):
            raise BadInput(f"{args.resume}: the run folder to resume does not exist")
        _check_resume(args.resume, project)
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
    trainer = Trainer(project, bundle, settings=settings, run_root=args.out, resume=args.resume,
                      project_name=name, distributed=ctx)
    control = TrainControl()
    progress = _Progress(out) if main else None
    interrupted = _StopOnInterrupt(control)
    with interrupted:
        result = trainer.run(progress, control)
    out.summary(result)
    if result.status == "failed":
        return 1
    if result.status == "stopped":
        return 130 if interrupted.count else 0
    return 0


def _check_paths(args, probe: bool = True) -> None:
    """The flags that name data and folders: never empty, and --out a folder the run folder can go in."""
    for attr, flag in (("data", "--data"), ("val_data", "--val-data"), ("out", "--out"), ("resume", "--resume")):
        value = getattr(args, attr, None)
        if value is not None and not str(value).strip():
            what = {"data": "a data set name such as 'digits' or the path of a data file (or leave --data out to "
                            "train on the project's data)",
                    "val_data": "the path of a validation data file (or leave --val-data out)",
                    "out": "the folder the run folders go in (default: runs)",
                    "resume": "the run folder to resume (or leave --resume out)"}[attr]
            raise BadInput(f"{flag} is empty; give {what}", status=2)
    _check_out(args.out, probe)


def _check_out(out: str, probe: bool = True) -> None:
    """--out must be a folder that exists or can be made, and that can be written to: checked before anything
    is loaded, so a run never starts without a place for its checkpoints."""
    import stat
    import tempfile

    try:
        mode = os.stat(out).st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISDIR(mode):
        kind = "a file" if stat.S_ISREG(mode) else "a device or pipe"
        raise BadInput(f"--out {out} is {kind}, not a folder; give the folder the run folders go in (it is created "
                       "when missing)", status=2)
    if not probe:
        return
    made: list[str] = []  # the folders this check makes, removed again: nothing is left before the run starts
    try:
        missing, parent = [], os.path.abspath(out)
        while not os.path.exists(parent) and os.path.dirname(parent) != parent:
            missing.append(parent)
            parent = os.path.dirname(parent)
        for folder in reversed(missing):
            os.mkdir(folder)
            made.append(folder)
        os.rmdir(tempfile.mkdtemp(prefix=".layerloom-write-check-", dir=out))
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        raise BadInput(f"--out {out}: a run folder cannot be made there ({reason}); choose a folder you can write "
                       "to") from None
    finally:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def _usable_threads(settings, out):
    """More threads than CPUs only slow training down, and dozens can make the system refuse to start them
    (libgomp then ends the process): the count is capped, with a note."""
    import dataclasses

    from layerloom.core.resources import usable_threads

    threads, note = usable_threads(settings.threads)
    if note is None:
        return settings
    out.note(note)
    return dataclasses.replace(settings, threads=threads)


def _project_and_settings(args):
    from layerloom.core.errors import ProjectError
    from layerloom.core.project import load_project
    from layerloom.core.settings import TrainingSettings

    if not os.path.exists(args.file):
        raise BadInput(f"{args.file}: the project file does not exist")
    try:
        from layerloom.core.opening import BUNDLE, sniff

        if sniff(args.file) == BUNDLE:  # a bundle (told apart by content): train on from its weights
            from layerloom.core.export.bundle import load_bundle

            project = load_bundle(args.file).project
            if getattr(args, "resume", None) is None:
                args.resume = args.file
        else:
            project = load_project(args.file)
    except ProjectError as err:
        raise BadInput(str(err)) from None
    except LayerloomError as err:
        raise BadInput(str(err)) from None
    values = project.training.to_dict()
    for attr, setting in _OVERRIDES.items():
        v = getattr(args, attr, None)
        if v is not None:
            values[setting] = v
    problems: list[str] = []
    settings = TrainingSettings.from_dict(values, problems)
    if problems:
        raise BadInput(_flag_words(problems, args), status=2)
    report_errors = _graph_errors(project.graph)
    if report_errors:
        raise BadInput(f"{args.file}: the network has errors and cannot be trained:\n"
                       + "\n".join(f"  - {m}" for m in report_errors))
    return project, settings


def _flag_words(problems: list[str], args) -> str:
    """'lr must be a positive number (got -1.0)' → '--lr must be …' when the value came from a flag."""
    out = []
    for p in problems:
        name = p.split(" ", 1)[0]
        flag = _FLAG.get(name)
        if flag is not None and getattr(args, name, None) is not None:
            p = flag + p[len(name):]
        else:
            p = f"{args.file}: training.{p}"
        out.append(p)
    return "\n".join(out) if len(out) == 1 else "the settings are not valid:\n" + "\n".join(f"  - {p}" for p in out)


def _graph_errors(graph) -> list[str]:
    from layerloom.core.inference import infer

    report = infer(graph)
    problems = [p.message for p in report.errors]
    if not any(n.type == "Output" for n in graph):
        problems.append("the network has no Output block, so there is nothing to train")
    if not any(n.type == "Input" for n in graph):
        problems.append("the network has no Input block")
    return problems


def _record_data(args, project) -> None:
    """The run records the data it trained on: `--data` replaces the project's source (and its options,
    which were not used), so the run folder's project, settings and preprocessing agree."""
    if args.data and args.data != project.data.source:
        from layerloom.core.settings import DataSettings

        project.data = DataSettings(source=os.path.abspath(args.data) if os.path.exists(args.data) else args.data,
                                    options={})


def _load_data(args, project, settings, ctx, out):
    try:
        from layerloom.core.data import DataError, load_data
    except ImportError as err:
        raise BadInput(f"data sources are not available: {err}") from None
    source = args.data or project.data.source
    options = dict(project.data.options) if source == project.data.source else {}

    def load():
        try:
            return load_data(source, options, val_fraction=settings.val_fraction, seed=settings.seed,
                             val_source=args.val_data, progress=out.download_progress)
        except DataError as err:
            raise BadInput(str(err)) from None
        except FileNotFoundError as err:
            raise BadInput(f"{err.filename or source}: the data file does not exist") from None
        except Exception as err:  # worded by core/errors_text.py; a bug goes on to the last resort
            from layerloom.core.errors_text import is_bug, plain

            if is_bug(err):
                raise
            raise BadInput(plain(err, source)) from None

    if ctx is None:
        return load()
    import torch.distributed as dist

    # rank 0 first (it may download into the cache), then the others read the cache
    bundle = load() if ctx.is_main else None
    dist.barrier()
    return bundle if bundle is not None else load()


def _check_resume(resume: str | None, project) -> None:
    """The checkpoint to resume from must fit the network: every weight by name, shape and dtype, read from the
    checkpoint's header alone. (Bundles are checked when they are opened.)"""
    from layerloom.core.export.bundle import is_bundle

    if not resume or is_bundle(resume):
        return
    from layerloom.core.errors import CompileError
    from layerloom.core.export.safetensors_header import HeaderError, read_header
    from layerloom.core.export.weights import fit_problems, header_state
    from layerloom.core.training.run_folder import LAST

    path = os.path.join(resume, LAST) if os.path.isdir(resume) else resume
    if not os.path.exists(path):
        return  # the trainer says which file is missing
    try:
        problems = fit_problems(project.graph, header_state(read_header(path), "model."))
    except HeaderError as err:
        raise BadInput(f"{path}: is not a readable checkpoint ({err})") from None
    except CompileError:
        return
    if problems:
        raise BadInput(f"{path}: the checkpoint does not fit the network (was the graph changed?):\n"
                       + "\n".join(f"  - {p}" for p in problems[:20]))


def _check_fit(bundle, project) -> None:
    from layerloom.core.data import check_against_graph

    try:
        problems = check_against_graph(bundle.info, project.graph)
    except LayerloomError as err:
        problems = [str(err)]
    if problems:
        raise BadInput("the data does not fit the network:\n" + "\n".join(f"  - {p}" for p in problems))


class _StopOnInterrupt:
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


# --- output -------------------------------------------------------------------------------------------


def _metric(name: str, v) -> str:
    """As the window writes it: accuracies "91.1 %", other metrics plain numbers (metric_text.py)."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    from layerloom.core.training.metric_text import metric_value

    return metric_value(name, v) if v is not None else "-"


def _num(v, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:.{digits}f}" if abs(v) < 1000 else f"{v:,.0f}"


def _duration(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "--:--"
    s = round(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


class _Output:
    def __init__(self, *, json_mode: bool, enabled: bool):
        self.json_mode = json_mode
        self.enabled = enabled
        self.err = sys.stderr
        self.tty = bool(getattr(self.err, "isatty", lambda: False)())
        self._last_download = 0.0

    def fail(self, message: str) -> None:
        if not self.enabled:
            return
        print(f"layerloom: {message}", file=self.err, flush=True)
        if self.json_mode:
            print(json.dumps({"status": "failed", "message": message, "epochs": 0, "final": {}, "best": None,
                              "run_dir": None, "samples_per_s": 0.0}), flush=True)

    def note(self, message: str) -> None:
        if self.enabled:
            print(f"note: {message}", file=self.err, flush=True)

    def download_progress(self, *args) -> None:
        """Progress of a download: (done, total) bytes or a message; printed at most twice a second."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_download < 0.5:
            return
        self._last_download = now
        if len(args) >= 2 and isinstance(args[0], int | float) and args[1]:
            what = f"{args[2]}: " if len(args) > 2 and args[2] else "downloading: "
            text = f"{what}{args[0] / 2**20:.1f} of {args[1] / 2**20:.1f} MB"
        else:
            text = " ".join(str(a) for a in args)
        print(("\r" if self.tty else "") + text, end="" if self.tty else "\n", file=self.err, flush=True)

    def summary(self, result) -> None:
        if not self.enabled:
            return
        final = {k: v for k, v in result.final.items() if v is not None}
        if result.status == "failed":
            print(f"layerloom: {result.message}", file=self.err, flush=True)
        else:
            parts = [f"{k} {_metric(k, v)}" for k, v in final.items()]
            what = {"completed": "Finished", "early_stopping": "Stopped early (no improvement)",
                    "stopped": "Stopped"}.get(result.reason, "Finished")
            print(f"{what} after {result.epochs} epoch{'s' if result.epochs != 1 else ''} "
                  f"in {_duration(result.seconds)}: {', '.join(parts) or 'no metrics'}", flush=True)
            if result.best is not None:
                print(f"Best {result.metric}: {_metric(result.metric, result.best)} "
                      f"(epoch {(result.best_epoch or 0) + 1})", flush=True)
            print(f"Training speed: {result.samples_per_s:,.0f} samples/s", flush=True)
        if result.run_dir:
            print(f"Run folder: {result.run_dir}", flush=True)
        if self.json_mode:
            keep = ("train_loss", "val_loss", "val_accuracy", "train_accuracy", "val_mae", "val_r2")
            final_doc = {"train_loss": None, "val_loss": None}
            final_doc.update({k: _finite(result.final.get(k)) for k in keep if k in result.final})
            doc = {
                "status": result.status,
                "reason": result.reason,
                "epochs": result.epochs,
                "final": final_doc,
                "best": _finite(result.best),
                "best_metric": result.metric,
                "best_epoch": None if result.best_epoch is None else result.best_epoch + 1,
                "run_dir": result.run_dir,
                "samples_per_s": round(result.samples_per_s, 1),
                "seconds": round(result.seconds, 3),
                "steps": result.step,
                "checkpoint": result.checkpoint,
            }
            if result.message:
                doc["message"] = result.message
            print(json.dumps(doc), flush=True)


def _finite(v):
    return v if isinstance(v, int | float) and math.isfinite(v) else None


class _Progress:
    """The sink of a command-line run: a bar per epoch on stderr (redrawn in place on a terminal, one line
    per epoch otherwise), with batches, loss, accuracy, samples/s and the time left."""

    WIDTH = 24

    def __init__(self, out: _Output):
        self.out = out
        self.err = out.err
        self.epochs = 0
        self._last_draw = 0.0
        self._loss = None
        self._line_open = False

    def __call__(self, event) -> None:
        kind = event.kind
        if kind == "steps":
            self._loss = float(event.loss[-1]) if len(event.loss) else self._loss
            now = time.monotonic()
            if self.out.tty and now - self._last_draw >= 0.1:
                self._last_draw = now
                self._draw(event)
        elif kind == "epoch_end":
            self._epoch_line(event)
        elif kind == "run_started":
            self.epochs = event.epochs
            where = event.device_name if event.device == "cpu" else f"{event.device} ({event.device_name})"
            procs = f" × {event.world_size} processes" if event.world_size > 1 else ""
            resumed = f", resuming at epoch {event.start_epoch + 1}" if event.start_epoch else ""
            print(f"Training on {where}{procs}, {event.precision}: {event.train_size:,} training and "
                  f"{event.val_size:,} validation samples, {event.param_count:,} parameters, batch "
                  f"{event.batch_size}{resumed}", file=self.err, flush=True)
            for note in event.notes:
                print(f"note: {note}", file=self.err, flush=True)
        elif kind == "gradient_stats":
            pass
        elif kind == "failed" and self._line_open:
            print(file=self.err, flush=True)
            self._line_open = False

    def _bar(self, done: int, total: int) -> str:
        filled = int(self.WIDTH * done / total) if total else self.WIDTH
        return "█" * filled + "·" * (self.WIDTH - filled)

    def _draw(self, e) -> None:
        acc = f" acc {_metric('accuracy', e.accuracy)}" if e.accuracy is not None else ""
        rate = float(e.samples_per_s[-1]) if len(e.samples_per_s) else 0.0
        text = (f"epoch {e.epoch + 1}/{self.epochs} {self._bar(e.batch, e.batches_per_epoch)} "
                f"{e.batch}/{e.batches_per_epoch} loss {_num(self._loss)}{acc} {rate:,.0f} samples/s "
                f"ETA {_duration(e.eta_s)}")
        print("\r" + text + "\x1b[K", end="", file=self.err, flush=True)
        self._line_open = True

    def _epoch_line(self, e) -> None:
        m = e.metrics
        parts = [f"loss {_num(e.train_loss)}"]
        if "train_accuracy" in m:
            parts.append(f"acc {_metric('train_accuracy', m['train_accuracy'])}")
        if e.val_loss is not None:
            parts.append(f"val_loss {_num(e.val_loss)}")
        for key in ("val_accuracy", "val_mae", "val_r2"):
            if key in m:
                parts.append(f"{key} {_metric(key, m[key])}")
        best = " *" if e.is_best else ""
        text = (f"epoch {e.epoch + 1}/{e.epochs} {self._bar(1, 1)} {' '.join(parts)} "
                f"{e.samples_per_s:,.0f} samples/s {e.seconds:.1f}s{best}")
        print(("\r" if self.out.tty else "") + text + ("\x1b[K" if self.out.tty else ""), file=self.err, flush=True)
        self._line_open = False


# --- registration and `python -m` -----------------------------------------------------------------------


def _register() -> None:
    """Register with the `layerloom` command (core/cli.py's registry) when it has one."""
    try:
        from layerloom.core.cli import SUBCOMMANDS, subcommand
    except ImportError:
        return
    if "train" not in SUBCOMMANDS:
        subcommand("train", HELP, configure_train)(run_train)


_register()


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
