"""The problems list: every error and warning of the graph after each inference; double-click (or
Enter) on a row selects its block on the canvas."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from layerloom.gui import theme

NODE_ROLE = Qt.ItemDataRole.UserRole + 1


class ProblemsPanel(QWidget):
    """A two-column list (block, problem) of the latest inference report."""

    node_activated = Signal(str)  # the block of the row the user double-clicked
    counts_changed = Signal(int, int)  # errors, warnings

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Block", "Problem"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(False)
        self.tree.setWordWrap(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setIconSize(QSize(16, 16))
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.header().setStretchLastSection(True)
        self.tree.setColumnWidth(0, 170)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        self.errors = 0
        self.warnings = 0
        self.tree.itemActivated.connect(self._activated)
        document.inferred.connect(self.update_report)
        if document.report is not None:
            self.update_report(document.report)

    def update_report(self, report) -> None:
        graph = self.document.graph
        self.tree.setUpdatesEnabled(False)
        try:
            self.tree.clear()
            problems = report.problems if report is not None else []
            err_icon, warn_icon = theme.icon("error"), theme.icon("warning")
            items = []
            for p in problems:
                name = graph.node(p.node_id).name if p.node_id and p.node_id in graph else "(network)"
                item = QTreeWidgetItem([name, p.message])
                item.setIcon(0, err_icon if p.severity == "error" else warn_icon)
                item.setData(0, NODE_ROLE, p.node_id)
                item.setToolTip(1, p.message)
                item.setToolTip(0, "Double-click to select this block" if p.node_id
                                else "A problem of the whole network")
                items.append(item)
            if not items:
                ok = QTreeWidgetItem(["", "No problems: every block has a shape and the network can be built."])
                ok.setIcon(0, theme.icon("ok"))
                ok.setFlags(Qt.ItemFlag.ItemIsEnabled)
                items.append(ok)
            self.tree.addTopLevelItems(items)
        finally:
            self.tree.setUpdatesEnabled(True)
        errors = sum(1 for p in problems if p.severity == "error")
        warnings = len(problems) - errors
        self.errors, self.warnings = errors, warnings
        self.counts_changed.emit(errors, warnings)

    def rows(self) -> list[tuple[str, str, str | None]]:
        """(block name, message, node id) of every problem shown."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.flags() & Qt.ItemFlag.ItemIsSelectable:
                out.append((item.text(0), item.text(1), item.data(0, NODE_ROLE)))
        return out

    def _activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        node_id = item.data(0, NODE_ROLE)
        if node_id and node_id in self.document.graph:
            self.node_activated.emit(node_id)
