"""A look at loaded data for the window: samples as they were before normalization, their labels, the
class counts of a split and the shape one sample has."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from layerloom.core.data import text as textlib
from layerloom.core.data.base import (
    CLASSIFICATION,
    IMAGE,
    RECONSTRUCTION,
    SERIES,
    SIGNAL,
    TEXT,
    DataError,
    PreparedData,
)


@dataclass
class Preview:
    """What `preview` gives.

    samples: one numpy array per sample, ready to show — images as uint8 H×W (grey) or H×W×C, vectors,
    sequences, signals and series windows in their original units, texts as their token ids.
    labels: class names, or target values (a float, or a list for several) in original units.
    class_counts: {class name: samples} over the whole split ({} without classes).
    sample_shapes: the shape one sample has as the model gets it, one per Input (batch left out).
    texts: the samples' texts, rebuilt from the tokens (text data only).
    """

    samples: list[np.ndarray]
    labels: list[Any]
    class_counts: dict[str, int]
    sample_shapes: list[tuple[int, ...]]
    kind: str = ""
    task: str = ""
    split: str = "train"
    size: int = 0  # samples in the split
    texts: list[str] | None = None
    notes: list[str] = field(default_factory=list)


def _unnormalize_images(x: np.ndarray, info) -> np.ndarray:
    """N×C×H×W as stored → uint8 N×C×H×W."""
    norm = info.normalization or {}
    if x.dtype == np.uint8:
        return x
    mean = np.asarray(norm.get("mean", [0.0]), dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(norm.get("std", [1.0]), dtype=np.float32).reshape(1, -1, 1, 1)
    unit = x.astype(np.float32) * std + mean  # 0..1
    return np.clip(np.round(unit * 255.0), 0, 255).astype(np.uint8)


def _unnormalize_features(x: np.ndarray, info) -> np.ndarray:
    norm = info.normalization or {}
    mean = np.asarray(norm.get("mean", [0.0]), dtype=np.float32)
    std = np.asarray(norm.get("std", [1.0]), dtype=np.float32)
    if info.kind == SIGNAL and x.ndim == 3:
        mean, std = mean.reshape(1, -1, 1), std.reshape(1, -1, 1)
    return x.astype(np.float32) * std + mean


def preview(prepared: PreparedData, n: int = 16, split: str = "train") -> Preview:
    """The first `n` samples of the `train` or `val` split (splits are already in random order)."""
    if split not in ("train", "val"):
        raise DataError(f"the split to preview must be 'train' or 'val' (got {split!r})")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise DataError(f"the number of samples to preview must be a whole number of at least 0 (got {n!r})")
    info = prepared.info
    part = prepared.train if split == "train" else prepared.val
    n = min(n, len(part))
    x = part.inputs[0][:n].detach().cpu().numpy()
    y = part.targets[0][:n].detach().cpu().numpy()
    texts = None
    if info.kind == IMAGE and info.image_shape is not None:
        images = _unnormalize_images(x.reshape(n, *info.image_shape), info)
        samples = [img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0) for img in images]
    elif info.kind == TEXT:
        samples = list(x.astype(np.int64))
        tokenizer = (info.normalization or {}).get("tokenizer", "word")
        texts = [textlib.decode(row.tolist(), info.vocabulary or [], tokenizer) for row in samples]
    else:
        data = _unnormalize_features(x, info)
        if data.ndim == 3 and data.shape[-1] == 1 and info.kind == SERIES:
            data = data[..., 0]
        samples = list(data)
    labels: list[Any]
    counts: dict[str, int] = {}
    if info.task == CLASSIFICATION:
        names = info.class_names or [str(i) for i in range(info.num_classes or 0)]
        labels = [names[int(v)] if 0 <= int(v) < len(names) else str(int(v)) for v in y]
        all_y = part.targets[0].detach().cpu().numpy().astype(np.int64)
        found = np.bincount(all_y, minlength=len(names)) if all_y.size else np.zeros(len(names), np.int64)
        counts = {names[i] if i < len(names) else str(i): int(c) for i, c in enumerate(found)}
    elif info.task == RECONSTRUCTION:
        labels = ["(the input itself)"] * n
    else:
        values = y.astype(np.float64).reshape(n, -1)
        tn = info.target_normalization
        if tn:
            values = values * np.asarray(tn["std"]) + np.asarray(tn["mean"])
        labels = [float(v[0]) if v.size == 1 else v.tolist() for v in values]
    return Preview(samples=samples, labels=labels, class_counts=counts, sample_shapes=list(info.input_shapes),
                   kind=info.kind, task=info.task, split=split, size=len(part), texts=texts, notes=list(info.notes))


def _shown_token(token: str, tokenizer: str) -> str:
    if tokenizer == "char":
        return {" ": "␣", "\t": "⇥", "\n": "↵"}.get(token, token)
    return token


def token_summary(info, ids=None, count: int = 8) -> list[str]:
    """How texts became token ids, in plain words (text data only; [] otherwise): the tokenizer, the
    vocabulary, the sequence length and padding, and — given one sample's `ids` — its text, its first
    `count` tokens and their ids."""
    norm = info.normalization or {}
    if norm.get("kind") != "tokens":
        return []
    vocab = list(info.vocabulary or [])
    tokenizer = norm.get("tokenizer", "word")
    pad_id, unk_id = int(norm.get("pad_id", textlib.PAD_ID)), int(norm.get("unk_id", textlib.UNK_ID))
    pieces = "words and punctuation marks" if tokenizer == "word" else "characters"
    case = "lower-cased" if norm.get("lowercase", True) else "case kept"
    side = "before" if norm.get("padding", "pre") == "pre" else "after"
    lines = [f"Tokenizer: {tokenizer} ({pieces}), {case}",
             f"Vocabulary: {len(vocab):,} tokens (id {pad_id} = padding, {unk_id} = a token not in the vocabulary)",
             f"Sequence length: {norm.get('seq_len', '?')} tokens; shorter texts are padded {side} the text, longer "
             "ones cut"]
    if ids is not None:
        kept = [int(i) for i in np.asarray(ids).reshape(-1) if int(i) != pad_id]
        first, more = kept[:count], " …" if len(kept) > count else ""
        tokens = [_shown_token(vocab[i] if 0 <= i < len(vocab) else textlib.UNK, tokenizer) for i in first]
        text = textlib.decode(kept, vocab, tokenizer)
        lines += [f"A sample: “{text[:80]}{'…' if len(text) > 80 else ''}”",
                  f"Its first tokens: {' · '.join(tokens)}{more}",
                  f"Their ids: {' '.join(str(i) for i in first)}{more}"]
    return lines
