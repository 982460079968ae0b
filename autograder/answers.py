"""Answers and their published values: how a check written once serves grading and the student kit.

A grading module (``source/<NN_name>/grading.py``, instructor-only) marks:

* ``@answer``: every function that computes a graded answer: a reference part, an oracle on
  plain inputs, a mistake formula. In grading it runs as written.
* ``@grading_only``: every function that draws hidden inputs or otherwise must not ship.

``autograder release`` turns the grading module into the public module students install
(:mod:`autograder.public_module`): each ``@answer`` body becomes a look-up in the values the
function returned on the public inputs (recorded while the public checks ran on the instructor's
solution and on every catalogued mistake, see :mod:`autograder.publish`), and each
``@grading_only`` body a refusal. So the student's notebook gets the same checks, messages and
hints on the public inputs, and nothing it installs can compute an answer for any other input.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .checks import CheckFailed

# Values a look-up accepts as "the same public input": release and a student's laptop may differ in
# the last bits of a cos or an exp (another CPU, another NumPy build).
MATCH_RTOL, MATCH_ATOL = 1e-9, 1e-12


class NotPublished(CheckFailed):
    """An answer asked for on an input that release did not record: only grading can compute it."""


class GradingOnly(Exception):
    """A part of a check that exists only where grading happens (hidden inputs)."""


# ---------------------------------------------------------------------------------------------
# Marking a grading module
# ---------------------------------------------------------------------------------------------

_recorders: list["Recorder"] = []
_depth = [0]


def answer(fn: Callable) -> Callable:
    """Mark ``fn`` as computing a graded answer. While a :class:`Recorder` is active, each
    outermost call is recorded with its arguments and result."""

    @functools.wraps(fn)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        if not _recorders or _depth[0]:
            return fn(*args, **kwargs)
        _depth[0] += 1
        try:
            result = fn(*args, **kwargs)
        finally:
            _depth[0] -= 1
        _recorders[-1].add(fn.__name__, args, kwargs, result)  # the name its public stub looks up
        return result

    recorded.__answer__ = True
    return recorded


def unrecorded(fn: Callable) -> Callable:
    """``fn`` (an ``@answer`` function or any other), never recorded: for the kit's parts that a
    student's code calls, whose inputs are the student's and no public check's."""
    if not _recorders or not getattr(fn, "__answer__", False):
        return fn

    @functools.wraps(fn)
    def quiet(*args: Any, **kwargs: Any) -> Any:
        _depth[0] += 1
        try:
            return fn(*args, **kwargs)
        finally:
            _depth[0] -= 1

    return quiet


def grading_only(fn: Callable) -> Callable:
    """Mark ``fn`` as grading-side only (hidden inputs): the public module refuses to run it."""
    fn.__grading_only__ = True
    return fn


def is_published_stub(fn: Any) -> bool:
    """True for a public module's stand-in of an ``@answer`` function (it only looks values up)."""
    return bool(getattr(fn, "__published__", False))


def recording() -> bool:
    """True while release records the solution's answers: checks then compute every hint's values
    (a mistake's values on the public inputs do not depend on the student's code)."""
    return bool(_recorders) and _recorders[-1].eager


# ---------------------------------------------------------------------------------------------
# Keys: what identifies a call
# ---------------------------------------------------------------------------------------------

def _is_tensor(obj: Any) -> bool:
    torch = __import__("sys").modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def shape_of(obj: Any) -> Any:
    """The exact part of an argument (types, shapes, dtypes, whole numbers, strings); floats and
    array values are compared approximately (:func:`close_values`)."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return "float"
    if isinstance(obj, (np.ndarray, np.generic)):
        return ("nd", np.asarray(obj).dtype.str, np.shape(obj))
    if _is_tensor(obj):
        return ("pt", str(obj.dtype), tuple(obj.shape))
    if isinstance(obj, (tuple, list)):
        return (type(obj).__name__, tuple(shape_of(x) for x in obj))
    if isinstance(obj, dict):
        return ("dict", tuple((shape_of(k), shape_of(v)) for k, v in obj.items()))
    if isinstance(obj, np.dtype):
        return ("ndt", obj.str)
    torch = __import__("sys").modules.get("torch")
    if torch is not None and isinstance(obj, torch.dtype):
        return ("tdt", str(obj))
    qualname = getattr(obj, "__qualname__", None)
    if callable(obj) and qualname and getattr(obj, "__module__", "").startswith("autograder"):
        return ("fn", obj.__module__.rsplit(".", 1)[-1], qualname)
    raise NotPublished(f"a {type(obj).__name__} argument is not a public input")


def _numbers(obj: Any) -> list[np.ndarray]:
    """The approximate part of an argument, as flat float64 arrays in a fixed order."""
    if isinstance(obj, float):
        return [np.array([obj])]
    if isinstance(obj, (np.ndarray, np.generic)):
        arr = np.asarray(obj)
        return [arr.astype(np.complex128 if arr.dtype.kind == "c" else np.float64).ravel()]
    if _is_tensor(obj):
        return _numbers(obj.detach().cpu().numpy())
    if isinstance(obj, (tuple, list)):
        return [a for x in obj for a in _numbers(x)]
    if isinstance(obj, dict):
        return [a for k, v in obj.items() for a in (*_numbers(k), *_numbers(v))]
    return []


def signature_key(name: str, args: tuple, kwargs: dict) -> str:
    """A hash of the call's exact part: the bucket a recorded call is filed under."""
    exact = repr((name, shape_of(tuple(args)), shape_of(dict(sorted(kwargs.items())))))
    return hashlib.sha256(exact.encode()).hexdigest()[:24]


