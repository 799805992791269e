"""`layerloom doctor`: what a bug report needs, and a self-check of the whole chain on this machine.

    layerloom doctor                 # versions, devices, Qt, and where Layerloom keeps its files
    layerloom doctor --json          # the same as one JSON object
    layerloom doctor --check         # then: libraries → template → training → ONNX → window, each passed or failed
    layerloom doctor --check --device cpu

From Python (the window's Help → System information uses the same):

    report = collect()               # {section: {label: value}}; Qt facts from a child process
    print(format_report(report))
    results = run_checks(device="cpu", progress=print)   # [CheckResult(name, passed, detail, seconds)]

Everything Qt is learnt in a child process (`layerloom doctor --qt-probe`), so a platform plugin that
cannot start (no display, a missing system library) is reported instead of ending this process; the
window check opens and closes the window offscreen in another child (`--open-window`). This module
itself never imports Qt (core/ stays Qt-free); the children run `layerloom.gui.system_info`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from layerloom.core.cli import subcommand

CHECK_TEMPLATE = "lenet5"
CHECK_STEPS = 20  # optimizer steps of the training check
CHECK_TIME_LIMIT = 30.0  # seconds the training check may take before it is stopped (and fails)
PROBE_TIMEOUT = 60.0  # seconds a Qt child process may take (the first start of Qt can be slow)
STEP_NAMES = ("libraries", "template", "training", "export", "window")

# distributions whose versions a bug report needs: (label, import name, distribution names)
PACKAGES = (
    ("torch", "torch", ("torch",)),
    ("torchvision", "torchvision", ("torchvision",)),
    ("PySide6", "PySide6", ("PySide6", "PySide6-Essentials", "PySide6_Essentials")),
    ("pyqtgraph", "pyqtgraph", ("pyqtgraph",)),
    ("numpy", "numpy", ("numpy",)),
    ("safetensors", "safetensors", ("safetensors",)),
    ("scikit-learn", "sklearn", ("scikit-learn",)),
    ("tensorboard", "tensorboard", ("tensorboard",)),
    ("onnx", "onnx", ("onnx",)),
    ("onnxruntime", "onnxruntime", ("onnxruntime", "onnxruntime-gpu")),
)
NOT_INSTALLED = "not installed"


# --- the report ---------------------------------------------------------------------------------------


def package_version(module: str, dists: tuple[str, ...] = ()) -> str:
    """The installed version of a package, without importing it when its metadata says (a frozen app
    may lack the metadata: then the module's __version__)."""
    from importlib import metadata

    loaded = sys.modules.get(module)
    if loaded is not None and isinstance(getattr(loaded, "__version__", None), str):
        return loaded.__version__
    for dist in dists or (module,):
        with contextlib.suppress(Exception):
            return metadata.version(dist)
    import importlib.util

    try:
        if importlib.util.find_spec(module) is None:
            return NOT_INSTALLED
    except (ImportError, ValueError):
        return NOT_INSTALLED
    try:
        mod = importlib.import_module(module)
    except Exception as err:  # installed but broken: that is what the report is for
        return f"installed but cannot be imported ({type(err).__name__}: {err})"
    return str(getattr(mod, "__version__", "installed (version unknown)"))


def layerloom_section() -> dict[str, Any]:
    import layerloom

    frozen = bool(getattr(sys, "frozen", False))
    return {
        "version": layerloom.__version__,
        "installed at": os.path.dirname(os.path.abspath(layerloom.__file__)),
        "packaged app": "yes (PyInstaller)" if frozen else "no",
        "command": " ".join(self_command()),
    }


def python_section() -> dict[str, Any]:
    return {
        "version": f"{platform.python_version()} ({platform.python_implementation()})",
        "executable": sys.executable,
        "platform": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "os": platform.platform(),
    }


def packages_section() -> dict[str, Any]:
    return {label: package_version(module, dists) for label, module, dists in PACKAGES}


def devices_section() -> dict[str, Any]:
    """The devices torch sees: CUDA GPUs with memory, Apple MPS, CPU threads, and the one `auto` picks."""
    out: dict[str, Any] = {}
    try:
        import torch
    except Exception as err:
        return {"torch": f"cannot be imported ({type(err).__name__}: {err})"}
    cuda_built = torch.version.cuda or getattr(torch.version, "hip", None)
    try:
        cuda = torch.cuda.is_available()
    except Exception as err:
        cuda = False
        out["cuda error"] = f"{type(err).__name__}: {err}"
    if cuda:
        kind = f"ROCm {torch.version.hip}" if getattr(torch.version, "hip", None) else f"CUDA {torch.version.cuda}"
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        out["cuda"] = f"available: {torch.cuda.device_count()} GPU(s), {kind}" + (f", cuDNN {cudnn}" if cudnn else "")
        for i in range(torch.cuda.device_count()):
            try:
                props = torch.cuda.get_device_properties(i)
                out[f"cuda:{i}"] = (f"{props.name}, {props.total_memory / 2**30:.1f} GiB, "
                                    f"compute capability {props.major}.{props.minor}")
            except Exception as err:
                out[f"cuda:{i}"] = f"cannot be read ({type(err).__name__}: {err})"
    elif cuda_built:
        out["cuda"] = f"not available (this torch is built for CUDA {cuda_built}, but no GPU or driver was found)"
    else:
        out["cuda"] = "not available (this torch is built for the CPU only)"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_built():
        out["mps"] = "available (Apple GPU)" if mps.is_available() else "built, but not available on this machine"
    else:
        out["mps"] = "not available"
    out["cpu"] = f"{torch.get_num_threads()} threads used by torch, {os.cpu_count()} logical CPUs"
    if platform.processor():
        out["cpu"] += f" ({platform.processor()})"
    try:
        from layerloom.core.training.device import device_description, resolve_device

        best = resolve_device("auto")
        out["best device"] = f"{best} ({device_description(best)})"
    except Exception as err:
        out["best device"] = f"cannot be chosen ({type(err).__name__}: {err})"
    return out


def folders_section(qt: dict[str, Any] | None = None) -> dict[str, Any]:
    """Where settings, autosaves, runs and downloads live; each path from the module that owns it."""
    qt = qt or {}
    out: dict[str, Any] = {
        "settings": qt.get("settings file") or "unknown (Qt could not start)",
        "autosaves": qt.get("autosave folder") or "unknown (Qt could not start)",
    }
    from layerloom.core.runs import default_runs_root

    out["runs"] = f"{qt.get('runs folder') or default_runs_root()} (the window; LAYERLOOM_RUNS_DIR chooses another)"
    out["runs (command line)"] = (f"{os.path.abspath('runs')} (`layerloom train` writes to ./runs; "
                                  "--out chooses another)")
    try:
        from layerloom.core.data.downloads import cache_root

        out["downloads"] = cache_root() + (" (from LAYERLOOM_DATA_DIR)" if os.environ.get("LAYERLOOM_DATA_DIR")
                                           else "")
    except Exception as err:
        out["downloads"] = f"unknown ({type(err).__name__}: {err})"
    try:
        from importlib.resources import files

        out["resources"] = str(files("layerloom.resources"))
    except Exception as err:
        out["resources"] = f"cannot be found ({type(err).__name__}: {err})"
    return out


def collect(qt: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The whole report as {section: {label: value}}. `qt`: the Qt facts when the caller already runs a
    QApplication (the window); otherwise a child process finds them."""
    if qt is None:
        qt = qt_probe()
    qt_shown = {k: v for k, v in qt.items() if k not in ("ok", "settings file", "autosave folder", "runs folder")}
    return {
        "Layerloom": layerloom_section(),
        "Python": python_section(),
        "Packages": packages_section(),
        "Devices": devices_section(),
        "Qt": qt_shown,
        "Folders": folders_section(qt),
    }


def format_report(report: dict[str, dict[str, Any]]) -> str:
    """The report as text to paste into a bug report."""
    width = max((len(k) for section in report.values() for k in section), default=0)
    lines: list[str] = []
    for title, section in report.items():
        if lines:
            lines.append("")
        lines.append(title)
        for key, value in section.items():
            text = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
            lines.append(f"  {key + ':':<{width + 1}} {text}")
    return "\n".join(lines)


# --- child processes --------------------------------------------------------------------------------


def self_command() -> list[str]:
    """The command line that runs `layerloom` in this installation (the executable itself when frozen)."""
    if getattr(sys, "frozen", False):
        # Windows and macOS builds also hold a console twin of the windowed app: children write to it
        folder = os.path.dirname(sys.executable)
        for name in ("layerloom-cli.exe", "layerloom-cli"):
            if os.path.isfile(os.path.join(folder, name)):
                return [os.path.join(folder, name)]
        return [sys.executable]
    return [sys.executable, "-m", "layerloom.core.cli"]


def _child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["LAYERLOOM_NO_PRELOAD"] = "1"  # the children never need torch
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def _qt_failure(stderr: str, returncode: int | None) -> str:
    """A readable reason from what Qt printed before it gave up (e.g. no display, a missing library)."""
    keep = []
    for line in stderr.splitlines():
        line = line.strip()
        if not line or line.startswith(("Traceback", "File ", "Available platform plugins")):
            continue
        if line.startswith(("qt.", "This application failed", "Could not", "QStandardPaths")) or "Error" in line:
            line = line.split(": ", 1)[1] if line.startswith("qt.") and ": " in line else line
            if line not in keep:
                keep.append(line)
    specific = [k for k in keep if not k.startswith("This application failed")]
    keep = [k.rstrip(".") for k in (specific or keep)]
    reason = "; ".join(keep[:3]) if keep else (stderr.strip().splitlines() or [""])[-1]
    if returncode is not None and returncode < 0:
        reason = f"{reason} (ended by signal {-returncode})".strip()
    return reason or f"exit status {returncode}"


def _run_child(args: list[str], env: dict[str, str], timeout: float) -> tuple[dict[str, Any] | None, str]:
    """Run `layerloom ARGS` in a child; (its last stdout line as JSON, or None, and the reason why not)."""
    try:
        proc = subprocess.run([*self_command(), *args], capture_output=True, text=True, encoding="utf-8",
                              errors="replace", env=env, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"did not finish within {timeout:.0f} s"
    except OSError as err:
        return None, f"cannot start {self_command()[0]}: {err}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode == 0 and lines:
        try:
            return json.loads(lines[-1]), ""
        except ValueError:
            pass
    if lines:
        with contextlib.suppress(ValueError):
            doc = json.loads(lines[-1])
            if isinstance(doc, dict) and doc.get("error"):
                return doc, str(doc["error"])
    return None, _qt_failure(proc.stderr, proc.returncode)


def qt_probe(timeout: float = PROBE_TIMEOUT) -> dict[str, Any]:
    """Qt's facts from a child process on the platform this session would use (see --qt-probe)."""
    doc, why = _run_child(["doctor", "--qt-probe"], _child_env(), timeout)
    if doc is None or doc.get("error"):
        platform_env = os.environ.get("QT_QPA_PLATFORM")
        hints = []
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            hints.append("no display here (DISPLAY and WAYLAND_DISPLAY are unset): the window needs a desktop "
                         "session, or QT_QPA_PLATFORM=offscreen for a headless check")
        if "xcb-cursor" in why:
            hints.append("on Debian/Ubuntu: sudo apt-get install libxcb-cursor0")
        out: dict[str, Any] = {"platform plugin": f"cannot start: {why}"}
        if platform_env:
            out["QT_QPA_PLATFORM"] = platform_env
        if hints:
            out["hint"] = "; ".join(hints)
        return out
    return doc


# --- the self-check ---------------------------------------------------------------------------------


@dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str
    seconds: float

    def line(self) -> str:
        mark = "passed" if self.passed else "FAILED"
        return f"  {mark}  {self.name:<9} {self.detail} ({self.seconds:.1f} s)"


class CheckFailed(Exception):
    """A check that did not pass; the message says why in plain words."""


# what the core needs at run time: (what to import, what it is for); Qt and pyqtgraph are the window's
REQUIRED_IMPORTS = (
    ("torch", "training"),
    ("torchvision", "the downloaded data sets and image folders"),
    ("numpy", "data"),
    ("safetensors.torch", "checkpoints"),
    ("sklearn.datasets", "the built-in data sets"),
    ("torch.utils.tensorboard", "TensorBoard files of runs"),
)


def _check_libraries() -> str:
    import importlib

    broken = []
    for module, used_for in REQUIRED_IMPORTS:
        try:
            importlib.import_module(module)
        except Exception as err:
            broken.append(f"{module} ({used_for}): {type(err).__name__}: {err}")
    try:
        from torchvision.extension import _has_ops

        if not _has_ops():
            broken.append("torchvision's compiled operators did not load (torchvision and torch do not match?)")
    except Exception as err:
        broken.append(f"torchvision's operators: {type(err).__name__}: {err}")
    if broken:
        raise CheckFailed("cannot import " + "; ".join(broken))
    import torch
    import torchvision

    return (f"torch {torch.__version__}, torchvision {torchvision.__version__} (with its operators), numpy, "
            "safetensors, scikit-learn and TensorBoard import")


def _check_template(state: dict) -> str:
    from importlib.resources import files

    from layerloom.core.compiler import build_model
    from layerloom.core.inference import infer
    from layerloom.resources import load_template, template_names

    names = template_names()
    if CHECK_TEMPLATE not in names:
        raise CheckFailed(f"the {CHECK_TEMPLATE} template is not installed (found: {', '.join(names) or 'none'})")
    if not files("layerloom.resources").joinpath("icons", "app.svg").is_file():
        raise CheckFailed("the icons are not installed (resources/icons/app.svg is missing)")
    project = load_template(CHECK_TEMPLATE)
    report = infer(project.graph)
    if not report.ok:
        raise CheckFailed("; ".join(p.message for p in report.errors) or "the network does not check out")
    model = build_model(project.graph, seed=0)
    state.update(project=project, model=model)
    blocks = len(list(project.graph))
    return f"{CHECK_TEMPLATE}: {blocks} blocks, {report.total_params:,} parameters, {len(names)} templates"


def _check_training(state: dict, device: str) -> str:
    import math
    import threading

    from layerloom.core.data import load_data
    from layerloom.core.settings import TrainingSettings
    from layerloom.core.training.control import TrainControl
    from layerloom.core.training.trainer import Trainer

    project = state.get("project")
    if project is None:
        raise CheckFailed("skipped: the template did not load")
    bundle = load_data(project.data.source, project.data.options, val_fraction=0.2, seed=0)
    problems: list[str] = []
    settings = TrainingSettings.from_dict({**project.training.to_dict(), "epochs": 1, "device": device,
                                           "seed": 0}, problems)
    if problems:
        raise CheckFailed("; ".join(problems))
    losses: list[float] = []
    started: dict[str, Any] = {}
    control = TrainControl()

    def sink(event) -> None:
        if event.kind == "run_started":
            started["device"] = event.device_name if event.device == "cpu" else f"{event.device} ({event.device_name})"
        elif event.kind == "steps":
            losses.extend(float(v) for v in event.loss)
            if len(losses) >= CHECK_STEPS:
                control.stop()

    timer = threading.Timer(CHECK_TIME_LIMIT, control.stop)
    timer.start()
    t0 = time.perf_counter()
    try:
        trainer = Trainer(project, bundle, settings=settings, run_root=None, tensorboard=False,
                          event_interval=0.0, grad_every=0, checkpoint_interval=1e9)
        result = trainer.run(sink, control)
    finally:
        timer.cancel()
    seconds = time.perf_counter() - t0
    if result.status == "failed":
        raise CheckFailed(result.message or "training failed")
    if len(losses) < 2:
        if seconds >= CHECK_TIME_LIMIT:
            raise CheckFailed(f"fewer than 2 steps in {CHECK_TIME_LIMIT:.0f} s")
        raise CheckFailed(f"only {len(losses)} training steps were reported")
    if not all(math.isfinite(v) for v in losses):
        raise CheckFailed(f"the loss is not a finite number ({losses[-1]})")
    head = sum(losses[:3]) / len(losses[:3])
    tail = sum(losses[-3:]) / len(losses[-3:])
    if not tail < head:
        raise CheckFailed(f"the loss did not go down in {len(losses)} steps ({head:.3f} → {tail:.3f})")
    if trainer.model is None:
        raise CheckFailed("the trainer kept no model")
    state.update(model=trainer.model, bundle=bundle)
    return (f"{len(losses)} steps on {started.get('device', settings.device)} ({len(bundle.train):,} digits), "
            f"loss {head:.3f} → {tail:.3f}")


def _check_export(state: dict) -> str:
    """ONNX through the app's own export (layerloom.core.export): written to a temporary folder and checked
    with onnxruntime against the trained model, as Export does in the window."""
    from layerloom.core.errors import LayerloomError
    from layerloom.core.export import export, source_from

    model, project = state.get("model"), state.get("project")
    if model is None or project is None:
        raise CheckFailed("skipped: there is no model to export")
    state_dict = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    with tempfile.TemporaryDirectory(prefix="layerloom-doctor-") as folder:
        try:
            result = export(source_from(project, state_dict), "onnx", os.path.join(folder, f"{CHECK_TEMPLATE}.onnx"))
        except LayerloomError as err:
            raise CheckFailed(str(err)) from None
        size = os.path.getsize(result.path)
    how = f"{result.checks[0]}, " if result.checks else ""
    return f"{size / 1024:.0f} KiB; {how}largest difference {result.difference:.1e} (limit {result.tolerance:g})"


def _check_window(timeout: float = PROBE_TIMEOUT) -> str:
    spawned = time.time()
    doc, why = _run_child(["doctor", "--open-window"], _child_env(QT_QPA_PLATFORM="offscreen"), timeout)
    if doc is None or not doc.get("ok"):
        raise CheckFailed(f"the window did not open and close: {why or (doc or {}).get('error')}")
    shown = doc.get("shown_at")
    after = f", shown {shown - spawned:.1f} s after start" if isinstance(shown, int | float) else ""
    return f"opened and closed offscreen ({doc.get('title', 'Layerloom')}{after})"


def run_checks(device: str = "auto", *, window: bool = True,
               progress: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Each step of the chain, in order, passed or failed with the reason; a step that needs an earlier
    one's result fails with 'skipped' when that one failed."""
    state: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], str]]] = [
        ("libraries", _check_libraries),
        ("template", lambda: _check_template(state)),
        ("training", lambda: _check_training(state, device)),
        ("export", lambda: _check_export(state)),
    ]
    if window:
        steps.append(("window", _check_window))
    results = []
    for name, step in steps:
        t0 = time.perf_counter()
        try:
            detail, passed = step(), True
        except CheckFailed as err:
            detail, passed = str(err), False
        except Exception as err:  # the point of the check: say what broke, never a traceback
            detail, passed = f"{type(err).__name__}: {err}", False
        result = CheckResult(name, passed, detail, time.perf_counter() - t0)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


