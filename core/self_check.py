"""The self-check of `layerloom doctor --check` and Help → Run self-check: the whole chain on this machine.

    results = run_checks(device="cpu", progress=print)   # [CheckResult(name, passed, detail, seconds)]

Libraries → template → training → ONNX export → window, in order, each passed or failed with the reason in
plain words (never a traceback); a step that needs an earlier one's result fails as "skipped" when that one
failed. The window step opens and closes the window offscreen in a child process (`layerloom doctor
--open-window`, see core/child_process.py), so this module never imports Qt.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from layerloom.core.child_process import PROBE_TIMEOUT, child_env, run_child

CHECK_TEMPLATE = "lenet5"
CHECK_STEPS = 20  # optimizer steps of the training check
CHECK_TIME_LIMIT = 30.0  # seconds the training check may take before it is stopped (and fails)
STEP_NAMES = ("libraries", "template", "training", "export", "window")


@dataclass
class CheckResult:
    """One step of the self-check: its name, whether it passed, why (or what it found), how long it took."""

    name: str
    passed: bool
    detail: str
    seconds: float

    def line(self) -> str:
        """The step as one line of the report: '  passed  template  lenet5: … (0.1 s)'."""
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
    from layerloom.core.templates import load_template, template_names

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
    prepared = load_data(project.data.source, project.data.options, val_fraction=0.2, seed=0)
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
        trainer = Trainer(project, prepared, settings=settings, run_root=None, tensorboard=False,
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
    state.update(model=trainer.model, prepared=prepared)
    return (f"{len(losses)} steps on {started.get('device', settings.device)} ({len(prepared.train):,} digits), "
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
    doc, why = run_child(["doctor", "--open-window"], child_env(QT_QPA_PLATFORM="offscreen"), timeout)
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
