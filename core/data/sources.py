"""The catalogue of named data sources, and `load_data`, which turns a name or a path into a PreparedData."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass

from layerloom.core.data.base import DataError, PreparedData
from layerloom.core.data.options import ALL_OPTIONS, Options

BUILT_IN, DOWNLOAD, SYNTHETIC = "built-in", "download", "synthetic"


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # BUILT_IN, DOWNLOAD or SYNTHETIC
    description: str
    loader: str  # "module:function" under layerloom.core.data, imported on use


SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("digits", BUILT_IN, "Handwritten digits, 1,797 grey 8×8 images, 10 classes (1×8×8; flatten: true → 64; "
           "resize: [28, 28] → 1×28×28)", "builtin:digits"),
    Source("iris", BUILT_IN, "Iris flowers: 150 samples of 4 measurements, 3 species", "builtin:table:iris"),
    Source("wine", BUILT_IN, "Wines: 178 samples of 13 chemical measurements, 3 cultivars", "builtin:table:wine"),
    Source("breast_cancer", BUILT_IN, "Breast cancer diagnosis: 569 samples of 30 features, 2 classes",
           "builtin:table:breast_cancer"),
    Source("synthetic_text", SYNTHETIC, "Short movie reviews, positive or negative: token ids of 64 (vocab_size, "
           "seq_len)", "synthetic:synthetic_text"),
    Source("synthetic_sequences", SYNTHETIC, "Noisy 50×8 sequences, 4 classes by the frequency they follow",
           "synthetic:synthetic_sequences"),
    Source("synthetic_waveforms", SYNTHETIC, "Signals of 1×128: sine, square, sawtooth or triangle waves with noise",
           "synthetic:synthetic_waveforms"),
    Source("sine", SYNTHETIC, "A noisy sine to forecast: 30 steps → the next 1 (window, horizon)", "synthetic:sine"),
    Source("long_memory", SYNTHETIC, "50 words; the label is the first word, the rest noise: a simple RNN forgets "
           "it, a GRU keeps it (seq_len, vocab_size, classes)", "synthetic:long_memory"),
    Source("mnist", DOWNLOAD, "MNIST handwritten digits: 60,000 + 10,000 grey 28×28 images, 10 classes (11 MB)",
           "downloads:mnist"),
    Source("fashion_mnist", DOWNLOAD, "Fashion-MNIST: 60,000 + 10,000 grey 28×28 images of clothes, 10 classes "
           "(30 MB)", "downloads:fashion_mnist"),
    Source("cifar10", DOWNLOAD, "CIFAR-10: 50,000 + 10,000 colour 32×32 images, 10 classes (163 MB)",
           "downloads:cifar10"),
)}
ALIASES = {"fashion-mnist": "fashion_mnist", "fashionmnist": "fashion_mnist", "cifar-10": "cifar10",
           "cifar": "cifar10", "breast-cancer": "breast_cancer", "sin": "sine"}


def list_sources() -> list[tuple[str, str, str]]:
    """Every named source as (name, kind "built-in" / "download" / "synthetic", one-line description)."""
    return [(s.name, s.kind, s.description) for s in SOURCES.values()]


def _loader(spec: str) -> Callable:
    import importlib

    module, _, rest = spec.partition(":")
    func, _, arg = rest.partition(":")
    fn = getattr(importlib.import_module(f"layerloom.core.data.{module}"), func)
    return fn(arg) if arg else fn


def loads_at_once(source: str) -> bool:
    """Whether `source` is a data set that ships with the packages or is generated (no download, no file
    to read): cheap enough to load for a preview without being asked."""
    if not isinstance(source, str) or not source.strip() or os.path.exists(source.strip()):
        return False
    key = source.strip().lower()
    named = SOURCES.get(ALIASES.get(key, key))
    return named is not None and named.kind in (BUILT_IN, SYNTHETIC)


def _looks_like_path(source: str) -> bool:
    return any(sep in source for sep in ("/", "\\")) or os.path.splitext(source)[1] != "" or source.startswith("~")


def _read(source: str, opts: Options, cache_dir, progress, cancel):
    """The Raw of a source name or path."""
    from layerloom.core.data import files, image_folder
    from layerloom.core.resources import not_regular

    if not isinstance(source, str) or not source.strip():
        raise DataError(f"the data source must be a data set name such as 'digits' or a file path (got {source!r})")
    key = source.strip()
    named = SOURCES.get(ALIASES.get(key.lower(), key.lower()))
    if named is not None and not os.path.exists(key):
        fn = _loader(named.loader)
        if named.kind == DOWNLOAD:
            return fn(opts, cache_dir=cache_dir, progress=progress, cancel=cancel)
        return fn(opts)
    path = os.path.expanduser(key)
    if os.path.isdir(path):
        return image_folder.read_image_folder(path, opts)
    if not os.path.exists(path):
        if not _looks_like_path(key):
            close = difflib.get_close_matches(key.lower(), [*SOURCES, *ALIASES], n=1, cutoff=0.5)
            hint = f"; did you mean {ALIASES.get(close[0], close[0])!r}?" if close else ""
            raise DataError(f"unknown data source {key!r}{hint} Known sources: {', '.join(SOURCES)}; or give the "
                            "path of a folder of images, a .npz, .csv, .tsv or .txt file")
        raise DataError(f"file not found: {path}", path=path)
    odd = not_regular(path, "data file")  # a pipe or a device (/dev/zero) could block or never end
    if odd is not None:
        raise DataError(str(odd), path=path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        return files.read_npz(path, opts)
    if ext in (".csv", ".tsv", ".txt", ""):
        return files.read_delimited(path, opts)  # no extension: lines of text, like .txt
    if ext == ".npy":
        raise DataError(f"{os.path.basename(path)}: a single .npy array has no labels; save inputs and labels "
                        "together with np.savez(path, x=..., y=...)", path=path)
    raise DataError(f"{os.path.basename(path)}: unknown kind of data file ({ext or 'no extension'}); give a folder "
                    "of images (one sub-folder per class), a .npz, .csv, .tsv or .txt file", path=path)


def load_data(source: str, options: dict | None = None, *, val_fraction: float = 0.2, seed: int = 0,
              val_source: str | None = None, cache_dir=None, progress=None, cancel=None) -> PreparedData:
    """Load a data source into a PreparedData (training and validation tensors and their description).

    `source`: a name from `list_sources()` or a path — a folder of images (one sub-folder per class), a
    .npz (arrays x and y), a .csv (a table; texts with labels or a time series by the options or by what
    the columns hold), a .tsv or .txt (texts with labels). `options` shape the data (resize, flatten,
    random_crop, hflip, seq_len, window, …; an unknown name is refused). The validation part is
    `val_fraction` of the samples chosen with `seed` (the end of a time series; the official test set of a
    download), or the file `val_source` read with the same options. Normalization is fitted on the
    training part only. `progress(done, total, message)` follows downloads; setting the threading.Event
    `cancel` stops one with DataError("cancelled")."""
    from layerloom.core.data.prepare import prepare

    opts = Options(options, str(source))
    opts.check_names(ALL_OPTIONS)  # a typo is refused before anything is read or downloaded
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(f"the seed must be a whole number of at least 0 (got {seed!r})", option="seed")
    try:
        raw = _read(source, opts, cache_dir, progress, cancel)
        val_raw = None
        if val_source is not None:
            val_raw = _read(val_source, opts, cache_dir, progress, cancel)
        prepared = prepare(raw, opts, val_fraction=val_fraction, seed=seed, val_raw=val_raw, source=str(source))
    except OSError as exc:  # a disk or permission problem the readers did not word themselves
        where = getattr(exc, "filename", None) or source
        raise DataError(f"{where}: cannot be read ({exc.strerror or exc})", path=str(where)) from None
    except MemoryError:
        raise DataError(f"{source}: not enough memory to load this data; use a smaller set or the option "
                        "limit (downloads) or resize to a smaller size") from None
    except DataError:
        raise
    except Exception as exc:  # text, images or memory the readers did not word themselves; bugs go on as they are
        from layerloom.core.errors_text import plain

        text = plain(exc, str(source))
        if text is None:
            raise
        raise DataError(text, path=str(source)) from None
    opts.check_unknown()
    return prepared
