"""The unit tests' notebooks, made from an assignment's own files, so that nothing is written twice:
the solution is the source notebook's answer cells, and a catalogued mistake is read from the
catalogue (``source/<a>/mistakes.toml``) that also makes the sample submissions.

A test file takes ``SOLUTION = solution_code(A)`` and, for each catalogued mistake it tests,
``NAME = mistake(A, student)``: the ``(find, replace)`` edits of that sample, which
``conftest.run_solution`` applies to ``SOLUTION``. Edits of its own (mistakes the catalogue does
not grade) stay in the test file.
"""
from __future__ import annotations

import functools

from autograder import samples
from autograder.course import get_assignment
from autograder.notebooks import is_test_cell, nbgrader_meta, read_notebook

from .conftest import ROOT


@functools.cache
def _assignment(name: str):
    assignment = get_assignment(ROOT, name)
    specs = {spec.student: spec for spec in samples.load_specs(assignment)}
    return assignment, specs


def _imports(cell_source: str) -> list[str]:
    return [line for line in cell_source.splitlines() if line.startswith(("import ", "from "))
            and "autograder" not in line]


@functools.cache
def solution_code(name: str) -> str:
    """The imports of the notebook's set-up cells, then every answer cell of the source notebook
    (the solution, markers removed), as one module's source."""
    assignment, _ = _assignment(name)
    nb = samples.filled_in(read_notebook(assignment.release_notebook), read_notebook(assignment.source_notebook))
    imports, answers = [], []
    for cell in nb.cells:
        if cell.cell_type != "code" or is_test_cell(cell):
            continue
        if nbgrader_meta(cell).get("solution"):
            answers.append(cell.source)
        else:
            imports += [line for line in _imports(cell.source) if line not in imports]
    return "\n".join(imports) + "\n\n\n" + "\n\n\n".join(answers) + "\n"


def mistake(name: str, student: str) -> tuple[str, str] | list[tuple[str, str]]:
    """The catalogued sample ``student``'s edits: one ``(find, replace)`` pair, or a list of them
    (the test files' own convention for edits)."""
    _, specs = _assignment(name)
    if student not in specs:
        raise KeyError(f"{name}: no sample {student!r} in the catalogue (have {sorted(specs)})")
    edits = [(edit.find, edit.replace) for edit in specs[student].edits]
    return edits[0] if len(edits) == 1 else edits
