"""Show a failed check in a notebook as its message, not as a 40-line traceback.

A student reading a failed test cell needs the explanation (which function, which shapes,
expected vs got, a hint), not the autograder's internals. Inside IPython we register a handler
for :class:`~autograder.checks.CheckFailed` that still reports an *error* (so nbgrader scores
the cell 0) but whose traceback is just the message.
"""
from __future__ import annotations

import textwrap

from .checks import CheckFailed

_RED, _RESET = "\x1b[0;31m", "\x1b[0m"
WIDTH = 96  # characters: JupyterLab's output area at its default width, and a terminal's


def wrapped(message: str, width: int = WIDTH) -> str:
    """``message`` with each long line broken at spaces (never inside a word), continuation
    lines indented under their line: the browser would otherwise break lines mid-word."""
    out = []
    for line in message.splitlines() or [""]:
        indent = line[:len(line) - len(line.lstrip())]
        out += textwrap.wrap(line, width, subsequent_indent=indent + "  ", break_long_words=False,
                             break_on_hyphens=False, drop_whitespace=True) or [line]
    return "\n".join(out)


def check_failed_traceback(value) -> list[str]:
    """The traceback a failed check shows: just its message, wrapped at word boundaries."""
    text = wrapped(f"CheckFailed: {value}")
    return [f"{_RED}CheckFailed{_RESET}{text.removeprefix('CheckFailed')}"]


def _show_check_failure(shell, etype, value, tb, tb_offset=None):
    stb = check_failed_traceback(value)
    shell._showtraceback(etype, value, stb)  # publishes an 'error' output, as a traceback would
    return stb


def install() -> None:
    """Register the handler in the running IPython shell; a no-op outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "_autograder_display_installed", False):
        return
    shell.set_custom_exc((CheckFailed,), _show_check_failure)
    shell._autograder_display_installed = True
