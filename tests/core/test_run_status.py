"""Crash-only runs: every run folder says what it is (status.json) and what its checkpoints hold; a run killed
with SIGKILL reads as interrupted and keeps its last epoch; a bundle holds the history of its weights; what
killed runs and exports leave behind is removed at the next start; runs are deleted only when not running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_train_cli import mlp_project
from test_training import _PoisonAfter, classes, mlp, run

from layerloom.core.cleanup import STALE_AFTER, cleanup_stale
from layerloom.core.export import load_bundle
from layerloom.core.training import events as ev
from layerloom.core.training import load_checkpoint
from layerloom.core.training.history import RunDeleteError, delete_run, list_runs
from layerloom.core.training.run_status import STATUS, read_raw, read_status, this_process


def _cli(*argv, **kw):
    return subprocess.Popen([sys.executable, "-m", "layerloom", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _write_status(folder, **fields):
    os.makedirs(folder, exist_ok=True)
    data = {"state": "running", **this_process(), "checkpoints": {}}
    data.update(fields)
    with open(os.path.join(folder, STATUS), "w", encoding="utf-8") as f:
        json.dump(data, f)


# --- a run killed for real -------------------------------------------------------------------------------


def test_a_killed_run_reads_interrupted_keeps_its_epoch_and_its_bundle_says_so(tmp_path):
    project = mlp_project(tmp_path / "mlp.json", epochs=10_000)
    runs = tmp_path / "runs"
    proc = _cli("train", project, "--out", runs, "--seed", 3)
    try:
        deadline = time.monotonic() + 120
        run_dir = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = [runs / d for d in os.listdir(runs)] if runs.exists() else []
            if found and (read_raw(str(found[0])).get("checkpoints", {}).get("last") or {}).get("epoch", 0) >= 2:
                run_dir = str(found[0])
                break
            time.sleep(0.01)
        assert run_dir is not None, proc.stderr.read() if proc.poll() is not None else "no epoch end in 120 s"
        assert read_status(run_dir).state == "running"  # alive: not interrupted
        os.kill(proc.pid, signal.SIGKILL)
        gone = time.monotonic() + 5  # the signal takes a moment; the child is not reaped: a zombie is dead too
        while read_status(run_dir).state == "running" and time.monotonic() < gone:
            time.sleep(0.01)
        status = read_status(run_dir)
        assert status.state == "interrupted" and status.pid == proc.pid
    finally:
        proc.kill()
        proc.communicate()
    status = read_status(run_dir)
    assert status.state == "interrupted" and "is gone" in status.describe()
    held = status.checkpoints["last"]
    ckpt = load_checkpoint(os.path.join(run_dir, "last.safetensors"))
    assert held["epoch"] >= 2 and ckpt.meta["epoch"] == held["epoch"] and ckpt.meta["step"] == held["step"]
    assert held["batch"] == 0 and held["value"] == pytest.approx(ckpt.meta["final"]["val_accuracy"])
    assert list_runs(str(runs))[0].status == "interrupted"

    # the log may run past the weights (it did in a run killed between two checkpoints): make it so
    with open(os.path.join(run_dir, "epochs.jsonl"), "a", encoding="utf-8") as f:
        for epoch in range(held["epoch"], held["epoch"] + 9):
            f.write(json.dumps({"epoch": epoch, "step": 999, "val_accuracy": 0.9999, "val_loss": 0.01}) + "\n")
    out = subprocess.run([sys.executable, "-m", "layerloom", "export", run_dir, "-f", "bundle", "-o",
                          tmp_path / "killed.layerloom", "--checkpoint", "last"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    bundle = load_bundle(tmp_path / "killed.layerloom")
    assert bundle.manifest["weights"]["checkpoint"] == "last"
    assert bundle.manifest["weights"]["epoch"] == held["epoch"] == bundle.manifest["epochs_trained"]
    assert [r["epoch"] for r in bundle.history] == list(range(held["epoch"]))
    assert bundle.summary["best"] < 0.9999 and bundle.manifest["best"] == bundle.summary["best"]
    assert bundle.summary["final"]["val_accuracy"] == pytest.approx(held["value"])
    for k, v in bundle.state.items():
        assert torch.equal(v, ckpt.model[k])
    assert load_checkpoint(os.path.join(run_dir, "last.safetensors")).meta["epoch"] == held["epoch"]

    # the next start in that folder removes what the killed run left behind, and says running, then finished
    tmp = os.path.join(run_dir, ".last.safetensors.0badc0de.tmp")
    with open(tmp, "wb") as f:
        f.write(os.urandom(2 * 2**20))  # a checkpoint cut short by the kill
    old_staging = runs / ".layerloom-export-abc123"
    old_staging.mkdir()
    (old_staging / "model.onnx").write_bytes(b"half")
    past = time.time() - STALE_AFTER - 60
    os.utime(old_staging / "model.onnx", (past, past))
    os.utime(old_staging, (past, past))
    fresh_staging = runs / ".layerloom-export-def456"  # an export going on now: left alone
    fresh_staging.mkdir()
    resumed = _cli("train", project, "--resume", run_dir, "--epochs", held["epoch"] + 1, "--json")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0 and "Traceback" not in err, err
    assert not os.path.exists(tmp) and not old_staging.exists() and fresh_staging.exists()
    status = read_status(run_dir)
    assert status.state == "finished" and status.checkpoints["last"]["epoch"] == held["epoch"] + 1
    assert [name for name in os.listdir(run_dir) if name.endswith(".tmp")] == []


# --- statuses written by the trainer ---------------------------------------------------------------------


def test_a_finished_run_says_what_each_checkpoint_holds(tmp_path):
    saved = []
    states = []

    def sink(e):
        if isinstance(e, ev.CheckpointSaved):
            saved.append(e)
        if isinstance(e, ev.EpochEnd | ev.Finished):
            states.append(read_status(os.path.join(str(tmp_path), os.listdir(tmp_path)[0])).state)

    _, result = run(mlp(), classes(), sink, run_root=str(tmp_path), epochs=3)
    assert result.status == "finished" and states == ["running", "running", "running", "finished"]
    assert [e.epoch for e in saved if e.role == "last"] == [1, 2, 3]  # every epoch end, not every 10 s
    status = read_status(result.run_dir)
    assert status.state == "finished" and status.pid == os.getpid() and status.host == socket.gethostname()
    last, best = status.checkpoints["last"], status.checkpoints["best"]
    assert last == {"file": "last.safetensors", "epoch": 3, "batch": 0, "step": result.step,
                    "metric": "val_accuracy", "value": pytest.approx(result.final["val_accuracy"])}
    assert best["epoch"] == result.best_epoch + 1 and best["value"] == pytest.approx(result.best)
    assert load_checkpoint(os.path.join(result.run_dir, "best.safetensors")).meta["epoch"] == best["epoch"]


def test_a_checkpoint_within_a_long_epoch_on_the_clock(tmp_path):
    """checkpoint_interval seconds after the last write, a checkpoint is written between two steps; it is never
    ahead of the logs."""
    seen = []

    def sink(e):
        if isinstance(e, ev.CheckpointSaved) and e.role == "last":
            meta = load_checkpoint(e.path).meta
            with open(os.path.join(os.path.dirname(e.path), "steps.csv")) as f:
                logged = len(f.read().splitlines()) - 1
            seen.append((meta["epoch"], meta["batch"], meta["step"], logged))

    _, result = run(mlp(), classes(n=320), sink, run_root=str(tmp_path), epochs=2, event_interval=0,
                    checkpoint_interval=0.0)
    assert result.status == "finished"
    within = [s for s in seen if s[1] > 0]
    assert within and all(0 < batch < 20 for _epoch, batch, _step, _logged in within)
    assert all(logged >= step for _e, _b, step, logged in seen)


def test_a_nan_loss_says_failed_with_its_message(tmp_path):
    at_event = []  # what the Runs tab reads when the event reaches it

    def sink(e):
        if isinstance(e, ev.Failed):
            at_event.append(read_status(e.run_dir).state)

    _, result = run(mlp(), classes(transform=_PoisonAfter(9)), sink, run_root=str(tmp_path), epochs=4)
    assert at_event == ["failed"]
    status = read_status(result.run_dir)
    assert status.state == "failed" and status.reason == "nan" and status.message == result.message
    assert "NaN" in status.message and status.describe().startswith("failed: the training loss became NaN")
    assert status.checkpoints["last"]["epoch"] == 1  # the last good checkpoint


class _BadBatch:
    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self, xs, generator=None):
        self.calls += 1
        if self.calls >= self.n:
            raise ValueError("sample 17 cannot be decoded")
        return xs


def test_bad_data_in_the_middle_of_a_run_says_failed(tmp_path):
    _, result = run(mlp(), classes(transform=_BadBatch(8)), run_root=str(tmp_path), epochs=3)
    assert result.status == "failed"
    status = read_status(result.run_dir)
    assert status.state == "failed" and "sample 17 cannot be decoded" in status.message
    assert [r.status for r in list_runs(str(tmp_path))] == ["failed"]


# --- telling a dead process from a live one --------------------------------------------------------------


def test_a_run_killed_between_its_checkpoint_and_its_status_reads_what_the_checkpoint_holds(tmp_path):
    """The checkpoint is written (atomically) before status.json says what it holds; a kill between the two
    leaves status.json one epoch behind. Once the process is gone, the status reads the file's own header."""
    _, result = run(mlp(), classes(), run_root=str(tmp_path), epochs=3)
    truth = read_status(result.run_dir).checkpoints["last"]
    assert truth["epoch"] == 3
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    behind = {**truth, "epoch": 2, "step": truth["step"] - 1, "value": 0.5}
    _write_status(result.run_dir, pid=child.pid, checkpoints={"last": behind})
    assert read_raw(result.run_dir)["checkpoints"]["last"]["epoch"] == 2
    status = read_status(result.run_dir)
    assert status.state == "interrupted"
    assert status.checkpoints["last"] == truth
    assert status.checkpoints["best"]["epoch"] == result.best_epoch + 1  # the best file, though status.json lost it
    ckpt = load_checkpoint(os.path.join(result.run_dir, "last.safetensors"))
    assert ckpt.meta["epoch"] == status.checkpoints["last"]["epoch"] and ckpt.meta["step"] == truth["step"]

    alive = str(tmp_path / "alive")  # a live run's status is taken as written: its next write is on its way
    os.makedirs(alive)
    for name in ("last.safetensors", "best.safetensors"):
        with open(os.path.join(result.run_dir, name), "rb") as src, open(os.path.join(alive, name), "wb") as dst:
            dst.write(src.read())
    _write_status(alive, checkpoints={"last": behind})
    assert read_status(alive).state == "running" and read_status(alive).checkpoints["last"]["epoch"] == 2


