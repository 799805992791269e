"""What every data source gives the trainer: tensors split into training and validation, and a
description of them (`DataInfo`) used to check them against the graph and to show them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from layerloom.core.errors import LayerloomError

CLASSIFICATION = "classification"
REGRESSION = "regression"
RECONSTRUCTION = "reconstruction"  # the target is the input (autoencoders)
TASKS = (CLASSIFICATION, REGRESSION, RECONSTRUCTION)

# What one sample is (DataInfo.kind): how previews draw it and how check_against_graph words its advice.
# image C×H×W · vector F · text L token ids · sequence T×F (recurrent layers) · signal C×L (Conv1d) ·
# series: forecasting windows T×1 of one time series.
IMAGE, VECTOR, TEXT, SEQUENCE, SIGNAL, SERIES = "image", "vector", "text", "sequence", "signal", "series"
KINDS = (IMAGE, VECTOR, TEXT, SEQUENCE, SIGNAL, SERIES)


class DataError(LayerloomError):
    """Data that cannot be loaded or prepared, in plain words: the message names the file (and the line
    where there is one) or the option to change. `path`, `line` and `option` say the same for callers
    that want to point at the place."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 option: str | None = None):
        super().__init__(message)
        self.path = path
        self.line = line
        self.option = option


@dataclass
class DataInfo:
    """A description of a loaded data set, batch dimension left out of every shape."""

    name: str  # what the user sees: "digits (8×8 → 28×28)"
    task: str  # one of TASKS
    input_shapes: list[tuple[int, ...]]  # one per model Input, in Input order
    input_dtypes: list[str]  # "float32" or "int64" (token ids), one per Input
    target_shapes: list[tuple[int, ...]]  # one per Output: () for class labels, (k,) for k regression values
    num_classes: int | None = None
    class_names: list[str] | None = None
    train_size: int = 0
    val_size: int = 0
    vocabulary: list[str] | None = None  # token id → token, for text sources
    normalization: dict[str, Any] | None = None  # e.g. {"mean": [...], "std": [...]} fitted on training data
    notes: list[str] = field(default_factory=list)  # e.g. "resized from 8×8"
    # Added by the data sources; every field has a default, so the contract above is unchanged.
    kind: str = ""  # one of KINDS: what one sample is
    source: str = ""  # the source as given: "digits", "/data/reviews.csv"
    image_shape: tuple[int, ...] | None = None  # C×H×W of image data, also when it is fed flattened
    augmentation: dict[str, Any] | None = None  # e.g. {"random_crop": 4, "hflip": True}: training batches only
    target_normalization: dict[str, Any] | None = None  # {"mean", "std"} when regression targets are scaled
    feature_names: list[str] | None = None  # the feature columns of a table, in order


GATHER_BYTES = 16 * 2**20  # TensorSplit.batches gathers the samples of this many bytes of batches at once


class TensorSplit:
    """One split held in memory: input tensors (one per Input) and targets (one per Output).

    `transform`, if given, is applied to each batch's inputs (augmentation, uint8 → float conversion);
    it must be vectorised (work on the whole batch) and take a torch.Generator for its randomness.
    `labels`: the samples' class indices (int64 numpy) when the targets are something else (a reconstruction
    task on labelled data keeps them for views such as a VAE's latent scatter), else None.
    """

    def __init__(self, inputs: tuple, targets: tuple, transform: Callable | None = None, labels=None):
        if not inputs or not targets:
            raise ValueError("a split needs at least one input and one target tensor")
        n = len(inputs[0])
        if any(len(t) != n for t in (*inputs, *targets)):
            raise ValueError("all tensors of a split must have the same number of samples")
        self.inputs = tuple(inputs)
        self.targets = tuple(targets)
        self.transform = transform
        self.labels = labels

    def __len__(self) -> int:
        return len(self.inputs[0])

    def batches(self, batch_size: int, *, shuffle: bool = False, generator=None,
                indices=None) -> Iterator[tuple[tuple, tuple]]:
        """Yield (inputs, targets) batches as tuples of tensors; `indices` restricts to a subset
        (used by distributed training to give each process its share).

        In shuffled (or `indices`) order the samples of many batches are gathered at once, one
        `index_select` per tensor for up to GATHER_BYTES, and each batch is a slice of that: the same
        batches as indexing every batch on its own, for a fraction of the per-step cost."""
        import torch

        n = len(self) if indices is None else len(indices)
        order = torch.randperm(n, generator=generator) if shuffle else None
        if indices is not None:
            base = torch.as_tensor(indices)
            order = base[order] if order is not None else base
        tensors = (*self.inputs, *self.targets)
        k = len(self.inputs)
        transform = self.transform
        if order is None:
            for start in range(0, n, batch_size):
                sl = slice(start, start + batch_size)
                xs = tuple(t[sl] for t in self.inputs)
                if transform is not None:
                    xs = transform(xs, generator)
                yield xs, tuple(t[sl] for t in self.targets)
            return
        sample_bytes = sum(t[:1].numel() * t.element_size() for t in tensors)
        chunk = max(1, GATHER_BYTES // max(1, sample_bytes * batch_size)) * batch_size
        order_on = {}  # the order on each device that holds a tensor
        for c0 in range(0, n, chunk):
            gathered, done = [], {}  # a tensor that is both an input and a target (reconstruction) is gathered once
            for t in tensors:
                if t.device not in order_on:
                    order_on[t.device] = order.to(t.device, torch.int64)
                if id(t) not in done:
                    done[id(t)] = t.index_select(0, order_on[t.device][c0:c0 + chunk])
                gathered.append(done[id(t)])
            for start in range(0, len(gathered[0]), batch_size):
                part = [g[start:start + batch_size] for g in gathered]
                xs = tuple(part[:k])
                if transform is not None:
                    xs = transform(xs, generator)
                yield xs, tuple(part[k:])


@dataclass
class PreparedData:
    """A loaded data source: its description and its two splits."""

    info: DataInfo
    train: TensorSplit
    val: TensorSplit
    label_names: list[str] | None = None  # the class names of the splits' `labels`, when they have them
