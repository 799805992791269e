"""The tabs of live views (gui/plots): Curves, Gradients, Feature maps, Inside RNN, Generative, Predictions,
Confusion, Runs, wired to the training controller (which resets each view once when a run starts and gives it every
event). The Feature maps and Inside RNN tabs share one probe sample: picking it in one sets the other and the
controller."""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget, QWidget

TABS = (("curves", "Curves"), ("gradients", "Gradients"), ("features", "Feature maps"), ("recurrent", "Inside RNN"),
        ("generative", "Generative"), ("predictions", "Predictions"), ("confusion", "Confusion"), ("runs", "Runs"))
GAN_NOTE = ("Predictions and the confusion matrix are for classifiers and regressors. This model is a GAN: its "
            "generator makes new samples from noise, and the Generative tab shows them.")


class LiveViews(QTabWidget):
    """One tab per live view; `view(key)` gives the view of a tab (keys as in TABS)."""

    def __init__(self, controller, parent=None):
        super().__init__(parent)
        from layerloom.gui.plots import (  # pyqtgraph: imported when the window is built
            ConfusionView,
            CurvesView,
            FeatureMapView,
            GenerativeView,
            GradientFlowView,
            PredictionView,
            RecurrentView,
            RunHistoryView,
        )

        self.controller = controller
        self.setObjectName("liveViews")
        self.setDocumentMode(True)
        self.predictions = PredictionView(self)
        self.confusion = ConfusionView(self)
        self.runs = RunHistoryView(self)
        made = {"curves": CurvesView(self), "gradients": GradientFlowView(self), "features": FeatureMapView(self),
                "recurrent": RecurrentView(self), "generative": GenerativeView(self),
                "predictions": self.predictions, "confusion": self.confusion,
                "runs": self.runs}
        self.views: dict[str, QWidget] = {}
        for key, title in TABS:
            view = made[key]
            view.setObjectName(f"view_{key}")
            self.views[key] = view
            self.addTab(view, title)
            controller.add_view(view)
        self.currentChanged.connect(lambda _i: self.update_capture())
        self.probe_views = (self.views["features"], self.views["recurrent"])
        for view in self.probe_views:
            view.set_probe_index(controller.probe_index)
            view.probe_changed.connect(self._probe_changed)
        controller.predictor_changed.connect(self._predictor_changed)
        controller.data_available.connect(self.set_data)
        controller.run_started.connect(lambda _run: self.runs.reload_when_shown())
        controller.run_finished.connect(lambda _e: self.runs.reload_when_shown())
        self.update_capture()

    def view(self, key: str):
        return self.views[key]

    def show_view(self, key: str) -> None:
        self.setCurrentWidget(self.views[key])

    def update_capture(self) -> None:
        """Feature maps are computed only while their tab is on show; a recurrent block's insides (states,
        gates, gradients through time) while the Inside RNN or the Gradients tab is; a VAE's looks while the
        Generative tab is."""
        visible, current = self.isVisible(), self.currentWidget()
        self.controller.set_feature_capture(visible and current is self.views["features"])
        self.controller.set_recurrent_capture(visible and current in (self.views["recurrent"],
                                                                       self.views["gradients"]))
        self.controller.set_generative_capture(visible and current is self.views["generative"])

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.update_capture()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.update_capture()

    def _probe_changed(self, index: int) -> None:
        """The user picked another probe sample in one view: the other shows it too, the controller looks at it."""
        for view in self.probe_views:
            view.set_probe_index(index)
        self.controller.set_probe_index(index)

    def _predictor_changed(self, predictor) -> None:
        """A model to predict with (None: none): the prediction view and the misclassified gallery; a GAN gets
        neither (they are for classifiers and regressors), and a note that says so."""
        from layerloom.core.gan import is_gan

        note = GAN_NOTE if is_gan(self.controller.model_graph()) else None
        predictor = None if note else predictor
        self.predictions.set_preprocessing(self.controller.preprocessing())
        self.predictions.set_unavailable(note)
        self.predictions.set_predictor(predictor)
        self.confusion.set_unavailable(note)
        self.confusion.set_predictor(predictor)

    def set_data(self, prepared, _key: str = "") -> None:
        """Samples for the prediction view and the misclassified gallery (loaded by the data panel's Load &
        preview or by a run)."""
        from layerloom.core.data.preview import preview

        self.views["generative"].set_data(prepared)
        for view in self.probe_views:
            view.set_probe_range(len(prepared.val) or len(prepared.train))
        try:
            pv = preview(prepared, 64, "val" if len(prepared.val) else "train")
        except Exception:
            return
        self.predictions.set_preprocessing(self.controller.preprocessing())
        self.predictions.set_samples(pv)
        full = preview(prepared, min(len(prepared.val), 5000), "val") if len(prepared.val) else pv
        self.confusion.set_validation_samples(full.samples, full.labels, prepared.info.class_names, texts=full.texts)

    def set_runs_root(self, path: str | list[str], project_name: str) -> None:
        self.runs.set_runs_root(path, project_name)