def test_process_liveness(tmp_path):
    me = str(tmp_path / "me")
    _write_status(me)
    assert read_status(me).state == "running"

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    gone = str(tmp_path / "gone")
    _write_status(gone, pid=child.pid)
    assert read_status(gone).state == "interrupted"

    reused = str(tmp_path / "reused")  # this pid, but another process's start time: the pid was reused
    start = this_process()["process"].get("start")
    if start is None:
        pytest.skip("no process start times here (/proc)")
    _write_status(reused, process={"boot": this_process()["process"]["boot"], "start": start - 1})
    assert read_status(reused).state == "interrupted"

    rebooted = str(tmp_path / "rebooted")
    _write_status(rebooted, process={"boot": "another-boot", "start": start})
    assert read_status(rebooted).state == "interrupted"

    elsewhere = str(tmp_path / "elsewhere")
    _write_status(elsewhere, host="some-other-machine")
    status = read_status(elsewhere)
    assert status.state == "running" and status.elsewhere and "on some-other-machine" in status.describe()

    for bad in ("[1, 2]", "{\"state\": \"running\", \"pid\": \"1\"}", "\x00\xff", "{\"state\": 7}"):
        folder = tmp_path / f"bad{len(os.listdir(tmp_path))}"
        folder.mkdir()
        (folder / STATUS).write_bytes(bad.encode("latin-1"))
        assert read_status(str(folder)).state in ("", "interrupted")


