"""Data sources for training: built-in, generated and downloaded sets and files, split into training
and validation tensors, normalized on the training part, checked against a graph.

    from layerloom.core.data import load_data, list_sources, preview, check_against_graph, DataError
    prepared = load_data("digits", {"resize": [28, 28]}, val_fraction=0.2, seed=0)
    prepared.info.input_shapes        # [(1, 28, 28)]
    for xs, ys in prepared.train.batches(64, shuffle=True, generator=g): ...
    check_against_graph(prepared.info, graph)   # [] when the data fits the network

Importing this package is light (no torch); loading imports torch and numpy.
"""

from __future__ import annotations

from layerloom.core.data.base import (
    CLASSIFICATION,
    RECONSTRUCTION,
    REGRESSION,
    TASKS,
    DataError,
    DataInfo,
    PreparedData,
    TensorSplit,
)
from layerloom.core.data.sources import list_sources, load_data


def preview(prepared, n: int = 16, split: str = "train"):
    """n samples of a split ready to show (un-normalized), their labels, the class counts and the shape
    of one sample; see `layerloom.core.data.preview.Preview`."""
    from layerloom.core.data.preview import preview as _preview

    return _preview(prepared, n, split)


def check_against_graph(info: DataInfo, graph) -> list[str]:
    """What to change so the data fits the graph's Inputs and Outputs (empty when it fits)."""
    from layerloom.core.data.check import check_against_graph as _check

    return _check(info, graph)


__all__ = [
    "CLASSIFICATION",
    "RECONSTRUCTION",
    "REGRESSION",
    "TASKS",
    "DataError",
    "DataInfo",
    "PreparedData",
    "TensorSplit",
    "check_against_graph",
    "list_sources",
    "load_data",
    "preview",
]
