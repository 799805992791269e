"""One folder per run, `runs/<project>-<time>/`:

    project.json        the project as trained (graph, data and training settings)
    settings.json       the resolved settings (device, precision, seed, data, sizes, …)
    preprocessing.json  raw data → model input as trained (scaling, normalization, vocabulary, class names)
    epochs.jsonl        one JSON object per epoch (losses, metrics, lr, time, confusion counts)
    epochs.csv          the same scalars as a table
    steps.csv           step, epoch, loss, lr, time of every training step
    last.safetensors    the latest checkpoint (model + optimizer + schedule + position): resume from it
    best.safetensors    the checkpoint of the best epoch by the watched metric
    events.out.tfevents.*   TensorBoard scalars: `tensorboard --logdir runs` shows every run
    status.json         what the run is (running, finished, stopped, failed; "interrupted" when its process is
                        gone) and what its checkpoints hold (see run_status.py)

The logs are appended as the run goes: at the end of an epoch once LOG_WRITE_INTERVAL seconds have passed
since the last write, within a long epoch every STEPS_WRITE_INTERVAL seconds, before every checkpoint, when
training pauses and when the run ends; so a crash loses at most the last seconds and never leaves a
checkpoint ahead of the logs, and a model whose epochs take milliseconds does not spend its time writing
files. Only rank 0 of a distributed run writes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import stat
import time
from typing import Any

import numpy as np

from layerloom.core.errors import LayerloomError

LAST = "last.safetensors"
TB_INTERVAL = 1.0  # seconds of training between two TensorBoard points of the step loss
LOG_WRITE_INTERVAL = 2.0  # seconds between two writes of the logs at the end of epochs
STEPS_WRITE_INTERVAL = 10.0  # seconds between two writes within a long epoch, while the steps run
BEST = "best.safetensors"
PREPROCESSING = "preprocessing.json"
STEP_COLUMNS = ("step", "epoch", "loss", "lr", "time")
EPOCH_SCALARS = ("epoch", "step", "train_loss", "val_loss", "val_accuracy", "train_accuracy", "val_mae", "val_r2",
                 "lr", "seconds", "samples_per_s")


RUN_FILES = ("project.json", "settings.json", PREPROCESSING, "epochs.jsonl", "epochs.csv", "steps.csv", LAST, BEST,
             "status.json")


class RunFolderError(LayerloomError):
    """A run folder that cannot be used as one (a file of it is a FIFO, a device, a folder…)."""


def is_regular(path: str) -> bool:
    """True for a regular file (or a link to one): reading it ends. A FIFO would block, a device never end."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def check_run_files(path: str) -> None:
    """Refuse a run folder whose files are not all regular files (RunFolderError names the first): a link
    would have the run write where it points, a FIFO block, a device never end."""
    for name in RUN_FILES:
        file = os.path.join(path, name)
        if os.path.islink(file) or (os.path.lexists(file) and not is_regular(file)):
            from layerloom.core.resources import kind_of

            what = "a link" if os.path.islink(file) else kind_of(file) or "not a regular file"
            raise RunFolderError(f"{file}: is {what}, so the run folder cannot be used (a run folder holds only "
                                 "the files Layerloom wrote)")


def _no_follow(path: str, flags: int) -> int:
    """An opener that refuses to open a link (the log files are appended to: never through a link)."""
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o666)


def _epoch_of(record: dict) -> int | None:
    epoch = record.get("epoch")
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None


def slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return s[:60] or "run"


def new_run_dir(root: str, project_name: str) -> str:
    """A fresh folder `<root>/<project>-<YYYYmmdd-HHMMSS>` (a suffix when that one exists)."""
    os.makedirs(root, exist_ok=True)
    base = f"{slug(project_name)}-{time.strftime('%Y%m%d-%H%M%S')}"
    path = os.path.join(root, base)
    n = 1
    while True:
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            n += 1
            path = os.path.join(root, f"{base}-{n}")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def write_json(path: str, data: Any) -> None:
    from layerloom.core.training.checkpoint import atomic_write

    text = json.dumps(data, indent=2, default=_json_default, allow_nan=True) + "\n"
    atomic_write(path, text.encode("utf-8"), durable=False)


