"""Run an nbgrader test cell in the grading process, with the notebook's names as handles.

The cell's source comes from the instructor's copy (nbgrader restores it, hidden tests
included), never from the kernel. Its outputs are what the kernel would have shown: the pass
lines, an ``execute_result`` for a last expression (a float result is a cell's partial credit),
and an ``error`` output when a check fails, which makes nbgrader score the cell 0.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import traceback

from nbformat import NotebookNode

from ..checks import CheckFailed
from ..notebook_display import check_failed_traceback
from .remote import KernelAbort, RemoteSession, using
from .streams import OrderedStreams


def names_from_notebook(tree: ast.AST) -> list[str]:
    """The names a cell reads but does not define: what it takes from the notebook.

    Also the string in ``globals().get("name")``, the idiom a test cell uses for a variable the
    student may not have defined.
    """
    loaded, stored = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else stored).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            stored.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stored.add(node.name)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and isinstance(node.func.value, ast.Call) and isinstance(node.func.value.func, ast.Name)
              and node.func.value.func.id == "globals" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            loaded.add(node.args[0].value)
    return sorted(name for name in loaded - stored if not hasattr(builtins, name))


def error_output(ename: str, evalue: str, lines: list[str] | None = None) -> NotebookNode:
    """An ``error`` output (nbgrader scores its cell 0); the traceback is ``lines`` or one line."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=lines or [f"{ename}: {evalue}"])


def exception_output(exc: BaseException) -> NotebookNode:
    """A failed check shows its message, any other exception its last line, as in the kernel."""
    lines = check_failed_traceback(exc) if isinstance(exc, CheckFailed) else \
        traceback.format_exception_only(type(exc), exc)
    return error_output(type(exc).__name__, str(exc), lines)


class _Streams(OrderedStreams):
    """What the test cell prints, as the kernel would have sent it."""

    def outputs(self) -> list[NotebookNode]:
        return [NotebookNode(output_type="stream", name=name, text=text) for name, text in self.chunks if text]


def run_test_cell(source: str, session: RemoteSession, execution_count: int | None = None) -> list[NotebookNode]:
    """Execute ``source`` here; return its outputs.

    Raises :class:`KernelAbort` (with ``outputs`` set to what the cell printed so far) when the
    kernel died or ran out of time under it.
    """
    printed = _Streams()
    value, failure = None, None
    with contextlib.redirect_stdout(printed.stdout), contextlib.redirect_stderr(printed.stderr), using(session):
        try:
            tree = ast.parse(source, "<test cell>")
            namespace = {"__name__": "__main__", "__builtins__": builtins}
            namespace.update(session.lookup(names_from_notebook(tree)))
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            exec(compile(tree, "<test cell>", "exec"), namespace)  # noqa: S102 - the instructor's test code
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<test cell>", "eval"), namespace)  # noqa: S307
        except KernelAbort as abort:
            abort.outputs = printed.outputs()
            raise
        except Exception as exc:  # noqa: BLE001 - a failed check, or a name the notebook lacks
            failure = exc
    outputs = printed.outputs()
    if value is not None:
        outputs.append(NotebookNode(output_type="execute_result", execution_count=execution_count, metadata={},
                                    data={"text/plain": repr(value)}))
    if failure is not None:
        outputs.append(exception_output(failure))
    return outputs