def test_a_running_run_is_neither_resumed_nor_deleted(tmp_path):
    _, first = run(mlp(), classes(), run_root=str(tmp_path), epochs=1)
    raw = read_raw(first.run_dir)
    _write_status(first.run_dir, checkpoints=raw["checkpoints"])  # as if this process were training in it
    log = Path(first.run_dir) / "epochs.jsonl"
    before = log.read_text()
    _, again = run(mlp(), classes(), run_root=str(tmp_path), resume=first.run_dir, epochs=2)
    assert again.status == "failed" and "still running" in again.message
    assert log.read_text() == before  # its logs untouched
    with pytest.raises(RunDeleteError, match="still running"):
        delete_run(first.run_dir)
    assert os.path.isdir(first.run_dir)

    _write_status(first.run_dir, state="failed", message="stopped by a test")
    delete_run(first.run_dir)
    assert not os.path.exists(first.run_dir)
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"x")
    with pytest.raises(RunDeleteError, match="not a run folder"):
        delete_run(str(other))
    assert (other / "cat.jpg").exists()


# --- leftovers ------------------------------------------------------------------------------------------


def test_cleanup_removes_only_stale_leftovers(tmp_path):
    root = tmp_path / "runs"
    ended, live = root / "a-20240101-000000", root / "b-20240101-000000"
    _write_status(str(ended), state="failed")
    _write_status(str(live))  # this process: running
    keep_outside = tmp_path / "precious.txt"
    keep_outside.write_text("mine")
    paths = {
        "ended_tmp": ended / ".last.safetensors.0123abcd.tmp",  # its writer is gone: at once
        "live_tmp": live / ".last.safetensors.0123abcd.tmp",  # a write going on: kept while fresh
        "live_old": live / ".best.safetensors.89abcdef.tmp",  # …removed once stale
        "root_tmp": root / ".x.json.0123abcd.tmp",
        "not_ours": ended / "notes.tmp",
        "checkpoint": ended / "last.safetensors",
    }
    for p in paths.values():
        p.write_bytes(b"x")
    past = time.time() - STALE_AFTER - 1
    os.utime(paths["live_old"], (past, past))
    link = live / ".evil.deadbeef.tmp"
    link.symlink_to(keep_outside)
    removed = set(cleanup_stale(root))
    assert removed == {str(paths["ended_tmp"]), str(paths["live_old"])}
    assert keep_outside.read_text() == "mine" and link.is_symlink()
    later = set(cleanup_stale(root, now=time.time() + STALE_AFTER + 1))  # every fresh one, once stale
    assert later == {str(paths["live_tmp"]), str(paths["root_tmp"])}
    assert paths["not_ours"].exists() and paths["checkpoint"].exists() and link.is_symlink()
    assert cleanup_stale(None) == [] and cleanup_stale(tmp_path / "missing") == []


