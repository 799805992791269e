"""The live views of a training run (pyqtgraph), one module each. Every view has the same small interface:

    view.reset(run_started)   # a new run starts (None: clear everything): called once per run, on_event leaves
                              # the RunStarted alone
    view.on_event(event)      # any event of core/training/events.py; kinds a view does not show are ignored
    view.refresh()            # redraw now (it redraws by itself, once per timer tick, when visible)
    view.export_png(path)     # the view as a picture
    view.export_csv(path)     # the numbers behind it

    from layerloom.gui.plots import CurvesView, GradientFlowView, FeatureMapView, RecurrentView, \
        PredictionView, ConfusionView, RunHistoryView
"""

from __future__ import annotations

_EXPORTS = {
    "CurvesView": "curves",
    "GradientFlowView": "gradients",
    "FeatureMapView": "features",
    "RecurrentView": "recurrent",
    "GenerativeView": "generative",
    "PredictionView": "prediction",
    "DrawPad": "drawing",
    "ConfusionView": "confusion",
    "RunHistoryView": "history",
    "PlotView": "common",
}

from layerloom.core.lazy import lazy_exports  # noqa: E402

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
