"""A student's own notebook keeps the feedback grading gives: for every sample submission, each test
cell it loses in grading fails in the student's notebook too (public checks of the student kit), and
every hint grading names there, the public check names as well."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from autograder.course import list_assignments

from .conftest import ROOT, outcome_of, two_at_a_time

HINT = re.compile(r"\b[Hh]int: (.+)")


ASSIGNMENTS = [a.name for a in list_assignments(ROOT) if a.grading_module.is_file()]


def public_outcomes(name: str) -> dict:
    """The public run of the solution and the samples, in a process without the grading modules."""
    env = {k: v for k, v in os.environ.items() if k != "AUTOGRADER_SEED"}
    proc = subprocess.run([sys.executable, "-m", "autograder.public_run", name], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def public_runs():
    """``{assignment: its public outcomes, or the error}``: two public runs at a time, as ``--jobs 2``."""
    return two_at_a_time(public_outcomes, ASSIGNMENTS)


def hints(text: str) -> list[str]:
    return [m.group(1).strip() for m in HINT.finditer(text or "")]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_public_checks_name_the_mistakes_grading_names(assignment, graded_samples, public_runs):
    _, specs, results, _ = graded_samples[assignment]
    public = outcome_of(public_runs, assignment)
    # A test cell the student replaced checks nothing in their notebook; grading restores it.
    own_test_cells = {spec.student: {edit.cell for edit in spec.edits} for spec in specs}
    problems = []
    for result in results:
        mine = public.get(result.student, {})
        for cell in result.cells:
            if cell.passed or cell.grade_id in own_test_cells.get(result.student, ()):
                continue
            if mine.get(cell.grade_id) is None:
                problems.append(f"{result.student}: {cell.grade_id} fails in grading but passes publicly")
                continue
            for hint in hints(cell.output):
                if hint not in mine[cell.grade_id]:
                    problems.append(f"{result.student}: {cell.grade_id}: grading's hint {hint!r} is not in the "
                                    f"public failure: {mine[cell.grade_id][:300]!r}")
    correct = public.get("correct", {})
    assert correct and not any(correct.values()), f"the solution fails public checks: {correct}"
    assert not problems, "\n".join(problems)
