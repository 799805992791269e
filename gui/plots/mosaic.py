"""Many small images (or vectors) as one picture for an ImageItem: a grid with one-pixel gaps, row-major, with
row 0 at the top.

    picture, levels = mosaic(images, cols=8)       # images: N×C×H×W, N×H×W or N×F (vectors: one row each)
"""

from __future__ import annotations

import numpy as np


def as_images(values: np.ndarray) -> np.ndarray:
    """N×H×W (grey) or N×H×W×3 (colour) from N×C×H×W, N×H×W or N×F (each vector a 1×F strip)."""
    a = np.asarray(values, dtype=np.float32)
    if a.ndim == 2:
        return a[:, None, :]
    if a.ndim == 4:
        if a.shape[1] == 1:
            return a[:, 0]
        return np.moveaxis(a[:, :3], 1, -1) if a.shape[1] >= 3 else a[:, 0]
    return a


def mosaic(values: np.ndarray, cols: int, gap: int = 1) -> tuple[np.ndarray, tuple[float, float]]:
    """The images of `values` laid out `cols` to a row (gaps filled with the lowest value), and the levels
    (lowest, highest) to show them with."""
    images = as_images(values)
    n = len(images)
    cols = max(1, min(cols, n))
    rows = max(1, -(-n // cols))
    h, w = images.shape[1:3]
    finite = images[np.isfinite(images)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if high <= low:
        high = low + 1.0
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, *images.shape[3:]), low, dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = image
    return out, (low, high)
