"""The grader's side of checks that run outside the kernel: the student's names, as handles.

While a test cell runs in the grading process, each name it uses from the notebook (``sgd``,
``MultiHeadAttention``, ``params_mb``) is looked up in the kernel once. Plain data (arrays,
tensors, numbers, tuples of them) comes over as values; a function, a class or any other object
stays in the kernel and is represented here by a :class:`RemoteHandle`. Calling a handle sends
the arguments to the kernel, calls the real function there (:mod:`.agent`), and returns the
result as plain data. So a check's own code, NumPy, torch and the comparison all run in a
process the student's code never touched.

The checks mostly do not need to know: ``call_student(name, fn, *args)`` works on a handle as on
a function. Four helpers cover the rest: ``functions_swapped_in`` and ``global_names_used`` (in
:mod:`autograder.exercises`), ``record_torch_ops`` and :func:`run_in_kernel` for the few checks
that must touch a student's object inside the kernel (build a module, run its backward pass).
"""
from __future__ import annotations

import builtins
import contextlib
import re
import secrets
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .wire import Decoder, Encoder, Mirror, WireError, kit_function_name, read_message, write_message


class KernelAbort(BaseException):
    """The kernel died or ran past its time while a check waited on it.

    A ``BaseException`` so that no check's ``except Exception`` mistakes it for the student's
    error: it ends the test cell. ``original`` is nbclient's exception, when there was one.
    """

    def __init__(self, ename: str, evalue: str, original: BaseException | None = None):
        super().__init__(f"{ename}: {evalue}")
        self.ename, self.evalue, self.original = ename, evalue, original


class RemoteError(Exception):
    """A student's function raised an exception whose type the grader does not share.

    Each such type gets a subclass of this one with the same name, so ``type(exc).__name__``
    reads as it would have in the kernel.
    """


class RemoteHandle:
    """An object that stays in the student's kernel: a class of its own per kernel type name."""

    _wire_handle = True  # sent as a handle, never by value

    def __init__(self, session: "RemoteSession", node: dict):
        self._session, self._node = session, node

    @property
    def __name__(self) -> str:  # noqa: A003 - mirrors the kernel object's name
        return str(self._node.get("name", "?"))

    @property
    def remote_kind(self) -> str:
        """``"function"``, ``"class"`` or ``"object"``."""
        return str(self._node.get("kind", "object"))

    def __repr__(self) -> str:
        return f"<{self.remote_kind} {self.__name__} in the student's kernel>"


class RemoteCallable(RemoteHandle):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.call(self, args, kwargs)

    @property
    def parameter_names(self) -> list[str]:
        """Its positional parameters' names, as the kernel read them (for crash messages)."""
        return [str(name) for name in self._node.get("params", [])]


_handle_types: dict[tuple[str, bool], type] = {}
_error_types: dict[str, type] = {}


def _handle_type(type_name: str, is_callable: bool) -> type:
    key = (type_name, is_callable)
    if key not in _handle_types:
        base = RemoteCallable if is_callable else RemoteHandle
        _handle_types[key] = type(type_name if type_name.isidentifier() else "object", (base,), {})
    return _handle_types[key]


def exception_from(error: dict) -> BaseException:
    """The exception an error record describes (:func:`autograder.tracebacks.exception_record`)."""
    exc = _exception_of_type(error)
    exc.student_frame = error.get("where")  # the student's line, for tracebacks.crash_message
    return exc


def _exception_of_type(error: dict) -> BaseException:
    name, message = str(error.get("type", "Exception")), str(error.get("message", ""))
    if name == "CheckFailed":  # a structure check the kit ran inside the kernel
        from ..checks import CheckFailed
        return CheckFailed(message)
    cls = getattr(builtins, name, None)
    if error.get("builtin") and isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except TypeError:  # a builtin that wants more arguments (UnicodeDecodeError)
            pass
    if name not in _error_types:
        _error_types[name] = type(name if name.isidentifier() else "RemoteError", (RemoteError,), {})
    return _error_types[name](message)


