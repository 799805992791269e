"""The `layerloom` command line: outputs, exit statuses, and never a traceback for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from layerloom.app import cli
from layerloom.core import cli as commands
from layerloom.core.project import load_project, save_project
from layerloom.core.templates import TEMPLATE_ORDER, load_template

GOLDEN = Path(__file__).parent.parent / "golden"


def run(*args: str, cwd: Path | None = None, module: str = "layerloom") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          encoding="utf-8", cwd=cwd, timeout=120)


def broken_network(tmp_path: Path) -> Path:
    """LeNet-5 without its Flatten (so fc1 fails and what follows waits) and with a stray block."""
    project = load_template("lenet5")
    g = project.graph
    flatten = g.find("flatten_1")
    src, dst = g.in_edges(flatten)[0].src, g.out_edges(flatten)[0].dst
    g.remove(flatten)
    g.connect(src, dst)
    g.add("ReLU", name="stray")
    path = tmp_path / "broken.json"
    save_project(project, path)
    return path


# --- templates ----------------------------------------------------------------------------------


def test_templates_lists_name_then_description(capsys):
    assert cli.main(["templates"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(TEMPLATE_ORDER)
    lenet = next(line for line in lines if line.startswith("lenet5 "))
    assert "LeNet-5" in lenet


# --- new ----------------------------------------------------------------------------------------


def test_new_creates_a_project_from_a_template(tmp_path, capsys):
    out = tmp_path / "net.json"
    assert cli.main(["new", "--template", "mlp", "-o", str(out)]) == 0
    assert "Created" in capsys.readouterr().out
    assert load_project(out).to_dict()["nodes"] == load_template("mlp").to_dict()["nodes"]


def test_new_refuses_to_overwrite_unless_forced(tmp_path, capsys):
    out = tmp_path / "net.json"
    out.write_text("my precious work", encoding="utf-8")
    assert cli.main(["new", "--template", "lenet5", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("layerloom: ") and "already exists" in err and "--force" in err
    assert out.read_text(encoding="utf-8") == "my precious work"
    assert cli.main(["new", "--template", "lenet5", "-o", str(out), "--force"]) == 0
    assert load_project(out).name == "LeNet-5"


def test_new_with_an_unknown_template_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["new", "--template", "lenet", "-o", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "there is no template named 'lenet'; did you mean 'lenet5'?" in err
    assert not (tmp_path / "x.json").exists()


def test_new_into_a_missing_folder_or_onto_a_folder(tmp_path, capsys):
    assert cli.main(["new", "-o", str(tmp_path / "no" / "x.json")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["new", "-o", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err


def test_new_needs_an_output_file(capsys):
    assert cli.main(["new", "--template", "mlp"]) == 2
    assert "-o/--output" in capsys.readouterr().err


# --- summary ------------------------------------------------------------------------------------


def test_summary_prints_the_keras_style_table(tmp_path, capsys):
    path = tmp_path / "lenet.json"
    save_project(load_template("lenet5"), path)
    assert cli.main(["summary", str(path)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("Block"))
    assert header.split() == ["Block", "Type", "Output", "shape", "Parameters", "MACs"]
    conv1 = next(line for line in out.splitlines() if line.startswith("conv1 "))
    assert conv1.split() == ["conv1", "Conv2d", "6×28×28", "156", "117,600"]
    fc1 = next(line for line in out.splitlines() if line.startswith("fc1 "))
    assert fc1.split() == ["fc1", "Dense", "120", "48,120", "48,000"]
    assert "61,706" in out and "Total (14 blocks)" in out
    assert "No problems." in out
    assert "LeNet-5" in out and "Data: digits" in out


def test_summary_marks_token_ids(tmp_path, capsys):
    path = tmp_path / "lstm.json"
    save_project(load_template("lstm_text"), path)
    assert cli.main(["summary", str(path)]) == 0
    tokens = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("tokens "))
    assert tokens.split()[:4] == ["tokens", "Input", "64", "int64"]


def test_summary_json(tmp_path, capsys):
    path = tmp_path / "lenet.json"
    save_project(load_template("lenet5"), path)
    assert cli.main(["summary", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["params"] == 61_706 and data["totals"]["blocks"] == 14
    assert data["totals"]["param_bytes"] == 4 * 61_706
    assert data["problems"] == [] and data["ok"] is True
    conv1 = next(b for b in data["blocks"] if b["name"] == "conv1")
    assert conv1 == {"id": conv1["id"], "name": "conv1", "type": "Conv2d", "output_shape": [6, 28, 28],
                     "dtype": "float32", "params": 156, "param_bytes": 624, "macs": 117_600, "status": "ok",
                     "error": None, "waiting_on": None, "warnings": []}


def test_summary_shows_waiting_blocks_and_lists_errors_under_the_table(tmp_path, capsys):
    path = broken_network(tmp_path)
    assert cli.main(["summary", str(path)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    fc1 = next(line for line in lines if line.startswith("fc1 "))
    assert fc1.split() == ["fc1", "Dense", "error", "-", "-"]
    fc2 = next(line for line in lines if line.startswith("fc2 "))
    assert fc2.split() == ["fc2", "Dense", "waiting", "on", "fc1", "-", "-"]
    errors_at = lines.index("Errors (2):")
    assert lines.index("Warnings (1):") > errors_at > lines.index(next(x for x in lines if x.startswith("Total")))
    assert "  - Dense 'fc1' got a 16×5×5 map; flatten it first (add Flatten)" in lines
    assert any("stray" in line for line in lines[errors_at:])
    assert captured.err == "layerloom: the network has 2 errors (listed with the summary)\n"


def test_summary_json_with_errors(tmp_path, capsys):
    path = broken_network(tmp_path)
    assert cli.main(["summary", "--json", str(path)]) == 1
    data = json.loads(capsys.readouterr().out)
    by_name = {b["name"]: b for b in data["blocks"]}
    assert by_name["fc1"]["status"] == "error" and "flatten it first" in by_name["fc1"]["error"]
    assert by_name["fc1"]["params"] is None and by_name["fc1"]["output_shape"] is None
    assert by_name["digit"]["status"] == "waiting" and by_name["digit"]["waiting_on"] == "fc1"
    assert [p["severity"] for p in data["problems"]] == ["error", "error", "warning"]
    assert {p["block"] for p in data["problems"]} == {"fc1", "stray"}
    assert data["ok"] is False


@pytest.mark.parametrize(
    ("file", "words"),
    [
        ("missing.json", "the file does not exist"),
        (str(GOLDEN / "broken_truncated.json"), "is not valid JSON"),
        (str(GOLDEN / "broken_newer_version.json"), "was saved by a newer Layerloom (schema 3)"),
        (str(GOLDEN / "broken_unknown_block.json"), "unknown block type 'Conv3d'"),
    ],
)
def test_summary_of_a_bad_file_is_one_message_and_status_1(tmp_path, capsys, file, words):
    assert cli.main(["summary", str(tmp_path / file) if "/" not in file else file]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("layerloom: ") and words in captured.err
    assert "Traceback" not in captured.err


# --- the program as a whole ---------------------------------------------------------------------


def test_without_qt_the_window_says_why_it_cannot_start_and_the_commands_still_work():
    """A machine without PySide6: a fresh process where finding it fails as when it is not installed."""
    code = ("import sys\n"
            "class NotInstalled:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'PySide6':\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, NotInstalled())\n"
            "from layerloom.app.cli import main\n"
            "print('exit', main([]), flush=True)\n"
            "print('exit', main(['templates']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "layerloom: the window cannot start: the module 'PySide6' is missing\n"
    lines = proc.stdout.splitlines()
    assert lines[0] == "exit 1" and lines[1].startswith("mlp ") and lines[-1] == "exit 0"


def test_open_window_calls_the_editor_when_it_exists(monkeypatch):
    calls = []
    fake = types.ModuleType("layerloom.gui.app")
    fake.main = lambda path=None: calls.append(path) or 0
    monkeypatch.setitem(sys.modules, "layerloom.gui.app", fake)
    assert cli.main([]) == 0
    assert cli.open_window("net.json") == 0
    assert calls == [None, "net.json"]


def test_usage_errors_exit_2(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
    assert cli.main(["summary"]) == 2
    assert cli.main(["--help"]) == 0
    assert "usage" in capsys.readouterr().out
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("layerloom ")


def test_unexpected_errors_are_one_line_not_a_traceback(monkeypatch, capsys):
    def explode(args):
        raise RuntimeError("something odd")

    monkeypatch.setitem(commands.SUBCOMMANDS, "templates",
                        commands.Subcommand("templates", "x", lambda p: None, explode))
    assert cli.main(["templates"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected error: RuntimeError: something odd" in err
    monkeypatch.setenv("LAYERLOOM_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(["templates"])


def test_other_parts_can_register_subcommands(monkeypatch, capsys):
    monkeypatch.setattr(commands, "SUBCOMMANDS", dict(commands.SUBCOMMANDS))

    def configure(p):
        p.add_argument("name")

    @commands.subcommand("hello", "say hello", configure)
    def run_hello(args):
        print(f"hello {args.name}")
        return 0

    assert cli.main(["hello", "world"]) == 0
    assert capsys.readouterr().out == "hello world\n"


# --- through a real process ---------------------------------------------------------------------


def test_python_dash_m_works_end_to_end(tmp_path):
    result = run("templates")
    assert result.returncode == 0 and result.stdout.split()[0] == "mlp"

    result = run("new", "--template", "lenet5", "-o", "net.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = run("summary", "net.json", cwd=tmp_path)
    assert result.returncode == 0 and "61,706" in result.stdout and "6×28×28" in result.stdout
    for module in ("layerloom", "layerloom.app"):  # one `open` in the help either way
        result = run("--help", module=module)
        listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ") and line.strip()]
        assert result.returncode == 0 and listed.count("open") == 1 and "train" in listed, result.stdout


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["summary", "missing.json"], 1),
        (["summary", "broken.json"], 1),
        (["summary", "."], 1),
        (["new", "--template", "nope", "-o", "x.json"], 2),
        (["new", "--template", "mlp", "-o", "exists.json"], 1),
        (["summary"], 2),
        (["bogus"], 2),
    ],
)
def test_bad_input_never_shows_a_traceback(tmp_path, args, status):
    (tmp_path / "broken.json").write_text('{"format": "layerloom-project", "schema_version": 1, "nodes": [',
                                          encoding="utf-8")
    (tmp_path / "exists.json").write_text("{}", encoding="utf-8")
    result = run(*args, cwd=tmp_path)
    assert result.returncode == status
    assert "Traceback" not in result.stderr and result.stderr.strip()
    assert (tmp_path / "exists.json").read_text(encoding="utf-8") == "{}"
