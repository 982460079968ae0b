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

from .conftest import ROOT

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


def test_parallel_equals_sequential_and_fills_one_gradebook(setup, tmp_path):
    a, subs = setup
    parallel = grade_batch(a, subs, tmp_path / "par", seed=11, jobs=2, progress=False)
    sequential = grade_batch(a, subs, tmp_path / "seq", seed=11, jobs=1, progress=False)
    assert [r.cell_scores() for r in parallel] == [r.cell_scores() for r in sequential]
    assert [r.student for r in parallel] == sorted(STUDENTS)
    strip = lambda rows: {k: {c: v for c, v in row.items() if c != "notes"} for k, row in rows.items()}  # noqa: E731
    assert strip(_rows(tmp_path / "par")) == strip(_rows(tmp_path / "seq"))
    ws = GradingWorkspace(a, tmp_path / "par" / ".nbgrader", fresh=False)
    for r in parallel:
        assert gradebook_scores(ws, r.student) == r.cell_scores()
        assert ws.autograded_notebook(r.student).is_file()
    assert not (tmp_path / "par" / ".nbgrader" / "workers").exists()


def test_regrading_one_student_keeps_the_other_rows(setup, tmp_path):
    a, subs = setup
    out = tmp_path / "out"
    grade_batch(a, subs, out, seed=3, jobs=2, progress=False)
    before = _rows(out)
    # The student resubmits a fixed notebook; only their row may change.
    shutil.copy(a.samples_dir / "correct" / a.name / f"{a.notebook}.ipynb",
                subs / "wrong_result" / a.name / f"{a.notebook}.ipynb")
    try:
        regraded = grade_batch(a, subs, out, seed=3, students=["wrong_result"], progress=False)
    finally:
        shutil.copy(a.samples_dir / "wrong_result" / a.name / f"{a.notebook}.ipynb",
                    subs / "wrong_result" / a.name / f"{a.notebook}.ipynb")
    after = _rows(out)
    assert [r.student for r in regraded] == ["wrong_result"]
    assert set(after) == set(STUDENTS)
    assert after["wrong_result"]["score"] == "13" and before["wrong_result"]["score"] == "12"
    for other in ("correct", "stub"):
        assert after[other] == before[other]
    ws = GradingWorkspace(a, out / ".nbgrader", fresh=False)
    assert sum(gradebook_scores(ws, "correct").values()) == 13
    assert sum(gradebook_scores(ws, "wrong_result").values()) == 13


def test_unknown_student_is_a_clear_error(setup, tmp_path):
    a, subs = setup
    with pytest.raises(ValueError, match="no submission for nobody"):
        grade_batch(a, subs, tmp_path / "o", students=["nobody"], progress=False)
