"""From raw arrays to a PreparedData: split, resize, normalize (fitted on the training part only),
tokenize, window, and the per-batch transform (uint8 → float, augmentation).

Every source gives a `Raw`: all its samples (and, for sets that come with one, a validation part).
`prepare` reads the options that shape the tensors, splits, fits every statistic on the training part,
and builds the two TensorSplits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from layerloom.core.blocks.spec import fmt_shape
from layerloom.core.data import text as textlib
from layerloom.core.data.base import (
    CLASSIFICATION,
    IMAGE,
    RECONSTRUCTION,
    REGRESSION,
    SEQUENCE,
    SERIES,
    SIGNAL,
    TEXT,
    VECTOR,
    DataError,
    DataInfo,
    PreparedData,
    TensorSplit,
)
from layerloom.core.data.options import Options

# Image sets whose float32 form would take more than this are kept as uint8 and converted per batch.
FLOAT_BYTES_LIMIT = 64 * 2**20


@dataclass
class Raw:
    """What a reader gives: every sample of one source, before splitting and normalization.

    x by kind — image: N×C×H×W uint8 or float32 array (`scale` is the value of white: 255 for uint8
    pixels, 16 for `digits`); vector: N×F float32; sequence: N×T×F float32; text: list of N strings;
    series: a 1-D float array (one value per time step). y: int64 (N,) class indices or float32 (N, k)
    targets; None for series.
    """

    kind: str
    x: Any
    y: np.ndarray | None
    task: str
    name: str
    class_names: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    val: Raw | None = None  # a validation part the source comes with (an official test set)
    scale: float = 1.0
    resized_to: tuple[int, int] | None = None  # images the reader already resized (image folders)
    where: str = ""  # the file, for messages
    feature_names: list[str] | None = None  # a table's feature columns
    labels: np.ndarray | None = None  # class indices kept when the target is something else (reconstruction)
    label_names: list[str] | None = None  # … and their names

    def __len__(self) -> int:
        return len(self.x)

    def take(self, idx: np.ndarray) -> Raw:
        if self.kind == TEXT:
            x = [self.x[i] for i in idx]
        else:
            x = self.x[idx]
        y = None if self.y is None else self.y[idx]
        return Raw(self.kind, x, y, self.task, self.name, self.class_names, list(self.notes), None, self.scale,
                   self.resized_to, self.where, self.feature_names,
                   None if self.labels is None else self.labels[idx], self.label_names)


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split: round(n × val_fraction) samples (at least 1 when the fraction is above 0)
    for validation, the rest for training; disjoint, covering 0..n-1."""
    n_val = round(n * val_fraction)
    if val_fraction > 0 and n_val == 0 and n >= 2:
        n_val = 1
    order = np.random.default_rng(seed).permutation(n)
    return order[n_val:], order[:n_val]


def check_fraction(val_fraction: Any) -> float:
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, int | float) or not 0 <= val_fraction < 1:
        raise DataError(f"the validation fraction must be a number from 0 up to (but not including) 1 "
                        f"(got {val_fraction!r})", option="val_fraction")
    return float(val_fraction)


# --- the entry point ----------------------------------------------------------------------------