def close_values(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    """The numbers of two calls agree within :data:`MATCH_RTOL` (NaN matches NaN)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.shape != y.shape or not np.allclose(x, y, rtol=MATCH_RTOL, atol=MATCH_ATOL, equal_nan=True):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Recording (release) and looking up (the student kit)
# ---------------------------------------------------------------------------------------------

class Recorder:
    """The answers one release computes, by function and call: ``{key: [(numbers, result)]}``."""

    def __init__(self) -> None:
        self.eager = True
        self.entries: dict[str, list[tuple[list[np.ndarray], Any, str]]] = {}

    def add(self, name: str, args: tuple, kwargs: dict, result: Any) -> None:
        try:
            key = signature_key(name, args, kwargs)
        except NotPublished:
            return  # a call on something that is no public input (a student's object): not publishable
        numbers = _numbers((tuple(args), dict(sorted(kwargs.items()))))
        bucket = self.entries.setdefault(key, [])
        if not any(close_values(numbers, seen) for seen, _, _ in bucket):
            bucket.append((numbers, _copy(result), name))

    @contextlib.contextmanager
    def active(self):
        _recorders.append(self)
        try:
            yield self
        finally:
            _recorders.pop()

    def __len__(self) -> int:
        return sum(len(b) for b in self.entries.values())


def _copy(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    if _is_tensor(value):
        return value.detach().clone()
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _codec():
    from .grading.wire import Decoder, Encoder, Mirror, WireError

    def refuse(obj: Any) -> dict:
        raise WireError(f"an answer of type {type(obj).__name__} cannot be published")

    return Encoder(Mirror(), refuse, pair_new=False), lambda arrays: Decoder(Mirror(), arrays, refuse, pair_new=False)


def save(recorder: Recorder, path: Path, recorded_from: str) -> int:
    """Write the recorded answers to ``path`` (one compressed ``.npz`` of the wire's tree and arrays, plain data
    only) with ``recorded_from``, the fingerprint of what they were recorded from; return their count."""
    import json
    encoder, _ = _codec()
    tree = {key: [[encoder.encode(tuple(numbers)), encoder.encode(result), name] for numbers, result, name in bucket]
            for key, bucket in sorted(recorder.entries.items())}
    meta = {"answers": tree, "recorded_from": recorded_from}
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    payload.update({f"a{i}": np.require(a, requirements="C") for i, a in enumerate(encoder.arrays)})  # keeps 0-d
    np.savez_compressed(path, **payload)
    return len(recorder)


def recorded_from(path: Path) -> str | None:
    """The fingerprint a published file was recorded from (None when missing or unreadable)."""
    from .grading.wire import WireError, read_archive
    try:
        meta, _ = read_archive(path, 1 << 31)
    except WireError:
        return None
    return meta.get("recorded_from")


class Published:
    """The answers one public module may look up, loaded from its ``.npz`` on first use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._entries: dict[str, list[tuple[list[np.ndarray], Any]]] | None = None

    def _load(self) -> dict:
        if self._entries is None:
            from .grading.wire import read_archive
            if not self.path.is_file():
                raise NotPublished(f"the published answers {self.path.name} are missing from the kit: "
                                   "reinstall it")
            meta, arrays = read_archive(self.path, 1 << 31)
            _, decoder = _codec()
            decode = decoder(arrays).decode
            self._entries = {key: [([np.asarray(a) for a in decode(numbers)], decode(result))
                                   for numbers, result, _ in bucket]
                             for key, bucket in meta.get("answers", {}).items()}
        return self._entries

    def lookup(self, name: str, args: tuple, kwargs: dict) -> Any:
        key = signature_key(name, args, kwargs)
        numbers = _numbers((tuple(args), dict(sorted(kwargs.items()))))
        for seen, result in self._load().get(key, []):
            if close_values(numbers, seen):
                return _copy(result)
        raise NotPublished(f"this public check needs a value the course did not publish ({name} on these inputs). "
                           "Public checks run on fixed inputs; if you edited this test cell, restore it (grading "
                           "always runs the instructor's copy).")


def published_stub(published: Published, name: str, doc: str | None) -> Callable:
    """The public module's stand-in for the ``@answer`` function ``name``."""

    def stub(*args: Any, **kwargs: Any) -> Any:
        return published.lookup(name, args, kwargs)

    stub.__name__ = stub.__qualname__ = name
    stub.__doc__ = doc
    stub.__published__ = True
    return stub


def refused_stub(name: str) -> Callable:
    """The public module's stand-in for a ``@grading_only`` function."""

    def stub(*args: Any, **kwargs: Any) -> Any:
        raise GradingOnly(f"{name} runs only where grading happens (hidden inputs)")

    stub.__name__ = stub.__qualname__ = name
    return stub
