"""Nothing a user opens can fill the memory or hang: data whose declared size does not fit is refused before it
is read (npz headers, image headers, text file sizes; LAYERLOOM_MEMORY_LIMIT_MB raises or lowers the limit), and
pipes and devices are never opened. The dangerous cases run in a child process whose address space is capped and
which is killed after a timeout, so a missing guard fails the test instead of the machine."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib

import numpy as np
import pytest

from layerloom.app.cli import main
from layerloom.core.data import DataError, load_data
from layerloom.core.resources import ENV_LIMIT


def project_file(tmp_path, source="iris", shape=(4,)) -> str:
    from layerloom.core import Graph
    from layerloom.core.project import Project, save_project
    from layerloom.core.settings import DataSettings, TrainingSettings

    g = Graph()
    prev = g.add("Input", shape=list(shape))
    if len(shape) > 1:
        f = g.add("Flatten")
        g.connect(prev, f)
        prev = f
    d = g.add("Dense", out_features=3)
    g.connect(prev, d)
    g.connect(d, g.add("Output"))
    path = tmp_path / "p.json"
    save_project(Project(g, TrainingSettings(epochs=1, threads=1, device="cpu"), DataSettings(source, {})), path)
    return str(path)


def run_capped(code: str, *, extra_bytes: int = 1536 * 2**20, timeout: float = 90, env=None):
    """Run `code` in a child Python after the imports it needs, with its address space capped at what it uses
    plus `extra_bytes` (an allocation of gigabytes fails there at once); killed after `timeout` seconds."""
    prelude = textwrap.dedent(f"""
        import resource, sys
        import torch, numpy, PIL.Image
        import layerloom.app.cli, layerloom.core.training.cli, layerloom.core.data.prepare
        import layerloom.core.data.files, layerloom.core.data.image_folder, layerloom.core.training.trainer
        size = int(open('/proc/self/status').read().split('VmSize:')[1].split()[0]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + {extra_bytes}, size + {extra_bytes}))
    """)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def npz_bomb(path, declared: int) -> None:
    """An .npz whose x declares `declared` bytes of uint8 and really decompresses to them (blocks of deflated
    zeros: a few MB on disk), with a tiny y."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (declared,)})
    head = header.getvalue()
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = comp.compress(head) + comp.flush(zlib.Z_FULL_FLUSH)
    chunk = 1 << 20
    block = comp.compress(b"\0" * chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    stream += block * (declared // chunk) + comp.flush()
    y = io.BytesIO()
    np.save(y, np.zeros(3, dtype=np.int64))
    out, central, entries = io.BytesIO(), io.BytesIO(), []
    for name, packed, size, method in (("x.npy", stream, len(head) + declared, 8),
                                       ("y.npy", y.getvalue(), len(y.getvalue()), 0)):
        offset = out.tell()
        fname = name.encode()
        crc = zlib.crc32(packed) if method == 0 else 0
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(packed), size, len(fname), 0))
        out.write(fname + packed)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(packed), size,
                                  len(fname), 0, 0, 0, 0, 0, offset) + fname)
        entries.append(name)
    start, cd = out.tell(), central.getvalue()
    out.write(cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(cd), start, 0))
    with open(path, "wb") as f:
        f.write(out.getvalue())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
def test_an_npz_that_declares_gigabytes_is_refused_before_it_is_read(tmp_path):
    bomb = tmp_path / "bomb.npz"
    npz_bomb(bomb, 3 * 2**30)  # 3 GB declared and really there, in about 3 MB
    assert os.path.getsize(bomb) < 8 * 2**20
    project = project_file(tmp_path)
    proc = run_capped(f"""
        code = layerloom.app.cli.main(["train", {project!r}, "--data", {str(bomb)!r}, "--out", {str(tmp_path)!r}])
        sys.exit(code)
    """, env={ENV_LIMIT: "512"})
    assert proc.returncode == 1, proc.stderr
    assert ("bomb.npz (x: 3,221,225,472 uint8) would take about 15 GB in memory; the limit "
            "LAYERLOOM_MEMORY_LIMIT_MB sets is 512 MB") in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero and /dev/urandom")
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_never_read_as_data(tmp_path, device):
    project = project_file(tmp_path)
    proc = run_capped(f"""
        sys.exit(layerloom.app.cli.main(["train", {project!r}, "--data", {device!r}, "--out", {str(tmp_path)!r}]))
    """, timeout=60)
    assert proc.returncode == 1
    assert f"layerloom: {device}: is a device, not a data file; give the path of a data file" in proc.stderr


