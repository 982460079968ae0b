"""``autograder validate``: the course-CI gate.

For each assignment, four things must hold:
  1. the source notebook scores full marks through the real grading path;
  2. the released stub scores 0, and grading it does not crash;
  3. assignments/, solutions/ and the sample submissions are what source/ generates (fresh);
  4. nbval passes on solutions/ (the posted outputs still reproduce).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .course import Assignment
from .grading.engine import KERNEL_THREADS, grade_one
from .grading.intake import Submission
from .grading.reports import first_failure_line
from .grading.workspace import GradingWorkspace
from .release import stale_parts


@dataclass
class Finding:
    assignment: str
    check: str
    ok: bool
    detail: str = ""


def _grade_as(ws: GradingWorkspace, student: str, path: Path, seed: int):
    return grade_one(ws, Submission(student, path), seed)


def generated_workspace(assignment: Assignment, scratch: Path) -> GradingWorkspace:
    """One nbgrader workspace generated from source/: the score checks grade in it, and its
    release folder is what the committed assignments/ must match."""
    ws = GradingWorkspace(assignment, scratch)
    ws.generate()
    return ws


def check_scores(assignment: Assignment, ws: GradingWorkspace, seed: int = 12345) -> list[Finding]:
    findings = []
    source = _grade_as(ws, "instructor-source", assignment.source_notebook, seed)
    lost = [f"{c.grade_id}: {first_failure_line(c.output)}" for c in source.cells if not c.passed]
    ok = not source.reason and source.score == source.max_score
    findings.append(Finding(assignment.name, "source scores full marks", ok,
                            f"{source.score:g}/{source.max_score:g}" if ok else
                            (source.reason or f"{source.score:g}/{source.max_score:g}; lost: " + "; ".join(lost))))
    stub_path = assignment.release_notebook if assignment.release_notebook.is_file() else ws.release_notebook
    stub = _grade_as(ws, "released-stub", stub_path, seed)
    earned = [f"{c.grade_id} ({c.score:g})" for c in stub.cells if c.score > 0]
    ok = not stub.reason and stub.score == 0
    findings.append(Finding(assignment.name, "released stub scores 0", ok,
                            "0 points, graded without crashing" if ok else
                            (stub.reason or "stub earns points in " + ", ".join(earned))))
    return findings


def check_fresh(assignment: Assignment, released: Path) -> Finding:
    problems = stale_parts(assignment, released)
    detail = ("; ".join(problems) + ". Run `autograder release " + assignment.name + "`") if problems else \
        "assignments/, solutions/ and samples match source/"
    return Finding(assignment.name, "generated files are fresh", not problems, detail)


def check_nbval(assignment: Assignment) -> Finding:
    if not assignment.solution_notebook.is_file():
        return Finding(assignment.name, "nbval on solutions", False, f"{assignment.solution_notebook} is missing")
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval", "-q", "-p", "no:cacheprovider",
                           str(assignment.solution_notebook)], cwd=assignment.root, capture_output=True, text=True,
                          env={**os.environ, **KERNEL_THREADS})  # as release executed them
    tail = [ln for ln in proc.stdout.splitlines() if ln.strip()][-1:] or ["(no output)"]
    detail = tail[0]
    if proc.returncode != 0:
        failed = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAILED")]
        detail = "; ".join(failed[:5]) or detail
    return Finding(assignment.name, "nbval on solutions", proc.returncode == 0, detail)


def validate(assignments: list[Assignment], *, log=print) -> list[Finding]:
    """Run every check on every assignment; ``log`` gets one line per finding as it comes."""
    findings = []
    for assignment in assignments:
        with tempfile.TemporaryDirectory(prefix="validate-") as tmp:
            ws = generated_workspace(assignment, Path(tmp) / "ws")
            new = check_scores(assignment, ws)
            new.append(check_fresh(assignment, ws.release_dir))
        new.append(check_nbval(assignment))
        for f in new:
            log(f"{'✓' if f.ok else '✗'} {f.assignment}: {f.check}: {f.detail}")
        findings += new
    return findings
