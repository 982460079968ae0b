"""How values cross between the grading process and the student's kernel: plain data only.

A message is one file: a JSON tree and the numeric arrays its nodes refer to by number (the
layout is at ``FRAME_MAGIC``). Nothing is pickled, so a hostile kernel can send back numbers,
strings and structure, never an object with code in it (an ``__eq__`` that always says equal, say).

The tree's nodes:

=========================  ===============================================================
``null, true, 1, 2.5, "s"``  themselves (a float that JSON cannot hold, NaN or inf, included)
``[...]``                    a list
``{"$tu": [...]}``           a tuple
``{"$di": [[k, v], ...]}``   a dict (keys are encoded too)
``{"$nd": i}``               a NumPy array of a numeric or bool dtype (the message's ``i``-th array)
``{"$np": i}``               a NumPy scalar (a 0-d array ``i``)
``{"$pt": i, "dt": d, "rg": b, "dev": s}``  a torch tensor: its values, dtype, requires_grad, device
``{"$rng": state}``          a ``numpy.random.Generator`` (its bit generator's state)
``{"$it": [...]}``           an iterator (a generator's items, drawn to the end by the kernel)
``{"$tdt": s}, {"$ndt": s}`` a torch or NumPy dtype
``{"$h": n, ...}``           a handle: an object that stays in the kernel (a student's function)
``{"$fn": "module:name"}``   one of the kit's own functions, looked up by name on the other side
=========================  ===============================================================

Arrays, tensors, lists, dicts and generators may also carry ``"k"``: the id of the pair of
objects, one on each side, that stand for the same thing. The two sides keep paired objects in
step, so an array the student's function changes in place changes in the grader too, as it would
if the check had called the function directly (see :class:`Mirror`).
"""
from __future__ import annotations

import base64
import errno
import functools
import inspect
import io
import json
import math
import os
import re
import secrets
import stat
from typing import Any, Callable

import numpy as np

NUMERIC_KINDS = "biufc"
MAX_DEPTH = 64
MAX_NODES = 200_000
# A request's or a part call's token, as the test cell's channel carries it (the file names are built from it).
TOKEN = re.compile(r"[0-9a-f-]{1,40}")


class WireError(Exception):
    """A value that may not cross, or a message that is not well formed."""


def _torch():
    import torch
    return torch


def _is_tensor(obj: Any) -> bool:
    torch = __import__("sys").modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def _tensor_to_numpy(t) -> tuple[np.ndarray, str]:
    torch = _torch()
    t = t.detach()
    dtype = str(t.dtype).removeprefix("torch.")
    if t.dtype in (torch.bfloat16,):
        t = t.float()
    return t.cpu().numpy(), dtype


