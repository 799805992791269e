"""A generator's predictions: latent codes z ~ N(0, 1) decoded into images and laid out as a PNG grid.

    images = sample_images(model, 16, seed=0)     # n × C × H × W in 0–1 (model: a decoder, see models.py)
    write_grid(images, "grid.png")                # ceil(√n) columns, a 2-pixel gap between tiles

The codes are drawn exactly as model.py's `sample(n, seed=…)` draws them (`torch.randn` with a generator
seeded by `seed`), so the same seed gives the same images everywhere. Outputs that already lie in 0–1 (a
sigmoid's) are used as they are (clipped); any others are min–max scaled over the whole batch.
"""

from __future__ import annotations

import math

import numpy as np

from layerloom.core.predict.models import PredictError

GAP = 2  # pixels between tiles and around the grid
BACKGROUND = 128  # mid grey: the gap stands out on dark and on light images


def latent_codes(shape: list[int], n: int, seed: int | None = None):
    """n latent codes z ~ N(0, 1) of `shape` as a float32 tensor (seeded like model.py's sample())."""
    import torch

    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return torch.randn(n, *shape, generator=generator)


def as_images(out: np.ndarray, where: str) -> np.ndarray:
    """The decoder's output (n × C × H × W, C 1 or 3) in 0–1; PredictError in plain words when it is not
    an image."""
    out = np.asarray(out, dtype=np.float64)
    if out.ndim == 3:  # n × H × W: one channel
        out = out[:, None]
    if out.ndim != 4 or out.shape[1] not in (1, 3):
        shape = " × ".join(str(s) for s in out.shape[1:])
        raise PredictError(f"{where}: its output ({shape} per sample) is not an image (channels × height × width "
                           "with 1 or 3 channels); a PNG grid cannot show it")
    if not np.isfinite(out).all():
        raise PredictError(f"{where}: its output holds NaN or infinite values; the weights are broken")
    low, high = float(out.min()), float(out.max())
    if low >= 0.0 and high <= 1.0:
        return out
    return (out - low) / (high - low) if high > low else np.zeros_like(out)


def sample_images(model, n: int, seed: int | None = None) -> np.ndarray:
    """n images from the decoder `model` (a TrainedModel with a `latent` shape): n × C × H × W in 0–1."""
    z = latent_codes(model.latent, n, seed)
    return as_images(model.run(z), model.where)


def grid_layout(n: int) -> tuple[int, int]:
    """(rows, columns) of the grid for n images: ceil(√n) columns."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return math.ceil(n / cols), cols


def grid_pixels(images: np.ndarray) -> np.ndarray:
    """The grid as uint8: H × W (one channel) or H × W × 3; each value rounds its 0–1 value to 0–255."""
    n, c, h, w = images.shape
    rows, cols = grid_layout(n)
    grid = np.full((GAP + rows * (h + GAP), GAP + cols * (w + GAP), c), BACKGROUND, dtype=np.uint8)
    tiles = np.rint(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)
    for i in range(n):
        r, k = divmod(i, cols)
        y, x = GAP + r * (h + GAP), GAP + k * (w + GAP)
        grid[y:y + h, x:x + w] = tiles[i]
    return grid[:, :, 0] if c == 1 else grid


def write_grid(images: np.ndarray, path: str) -> tuple[int, int]:
    """Write the grid of `images` as a PNG at `path`; returns its (width, height)."""
    from PIL import Image

    pixels = grid_pixels(images)
    try:
        Image.fromarray(pixels).save(path, format="PNG")
    except OSError as err:
        raise PredictError(f"{path}: cannot be written ({err.strerror or err})") from None
    return pixels.shape[1], pixels.shape[0]
