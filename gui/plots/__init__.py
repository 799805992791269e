"""The live views of a training run (pyqtgraph), one module each. Every view has the same small interface:

    view.reset(run_started)   # a new run starts (None: clear everything)
    view.on_event(event)      # any event of core/training/events.py; kinds a view does not show are ignored
    view.refresh()            # redraw now (it redraws by itself, once per timer tick, when visible)
    view.export_png(path)     # the view as a picture
    view.export_csv(path)     # the numbers behind it

    from layerloom.gui.plots import CurvesView, GradientFlowView, FeatureMapView, PredictionView, \
        ConfusionView, RunHistoryView
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "CurvesView": "curves",
    "GradientFlowView": "gradients",
    "FeatureMapView": "features",
    "PredictionView": "prediction",
    "DrawPad": "prediction",
    "ConfusionView": "confusion",
    "RunHistoryView": "history",
    "PlotView": "common",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