def _tensor_from_numpy(arr: np.ndarray, dtype: str, requires_grad: bool, device: str):
    torch = _torch()
    t = torch.from_numpy(np.array(arr, copy=True)).to(getattr(torch, dtype))
    if device != "cpu":
        t = t.to(device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def kit_function_name(fn: Any) -> str | None:
    """``"module:qualname"`` for a function of the kit (``autograder``) that can be found again by name."""
    if not (inspect.isfunction(fn) or isinstance(fn, type)):
        return None
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if not module or not qualname or not module.startswith("autograder") or "<" in qualname:
        return None
    return f"{module}:{qualname}"


def find_kit_function(name: str) -> Callable:
    import importlib
    module, _, qualname = name.partition(":")
    if not module.startswith("autograder"):
        raise WireError(f"{name!r} is not one of the kit's functions")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def is_kit_object(obj: Any) -> bool:
    """An instance of one of the kit's own classes (a spy a check hands the student's code), sent by
    value: its class by name and its attributes as plain data."""
    kind = type(obj)
    return (kind.__module__.startswith("autograder.") and hasattr(obj, "__dict__")
            and not getattr(kind, "_wire_handle", False) and not isinstance(obj, (type, BaseException))
            and not inspect.isroutine(obj) and not inspect.ismodule(obj))


class Mirror:
    """The objects one side shares with the other, by pair id ``k``.

    Only the kernel hands out ids. Each side keeps its object for an id; when a node with a
    known ``k`` arrives, the contents are written into that same object (so aliases and in-place
    changes carry over). The kernel's side (``track_changes``) also keeps a snapshot of what was
    last sent, to tell which objects a call changed; the grader's side never asks.
    """

    def __init__(self, track_changes: bool = False) -> None:
        self.objects: dict[int, Any] = {}
        self.ids: dict[int, int] = {}  # id(object) -> k
        self.snapshots: dict[int, bytes] = {}
        self.track_changes = track_changes
        self._next = 1

    def clear(self) -> None:
        self.objects.clear()
        self.ids.clear()
        self.snapshots.clear()

    def id_of(self, obj: Any) -> int | None:
        k = self.ids.get(id(obj))
        return k if k is not None and self.objects.get(k) is obj else None

    def pair(self, obj: Any, k: int | None = None) -> int:
        if k is None:
            k, self._next = self._next, self._next + 1
        old = self.objects.get(k)
        if old is not None:
            self.ids.pop(id(old), None)
        self.objects[k] = obj
        self.ids[id(obj)] = k
        self.snap(k, obj)
        return k

    def snap(self, k: int, obj: Any) -> None:
        """Record ``obj``'s contents as last seen by both sides (kernel side only)."""
        if self.track_changes:
            self.snapshots[k] = fingerprint(obj)

    def changed(self) -> list[tuple[int, Any]]:
        """Paired arrays, tensors and generators whose contents changed since they last crossed."""
        out = []
        for k, obj in self.objects.items():
            if isinstance(obj, (dict, list)):
                continue
            now = fingerprint(obj)
            if now != self.snapshots.get(k):
                self.snapshots[k] = now
                out.append((k, obj))
        return out


def fingerprint(obj: Any) -> bytes:
    if isinstance(obj, np.ndarray):
        return obj.dtype.str.encode() + repr(obj.shape).encode() + obj.tobytes()
    if _is_tensor(obj):
        arr, dtype = _tensor_to_numpy(obj)
        return dtype.encode() + repr(arr.shape).encode() + arr.tobytes()
    if isinstance(obj, np.random.Generator):
        return json.dumps(obj.bit_generator.state, sort_keys=True).encode()
    return b""


class Encoder:
    """Turn a value into a tree and a list of arrays.

    ``other`` decides what to do with a value the tree has no node for: the kernel makes it a
    handle, the grader refuses it (``WireError``).
    """

    def __init__(self, mirror: Mirror, other: Callable[[Any], dict], *, pair_new: bool) -> None:
        self.mirror, self.other, self.pair_new = mirror, other, pair_new
        self.arrays: list[np.ndarray] = []
        self.fresh: dict[int, Any] = {}  # host: unpaired objects sent, by the "h" number they were sent under
        self._nodes = 0

    def _array(self, arr: np.ndarray) -> int:
        self.arrays.append(arr)
        return len(self.arrays) - 1

    def _pairing(self, obj: Any, node: dict) -> dict:
        k = self.mirror.id_of(obj)
        if k is None and self.pair_new:
            k = self.mirror.pair(obj)
        if k is not None:
            node["k"] = k
            self.mirror.snap(k, obj)
        else:
            node["h"] = len(self.fresh)
            self.fresh[node["h"]] = obj
        return node

    def encode(self, obj: Any, depth: int = 0) -> Any:
        self._nodes += 1
        if depth > MAX_DEPTH or self._nodes > MAX_NODES:
            raise WireError(f"the value is nested more than {MAX_DEPTH} deep or has over {MAX_NODES:,} parts")
        if isinstance(obj, np.generic) and np.dtype(type(obj)).kind in NUMERIC_KINDS:
            return {"$np": self._array(np.asarray(obj))}  # before float: np.float64 is one, and keeps its type
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind not in NUMERIC_KINDS:
                return self.other(obj)
            return self._pairing(obj, {"$nd": self._array(obj)})
        if _is_tensor(obj):
            arr, dtype = _tensor_to_numpy(obj)
            return self._pairing(obj, {"$pt": self._array(arr), "dt": dtype, "rg": bool(obj.requires_grad),
                                       "dev": str(obj.device)})
        if isinstance(obj, tuple):
            return {"$tu": [self.encode(x, depth + 1) for x in obj]}
        if isinstance(obj, list):
            node = self._pairing(obj, {"$li": [self.encode(x, depth + 1) for x in obj]})
            return node
        if isinstance(obj, dict):
            return self._pairing(obj, {"$di": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                                               for k, v in obj.items()]})
        if isinstance(obj, np.random.Generator):
            return self._pairing(obj, {"$rng": obj.bit_generator.state})
        if isinstance(obj, np.dtype):
            return {"$ndt": obj.str}
        torch = __import__("sys").modules.get("torch")
        if torch is not None and isinstance(obj, torch.dtype):
            return {"$tdt": str(obj).removeprefix("torch.")}
        if isinstance(obj, bytes):
            return {"$by": base64.b64encode(obj).decode()}
        if isinstance(obj, functools.partial):
            return {"$pa": [self.encode(obj.func, depth + 1), self.encode(tuple(obj.args), depth + 1),
                            self.encode(dict(obj.keywords), depth + 1)]}
        if inspect.ismethod(obj) and is_kit_object(obj.__self__):
            return {"$me": [self.encode(obj.__self__, depth + 1), obj.__func__.__name__]}
        if is_kit_object(obj):
            kind = type(obj)
            return self._pairing(obj, {"$ob": f"{kind.__module__}:{kind.__qualname__}",
                                       "st": self.encode(dict(vars(obj)), depth + 1)})
        return self.other(obj)


