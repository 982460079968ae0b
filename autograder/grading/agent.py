"""The kernel's side of checks that run outside it: call the student's code, send back plain data.

During grading, a test cell runs in the grading process (see :mod:`.remote`). For the length of
the cell the kernel runs one line, :func:`serve_channel`, which waits on the cell's channel
(:mod:`.channel`). Each time a check calls a student's function, the grader writes a request file
and its token on the channel; :func:`serve` calls the function on the grader's inputs and writes
the reply: the result as plain numbers (see :mod:`.wire`), or the exception's type and message,
and what the call printed. The kernel never sees the hidden seed or the test's source, and
nothing it sends back can take part in a comparison.

The kit's own parts that a check puts in the notebook's namespace (so that a student's ``train``
runs with correct ``forward`` and ``backprop``) are not in the kernel either: each is a
:class:`GraderPart` that sends its arguments back to the grading process over the same channel,
which runs the part there and replies (:meth:`.remote.RemoteSession.serve_part`). The kernel only
ever sees the values such a call returns for the arguments the student's code passed.

Student code could replace this module too. That changes only what the kernel reports, which is
what the student's code could compute anyway; the verdict is formed in the grading process.
"""
from __future__ import annotations

import builtins
import contextlib
import os
import secrets
import types
import warnings
from typing import Any

import numpy as np

from ..namespaces import code_names, names_swapped_in
from ..tracebacks import exception_record, parameter_names
from .streams import OrderedStreams
from .wire import TOKEN, Decoder, Encoder, Mirror, WireError, find_kit_function, read_message, write_message

MAX_REQUEST_BYTES = 1 << 30
MAX_ITEMS = 100_000
# What one call may print into the test cell's output (the cell's own limit cuts the rest).
MAX_PRINTED_CHARS = 512 * 1024

_mirror = Mirror(track_changes=True)
_handles: dict[int, Any] = {}
_handle_ids: dict[int, int] = {}
_folders: dict[str, str] = {}  # "requests" (the grader writes, we read) and "replies" (we write)
_channel: dict[str, Any] = {}  # while a test cell runs: "inbox" (a file we read lines from), "outbox" (a fd)


def serve_channel(inbox: str, outbox_fd: int, outbox: str) -> None:
    """Answer the grader's requests until it ends the test cell: the one line the grader runs in
    the kernel per test cell (see :mod:`.channel` for the lines on ``inbox`` and ``outbox_fd``)."""
    requests, replies = os.path.dirname(inbox), os.path.dirname(outbox)
    fd = os.open(inbox, os.O_RDONLY | os.O_NONBLOCK)  # never waits for a grader that is gone
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as lines:
        _channel.update(inbox=lines, outbox=outbox_fd)
        try:
            while True:
                kind, _, token = lines.readline(200).decode("ascii", "replace").strip().partition(" ")
                if kind != "request" or not TOKEN.fullmatch(token):
                    return  # "end", or the grader's end closed
                serve(os.path.join(requests, f"request-{token}.msg"), os.path.join(replies, f"reply-{token}.msg"))
                os.write(outbox_fd, f"done {token}\n".encode("ascii"))
        finally:
            _channel.clear()


class GraderPart:
    """One of the kit's parts, standing in the notebook's namespace while a check's call runs; it
    runs in the grading process. Called with plain values (what the student's code passes), it
    returns plain values."""

    def __init__(self, name: str) -> None:
        self.__name__ = self.__qualname__ = name

    def __repr__(self) -> str:
        return f"<the kit's {self.__name__}, run by the grader>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        token = secrets.token_hex(8)
        request = os.path.join(_folders["replies"], f"part-{token}.msg")
        reply = os.path.join(_folders["requests"], f"part-{token}.msg")
        encoder = Encoder(Mirror(), _refuse_part_argument(self.__name__), pair_new=False)
        meta = {"part": self.__name__, "args": encoder.encode(tuple(args)), "kwargs": encoder.encode(dict(kwargs))}
        if not _channel:
            raise RuntimeError(f"the kit's {self.__name__} only runs while a check calls your code")
        write_message(request, meta, encoder.arrays)
        os.write(_channel["outbox"], f"part {token}\n".encode("ascii"))
        if _channel["inbox"].readline(200).decode("ascii", "replace").strip() != f"answered {token}":
            raise RuntimeError(f"the grader did not answer a call of {self.__name__}")
        answer, arrays = read_message(reply, MAX_REQUEST_BYTES)  # the grader removes it after the call
        if not answer.get("ok"):
            error = answer.get("error") or {}
            kind = getattr(builtins, str(error.get("type")), None)
            if not (isinstance(kind, type) and issubclass(kind, Exception)):
                kind = RuntimeError
            raise kind(str(error.get("message", "")))
        for i, state in answer.get("rng") or []:
            if isinstance(i, int) and 0 <= i < len(args) and isinstance(args[i], np.random.Generator):
                args[i].bit_generator.state = state
        return Decoder(Mirror(), arrays, _no_special, pair_new=False).decode(answer.get("result"))


def _refuse_part_argument(name: str):
    def refuse(obj: Any) -> dict:
        raise WireError(f"the kit's {name} takes numbers and arrays; it was passed a {type(obj).__name__}")
    return refuse


def _no_special(node: dict) -> Any:
    raise WireError(f"a node of an unknown kind: {sorted(node)[:3]}")


def _user_namespace() -> dict:
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        return shell.user_ns
    import __main__
    return vars(__main__)


def _kind(obj: Any) -> str:
    if isinstance(obj, type):
        return "class"
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return "function"
    return "object"


