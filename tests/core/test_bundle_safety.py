"""Malicious bundles are refused with a message, before anything in them is used: a member with a `../`
path, a pickle inside, and a member that decompresses to gigabytes (crafted cheaply: a few MB of deflate
blocks of zeros). Nothing is ever extracted, unpickled or executed."""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
import zlib

import pytest
import torch

from layerloom.core.export import BundleError, load_bundle, open_source, source_from
from layerloom.core.export.bundle import MANIFEST, PROJECT, WEIGHTS, save_bundle

MARKER = "layerloom-pwned-marker"


class Evil:
    """Unpickling this would create a marker file: it must never happen."""

    def __reduce__(self):
        return (open, (os.path.join(os.environ.get("LAYERLOOM_TEST_TMP", "/tmp"), MARKER), "w"))


def good_bundle(tmp_path) -> str:
    from layerloom.core import Graph

    g = Graph()
    x = g.add("Input", shape=[4])
    d = g.add("Dense", out_features=2)
    g.connect(x, d)
    g.connect(d, g.add("Output"))
    path = str(tmp_path / "good.layerloom")
    save_bundle(source_from(g), path)
    return path


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write_zip(path, items: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in items.items():
            zf.writestr(name, data)
    return str(path)


@pytest.fixture(autouse=True)
def _marker_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_TEST_TMP", str(tmp_path))
    yield
    assert not (tmp_path / MARKER).exists(), "a pickle in a bundle was unpickled"


def test_a_good_bundle_opens(tmp_path):
    bundle = load_bundle(good_bundle(tmp_path))
    assert [n.type for n in bundle.project.graph] == ["Input", "Dense", "Output"]
    assert set(bundle.state) == {"dense_1.weight", "dense_1.bias"}


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil", "weights/../../x", "..\\evil", "C:/evil", "a/"])
def test_paths_outside_the_bundle_are_refused(tmp_path, name):
    items = members(good_bundle(tmp_path))
    items[name] = b"x"
    path = write_zip(tmp_path / "traversal.layerloom", items)
    with pytest.raises(BundleError, match=r"points outside the bundle|not part of a Layerloom bundle") as info:
        load_bundle(path)
    assert "refused" in str(info.value)
    assert not (tmp_path.parent / "evil.txt").exists()


def test_a_pickle_instead_of_weights_is_refused(tmp_path):
    items = members(good_bundle(tmp_path))
    items[WEIGHTS] = pickle.dumps({"dense_1.weight": Evil()})
    with pytest.raises(BundleError, match=r"holds a Python pickle instead of safetensors weights"):
        load_bundle(write_zip(tmp_path / "pickled.layerloom", items))
    # torch.save's zip format (a data.pkl inside) too
    buf = io.BytesIO()
    torch.save({"dense_1.weight": torch.zeros(2, 4)}, buf)
    items[WEIGHTS] = buf.getvalue()
    with pytest.raises(BundleError, match=r"pickle"):
        load_bundle(write_zip(tmp_path / "torchsave.layerloom", items))


def test_a_pickle_beside_the_weights_is_refused(tmp_path):
    items = members(good_bundle(tmp_path))
    items["data.pkl"] = pickle.dumps(Evil())
    with pytest.raises(BundleError, match=r"'data.pkl', a Python pickle.*never unpickles"):
        load_bundle(write_zip(tmp_path / "extra.layerloom", items))


def _deflate_zeros(total: int) -> tuple[bytes, int]:
    """A raw deflate stream of `total` zero bytes made of repeated blocks: a few MB for gigabytes."""
    chunk = 1 << 20
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(b"\0" * chunk) + c.flush(zlib.Z_FULL_FLUSH)  # byte-aligned, independent of what follows
    stream = block * (total // chunk) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    return stream, zlib.crc32(b"")  # the CRC is never reached: reading stops long before


def _zip_with_raw_member(path, items: dict[str, bytes], name: str, raw: bytes, declared: int) -> str:
    """A zip with normal members and one deflated member written by hand, declaring `declared` bytes."""
    out = io.BytesIO()
    entries = []
    for n, data in items.items():
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = comp.compress(data) + comp.flush()
        entries.append((n, packed, len(data), zlib.crc32(data)))
    entries.append((name, raw, declared, 0))
    central = io.BytesIO()
    for n, packed, size, crc in entries:
        offset = out.tell()
        fname = n.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(packed), size, len(fname), 0))
        out.write(fname)
        out.write(packed)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(packed), size,
                                  len(fname), 0, 0, 0, 0, 0, offset))
        central.write(fname)
    start = out.tell()
    cd = central.getvalue()
    out.write(cd)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(cd), start, 0))
    with open(path, "wb") as f:
        f.write(out.getvalue())
    return str(path)


