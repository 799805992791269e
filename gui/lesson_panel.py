"""The Lesson panel: a project's `meta["lesson"]` (what to do and what to look for, one step a line), shown in
a dock beside the canvas while a project with a lesson is open. View → Lesson brings it back once closed.

    panel = LessonPanel(parent)
    panel.set_lesson(project.meta.get("lesson"))   # None or "" when the project has none
    panel.text()                                   # the lesson as shown
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget


def lesson_of(project) -> str:
    """The project's lesson text, or "" when it has none (or holds something that is not text)."""
    lesson = project.meta.get("lesson") if isinstance(project.meta, dict) else None
    return lesson.strip() if isinstance(lesson, str) else ""


def lesson_html(text: str) -> str:
    """The lesson as rich text: one paragraph a line, the words escaped."""
    return "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())


class LessonPanel(QWidget):
    """The lesson text, word-wrapped and scrollable."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("lessonPanel")
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setContentsMargins(8, 4, 8, 4)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self.label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        self._text = ""

    def set_lesson(self, text: str | None) -> None:
        self._text = text or ""
        self.label.setText(lesson_html(self._text))

    def text(self) -> str:
        return self._text
