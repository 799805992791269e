"""Run `layerloom ARGS` in a child process of this installation and read its one-line JSON answer.

    doc, why = run_child(["doctor", "--qt-probe"], child_env(), timeout=60)
    if doc is None: print("the child failed:", why)

The doctor learns everything Qt in children (`layerloom doctor --qt-probe`, `--open-window`), so that a
platform plugin that cannot start (no display, a missing system library) is reported instead of ending the
process that asked. This module only starts processes and reads what they print; it imports nothing of Qt.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from typing import Any

PROBE_TIMEOUT = 60.0  # seconds a Qt child process may take (the first start of Qt can be slow)


def self_command() -> list[str]:
    """The command line that runs `layerloom` in this installation (the executable itself when frozen)."""
    if getattr(sys, "frozen", False):
        # Windows and macOS builds also hold a console twin of the windowed app: children write to it
        folder = os.path.dirname(sys.executable)
        for name in ("layerloom-cli.exe", "layerloom-cli"):
            if os.path.isfile(os.path.join(folder, name)):
                return [os.path.join(folder, name)]
        return [sys.executable]
    return [sys.executable, "-m", "layerloom"]  # the package's __main__.py: the same as the console script


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child that never needs torch, with `extra` set."""
    env = dict(os.environ)
    env["LAYERLOOM_NO_PRELOAD"] = "1"  # the children never need torch
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def qt_failure(stderr: str, returncode: int | None) -> str:
    """A readable reason from what Qt printed before it gave up (e.g. no display, a missing library)."""
    keep = []
    for line in stderr.splitlines():
        line = line.strip()
        if not line or line.startswith(("Traceback", "File ", "Available platform plugins")):
            continue
        if line.startswith(("qt.", "This application failed", "Could not", "QStandardPaths")) or "Error" in line:
            line = line.split(": ", 1)[1] if line.startswith("qt.") and ": " in line else line
            if line not in keep:
                keep.append(line)
    specific = [k for k in keep if not k.startswith("This application failed")]
    keep = [k.rstrip(".") for k in (specific or keep)]
    reason = "; ".join(keep[:3]) if keep else (stderr.strip().splitlines() or [""])[-1]
    if returncode is not None and returncode < 0:
        reason = f"{reason} (ended by signal {-returncode})".strip()
    return reason or f"exit status {returncode}"


def run_child(args: list[str], env: dict[str, str], timeout: float) -> tuple[dict[str, Any] | None, str]:
    """Run `layerloom ARGS` in a child; (its last stdout line as JSON, or None, and the reason why not)."""
    try:
        proc = subprocess.run([*self_command(), *args], capture_output=True, text=True, encoding="utf-8",
                              errors="replace", env=env, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"did not finish within {timeout:.0f} s"
    except OSError as err:
        return None, f"cannot start {self_command()[0]}: {err}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode == 0 and lines:
        try:
            return json.loads(lines[-1]), ""
        except ValueError:
            pass
    if lines:
        with contextlib.suppress(ValueError):
            doc = json.loads(lines[-1])
            if isinstance(doc, dict) and doc.get("error"):
                return doc, str(doc["error"])
    return None, qt_failure(proc.stderr, proc.returncode)
