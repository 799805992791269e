"""Project files and settings: round trips, atomic saves, every broken file, versions and migrations."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerloom.core import Graph, ProjectError, build_model, infer
from layerloom.core import project as project_mod
from layerloom.core.project import (
    FORMAT,
    SCHEMA_VERSION,
    Project,
    dumps,
    load_project,
    migrate,
    save_project,
)
from layerloom.core.settings import DataSettings, TrainingSettings

GOLDEN = Path(__file__).parent.parent / "golden"


def small_project() -> Project:
    g = Graph()
    x = g.add("Input", name="image", shape=[1, 12, 12], pos=(0, 0))
    c = g.add("Conv2d", out_channels=3, kernel_size=3, pos=(240, 0))
    r = g.add("ReLU", pos=(480, 0))
    f = g.add("Flatten")
    d = g.add("Dense", name="logits", out_features=5)
    o = g.add("Output", name="label")
    for a, b in [(x, c), (c, r), (r, f), (f, d), (d, o)]:
        g.connect(a, b)
    return Project(
        g,
        training=TrainingSettings(epochs=4, optimizer="adamw", lr=3e-4, weight_decay=0.01, grad_clip=1.5,
                                  device="cuda:1", threads=3),
        data=DataSettings("mnist", {"resize": [12, 12], "limit": 100}),
        meta={"name": "Small", "description": "A test network.", "tags": ["a", "b"]},
    )


def problems_of(exc_info) -> list[str]:
    return exc_info.value.problems


def write(tmp_path: Path, data, name: str = "p.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


# --- settings -----------------------------------------------------------------------------------


def test_settings_defaults_match_the_issue():
    t = TrainingSettings()
    assert (t.epochs, t.batch_size, t.optimizer, t.lr, t.momentum, t.nesterov, t.weight_decay) == (
        10, 64, "adam", 1e-3, 0.9, False, 0.0)
    assert (t.scheduler, t.step_size, t.gamma, t.grad_clip, t.init) == ("none", 10, 0.1, None, "default")
    assert (t.early_stopping, t.early_stopping_metric, t.patience, t.seed) == (False, "val_loss", 5, 0)
    assert (t.device, t.precision, t.threads, t.val_fraction) == ("auto", "fp32", None, 0.2)
    d = DataSettings()
    assert d.source == "digits" and d.options == {}
    assert DataSettings().options is not DataSettings().options  # no shared mutable default


def test_settings_round_trip_and_missing_keys_take_defaults():
    t = TrainingSettings(epochs=3, optimizer="sgd", nesterov=True, scheduler="one_cycle", device="cuda:0")
    problems: list[str] = []
    assert TrainingSettings.from_dict(t.to_dict(), problems, "training") == t
    assert TrainingSettings.from_dict({"epochs": 7}, problems, "training") == TrainingSettings(epochs=7)
    d = DataSettings("data/x.csv", {"columns": ["a", "b"], "header": True, "scale": 0.5, "none": None})
    assert DataSettings.from_dict(d.to_dict(), problems, "data") == d
    assert problems == []


def test_settings_to_dict_is_plain_json():
    d = DataSettings("digits", {"resize": (28, 28)}).to_dict()
    assert d == {"source": "digits", "options": {"resize": [28, 28]}}
    assert json.loads(json.dumps(TrainingSettings().to_dict())) == TrainingSettings().to_dict()


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("epochs", 0, "training.epochs must be a whole number of at least 1 (got 0)"),
        ("epochs", "10", "training.epochs must be a whole number of at least 1 (got '10')"),
        ("epochs", True, "training.epochs must be a whole number"),
        ("batch_size", 2.5, "training.batch_size must be a whole number"),
        ("optimizer", "adagrad", "training.optimizer must be one of 'sgd', 'adam', 'adamw', 'rmsprop'"),
        ("lr", -1, "training.lr must be a positive number (got -1)"),
        ("lr", 0, "training.lr must be a positive number (got 0)"),
        ("lr", "fast", "training.lr must be a positive number (got 'fast')"),
        ("momentum", 1.5, "training.momentum must be a number from 0 to 1"),
        ("nesterov", "yes", "training.nesterov must be true or false (got 'yes')"),
        ("weight_decay", -0.1, "training.weight_decay must be a number of at least 0"),
        ("scheduler", "linear", "training.scheduler must be one of 'none', 'step', 'cosine', 'one_cycle', 'plateau'"),
        ("step_size", 0, "training.step_size must be a whole number of at least 1"),
        ("gamma", 0, "training.gamma must be a number between 0 and 1"),
        ("gamma", 1.0, "training.gamma must be a number between 0 and 1"),
        ("grad_clip", 0, "training.grad_clip must be a positive number, or null for none (got 0)"),
        ("init", "orthogonal", "training.init must be one of 'default', 'xavier', 'kaiming'"),
        ("early_stopping", 1, "training.early_stopping must be true or false (got 1)"),
        ("early_stopping_metric", "accuracy", "training.early_stopping_metric must be one of 'val_loss'"),
        ("patience", 0, "training.patience must be a whole number of at least 1"),
        ("seed", -1, "training.seed must be a whole number from 0 to"),
        ("seed", 2**40, "training.seed must be a whole number from 0 to"),
        ("device", "gpu", "training.device must be one of 'auto', 'cpu', 'cuda', 'mps', or 'cuda:N'"),
        ("device", "cuda:x", "training.device must be one of"),
        ("precision", "fp8", "training.precision must be one of 'fp32', 'bf16', 'fp16'"),
        ("threads", 0, "training.threads must be a whole number of at least 1, or null"),
        ("val_fraction", 1.0, "training.val_fraction must be a number from 0 up to (but not including) 1"),
        ("val_fraction", -0.1, "training.val_fraction must be a number from 0 up to"),
        ("lr", float("nan"), "training.lr must be a positive number (got nan)"),
        ("epochs", [10], "training.epochs must be a whole number of at least 1 (got a list)"),
    ],
)
def test_each_bad_training_setting_is_reported_in_plain_words(key, value, words):
    problems: list[str] = []
    t = TrainingSettings.from_dict({key: value}, problems, "training")
    assert len(problems) == 1
    assert problems[0].startswith(words), problems[0]
    assert getattr(t, key) == getattr(TrainingSettings(), key)  # the bad value is not kept


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "mps", "cuda:0", "cuda:12"])
def test_good_devices(device):
    problems: list[str] = []
    assert TrainingSettings.from_dict({"device": device}, problems).device == device
    assert problems == []


def test_unknown_setting_suggests_the_close_one_and_all_problems_are_collected():
    problems: list[str] = []
    TrainingSettings.from_dict({"learning_rate": 1, "epoch": 3, "lr": -2, "seed": "x"}, problems, "training")
    assert "training.epoch is not a setting; did you mean 'epochs'?" in problems
    assert any(p.startswith("training.learning_rate is not a setting") for p in problems)
    assert any(p.startswith("training.lr must be") for p in problems)
    assert any(p.startswith("training.seed must be") for p in problems)
    assert len(problems) == 4


def test_nesterov_needs_momentum_with_sgd():
    problems: list[str] = []
    TrainingSettings.from_dict({"optimizer": "sgd", "nesterov": True, "momentum": 0}, problems, "training")
    assert problems == ["training.nesterov needs a momentum above 0 (set momentum, or turn nesterov off)"]
    assert TrainingSettings(optimizer="sgd", nesterov=True, momentum=0).problems("training") == problems
    assert TrainingSettings().problems() == []


def test_settings_that_are_not_an_object():
    problems: list[str] = []
    assert TrainingSettings.from_dict([1, 2], problems, "training") == TrainingSettings()
    assert DataSettings.from_dict("digits", problems, "data") == DataSettings()
    assert problems == ["training must be an object (got a list)", "data must be an object (got 'digits')"]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"source": ""}, "data.source must be a data set name like 'digits' or a file path"),
        ({"source": None}, "data.source must be a data set name"),
        ({"options": [1]}, "data.options must be an object of names and values (got a list)"),
        ({"options": {"resize": {"w": 28}}}, "data.options.resize must be text, a number, true/false, null or a list"),
        ({"options": {"x": [1, {"a": 1}]}}, "data.options.x[1] must be text, a number"),
        ({"options": {"x": 1e400}}, "data.options.x must be a finite number"),
        ({"sorce": "digits"}, "data.sorce is not a setting; did you mean 'source'?"),
    ],
)
def test_bad_data_settings(data, words):
    problems: list[str] = []
    d = DataSettings.from_dict(data, problems, "data")
    assert len(problems) == 1 and problems[0].startswith(words), problems
    assert all(k != "resize" for k in d.options)


# --- round trips --------------------------------------------------------------------------------


def test_to_dict_has_the_documented_layout():
    d = small_project().to_dict()
    assert d["format"] == FORMAT == "layerloom-project"
    assert d["schema_version"] == SCHEMA_VERSION == 2
    assert isinstance(d["app_version"], str)
    assert set(d) == {"format", "schema_version", "app_version", "nodes", "edges", "training", "data", "meta"}
    node = d["nodes"][1]
    assert set(node) == {"id", "type", "name", "params", "ui"} and node["ui"] == {"pos": [240.0, 0.0]}
    assert d["edges"][0] == {"src": {"node": "n1", "port": "out"}, "dst": {"node": "n2", "port": "in"}}


def test_save_load_round_trip_gives_equal_dicts_and_the_same_model(tmp_path):
    import torch

    from layerloom.core.compiler import example_inputs

    project = small_project()
    path = tmp_path / "small.json"
    save_project(project, path)
    loaded = load_project(path)
    assert loaded.to_dict() == project.to_dict()
    assert loaded.name == "Small" and loaded.description == "A test network."
    assert loaded.migrated_from is None
    assert path.read_text(encoding="utf-8") == project.to_json()  # saving is deterministic
    save_project(loaded, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()

    a, b = build_model(project.graph, seed=3), build_model(loaded.graph, seed=3)
    assert list(a.state_dict()) == list(b.state_dict())
    (x,) = example_inputs(project.graph, batch=4)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_from_dict_does_not_change_its_argument():
    d = small_project().to_dict()
    before = json.dumps(d)
    Project.from_dict(d)
    assert json.dumps(d) == before


def test_dumps_is_valid_json_for_awkward_values():
    value = {"a": [], "b": {}, "c": [[1, 2], [3]], "d": "quote \" and ×", "e": [{"x": 1}], "f": None,
             "g": ["x" * 200], "h": 1.5e-7}
    assert json.loads(dumps(value)) == value
    assert dumps({"pos": [1.0, 2.0]}) == '{"pos": [1.0, 2.0]}\n'


def test_empty_project_round_trips(tmp_path):
    save_project(Project(), tmp_path / "empty.json")
    loaded = load_project(tmp_path / "empty.json")
    assert len(loaded.graph) == 0 and loaded.training == TrainingSettings() and loaded.meta == {}


# --- atomic saves -------------------------------------------------------------------------------


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("fail_at", ["replace", "fsync", "write"])
def test_a_failed_save_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch, fail_at):
    path = tmp_path / "net.json"
    save_project(small_project(), path)
    old = path.read_bytes()

    changed = small_project()
    changed.training.epochs = 99

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if fail_at == "replace":
        monkeypatch.setattr(project_mod.os, "replace", boom)
    elif fail_at == "fsync":
        monkeypatch.setattr(project_mod.os, "fsync", boom)
    else:
        real_fdopen = os.fdopen

        class Broken:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, data):
                self.f.write(data[: len(data) // 2])  # half of it reaches the disk, then the disk fails
                raise OSError(28, "No space left on device")

        monkeypatch.setattr(project_mod.os, "fdopen", lambda fd, mode: Broken(real_fdopen(fd, mode)))

    with pytest.raises(ProjectError) as exc:
        save_project(changed, path)
    assert "cannot be saved: No space left on device" in str(exc.value)
    assert path.read_bytes() == old
    assert _leftovers(tmp_path) == []
    monkeypatch.undo()
    assert load_project(path).training.epochs == 4


def test_an_unexpected_exception_mid_save_also_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "net.json"
    save_project(small_project(), path)
    old = path.read_bytes()
    monkeypatch.setattr(project_mod.os, "replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        save_project(small_project(), path)
    assert path.read_bytes() == old and _leftovers(tmp_path) == []


def test_values_a_file_cannot_keep_are_refused_before_the_disk_is_touched(tmp_path):
    path = tmp_path / "net.json"
    bad = small_project()
    bad.meta["when"] = object()
    bad.training.lr = -1
    with pytest.raises(ProjectError) as exc:
        save_project(bad, path)
    assert not path.exists() and _leftovers(tmp_path) == []
    text = str(exc.value)
    assert "meta.when must be" in text and "training.lr must be a positive number (got -1" in text


def test_save_into_a_missing_folder_says_so(tmp_path):
    with pytest.raises(ProjectError) as exc:
        save_project(small_project(), tmp_path / "nope" / "net.json")
    assert "folder" in str(exc.value) and "does not exist" in str(exc.value)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and links")
def test_save_keeps_permissions_and_writes_through_links(tmp_path):
    path = tmp_path / "net.json"
    save_project(small_project(), path)
    os.chmod(path, 0o640)
    link = tmp_path / "link.json"
    link.symlink_to(path)
    changed = small_project()
    changed.training.epochs = 8
    save_project(changed, link)
    assert link.is_symlink()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert load_project(path).training.epochs == 8


# --- the golden file of schema 1 ----------------------------------------------------------------


def test_golden_v1_loads_with_everything_in_it():
    project = load_project(GOLDEN / "project_v1.json")
    g = project.graph
    assert [n.name for n in g] == ["image", "conv", "relu_1", "branch", "merge", "flatten_1", "logits", "digit"]
    assert g.node(g.find("branch")).params["padding"] == "same"
    assert g.node(g.find("branch")).params["bias"] is False
    merge = g.find("merge")
    assert [g.node(e.src).name for e in g.in_edges(merge)] == ["relu_1", "branch"]
    assert g.node(g.find("conv")).pos == (240.0, 0.0)
    report = infer(g)
    assert report.ok and not report.warnings
    assert report[g.find("logits")].output_shape == (10,)
    assert report.total_params == 40 + 144 + 2570
    t = project.training
    assert (t.optimizer, t.nesterov, t.scheduler, t.step_size, t.gamma, t.grad_clip) == (
        "sgd", True, "step", 2, 0.5, 5.0)
    assert (t.early_stopping, t.early_stopping_metric, t.patience, t.seed, t.device, t.threads) == (
        True, "val_accuracy", 2, 42, "cpu", 2)
    assert project.data == DataSettings("digits", {"resize": [8, 8], "normalize": True})
    assert project.meta == {"name": "Golden v1", "description": "A small residual-style CNN for 8×8 digits.",
                            "author": "tests"}
    model = build_model(g, seed=0)
    assert model.input_names == ["image"] and model.output_names == ["digit"]


def test_golden_v1_is_written_back_unchanged():
    raw = json.loads((GOLDEN / "project_v1.json").read_text(encoding="utf-8"))
    again = Project.from_dict(raw).to_dict()
    raw.pop("app_version")
    again.pop("app_version")
    assert again.pop("schema_version") == SCHEMA_VERSION and raw.pop("schema_version") == 1
    assert again == raw  # schema 2 changed LSTM blocks only; this file has none


def test_golden_v1_trained_names_its_weights_and_is_written_back_unchanged(tmp_path):
    from layerloom.core.trained import TrainedRunError, link_of, open_linked, resolve

    path = GOLDEN / "project_v1_trained.json"
    project = load_project(path)
    assert link_of(project) == {"path": "runs/Golden-v1-trained-20250101-120000", "checkpoint": "best", "epochs": 3}
    assert resolve(link_of(project), path) == str(GOLDEN / "runs" / "Golden-v1-trained-20250101-120000")
    raw = json.loads(path.read_text(encoding="utf-8"))
    again = project.to_dict()
    raw.pop("app_version")
    again.pop("app_version")
    assert again.pop("schema_version") == SCHEMA_VERSION and raw.pop("schema_version") == 1
    assert again == raw
    with pytest.raises(TrainedRunError) as exc:  # the run folder is not there: said in plain words
        open_linked(project, path)
    assert "Golden-v1-trained-20250101-120000, which was moved or deleted" in str(exc.value)
    assert "opens with untrained weights" in str(exc.value)
    older = load_project(GOLDEN / "project_v1.json")  # a file from before the link opens as before
    assert link_of(older) is None


# --- broken files: every one gives messages that name the place ---------------------------------


BROKEN = {
    "broken_unknown_block.json": ["nodes[1] ('conv'): unknown block type 'Conv3d'; did you mean 'Conv2d'?",
                                  "edges[0]: dst names block id 'n2', which is missing or broken"],
    "broken_bad_param.json": ["nodes[1] ('conv'): Conv2d 'conv': out_channels must be at least 1 (got 0)",
                              "nodes[6] ('logits'): Dense 'logits': out_features must be a whole number (got 2.5)"],
    "broken_wrong_types.json": [
        "meta.name must be a text",
        "data.source must be a data set name like 'digits' or a file path (got 5)",
        "training.epochs must be a whole number of at least 1 (got 'ten')",
        "training.optimizer must be one of 'sgd', 'adam', 'adamw', 'rmsprop' (got 'adagrad')",
        "training.lr must be a positive number (got -1)",
        "training.grad_clip must be a positive number, or null for none (got 0)",
        "edges is not a list",
        "nodes[2]: 'name' is missing or not a text",
        "nodes[3] ('branch'): Conv2d 'branch': kernel_size must be a whole number (got '3')",
        "nodes[5] ('flatten_1'): ui.pos must be two numbers [x, y]",
    ],
    "broken_cycle.json": ["edges[8]: connecting Flatten 'flatten_1' to Add 'merge' would make a cycle"],
    "broken_missing_fields.json": [
        "the field 'training' is missing",
        "nodes[2] ('relu_1'): 'type' is missing or not a text",
        "nodes[6]: 'name' is missing or not a text",
        "edges[0]: 'dst' must be",
    ],
    "broken_newer_version.json": [
        "was saved by a newer Layerloom (schema 3); this version reads up to 2 — please update"],
    "broken_trained_run.json": [
        "meta.trained_run.path must be the run folder or bundle the weights are in (a text)",
        "meta.trained_run.checkpoint must be 'last' or 'best' (got 'middle')",
        "meta.trained_run.epochs must be a whole number of at least 0 (got -1)",
    ],
    "broken_truncated.json": ["is not valid JSON: Unterminated string",
                              "the file ends too early, it may have been cut short"],
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_golden_files_report_every_problem_with_its_place(name):
    path = GOLDEN / name
    with pytest.raises(ProjectError) as exc:
        load_project(path)
    err = exc.value
    assert err.path == str(path)
    assert str(err).startswith(f"{path}: ")
    text = "\n".join(err.problems)
    for words in BROKEN[name]:
        assert words in text, f"{words!r} not in:\n{text}"


def test_every_broken_golden_file_is_tested():
    assert {p.name for p in GOLDEN.glob("broken_*.json")} == set(BROKEN)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("", "the file is empty"),
        ("   \n", "the file is empty"),
        ("[1, 2]", "a project file must hold a JSON object, not a list"),
        ('"hello"', "a project file must hold a JSON object, not a text"),
        ('{"name": "x"}', "this is not a Layerloom project file (it has no 'format' field)"),
        ('{"format": "keras", "schema_version": 1}', "its format is 'keras', not 'layerloom-project'"),
        ('{"format": "layerloom-project"}', "schema_version must be a whole number like 2 (got None)"),
        ('{"format": "layerloom-project", "schema_version": "1"}', "schema_version must be a whole number"),
        ('{"format": "layerloom-project", "schema_version": true}', "schema_version must be a whole number"),
        ('{"format": "layerloom-project", "schema_version": 0}', "schema_version 0 does not exist"),
        ('{"format": "layerloom-project", "schema_version": 1, "training": {"lr": NaN}}',
         "is not valid JSON: NaN is not allowed in JSON"),
        ("[" * 100_000, "nested too deeply"),
        ('{"a": 1 "b": 2}', "is not valid JSON: Expecting ',' delimiter at line 1, column 9"),
    ],
)
def test_files_that_are_not_projects(tmp_path, content, words):
    with pytest.raises(ProjectError) as exc:
        load_project(write(tmp_path, content))
    assert words in str(exc.value)


def test_missing_file_folder_and_binary_file(tmp_path):
    with pytest.raises(ProjectError, match="the file does not exist"):
        load_project(tmp_path / "nope.json")
    with pytest.raises(ProjectError, match="is a folder, not a project file"):
        load_project(tmp_path)
    (tmp_path / "bin.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ProjectError, match="is not a text file in UTF-8"):
        load_project(tmp_path / "bin.json")


def test_a_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + small_project().to_json().encode("utf-8"))
    assert load_project(path).name == "Small"


def test_file_size_is_limited(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    save_project(small_project(), path)
    monkeypatch.setattr(project_mod, "MAX_FILE_BYTES", 1024)
    with pytest.raises(ProjectError) as exc:
        load_project(path)
    assert exc.value.problems == [
        f"is {path.stat().st_size / 1024:.3g} KB; project files are at most 1 KB (is this really a project?)"]
    assert project_mod._bytes(64 * 2**20) == "64 MB"


def test_unknown_and_missing_top_level_fields_are_listed_together(tmp_path):
    d = small_project().to_dict()
    d["colour"] = "blue"
    del d["data"]
    d["meta"] = ["not", "an", "object"]
    d["app_version"] = 2
    with pytest.raises(ProjectError) as exc:
        Project.from_dict(d)
    assert exc.value.problems == [
        "'colour' is not a field of a project file",
        "the field 'data' is missing (the data settings)",
        "app_version must be a text like '0.1.0'",
        "meta must be an object (with 'name' and 'description')",
    ]


def test_nothing_in_a_file_is_executed(tmp_path):
    d = small_project().to_dict()
    d["nodes"][1]["type"] = "__import__('os').system('touch pwned')"
    d["nodes"][2]["params"] = {"__class__": "os.system"}
    d["meta"]["name"] = "!!python/object:os.system"
    with pytest.raises(ProjectError) as exc:
        load_project(write(tmp_path, d))
    assert "unknown block type" in str(exc.value) and "has no parameter '__class__'" in str(exc.value)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


# --- versions and migrations --------------------------------------------------------------------


def test_migrations_run_step_by_step(monkeypatch):
    calls = []

    def one_to_two(d):
        calls.append(("1→2", d["schema_version"]))
        d["training"]["learning_rate"] = d["training"].pop("lr")  # schema 2 renamed lr
        return d

    def two_to_three(d):
        calls.append(("2→3", d["schema_version"]))
        d["training"]["lr"] = d["training"].pop("learning_rate")  # schema 3 renamed it back
        d["meta"]["upgraded"] = True
        return d

    monkeypatch.setattr(project_mod, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(project_mod, "MIGRATIONS", {1: one_to_two, 2: two_to_three})
    raw = json.loads((GOLDEN / "project_v1.json").read_text(encoding="utf-8"))
    project = Project.from_dict(raw)
    assert calls == [("1→2", 1), ("2→3", 2)]
    assert project.migrated_from == 1
    assert project.training.lr == 0.05 and project.meta["upgraded"] is True
    assert raw["training"]["lr"] == 0.05 and raw["schema_version"] == 1  # the caller's dict is untouched
    assert project.to_dict()["schema_version"] == 3

    calls.clear()
    migrated, version = migrate({**raw, "schema_version": 2, "training": {"learning_rate": 0.5}})
    assert version == 2 and calls == [("2→3", 2)] and migrated["training"] == {"lr": 0.5}


def test_load_upgrades_an_old_file_and_save_writes_the_new_version(tmp_path, monkeypatch):
    def one_to_two(d):
        for node in d["nodes"]:
            if node["type"] == "FullyConnected":  # a block type renamed in schema 2
                node["type"] = "Dense"
        return d

    now = SCHEMA_VERSION
    d = small_project().to_dict()
    d["nodes"][4]["type"] = "FullyConnected"
    path = write(tmp_path, d, "old.json")
    with pytest.raises(ProjectError, match="unknown block type 'FullyConnected'"):
        load_project(path)

    monkeypatch.setattr(project_mod, "SCHEMA_VERSION", now + 1)
    monkeypatch.setitem(project_mod.MIGRATIONS, now, one_to_two)
    project = load_project(path)
    assert project.migrated_from == now and project.graph.node("n5").type == "Dense"
    save_project(project, path)
    assert json.loads(path.read_text(encoding="utf-8"))["schema_version"] == now + 1
    assert load_project(path).migrated_from is None


def test_a_missing_or_failing_migration_is_a_message(monkeypatch):
    raw = json.loads((GOLDEN / "project_v1.json").read_text(encoding="utf-8"))
    monkeypatch.setattr(project_mod, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(project_mod, "MIGRATIONS", {1: lambda d: d})
    with pytest.raises(ProjectError, match="cannot upgrade a file from schema 2 to 3"):
        Project.from_dict(raw)
    monkeypatch.setattr(project_mod, "MIGRATIONS", {1: lambda d: d["no such field"], 2: lambda d: d})
    with pytest.raises(ProjectError, match="cannot upgrade the file from schema 1 to 2: 'no such field'"):
        Project.from_dict(raw)
    monkeypatch.setattr(project_mod, "MIGRATIONS", {1: lambda d: None, 2: lambda d: d})
    with pytest.raises(ProjectError, match="did not give an object"):
        Project.from_dict(raw)


def test_newer_files_are_refused_by_name(tmp_path):
    d = small_project().to_dict()
    d["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ProjectError) as exc:
        load_project(write(tmp_path, d))
    assert exc.value.problems == [
        f"was saved by a newer Layerloom (schema {SCHEMA_VERSION + 1}); this version reads up to "
        f"{SCHEMA_VERSION} — please update"
    ]


def test_loading_a_project_does_not_need_torch():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from layerloom.core.project import load_project\n"
        f"p = load_project({str(GOLDEN / 'project_v1.json')!r})\n"
        "from layerloom.core import infer; assert infer(p.graph).ok\n"
        "from layerloom.core.templates import load_template; load_template('lenet5')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# --- properties: any JSON in, a message or a project out ----------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_dumps_round_trips_any_json(value):
    assert json.loads(dumps(value)) == value


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([*TrainingSettings().to_dict(), "other"]), json_values, max_size=6))
def test_training_settings_never_raise_on_user_data(d):
    problems: list[str] = []
    t = TrainingSettings.from_dict(d, problems, "training")
    assert t.problems("training") == []  # whatever came in, what is kept is valid
    assert all(p.startswith("training.") for p in problems)


PLACES = ["format", "schema_version", "meta", "data", "training", "nodes", "edges", "node", "node.params",
          "node.ui", "edge", "edge.src", "data.options"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PLACES), st.text(max_size=8), json_values)
def test_project_from_dict_gives_a_project_or_a_project_error(place, key, value):
    d = small_project().to_dict()
    target = {"node": d["nodes"][1], "node.params": d["nodes"][1]["params"], "node.ui": d["nodes"][1]["ui"],
              "edge": d["edges"][1], "edge.src": d["edges"][1]["src"], "data.options": d["data"]["options"]}
    if place in target:
        target[place][key] = value
    else:
        d[place] = value
    try:
        Project.from_dict(d)
    except ProjectError as err:
        assert err.problems and all(isinstance(p, str) and p for p in err.problems)


def test_odd_text_survives_a_save(tmp_path):
    project = small_project()
    project.meta["name"] = "\ud800 lone surrogate, emoji 🧠, and a \"quote\""
    save_project(project, tmp_path / "odd.json")
    assert load_project(tmp_path / "odd.json").meta["name"] == project.meta["name"]
