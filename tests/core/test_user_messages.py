"""The paths that reached users as raw exception text (`unexpected error: …`, `training failed: XError: …`), each
through the real command: now one plain sentence naming the file, field or block and what to do, a non-zero exit
status, no traceback and no exception class names — or, where the input was valid, a run that works."""

from __future__ import annotations

import errno
import json
import os
import re
import struct
import zipfile
import zlib

import pytest

from layerloom.app.cli import main
from layerloom.core.export.bundle import METRICS
from layerloom.core.project import load_project, save_project

CLASS_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception)\b:")


def run(capsys, *argv, status=1) -> str:
    """Run `layerloom ARGV`; check the exit status and that stderr is plain words. Returns stderr."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == status, err
    assert "Traceback" not in out + err and not CLASS_NAME.search(err), err
    assert "unexpected error" not in err and "training failed" not in err, err
    return err


def mlp(tmp_path, name="m", source="iris", shape=(4,), classes=3, **training) -> str:
    from layerloom.core import Graph
    from layerloom.core.project import Project
    from layerloom.core.settings import DataSettings, TrainingSettings

    g = Graph()
    prev = g.add("Input", shape=list(shape))
    if len(shape) > 1:
        f = g.add("Flatten")
        g.connect(prev, f)
        prev = f
    d = g.add("Dense", out_features=classes)
    g.connect(prev, d)
    g.connect(d, g.add("Output"))
    settings = TrainingSettings(**{"epochs": 1, "batch_size": 16, "threads": 1, "device": "cpu", **training})
    path = tmp_path / f"{name}.json"
    save_project(Project(g, settings, DataSettings(source, {}), {"name": name}), path)
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run folder of a tiny iris model."""
    tmp = tmp_path_factory.mktemp("trained")
    assert main(["train", mlp(tmp), "--out", str(tmp / "runs")]) == 0
    return str(next((tmp / "runs").iterdir()))


