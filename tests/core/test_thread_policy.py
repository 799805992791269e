"""The thread policy (core/training/thread_policy.py): the choice for given cores, load and requests, its words,
the OpenMP wait policy put in the environment before torch loads, a Trainer run applying the choice and putting
torch's count back, `layerloom train --threads`, and `layerloom doctor` naming the choice."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from layerloom.core import Graph
from layerloom.core.project import Project, save_project
from layerloom.core.settings import DataSettings, TrainingSettings
from layerloom.core.training import thread_policy
from layerloom.core.training.thread_policy import choose_threads, wait_policy

QUIET_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def test_a_quiet_machine_gets_every_core():
    c = choose_threads(None, cores=2, load=0.0, environ=QUIET_ENV)
    assert (c.threads, c.lowered) == (2, False)
    assert c.reason == "2 cores, none busy with other work: 2 threads"
    assert choose_threads(None, cores=8, load=0.3, environ=QUIET_ENV).threads == 8  # background noise


def test_a_busy_core_is_left_to_the_other_work():
    c = choose_threads(None, cores=2, load=1.0, environ=QUIET_ENV)
    assert (c.threads, c.lowered) == (1, True)
    assert c.reason == "2 cores, 1.0 busy with other work: 1 thread so as not to fight it"
    assert choose_threads(None, cores=8, load=2.6, environ=QUIET_ENV).threads == 5
    assert choose_threads(None, cores=2, load=5.0, environ=QUIET_ENV).threads == 1  # never below one
    assert choose_threads(None, cores=1, load=0.0, environ=QUIET_ENV).reason == \
        "1 core, none busy with other work: 1 thread"


def test_the_users_count_wins_and_is_capped_to_the_cores():
    c = choose_threads(3, cores=4, load=4.0, environ=QUIET_ENV)
    assert (c.threads, c.reason, c.lowered) == (3, "set by you (training.threads = 3)", False)
    c = choose_threads(64, cores=2, load=0.0, environ=QUIET_ENV)
    assert (c.threads, c.lowered) == (2, True)
    assert c.reason == ("training.threads is 64 but this computer has 2 cores; 2 threads, as more would only "
                        "slow training down")
    assert choose_threads(1, cores=2, source="OMP_NUM_THREADS", environ=QUIET_ENV).reason == \
        "set by you (OMP_NUM_THREADS = 1)"


def test_processes_of_one_run_share_the_cores():
    c = choose_threads(None, cores=8, load=0.0, workers=2, environ=QUIET_ENV)
    assert c.threads == 4
    assert c.reason == "8 cores, shared by 2 training processes, none busy with other work: 4 threads"
    assert choose_threads(None, cores=8, load=2.0, workers=2, environ=QUIET_ENV).threads == 3
    assert choose_threads(None, cores=2, load=0.0, workers=4, environ=QUIET_ENV).threads == 1


def test_wait_policy_words():
    assert wait_policy({}) == "OpenMP's default (idle threads spin for a while before they sleep)"
    assert wait_policy({"OMP_WAIT_POLICY": "ACTIVE"}) == "OMP_WAIT_POLICY=ACTIVE (from the environment)"
    assert choose_threads(2, cores=2, environ={"GOMP_SPINCOUNT": "1000"}).wait_policy == \
        "GOMP_SPINCOUNT=1000 (from the environment)"


def test_importing_layerloom_leaves_openmp_as_torch_has_it():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = ("import sys, os, layerloom; print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules); "
            "from layerloom.core.training.thread_policy import wait_policy; print(wait_policy())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["None False",
                                       "OpenMP's default (idle threads spin for a while before they sleep)"]


def _busy_machine(monkeypatch):
    """Two cores with one busy elsewhere, and no OMP_NUM_THREADS (the test runs may set it)."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(thread_policy, "cpu_cores", lambda: 2)
    monkeypatch.setattr(thread_policy, "other_load", lambda sample_s=0.0: 1.0)


def mlp_project(threads=None) -> Project:
    g = Graph()
    i = g.add("Input", shape=[64])
    d = g.add("Dense", out_features=10)
    o = g.add("Output")
    g.connect(i, d)
    g.connect(d, o)
    return Project(g, TrainingSettings(epochs=1, batch_size=64, lr=0.01, threads=threads, device="cpu"),
                   DataSettings("digits", {"flatten": True}), {"name": "tiny"})


def test_a_run_applies_the_choice_and_puts_the_count_back(monkeypatch, tmp_path):
    from layerloom.core.data import load_data
    from layerloom.core.training import Trainer
    from layerloom.core.training.events import RunStarted

    _busy_machine(monkeypatch)
    project = mlp_project()
    prepared = load_data("digits", {"flatten": True}, val_fraction=0.2, seed=0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    seen = []
    try:
        trainer = Trainer(project, prepared, run_root=str(tmp_path))
        result = trainer.run(lambda e: seen.append((e, torch.get_num_threads())))
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert result.status == "finished"
    started = [(e, n) for e, n in seen if isinstance(e, RunStarted)]
    assert len(started) == 1 and started[0][1] == 1  # the run trained on one thread
    assert {n for _e, n in seen} == {1}
    assert after == 2  # the count from before the run
    note = "CPU threads: 2 cores, 1.0 busy with other work: 1 thread so as not to fight it"
    assert note in started[0][0].notes
    with open(os.path.join(result.run_dir, "settings.json")) as f:
        recorded = json.load(f)["cpu_threads"]
    assert recorded["threads"] == 1 and recorded["reason"] == note.removeprefix("CPU threads: ")
    assert recorded["omp_wait_policy"] == trainer.threads.wait_policy


def test_threads_on_the_command_line_reach_the_run(monkeypatch, tmp_path, capsys):
    from layerloom.core.training.cli import main

    _busy_machine(monkeypatch)
    path = tmp_path / "tiny.json"
    save_project(mlp_project(), str(path))
    code = main([str(path), "--threads", "2", "--json", "--out", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 0, err
    run_dir = json.loads(out.strip().splitlines()[-1])["run_dir"]
    with open(os.path.join(run_dir, "settings.json")) as f:
        settings = json.load(f)
    assert settings["training"]["threads"] == 2
    assert settings["cpu_threads"]["threads"] == 2  # not lowered for the busy core: the user asked for two
    assert settings["cpu_threads"]["reason"] == "set by you (training.threads = 2)"
    assert "CPU (2 threads)" in err  # the run's first line names the device as it trained
    assert main([str(path), "--threads", "0", "--out", str(tmp_path / "runs")]) == 2
    assert "--threads must be" in capsys.readouterr().err


def test_doctor_shows_the_choice_and_the_wait_policy(monkeypatch, capsys):
    from layerloom.app import doctor
    from layerloom.app.cli import main

    _busy_machine(monkeypatch)
    monkeypatch.setattr(doctor, "qt_probe", lambda timeout=0: {"platform plugin": "not probed in this test"})
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    lines = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in out.splitlines() if ":" in line}
    assert lines["training threads"] == "1 (2 cores, 1.0 busy with other work: 1 thread so as not to fight it)"
    assert lines["OpenMP wait policy"] == wait_policy()
    assert lines["window training priority"].startswith("nice +5 for the training thread")