class RemoteSession:
    """One test cell's conversation with the kernel.

    ``exchange(token, serve_part)`` has the kernel answer the request ``token`` (the test cell's
    :class:`.channel.Channel` does it), calling ``serve_part`` for each kit part the student's
    code calls meanwhile; it raises :class:`KernelAbort` when the kernel dies or runs out of time.
    Requests are written to ``request_folder`` (the kernel may read it), replies are read from
    ``reply_folder`` (the kernel writes there, so a reply is read as hostile).
    """

    def __init__(self, exchange: Callable[[str, Callable[[str], None]], None], request_folder: Path,
                 reply_folder: Path, max_reply_bytes: int = 256 << 20, max_printed_chars: int = 512 * 1024):
        self.exchange = exchange
        self.printed_room = max_printed_chars  # what the student's calls may still print into the cell
        self.request_folder, self.reply_folder = Path(request_folder), Path(reply_folder)
        self.max_reply_bytes = max_reply_bytes
        self.mirror = Mirror()
        self._swaps: list[dict[str, Callable]] = []
        self._serving: dict[str, Callable] = {}  # the parts the kernel may call back, during one call
        self._part_replies: list[Path] = []
        self._reset = True
        self.requests = 0

    # -- the protocol ------------------------------------------------------------------------

    def _encoder(self) -> Encoder:
        def other(obj: Any) -> dict:
            if isinstance(obj, RemoteHandle):
                if obj._session is not self:
                    raise WireError(f"{obj!r} belongs to another test cell")
                return {"$h": obj._node["$h"]}
            name = kit_function_name(obj) if callable(obj) else None
            if name is not None and not _runs_here(obj):
                return {"$fn": name}
            if name is not None:
                return {"$part": self._serve(obj)}
            raise WireError(f"a {type(obj).__name__} cannot be sent to the student's kernel")
        return Encoder(self.mirror, other, pair_new=False)

    def _serve(self, fn: Callable) -> str:
        """Let the kernel call ``fn`` back during the current call; the name it calls it by."""
        key = f"{getattr(fn, '__qualname__', 'part')}#{len(self._serving)}"
        self._serving[key] = fn
        return key

    def _special(self, node: dict) -> Any:
        if "$h" in node:
            return _handle_type(str(node.get("type", "object")), bool(node.get("callable")))(self, node)
        raise WireError(f"the kernel sent a node of an unknown kind: {sorted(node)[:3]}")

    def request(self, meta: dict, encoder: Encoder | None = None) -> tuple[Any, dict]:
        """Send one request; return ``(decoded result, the reply's extra facts)``, or raise the
        student's exception, :class:`KernelAbort`, or ``WireError`` for a reply that is not plain data."""
        encoder = encoder or self._encoder()
        token = f"{self.requests}-{secrets.token_hex(6)}"
        self.requests += 1
        request = self.request_folder / f"request-{token}.msg"
        reply = self.reply_folder / f"reply-{token}.msg"
        meta = dict(meta, reset=self._reset)
        write_message(request, meta, encoder.arrays)
        try:
            self.exchange(token, self.serve_part)
            answer, arrays = read_message(reply, self.max_reply_bytes)
        finally:
            for path in (request, reply):
                path.unlink(missing_ok=True)
        self._reset = False
        self._print_again(answer.get("printed"))
        if not answer.get("ok"):
            raise exception_from(answer.get("error") or {})
        decoder = Decoder(self.mirror, arrays, self._special, pair_new=False)
        for h, k in answer.get("paired", []):
            if h in encoder.fresh:
                self.mirror.pair(encoder.fresh[h], k)
        for node in answer.get("updates", []):
            decoder.decode(node)
        extra = answer.get("extra") or {}
        return decoder.decode(answer.get("result")), extra if isinstance(extra, dict) else {}

    def _print_again(self, printed: Any) -> None:
        """What the student's code printed during the call, printed here, in the cell's output, up
        to the cell's output limit."""
        if not isinstance(printed, list):
            return
        for chunk in printed:
            if not (isinstance(chunk, list) and len(chunk) == 2 and chunk[0] in ("stdout", "stderr")
                    and isinstance(chunk[1], str)) or self.printed_room <= 0:
                continue
            text = chunk[1][:self.printed_room]
            self.printed_room -= len(text)
            if self.printed_room <= 0:
                text += "\n[output cut: the calls printed more than this cell may show]\n"
            print(text, end="", file=sys.stdout if chunk[0] == "stdout" else sys.stderr)

    # -- what checks use ---------------------------------------------------------------------

    def lookup(self, names: list[str]) -> dict[str, Any]:
        """The notebook's values for ``names`` (those it defines), as values or handles."""
        result, _ = self.request({"op": "lookup", "names": list(names)})
        if not isinstance(result, dict):
            raise WireError("the kernel's answer to a name lookup is not a dict")
        return result

    def call_each(self, callee: Any, calls: list[tuple[tuple, dict]]) -> tuple[list, BaseException | None]:
        """``callee(*args, **kwargs)`` for each ``(args, kwargs)`` of ``calls``, in order, in one request:
        ``(the results, the exception of the call after the last result)``; the calls stop there."""
        reply = self.call(callee, (), {}, op="map", calls=calls)
        failed = reply.get("failed")
        return list(reply.get("results", [])), (exception_from(failed) if failed else None)

    def call(self, callee: Any, args: tuple, kwargs: dict, op: str = "call", n: int = 1,
             calls: list[tuple[tuple, dict]] = ()) -> tuple[Any, dict] | Any:
        encoder = self._encoder()
        swaps = {name: fn for layer in self._swaps for name, fn in layer.items()}
        # The callee runs in the kernel; the checks' own functions among the arguments, and the kit's
        # parts swapped in, stay here: the kernel gets stand-ins that call back (agent.GraderPart).
        callee_node = ({"$fn": kit_function_name(callee)} if kit_function_name(callee) else encoder.encode(callee))
        self._serving = {}
        try:
            meta = {"op": op, "n": n, "callee": callee_node, "args": encoder.encode(tuple(args)),
                    "kwargs": encoder.encode(dict(kwargs)),
                    "swaps": {"$di": [[name, {"$part": self._serve(fn)}] for name, fn in swaps.items()]},
                    "errstate": np.geterr()}
            if op == "map":
                meta["calls"] = encoder.encode(tuple((tuple(a), dict(k)) for a, k in calls))
            result, extra = self.request(meta, encoder)
        finally:
            self._serving = {}
            for reply in self._part_replies:  # the kernel may only read that folder
                reply.unlink(missing_ok=True)
            self._part_replies.clear()
        for category, message, filename, lineno in extra.get("warnings", [])[:20]:
            # What the kernel warned, warned again here, where the check may be catching it.
            kind = getattr(builtins, str(category), None)
            if isinstance(kind, type) and issubclass(kind, Warning):
                warnings.warn_explicit(str(message), kind, str(filename), int(lineno))
        return (result, extra) if op == "trace" else result

    def serve_part(self, token: str) -> None:
        """Answer the kernel's call ``token`` of one of the kit's parts swapped in for the current call:
        run the part here on the (plain) arguments the kernel sent, write the result back."""
        if not re.fullmatch(r"[0-9a-f]{16}", token):
            return
        request = self.reply_folder / f"part-{token}.msg"
        reply = self.request_folder / f"part-{token}.msg"
        answer: dict = {"ok": True}
        encoder = Encoder(Mirror(), _refuse_result, pair_new=False)
        try:
            meta, arrays = read_message(request, self.max_reply_bytes)
            part = self._serving.get(str(meta.get("part")))
            if part is None:
                raise WireError(f"{meta.get('part')!r} is not one of the kit's parts in this call")
            decoder = Decoder(Mirror(), arrays, _refuse_node, pair_new=False)
            args, kwargs = decoder.decode(meta.get("args")), decoder.decode(meta.get("kwargs"))
            if not isinstance(args, tuple) or not isinstance(kwargs, dict):
                raise WireError("a malformed part call")
            result = part(*args, **kwargs)
            if isinstance(result, types.GeneratorType):  # drawn here; the kernel gets an iterator of its items
                answer["result"] = {"$it": [encoder.encode(item) for item in result]}
            else:
                answer["result"] = encoder.encode(result)
            # A generator the part drew from moves on in the kernel too, as if the part had run there.
            answer["rng"] = [[i, arg.bit_generator.state] for i, arg in enumerate(args)
                             if isinstance(arg, np.random.Generator)]
        except Exception as exc:  # noqa: BLE001 - the student's code called the part wrongly: it raises there
            answer, encoder.arrays = {"ok": False, "error": {"type": type(exc).__name__, "message": str(exc)[:4000]}}, []
        finally:
            request.unlink(missing_ok=True)
        write_message(reply, answer, encoder.arrays)
        self._part_replies.append(reply)

    def names(self, callee: RemoteHandle) -> set[str]:
        """The global names a remote function (or a remote class's functions) refer to."""
        encoder = self._encoder()
        result, _ = self.request({"op": "names", "callee": encoder.encode(callee)}, encoder)
        return {str(x) for x in result} if isinstance(result, list) else set()

    @contextlib.contextmanager
    def swapped(self, parts: dict[str, Callable]):
        """Calls made in the block run with the kit's ``parts`` in the notebook's namespace."""
        self._swaps.append(dict(parts))
        try:
            yield
        finally:
            self._swaps.pop()


