"""Reading a folder of images, one sub-folder per class (cats/, dogs/): decoded to one size and colour mode,
with the memory they take counted from each image's header before it is decoded. Gives a `Raw` for `prepare`.
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np

from layerloom.core.data.base import CLASSIFICATION, IMAGE, RECONSTRUCTION, DataError
from layerloom.core.data.labels import task_option
from layerloom.core.data.options import Options
from layerloom.core.data.prepare import Raw

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")


def read_image_folder(path: str, opts: Options) -> Raw:
    """A folder with one sub-folder of images per class. Options: `color` (auto, grayscale, rgb),
    `resize` [H, W] (default: the most common size; images of other sizes are resized to it)."""
    from PIL import Image, UnidentifiedImageError

    color = opts.choice("color", "auto", ("auto", "grayscale", "rgb"))
    resize = opts.size("resize")
    task = task_option(opts)
    if task not in (None, CLASSIFICATION, RECONSTRUCTION):
        raise opts.error("task", "classification or reconstruction for a folder of images")
    name = os.path.basename(os.path.normpath(path))
    try:
        entries = sorted(e for e in os.listdir(path) if not e.startswith("."))
    except OSError as exc:
        raise DataError(f"cannot read the folder {path}: {exc.strerror or exc}", path=path) from None
    classes = [e for e in entries if os.path.isdir(os.path.join(path, e))]
    if not classes:
        loose = [e for e in entries if e.lower().endswith(IMAGE_EXTENSIONS)]
        hint = (f" (it holds {len(loose)} images directly; move them into one sub-folder per class, "
                "such as cats/ and dogs/)" if loose else "")
        raise DataError(f"the folder {path} has no class sub-folders{hint}; an image folder needs one sub-folder "
                        "of images per class", path=path)
    files: list[tuple[str, int]] = []
    used: list[str] = []
    empty: list[str] = []
    for cls in classes:
        folder = os.path.join(path, cls)
        images = sorted(f for f in os.listdir(folder)
                        if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
        if not images:
            empty.append(cls)
            continue
        files.extend((os.path.join(folder, f), len(used)) for f in images)
        used.append(cls)
    if not files:
        raise DataError(f"the class sub-folders of {path} hold no images (looked for "
                        f"{', '.join(IMAGE_EXTENSIONS)})", path=path)
    if len(used) < 2 and task != RECONSTRUCTION:
        raise DataError(f"the folder {path} has images of one class only ({used[0]!r}); add a sub-folder per "
                        "class, at least two", path=path)
    notes = [f"{len(files):,} images in {len(used)} classes (one per sub-folder)"]
    if empty:
        notes.append("sub-folders without images left out: " + ", ".join(empty))

    arrays: list[np.ndarray] = []
    gray_modes = {"1", "L", "LA", "I", "I;16", "F", "P"}
    all_gray = True
    memory = _ImageMemory(path, len(files))
    for f, _ in files:
        try:
            with _open_image(f) as img:
                memory.add(f, img)
                img.load()
                mode = img.mode
                if mode == "P":
                    img = img.convert("RGBA")
                    mode = "RGBA"
                is_gray = mode in gray_modes
                all_gray &= is_gray
                if mode in ("I", "I;16", "F"):
                    a = np.asarray(img, dtype=np.float64)
                    top = a.max() if a.max() > 255 else 255.0
                    rgb = Image.fromarray(np.clip(a / top * 255, 0, 255).astype(np.uint8)).convert("RGB")
                else:
                    rgb = img.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DataError(f"{f}: cannot be read as an image ({exc})", path=f) from None
        arrays.append(rgb)  # type: ignore[arg-type]
    sizes = Counter((im.height, im.width) for im in arrays)  # type: ignore[attr-defined]
    target = resize or sizes.most_common(1)[0][0]
    if resize is None and len(sizes) > 1:
        notes.append(f"images have {len(sizes)} sizes; all resized to the most common, {target[0]}×{target[1]} "
                     "(set the option resize to choose)")
    elif resize is not None:
        notes.append(f"resized to {resize[0]}×{resize[1]}")
    channels = 1 if color == "grayscale" or (color == "auto" and all_gray) else 3
    x = np.empty((len(arrays), channels, *target), dtype=np.uint8)
    for i, im in enumerate(arrays):
        if (im.height, im.width) != tuple(target):  # type: ignore[attr-defined]
            im = im.resize((target[1], target[0]), Image.BILINEAR)  # type: ignore[attr-defined]
        if channels == 1:
            x[i, 0] = np.asarray(im.convert("L"))  # type: ignore[attr-defined]
        else:
            x[i] = np.asarray(im).transpose(2, 0, 1)
    arrays.clear()
    y = np.array([c for _, c in files], dtype=np.int64)
    return Raw(IMAGE, x, y, task or CLASSIFICATION, name, used, notes, scale=255.0, resized_to=tuple(target),
               where=path)


class _ImageMemory:
    """The memory a folder's decoded images take, counted from each image's header before it is decoded:
    a DataError when one image is too large, or the images together would not fit the memory."""

    def __init__(self, folder: str, count: int):
        from layerloom.core.resources import memory_budget

        self.folder = folder
        self.count = count
        self.total = 0
        self.seen = 0
        self.budget = memory_budget()

    def add(self, file: str, img) -> None:
        from layerloom.core.resources import MAX_IMAGE_PIXELS, check_fits, image_too_large

        width, height = img.size
        if width * height > MAX_IMAGE_PIXELS:
            raise DataError(f"{file}: {image_too_large(width, height)}", path=file)
        self.total += width * height * (len(img.getbands()) + 3)  # decoded, and its RGB copy
        self.seen += 1
        if self.budget is not None and self.total > self.budget:
            from layerloom.core.resources import MemoryLimitError

            try:
                check_fits(self.total * self.count // self.seen,
                           f"the {self.count:,} images of {self.folder} (at the size of the first {self.seen:,})")
            except MemoryLimitError as err:
                raise DataError(str(err), path=self.folder) from None


def _open_image(file: str):
    """Image.open of a regular file, with PIL's own size refusal worded as ours (and its warning silenced:
    our limit is checked right after)."""
    import warnings

    from PIL import Image

    from layerloom.core.resources import NotRegularFile, check_regular, image_too_large

    try:
        check_regular(file, "image file")
    except NotRegularFile as err:
        raise DataError(str(err), path=file) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(file)
    except Image.DecompressionBombError as err:
        import re

        pixels = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(pixels.group(1)):,} pixels" if pixels else "too many pixels"
        raise DataError(f"{file}: {image_too_large(None, None, size)}", path=file) from None
