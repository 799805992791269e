"""core/resources.py: the memory budget (half of what is available, or LAYERLOOM_MEMORY_LIMIT_MB), files that
are never opened (pipes, devices, folders) and never written over, and thread counts capped to the CPUs."""

from __future__ import annotations

import os
import threading

import pytest

from layerloom.core import resources
from layerloom.core.resources import (
    ENV_LIMIT,
    MemoryLimitError,
    NotRegularFile,
    check_fits,
    check_target,
    memory_budget,
    open_regular,
    size_text,
    usable_threads,
)


def test_the_budget_is_half_the_available_memory_unless_the_variable_sets_it(monkeypatch):
    monkeypatch.delenv(ENV_LIMIT, raising=False)
    monkeypatch.setattr(resources, "available_memory", lambda: 8 * 2**30)
    assert memory_budget() == 4 * 2**30
    check_fits(3 * 2**30, "three gigabytes")
    with pytest.raises(MemoryLimitError, match=r"big\.npz would take about 5 GB in memory; this computer has 8 GB "
                                               r"of memory available.*LAYERLOOM_MEMORY_LIMIT_MB"):
        check_fits(5 * 2**30, "big.npz")
    monkeypatch.setenv(ENV_LIMIT, "6000")
    assert memory_budget() == 6000 * 2**20
    check_fits(5 * 2**30, "big.npz")  # raised by the variable
    with pytest.raises(MemoryLimitError, match=r"the limit LAYERLOOM_MEMORY_LIMIT_MB sets is 5.86 GB"):
        check_fits(7 * 2**30, "big.npz")


@pytest.mark.parametrize("value", ["lots", "-5", "0"])
def test_a_bad_limit_is_named(monkeypatch, value):
    monkeypatch.setenv(ENV_LIMIT, value)
    with pytest.raises(MemoryLimitError, match=r"LAYERLOOM_MEMORY_LIMIT_MB must be a .*number of megabytes"):
        memory_budget()


def test_the_available_memory_is_read_from_the_system():
    available = resources.available_memory()
    assert available is not None and 2**20 < available < 2**50
    assert size_text(1536) == "1.5 KB" and size_text(3 * 2**40) == "3 TB" and size_text(12) == "12 bytes"


def test_a_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    done = []

    def attempt():
        try:
            open_regular(fifo, "data file")
        except NotRegularFile as err:
            done.append(err)

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(10)
    assert done, "opening a named pipe blocked"
    assert str(done[0]) == (f"{fifo}: is a named pipe (FIFO), not a data file; give the path of a data file (pipes "
                            "and devices are never read: they can block or never end)")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_devices_and_folders_are_refused(tmp_path):
    with pytest.raises(NotRegularFile, match=r"/dev/zero: is a device, not a file"):
        open_regular("/dev/zero")
    with pytest.raises(NotRegularFile, match=r"is a folder, not a project file; give the path of a project file$"):
        open_regular(tmp_path, "project file")
    (tmp_path / "ok.txt").write_text("fine")
    with open_regular(tmp_path / "ok.txt") as f:
        assert f.read() == b"fine"


def test_nothing_is_written_over_a_pipe_or_a_device(tmp_path):
    fifo = tmp_path / "out.onnx"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFile, match=r"is a named pipe \(FIFO\), not an onnx file.*never written to"):
        check_target(fifo, "onnx file")
    check_target(tmp_path / "new.onnx")  # missing: fine
    (tmp_path / "old.onnx").write_bytes(b"x")
    check_target(tmp_path / "old.onnx")  # a file: may be replaced
    if os.path.exists("/dev/full"):
        with pytest.raises(NotRegularFile, match="is a device"):
            check_target("/dev/full")


def test_threads_are_capped_to_the_cpus(monkeypatch):
    monkeypatch.setattr(resources, "cpu_count", lambda: 2)
    assert usable_threads(None) == (None, None)
    assert usable_threads(2) == (2, None)
    assert usable_threads(64) == (2, "training.threads is 64 but this computer has 2 CPUs; training uses 2 threads")
    monkeypatch.undo()
    assert 1 <= resources.cpu_count() <= (os.cpu_count() or 1)
