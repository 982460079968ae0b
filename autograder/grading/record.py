"""Write graded results into the run's one nbgrader gradebook, from one process only.

nbgrader's SQLite gradebook does not take concurrent writers, so workers grade in private
workspaces (each with its own copy of the gradebook) and the parent records every result here,
one after another. The autograded notebook is copied beside it, so nbgrader's own tools
(formgrader, generate_feedback) see the same course folder as a sequential run would leave.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .results import StudentResult
from .workspace import GradingWorkspace


def record_result(ws: GradingWorkspace, result: StudentResult, autograded: Path | None) -> None:
    """Store one student's per-cell scores (``auto_score``) and autograded notebook in ``ws``."""
    a = ws.assignment
    with ws.gradebook() as gb:
        gb.update_or_create_student(result.student)
        gb.update_or_create_submission(a.name, result.student)
        for cell in result.cells:
            grade = gb.find_grade(cell.grade_id, a.notebook, a.name, result.student)
            grade.auto_score = cell.score
        gb.db.commit()
    target = ws.autograded_notebook(result.student)
    if target.parent.exists():
        shutil.rmtree(target.parent)
    if autograded is not None and autograded.is_file():
        target.parent.mkdir(parents=True)
        shutil.copy2(autograded, target)


def gradebook_scores(ws: GradingWorkspace, student: str) -> dict[str, float]:
    """``{grade_id: score}`` as the gradebook has it (for checks and tests)."""
    a = ws.assignment
    with ws.gradebook() as gb:
        sub = gb.find_submission(a.name, student)
        return {g.name: float(g.score or 0.0) for nb in sub.notebooks for g in nb.grades}
