"""QuietText: a text that changes many times a second repaints itself alone (issue 16 point 3). A QLabel's setText
asks every layout up to the main window to lay out again (and a QTabWidget on the way repaints whole); QuietText
asks only when it needs another line, paints its own background, and still offers its text to copy."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from layerloom.gui.quiet_text import QuietText


class _Events(QObject):
    """Counts the events of one type a widget receives."""

    def __init__(self, widget: QWidget, kind: QEvent.Type = QEvent.Type.LayoutRequest):
        super().__init__()
        self.count, self.kind = 0, kind
        widget.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == self.kind:
            self.count += 1
        return False


def _host(qtbot, child_factory, width=400):
    """child in a layout in a host in a layout in an outer window, as the readout sits in its docks."""
    outer = QWidget()
    qtbot.addWidget(outer)
    outer_layout = QVBoxLayout(outer)
    host = QWidget(outer)
    outer_layout.addWidget(host)
    layout = QVBoxLayout(host)
    child = child_factory(host)
    layout.addWidget(child)
    layout.addStretch(1)
    outer.resize(width, 200)
    outer.show()
    qtbot.waitExposed(outer)
    return outer, child


def test_new_texts_reach_no_layout_above_it_while_a_label_s_do(qtbot):
    outer, label = _host(qtbot, lambda parent: QLabel("step 0", parent))
    requests = _Events(outer)
    for i in range(1, 6):
        label.setText(f"step {i * 1111} · loss {1 / i:.4f}")
        qtbot.wait(5)
    assert requests.count >= 1  # the QLabel's new texts climb to the outer window

    outer, text = _host(qtbot, lambda parent: QuietText(parent, lines=2))
    text.setText("step 0")
    qtbot.wait(20)
    requests = _Events(outer)
    host_requests = _Events(text.parentWidget())
    for i in range(1, 6):
        text.setText(f"step {i * 1111} · loss {1 / i:.4f}")
        qtbot.wait(5)
    assert requests.count == 0 and host_requests.count == 0
    assert text.text() == "step 5555 · loss 0.2000" and text.plain_text() == "step 5555 · loss 0.2000"


def test_it_is_opaque_so_what_lies_behind_is_not_repainted(qtbot):
    paints = {}
    for make in (lambda parent: QLabel("step 0", parent), lambda parent: QuietText(parent)):
        _outer, child = _host(qtbot, make)
        child.setText("step 0")
        qtbot.wait(30)
        behind, itself = _Events(child.parentWidget(), QEvent.Type.Paint), _Events(child, QEvent.Type.Paint)
        for i in range(1, 4):
            child.setText(f"step {i}")
            qtbot.wait(30)
        paints[type(child).__name__] = (behind.count, itself.count)
    assert paints["QLabel"][0] >= 1  # a label's new text repaints the widget behind it
    assert paints["QuietText"] == (0, paints["QuietText"][1]) and paints["QuietText"][1] >= 1


def test_height_grows_for_a_long_text_and_fits_again_when_wider(qtbot):
    outer, text = _host(qtbot, lambda parent: QuietText(parent, lines=2), width=220)
    two_lines = text.height()
    assert two_lines >= 2 * text.fontMetrics().lineSpacing()
    text.setText("the loss became NaN at step 12 (epoch 1, batch 12); training stopped. Try a lower learning "
                 "rate, gradient clipping, or check the data for NaN values")
    qtbot.wait(20)
    assert text.height() > two_lines + text.fontMetrics().lineSpacing()  # grew by lines, to show it all
    grown = text.height()
    text.setText("short")
    qtbot.wait(20)
    assert text.height() == grown  # never less while the width stays
    outer.resize(1400, 200)
    qtbot.waitUntil(lambda: text.height() == two_lines, timeout=2000)  # a new width: as few lines as needed


def test_text_is_painted_in_the_foreground_colour(qtbot):
    _outer, text = _host(qtbot, lambda parent: QuietText(parent))
    text.setStyleSheet("color: #d9534f")
    text.setText("<b>Training failed</b>")
    qtbot.wait(20)
    image = text.grab().toImage()
    reds = sum(1 for x in range(image.width()) for y in range(image.height())
               if (c := image.pixelColor(x, y)).red() > 170 and c.green() < 120 and c.blue() < 120)
    assert reds > 20


def test_copy_text_from_the_right_click_menu(qtbot):
    _outer, text = _host(qtbot, lambda parent: QuietText(parent))
    text.setText("Finished after 3 epochs; <b>checkpoint:</b> runs/x/last.pt")
    assert text.contextMenuPolicy() == Qt.ContextMenuPolicy.ActionsContextMenu
    (copy,) = [a for a in text.actions() if a.text() == "Copy text"]
    QGuiApplication.clipboard().clear()
    copy.trigger()
    assert QGuiApplication.clipboard().text() == "Finished after 3 epochs; checkpoint: runs/x/last.pt"


def _line_starts(doc) -> list[str]:
    """The first character of every laid-out line of a QTextDocument."""
    doc.size()  # lays the document out
    starts = []
    block = doc.begin()
    while block.isValid():
        layout, text = block.layout(), block.text()
        for i in range(layout.lineCount()):
            line = layout.lineAt(i)
            starts.append(text[line.textStart():line.textStart() + 1])
        block = block.next()
    return starts


def test_a_percentage_never_wraps_before_its_sign(qtbot):
    from PySide6.QtGui import QTextDocument

    words = "Finished after 3 epochs (0:02, 6,745 samples/s); val accuracy 92.8 %; checkpoint: /tmp/runs/last"
    _outer, text = _host(qtbot, lambda parent: QuietText(parent, lines=2), width=300)
    text.setText(words)
    plain = QTextDocument()  # the same text in a plain document breaks before "%" at some width
    plain.setDefaultFont(text.font())
    plain.setDocumentMargin(0)
    plain.setHtml(words)
    widths = range(120, 420, 2)
    plain_starts = []
    for width in widths:
        plain.setTextWidth(width)
        plain_starts += _line_starts(plain)
        text._doc.setTextWidth(width)
        starts = _line_starts(text._doc)
        assert starts and "%" not in starts, width
    assert "%" in plain_starts
    assert text.text() == words and text.plain_text() == words  # copied with a plain space