def test_a_run_folder_with_a_link_or_a_fifo_is_refused_and_nothing_outside_is_written(tmp_path):
    """A run folder is never written through a link (the fuzzer's case: steps.csv → a file elsewhere, which
    resuming used to truncate and append to), and a FIFO in it blocks nothing."""
    from layerloom.core.export import ExportError, open_source

    _, first = run(mlp(), classes(), run_root=str(tmp_path / "runs"), epochs=1)
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    steps = Path(first.run_dir) / "steps.csv"
    steps.unlink()
    steps.symlink_to(outside)
    _, again = run(mlp(), classes(), run_root=str(tmp_path / "runs"), resume=first.run_dir, epochs=2)
    assert again.status == "failed" and "steps.csv: is a link" in again.message
    with pytest.raises(ExportError, match="is a link"):
        open_source(first.run_dir)
    assert outside.read_text() == "keep me\n"

    steps.unlink()
    os.mkfifo(steps)
    status = Path(first.run_dir) / STATUS
    status.unlink()
    os.mkfifo(status)
    t0 = time.monotonic()
    assert [r.status for r in list_runs(str(tmp_path / "runs"))] == [""]  # listed, without reading the FIFOs
    with pytest.raises(ExportError, match=r"is a named pipe \(FIFO\), so the run folder cannot be used"):
        open_source(first.run_dir)
    assert time.monotonic() - t0 < 5
