"""The wheel works on its own: built from a copy of the repository, installed into a fresh virtual
environment, and run from a folder outside the repository, it finds its templates and icons (package
data through importlib.resources), and `templates`, `new`, `summary` and `doctor --check` (which trains,
exports and opens the window offscreen) all pass.

The venv gets only the wheel (`--no-deps`); the test environment's site-packages is added behind it
with a .pth line (a plain path: that folder's own .pth files — the editable install of layerloom — are
not run), so torch, PySide6 and the rest come from there while `layerloom` comes from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "runs", "*.egg-info", "__pycache__",
                                     ".pytest_cache", ".ruff_cache", ".hypothesis", ".whl", ".gl", "tests",
                                     "benchmarks", "docs", "*.pyc")
NOT_SHIPPED = {".ico", ".icns"}  # resources/: the Windows/macOS installer icons
TIMEOUT = 120


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _run(cmd, cwd, env=None, timeout=TIMEOUT) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          encoding="utf-8", errors="replace", timeout=timeout)
    assert proc.returncode == 0, f"{cmd} → {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the repository (so parallel runs and the repo's build/ never clash)."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    for attempt in range(3):  # other work may add or remove a file while the tree is copied: copy again
        try:
            shutil.copytree(ROOT, src, ignore=COPY_IGNORE, symlinks=False)
            break
        except (shutil.Error, OSError):
            shutil.rmtree(src, ignore_errors=True)
            if attempt == 2:
                raise
    out = base / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", out, src], cwd=base, timeout=300)
    wheels = list(out.glob("layerloom-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> dict:
    """A fresh venv holding only the wheel, with the test environment's packages behind it."""
    base = tmp_path_factory.mktemp("venv")
    env_dir = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", env_dir], cwd=base)
    scripts = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = scripts / ("python.exe" if os.name == "nt" else "python")
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        cwd=base).stdout.strip())
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "_layerloom_test_env.pth").write_text("\n".join(sorted(outer)) + "\n", encoding="utf-8")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
         cwd=base, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(QT_QPA_PLATFORM="offscreen", LAYERLOOM_DATA_DIR=str(base / "datasets"), PYTHONIOENCODING="utf-8",
               PATH=f"{scripts}{os.pathsep}{env.get('PATH', '')}")
    work = base / "work"  # outside the repository: nothing can be found relative to it
    work.mkdir()
    exe = scripts / ("layerloom.exe" if os.name == "nt" else "layerloom")
    return {"python": python, "layerloom": exe, "env": env, "cwd": work, "site": purelib}


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


def test_every_package_folder_is_listed_in_pyproject():
    """A new sub-package (core/export, gui/plots…) is missing from the wheel unless pyproject lists it."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {"layerloom"}
    for top in ("app", "core", "gui", "resources"):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            if "__pycache__" not in rel.parts:
                found.add(".".join(("layerloom", *rel.parts)))
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_wheel_carries_the_code_and_every_resource(wheel):
    names = _names(wheel)
    assert "layerloom/__init__.py" in names
    assert "layerloom/app/cli.py" in names and "layerloom/app/doctor.py" in names
    assert "layerloom/app/__main__.py" in names and "layerloom/__main__.py" in names
    assert "layerloom/core/cli.py" in names and "layerloom/core/templates.py" in names
    assert "layerloom/core/system_report.py" in names and "layerloom/core/self_check.py" in names
    assert "layerloom/gui/app.py" in names and "layerloom/gui/system_info.py" in names
    # every resource file of the repository (templates, icons, app icons…) travels as package data
    missing = []
    for f in (ROOT / "resources").rglob("*"):
        if f.is_file() and f.suffix not in NOT_SHIPPED and "__pycache__" not in f.parts:
            name = "layerloom/" + f.relative_to(ROOT).as_posix()
            if name not in names:
                missing.append(name)
    assert missing == [], "add globs for these to [tool.setuptools.package-data] in pyproject.toml"
    for size in (16, 32, 48, 128, 256, 512):
        assert f"layerloom/resources/icons/app/layerloom-{size}.png" in names
    assert "layerloom/resources/templates/lenet5.json" in names
    # and nothing that is not the package
    assert not [n for n in names if n.startswith(("layerloom/tests/", "layerloom/benchmarks/", "layerloom/packaging/",
                                                  "tests/", "benchmarks/", "packaging/"))]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as z:
        assert "layerloom = layerloom.app.cli:main" in z.read(entry_points).decode()


def test_installed_wheel_is_the_one_imported(venv):
    out = _run([venv["python"], "-c", "import layerloom, layerloom.resources as r; from importlib.resources import "
                "files; print(layerloom.__file__); print(files(r))"], cwd=venv["cwd"], env=venv["env"]).stdout
    module, resources = out.splitlines()
    assert Path(module).is_relative_to(venv["site"]), module
    assert Path(resources).is_relative_to(venv["site"]), resources


def test_installed_commands_work_outside_the_repository(venv):
    run = lambda *args: _run([venv["layerloom"], *args], cwd=venv["cwd"], env=venv["env"])  # noqa: E731
    templates = run("templates").stdout.splitlines()
    assert len(templates) >= 10 and any(line.startswith("lenet5 ") for line in templates)
    assert "Created net.json" in run("new", "--template", "resnet_mini", "-o", "net.json").stdout
    summary = run("summary", "net.json").stdout
    assert "Total (" in summary and "No problems." in summary
    proc = run("doctor", "--check", "--device", "cpu")
    out = proc.stdout
    assert str(venv["site"]) in out.split("\nFolders\n", 1)[1]  # resources: the installed copy
    for step in ("libraries", "template", "training", "export", "window"):
        assert f"  passed  {step}" in out, out
    assert "All 5 checks passed" in out


@pytest.mark.skipif(os.name == "nt" or not shutil.which("bash"), reason="the Linux desktop files are checked on POSIX")
def test_linux_desktop_files_validate():
    """packaging/linux: desktop entry, AppStream metadata and MIME types pass the freedesktop tools that are
    installed here (each missing tool is skipped by the script)."""
    proc = subprocess.run(["bash", str(ROOT / "packaging" / "linux" / "validate.sh")], capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tools = [t for t in ("desktop-file-validate", "appstreamcli", "update-mime-database") if shutil.which(t)]
    if not tools:
        pytest.skip("none of desktop-file-validate, appstreamcli, update-mime-database is installed")
