"""Distributed data-parallel training: `layerloom train` under torchrun with 2 CPU processes and Gloo ends with
identical weights in both processes and one complete run folder written by rank 0."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch  # noqa: F401  (a hard test dependency: fail loudly if missing)
import torch.distributed as dist

from layerloom.core import Graph
from layerloom.core.project import Project, save_project
from layerloom.core.settings import DataSettings, TrainingSettings

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with Gloo is not available")

# The command of each process: `layerloom train` itself, with the trained weights of every rank saved
# beside the run so the test can compare them.
WORKER = textwrap.dedent("""
    import os, sys
    from safetensors.torch import save_file
    import layerloom.core.training.trainer as trainer_module
    from layerloom.core.training.cli import main

    original = trainer_module.Trainer.run

    def run(self, sink=None, control=None):
        result = original(self, sink, control)
        state = {k: v.contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, os.path.join(sys.argv[1], f"rank{os.environ['RANK']}.safetensors"))
        return result

    trainer_module.Trainer.run = run
    sys.exit(main(sys.argv[2:]))
""")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_end_with_identical_weights_and_one_run_folder(tmp_path):
    from safetensors.torch import load_file

    g = Graph()
    i = g.add("Input", shape=[64])
    d = g.add("Dense", out_features=16)
    r = g.add("ReLU")
    drop = g.add("Dropout", p=0.1)
    d2 = g.add("Dense", out_features=10)
    o = g.add("Output")
    for a, b in ((i, d), (d, r), (r, drop), (drop, d2), (d2, o)):
        g.connect(a, b)
    project = tmp_path / "mlp.json"
    save_project(Project(g, TrainingSettings(epochs=2, batch_size=50, lr=0.01, threads=1, device="cpu"),
                         DataSettings("digits", {"flatten": True}), {"name": "ddp"}), str(project))
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    runs = tmp_path / "runs"
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(worker), str(tmp_path), str(project),
           "--json", "--out", str(runs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    w0 = load_file(str(tmp_path / "rank0.safetensors"))
    w1 = load_file(str(tmp_path / "rank1.safetensors"))
    assert w0.keys() == w1.keys()
    for k in w0:
        assert (w0[k] == w1[k]).all(), k

    folders = os.listdir(runs)
    assert len(folders) == 1  # only rank 0 writes
    run_dir = runs / folders[0]
    for name in ("project.json", "settings.json", "epochs.jsonl", "steps.csv", "last.safetensors", "best.safetensors"):
        assert (run_dir / name).exists(), name
    settings = json.loads((run_dir / "settings.json").read_text())
    assert settings["world_size"] == 2
    epochs = [json.loads(line) for line in (run_dir / "epochs.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [0, 1]
    # every validation sample counted once across the two processes
    assert sum(map(sum, epochs[-1]["confusion"])) == settings["data"]["val_size"]
    # 1,438 training samples, 719 per process, 50 a batch: 15 steps per epoch in each process
    assert epochs[-1]["step"] == 30
    from layerloom.core.training import load_checkpoint

    saved = load_checkpoint(str(run_dir / "last.safetensors")).model
    for k in w0:
        assert (saved[k] == w0[k]).all(), k

    docs = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(docs) == 1  # only rank 0 prints
    doc = json.loads(docs[0])
    assert doc["status"] == "finished" and doc["epochs"] == 2 and doc["run_dir"] == str(run_dir)
    assert "Traceback" not in proc.stderr