# --- the command ------------------------------------------------------------------------------------


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--check", action="store_true",
                   help="then prove the chain works: import the libraries, build the lenet5 template, train it a "
                        "few steps on the digits, export ONNX and run it, open and close the window offscreen "
                        "(exit status 1 if any fails)")
    p.add_argument("--device", default="auto", metavar="DEVICE",
                   help="where --check trains: auto (the best device: CUDA, then MPS, then CPU), cpu, cuda, mps")
    p.add_argument("--no-window", action="store_true", help="leave the window out of --check")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--qt-probe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--open-window", action="store_true", help=argparse.SUPPRESS)


@subcommand("doctor", "what a bug report needs (versions, devices, Qt, folders); --check tests the whole chain "
            "on this machine", _configure)
def run_doctor(args: argparse.Namespace) -> int:
    if args.qt_probe or args.open_window:
        from layerloom.gui import system_info  # a child process: Qt is what it is for

        doc = system_info.probe() if args.qt_probe else system_info.open_window_once()
        print(json.dumps(doc, ensure_ascii=False, default=str), flush=True)
        return 0 if doc.get("ok", True) and not doc.get("error") else 1

    t0 = time.perf_counter()
    report = collect()
    if not args.json:
        print(format_report(report), flush=True)
    if not args.check:
        if args.json:
            print(json.dumps({"report": report}, ensure_ascii=False, default=str, indent=2))
        return 0
    if not args.json:
        print("\nChecks", flush=True)
    results = run_checks(args.device, window=not args.no_window,
                         progress=None if args.json else (lambda r: print(r.line(), flush=True)))
    ok = all(r.passed for r in results)
    seconds = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"report": report, "checks": [asdict(r) for r in results], "ok": ok,
                          "seconds": round(seconds, 2)}, ensure_ascii=False, default=str, indent=2))
    else:
        failed = [r.name for r in results if not r.passed]
        print(f"\nAll {len(results)} checks passed in {seconds:.1f} s." if ok else
              f"\n{len(failed)} of {len(results)} checks failed: {', '.join(failed)}.", flush=True)
    return 0 if ok else 1
