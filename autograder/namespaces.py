"""Two small tools on a notebook's code, used on both sides of grading (the checks, and the agent in
the student's kernel): the global names a function refers to, and names set in a namespace for the
length of a block. They import nothing of the kit, so both sides depend on them and not on each other."""
from __future__ import annotations

import contextlib
import types
from typing import Any, Callable


def code_names(fn: Callable) -> set[str]:
    """The global names a local function (and functions nested in it) refers to."""
    names: set[str] = set()
    stack = [getattr(fn, "__code__", None)]
    while stack:
        code = stack.pop()
        if code is None:
            continue
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return names


@contextlib.contextmanager
def names_swapped_in(namespace: dict, parts: dict[str, Any]):
    """Run the block with ``parts`` set in ``namespace``; restore (or remove) each name afterwards."""
    missing = object()
    saved = {name: namespace.get(name, missing) for name in parts}
    namespace.update(parts)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value
