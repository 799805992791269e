"""Runs fuzz cases in worker processes (worker.py) and collects what failed.

    report = run_session(seeds_file, work, session_seed=1, indices=range(500), workers=2, memory_mb=1024,
                         timeout=20)
    report.failures        # [{"index", "kind", "action", "detail", "where", "describe"}]

Cases go to the workers one at a time. A worker that does not answer a case within its timeout (plus a
grace) is killed and the case counts as a hang; one that dies (the kernel's OOM killer, a crash in C code)
counts as a crash; either way a new worker takes the next cases. Workers get their own HOME, TMPDIR and
data cache inside the work folder, no network (a proxy that refuses), and LAYERLOOM_DEBUG=1 so that an
unexpected exception shows where it came from.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
GRACE_S = 15.0  # beyond a case's own alarm, before the worker is killed
START_S = 180.0  # for a worker's imports


@dataclass
class Report:
    session_seed: int
    cases: int = 0
    seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)
    by_kind: Counter = field(default_factory=Counter)  # case kind → cases run
    slowest: list[tuple[float, int]] = field(default_factory=list)
    actions: Counter = field(default_factory=Counter)  # action → times run
    accepted: Counter = field(default_factory=Counter)  # action → times it accepted the input (ok, exit 0)

    def failure_counts(self) -> Counter:
        return Counter(f["kind"] for f in self.failures)

    def signatures(self) -> dict[tuple, list[dict]]:
        """Failures grouped by (failure kind, action, where): one entry per distinct problem."""
        groups: dict[tuple, list[dict]] = {}
        for f in self.failures:
            groups.setdefault((f["kind"], f["action"], f["where"] or f["detail"][:60]), []).append(f)
        return groups

    def to_dict(self) -> dict:
        return {"session_seed": self.session_seed, "cases": self.cases, "seconds": round(self.seconds, 1),
                "cases_by_kind": dict(self.by_kind), "failures_by_kind": dict(self.failure_counts()),
                "actions": dict(self.actions), "accepted": dict(self.accepted),
                "failures": self.failures}


class _Worker:
    def __init__(self, args: list[str], env: dict, log):
        self.proc = subprocess.Popen([sys.executable, WORKER, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log, env=env, text=True, bufsize=1, start_new_session=True)
        self.index: int | None = None
        self.deadline = time.monotonic() + START_S
        self.ready = False
        self.buffer = ""

    def send(self, index: int, timeout: float) -> None:
        self.index = index
        self.deadline = time.monotonic() + timeout + GRACE_S
        self.proc.stdin.write(f"{index}\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)
        except OSError:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()


def worker_env(work: str) -> dict:
    env = dict(os.environ)
    for name in ("home", "tmp", "data"):
        os.makedirs(os.path.join(work, name), exist_ok=True)
    env.update(HOME=os.path.join(work, "home"), TMPDIR=os.path.join(work, "tmp"),
               LAYERLOOM_DATA_DIR=os.path.join(work, "data"), LAYERLOOM_DEBUG="1", LAYERLOOM_NO_PRELOAD="1",
               http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9",
               HTTPS_PROXY="http://127.0.0.1:9", OMP_NUM_THREADS="1", QT_QPA_PLATFORM="offscreen",
               PYTHONHASHSEED="0")
    return env


def run_session(seeds_file: str, work: str, *, session_seed: int, indices, workers: int = 2, memory_mb: int = 1024,
                timeout: float = 20.0, kinds: tuple[str, ...] | None = None, progress=None) -> Report:
    """Run the cases `indices` of a session; returns the Report. `progress(done, total, report)` is called
    after every case."""
    os.makedirs(work, exist_ok=True)
    todo = list(indices)
    total = len(todo)
    report = Report(session_seed)
    args = [seeds_file, work, str(session_seed), str(memory_mb), str(timeout), ",".join(kinds or ())]
    env = worker_env(work)
    log = open(os.path.join(work, "workers.log"), "a", encoding="utf-8")  # noqa: SIM115
    sel = selectors.DefaultSelector()
    pool: list[_Worker] = []
    describe: dict[int, str] = {}
    t0 = time.monotonic()

    def start() -> None:
        w = _Worker(args, env, log)
        os.set_blocking(w.proc.stdout.fileno(), False)
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)
        pool.append(w)

    failed_starts = []

    def retire(w: _Worker, kind: str, detail: str) -> None:
        sel.unregister(w.proc.stdout)
        pool.remove(w)
        w.kill()
        if not w.ready:
            failed_starts.append(w)
            if len(failed_starts) >= 3:
                with open(log.name, encoding="utf-8", errors="replace") as f:
                    tail = f.read()[-2000:]
                raise RuntimeError(f"fuzz workers do not start; their log ends with:\n{tail}")
        if w.index is not None:
            report.cases += 1
            report.failures.append({"index": w.index, "kind": kind, "action": "", "detail": detail, "where": "",
                                    "describe": describe.get(w.index, f"case {w.index}")})
            if progress:
                progress(report.cases, total, report)
        if todo:
            start()

    def feed(w: _Worker) -> None:
        if todo:
            w.send(todo.pop(0), timeout)
        else:
            w.index = None

    def handle(w: _Worker, msg: dict) -> None:
        if msg["event"] == "ready":
            w.ready = True
            feed(w)
        elif msg["event"] == "start":
            describe[msg["index"]] = f"case {msg['index']} (see its reproducer)"
        elif msg["event"] == "done":
            report.cases += 1
            report.by_kind[msg.get("kind", "?")] += 1
            report.slowest = sorted([*report.slowest, (msg.get("seconds", 0.0), msg["index"])], reverse=True)[:5]
            for outcome in msg.get("outcomes", []):
                action, _, rest = outcome.partition(": ")
                report.actions[action] += 1
                report.accepted[action] += rest.startswith(("ok", "exit 0"))
            for f in msg["failures"]:
                report.failures.append({"index": msg["index"], **f, "describe": msg.get("describe", "")})
            if progress:
                progress(report.cases, total, report)
            feed(w)

    try:
        for _ in range(min(workers, max(1, total))):
            start()
        while any(w.index is not None or not w.ready for w in pool):
            for key, _events in sel.select(timeout=0.5):
                w = key.data
                chunk = w.proc.stdout.read()
                if chunk == "":  # end of file: the worker died
                    code = w.proc.poll() if w.proc.poll() is not None else w.proc.wait()
                    retire(w, "crash", f"the worker died (exit status {code}) during the case")
                    continue
                w.buffer += chunk or ""
                while "\n" in w.buffer:
                    line, w.buffer = w.buffer.split("\n", 1)
                    if line.strip():
                        handle(w, json.loads(line))
            now = time.monotonic()
            for w in list(pool):
                if (w.index is not None or not w.ready) and now > w.deadline:
                    retire(w, "hang" if w.ready else "crash",
                           f"no answer in {timeout + GRACE_S:g} s: killed" if w.ready else "the worker did not start")
    finally:
        for w in pool:
            w.close()
        log.close()
        report.seconds = time.monotonic() - t0
    return report
