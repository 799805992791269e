"""Data sets downloaded on first use into a per-user cache: `mnist`, `fashion_mnist`, `cifar10`.

The addresses and MD5 checksums are torchvision's (its dataset classes list them); the files land in
torchvision's folder layout (`<cache>/MNIST/raw/…`, `<cache>/cifar-10-batches-py/…`), so a cache that
torchvision filled works too. The download is ours so it can report progress and stop on request.

Reading is safe whatever the files hold: MNIST's IDX files are parsed directly, and CIFAR-10's python
batches, which are pickles, are read by an unpickler that can build nothing but plain containers and
byte arrays (its `find_class` maps numpy's array and dtype to inert stand-ins and refuses every other
global), so a tampered cache file cannot run code.

Cache folder: the `cache_dir` argument, else $LAYERLOOM_DATA_DIR, else ~/.cache/layerloom/datasets.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import re
import tarfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable

import numpy as np

from layerloom.core.data.base import CLASSIFICATION, IMAGE, DataError
from layerloom.core.data.options import Options
from layerloom.core.data.prepare import Raw

Progress = Callable[[int, int, str], None] | None

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def cache_root(cache_dir=None) -> str:
    if cache_dir:
        return os.path.abspath(os.path.expanduser(str(cache_dir)))
    env = os.environ.get("LAYERLOOM_DATA_DIR")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "layerloom", "datasets")


# --- where the files come from (torchvision's lists; tests replace these) ---------------------------


def mnist_resources(folder: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(mirrors, [(file name, md5)]) for torchvision's MNIST or FashionMNIST."""
    from torchvision import datasets

    cls = getattr(datasets, folder)
    return list(cls.mirrors), [tuple(r) for r in cls.resources]


def cifar_resource() -> tuple[str, str, str]:
    """(url, archive file name, md5) of CIFAR-10's python version."""
    from torchvision.datasets import CIFAR10

    return CIFAR10.url, CIFAR10.filename, CIFAR10.tgz_md5


# --- downloading ------------------------------------------------------------------------------------


