"""What `layerloom train` prints: a progress bar per epoch on stderr (redrawn in place on a terminal, one line
per epoch otherwise), notes and failures as `layerloom: …`, the summary on stdout and, with --json, one JSON
object as the last line of stdout.

    out = Output(json_mode=False, enabled=True)   # enabled: rank 0 of a distributed run, or a plain run
    result = trainer.run(Progress(out), control)
    out.summary(result)
"""

from __future__ import annotations

import json
import math
import sys
import time


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


class Output:
    """Where the command writes: failures and notes on stderr, the summary on stdout (JSON with --json);
    silent when not `enabled` (the other ranks of a distributed run)."""

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
            final_doc.update({k: _finite(v) for k, v in result.final.items()  # a recipe's own: val_kl, …
                              if k not in final_doc and isinstance(v, int | float) and not isinstance(v, bool)})
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


class Progress:
    """The sink of a command-line run: a bar per epoch on stderr (redrawn in place on a terminal, one line
    per epoch otherwise), with batches, loss, accuracy, samples/s and the time left."""

    WIDTH = 24

    def __init__(self, out: Output):
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
        known = ("val_accuracy", "val_mae", "val_r2")
        own = [k for k in m if k.startswith("val_") and k not in (*known, "val_loss")]  # a recipe's: val_kl, …
        for key in (*known, *own):
            if key in m:
                parts.append(f"{key} {_metric(key, m[key])}")
        best = " *" if e.is_best else ""
        text = (f"epoch {e.epoch + 1}/{e.epochs} {self._bar(1, 1)} {' '.join(parts)} "
                f"{e.samples_per_s:,.0f} samples/s {e.seconds:.1f}s{best}")
        print(("\r" if self.out.tty else "") + text + ("\x1b[K" if self.out.tty else ""), file=self.err, flush=True)
        self._line_open = False
