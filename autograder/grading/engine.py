"""Grade one submission with nbgrader: read it, place it, autograde it, read the points back.

nbgrader does the grading itself: it restores the instructor's test cells (hidden tests
included) from the gradebook, runs the notebook with per-cell time limits and scores each test
cell. This module adds what a TA needs around that: a precise reason when a file cannot be
graded, the submission put back into the released notebook's shape (:mod:`.normalise`, with a
note per repair), the hidden-test seed, and the text each test cell printed.
"""
from __future__ import annotations

import contextlib
import os
import re
import time

import nbformat

from ..grading_side import use_grading_modules
from ..notebooks import NotebookError, cell_output_text, grade_cells, read_notebook
from ..seeds import SEED_ENV
from . import execute
from .intake import Submission
from .kernel import isolation_in_force
from .normalise import matches_anything, normalised
from .results import CellResult, StudentResult
from .workspace import GradingWorkspace


# The kernel inherits these. One thread per kernel: a grading machine runs other work (or other
# kernels) beside it, and torch's worker threads waiting for a busy core slow small operations
# down a thousandfold (see autograder.timing.torch_threads).
KERNEL_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@contextlib.contextmanager
def kernel_environment(seed: int):
    """Set the hidden seed (for the test cells, which run in this process; the kernel manager keeps
    it out of the kernel) and the kernel's thread counts, then restore the environment."""
    wanted = {SEED_ENV: str(seed), **KERNEL_THREADS}
    previous = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def max_points(released: nbformat.NotebookNode) -> dict[str, float]:
    """``{grade_id: points}`` for the test cells of the released notebook, in notebook order."""
    return {gid: float(cell.metadata["nbgrader"]["points"]) for gid, cell in grade_cells(released).items()}


_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)")


def _last_error_line(result: dict) -> str:
    """The reason nbgrader failed: the exception its traceback ends with (nbgrader's own closing
    "Please see the above traceback" says nothing), else the last line that mentions an error."""
    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("[INFO]")]
    raised = [f"{m.group(1)}: {m.group(2)}" for m in map(_EXCEPTION_LINE.match, lines)
              if m and m.group(1) != "NbGraderException"]
    errors = [ln for ln in lines if "Error" in ln or "error" in ln]
    return (raised or errors or lines or ["nbgrader autograde failed"])[-1][:500]


def ungraded(ws: GradingWorkspace, submission: Submission, seed: int, reason: str = "") -> StudentResult:
    """A row of zeros for every test cell of the released notebook (with ``reason``, when nothing
    more will be graded)."""
    points = max_points(read_notebook(ws.release_notebook))
    result = StudentResult(submission.student, ws.assignment.name, max_score=sum(points.values()),
                           seed=seed, submission=str(submission.path or ""), reason=reason)
    result.cells = [CellResult(gid, 0.0, pts) for gid, pts in points.items()]
    return result


def grade_one(ws: GradingWorkspace, submission: Submission, seed: int) -> StudentResult:
    """Grade one submission. Never raises for a bad submission: the result carries the reason."""
    started = time.perf_counter()
    use_grading_modules(ws.assignment.root)  # test cells run here, with the grading side's checks
    released = read_notebook(ws.release_notebook)
    points = max_points(released)
    result = ungraded(ws, submission, seed)
    result.isolation = isolation_in_force().with_exposed(ws.private_paths()).as_dict()
    if submission.note:
        result.notes.append(submission.note)

    def done() -> StudentResult:
        result.seconds = time.perf_counter() - started
        return result

    if submission.path is None:
        result.reason = submission.problem
        return done()
    try:
        nb = read_notebook(submission.path, refuse_duplicates=False)
    except NotebookError as exc:
        result.reason = str(exc)
        return done()
    if not matches_anything(nb, released):
        # No cell is one of the released notebook's (by id or grade_id): nothing ties a cell to
        # a question, so the file is refused rather than guessed at.
        result.reason = (f"{submission.path}: no cell is one of the released notebook's (no matching cell id or "
                         "nbgrader grade_id: was it copied into a new notebook?); paste the answers into the "
                         "released notebook and submit that")
        return done()
    nb, repairs = normalised(nb, released)
    result.notes += repairs

    ws.submit(submission.student, nb)
    execute.last_execution_seconds = 0.0
    with kernel_environment(seed):
        outcome = ws.autograde(submission.student)
        if not outcome.get("success") and execute.last_start_failure:
            # Nothing of the student's ran (a start that missed its limit on a busy machine): try again.
            first_try = execute.last_start_failure
            outcome = ws.autograde(submission.student)
            if outcome.get("success"):
                result.notes.append(f"the grading kernel did not start on the first try ({first_try}); "
                                    "graded on a second")
    result.execution_seconds = execute.last_execution_seconds
    if execute.last_isolation is not None:  # what this student's kernel had, with the paths it could read
        result.isolation = execute.last_isolation.with_exposed(ws.private_paths()).as_dict()
    if not outcome.get("success"):
        result.reason = f"nbgrader could not grade {submission.path}: {_last_error_line(outcome)}"
        return done()

    with ws.gradebook() as gb:
        graded = gb.find_submission(ws.assignment.name, submission.student)
        scores = {g.name: float(g.score or 0.0) for nbk in graded.notebooks for g in nbk.grades
                  if g.name in points}
    outputs = {}
    autograded = ws.autograded_notebook(submission.student)
    if autograded.is_file():
        outputs = {gid: cell_output_text(cell) for gid, cell in grade_cells(read_notebook(autograded)).items()}
    result.cells = [CellResult(gid, scores.get(gid, 0.0), pts, outputs.get(gid, "(the cell did not run)"))
                    for gid, pts in points.items()]
    return done()
