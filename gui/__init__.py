"""Layerloom\x27s window (PySide6): a view and controller over layerloom.core."""
