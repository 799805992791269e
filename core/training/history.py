"""The run history of a project, read from its run folders (no Qt, no torch).

    runs = list_runs("runs", "lenet5")   # newest first: RunSummary(path, name, started, epochs_done, status, …)
    curves = load_run(runs[0].path)      # RunCurves: epoch records and the steps' arrays
    delete_run(runs[-1].path)            # the folder and everything in it; refused while the run is running
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from layerloom.core.errors import LayerloomError
from layerloom.core.training.metric_text import metric_text
from layerloom.core.training.run_folder import is_regular, read_epochs, slug
from layerloom.core.training.run_status import read_status

_STAMP = re.compile(r"-(\d{8}-\d{6})(?:-\d+)?$")
HIGHER_IS_BETTER = ("val_accuracy", "train_accuracy", "val_r2")


@dataclass
class RunSummary:
    path: str
    name: str  # the folder name
    started: datetime | None
    epochs_done: int
    epochs_planned: int | None
    training: dict[str, Any]  # the training settings as trained
    metric: str  # the watched metric ("val_accuracy", "val_loss", …)
    best: float | None
    best_epoch: int | None  # 0-based
    final: dict[str, Any] = field(default_factory=dict)  # the last epoch's record
    device_name: str = ""
    data_name: str = ""
    status: str = ""  # running, finished, stopped, failed, interrupted; "" for runs from before status.json
    status_text: str = ""  # the status in a line (a failed run's message, the last checkpoint)

    @property
    def settings_text(self) -> str:
        return settings_summary(self.training)

    @property
    def best_text(self) -> str:
        return metric_text(self.metric, self.best)


@dataclass
class RunCurves:
    path: str
    epochs: list[dict]  # epoch records of epochs.jsonl
    step: np.ndarray  # int64
    epoch: np.ndarray  # int64, 0-based
    loss: np.ndarray  # float64
    lr: np.ndarray
    time: np.ndarray


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def settings_summary(training: dict) -> str:
    """"adam · lr 0.001 · batch 64 · 10 epochs" (and the schedule, decay and clipping when set); a value of
    the wrong type (a damaged settings.json) is left out."""
    if not training or not isinstance(training, dict):
        return ""
    parts = [str(training.get("optimizer", "?"))[:40]]
    if _number(training.get("lr")) is not None:
        parts.append(f"lr {_number(training['lr']):g}")
    if _number(training.get("batch_size")) is not None:
        parts.append(f"batch {training['batch_size']}")
    if _number(training.get("epochs")) is not None:
        parts.append(f"{training['epochs']} epochs")
    if training.get("scheduler") not in (None, "none"):
        parts.append(str(training["scheduler"])[:40])
    if _number(training.get("weight_decay")):
        parts.append(f"decay {_number(training['weight_decay']):g}")
    if _number(training.get("grad_clip")):
        parts.append(f"clip {_number(training['grad_clip']):g}")
    return " · ".join(parts)


def _read_json(path: str) -> dict:
    if not is_regular(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError, RecursionError):
        return {}


def best_of(records: list[dict], metric: str) -> tuple[float | None, int | None]:
    """(best value, its 0-based epoch) of `metric` over the epoch records."""
    best, best_epoch = None, None
    higher = metric in HIGHER_IS_BETTER
    for r in records:
        v = r.get(metric)
        if v is None:
            continue
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            v = float(v)
            if v != v:  # NaN
                continue
            if best is None or (v > best if higher else v < best):
                best, best_epoch = v, int(r.get("epoch", 0))
    return best, best_epoch


def summarize_run(path: str) -> RunSummary:
    name = os.path.basename(os.path.normpath(path))
    settings = _read_json(os.path.join(path, "settings.json"))
    training = settings.get("training") if isinstance(settings.get("training"), dict) else {}
    if not training:
        training = _read_json(os.path.join(path, "project.json")).get("training")
        training = training if isinstance(training, dict) else {}
    records = read_epochs(path)
    metric = settings.get("metric") if isinstance(settings.get("metric"), str) else None
    metric = metric or ("val_accuracy" if any("val_accuracy" in r for r in records) else "val_loss")
    if not any(r.get(metric) is not None for r in records) and metric != "train_loss":
        metric = "val_loss" if any(r.get("val_loss") is not None for r in records) else "train_loss"
    best, best_epoch = best_of(records, metric)
    started = None
    m = _STAMP.search(name)
    if m:
        with contextlib.suppress(ValueError):
            started = datetime.strptime(m.group(1), "%Y%m%d-%H%M%S")
    if started is None:
        with contextlib.suppress(OSError):
            started = datetime.fromtimestamp(os.path.getmtime(path))
    data = settings.get("data") if isinstance(settings.get("data"), dict) else {}
    status = read_status(path)
    planned = training.get("epochs")
    return RunSummary(path=path, name=name, started=started, epochs_done=len(records),
                      epochs_planned=planned if isinstance(planned, int) and not isinstance(planned, bool) else None,
                      training=training, metric=metric, best=best,
                      best_epoch=best_epoch, final=records[-1] if records else {},
                      device_name=str(settings.get("device_name", "")), data_name=str(data.get("name") or ""),
                      status=status.state, status_text=status.describe() if status.state else "")


def is_run_folder(path: str) -> bool:
    return os.path.isdir(path) and any(os.path.exists(os.path.join(path, f)) for f in
                                       ("settings.json", "epochs.jsonl", "steps.csv", "status.json"))


class RunDeleteError(LayerloomError):
    """A run folder that cannot or must not be deleted."""


def delete_run(path: str) -> None:
    """Remove a run folder and everything in it. Refused while its run is running (in this process or
    another), and for anything that is not a run folder (a link, a folder of other files)."""
    if os.path.islink(path) or not is_run_folder(path):
        raise RunDeleteError(f"{path}: is not a run folder; nothing was deleted")
    status = read_status(path)
    if status.running:
        where = f" on {status.host}" if status.elsewhere else ""
        raise RunDeleteError(f"{os.path.basename(path)} is still running (process {status.pid}{where}); stop it "
                             "before deleting it")
    try:
        shutil.rmtree(path)
    except OSError as err:
        raise RunDeleteError(f"{path}: could not be deleted completely: {err.strerror or err}") from None


def list_runs(root: str, project_name: str | None = None) -> list[RunSummary]:
    """The run folders under `root` (of the project named `project_name`, or all), newest first."""
    try:
        names = os.listdir(root)
    except OSError:
        return []
    prefix = None
    if project_name:
        prefix = re.compile(rf"^{re.escape(slug(project_name))}-\d{{8}}-\d{{6}}(-\d+)?$")
    runs = []
    for n in names:
        path = os.path.join(root, n)
        if prefix is not None and not prefix.match(n):
            continue
        if is_run_folder(path):
            runs.append(summarize_run(path))
    runs.sort(key=lambda r: (r.started or datetime.min, r.name), reverse=True)
    return runs


def load_run(path: str) -> RunCurves:
    """The epoch records and step curves of a run folder (missing files give empty curves)."""
    cols: dict[str, list[float]] = {k: [] for k in ("step", "epoch", "loss", "lr", "time")}
    steps = os.path.join(path, "steps.csv")
    with contextlib.suppress(OSError, csv.Error), open(steps if is_regular(steps) else os.devnull, newline="",
                                                       encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, None) or []
        index = {k: header.index(k) for k in cols if k in header}
        for row in reader:
            with contextlib.suppress(ValueError, IndexError):
                values = {k: float(row[i]) for k, i in index.items()}
                if not all(abs(values.get(k, math.nan)) < 2**62 for k in ("step", "epoch")):
                    continue  # a damaged line (NaN, infinite or absurd counts)
                for k in cols:
                    cols[k].append(values.get(k, float("nan")))
    return RunCurves(path=path, epochs=read_epochs(path), step=np.asarray(cols["step"], np.int64),
                     epoch=np.asarray(cols["epoch"], np.int64), loss=np.asarray(cols["loss"], np.float64),
                     lr=np.asarray(cols["lr"], np.float64), time=np.asarray(cols["time"], np.float64))
