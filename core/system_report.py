"""What a bug report needs: versions, devices, Qt and folders, as plain data and as text to paste.

    report = collect(qt)             # {section: {label: value}}
    print(format_report(report))

`qt` holds the facts only a running Qt knows (platform plugin, OpenGL, screens, the settings file and the
autosave folder): the window passes its own (gui/system_info.py), `layerloom doctor` learns them from a
child process (app/doctor.py). This module itself never imports Qt.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from typing import Any

from layerloom.core.child_process import self_command

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
    """This Layerloom: version, where it is installed, whether it is the packaged app, its command."""
    import layerloom

    frozen = bool(getattr(sys, "frozen", False))
    return {
        "version": layerloom.__version__,
        "installed at": os.path.dirname(os.path.abspath(layerloom.__file__)),
        "packaged app": "yes (PyInstaller)" if frozen else "no",
        "command": " ".join(self_command()),
    }


def python_section() -> dict[str, Any]:
    """The interpreter and the operating system."""
    return {
        "version": f"{platform.python_version()} ({platform.python_implementation()})",
        "executable": sys.executable,
        "platform": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "os": platform.platform(),
    }


def packages_section() -> dict[str, Any]:
    """The versions of the libraries Layerloom runs on (PACKAGES)."""
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
        from layerloom.core.training.thread_policy import choice_for_run

        choice = choice_for_run(None)  # what a run on the CPU would take now, with no `threads` setting
        out["training threads"] = f"{choice.threads} ({choice.reason})"
        out["OpenMP wait policy"] = choice.wait_policy
        from layerloom.core.training.threads import BACKGROUND_NICE

        linux = sys.platform.startswith("linux")
        out["window training priority"] = (f"nice +{BACKGROUND_NICE} for the training thread and its OpenMP "
                                           "threads, so that the window's drawing comes first" if linux else
                                           "as the window's (per-thread priorities are Linux's)")
    except Exception as err:
        out["training threads"] = f"cannot be chosen ({type(err).__name__}: {err})"
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


def collect(qt: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The whole report as {section: {label: value}}. `qt`: the Qt facts, from the running QApplication
    (the window: gui/system_info.qt_info) or from a child process (`layerloom doctor`: app/doctor.qt_probe)."""
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