class Decoder:
    """Turn a tree and its arrays back into values, writing into paired objects where ``k`` is known."""

    def __init__(self, mirror: Mirror, arrays: list[np.ndarray], special: Callable[[dict], Any], *,
                 pair_new: bool) -> None:
        # pair_new: this is the kernel's side, which receives from the trusted grader. The grader's
        # side builds kit objects, partials and methods only from what it sent itself.
        self.mirror, self.arrays, self.special, self.pair_new = mirror, arrays, special, pair_new
        self.paired: list[tuple[int, int]] = []  # kernel: (h, k) for objects the grader sent unpaired
        self.containers: list[Any] = []  # the lists and dicts decoded, whose contents a call may change

    def _arr(self, i: Any) -> np.ndarray:
        if not isinstance(i, int) or not 0 <= i < len(self.arrays):
            raise WireError(f"array {i!r} is not in the message")
        arr = self.arrays[i]
        if arr.dtype.kind not in NUMERIC_KINDS:
            raise WireError(f"an array of dtype {arr.dtype} (only numbers and booleans may cross)")
        return arr

    def _known(self, node: dict) -> Any:
        k = node.get("k")
        return self.mirror.objects.get(k) if isinstance(k, int) else None

    def _register(self, node: dict, obj: Any) -> Any:
        k = node.get("k")
        if isinstance(k, int):
            self.mirror.pair(obj, k)
        elif self.pair_new and isinstance(node.get("h"), int):
            self.paired.append((node["h"], self.mirror.pair(obj)))
        return obj

    def decode(self, node: Any) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(x) for x in node]
        if not isinstance(node, dict) or len(node) == 0:
            raise WireError(f"a malformed node: {str(node)[:80]}")
        if "$nd" in node:
            arr = self._arr(node["$nd"])
            old = self._known(node)
            if isinstance(old, np.ndarray) and old.shape == arr.shape and old.dtype == arr.dtype:
                if old.flags.writeable and old.tobytes() != arr.tobytes():
                    np.copyto(old, arr)
                self.mirror.snap(node["k"], old)
                return old
            return self._register(node, np.array(arr, copy=True))
        if "$np" in node:
            return self._arr(node["$np"])[()]
        if "$pt" in node:
            arr = self._arr(node["$pt"])
            dtype, device = str(node.get("dt", "float32")), str(node.get("dev", "cpu"))
            old = self._known(node)
            if _is_tensor(old) and tuple(old.shape) == arr.shape and str(old.dtype).removeprefix("torch.") == dtype:
                new = _tensor_from_numpy(arr, dtype, False, str(old.device))
                if fingerprint(old) != fingerprint(new):
                    with _torch().no_grad():
                        old.copy_(new)
                self.mirror.snap(node["k"], old)
                return old
            if device.startswith("cuda") and not _torch().cuda.is_available():
                device = "cpu"
            return self._register(node, _tensor_from_numpy(arr, dtype, bool(node.get("rg")), device))
        if "$tu" in node:
            return tuple(self.decode(x) for x in node["$tu"])
        if "$li" in node:
            items = [self.decode(x) for x in node["$li"]]
            old = self._known(node)
            if isinstance(old, list):
                old[:] = items
            else:
                old = self._register(node, items)
            self.containers.append(old)
            return old
        if "$di" in node:
            items = {}
            for pair in node["$di"]:
                key = self.decode(pair[0])
                try:
                    items[key] = self.decode(pair[1])
                except TypeError:
                    raise WireError("a dict key that is not hashable") from None
            old = self._known(node)
            if isinstance(old, dict):
                old.clear()
                old.update(items)
            else:
                old = self._register(node, items)
            self.containers.append(old)
            return old
        if "$rng" in node:
            state = node["$rng"]
            old = self._known(node)
            if isinstance(old, np.random.Generator) and old.bit_generator.state["bit_generator"] == \
                    state.get("bit_generator"):
                old.bit_generator.state = state
                return old
            bit_generator = getattr(np.random, str(state.get("bit_generator")), None)
            if bit_generator is None or not isinstance(bit_generator, type):
                raise WireError(f"an unknown bit generator {state.get('bit_generator')!r}")
            gen = np.random.Generator(bit_generator())
            gen.bit_generator.state = state
            return self._register(node, gen)
        if "$by" in node:
            try:
                return base64.b64decode(str(node["$by"]), validate=True)
            except ValueError:
                raise WireError("malformed bytes") from None
        if "$ob" in node:
            state = self.decode(node.get("st"))
            old = self._known(node)
            if old is not None and f"{type(old).__module__}:{type(old).__qualname__}" == node["$ob"] \
                    and isinstance(state, dict) and all(isinstance(k, str) for k in state):
                vars(old).clear()
                vars(old).update(state)
                self.containers.append(old)
                return old
            if not self.pair_new or not isinstance(state, dict):
                raise WireError(f"an object of the kit's that was never sent: {str(node['$ob'])[:80]}")
            kind = find_kit_function(str(node["$ob"]))
            obj = kind.__new__(kind)
            vars(obj).update(state)
            self.containers.append(obj)
            return self._register(node, obj)
        if "$pa" in node or "$me" in node:
            if not self.pair_new:
                raise WireError("the kernel may not send callables")
            if "$pa" in node:
                func, args, kwargs = (self.decode(x) for x in node["$pa"])
                return functools.partial(func, *args, **kwargs)
            obj, name = self.decode(node["$me"][0]), str(node["$me"][1])
            if name.startswith("_") or not is_kit_object(obj):
                raise WireError(f"no method {name!r} to send")
            return getattr(obj, name)
        if "$it" in node:
            return iter([self.decode(x) for x in node["$it"]])
        if "$ndt" in node:
            return np.dtype(str(node["$ndt"]))
        if "$tdt" in node:
            torch = _torch()
            dtype = getattr(torch, str(node["$tdt"]), None)
            if not isinstance(dtype, torch.dtype):
                raise WireError(f"an unknown torch dtype {node['$tdt']!r}")
            return dtype
        return self.special(node)


