"""``autograder check NOTEBOOK``: what a student runs before submitting.

Runs the notebook from top to bottom in a fresh kernel (as the grader will), then reports each
public test cell: passed, or the check's message. Exits non-zero if any failed. The hidden
tests run only at grading time.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .notebooks import NotebookError, cell_output_text, grade_cells, nbgrader_meta, read_notebook
from .release import execute_notebook

CHECK_CELL_TIMEOUT_S = 120


@dataclass
class TestCellOutcome:
    grade_id: str
    points: float
    passed: bool
    output: str


def run_public_tests(path: Path) -> tuple[list[TestCellOutcome], list[str]]:
    """Execute a copy of the notebook; return each test cell's outcome and errors in answer cells."""
    nb = read_notebook(path)
    execute_notebook(nb, Path(path).resolve().parent, timeout=CHECK_CELL_TIMEOUT_S, allow_errors=True)
    outcomes = []
    for gid, cell in grade_cells(nb).items():
        failed = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        outcomes.append(TestCellOutcome(gid, float(nbgrader_meta(cell).get("points", 0)), not failed,
                                        cell_output_text(cell)))
    answer_errors = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution") and any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            answer_errors.append(f"your cell {meta['grade_id']} raised: {cell_output_text(cell).splitlines()[-1]}")
    return outcomes, answer_errors


def check_notebook(path: Path, *, out=print) -> int:
    """Print per-question results; return the exit status (0: all public tests pass)."""
    try:
        outcomes, answer_errors = run_public_tests(Path(path))
    except NotebookError as exc:
        out(f"✗ {exc}")
        return 2
    if not outcomes:
        out(f"✗ {path}: no autograded test cells found. Is this the notebook from assignments/?")
        return 2
    for err in answer_errors:
        out(f"! {err}")
    for o in outcomes:
        out(f"{'✓' if o.passed else '✗'} {o.grade_id} ({o.points:g} pt)")
        if not o.passed:
            out("    " + o.output.replace("\n", "\n    "))
    earned = sum(o.points for o in outcomes if o.passed)
    total = sum(o.points for o in outcomes)
    out(f"\npublic tests: {earned:g} of {total:g} points pass. Hidden tests with other inputs run at grading time.")
    return 0 if all(o.passed for o in outcomes) else 1
