"""Safetensors files are recognised by parsing their header, not by their first bytes: a real file whose header is
384, 640, 896, 1,152 or 1,408 bytes long starts with 80 01…80 05, like a pickle, and must open; a pickle, a
torch.save zip or a crafted header is refused with the reason."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import pytest
import torch
from safetensors.torch import save

from layerloom.core.export import BundleError, export, load_bundle, read_weights, source_from
from layerloom.core.export.bundle import WEIGHTS
from layerloom.core.export.safetensors_header import HeaderError, looks_like_pickle, parse_header, read_header
from layerloom.core.templates import load_template


def with_header_length(target: int) -> bytes:
    """Real safetensors bytes whose header is exactly `target` bytes long (tuned with a metadata text)."""
    tensors = {"dense_1.weight": torch.ones(2, 4), "dense_1.bias": torch.zeros(2)}
    for pad in range(target):
        data = save(tensors, {"note": "x" * pad})
        if int.from_bytes(data[:8], "little") == target:
            return data
    raise AssertionError(f"no padding gives a header of {target} bytes")


@pytest.mark.parametrize("length", [384, 640, 896, 1152, 1408])
def test_headers_whose_length_starts_like_a_pickle_are_safetensors(tmp_path, length):
    data = with_header_length(length)
    assert data[0] == 0x80 and 1 <= data[1] <= 5 and looks_like_pickle(data)  # the old check's false alarm
    header = parse_header(data)
    assert header["dense_1.weight"]["dtype"] == "F32" and header["dense_1.weight"]["shape"] == [2, 4]
    path = tmp_path / "w.safetensors"
    path.write_bytes(data)
    assert read_header(path)["__metadata__"]["note"].startswith("x")
    assert torch.equal(read_weights(path)["dense_1.weight"], torch.ones(2, 4))  # not sent to torch.load


def test_a_text_model_with_a_large_vocabulary_exports_and_reopens_as_a_bundle(tmp_path):
    project = load_template("lstm_text")
    emb = next(n for n in project.graph if n.type == "Embedding")
    project.graph.set_params(emb.id, num_embeddings=20_000, embedding_dim=128)
    source = source_from(project)
    weights = save({k: v.contiguous() for k, v in source.state.items()}, {"format": "pt", "producer": "layerloom"})
    assert weights[:2] == b"\x80\x02"  # its header is 640 bytes: the case that was refused as a pickle
    result = export(source, "bundle", tmp_path / "text.layerloom")
    bundle = load_bundle(result.path)
    assert tuple(bundle.state[f"{emb.name}.weight"].shape) == (20_000, 128)
    with zipfile.ZipFile(result.path) as zf:
        assert zf.read(WEIGHTS)[:2] == b"\x80\x02"


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write_zip(path, items: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in items.items():
            zf.writestr(name, data)
    return str(path)


def _crafted(header: dict, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data


@pytest.mark.parametrize(("data", "why"), [
    (pickle.dumps({"w": [1, 2]}), "header length"),
    (b"\x80\x01" + b"\0" * 6 + b"{}", "longer than the file"),
    (b"PK\x03\x04" + b"\0" * 40, "longer than the file"),
    (_crafted({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}), "lies outside the file"),
    (_crafted({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}, b"\0" * 8), "has 8 bytes of data"),
    (_crafted({"w": {"dtype": "EVIL", "shape": [1], "data_offsets": [0, 1]}}, b"\0"), "unknown dtype"),
    (_crafted({"w": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}}, b"\0"), "not a list of sizes"),
    (_crafted({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
               "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}, b"\0" * 3), "overlaps"),
    (_crafted({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"\0" * 5), "the file has 5"),
    (_crafted({"__metadata__": {"a": 1}}), "__metadata__ is not an object of texts"),
    (b"\x05\0\0\0\0\0\0\0[1,2]", "not a JSON object"),
])
def test_what_is_not_safetensors_is_refused_with_the_reason(data, why):
    with pytest.raises(HeaderError, match=why):
        parse_header(data)


def test_bundles_refuse_a_pickle_or_a_crafted_header_in_either_weights_file(tmp_path):
    from layerloom.core.export.bundle import CHECKPOINT, save_bundle

    g = load_template("mlp").graph
    path = tmp_path / "good.layerloom"
    save_bundle(source_from(g), str(path))
    items = members(path)
    items[WEIGHTS] = pickle.dumps({"dense_1.weight": 1})
    with pytest.raises(BundleError, match=r"weights.safetensors holds a Python pickle"):
        load_bundle(write_zip(tmp_path / "p.layerloom", items))
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(1)}, buf)
    items = members(path)
    items[CHECKPOINT] = buf.getvalue()
    with pytest.raises(BundleError, match=r"checkpoint.safetensors holds a Python pickle"):
        load_bundle(write_zip(tmp_path / "t.layerloom", items))
    items = members(path)
    items[WEIGHTS] = _crafted({"w": {"dtype": "F32", "shape": [10**9], "data_offsets": [0, 4 * 10**9]}})
    with pytest.raises(BundleError, match=r"weights.safetensors is not a readable safetensors file \(the data of "
                                          r"tensor 'w' .* lies outside the file\)"):
        load_bundle(write_zip(tmp_path / "c.layerloom", items))