class RunFolder:
    """Writes a run's files. `tensorboard=False` (or tensorboard not installed) skips the event files."""

    def __init__(self, path: str, *, resume: bool = False, tensorboard: bool = True):
        self.path = path
        os.makedirs(path, exist_ok=True)
        self._steps = open(os.path.join(path, "steps.csv"), "a", newline="", encoding="utf-8",  # noqa: SIM115
                           opener=_no_follow)
        self._steps_csv = csv.writer(self._steps)
        if self._steps.tell() == 0:
            self._steps_csv.writerow(STEP_COLUMNS)
        self._epochs_jsonl = open(os.path.join(path, "epochs.jsonl"), "a", encoding="utf-8",  # noqa: SIM115
                                  opener=_no_follow)
        self._epochs = open(os.path.join(path, "epochs.csv"), "a", newline="", encoding="utf-8",  # noqa: SIM115
                            opener=_no_follow)
        self._epochs_csv = csv.writer(self._epochs)
        if self._epochs.tell() == 0:
            self._epochs_csv.writerow(EPOCH_SCALARS)
        self.tb = None
        self.tensorboard_note = None
        self._pending: list[tuple] = []
        self._pending_epochs: list[dict] = []
        self._written_at = self._tb_written_at = time.monotonic()
        self._tb_grad_last = -TB_INTERVAL
        self._tb_pending: list[tuple[str, float, int]] = []
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(log_dir=path, flush_secs=10)
            except Exception as err:  # tensorboard missing or broken: the run goes on without it
                self.tensorboard_note = f"TensorBoard files are not written ({err})"

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def write_project(self, project_dict: dict) -> None:
        from layerloom.core.project import dumps
        from layerloom.core.training.checkpoint import atomic_write

        atomic_write(self.file("project.json"), dumps(project_dict).encode("utf-8"), durable=False)

    def write_settings(self, settings: dict) -> None:
        write_json(self.file("settings.json"), settings)

    def write_preprocessing(self, info) -> None:
        """preprocessing.json: how raw data became what the model takes (see core/data/preprocessing.py)."""
        from layerloom.core.data.preprocessing import Preprocessing

        write_json(self.file(PREPROCESSING), Preprocessing.from_info(info).to_dict())

    def log_steps(self, epoch: int, steps: np.ndarray, losses: np.ndarray, lrs: np.ndarray,
                  times: np.ndarray) -> None:
        """Keep the steps; they are written with the other logs (`write_logs`)."""
        self._pending.append((np.full(len(steps), epoch, np.int64), steps, losses, lrs, times))
        self._write_when_due(STEPS_WRITE_INTERVAL)

    def log_epoch(self, record: dict) -> None:
        """Keep an epoch's record (epochs.jsonl, epochs.csv, TensorBoard); written with the other logs."""
        self._pending_epochs.append(record)
        self._write_when_due(LOG_WRITE_INTERVAL)

    def _write_when_due(self, interval: float) -> None:
        if time.monotonic() - self._written_at >= interval:
            self.write_logs()

    def write_logs(self, *, tensorboard: bool = True) -> None:
        """Write everything kept (steps, epoch records, TensorBoard points) and flush the files.
        `tensorboard=False` (before a checkpoint, at every epoch end): TensorBoard's points wait for their own
        clock (LOG_WRITE_INTERVAL), so short epochs do not wait on its writer thread every time."""
        self._written_at = time.monotonic()
        self._write_steps()
        records, self._pending_epochs = self._pending_epochs, []
        for record in records:
            self._epochs_jsonl.write(json.dumps(record, default=_json_default) + "\n")
            self._epochs_csv.writerow(["" if record.get(k) is None else record.get(k) for k in EPOCH_SCALARS])
            if self.tb is not None:
                step = int(record["epoch"]) + 1
                for key in ("train_loss", "val_loss"):
                    if record.get(key) is not None:
                        self._scalar(f"loss/{key[:-5]}", record[key], step)
                for key, value in record.items():  # every recipe's metrics: accuracy, MAE, the VAE's KL term…
                    if key.startswith(("val_", "train_")) and key not in ("train_loss", "val_loss") \
                            and isinstance(value, int | float) and not isinstance(value, bool):
                        self._scalar(f"metrics/{key}", value, step)
                self._scalar("samples_per_s", record.get("samples_per_s") or 0.0, step)
        for f in (self._steps, self._epochs_jsonl, self._epochs):
            f.flush()
        if tensorboard or self._written_at - self._tb_written_at >= LOG_WRITE_INTERVAL:
            self._tb_written_at = self._written_at
            self._write_tensorboard()

    def _write_steps(self) -> None:
        """Append the kept steps to steps.csv, and to TensorBoard one point a second (the mean loss)."""
        if not self._pending:
            return
        epochs, steps, losses, lrs, times = (np.concatenate(parts) for parts in zip(*self._pending))
        self._pending.clear()
        self._steps.write("".join(f"{s},{e},{v:.6g},{r:.6g},{t:.4f}\n" for s, e, v, r, t in zip(
            steps.tolist(), epochs.tolist(), losses.tolist(), lrs.tolist(), times.tolist())))
        if self.tb is None:
            return
        # a TensorBoard scalar costs about as much as a small training step: one point per second of
        # training, the mean loss over it, at its last step
        bins = np.floor(times / TB_INTERVAL)
        ends = [*np.flatnonzero(np.diff(bins)).tolist(), len(bins) - 1]
        start = 0
        for end in ends:
            chunk = losses[start:end + 1]
            finite = chunk[np.isfinite(chunk)]
            if len(finite):
                self._scalar("loss/train_step", float(finite.mean()), int(steps[end]))
            self._scalar("lr", float(lrs[end]), int(steps[end]))
            start = end + 1

    def log_gradients(self, step: int, layers, grad_norms) -> None:
        """Gradient norms to TensorBoard, at most one set a second (see log_steps)."""
        now = time.monotonic()
        if self.tb is not None and now - self._tb_grad_last >= TB_INTERVAL:
            self._tb_grad_last = now
            for name, v in zip(layers, grad_norms):
                if np.isfinite(v):
                    self._scalar(f"grad_norm/{name}", float(v), step)

    def _scalar(self, tag: str, value: float, step: int) -> None:
        self._tb_pending.append((tag, float(value), int(step)))

    def _write_tensorboard(self) -> None:
        """Hand the kept scalars to TensorBoard and wait until they are written. TensorBoard's writer thread
        does real work per scalar (protobuf, a pure-Python CRC) holding the GIL; done here, with the other
        logs between steps, it does not slow the training steps down."""
        if self.tb is None or not self._tb_pending:
            return
        pending, self._tb_pending = self._tb_pending, []
        for tag, value, step in pending:
            self.tb.add_scalar(tag, value, step)
        self.tb.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.write_logs()
        for f in (self._steps, self._epochs_jsonl, self._epochs):
            with contextlib.suppress(OSError):
                f.close()
        if self.tb is not None:
            with contextlib.suppress(Exception):
                self._write_tensorboard()
                self.tb.close()
            self.tb = None


