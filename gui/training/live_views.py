"""The tabs of live views (gui/plots): Curves, Gradients, Feature maps, Predictions, Confusion, Runs, wired to
the training controller. A view the plots package does not have (yet) shows a short note instead."""

from __future__ import annotations

import contextlib

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

TABS = (("curves", "Curves", "CurvesView"), ("gradients", "Gradients", "GradientFlowView"),
        ("features", "Feature maps", "FeatureMapView"), ("predictions", "Predictions", "PredictionView"),
        ("confusion", "Confusion", "ConfusionView"), ("runs", "Runs", "RunHistoryView"))


class Placeholder(QWidget):
    """Stands in for a view that cannot be loaded; counts the events it gets."""

    def __init__(self, title: str, why: str, parent=None):
        super().__init__(parent)
        self.events = 0
        lay = QVBoxLayout(self)
        label = QLabel(f"{title}: not available ({why})", self)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        lay.addWidget(label)

    def reset(self, run) -> None:
        self.events = 0

    def on_event(self, event) -> None:
        self.events += 1


def make_view(class_name: str, title: str, parent=None):
    try:
        from layerloom.gui import plots

        cls = getattr(plots, class_name)
        return cls(parent)
    except Exception as err:  # the plots package is missing or broken: the window still works
        return Placeholder(title, f"{type(err).__name__}: {err}", parent)


class LiveViews(QTabWidget):
    def __init__(self, controller, parent=None):
        super().__init__(parent)
        self.controller = controller
        self.setObjectName("liveViews")
        self.setDocumentMode(True)
        self.views: dict[str, QWidget] = {}
        for key, title, class_name in TABS:
            view = make_view(class_name, title, self)
            view.setObjectName(f"view_{key}")
            self.views[key] = view
            self.addTab(view, title)
            controller.add_view(view)
        self.currentChanged.connect(lambda _i: self.update_capture())
        controller.predictor_changed.connect(self._predictor_changed)
        controller.data_available.connect(self.set_data)
        controller.run_started.connect(self._run_started)
        controller.run_finished.connect(lambda _e: self._refresh_runs())
        self.update_capture()

    def view(self, key: str):
        return self.views[key]

    def show_view(self, key: str) -> None:
        self.setCurrentWidget(self.views[key])

    def update_capture(self) -> None:
        """Feature maps are computed only while their tab is on show."""
        on = self.isVisible() and self.currentWidget() is self.views["features"]
        self.controller.set_feature_capture(on)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.update_capture()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.update_capture()

    def _predictor_changed(self, predictor) -> None:
        """A model to predict with (None: none): the prediction view and the misclassified gallery."""
        view = self.views["predictions"]
        with contextlib.suppress(AttributeError):
            view.set_preprocessing(self.controller.preprocessing())
        for key in ("predictions", "confusion"):
            with contextlib.suppress(AttributeError):
                self.views[key].set_predictor(predictor)

    def set_data(self, bundle, _key: str = "") -> None:
        """Samples for the prediction view and the misclassified gallery (loaded by the data panel's Load &
        preview or by a run)."""
        from layerloom.core.data.preview import preview

        try:
            pv = preview(bundle, 64, "val" if len(bundle.val) else "train")
        except Exception:
            return
        view = self.views["predictions"]
        with contextlib.suppress(AttributeError):
            view.set_preprocessing(self.controller.preprocessing())
            view.set_samples(pv)
        view = self.views["confusion"]
        if hasattr(view, "set_validation_samples"):
            full = preview(bundle, min(len(bundle.val), 5000), "val") if len(bundle.val) else pv
            view.set_validation_samples(full.samples, full.labels, bundle.info.class_names, texts=full.texts)

    def set_runs_root(self, path: str | list[str], project_name: str) -> None:
        with contextlib.suppress(AttributeError):
            self.views["runs"].set_runs_root(path, project_name)

    def _run_started(self, _run) -> None:
        self._refresh_runs()

    def _refresh_runs(self) -> None:
        view = self.views["runs"]
        if hasattr(view, "reload_when_shown"):  # reading the run folders waits until the Runs tab shows
            view.reload_when_shown()
            return
        for name in ("refresh", "reload"):
            fn = getattr(view, name, None)
            if fn is not None:
                with contextlib.suppress(Exception):
                    fn()
                break
