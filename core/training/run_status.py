"""What a run folder is: `status.json`, rewritten atomically as the run goes.

    {"state": "running", "pid": 4242, "host": "lab-3", "process": {"boot": "…", "start": 81234},
     "started": "2025-01-01T12:00:00", "updated": "…", "reason": "", "message": "",
     "checkpoints": {"last": {"file": "last.safetensors", "epoch": 3, "batch": 0, "step": 69,
                              "metric": "val_accuracy", "value": 0.93}, "best": {…}}}

`state` is running, finished, stopped or failed as the trainer last wrote it. A run that says running but
whose process is gone (killed, crashed, the machine restarted) reads as "interrupted": the pid, the host and
the process's start time tell a dead process from a live one, so a reused pid does not look alive. A
checkpoint's `epoch` is the number of whole epochs its weights hold (`batch` steps into the next one);
`value` is the watched metric of those weights, when they are an epoch's end.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

STATUS = "status.json"
STATES = ("running", "finished", "stopped", "failed", "interrupted")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


# --- processes --------------------------------------------------------------------------------------


def _boot_id() -> str:
    with contextlib.suppress(OSError), open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
        return f.read().strip()
    return ""


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) of a Linux process; None when it has none."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
        fields = text[text.rindex(")") + 2:].split()
        return fields[0], int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def this_process() -> dict[str, Any]:
    """What identifies the running process: pid, host, and (Linux) the boot and its start time."""
    me = {"pid": os.getpid(), "host": socket.gethostname(), "process": {"boot": _boot_id()}}
    stat = _proc_stat(os.getpid())
    if stat is not None:
        me["process"]["start"] = stat[1]
    return me


def _pid_exists(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would end the process on Windows
        import ctypes

        kernel = ctypes.windll.kernel32
        handle = kernel.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            return bool(kernel.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259  # STILL_ACTIVE
        finally:
            kernel.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return False
    return True


def process_alive(record: dict) -> bool | None:
    """Whether the process a status names still runs: True, False, or None when this machine cannot tell
    (another host)."""
    pid = record.get("pid")
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    if record.get("host") != socket.gethostname():
        return None
    proc = record.get("process") if isinstance(record.get("process"), dict) else {}
    boot = _boot_id()
    if proc.get("boot") and boot and proc["boot"] != boot:
        return False  # the machine restarted since
    stat = _proc_stat(pid)
    if stat is not None:
        state, start = stat
        if state in ("Z", "X"):
            return False  # a zombie: dead, not yet reaped by its parent
        return proc.get("start") is None or start == proc["start"]
    return _pid_exists(pid) if not os.path.isdir("/proc/self") else False


# --- reading ------------------------------------------------------------------------------------------


@dataclass
class RunStatus:
    """A run folder's status as read now."""

    state: str  # running, finished, stopped, failed, interrupted; "" when the folder has no status.json
    reason: str = ""
    message: str = ""
    pid: int | None = None
    host: str = ""
    started: str = ""
    updated: str = ""
    checkpoints: dict[str, dict] = field(default_factory=dict)
    elsewhere: bool = False  # says running on another machine: cannot tell whether it still does

    @property
    def running(self) -> bool:
        return self.state == "running"

    def describe(self) -> str:
        """One line: "interrupted (its process 4242 is gone); last checkpoint: epoch 3"."""
        if not self.state:
            return "no status (a run from before Layerloom recorded it)"
        text = self.state
        if self.state == "interrupted":
            text += f" (its process {self.pid} is gone)" if self.pid else ""
        elif self.state == "running" and self.elsewhere:
            text += f" on {self.host}"
        elif self.state == "failed" and self.message:
            text += f": {self.message}"
        last = self.checkpoints.get("last")
        if isinstance(last, dict) and isinstance(last.get("epoch"), int):
            text += f"; last checkpoint: epoch {last['epoch']}"
            if last.get("batch"):
                text += f" and {last['batch']} batches"
        return text


