"""The checks that each assignment's test cells call: one module per assignment.

A test cell in ``source/<a>/<notebook>.ipynb`` looks like::

    from autograder.exercises import vectorization as grader
    grader.check_matvec_torch(matvec_torch)
    ### BEGIN HIDDEN TESTS
    grader.check_matvec_torch(matvec_torch, hidden=True)
    ### END HIDDEN TESTS

A check prints one line per thing it verified and raises ``CheckFailed`` with an explanation
otherwise. Public checks use small fixed inputs (built from ``linspace``); hidden checks draw
random inputs from the grading seed (see :mod:`autograder.seeds`).
"""
from __future__ import annotations

import types
from typing import Any, Callable

import numpy as np

from .. import notebook_display
from ..checks import CheckFailed

notebook_display.install()


def passed(message: str) -> None:
    """Print a pass line; it becomes part of the feedback."""
    print(f"✓ {message}")


def call_student(name: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call a student's function; turn a crash into a ``CheckFailed`` naming the function.

    ``NotImplementedError`` (the untouched stub) gets its own message.
    """
    if not callable(fn):
        raise CheckFailed(f"{name}: expected a function, got a {type(fn).__name__}. Did you overwrite its name?")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailed(f"{name}: not implemented yet (it raised NotImplementedError).") from None
    except CheckFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - any crash is the student's to see
        raise CheckFailed(f"{name} raised {type(exc).__name__}: {exc}") from exc


def global_names_used(fn: Callable) -> set[str]:
    """The global names a function (and functions nested in it) refers to."""
    names: set[str] = set()
    stack = [getattr(fn, "__code__", None)]
    while stack:
        code = stack.pop()
        if code is None:
            continue
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return names


def linspace_grid(*shape: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """A fixed, irregular-looking float64 array of ``shape`` built from linspace: public test inputs.

    Deterministic and readable in a failure message, yet with no symmetry that a wrong answer
    (a transpose, a sign) could hide behind.
    """
    n = int(np.prod(shape))
    base = np.linspace(lo, hi, n)
    return (base * np.cos(np.arange(n) * 1.3)).reshape(shape)
