"""`layerloom predict` on raw files: the journey train → export → predict from image files, .npz, CSV rows and
texts, the same answers from the bundle, the run folder and the exports, and plain messages for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from data_fixtures import image_classifier, tabular_csv, text_classifier, text_tsv
from PIL import Image

from layerloom.app.cli import main
from layerloom.core.project import Project, save_project
from layerloom.core.settings import DataSettings

GOLDEN = Path(__file__).parent.parent / "golden" / "v0.1"


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _train(tmp_path, capsys, graph, data, name="net", epochs=2, options=None, lr=0.001) -> Path:
    project = Project(graph, data=DataSettings(source=str(data), options=options or {}))
    project.training.lr = lr
    project.meta["name"] = name
    file = tmp_path / f"{name}.json"
    save_project(project, file)
    code, _, err = _run(capsys, "train", file, "--epochs", epochs, "--out", tmp_path / "runs")
    assert code == 0, err
    (run,) = (tmp_path / "runs").iterdir()
    return run


@pytest.fixture
def digits_run(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = np.arange(120) % 4
    x = np.zeros((120, 12, 12), np.uint8)
    for i, label in enumerate(y):  # a bright square whose corner tells the class, with noise
        r, c = divmod(int(label), 2)
        x[i, r * 6:r * 6 + 6, c * 6:c * 6 + 6] = 220
    x = np.clip(x.astype(int) + rng.integers(0, 30, x.shape), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "squares.npz", x=x, y=y)
    run = _train(tmp_path, capsys, image_classifier((1, 12, 12), classes=4), tmp_path / "squares.npz", epochs=8)
    return run, x, y


def _pngs(tmp_path, x, y, size=(36, 36)) -> Path:
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(8):
        img = Image.fromarray(x[i]).resize(size, Image.NEAREST)
        (img.convert("RGB") if i % 2 else img).save(folder / f"s{i}_{y[i]}.png")
    return folder


def test_image_journey_same_answers_everywhere(tmp_path, capsys, digits_run):
    run, x, y = digits_run
    pngs = _pngs(tmp_path, x, y)
    code, out, err = _run(capsys, "predict", run, pngs, "--json")
    assert code == 0, err
    from_run = json.loads(out)["predictions"]
    assert [p["input"] for p in from_run] == sorted(p.name for p in pngs.iterdir())
    right = sum(p["top"][0]["class"] == p["input"].split("_")[1][0] for p in from_run)
    assert right >= 7  # the squares are easy: the model learned them
    for p in from_run:
        assert sum(t["probability"] for t in p["top"]) <= 1.0 + 1e-6
    for fmt, target in (("onnx", "m.onnx"), ("bundle", "m.layerloom"), ("python", "py")):
        code, _, err = _run(capsys, "export", run, "--format", fmt, "-o", tmp_path / "out" / target)
        assert code == 0, err
        code, out, err = _run(capsys, "predict", tmp_path / "out" / target, pngs, "--json")
        assert code == 0, err
        got = json.loads(out)["predictions"]
        for a, b in zip(from_run, got):
            assert a["top"][0]["class"] == b["top"][0]["class"]
            assert a["top"][0]["probability"] == pytest.approx(b["top"][0]["probability"], abs=1e-4)
    # onnxruntime alone, fed the PNGs' pixels read with Pillow (the baked file takes 0–255 values)
    session = ort.InferenceSession(str(tmp_path / "out" / "m.onnx"), providers=["CPUExecutionProvider"])
    pixels = np.stack([np.asarray(Image.open(pngs / p["input"]).convert("L").resize((12, 12), Image.BILINEAR))
                       for p in from_run]).astype(np.float32)[:, None]
    logits = session.run(None, {"image": pixels})[0]
    assert [str(int(i)) for i in logits.argmax(1)] == [p["top"][0]["class"] for p in from_run]
    # the text form names the classes with percentages
    code, out, _ = _run(capsys, "predict", tmp_path / "out" / "m.layerloom", tmp_path / "squares.npz", "--top", "2")
    assert code == 0 and out.splitlines()[0].startswith("squares.npz[0]: ") and out.count("%") == 2 * 120


def test_text_journey_with_texts_and_text_files(tmp_path, capsys):
    data = text_tsv(tmp_path / "reviews.tsv", n=40)
    run = _train(tmp_path, capsys, text_classifier(seq_len=8, vocab=40), data, epochs=40, options={"seq_len": 8},
                 lr=0.02)
    code, out, err = _run(capsys, "predict", run, "--text", "loved it, a delight", "--text", "so boring, a mess",
                          "--json", "--checkpoint", "last")
    assert code == 0, err
    preds = json.loads(out)["predictions"]
    assert [p["top"][0]["class"] for p in preds] == ["spam", "ham"]
    assert preds[0]["tokens"] == ["loved it , a delight"]
    lines = tmp_path / "msgs.txt"
    lines.write_text("great fun and more loved it\n\nhated it, really awful plot\n", encoding="utf-8")
    code, _, err = _run(capsys, "export", run, "--format", "python", "-o", tmp_path / "py", "--checkpoint", "last")
    assert code == 0, err
    code, out, err = _run(capsys, "predict", tmp_path / "py", lines)
    assert code == 0, err
    assert out.splitlines()[0].startswith("msgs.txt, line 1: spam") and "line 3: ham" in out.splitlines()[1]
    # a model folder without its vocabulary says so
    (tmp_path / "py" / "vocabulary.json").unlink()
    code, _, err = _run(capsys, "predict", tmp_path / "py", lines)
    assert code == 1 and "vocabulary is missing" in err and "Traceback" not in err


def test_table_rows_by_column_name(tmp_path, capsys):
    data = tabular_csv(tmp_path / "t.csv", n=60)
    run = _train(tmp_path, capsys, image_classifier((3,), classes=3), data, epochs=1)
    rows = tmp_path / "rows.csv"
    rows.write_text("c,label,a,b\n0.5,x,1.0,-1.0\n0.1,y,0.2,0.3\n", encoding="utf-8")  # other order, a label column
    code, out, err = _run(capsys, "predict", run, rows, "--json")
    assert code == 0, err
    assert [p["input"] for p in json.loads(out)["predictions"]] == ["rows.csv, line 2", "rows.csv, line 3"]
    plain = tmp_path / "plain.csv"
    plain.write_text("1.0,-1.0,0.5\n0.2,0.3,0.1\n", encoding="utf-8")
    code, out2, _ = _run(capsys, "predict", run, plain, "--json")
    assert [p["top"] for p in json.loads(out2)["predictions"]] == [p["top"] for p in json.loads(out)["predictions"]]
    bad = tmp_path / "bad.csv"
    bad.write_text("1.0,oops,0.5\n", encoding="utf-8")
    code, _, err = _run(capsys, "predict", run, bad)
    assert code == 1 and "bad.csv, line 1: 'oops' is not a number" in err


def test_bad_inputs_get_plain_messages(tmp_path, capsys, digits_run):
    run, _, _ = digits_run
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code, _, err = _run(capsys, "predict", run, broken)
    assert code == 1 and "broken.png: cannot be read as an image" in err
    np.save(tmp_path / "two.npy", np.zeros((2, 12, 12, 2), np.uint8))
    code, _, err = _run(capsys, "predict", run, tmp_path / "two.npy")
    assert code == 1 and "takes images with 1 channel(s); this image has 2" in err
    code, _, err = _run(capsys, "predict", run, tmp_path / "missing.png")
    assert code == 1 and "missing.png: does not exist" in err
    code, _, err = _run(capsys, "predict", run, "--text", "hello")
    assert code == 1 and "--text is for text models" in err
    code, _, err = _run(capsys, "predict", tmp_path / "nowhere", broken)
    assert code == 1 and "does not exist" in err
    assert "Traceback" not in err


def test_models_from_before_preprocessing_was_recorded(tmp_path, capsys):
    from sklearn.datasets import load_digits

    digits = load_digits()
    np.savez(tmp_path / "d.npz", x=digits.images[:20].astype(np.float32))
    code, out_bundle, err = _run(capsys, "predict", GOLDEN / "tiny_digits.layerloom", tmp_path / "d.npz", "--json")
    assert code == 0, err
    code, out_run, err = _run(capsys, "predict", GOLDEN / "tiny_digits_run", tmp_path / "d.npz", "--json")
    assert code == 0, err
    assert json.loads(out_bundle)["predictions"] == json.loads(out_run)["predictions"]
    code, _, err = _run(capsys, "predict", GOLDEN / "tiny_digits.onnx", tmp_path / "d.npz")
    assert code == 1 and "says nothing of its preprocessing" in err
    copy = tmp_path / "py"
    shutil.copytree(GOLDEN / "tiny_digits_python", copy)
    code, _, err = _run(capsys, "predict", copy, tmp_path / "d.npz")
    assert code == 1 and "does not carry its network" in err


def test_a_run_records_the_data_given_on_the_command_line(tmp_path, capsys):
    data = tabular_csv(tmp_path / "t.csv", n=30)
    project = Project(image_classifier((3,), classes=3))  # its own data: the built-in digits
    save_project(project, tmp_path / "p.json")
    code, _, err = _run(capsys, "train", tmp_path / "p.json", "--data", data, "--epochs", 1, "--out", tmp_path / "runs")
    assert code == 0, err
    (run,) = (tmp_path / "runs").iterdir()
    recorded = json.loads((run / "project.json").read_text())["data"]
    assert recorded == {"source": str(data), "options": {}}
    assert json.loads((run / "settings.json").read_text())["data"]["source"] == str(data)
    assert json.loads((run / "preprocessing.json").read_text())["features"]["names"] == ["a", "b", "c"]