@pytest.fixture
def readonly(tmp_path, monkeypatch):
    """A folder nobody may write in (as root, where permissions do not bind, making folders in it is refused)."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        mkdir = os.mkdir

        def refuse(path, *args, **kwargs):
            if str(path).startswith(str(folder)):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return mkdir(path, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", refuse)
    yield folder
    folder.chmod(0o755)


def png_header_only(path, width: int, height: int) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def pickled_npz(path) -> str:
    import pickle

    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", pickle.dumps([[1.0, 2.0, 3.0, 4.0]] * 10))
        zf.writestr("y.npy", pickle.dumps([0] * 10))
    return str(path)


def long_field_csv(path) -> str:
    path.write_text("a,b,c,d,label\n1,2,3,4,0\n5,6,7,\"" + "x" * 5_000_000 + "\",1\n")
    return str(path)


# --- 1–3: images and CSV fields past their limits -----------------------------------------------------


def test_01_train_on_an_image_folder_holding_a_30000_pixel_square_png(tmp_path, capsys):
    from PIL import Image

    for cls in ("cats", "dogs"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        Image.new("L", (8, 8)).save(tmp_path / "imgs" / cls / "a.png")
    png_header_only(tmp_path / "imgs" / "cats" / "huge.png", 30_000, 30_000)
    err = run(capsys, "train", mlp(tmp_path, shape=(1, 8, 8), classes=2), "--data", tmp_path / "imgs")
    assert err == (f"layerloom: {tmp_path / 'imgs' / 'cats' / 'huge.png'}: the image is 900,000,000 pixels; images "
                   "may have at most 89 megapixels, so it is not opened (a huge image, or a decompression bomb) — "
                   "make it smaller\n")


def test_02_train_on_a_csv_with_a_5_mb_field(tmp_path, capsys):
    err = run(capsys, "train", mlp(tmp_path), "--data", long_field_csv(tmp_path / "long.csv"))
    assert err == ("layerloom: long.csv, line 3: a value is longer than 131,072 characters, the most a field of a "
                   "delimited file may hold; a quote mark that is never closed joins the lines after it into one "
                   "value — check the quoting (or split the long text)\n")


def test_03_predict_on_csv_rows_with_a_5_mb_field(tmp_path, capsys, trained):
    err = run(capsys, "predict", trained, long_field_csv(tmp_path / "rows.csv"))
    assert err == (f"layerloom: {tmp_path / 'rows.csv'}: a value is longer than the most a CSV field may hold (131072 "
                   "characters); a quote mark that is never closed does this — check the quoting\n")


# --- 4: a valid setting that crashed ------------------------------------------------------------------


def test_04_val_fraction_0_trains_on_every_sample(tmp_path, capsys):
    from layerloom.core.templates import load_template

    project = load_template("mlp")  # digits, flattened: the case that failed reshaping an empty split
    project.training.val_fraction = 0.0
    project.training.epochs = 1
    project.training.device = "cpu"
    path = tmp_path / "mlp.json"
    save_project(project, path)
    run(capsys, "train", path, "--out", tmp_path / "runs", "--json", status=0)
    run_dir = next((tmp_path / "runs").iterdir())
    assert (run_dir / "last.safetensors").exists()
    with open(run_dir / "settings.json") as f:
        assert json.load(f)["data"]["val_size"] == 0


# --- 5–11: where runs and exports go ------------------------------------------------------------------


def test_05_train_out_an_existing_file(tmp_path, capsys):
    (tmp_path / "afile").write_text("keep me")
    err = run(capsys, "train", mlp(tmp_path), "--out", tmp_path / "afile", status=2)
    assert err == (f"layerloom: --out {tmp_path / 'afile'} is a file, not a folder; give the folder the run folders "
                   "go in (it is created when missing)\n")
    assert (tmp_path / "afile").read_text() == "keep me"


def test_06_train_out_a_read_only_folder(tmp_path, capsys, readonly):
    err = run(capsys, "train", mlp(tmp_path), "--out", readonly / "runs")
    assert err == (f"layerloom: --out {readonly / 'runs'}: a run folder cannot be made there (permission denied); "
                   "choose a folder you can write to\n")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_07_train_out_a_folder_in_proc(tmp_path, capsys):
    err = run(capsys, "train", mlp(tmp_path), "--out", "/proc/x")
    assert err == ("layerloom: --out /proc/x: a run folder cannot be made there (no such file or directory); choose "
                   "a folder you can write to\n")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_08_train_out_dev_full(tmp_path, capsys):
    err = run(capsys, "train", mlp(tmp_path), "--out", "/dev/full", status=2)
    assert err == ("layerloom: --out /dev/full is a device or pipe, not a folder; give the folder the run folders go "
                   "in (it is created when missing)\n")


def test_09_export_into_a_read_only_folder(tmp_path, capsys, trained, readonly):
    err = run(capsys, "export", trained, "-f", "onnx", "-o", readonly / "m.onnx")
    assert err == (f"layerloom: {readonly / 'm.onnx'}: cannot be written (permission denied); choose a folder you "
                   "can write to\n")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_10_export_into_proc(capsys, trained):
    err = run(capsys, "export", trained, "-f", "onnx", "-o", "/proc/x/m.onnx")
    assert err.startswith("layerloom: /proc/x/m.onnx: cannot be written (") and \
        err.endswith("); choose a folder you can write to\n")


def test_11_export_onto_a_pipe_or_device_never_replaces_it(tmp_path, capsys, trained):
    fifo = tmp_path / "m.onnx"
    os.mkfifo(fifo)  # a device as root would be replaced the same way; a pipe shows it safely
    err = run(capsys, "export", trained, "-f", "onnx", "-o", fifo)
    assert err == (f"layerloom: {fifo}: is a named pipe (FIFO), not an onnx file; give the path of an onnx file "
                   "(pipes and devices are never written to: that could block, or destroy the device)\n")
    assert fifo.is_fifo()


# --- 12–13: a lone surrogate in a text ----------------------------------------------------------------


def test_12_train_a_project_whose_name_holds_a_lone_surrogate(tmp_path, capsys):
    path = tmp_path / "s.json"
    from pathlib import Path

    text = Path(mlp(tmp_path)).read_text(encoding="utf-8").replace('"name": "m"', '"name": "m\\ud800x"')
    path.write_text(text, encoding="utf-8")
    run(capsys, "train", path, "--out", tmp_path / "runs", status=0)
    run_dir = next((tmp_path / "runs").iterdir())
    assert (run_dir / "last.safetensors").exists()
    assert load_project(run_dir / "project.json").name == "m\ud800x"  # kept as it was


def test_13_export_a_run_whose_description_holds_a_lone_surrogate(tmp_path, capsys):
    path = tmp_path / "d.json"
    from pathlib import Path

    text = Path(mlp(tmp_path)).read_text(encoding="utf-8").replace('"name": "m"', '"name": "m", "description": '
                                                                   '"caf\\udce9"')
    path.write_text(text, encoding="utf-8")
    run(capsys, "train", path, "--out", tmp_path / "runs", status=0)
    run_dir = next((tmp_path / "runs").iterdir())
    for fmt, out in (("bundle", "m.layerloom"), ("python", "py"), ("onnx", "m.onnx")):
        run(capsys, "export", run_dir, "-f", fmt, "-o", tmp_path / out, status=0)
    from layerloom.core.export import load_bundle

    assert load_bundle(tmp_path / "m.layerloom").project.description == "caf\udce9"


# --- 14–15: a bundle whose metrics hold a non-number ------------------------------------------------


@pytest.fixture
def bad_metrics(tmp_path, capsys, trained) -> str:
    run(capsys, "export", trained, "-f", "bundle", "-o", tmp_path / "good.layerloom", status=0)
    with zipfile.ZipFile(tmp_path / "good.layerloom") as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    metrics = json.loads(items[METRICS])
    metrics["epochs"][0]["epoch"] = "x"
    items[METRICS] = json.dumps(metrics).encode()
    path = tmp_path / "bad.layerloom"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in items.items():
            zf.writestr(name, data)
    return str(path)


def test_14_train_on_a_bundle_whose_metrics_hold_a_non_number(tmp_path, capsys, bad_metrics):
    err = run(capsys, "train", bad_metrics, "--out", tmp_path / "runs")
    assert err == (f"layerloom: {bad_metrics}: metrics.json, epoch record 1: epoch must be a whole number of at "
                   "least 0 (got 'x'); the file is damaged — export the bundle again\n")
    assert not (tmp_path / "runs").exists()


def test_15_export_a_bundle_whose_metrics_hold_a_non_number(tmp_path, capsys, bad_metrics):
    err = run(capsys, "export", bad_metrics, "-f", "onnx", "-o", tmp_path / "m.onnx")
    assert "metrics.json, epoch record 1: epoch must be a whole number" in err


# --- 16: a model too large to build -------------------------------------------------------------------


def test_16_export_a_run_whose_dense_has_a_trillion_units(tmp_path, capsys, trained):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    data = json.loads((run_dir / "project.json").read_text())
    dense = next(n for n in data["nodes"] if n["type"] == "Dense")
    dense["params"]["out_features"] = 10**12
    (run_dir / "project.json").write_text(json.dumps(data))
    err = run(capsys, "export", run_dir, "-f", "onnx", "-o", tmp_path / "m.onnx")
    assert err.startswith("layerloom: the model cannot be built:\n  - Dense 'dense_1' holds 5,000,000,000,000 "
                          "parameters (18.2 TB); the model's parameters need 18.2 TB of memory but this computer has ")
    assert err.endswith("available — make Dense 'dense_1' smaller\n")


# --- 17–18: an npz whose members are pickles ----------------------------------------------------------


def test_17_train_on_an_npz_whose_members_are_pickles(tmp_path, capsys):
    err = run(capsys, "train", mlp(tmp_path), "--data", pickled_npz(tmp_path / "p.npz"))
    assert err == ("layerloom: p.npz: the array x is not in NumPy's .npy format; it may be a Python pickle, which is "
                   "never loaded — save plain number arrays with np.savez(path, x=..., y=...)\n")


def test_18_predict_on_an_npz_whose_members_are_pickles(tmp_path, capsys, trained):
    path = pickled_npz(tmp_path / "p.npz")
    err = run(capsys, "predict", trained, path)
    assert err == (f"layerloom: {path}: the array x is not in NumPy's .npy format; it may be a Python pickle, which "
                   "is never loaded — save plain number arrays with np.save or np.savez\n")


# --- 19: saving a project onto a pipe or device ------------------------------------------------------


def test_19_new_project_onto_a_pipe_never_replaces_it(tmp_path, capsys):
    fifo = tmp_path / "net.json"
    os.mkfifo(fifo)
    err = run(capsys, "new", "-o", fifo, "--force")
    assert err == (f"layerloom: {fifo}: cannot be saved: is a named pipe (FIFO), not a project file; give the path "
                   "of a project file (pipes and devices are never written to: that could block, or destroy the "
                   "device)\n")
    assert fifo.is_fifo()
