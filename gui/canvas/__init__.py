"""The node editor canvas: `CanvasView(editor)` shows an Editor's document and turns gestures into its
edits and commands (gui/editor.py), one undo step each.

    from layerloom.gui.canvas import CanvasView, BLOCK_MIME
    view = CanvasView(Editor(document))
"""

from layerloom.gui.canvas.clipboard import CLIPBOARD_MIME
from layerloom.gui.canvas.interactions import BLOCK_MIME
from layerloom.gui.canvas.view import CanvasView

__all__ = ["BLOCK_MIME", "CLIPBOARD_MIME", "CanvasView"]