def _handle(obj: Any) -> dict:
    n = _handle_ids.get(id(obj))
    if n is None or _handles.get(n) is not obj:
        n = len(_handles) + 1
        _handles[n] = obj
        _handle_ids[id(obj)] = n
    return {"$h": n, "kind": _kind(obj), "type": type(obj).__name__,
            "name": str(getattr(obj, "__name__", type(obj).__name__)), "callable": callable(obj),
            "params": parameter_names(obj) if callable(obj) else []}


def _other(encoder: Encoder):
    def other(obj: Any) -> Any:
        if isinstance(obj, types.GeneratorType) or (hasattr(obj, "__next__") and hasattr(obj, "__iter__")
                                                     and not isinstance(obj, type)):
            items = []
            for item in obj:
                if len(items) >= MAX_ITEMS:
                    raise WireError(f"it returned an iterator of more than {MAX_ITEMS:,} items")
                items.append(encoder.encode(item, 1))
            return {"$it": items}
        return _handle(obj)
    return other


def _special(node: dict) -> Any:
    if "$h" in node:
        try:
            return _handles[node["$h"]]
        except (KeyError, TypeError):
            raise WireError(f"handle {node.get('$h')!r} is not known") from None
    if "$fn" in node:
        return find_kit_function(str(node["$fn"]))
    if "$part" in node:
        return GraderPart(str(node["$part"]))
    raise WireError(f"a node of an unknown kind: {sorted(node)[:3]}")


def _call(meta: dict, decoder: Decoder) -> tuple[Any, dict]:
    callee = decoder.decode(meta["callee"])
    args = decoder.decode(meta.get("args", {"$tu": []}))
    kwargs = decoder.decode(meta.get("kwargs", {"$di": []}))
    swaps = decoder.decode(meta.get("swaps", {"$di": []}))
    # The call's own kwargs and swaps dicts are the grader's temporaries, not values to send back.
    decoder.containers = [c for c in decoder.containers if c is not kwargs and c is not swaps]
    op, extra = meta["op"], {}
    errstate = {k: v for k, v in (meta.get("errstate") or {}).items()
                if k in ("over", "under", "divide", "invalid") and v in ("ignore", "warn", "raise", "call", "print", "log")}
    with names_swapped_in(_user_namespace(), swaps), np.errstate(**errstate), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore" if op == "repeat" else "always")
        if op == "call":
            result = callee(*args, **kwargs)
        elif op == "map":
            calls = decoder.decode(meta.get("calls", {"$tu": []}))
            temporaries = [calls, *calls, *(kw for _, kw in calls)]
            decoder.containers = [c for c in decoder.containers if not any(c is t for t in temporaries)]
            result = {"results": [], "failed": None}
            for call_args, call_kwargs in calls:  # in order, stopping at the first crash, as a loop would
                try:
                    result["results"].append(callee(*call_args, **call_kwargs))
                except Exception as exc:  # noqa: BLE001 - reported with its index; the grader raises it
                    result["failed"] = _error(exc)
                    break
        elif op == "repeat":
            result = None
            for _ in range(max(0, int(meta.get("n", 1)))):
                result = callee(*args, **kwargs)
        elif op == "trace":
            from ..torch_trace import record_torch_ops
            result, record = record_torch_ops(callee, *args, **kwargs)
            extra = {"calls": record.calls, "largest_numel": record.largest_numel,
                     "largest_shape": list(record.largest_shape), "ops": record.ops}
        else:
            raise WireError(f"unknown operation {op!r}")
    extra["warnings"] = [[w.category.__name__, str(w.message), str(w.filename), int(w.lineno or 0)]
                         for w in caught[:20]]
    return result, extra


def _names(meta: dict, decoder: Decoder) -> list[str]:
    obj = decoder.decode(meta["callee"])
    functions = [f for f in vars(obj).values() if callable(f) and hasattr(f, "__code__")] \
        if isinstance(obj, type) else [obj]
    return sorted(set().union(*(code_names(f) for f in functions)) if functions else set())


def _error(exc: BaseException) -> dict:
    return exception_record(exc)


def serve(request_path: str, reply_path: str) -> None:
    """Answer one request from the grader (the only entry point the grader uses)."""
    meta: dict = {}
    encoder = Encoder(_mirror, lambda obj: _handle(obj), pair_new=True)
    encoder.other = _other(encoder)
    reply: dict = {"ok": True}
    _folders.update(requests=os.path.dirname(request_path), replies=os.path.dirname(reply_path))
    printed = OrderedStreams(limit=MAX_PRINTED_CHARS)
    try:
        meta, arrays = read_message(request_path, MAX_REQUEST_BYTES)
        if meta.get("reset"):
            _mirror.clear()
            _handles.clear()
            _handle_ids.clear()
        decoder = Decoder(_mirror, arrays, _special, pair_new=True)
        op = meta.get("op")
        if op == "lookup":
            namespace = _user_namespace()
            reply["result"] = {"$di": [[name, encoder.encode(namespace[name])] for name in meta.get("names", [])
                                       if name in namespace]}
        elif op == "names":
            reply["result"] = _names(meta, decoder)
        elif op == "reset":
            reply["result"] = None
        else:
            with contextlib.redirect_stdout(printed.stdout), contextlib.redirect_stderr(printed.stderr):
                result, extra = _call(meta, decoder)
            reply["result"] = encoder.encode(result)
            reply["extra"] = extra
        reply["paired"] = decoder.paired
        reply["updates"] = [encoder.encode(obj) for _, obj in _mirror.changed()] + \
            [encoder.encode(obj) for obj in decoder.containers]
    except BaseException as exc:  # noqa: BLE001 - every failure, KeyboardInterrupt included, is reported
        reply = {"ok": False, "error": _error(exc)}
        encoder.arrays = []
    reply["printed"] = printed.chunks
    write_message(reply_path, reply, encoder.arrays)