def prepare(raw: Raw, opts: Options, *, val_fraction: float, seed: int, val_raw: Raw | None = None,
            source: str = "") -> PreparedData:
    """Split `raw` (or use `val_raw` / the source's own validation part), fit normalization on the
    training part, and build the prepared data. Reads the shaping options of `raw.kind` from `opts`."""
    val_fraction = check_fraction(val_fraction)
    crop, hflip = 0, False
    if raw.kind == IMAGE:
        crop = opts.integer("random_crop", 0, 0, 256)
        hflip = opts.boolean("hflip", False)
    else:
        for name in ("random_crop", "hflip"):
            if opts.values.get(name) not in (None, 0, False):
                raise DataError(f"option {name} works on images only; {raw.name} gives {_kind_words(raw.kind)}",
                                option=name)
    normalize = opts.boolean("normalize", True)
    notes = list(raw.notes)

    if raw.kind == SERIES:
        return _series(raw, opts, val_fraction, val_raw, normalize, notes, source)

    if val_raw is not None:
        train, val = raw, _align_labels(raw, val_raw)
        notes.append(f"validation data: {val_raw.where or val_raw.name} ({len(val_raw):,} samples)")
    elif raw.val is not None:
        train, val = raw, _align_labels(raw, raw.val)
    else:
        if len(raw) < 2:
            raise DataError(f"{raw.name} has {len(raw)} sample(s); at least 2 are needed to train and validate")
        tr, va = split_indices(len(raw), val_fraction, seed)
        train, val = raw.take(tr), raw.take(va)
    if len(train) == 0:
        raise DataError(f"{raw.name}: no samples are left for training; lower the validation fraction")

    info = DataInfo(name=raw.name, task=raw.task, input_shapes=[], input_dtypes=[], target_shapes=[],
                    class_names=raw.class_names, num_classes=len(raw.class_names) if raw.class_names else None,
                    notes=notes, kind=raw.kind, source=source, feature_names=raw.feature_names)
    if raw.kind == IMAGE:
        xt, xv, transforms = _images(train, val, opts, info, normalize, crop, hflip)
    elif raw.kind == TEXT:
        xt, xv, transforms = _text(train, val, opts, info)
    elif raw.kind in (VECTOR, SEQUENCE, SIGNAL):
        xt, xv, transforms = _features(train, val, info, normalize)
    else:  # pragma: no cover - readers only make the kinds above
        raise AssertionError(raw.kind)

    yt, yv = _targets(train, val, xt, xv, opts, info)
    info.input_shapes = [tuple(xt.shape[1:])]  # the transforms keep the shape (uint8 → float32 only)
    info.input_dtypes = ["int64" if xt.dtype == torch.int64 else "float32"]
    info.train_size, info.val_size = len(xt), len(xv)
    return PreparedData(info, TensorSplit((xt,), (yt,), transforms[0], train.labels),
                        TensorSplit((xv,), (yv,), transforms[1], val.labels), raw.label_names)


def _kind_words(kind: str) -> str:
    return {VECTOR: "vectors of features", SEQUENCE: "sequences", SIGNAL: "signals", TEXT: "token ids",
            SERIES: "time-series windows", IMAGE: "images"}.get(kind, kind)


def _align_labels(train: Raw, val: Raw) -> Raw:
    """Give a separate validation part the training part's class indices (matched by class name)."""
    if train.kind != val.kind:
        raise DataError(f"the validation data {val.where or val.name} gives {_kind_words(val.kind)} but "
                        f"the training data gives {_kind_words(train.kind)}", path=val.where or None)
    if train.task == CLASSIFICATION and val.task != CLASSIFICATION:
        raise DataError(f"the validation data {val.where or val.name} has numeric targets but the training data "
                        "has classes; give both the same kind of labels", path=val.where or None)
    if train.task != CLASSIFICATION or train.class_names == val.class_names:
        return val
    index = {name: i for i, name in enumerate(train.class_names or [])}
    names = val.class_names or []
    missing = [n for n in names if n not in index]
    if missing:
        raise DataError(f"the validation data {val.where or val.name} has classes the training data lacks: "
                        f"{', '.join(map(repr, missing[:5]))}", path=val.where or None)
    mapping = np.array([index[n] for n in names], dtype=np.int64)
    out = val.take(np.arange(len(val)))
    out.y = mapping[val.y] if len(val.y) else val.y
    out.class_names = train.class_names
    return out


# --- images ---------------------------------------------------------------------------------------


def resize_images(x: np.ndarray, size: tuple[int, int], chunk: int = 2048) -> np.ndarray:
    """Bilinear (antialiased) resize of N×C×H×W images; uint8 stays uint8 (rounded)."""
    import torch.nn.functional as F

    out = np.empty((x.shape[0], x.shape[1], *size), dtype=x.dtype)
    for start in range(0, len(x), chunk):
        part = torch.from_numpy(np.ascontiguousarray(x[start:start + chunk])).float()
        res = F.interpolate(part, size=size, mode="bilinear", antialias=True, align_corners=False)
        if x.dtype == np.uint8:
            res = res.round_().clamp_(0, 255).to(torch.uint8)
        out[start:start + chunk] = res.numpy()
    return out


