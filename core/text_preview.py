"""Previews of texts that may be very long (a project's description can hold megabytes): what a label can
show at once without freezing the window, with the full length said. The text itself is never changed.

    preview("a" * 50_000_000)   # 'aaaa…' (2,000 characters) + ' … (50,000,000 characters in all)'
"""

from __future__ import annotations

PREVIEW_CHARS = 2_000
PREVIEW_LINES = 40


def preview(text: str, limit: int = PREVIEW_CHARS, lines: int = PREVIEW_LINES) -> str:
    """`text` when it is short; else its first `limit` characters (and at most `lines` lines) followed by
    its length in characters."""
    text = str(text)
    cut = text[:limit]
    if cut.count("\n") >= lines:
        cut = "\n".join(cut.split("\n")[:lines])
    if len(cut) == len(text):
        return text
    return f"{cut.rstrip()} … ({len(text):,} characters in all)"
