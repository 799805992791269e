"""`layerloom doctor`: what a bug report needs, and a self-check of the whole chain on this machine.

    layerloom doctor                 # versions, devices, Qt, and where Layerloom keeps its files
    layerloom doctor --json          # the same as one JSON object
    layerloom doctor --check         # then: libraries → template → training → ONNX → window, each passed or failed
    layerloom doctor --check --device cpu

The facts and the checks are Qt-free and live in core (core/system_report.py, core/self_check.py), where the
window's Help → System information finds them too. Everything Qt is learnt in a child process (`layerloom
doctor --qt-probe`), so a platform plugin that cannot start (no display, a missing system library) is
reported instead of ending this process; the window check opens and closes the window offscreen in another
child (`--open-window`). Both children run app/doctor_qt.py; this process never imports Qt.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from typing import Any

from layerloom.core import self_check, system_report
from layerloom.core.child_process import PROBE_TIMEOUT, child_env, run_child
from layerloom.core.cli import subcommand


def qt_probe(timeout: float = PROBE_TIMEOUT) -> dict[str, Any]:
    """Qt's facts from a child process on the platform this session would use (see --qt-probe)."""
    doc, why = run_child(["doctor", "--qt-probe"], child_env(), timeout)
    if doc is None or doc.get("error"):
        platform_env = os.environ.get("QT_QPA_PLATFORM")
        hints = []
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            hints.append("no display here (DISPLAY and WAYLAND_DISPLAY are unset): the window needs a desktop "
                         "session, or QT_QPA_PLATFORM=offscreen for a headless check")
        if "xcb-cursor" in why:
            hints.append("on Debian/Ubuntu: sudo apt-get install libxcb-cursor0")
        out: dict[str, Any] = {"platform plugin": f"cannot start: {why}"}
        if platform_env:
            out["QT_QPA_PLATFORM"] = platform_env
        if hints:
            out["hint"] = "; ".join(hints)
        return out
    return doc


# --- the command ------------------------------------------------------------------------------------


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--check", action="store_true",
                   help="then prove the chain works: import the libraries, build the lenet5 template, train it a "
                        "few steps on the digits, export ONNX and run it, open and close the window offscreen "
                        "(exit status 1 if any fails)")
    p.add_argument("--device", default="auto", metavar="DEVICE",
                   help="where --check trains: auto (the best device: CUDA, then MPS, then CPU), cpu, cuda, mps")
    p.add_argument("--no-window", action="store_true", help="leave the window out of --check")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--qt-probe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--open-window", action="store_true", help=argparse.SUPPRESS)


@subcommand("doctor", "what a bug report needs (versions, devices, Qt, folders); --check tests the whole chain "
            "on this machine", _configure)
def run_doctor(args: argparse.Namespace) -> int:
    """The report, then (with --check) each step of the self-check; 0 when every step passed."""
    if args.qt_probe or args.open_window:
        from layerloom.app import doctor_qt  # a child process: Qt is what it is for

        doc = doctor_qt.probe() if args.qt_probe else doctor_qt.open_window_once()
        print(json.dumps(doc, ensure_ascii=False, default=str), flush=True)
        return 0 if doc.get("ok", True) and not doc.get("error") else 1

    t0 = time.perf_counter()
    report = system_report.collect(qt_probe())
    if not args.json:
        print(system_report.format_report(report), flush=True)
    if not args.check:
        if args.json:
            print(json.dumps({"report": report}, ensure_ascii=False, default=str, indent=2))
        return 0
    if not args.json:
        print("\nChecks", flush=True)
    results = self_check.run_checks(args.device, window=not args.no_window,
                         progress=None if args.json else (lambda r: print(r.line(), flush=True)))
    ok = all(r.passed for r in results)
    seconds = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"report": report, "checks": [asdict(r) for r in results], "ok": ok,
                          "seconds": round(seconds, 2)}, ensure_ascii=False, default=str, indent=2))
    else:
        failed = [r.name for r in results if not r.passed]
        print(f"\nAll {len(results)} checks passed in {seconds:.1f} s." if ok else
              f"\n{len(failed)} of {len(results)} checks failed: {', '.join(failed)}.", flush=True)
    return 0 if ok else 1
