"""The run services work for every training recipe, not only the supervised one: exact resume after a stop in
the middle of an epoch, a NaN loss failing plainly with the last good checkpoint kept, the recipe's metrics in
the run folder's epoch log and TensorBoard files, `layerloom train` printing them, and a 2-process DDP run
counting them over the whole validation set. One case per recipe (CASES): the VAE and the GAN."""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest
import torch
import torch.distributed as dist
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from layerloom.core import build_model
from layerloom.core.data import load_data
from layerloom.core.data.base import PreparedData, TensorSplit
from layerloom.core.project import save_project
from layerloom.core.settings import DataSettings
from layerloom.core.templates import load_template
from layerloom.core.training import TrainControl, Trainer, load_checkpoint
from layerloom.core.training import events as ev
from layerloom.core.training.cli import main


def vae_validation(model, val) -> dict:
    """A VAE's figures by hand, the whole split in one forward: the mean squared error per pixel, the KL term
    averaged over the samples, val_loss = reconstruction + β·KL."""
    (x,), (y,) = val.inputs, val.targets
    with torch.no_grad():
        out = model(x)
    sample = next(m for m in model.modules() if type(m).__name__ == "SampleModule")
    recon = float(torch.nn.functional.mse_loss(out.double(), y.double()))
    kl = float(sample.kl)
    return {"val_reconstruction": recon, "val_kl": kl, "val_loss": recon + sample.beta * kl}


VAL_NOISE_SEED = 12345  # the GAN recipe's validation noise: validation sample i meets noise vector i


def gan_validation(model, val) -> dict:
    """A GAN's figures by hand from the whole compiled model (inputs noise and image; outputs the generated
    samples and D's logits on the image): D on the real split and on G(z), z one seeded draw for the whole
    split; d_loss = BCE(D(x), 1) + BCE(D(G(z)), 0), g_loss = BCE(D(G(z)), 1), val_loss = d_loss + g_loss."""
    (x,) = val.inputs
    z = torch.randn((x.shape[0], 64), generator=torch.Generator().manual_seed(VAL_NOISE_SEED))
    with torch.no_grad():
        fake, real_logits = model(z, x)
        _, fake_logits = model(z, fake)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    d_loss = float(bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits)))
    g_loss = float(bce(fake_logits, torch.ones_like(fake_logits)))
    return {"val_d_loss": d_loss, "val_g_loss": g_loss, "val_d_real": float(real_logits.sigmoid().mean()),
            "val_d_fake": float(fake_logits.sigmoid().mean()), "val_loss": d_loss + g_loss}


@dataclasses.dataclass(frozen=True)
class Case:
    template: str  # a template of the recipe
    source: str  # its data, as a project names it
    options: dict
    metrics: tuple[str, ...]  # the validation metrics the recipe reports
    validate: Callable  # (model in eval mode, validation split) → those metrics and val_loss, computed by hand


CASES = [
    pytest.param(Case("vae_digits", "digits", {"resize": [28, 28], "task": "reconstruction", "normalize": False},
                      ("val_reconstruction", "val_kl"), vae_validation), id="vae"),
    pytest.param(Case("dcgan_digits", "digits", {"resize": [28, 28], "task": "classification", "normalize": False},
                      ("val_d_loss", "val_g_loss", "val_d_real", "val_d_fake"), gan_validation), id="gan"),
]
N_TRAIN, N_VAL, BATCH = 96, 48, 32  # 3 steps an epoch


def project_of(case: Case, **training):
    project = load_template(case.template)
    project.data = DataSettings(case.source, dict(case.options))
    project.training = dataclasses.replace(project.training, **{"threads": 1, "device": "cpu", "seed": 3, **training})
    return project


def tiny(case: Case, transform=None) -> PreparedData:
    """The first N_TRAIN training and N_VAL validation samples of the case's data."""
    data = load_data(case.source, dict(case.options), val_fraction=0.2, seed=0)

    def cut(split, n, t):
        return TensorSplit(tuple(x[:n] for x in split.inputs), tuple(y[:n] for y in split.targets),
                           t or split.transform)

    info = dataclasses.replace(data.info, train_size=N_TRAIN, val_size=N_VAL)
    return PreparedData(info, cut(data.train, N_TRAIN, transform), cut(data.val, N_VAL, None))