def download(url: str, dest: str, md5: str | None, progress: Progress, cancel: threading.Event | None,
             label: str) -> None:
    """Fetch `url` to `dest` through a temporary file, checking the MD5; a set `cancel` stops it with
    DataError('cancelled') and leaves nothing behind."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = f"{dest}.{os.getpid()}.{threading.get_ident()}.part"
    digest = hashlib.md5(usedforsecurity=False)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "layerloom"})
        with urllib.request.urlopen(request, timeout=30) as resp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            if progress:
                progress(0, total, f"downloading {label}")
            while True:
                if cancel is not None and cancel.is_set():
                    raise DataError("cancelled")
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total, f"downloading {label}")
        if md5 and digest.hexdigest() != md5:
            raise DataError(f"the download of {label} from {url} is damaged (checksum mismatch); try again")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _fetch(mirrors: list[str], name: str, md5: str, dest: str, progress: Progress, cancel, label: str) -> None:
    problems = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name if not mirror.endswith(name) else mirror
        try:
            download(url, dest, md5, progress, cancel, label)
            return
        except DataError as exc:
            if str(exc) == "cancelled":
                raise
            problems.append(str(exc))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            problems.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
    raise DataError(f"could not download {label}: {'; '.join(problems)}. Check the internet connection, or put "
                    f"the file {name} into {os.path.dirname(dest)}", path=dest)


# --- MNIST and Fashion-MNIST (IDX files) ------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
    """An IDX file (MNIST's format), plain or gzipped: a magic number (0, 0, type, rank), the sizes as
    big-endian 32-bit numbers, then the values."""
    name = os.path.basename(path)
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot be read ({exc}); delete it to download it again", path=path) from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES or data[3] == 0:
        raise DataError(f"{name} is not an IDX file (bad magic number); delete it to download it again", path=path)
    rank = data[3]
    head = 4 + 4 * rank
    if len(data) < head:
        raise DataError(f"{name} is cut short (its header is incomplete)", path=path)
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - head != expected:
        raise DataError(f"{name} holds {len(data) - head:,} bytes of values where its header promises "
                        f"{expected:,}; delete it to download it again", path=path)
    return np.frombuffer(data, dtype=dtype, offset=head).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_file(folder: str, name: str) -> str | None:
    plain = os.path.join(folder, name[:-3] if name.endswith(".gz") else name)
    if os.path.exists(plain):
        return plain
    gz = os.path.join(folder, name)
    return gz if os.path.exists(gz) else None


def _mnist_like(label: str, folder: str, classes: list[str], opts: Options, cache_dir, progress, cancel) -> Raw:
    validation, limit = _download_options(opts)
    raw_dir = os.path.join(cache_root(cache_dir), folder, "raw")
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz"]
    if any(_idx_file(raw_dir, n) is None for n in names):
        mirrors, resources = mnist_resources(folder)
        for i, (name, md5) in enumerate(resources, 1):
            if _idx_file(raw_dir, name) is None:
                _fetch(mirrors, name, md5, os.path.join(raw_dir, name), progress, cancel,
                       f"{label} ({name}, file {i} of {len(resources)})")
    arrays = [read_idx(_idx_file(raw_dir, n)) for n in names]  # type: ignore[arg-type]
    parts = []
    for images, labels, what in ((arrays[0], arrays[1], "training"), (arrays[2], arrays[3], "test")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels) or images.dtype != np.uint8:
            raise DataError(f"the {label} {what} files in {raw_dir} do not fit together (images {images.shape}, "
                            f"labels {labels.shape}); delete them to download them again", path=raw_dir)
        if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
            raise DataError(f"the {label} {what} labels in {raw_dir} are outside 0..{len(classes) - 1}", path=raw_dir)
        parts.append((images[:limit, None], labels[:limit].astype(np.int64)))
    return _raw(label, parts, classes, validation, raw_dir)


def _download_options(opts: Options) -> tuple[str, int | None]:
    validation = opts.choice("validation", "test", ("test", "split"))
    limit = opts.integer("limit", None, 1)
    return validation, limit


def _raw(label: str, parts, classes, validation: str, where: str) -> Raw:
    (xt, yt), (xv, yv) = parts
    notes = [f"{label}: {len(xt):,} training and {len(xv):,} test images, from {where}"]
    raw = Raw(IMAGE, xt, yt, CLASSIFICATION, label, list(classes), notes, scale=255.0, where=label)
    if validation == "test":
        raw.val = Raw(IMAGE, xv, yv, CLASSIFICATION, label, list(classes), [], scale=255.0, where=f"{label} test set")
        notes.append("validation: the official test set (option validation: split takes a share of the training "
                     "set instead)")
    return raw


def mnist(opts: Options, cache_dir=None, progress: Progress = None, cancel=None) -> Raw:
    """MNIST handwritten digits: 60,000 + 10,000 grey 28×28 images, 10 classes."""
    return _mnist_like("mnist", "MNIST", [str(i) for i in range(10)], opts, cache_dir, progress, cancel)


def fashion_mnist(opts: Options, cache_dir=None, progress: Progress = None, cancel=None) -> Raw:
    """Fashion-MNIST: 60,000 + 10,000 grey 28×28 images of clothes, 10 classes."""
    return _mnist_like("fashion_mnist", "FashionMNIST", FASHION_CLASSES, opts, cache_dir, progress, cancel)


# --- CIFAR-10 (python batches, read without running pickle code) --------------------------------------


class _Marker:
    """Stands for numpy.ndarray inside a pickle."""


class _Dtype:
    """An inert stand-in for numpy.dtype: remembers the type code and the byte order."""

    def __init__(self, code, align=False, copy=False):
        self.code = code.decode("ascii") if isinstance(code, bytes) else str(code)
        self.order = "="

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) > 1:
            order = state[1].decode("ascii") if isinstance(state[1], bytes) else state[1]
            self.order = order if order in ("<", ">", "|", "=") else "="

    def numpy(self) -> np.dtype:
        if not re.fullmatch(r"[uif][1248]|b1", self.code):
            raise DataError(f"a CIFAR batch holds an array of type {self.code!r}; only plain numbers are read")
        dtype = np.dtype(self.code)
        return dtype.newbyteorder(self.order) if self.order in ("<", ">") else dtype


class _Array:
    """An inert stand-in for a pickled numpy array: keeps shape, dtype and bytes."""

    def __init__(self, *args):
        self.array: np.ndarray | None = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise DataError("a CIFAR batch holds an array in an unknown form")
        shape, dtype, fortran, data = state[-4:]
        if not isinstance(dtype, _Dtype) or not isinstance(shape, tuple) or not all(isinstance(s, int) for s in shape):
            raise DataError("a CIFAR batch holds an array in an unknown form")
        if isinstance(data, str):
            data = data.encode("latin-1")
        if not isinstance(data, bytes | bytearray):
            raise DataError("a CIFAR batch holds an array of objects; only plain numbers are read")
        dt = dtype.numpy()
        if len(data) != int(np.prod(shape)) * dt.itemsize:
            raise DataError("a CIFAR batch holds an array whose size does not match its shape")
        flat = np.frombuffer(bytes(data), dtype=dt)
        self.array = flat.reshape(shape, order="F" if fortran else "C").astype(dt.newbyteorder("="))


def _reconstruct(cls, shape, typecode):
    if cls is not _Marker:
        raise DataError("a CIFAR batch builds an array of an unknown type")
    return _Array()


def _encode(text, encoding="latin1"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise DataError("a CIFAR batch holds text in an unknown form")
    return text.encode(encoding)


_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _Marker,
    ("numpy", "dtype"): _Dtype,
    ("_codecs", "encode"): _encode,
}


class SafeUnpickler(pickle.Unpickler):
    """Builds only dicts, lists, tuples, numbers, strings, bytes and the inert stand-ins above."""

    def find_class(self, module, name):
        found = _SAFE_GLOBALS.get((module, name))
        if found is None:
            raise DataError(f"refuses to load {module}.{name} from a data file (only plain arrays are read)")
        return found

    def persistent_load(self, pid):
        raise DataError("refuses a persistent reference in a data file")


def _plain(value):
    """Stand-ins replaced by numpy arrays, bytes keys by text, throughout a loaded structure."""
    if isinstance(value, _Array):
        return value.array
    if isinstance(value, dict):
        return {(k.decode("latin-1") if isinstance(k, bytes) else k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def read_cifar_batch(path: str) -> dict:
    """One CIFAR python batch as {'data': N×3072 uint8, 'labels': [...], ...} without running any code."""
    name = os.path.basename(path)
    try:
        with open(path, "rb") as fh:
            loaded = SafeUnpickler(io.BytesIO(fh.read()), encoding="bytes").load()
    except DataError as exc:
        raise DataError(f"{path}: {exc}; delete it to download it again", path=path) from None
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError,
            KeyError) as exc:
        raise DataError(f"{path}: not a CIFAR-10 batch ({exc}); delete it to download it again", path=path) from None
    if not isinstance(loaded, dict):
        raise DataError(f"{name}: not a CIFAR-10 batch (it holds no dictionary)", path=path)
    return _plain(loaded)


def _cifar_part(folder: str, names, limit) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for name in names:
        path = os.path.join(folder, name)
        batch = read_cifar_batch(path)
        data, labels = batch.get("data"), batch.get("labels")
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(f"{path}: not a CIFAR-10 batch (no 'data' array of N×3072 bytes)", path=path)
        if not isinstance(labels, list) or len(labels) != len(data) or not all(
                isinstance(v, int) and 0 <= v < 10 for v in labels):
            raise DataError(f"{path}: not a CIFAR-10 batch ('labels' must be {len(data)} numbers 0..9)", path=path)
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(np.array(labels, dtype=np.int64))
    x, y = np.concatenate(xs), np.concatenate(ys)
    return x[:limit], y[:limit]


def _extract_cifar(archive: str, root: str) -> None:
    """Unpack only the batch files, by name, never trusting paths inside the archive."""
    wanted = {*CIFAR_TRAIN, CIFAR_TEST, "batches.meta"}
    os.makedirs(os.path.join(root, CIFAR_FOLDER), exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                base = os.path.basename(member.name)
                if member.isfile() and base in wanted and member.name == f"{CIFAR_FOLDER}/{base}":
                    src = tar.extractfile(member)
                    dest = os.path.join(root, CIFAR_FOLDER, base)
                    with open(dest + ".part", "wb") as out:
                        out.write(src.read())  # type: ignore[union-attr]
                    os.replace(dest + ".part", dest)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{archive}: cannot be unpacked ({exc}); delete it to download it again",
                        path=archive) from None


def cifar10(opts: Options, cache_dir=None, progress: Progress = None, cancel=None) -> Raw:
    """CIFAR-10: 50,000 + 10,000 colour 32×32 images, 10 classes."""
    validation, limit = _download_options(opts)
    root = cache_root(cache_dir)
    folder = os.path.join(root, CIFAR_FOLDER)
    needed = [*CIFAR_TRAIN, CIFAR_TEST]
    if any(not os.path.exists(os.path.join(folder, n)) for n in needed):
        url, filename, md5 = cifar_resource()
        archive = os.path.join(root, filename)
        if not os.path.exists(archive):
            _fetch([url], filename, md5, archive, progress, cancel, f"cifar10 ({filename})")
        _extract_cifar(archive, root)
        missing = [n for n in needed if not os.path.exists(os.path.join(folder, n))]
        if missing:
            raise DataError(f"{archive} lacks {', '.join(missing)}; delete it to download it again", path=archive)
        os.remove(archive)
    classes = CIFAR_CLASSES
    meta = os.path.join(folder, "batches.meta")
    if os.path.exists(meta):
        names = read_cifar_batch(meta).get("label_names")
        if isinstance(names, list) and len(names) == 10:
            classes = [n.decode("latin-1") if isinstance(n, bytes) else str(n) for n in names]
    parts = [_cifar_part(folder, CIFAR_TRAIN, limit), _cifar_part(folder, [CIFAR_TEST], limit)]
    return _raw("cifar10", parts, classes, validation, folder)
