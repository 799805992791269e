"""The node editor canvas: `CanvasView(document)` shows a Document's graph and turns gestures into
undoable edits (see view.py for the API the window binds to its actions).

    from layerloom.gui.canvas import CanvasView, BLOCK_MIME
    view = CanvasView(document)
"""

from layerloom.gui.canvas.clipboard import CLIPBOARD_MIME
from layerloom.gui.canvas.interactions import BLOCK_MIME
from layerloom.gui.canvas.view import CanvasView

__all__ = ["BLOCK_MIME", "CLIPBOARD_MIME", "CanvasView"]