# A message file: this line, the header's length (8 bytes, little-endian), the header (JSON: the
# tree under "meta", each array's dtype and shape under "arrays"), then each array's bytes in C
# order. Not an .npz: the wire carries thousands of small messages per notebook, and the zip
# container cost four times the time of the file operations themselves.
FRAME_MAGIC = b"AGWIRE1\n"
_LENGTH_BYTES = 8


def write_message(path: str | os.PathLike, meta: dict, arrays: list[np.ndarray]) -> None:
    """One message file (see ``FRAME_MAGIC``). Written to a side file, then renamed."""
    arrays = [np.require(a, requirements="C") for a in arrays]
    header = json.dumps({"meta": meta, "arrays": [[a.dtype.str, list(a.shape)] for a in arrays]}).encode()
    # A fresh, unguessable name, created exclusively and never through a link: the folder may be
    # one the other side can write to.
    tmp = f"{path}.{secrets.token_hex(8)}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(FRAME_MAGIC + len(header).to_bytes(_LENGTH_BYTES, "little") + header)
        for a in arrays:
            f.write(a.tobytes())
    os.replace(tmp, path)


def read_message(path: str | os.PathLike, max_bytes: int) -> tuple[dict, list[np.ndarray]]:
    """Read a message written by the other side, which may be hostile.

    The file must be a regular file (not a link to one, a FIFO, or a device) of at most
    ``max_bytes``, in the wire's frame, with arrays of numeric or bool dtypes only.
    """
    data = read_regular_file(path, max_bytes)
    if not data.startswith(FRAME_MAGIC):
        raise WireError("a malformed message (it does not start as the wire's messages do)")
    start = len(FRAME_MAGIC) + _LENGTH_BYTES
    length = int.from_bytes(data[len(FRAME_MAGIC):start], "little")
    if len(data) < start or length > len(data) - start:
        raise WireError("a malformed message (it is cut short)")
    try:
        header = json.loads(data[start:start + length].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"a malformed message ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict) or not isinstance(header.get("meta"), dict) \
            or not isinstance(header.get("arrays"), list):
        raise WireError("a malformed message (its header is not an object)")
    arrays, offset = [], start + length
    for entry in header["arrays"]:
        dtype, shape = _array_layout(entry)
        count = math.prod(shape)
        size = count * dtype.itemsize
        if size > len(data) - offset:
            raise WireError("a malformed message (an array runs past its end)")
        # A copy: aligned and writable, as the checks expect of an array.
        arrays.append(np.frombuffer(data, dtype, count, offset).reshape(shape).copy())
        offset += size
    if offset != len(data):
        raise WireError("a malformed message (bytes after its last array)")
    return header["meta"], arrays


def _array_layout(entry: Any) -> tuple[np.dtype, tuple[int, ...]]:
    """The dtype and shape an array of a message declares; only numeric and bool dtypes."""
    if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and isinstance(entry[1], list)
            and len(entry[1]) <= 32 and all(type(n) is int and n >= 0 for n in entry[1])):
        raise WireError("a malformed message (an array's layout is not [dtype, shape])")
    try:
        dtype = np.dtype(entry[0])
    except TypeError:
        raise WireError(f"a malformed message (an unknown dtype {entry[0][:20]!r})") from None
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise WireError(f"a malformed message (an array of dtype {dtype.str}, not a number)")
    return dtype, tuple(entry[1])


