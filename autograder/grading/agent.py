"""The kernel's side of checks that run outside it: call the student's code, send back plain data.

During grading, a test cell runs in the grading process (see :mod:`.remote`). Each time a check
calls a student's function, the grader writes a request file and runs one line in the kernel::

    import autograder.grading.agent as _agk; _agk.serve(request_path, reply_path)

which calls the function on the grader's inputs and writes the reply: the result as plain
numbers (see :mod:`.wire`), or the exception's type and message. The kernel never sees the
hidden seed or the test's source, and nothing it sends back can take part in a comparison.

Student code could replace this module too. That changes only what the kernel reports, which is
what the student's code could compute anyway; the verdict is formed in the grading process.
"""
from __future__ import annotations

import builtins
import traceback
import types
import warnings
from typing import Any

import numpy as np

from .wire import Decoder, Encoder, Mirror, WireError, find_kit_function, read_message, write_message

MAX_REQUEST_BYTES = 1 << 30
MAX_ITEMS = 100_000

_mirror = Mirror(track_changes=True)
_handles: dict[int, Any] = {}
_handle_ids: dict[int, int] = {}


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
            "name": str(getattr(obj, "__name__", type(obj).__name__)), "callable": callable(obj)}


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
    raise WireError(f"a node of an unknown kind: {sorted(node)[:3]}")


def _call(meta: dict, decoder: Decoder) -> tuple[Any, dict]:
    callee = decoder.decode(meta["callee"])
    args = decoder.decode(meta.get("args", {"$tu": []}))
    kwargs = decoder.decode(meta.get("kwargs", {"$di": []}))
    swaps = decoder.decode(meta.get("swaps", {"$di": []}))
    # The call's own kwargs and swaps dicts are the grader's temporaries, not values to send back.
    decoder.containers = [c for c in decoder.containers if c is not kwargs and c is not swaps]
    op, extra = meta["op"], {}
    from ..exercises import names_swapped_in
    errstate = {k: v for k, v in (meta.get("errstate") or {}).items()
                if k in ("over", "under", "divide", "invalid") and v in ("ignore", "warn", "raise", "call", "print", "log")}
    with names_swapped_in(_user_namespace(), swaps), np.errstate(**errstate), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore" if op == "repeat" else "always")
        if op == "call":
            result = callee(*args, **kwargs)
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
    from ..exercises import global_names_used
    obj = decoder.decode(meta["callee"])
    functions = [f for f in vars(obj).values() if callable(f) and hasattr(f, "__code__")] \
        if isinstance(obj, type) else [obj]
    return sorted(set().union(*(global_names_used(f) for f in functions)) if functions else set())


def _error(exc: BaseException) -> dict:
    kind = type(exc)
    return {"type": kind.__name__, "builtin": getattr(builtins, kind.__name__, None) is kind,
            "message": str(exc)[:4000],
            "traceback": "".join(traceback.format_exception_only(kind, exc))[-4000:]}


def serve(request_path: str, reply_path: str) -> None:
    """Answer one request from the grader (the only entry point the grader uses)."""
    meta: dict = {}
    encoder = Encoder(_mirror, lambda obj: _handle(obj), pair_new=True)
    encoder.other = _other(encoder)
    reply: dict = {"ok": True}
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
            result, extra = _call(meta, decoder)
            reply["result"] = encoder.encode(result)
            reply["extra"] = extra
        reply["paired"] = decoder.paired
        reply["updates"] = [encoder.encode(obj) for _, obj in _mirror.changed()] + \
            [encoder.encode(obj) for obj in decoder.containers]
    except BaseException as exc:  # noqa: BLE001 - every failure, KeyboardInterrupt included, is reported
        reply = {"ok": False, "error": _error(exc)}
        encoder.arrays = []
    write_message(reply_path, reply, encoder.arrays)