def truncate_logs(path: str, *, epochs_done: int, step: int) -> None:
    """Drop the log lines after a checkpoint (epoch records from `epochs_done` on, steps after `step`),
    so a run resumed from that checkpoint does not log the same steps twice."""
    check_run_files(path)
    records = [r for r in read_epochs(path) if _epoch_of(r) is not None and _epoch_of(r) < epochs_done]
    from layerloom.core.training.checkpoint import atomic_write

    text = "".join(json.dumps(r, default=_json_default) + "\n" for r in records)
    atomic_write(os.path.join(path, "epochs.jsonl"), text.encode("utf-8"))
    for name, keep in (("epochs.csv", lambda row: int(row[0]) < epochs_done),
                       ("steps.csv", lambda row: int(row[0]) <= step)):
        file = os.path.join(path, name)
        if not os.path.exists(file):
            continue
        kept = []
        with open(file, newline="", encoding="utf-8", errors="replace") as f:
            for i, line in enumerate(f):  # line by line: a damaged line is dropped, not the file
                with contextlib.suppress(ValueError, IndexError, OverflowError, csv.Error, StopIteration):
                    row = next(csv.reader([line]))
                    if i == 0 or keep(row):
                        kept.append(row)
        out = io.StringIO(newline="")
        csv.writer(out).writerows(kept)
        atomic_write(file, out.getvalue().encode("utf-8"), durable=False)  # replaced: never written through a link


def read_epochs(path: str) -> list[dict]:
    """The epoch records of a run folder (for run history and resume); damaged lines are left out."""
    out = []
    file = os.path.join(path, "epochs.jsonl")
    if not is_regular(file):
        return out
    with contextlib.suppress(OSError), open(file, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line:
                with contextlib.suppress(ValueError, RecursionError):
                    record = json.loads(line)
                    if isinstance(record, dict):
                        out.append(record)
    return out


def read_preprocessing(path: str):
    """The Preprocessing of a run folder: its preprocessing.json, or for runs from before that file
    existed, what settings.json recorded (no vocabulary then); None when neither tells."""
    from layerloom.core.data.preprocessing import Preprocessing, PreprocessingError, from_settings

    file = os.path.join(path, PREPROCESSING)
    if os.path.lexists(file):
        try:
            if not is_regular(file):
                raise ValueError("it is not a regular file")
            with open(file, encoding="utf-8") as f:
                return Preprocessing.from_dict(json.load(f), file)
        except (OSError, ValueError, RecursionError) as err:
            raise PreprocessingError(f"{file}: cannot be read ({err})") from None
    settings = os.path.join(path, "settings.json")
    if is_regular(settings):
        with contextlib.suppress(OSError, ValueError, RecursionError, TypeError, KeyError, IndexError,
                                 AttributeError), open(settings, encoding="utf-8") as f:
            return from_settings(json.load(f))  # a damaged settings.json: the preprocessing is unknown
    return None