def read_regular_file(path: str | os.PathLike, max_bytes: int) -> bytes:
    """The bytes of ``path``, which must be a regular file (not a link to one, a FIFO, or a device)
    of at most ``max_bytes``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise WireError("the kernel sent no reply (was the kit's agent in the kernel replaced?)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise WireError("the kernel's reply is a symbolic link, not a file: refused") from None
        raise WireError(f"the kernel's reply could not be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise WireError("the reply is not a regular file")
        if info.st_size > max_bytes:
            raise WireError(f"the reply is {info.st_size:,} bytes, more than the {max_bytes:,} allowed")
        return f.read(max_bytes + 1)


def read_archive(path: str | os.PathLike, max_bytes: int) -> tuple[dict, list[np.ndarray]]:
    """A tree and its arrays kept in an ``.npz`` (the published answers): the JSON tree under
    ``meta``, the arrays as ``a0``, ``a1``, ...; nothing in it is unpickled."""
    data = read_regular_file(path, max_bytes)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            meta = json.loads(bytes(npz["meta"]).decode())
            count = sum(1 for name in npz.files if name != "meta")
            arrays = [npz[f"a{i}"] for i in range(count)]
    except (ValueError, KeyError, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"a malformed archive ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict):
        raise WireError("a malformed archive (its tree is not an object)")
    return meta, arrays
