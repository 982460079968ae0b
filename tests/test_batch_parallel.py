"""Parallel grading: same scores as sequential, one gradebook written by the parent, and a
regrade of one student that leaves the other rows alone."""
from __future__ import annotations

import csv
import shutil

import pytest

from autograder.course import get_assignment
from autograder.grading.batch import grade_batch
from autograder.grading.record import gradebook_scores
from autograder.grading.workspace import GradingWorkspace

from .conftest import DEMO_SEED, ROOT

pytestmark = pytest.mark.slow
STUDENTS = ("correct", "wrong_result", "stub")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    a = get_assignment(ROOT, "00_vectorization")
    subs = tmp_path_factory.mktemp("subs")
    for s in STUDENTS:
        shutil.copytree(a.samples_dir / s, subs / s)
    return a, subs


def _rows(out):
    with (out / "grades.csv").open(newline="") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def test_parallel_equals_sequential_and_fills_one_gradebook(setup, graded_samples, tmp_path):
    """The session's --jobs 2 grading of every 00 sample, against some of them graded in-process."""
    a, subs = setup
    _, _, graded, par = graded_samples[a.name]
    parallel = [r for r in graded if r.student in STUDENTS]
    sequential = grade_batch(a, subs, tmp_path / "seq", seed=DEMO_SEED, jobs=1, progress=False)
    assert [r.student for r in parallel] == [r.student for r in sequential] == sorted(STUDENTS)
    assert [r.cell_scores() for r in parallel] == [r.cell_scores() for r in sequential]
    strip = lambda rows: {k: {c: v for c, v in row.items() if c != "notes"}  # noqa: E731
                          for k, row in rows.items() if k in STUDENTS}
    assert strip(_rows(par)) == strip(_rows(tmp_path / "seq"))
    ws = GradingWorkspace(a, par / ".nbgrader", fresh=False)
    for r in graded:
        assert gradebook_scores(ws, r.student) == r.cell_scores()
        assert ws.autograded_notebook(r.student).is_file()
    assert not (par / ".nbgrader" / "workers").exists()


def test_regrading_one_student_keeps_the_other_rows(setup, graded_samples, tmp_path):
    """A regrade of one student in a copy of the session's grading of every 00 sample."""
    a, subs = setup
    out = tmp_path / "out"
    shutil.copytree(graded_samples[a.name][3], out)
    before = _rows(out)
    # The student resubmits a fixed notebook; only their row may change.
    shutil.copy(a.samples_dir / "correct" / a.name / f"{a.notebook}.ipynb",
                subs / "wrong_result" / a.name / f"{a.notebook}.ipynb")
    try:
        regraded = grade_batch(a, subs, out, seed=DEMO_SEED, students=["wrong_result"], progress=False)
    finally:
        shutil.copy(a.samples_dir / "wrong_result" / a.name / f"{a.notebook}.ipynb",
                    subs / "wrong_result" / a.name / f"{a.notebook}.ipynb")
    after = _rows(out)
    assert [r.student for r in regraded] == ["wrong_result"]
    assert set(after) == set(before) and len(after) > len(STUDENTS)
    assert after["wrong_result"]["score"] == "13" and before["wrong_result"]["score"] == "12"
    for other in set(before) - {"wrong_result"}:
        assert after[other] == before[other]
    ws = GradingWorkspace(a, out / ".nbgrader", fresh=False)
    assert sum(gradebook_scores(ws, "correct").values()) == 13
    assert sum(gradebook_scores(ws, "wrong_result").values()) == 13


def test_unknown_student_is_a_clear_error(setup, tmp_path):
    a, subs = setup
    with pytest.raises(ValueError, match="no submission for nobody"):
        grade_batch(a, subs, tmp_path / "o", students=["nobody"], progress=False)
