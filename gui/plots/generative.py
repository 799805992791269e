"""The Generative tab: what a generative model makes, one page of panels per kind of look (a VAE's VAELook:
gui/plots/vae_view.py; a GAN's GANLook: gui/plots/gan_view.py), showing the page of the latest look's kind, or a
message in plain words when there is none.

    view.on_event(look)                   # a VAELook: its page shows it
    view.set_generative_note("…")         # why no look shows (None: the wait message)
    view.set_class_names(["0", …])        # the names of the latent scatter's classes

Another kind of look gets its page by one line in PANELS: its event kind → "module:class" of a QWidget with
`show_look(event)`, `set_class_names(names)`, `restyle()` and `csv_rows()` → (header, rows); and, if it keeps a
history, `reset()` (a new run) and `on_epoch_end(event)`.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from layerloom.gui.plots.common import PlotView, write_csv
from layerloom.gui.quiet_text import QuietText

PANELS = {
    "vae_look": "layerloom.gui.plots.vae_view:VAEPanels",
    "gan_look": "layerloom.gui.plots.gan_view:GANPanels",
}
WAITING = "Train the network: its samples (and a VAE's reconstructions and latent space, a GAN's discriminator) " \
          "show here while this tab is open."


class GenerativeView(PlotView):
    EXPORT_NAME = "generative"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.note: str | None = None
        self.look = None  # the latest look on show
        self.class_names: list[str] | None = None
        self.pages: dict[str, QWidget] = {}
        self.epoch_ends: list = []  # this run's, for a page made after they came
        self.message = QLabel(self)
        self.message.setObjectName("generativeMessage")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.status = QuietText(self)  # changes with every look: repaints itself alone (gui/quiet_text.py)
        self.status.setObjectName("subtle")
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.message)
        head = QHBoxLayout()
        head.setContentsMargins(6, 2, 6, 0)
        head.addWidget(self.status, 1)
        head.addWidget(self.export_buttons())
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addLayout(head)
        box.addWidget(self.stack, 1)
        self.reset(None)

    def page(self, kind: str) -> QWidget:
        """The panels of a kind of look (made at its first look)."""
        if kind not in self.pages:
            module, name = PANELS[kind].split(":")
            page = getattr(importlib.import_module(module), name)(self)
            page.set_class_names(self.class_names)
            for event in self.epoch_ends if hasattr(page, "on_epoch_end") else ():
                page.on_epoch_end(event)
            self.pages[kind] = page
            self.stack.addWidget(page)
        return self.pages[kind]

    # --- the contract ------------------------------------------------------------------------------

    def reset(self, run=None) -> None:
        self.look = None
        self.epoch_ends = []
        for page in self.pages.values():
            if hasattr(page, "reset"):
                page.reset()
        if run is not None and run.class_names:
            self.set_class_names(list(run.class_names))
        self._changed()

    def on_event(self, event) -> None:
        if event.kind in PANELS:
            self.look = event
            take = getattr(self.page(event.kind), "take_look", None)  # a GAN's curves keep every look's means
            if take is not None:
                take(event)
            self._changed()
        elif event.kind == "epoch_end":
            self.epoch_ends.append(event)
            for page in self.pages.values():
                if hasattr(page, "on_epoch_end"):
                    page.on_epoch_end(event)

    def show_trained_history(self, history, class_names=None) -> None:
        """A trained or opened model's epochs (its history rows): the pages' curves by epoch until a run."""
        self.reset(None)
        for row in history:
            metrics = {k: v for k, v in row.items() if isinstance(v, int | float) and not isinstance(v, bool)}
            self.on_event(SimpleNamespace(kind="epoch_end", step=int(row.get("step", 0)), metrics=metrics))

    def set_generative_note(self, note: str | None) -> None:
        """Why no look shows (instead of the wait message); None: none. A note drops the look on show."""
        self.note = note
        if note is not None:
            self.look = None
        self._changed()

    def set_class_names(self, names) -> None:
        self.class_names = list(names) if names else None
        for page in self.pages.values():
            page.set_class_names(self.class_names)
        self._changed()

    def set_data(self, prepared, _key: str = "") -> None:
        """Class names of the loaded data (a reconstruction task keeps them as `label_names`)."""
        from layerloom.core.training.vae_look import label_names

        self.set_class_names(label_names(prepared))

    # --- drawing ----------------------------------------------------------------------------------

    def _redraw(self) -> None:
        look = self.look
        if look is None:
            self.message.setText(self.note or WAITING)
            self.status.setText("")
            self.stack.setCurrentWidget(self.message)
            return
        page = self.page(look.kind)
        page.show_look(look)
        note = getattr(look, "note", None)  # a GANLook has none
        self.status.setText(f"step {look.step:,} · epoch {look.epoch + 1}" + (f" — {note}" if note else ""))
        self.stack.setCurrentWidget(page)

    def _restyle(self) -> None:
        for page in self.pages.values():
            page.restyle()

    def export_widget(self):
        return self.stack.currentWidget()

    def export_csv(self, path: str) -> None:
        """The numbers of the look on show (a VAE's: the latent means and their classes)."""
        page = self.stack.currentWidget()
        header, rows = page.csv_rows() if page is not self.message else (["note"], [[self.message.text()]])
        write_csv(path, header, rows)