def read_raw(run_dir: str) -> dict:
    """The content of status.json, {} when missing or unreadable (or not a regular file: a FIFO would block)."""
    from layerloom.core.training.run_folder import is_regular

    file = os.path.join(run_dir, STATUS)
    if not is_regular(file):
        return {}
    try:
        with open(file, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def read_status(run_dir: str) -> RunStatus:
    """The status of a run folder, with "interrupted" for a run whose process is gone."""
    data = read_raw(run_dir)
    state = data.get("state") if data.get("state") in STATES else ""
    elsewhere = False
    if state == "running":
        alive = process_alive(data)
        if alive is False:
            state = "interrupted"
        elsewhere = alive is None
    checkpoints = data.get("checkpoints") if isinstance(data.get("checkpoints"), dict) else {}
    checkpoints = {k: v for k, v in checkpoints.items() if isinstance(v, dict)}
    if state == "interrupted":
        checkpoints = held_by_files(run_dir, checkpoints)

    def text(key: str) -> str:
        return data[key] if isinstance(data.get(key), str) else ""

    pid = data.get("pid") if isinstance(data.get("pid"), int) and not isinstance(data.get("pid"), bool) else None
    return RunStatus(state, text("reason"), text("message"), pid, text("host"), text("started"), text("updated"),
                     checkpoints, elsewhere)


HELD = ("epoch", "batch", "step", "metric", "value")


def held_by_files(run_dir: str, checkpoints: dict[str, dict]) -> dict[str, dict]:
    """What each checkpoint of a run whose process is gone really holds, read from the file's header: a
    checkpoint is written (atomically) before status.json says what it holds, so a run killed between the two
    has a status one checkpoint behind. An entry whose file cannot be read stays as status.json has it."""
    from layerloom.core.export.safetensors_header import HeaderError, read_header

    out = dict(checkpoints)
    for role in ("last", "best"):
        path = os.path.join(run_dir, f"{role}.safetensors")
        if not os.path.isfile(path):
            continue
        try:
            meta = json.loads(read_header(path).get("__metadata__", {}).get("meta", "{}"))
        except (HeaderError, OSError, ValueError, AttributeError):
            continue
        if isinstance(meta, dict) and all(k in meta for k in HELD):
            out[role] = {**out.get(role, {}), "file": os.path.basename(path), **{k: meta[k] for k in HELD}}
    return out


# --- writing --------------------------------------------------------------------------------------------


def _scalars(info: dict) -> dict:
    """The plain values of a checkpoint's description (strict JSON: no NaN, nothing nested)."""
    out = {}
    for k, v in info.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        if v is None or isinstance(v, bool | int | float | str):
            out[str(k)] = v
    return out


class StatusFile:
    """The trainer's writer of a run folder's status.json (kept whole in memory, rewritten atomically)."""

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, STATUS)
        kept = read_raw(run_dir).get("checkpoints")  # a resumed run keeps what its checkpoints hold
        kept = kept if isinstance(kept, dict) else {}
        self.data: dict[str, Any] = {"checkpoints": {role: _scalars(kept[role]) for role in ("last", "best")
                                                     if isinstance(kept.get(role), dict)}}

    def _write(self) -> None:
        from layerloom.core.training.checkpoint import atomic_write

        self.data["updated"] = _now()
        atomic_write(self.path, (json.dumps(self.data, allow_nan=False, default=str) + "\n").encode("utf-8"),
                     durable=False)

    def start(self) -> None:
        """The run starts in this process."""
        self.data.update(this_process(), state="running", started=_now(), reason="", message="")
        self._write()

    def checkpoints(self, held: dict[str, dict]) -> None:
        """The checkpoints of these roles ("last", "best") now hold what each says (file, epoch, batch, step,
        metric, value): one write for both."""
        for role, info in held.items():
            self.data["checkpoints"][role] = _scalars(info)
        self._write()

    def end(self, state: str, reason: str = "", message: str = "") -> None:
        """The run ended: finished, stopped or failed (with its reason and message)."""
        self.data.update(state=state, reason=reason, message=message, ended=_now())
        self._write()
