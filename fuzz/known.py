"""Failures the fuzzer finds that are known and owned by work in progress elsewhere (the data readers' resource
guards and the error-message layer; one in graph validation). `make test` reports them without failing; anything
else fails it.

Remove an entry when its fix lands: the long run (`make fuzz`) shows whether it still happens. Each entry:
(failure kind, a pattern of "WHERE DETAIL", a reproducer for fuzz/run_fuzz.py, what it is).
"""

from __future__ import annotations

import re

KNOWN: list[tuple[str, str, str, str]] = []  # none left: the guards and the error layer have landed


def known(failure: dict) -> str | None:
    """The description of the known problem `failure` is, None when it is new."""
    text = f"{failure.get('where', '')} {failure.get('detail', '')}"
    for kind, pattern, _repro, what in KNOWN:
        if failure["kind"] == kind and re.search(pattern, text):
            return what
    return None
