"""Where in the student's own code an exception was raised, and how a crash is reported.

A crash message names the call with the shapes it was given, the exception, and the student's
line::

    forward(X (4, 2), W1 (3, 3), b1 (3,), W2 (1, 3), b2 (1,)) raised ValueError: matmul: ...
      in your forward, line 3 of its cell: Z1 = X @ W1.T + b1

The student's line is the innermost frame of the traceback that belongs to neither the kit nor
an installed library (NumPy, torch, the standard library): a notebook cell, or code run with
``exec``. In grading the exception happens in the kernel, so the kernel's agent finds that frame
(:func:`student_frame`) and sends it with the error; here both sides format it the same way.
"""
from __future__ import annotations

import builtins
import inspect
import linecache
import os
import sys
import sysconfig
import traceback
from types import TracebackType
from typing import Callable

from .checks import describe_shape

_KIT = os.path.dirname(os.path.abspath(__file__))
_LIBRARIES = tuple(sorted({os.path.abspath(p) for key in ("stdlib", "platstdlib", "purelib", "platlib")
                           if (p := sysconfig.get_paths().get(key))} | {os.path.abspath(sys.prefix)}))


def _is_students(filename: str) -> bool:
    if filename.startswith("<"):  # exec'd source: "<string>", "<cell 3>"
        return not filename.startswith("<frozen")
    path = os.path.abspath(filename)
    return not (path.startswith(_KIT + os.sep) or any(path.startswith(lib + os.sep) for lib in _LIBRARIES))


def student_frame(tb: TracebackType | None) -> dict | None:
    """``{"function", "line", "text"}`` for the innermost frame of ``tb`` in the student's own code,
    or None when no frame is theirs. ``line`` counts from the top of the cell (or exec'd source);
    ``text`` is that line, stripped ("" where its source is not kept)."""
    found = None
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__") or "")
        if not (module == "autograder" or module.startswith("autograder.")) \
                and _is_students(tb.tb_frame.f_code.co_filename):
            found = tb
        tb = tb.tb_next
    if found is None:
        return None
    code = found.tb_frame.f_code
    text = linecache.getline(code.co_filename, found.tb_lineno, found.tb_frame.f_globals)
    return {"function": code.co_name, "line": int(found.tb_lineno), "text": text.strip()[:200]}


def exception_record(exc: BaseException) -> dict:
    """``exc`` as plain data, to cross from the student's kernel to the grader: its type, message,
    last traceback line and the student's frame (rebuilt by ``grading.remote.exception_from``)."""
    kind = type(exc)
    return {"type": kind.__name__, "builtin": getattr(builtins, kind.__name__, None) is kind,
            "message": str(exc)[:4000],
            "traceback": "".join(traceback.format_exception_only(kind, exc))[-4000:],
            "where": student_frame(exc.__traceback__)}


def describe_frame(where: dict | None) -> str:
    """``'in your forward, line 3 of its cell: Z1 = X @ W1.T'`` ('' for None)."""
    if not where:
        return ""
    function = str(where.get("function", ""))
    place = "in a cell" if function in ("<module>", "") else f"in your {function}"
    text = str(where.get("text", ""))
    return f"{place}, line {where.get('line', '?')} of its cell" + (f": {text}" if text else "")


def where_raised(exc: BaseException) -> dict | None:
    """The student's frame of ``exc``: sent along by the kernel (``exc.student_frame``), or found in
    its own traceback when the student's function ran in this process."""
    if hasattr(exc, "student_frame"):
        return exc.student_frame
    return student_frame(exc.__traceback__)


def parameter_names(fn: Callable) -> list[str]:
    """The names of ``fn``'s positional parameters, in order ([] where it has no signature)."""
    names = getattr(fn, "parameter_names", None)  # a function in the student's kernel sends its own
    if isinstance(names, list):
        return names
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def describe_call(name: str, fn: Callable, args: tuple, kwargs: dict) -> str:
    """``'train(X (4, 2), params dict, lr scalar)'``: the call with the shapes it was given."""
    names = parameter_names(fn)
    parts = [f"{names[i]} {describe_shape(a)}" if i < len(names) else describe_shape(a) for i, a in enumerate(args)]
    parts += [f"{key} {describe_shape(value)}" for key, value in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def crash_message(name: str, fn: Callable, args: tuple, kwargs: dict, exc: BaseException) -> str:
    """What a student sees when their function raised ``exc`` on a check's inputs."""
    where = describe_frame(where_raised(exc))
    return (f"{describe_call(name, fn, args, kwargs)} raised {type(exc).__name__}: {exc}"
            + (f"\n  {where}" if where else ""))