def _channel_stats(x: np.ndarray, scale: float, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of N×C×H×W data in [0, 1] units, accumulated in float64 by chunks."""
    c = x.shape[1]
    total = np.zeros(c)
    total_sq = np.zeros(c)
    count = 0
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk].astype(np.float64) / scale
        total += part.sum(axis=(0, 2, 3))
        total_sq += np.square(part).sum(axis=(0, 2, 3))
        count += part.shape[0] * part.shape[2] * part.shape[3]
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(total_sq / max(count, 1) - mean**2, 0.0))
    std[std < 1e-6] = 1.0
    return mean, std


def _images(train: Raw, val: Raw, opts: Options, info: DataInfo, normalize: bool, crop: int, hflip: bool):
    resize = opts.size("resize")
    flatten = opts.boolean("flatten", False)
    storage = opts.choice("storage", "auto", ("auto", "uint8", "float32"))
    xt, xv = train.x, val.x
    c, h, w = xt.shape[1:]
    if resize is not None and (h, w) != resize and train.resized_to != resize:
        xt = resize_images(xt, resize)
        info.notes.append(f"resized from {h}×{w} to {resize[0]}×{resize[1]}")
        info.name = f"{info.name} ({h}×{w} → {resize[0]}×{resize[1]})"
        h, w = resize
    if xv.shape[1] != c:
        raise DataError(f"the validation images have {xv.shape[1]} channel(s) but the training images have {c}; "
                        "give both the same colour mode (option color)", option="color")
    if xv.shape[2:] != (h, w) and len(xv):
        xv = resize_images(xv, (h, w))
    elif not len(xv):
        xv = np.zeros((0, c, h, w), dtype=xt.dtype)
    info.image_shape = (c, h, w)

    if normalize:
        mean, std = _channel_stats(xt, train.scale)
    else:
        mean, std = np.zeros(c), np.ones(c)
    info.normalization = {"kind": "per_channel", "mean": mean.tolist(), "std": std.tolist(), "scale": train.scale,
                          "stored": "float32"}
    if info.task == RECONSTRUCTION and (crop or hflip):
        raise DataError("augmentation (random_crop, hflip) cannot be used when the target is the input "
                        "(task reconstruction)", option="random_crop" if crop else "hflip")
    if crop or hflip:
        info.augmentation = {"random_crop": crop, "hflip": hflip}
        info.notes.append("augmentation on training batches: " + ", ".join(
            ([f"random crop with padding {crop}"] if crop else []) + (["horizontal flip"] if hflip else [])))

    as_uint8 = xt.dtype == np.uint8 and info.task != RECONSTRUCTION and (
        storage == "uint8" or (storage == "auto" and xt.size * 4 > FLOAT_BYTES_LIMIT))
    if storage == "uint8" and xt.dtype != np.uint8:
        raise DataError(f"option storage: uint8 needs 8-bit images; {info.name} has float pixels",
                        option="storage")
    a = 1.0 / (train.scale * std)
    b = -mean / std
    pad = b  # the normalized value of a black pixel
    if as_uint8:
        info.normalization["stored"] = "uint8"
        info.notes.append("kept as 8-bit pixels, converted to float per batch")
        tt = torch.from_numpy(np.ascontiguousarray(xt))
        tv = torch.from_numpy(np.ascontiguousarray(xv))
        if flatten:
            tt, tv = tt.reshape(len(tt), c * h * w), tv.reshape(len(tv), c * h * w)  # -1 fails on an empty split
        train_tf = ImageBatch((c, h, w), scale=a, shift=b, crop=crop, hflip=hflip, pad=pad, flatten=flatten)
        val_tf = ImageBatch((c, h, w), scale=a, shift=b, flatten=flatten)
    else:
        tt = _to_float(xt, a, b)
        tv = _to_float(xv, a, b)
        if flatten:
            tt, tv = tt.reshape(len(tt), c * h * w), tv.reshape(len(tv), c * h * w)  # -1 fails on an empty split
        train_tf = ImageBatch((c, h, w), crop=crop, hflip=hflip, pad=pad, flatten=flatten) if crop or hflip else None
        val_tf = None
    if flatten:
        info.notes.append(f"images flattened to vectors of {c * h * w}")
    return tt, tv, (train_tf, val_tf)


def _to_float(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> torch.Tensor:
    """x * a + b per channel as a new float32 tensor (never written into the reader's array)."""
    t = torch.from_numpy(np.array(x, dtype=np.float32, copy=True))
    shape = (1, -1, 1, 1)
    return t.mul_(torch.tensor(a, dtype=torch.float32).view(shape)).add_(torch.tensor(b, dtype=torch.float32).view(
        shape))


class ImageBatch:
    """The per-batch transform of image data, vectorised over the batch.

    uint8 pixels become normalized float32 (`x * scale + shift` per channel); on training batches,
    `crop` pads by that many pixels (black) and takes a random H×W window per sample, `hflip` mirrors
    half the samples. Randomness comes from the generator the trainer passes, drawn on that generator's
    device and moved to the data's, so a seeded run repeats exactly.
    """

    def __init__(self, shape: tuple[int, int, int], *, scale=None, shift=None, crop: int = 0, hflip: bool = False,
                 pad=None, flatten: bool = False):
        self.shape = tuple(shape)
        self.scale = None if scale is None else torch.tensor(scale, dtype=torch.float32).view(1, -1, 1, 1)
        self.shift = None if shift is None else torch.tensor(shift, dtype=torch.float32).view(1, -1, 1, 1)
        self.crop = int(crop)
        self.hflip = bool(hflip)
        self.pad = torch.zeros(shape[0]) if pad is None else torch.tensor(pad, dtype=torch.float32)
        self.flatten = flatten
        self._on: dict = {}  # (name, device) → the constant on that device, copied once

    def _const(self, name: str, device) -> torch.Tensor:
        key = (name, str(device))
        found = self._on.get(key)
        if found is None:
            found = self._on[key] = getattr(self, name).to(device)
        return found

    def __repr__(self) -> str:
        parts = [f"shape={fmt_shape(self.shape)}"]
        if self.scale is not None:
            parts.append("uint8→float")
        if self.crop:
            parts.append(f"random_crop={self.crop}")
        if self.hflip:
            parts.append("hflip")
        return f"ImageBatch({', '.join(parts)})"

    def __call__(self, xs: tuple, generator: torch.Generator | None = None) -> tuple:
        x = xs[0]
        n = x.shape[0]
        x = x.reshape(n, *self.shape)
        if self.scale is not None:
            dev = x.device
            x = torch.addcmul(self._const("shift", dev), x.to(torch.float32), self._const("scale", dev))
        if self.crop and n:
            x = self._random_crop(x, generator)
        if self.hflip and n:
            flip = self._rand(n, generator, x.device) < 0.5
            x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
        if self.flatten:
            x = x.reshape(n, -1)
        return (x, *xs[1:])

    @staticmethod
    def _rand(n: int, generator, device) -> torch.Tensor:
        gdev = generator.device if generator is not None else torch.device("cpu")
        return torch.rand(n, generator=generator, device=gdev).to(device)

    def _random_crop(self, x: torch.Tensor, generator) -> torch.Tensor:
        """Pad by `crop` pixels and take an H×W window at a random offset per sample: one gather over the
        flattened padded image (2-3× faster than advanced indexing)."""
        n, c, h, w = x.shape
        p = self.crop
        hp, wp = h + 2 * p, w + 2 * p
        gdev = generator.device if generator is not None else torch.device("cpu")
        offsets = torch.randint(0, 2 * p + 1, (n, 2), generator=generator, device=gdev).to(x.device)
        padded = x.new_empty(n, c, hp, wp)
        padded.copy_(self._const("pad", x.device).to(x.dtype).view(1, c, 1, 1).expand(n, c, hp, wp))
        padded[:, :, p:p + h, p:p + w] = x
        window = (torch.arange(h, device=x.device).view(h, 1) * wp + torch.arange(w, device=x.device)).view(1, h * w)
        index = window + (offsets[:, 0] * wp + offsets[:, 1]).view(n, 1)
        return padded.view(n, c, hp * wp).gather(2, index.view(n, 1, h * w).expand(n, c, h * w)).view(n, c, h, w)


# --- vectors, sequences, text -----------------------------------------------------------------------


def _features(train: Raw, val: Raw, info: DataInfo, normalize: bool):
    xt = np.asarray(train.x, dtype=np.float32)
    xv = np.asarray(val.x, dtype=np.float32) if len(val) else np.zeros((0, *xt.shape[1:]), np.float32)
    if xv.shape[1:] != xt.shape[1:]:
        raise DataError(f"the validation data has samples of {fmt_shape(xv.shape[1:])} values but the training "
                        f"data has {fmt_shape(xt.shape[1:])}", path=val.where or None)
    # statistics per feature: the last axis of vectors and T×F sequences, the channel axis of C×L signals
    feature_axis = 1 if train.kind == SIGNAL else xt.ndim - 1
    axes = tuple(a for a in range(xt.ndim) if a != feature_axis)
    if normalize:
        mean = xt.mean(axis=axes, dtype=np.float64)
        std = xt.std(axis=axes, dtype=np.float64)
        std[std < 1e-8] = 1.0
    else:
        mean, std = np.zeros(xt.shape[feature_axis]), np.ones(xt.shape[feature_axis])
    info.normalization = {"kind": "per_channel" if train.kind == SIGNAL else "per_feature", "mean": mean.tolist(),
                          "std": std.tolist()}
    shape = [1] * xt.ndim
    shape[feature_axis] = -1
    m, s = mean.astype(np.float32).reshape(shape), std.astype(np.float32).reshape(shape)
    return torch.from_numpy((xt - m) / s), torch.from_numpy((xv - m) / s), (None, None)


def _text(train: Raw, val: Raw, opts: Options, info: DataInfo):
    tokenizer = opts.choice("tokenizer", "word", textlib.TOKENIZERS)
    vocab_size = opts.integer("vocab_size", 5000, 3, 10_000_000)
    seq_len = opts.integer("seq_len", 64, 1, 100_000)
    lowercase = opts.boolean("lowercase", True)
    padding = opts.choice("padding", "pre", ("pre", "post"))
    tok_t = [textlib.tokenize(t, tokenizer, lowercase) for t in train.x]
    tok_v = [textlib.tokenize(t, tokenizer, lowercase) for t in val.x]
    vocab = textlib.build_vocabulary(tok_t, vocab_size)
    info.vocabulary = vocab
    info.normalization = {"kind": "tokens", "tokenizer": tokenizer, "lowercase": lowercase, "seq_len": seq_len,
                          "padding": padding, "pad_id": textlib.PAD_ID, "unk_id": textlib.UNK_ID}
    lengths = np.array([len(t) for t in tok_t]) if tok_t else np.zeros(1)
    info.notes.append(f"{len(vocab):,} tokens in the vocabulary (0 = padding, 1 = unknown), built from the "
                      f"training part; texts have {int(np.median(lengths))} tokens (median), cut or padded to "
                      f"{seq_len}")
    xt = torch.from_numpy(textlib.encode(tok_t, vocab, seq_len, padding))
    xv = torch.from_numpy(textlib.encode(tok_v, vocab, seq_len, padding))
    return xt, xv, (None, None)


def _targets(train: Raw, val: Raw, xt, xv, opts: Options, info: DataInfo):
    if info.task == RECONSTRUCTION:
        if train.kind not in (IMAGE, VECTOR, SEQUENCE, SIGNAL):
            raise DataError(f"task reconstruction needs images, vectors or sequences; {info.name} gives "
                            f"{_kind_words(train.kind)}", option="task")
        info.target_shapes = [tuple(xt.shape[1:])]
        return xt, xv
    if info.task == CLASSIFICATION:
        info.target_shapes = [()]
        return (torch.from_numpy(np.asarray(train.y, dtype=np.int64)),
                torch.from_numpy(np.asarray(val.y, dtype=np.int64)))
    yt = np.asarray(train.y, dtype=np.float32).reshape(len(train.y), -1)
    yv = np.asarray(val.y, dtype=np.float32).reshape(len(val.y), yt.shape[1])
    if opts.boolean("normalize_target", False):
        mean = yt.mean(axis=0, dtype=np.float64)
        std = yt.std(axis=0, dtype=np.float64)
        std[std < 1e-8] = 1.0
        info.target_normalization = {"mean": mean.tolist(), "std": std.tolist()}
        yt = (yt - mean.astype(np.float32)) / std.astype(np.float32)
        yv = (yv - mean.astype(np.float32)) / std.astype(np.float32)
    info.target_shapes = [(yt.shape[1],)]
    return torch.from_numpy(np.ascontiguousarray(yt)), torch.from_numpy(np.ascontiguousarray(yv))


# --- time series ------------------------------------------------------------------------------------


def _windows(series: np.ndarray, window: int, horizon: int, first_target: int = 0):
    """Inputs N×window×1 and targets N×horizon for every window whose first target index is at least
    `first_target`."""
    from numpy.lib.stride_tricks import sliding_window_view

    span = window + horizon
    if len(series) < span:
        return np.zeros((0, window, 1), np.float32), np.zeros((0, horizon), np.float32)
    view = sliding_window_view(series, span)
    start = max(0, first_target - window)
    view = view[start:]
    return (np.ascontiguousarray(view[:, :window, None], dtype=np.float32),
            np.ascontiguousarray(view[:, window:], dtype=np.float32))


def _series(raw: Raw, opts: Options, val_fraction: float, val_raw: Raw | None, normalize: bool, notes: list[str],
            source: str) -> PreparedData:
    window = opts.integer("window", 30, 1, 100_000)
    horizon = opts.integer("horizon", 1, 1, 100_000)
    series = np.asarray(raw.x, dtype=np.float64)
    if val_raw is not None:
        train_part, val_series = series, np.asarray(val_raw.x, dtype=np.float64)
        split = None
        notes.append(f"validation data: {val_raw.where or val_raw.name} ({len(val_series):,} steps)")
    else:
        n_val = round(len(series) * val_fraction)
        split = len(series) - n_val
        train_part, val_series = series[:split], series
        if n_val:
            notes.append(f"split in time: the first {split:,} steps train, windows whose targets fall in the "
                         f"last {n_val:,} validate")
    if len(train_part) < window + horizon:
        raise DataError(f"{raw.name}: the training part has {len(train_part)} time steps, fewer than window + "
                        f"horizon = {window + horizon}; lower window or horizon, or the validation fraction",
                        option="window")
    if normalize:
        mean, std = float(train_part.mean()), float(train_part.std())
        std = std if std > 1e-12 else 1.0
    else:
        mean, std = 0.0, 1.0
    xt, yt = _windows((train_part - mean) / std, window, horizon)
    if split is None:
        xv, yv = _windows((val_series - mean) / std, window, horizon)
    elif split < len(series):
        xv, yv = _windows((series - mean) / std, window, horizon, first_target=split)
    else:
        xv, yv = np.zeros((0, window, 1), np.float32), np.zeros((0, horizon), np.float32)
    info = DataInfo(name=raw.name, task=REGRESSION, input_shapes=[(window, 1)], input_dtypes=["float32"],
                    target_shapes=[(horizon,)], train_size=len(xt), val_size=len(xv), notes=notes, kind=SERIES,
                    source=source,
                    normalization={"kind": "series", "mean": [mean], "std": [std]},
                    target_normalization={"mean": [mean] * horizon, "std": [std] * horizon})
    notes.append(f"windows of {window} steps predict the next {horizon}; values scaled by the training part's "
                 f"mean {mean:.4g} and std {std:.4g} (targets too)")
    return PreparedData(info, TensorSplit((torch.from_numpy(xt),), (torch.from_numpy(yt),)),
                      TensorSplit((torch.from_numpy(xv),), (torch.from_numpy(yv),)))
