"""``autograder grade A SUBMISSIONS --out DIR``: grade a folder of submissions, one by one.

Every submission gets a row, whatever it does: a file that cannot be read, a notebook that
crashes, or an nbgrader failure scores 0 with the reason, and the batch goes on. One seed per
batch feeds the hidden tests; it is chosen at random unless given, and written into every row.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from tqdm import tqdm

from ..course import Assignment
from . import reports
from .engine import grade_one
from .intake import find_submissions
from .results import StudentResult
from .workspace import GradingWorkspace


def grade_batch(assignment: Assignment, submissions: Path, out: Path, *, seed: int | None = None,
                students: list[str] | None = None, progress: bool = True) -> list[StudentResult]:
    """Grade every submission for ``assignment`` under ``submissions``; write the reports to ``out``.

    Args:
        seed: the hidden-test seed (default: drawn at random, then recorded in every row).
        students: grade only these students (default: all found).
        progress: show a progress bar (on stderr).

    Returns:
        One result per student, sorted by student.
    """
    out = Path(out)
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    found = find_submissions(Path(submissions), assignment)
    if students:
        missing = sorted(set(students) - {s.student for s in found})
        if missing:
            raise ValueError(f"no submission for {', '.join(missing)} in {submissions}")
        found = [s for s in found if s.student in students]

    ws = GradingWorkspace(assignment, out / ".nbgrader")
    ws.generate()
    results: list[StudentResult] = []
    failures = 0
    bar = tqdm(found, desc=f"grading {assignment.name}", unit="nb", disable=not progress, dynamic_ncols=True)
    for submission in bar:
        bar.set_postfix_str(f"{submission.student}; failures so far: {failures}")
        result = grade_one(ws, submission, seed)
        failures += bool(result.reason)
        results.append(result)
    bar.close()

    reports.write_grades_csv(results, out / "grades.csv")
    for r in results:
        reports.write_feedback(r, out / "feedback" / r.student / f"{assignment.notebook}.html")
        reports.write_results_json(r, out / "results" / f"{r.student}.json")
    return sorted(results, key=lambda r: r.student)