def test_a_zip_bomb_is_refused_by_its_declared_size(tmp_path):
    items = members(good_bundle(tmp_path))
    del items[WEIGHTS]
    raw, _ = _deflate_zeros(3 * 2**30)  # 3 GB of zeros in about 3 MB
    assert len(raw) < 8 * 2**20
    path = _zip_with_raw_member(tmp_path / "bomb.layerloom", items, WEIGHTS, raw, 3 * 2**30)
    assert os.path.getsize(path) < 8 * 2**20
    with pytest.raises(BundleError, match=r"weights.safetensors would decompress to 3 GB.*zip bomb"):
        load_bundle(path)


def test_a_zip_bomb_that_lies_about_its_size_is_refused_while_reading(tmp_path):
    items = members(good_bundle(tmp_path))
    del items[WEIGHTS]
    raw, _ = _deflate_zeros(3 * 2**30)
    # it claims 1 KB: reading stops there instead of filling the memory with gigabytes
    path = _zip_with_raw_member(tmp_path / "liar.layerloom", items, WEIGHTS, raw, 1024)
    with pytest.raises(BundleError, match=r"damaged|zip bomb|not a readable safetensors"):
        load_bundle(path)


def test_a_huge_project_member_is_refused(tmp_path):
    items = members(good_bundle(tmp_path))
    del items[PROJECT]
    raw, _ = _deflate_zeros(200 * 2**20)
    path = _zip_with_raw_member(tmp_path / "bigjson.layerloom", items, PROJECT, raw, 200 * 2**20)
    with pytest.raises(BundleError, match=r"project.json would decompress to 200 MB"):
        load_bundle(path)


def test_other_damage_is_named(tmp_path):
    (tmp_path / "text.layerloom").write_text("hello")
    with pytest.raises(BundleError, match=r"not a readable zip file"):
        load_bundle(tmp_path / "text.layerloom")
    items = members(good_bundle(tmp_path))
    del items[MANIFEST]
    with pytest.raises(BundleError, match=r"manifest.json missing"):
        load_bundle(write_zip(tmp_path / "nomanifest.layerloom", items))
    items = members(good_bundle(tmp_path))
    items[PROJECT] = b'{"format": "layerloom-project", "schema_version": 1, "nodes": [{"id": "n1"}]}'
    with pytest.raises(BundleError, match=r"project.json"):
        load_bundle(write_zip(tmp_path / "badproject.layerloom", items))
    items = members(good_bundle(tmp_path))
    items[MANIFEST] = b'{"format": "layerloom-bundle", "version": 99}'
    with pytest.raises(BundleError, match=r"newer Layerloom"):
        load_bundle(write_zip(tmp_path / "future.layerloom", items))


def test_refusals_reach_exports_and_training(tmp_path):
    items = members(good_bundle(tmp_path))
    items["../x"] = b""
    path = write_zip(tmp_path / "bad.layerloom", items)
    with pytest.raises(BundleError, match=r"refused"):
        open_source(path)
    from layerloom.app.cli import main

    assert main(["export", path, "-f", "onnx", "-o", str(tmp_path / "x.onnx")]) == 1
    assert not (tmp_path / "x.onnx").exists()


def test_weights_files_are_never_unpickled(tmp_path):
    from layerloom.core.export import WeightsError, read_weights

    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"w": Evil()}, f)
    with pytest.raises(WeightsError, match=r"without running code"):
        read_weights(evil)
    good = tmp_path / "good.pt"
    torch.save({"dense_1.weight": torch.ones(2, 4)}, good)
    assert torch.equal(read_weights(good)["dense_1.weight"], torch.ones(2, 4))