def test_named_pipes_never_hang_a_command(tmp_path):
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    model = tmp_path / "model.onnx"
    os.mkfifo(model)
    project = project_file(tmp_path)
    for argv in (["train", project, "--data", str(fifo), "--out", str(tmp_path)], ["summary", str(fifo)],
                 ["train", str(fifo)], ["export", str(fifo), "-f", "onnx", "-o", str(tmp_path / "m.onnx")],
                 ["predict", str(model), str(fifo)]):
        proc = subprocess.run([sys.executable, "-m", "layerloom", *argv], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 1, (argv, proc.stderr)
        assert "is a named pipe (FIFO)" in proc.stderr or "neither a run folder nor" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_a_project_file_that_is_a_pipe_is_refused_by_load_project(tmp_path):
    import threading

    from layerloom.core.errors import ProjectError
    from layerloom.core.project import load_project

    fifo = tmp_path / "net.json"
    os.mkfifo(fifo)
    errors = []

    def attempt():
        try:
            load_project(fifo)
        except ProjectError as err:
            errors.append(str(err))

    t = threading.Thread(target=attempt, daemon=True)  # a blocking open() would leave it stuck: the test fails
    t.start()
    t.join(20)
    assert errors and errors[0].startswith(f"{fifo}: is a named pipe (FIFO), not a project file")


def test_the_limit_can_be_raised_or_lowered(tmp_path, monkeypatch):
    x = np.zeros((1000, 40, 40), dtype=np.float32)  # 6.1 MB (no float32 copy needed), y a few KB
    np.savez(tmp_path / "mid.npz", x=x, y=np.arange(1000) % 2)
    monkeypatch.setenv(ENV_LIMIT, "5")
    with pytest.raises(DataError, match=r"mid.npz \(x: 1,000×40×40 float32\) would take about 6.11 MB in memory; "
                                        r"the limit LAYERLOOM_MEMORY_LIMIT_MB sets is 5 MB.*set "
                                        r"LAYERLOOM_MEMORY_LIMIT_MB to a higher number"):
        load_data(str(tmp_path / "mid.npz"))
    monkeypatch.setenv(ENV_LIMIT, "50")
    assert len(load_data(str(tmp_path / "mid.npz")).train) == 800


def test_a_text_file_too_large_for_the_memory_is_refused_by_its_size(tmp_path, monkeypatch):
    rows = "".join(f"{i},{i * 2},{i % 3}\n" for i in range(20_000))
    (tmp_path / "t.csv").write_text("a,b,label\n" + rows)
    monkeypatch.setenv(ENV_LIMIT, "1")
    with pytest.raises(DataError, match=r"t.csv \(\d{3},\d{3} bytes of text, read into rows\) would take about "
                                        r"[\d.]+ MB in memory"):
        load_data(str(tmp_path / "t.csv"))
    monkeypatch.delenv(ENV_LIMIT)
    assert load_data(str(tmp_path / "t.csv")).info.num_classes == 3


def png_header_only(path, width: int, height: int) -> None:
    """A PNG that declares width × height pixels (grey, 8 bits) and holds no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
                     + chunk(b"IEND", b""))


def image_folder(tmp_path, size=(8, 8), count=2) -> str:
    from PIL import Image

    for cls in ("cats", "dogs"):
        (tmp_path / "imgs" / cls).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("L", size).save(tmp_path / "imgs" / cls / f"{i}.png")
    return str(tmp_path / "imgs")


@pytest.mark.parametrize(("width", "height"), [(30_000, 30_000), (10_000, 10_000)])
def test_images_above_the_pixel_limit_are_refused_with_their_size(tmp_path, width, height):
    folder = image_folder(tmp_path)
    png_header_only(tmp_path / "imgs" / "cats" / "huge.png", width, height)
    with pytest.raises(DataError) as err:
        load_data(folder)
    assert str(err.value) == (f"{tmp_path / 'imgs' / 'cats' / 'huge.png'}: the image is {width * height:,} pixels"
                              if width == 30_000 else
                              f"{tmp_path / 'imgs' / 'cats' / 'huge.png'}: the image is {width:,}×{height:,} pixels"
                              ) + ("; images may have at most 89 megapixels, so it is not opened (a huge image, or a "
                                   "decompression bomb) — make it smaller")


def test_an_image_folder_too_large_for_the_memory_is_refused_while_reading(tmp_path, monkeypatch):
    folder = image_folder(tmp_path, size=(1500, 1500), count=3)  # 9 MB each decoded with its RGB copy
    monkeypatch.setenv(ENV_LIMIT, "20")
    with pytest.raises(DataError, match=r"the 6 images of .*imgs \(at the size of the first 3\) would take about "
                                        r"51.5 MB in memory; the limit LAYERLOOM_MEMORY_LIMIT_MB sets is 20 MB"):
        load_data(folder)
    monkeypatch.setenv(ENV_LIMIT, "200")
    assert len(load_data(folder, {"resize": [8, 8]}).train) == 5


def test_an_empty_data_flag_is_refused_instead_of_training_on_the_project_data(tmp_path, capsys):
    project = project_file(tmp_path)
    assert main(["train", project, "--data", "", "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err == ("layerloom: --data is empty; give a data set name such as 'digits' or the path of a data file (or "
                   "leave --data out to train on the project's data)\n")
    assert not (tmp_path / "runs").exists()


def test_a_zip_member_that_is_not_an_array_is_named(tmp_path):
    with zipfile.ZipFile(tmp_path / "odd.npz", "w") as zf:
        zf.writestr("x.npy", b"not an array at all")
        zf.writestr("y.npy", b"nor this")
    with pytest.raises(DataError, match=r"odd.npz: the array x is not in NumPy's .npy format; it may be a Python "
                                        r"pickle, which is never loaded"):
        load_data(str(tmp_path / "odd.npz"))


def test_a_run_folder_holding_a_pipe_is_refused(tmp_path, capsys):
    project = project_file(tmp_path)
    assert main(["train", project, "--out", str(tmp_path / "runs")]) == 0
    capsys.readouterr()
    run_dir = next((tmp_path / "runs").iterdir())
    (run_dir / "settings.json").unlink()
    os.mkfifo(run_dir / "settings.json")
    proc = subprocess.run([sys.executable, "-m", "layerloom", "export", str(run_dir), "-f", "onnx", "-o",
                           str(tmp_path / "m.onnx")], capture_output=True, text=True, timeout=60)  # a hang fails
    assert proc.returncode == 1
    assert proc.stderr == (f"layerloom: {run_dir / 'settings.json'}: is a named pipe (FIFO), so the run folder cannot "
                           "be used (a run folder holds only the files Layerloom wrote)\n")