def train(case: Case, sink=None, control=None, *, data=None, run_root=None, resume=None, **training):
    project = project_of(case, batch_size=BATCH, **training)
    trainer = Trainer(project, data or tiny(case), settings=project.training, run_root=run_root, resume=resume,
                      event_interval=0)
    return trainer, trainer.run(sink, control)


def weights(trainer) -> dict:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def epochs_log(run_dir: str) -> list[dict]:
    with open(os.path.join(run_dir, "epochs.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


# --- (a) stop in the middle of an epoch, resume from the run folder -----------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_a_run_stopped_mid_epoch_resumes_exactly(case, tmp_path):
    ref, r_ref = train(case, epochs=2)
    assert r_ref.status == "finished", r_ref.message

    control = TrainControl()

    def stop_at_step_4(e):
        if isinstance(e, ev.Steps) and e.step[-1] >= 4:
            control.stop()

    _t, r1 = train(case, stop_at_step_4, control, run_root=str(tmp_path), epochs=2)
    assert r1.status == "stopped", r1.message
    ckpt = load_checkpoint(os.path.join(r1.run_dir, "last.safetensors"))
    stopped_at = ckpt.meta["step"]
    assert stopped_at in (4, 5) and ckpt.meta["epoch"] == 1 and ckpt.meta["batch"] == stopped_at - 3  # in epoch 2

    got = []
    resumed, r2 = train(case, got.append, run_root=str(tmp_path), resume=r1.run_dir, epochs=2)
    assert r2.status == "finished" and r2.epochs == 2 and r2.run_dir == r1.run_dir, r2.message
    assert next(e for e in got if isinstance(e, ev.Steps)).step[0] == stopped_at + 1
    a, b = weights(resumed), weights(ref)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k  # the sampling noise of the Sample block comes back too
    for name in case.metrics:
        assert r2.final[name] == pytest.approx(r_ref.final[name], rel=1e-6)
    assert [r["epoch"] for r in epochs_log(r1.run_dir)] == [0, 1]


# --- (b) a NaN loss ----------------------------------------------------------------------------------------


class PoisonFrom:
    """A batch transform (after the split's own) making the inputs NaN from its n-th call on."""

    def __init__(self, n, inner):
        self.n, self.inner, self.calls = n, inner, 0

    def __call__(self, xs, generator=None):
        if self.inner is not None:
            xs = self.inner(xs, generator=generator)
        self.calls += 1
        return tuple(x * float("nan") for x in xs) if self.calls >= self.n else xs


@pytest.mark.parametrize("case", CASES)
def test_a_nan_loss_fails_plainly_and_keeps_the_last_good_checkpoint(case, tmp_path):
    clean, _ = train(case, epochs=1)
    data = tiny(case)
    data.train.transform = PoisonFrom(5, data.train.transform)  # step 5: epoch 2, batch 2
    got = []
    _t, result = train(case, got.append, data=data, run_root=str(tmp_path), epochs=3)
    assert result.status == "failed" and result.reason == "nan"
    assert "NaN" in result.message and "step 5" in result.message and "epoch 2" in result.message
    assert "Traceback" not in result.message and len(result.message) < 400
    assert got[-1].kind == "failed" and got[-1].message == result.message
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt.meta["epoch"] == 1 and ckpt.meta["step"] == 3  # the end of epoch 1, the last good one
    good = weights(clean)
    assert ckpt.model.keys() == good.keys()
    for k in good:
        assert torch.equal(ckpt.model[k], good[k]), k
    assert [r["epoch"] for r in epochs_log(result.run_dir)] == [0]
    with open(os.path.join(result.run_dir, "status.json")) as f:
        status = json.load(f)
    assert status["state"] == "failed" and status["message"] == result.message
    assert status["checkpoints"]["last"]["step"] == 3


# --- (c) the run folder: epoch log and TensorBoard ---------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_the_run_folder_logs_the_recipes_metrics_and_tensorboard_has_them(case, tmp_path):
    _t, result = train(case, run_root=str(tmp_path), epochs=2)
    assert result.status == "finished", result.message
    records = epochs_log(result.run_dir)
    assert [r["epoch"] for r in records] == [0, 1]
    for r in records:
        for name in case.metrics:
            assert isinstance(r[name], float) and r[name] >= 0, name
    assert records[-1]["val_loss"] == pytest.approx(result.final["val_loss"])
    for name in case.metrics:
        assert records[-1][name] == pytest.approx(result.final[name])
    assert glob.glob(os.path.join(result.run_dir, "events.out.tfevents.*"))
    acc = EventAccumulator(result.run_dir)
    acc.Reload()
    tags = acc.Tags()["scalars"]
    for name in ("loss/train", "loss/val", *(f"metrics/{m}" for m in case.metrics)):
        assert name in tags, (name, tags)
    for name in case.metrics:
        points = acc.Scalars(f"metrics/{name}")
        assert [p.step for p in points] == [1, 2]
        assert [p.value for p in points] == pytest.approx([r[name] for r in records], rel=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_the_recipes_validation_figures_are_the_hand_computed_ones(case):
    trainer, result = train(case, epochs=1)  # validation batches of 32 and 16
    assert result.status == "finished", result.message
    model = build_model(project_of(case).graph)
    model.load_state_dict(weights(trainer))
    expected = case.validate(model.eval(), tiny(case).val)
    for name in (*case.metrics, "val_loss"):
        assert result.final[name] == pytest.approx(expected[name], rel=1e-5, abs=1e-7), name


# --- (d) the CLI -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_the_train_command_reports_the_recipes_metrics(case, tmp_path, capsys):
    path = str(tmp_path / "project.json")
    save_project(project_of(case, epochs=1, batch_size=64), path)
    code = main([path, "--json", "--out", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in out + err, err
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["status"] == "finished" and doc["epochs"] == 1
    record = epochs_log(doc["run_dir"])[-1]
    for name in case.metrics:
        assert doc["final"][name] == pytest.approx(record[name]), name
        assert f"{name} " in err  # on the epoch's progress line
    code = main([path, "--out", str(tmp_path / "runs")])  # the words, without --json
    out, err = capsys.readouterr()
    assert code == 0, err
    finished = next(line for line in out.splitlines() if line.startswith("Finished after 1 epoch"))
    for name in case.metrics:
        assert f"{name} " in finished


# --- (e) DDP: two gloo processes ---------------------------------------------------------------------------

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


def single_process_validation(case: Case, project, state) -> tuple[dict, int]:
    """The recipe's validation figures of `state` over the whole validation split in one process (the case's
    hand computation), and the split's size."""
    data = load_data(case.source, dict(case.options), val_fraction=project.training.val_fraction,
                     seed=project.training.seed)
    model = build_model(project.graph)
    model.load_state_dict(state)
    return case.validate(model.eval(), data.val), len(data.val)


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                    reason="torch.distributed with Gloo is not available")
@pytest.mark.parametrize("case", CASES)
def test_two_gloo_processes_count_the_recipes_metrics_over_the_whole_validation_set(case, tmp_path):
    from safetensors.torch import load_file

    project = project_of(case, epochs=1, batch_size=50)
    path = tmp_path / "project.json"
    save_project(project, str(path))
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    runs = tmp_path / "runs"
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(worker), str(tmp_path), str(path),
           "--json", "--out", str(runs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    w0 = load_file(str(tmp_path / "rank0.safetensors"))
    w1 = load_file(str(tmp_path / "rank1.safetensors"))
    assert w0.keys() == w1.keys()
    assert [k for k in w0 if not torch.equal(w0[k], w1[k])] == []  # every weight and buffer the same on both
    (folder,) = os.listdir(runs)
    record = epochs_log(str(runs / folder))[-1]
    with open(runs / folder / "settings.json") as f:
        settings = json.load(f)
    expected, val_size = single_process_validation(case, project, w0)
    assert settings["world_size"] == 2 and settings["data"]["val_size"] == val_size
    for name in (*case.metrics, "val_loss"):
        assert record[name] == pytest.approx(expected[name], rel=1e-5, abs=1e-7), name
    doc = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("{")))
    for name in case.metrics:
        assert doc["final"][name] == pytest.approx(record[name]), name