def _runs_here(fn: Any) -> bool:
    """A function of a check (``autograder.exercises.<a>``): the kernel has only the public module,
    whose answers are published values, so it is run here when the kernel calls it."""
    return callable(fn) and not isinstance(fn, type) and str(getattr(fn, "__module__", "")).startswith("autograder.exercises.")


def _refuse_result(obj: Any) -> dict:
    raise WireError(f"the kit's part returned a {type(obj).__name__}")


def _refuse_node(node: dict) -> Any:
    raise WireError(f"the kernel sent a node of an unknown kind: {sorted(node)[:3]}")


_active: list[RemoteSession] = []


@contextlib.contextmanager
def using(session: RemoteSession):
    """Make ``session`` the one :func:`run_in_kernel` and the handles' helpers use."""
    _active.append(session)
    try:
        yield session
    finally:
        _active.pop()


def is_remote(obj: Any) -> bool:
    """True for a handle on an object in the student's kernel."""
    return isinstance(obj, RemoteHandle)


def run_in_kernel(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, in the student's kernel when an argument is a handle on something there.

    ``fn`` is one of the kit's module-level functions: the part of a check that must hold the
    student's object itself (build a module and run its backward pass). It returns plain data,
    which the check then judges here. Outside grading (a student running the notebook) it is a
    plain call.
    """
    handles = [a for a in (*args, *kwargs.values()) if isinstance(a, RemoteHandle)]
    if not handles:
        return fn(*args, **kwargs)
    return handles[0]._session.call(fn, args, kwargs)


def repeatable(fn: Callable, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    """A zero-argument call of ``fn(*args, **kwargs)`` for timing; on a handle it has ``repeat(n)``,
    which runs the ``n`` calls in the kernel in one request (timed here, by the grader's clock)."""
    if not isinstance(fn, RemoteHandle):
        return lambda: fn(*args, **kwargs)
    return _RemoteCall(fn, args, kwargs)


class _RemoteCall:
    """``fn(*args, **kwargs)`` on a handle, callable once or ``repeat(n)`` times in one request."""

    def __init__(self, fn: RemoteHandle, args: tuple, kwargs: dict):
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def __call__(self) -> Any:
        return self.fn._session.call(self.fn, self.args, self.kwargs)

    def repeat(self, n: int) -> Any:
        return self.fn._session.call(self.fn, self.args, self.kwargs, op="repeat", n=n)


def trace_torch_ops(fn: Callable, args: tuple, kwargs: dict) -> tuple[Any, dict]:
    """Run ``fn(*args, **kwargs)`` (a handle, or a kit function given one) under the kernel's
    torch-op recorder; ``(result, record fields)``."""
    handle = next(x for x in (fn, *args, *kwargs.values()) if isinstance(x, RemoteHandle))
    return handle._session.call(fn, args, kwargs, op="trace")
