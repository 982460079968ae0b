"""Record what the public checks need to know: the answers on the public inputs.

``autograder release`` runs, in this process, the instructor's solution and then every catalogued
mistake (the sample submissions) through the released notebook's test cells, with the grading
modules loaded and a :class:`~autograder.answers.Recorder` on. Every ``@answer`` call a public
check makes is recorded: the expected values, and the values of each mistake formula the checks
compare a wrong result with. The public module then looks them up instead of computing them.

Only instructor material runs here (the source's solution and the catalogue's edits of it).
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import io
import os
import time
from pathlib import Path
from typing import Callable

from . import answers, samples
from .course import Assignment
from .grading_side import use_grading_modules
from .notebooks import is_test_cell, nbgrader_meta, read_notebook


def _defined_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def run_cell(source: str, namespace: dict) -> str | None:
    """Run one cell in ``namespace``, quietly; the failure's text (None when it ran through)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            exec(compile(source, "<cell>", "exec"), namespace)  # noqa: S102 - instructor material only
        except Exception as exc:  # noqa: BLE001 - a catalogued mistake fails its checks, as it should
            return f"{type(exc).__name__}: {exc}"
    return None


@contextlib.contextmanager
def _working_directory(folder: Path):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def run_notebook(nb, namespace: dict | None = None, *, answer_cells_only: bool = False,
                 run_test_cell: Callable[[object, dict], None] | None = None) -> dict:
    """Run ``nb``'s code cells here; return the namespace. Test cells go to ``run_test_cell``.

    With ``answer_cells_only``, only the answer cells and the test cells run, on top of
    ``namespace`` (a solution run's): a sample differs from the solution only in its answers.
    """
    if namespace is None:
        namespace = {"__name__": "__main__", "__builtins__": builtins}
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        if is_test_cell(cell):
            (run_test_cell or (lambda c, ns: run_cell(c.source, ns)))(cell, namespace)
        elif not answer_cells_only or nbgrader_meta(cell).get("solution"):
            run_cell(cell.source, namespace)
    return namespace


def run_with_samples(assignment: Assignment, release_nb, release_dir: Path,
                     run_test_cell: Callable[[str, object, dict], None], *, whole_notebooks: bool = False,
                     log=print) -> None:
    """The solution, then every sample on top of its namespace (only their answer cells differ);
    each test cell goes to ``run_test_cell(student, cell, namespace)``.

    ``whole_notebooks``: each sample runs every cell in a fresh namespace, as in a student's
    notebook, so what its other cells compute (a training run's weights) comes from its own answers.
    """
    source_nb = read_notebook(assignment.source_notebook)
    with _working_directory(release_dir):
        started = time.perf_counter()
        solution = run_notebook(samples.filled_in(release_nb, source_nb),
                                run_test_cell=lambda c, ns: run_test_cell("correct", c, ns))
        log(f"{assignment.name}: ran the solution ({time.perf_counter() - started:.1f} s)")
        answer_names = set().union(*(_defined_names(c.source) for c in release_nb.cells
                                     if nbgrader_meta(c).get("solution")))
        started = time.perf_counter()
        specs = [s for s in samples.load_specs(assignment) if s.student != "correct"]
        for spec in specs:
            nb = samples.build_sample(spec, release_nb, source_nb, f"{assignment.sample_spec}: ")
            namespace = None if whole_notebooks else {k: v for k, v in solution.items() if k not in answer_names}
            run_notebook(nb, namespace, answer_cells_only=not whole_notebooks,
                         run_test_cell=lambda c, ns, who=spec.student: run_test_cell(who, c, ns))
        log(f"{assignment.name}: ran {len(specs)} catalogued mistakes ({time.perf_counter() - started:.1f} s)")


def record_answers(assignment: Assignment, release_nb, release_dir: Path, *, log=print) -> answers.Recorder:
    """Run the solution and every sample through the released test cells; return what they recorded."""
    use_grading_modules(assignment.root)
    os.environ.setdefault("MPLBACKEND", "Agg")
    recorder = answers.Recorder()

    def record(student: str, cell, namespace: dict) -> None:
        recorder.eager = student == "correct"  # the solution computes every hint; a sample adds its own paths
        with recorder.active():
            run_cell(cell.source, namespace)

    run_with_samples(assignment, release_nb, release_dir, record, log=log)
    return recorder
