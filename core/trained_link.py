"""The `meta.trained_run` key of a project file and its check, below both the project and `core/trained.py`
(the project checks the key when it reads a file; trained.py follows the link)."""

from __future__ import annotations

from typing import Any

KEY = "trained_run"  # meta.trained_run: where the project's trained weights are (core/trained.py)
CHECKPOINTS = ("last", "best")


def check(value: Any, problems: list[str], where: str = f"meta.{KEY}") -> None:
    """Add a problem for each thing wrong with a `trained_run` value (as read from a file)."""
    if not isinstance(value, dict):
        problems.append(f"{where} must be an object like {{\"path\": \"runs/…\", \"checkpoint\": \"last\"}}")
        return
    path = value.get("path")
    if not isinstance(path, str) or not path.strip():
        problems.append(f"{where}.path must be the run folder or bundle the weights are in (a text)")
    checkpoint = value.get("checkpoint", "last")
    if checkpoint not in CHECKPOINTS:
        problems.append(f"{where}.checkpoint must be 'last' or 'best' (got {checkpoint!r})")
    epochs = value.get("epochs", 0)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        problems.append(f"{where}.epochs must be a whole number of at least 0 (got {epochs!r})")
