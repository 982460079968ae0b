"""Submissions as a TA receives them, including broken ones: every student gets a row."""
from __future__ import annotations

import csv
import json
import shutil
import sys

import pytest

from autograder.course import get_assignment
from autograder.grading.batch import grade_batch
from autograder.grading.intake import IntakeError, find_submissions

from .conftest import DEMO_SEED, ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vectorization():
    return get_assignment(ROOT, "00_vectorization")


def _correct_sample(assignment):
    return assignment.samples_dir / "correct" / assignment.name / f"{assignment.notebook}.ipynb"


def test_flat_folder_with_broken_files_grades_everyone(tmp_path, vectorization):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(_correct_sample(vectorization), subs / "good.ipynb")
    (subs / "empty.ipynb").write_bytes(b"")
    (subs / "notjson.ipynb").write_text('{"cells": [', encoding="utf-8")
    (subs / "old.ipynb").write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "cells": []}))
    (subs / "latin1.ipynb").write_bytes('{"cells": "caf\xe9"}'.encode("latin-1"))
    (subs / "notes.txt").write_text("not a notebook")  # ignored: not a submission

    results = {r.student: r for r in grade_batch(vectorization, subs, tmp_path / "out", seed=1, progress=False)}
    assert set(results) == {"good", "empty", "notjson", "old", "latin1"}
    assert results["good"].score == 13 and not results["good"].reason
    assert "empty" in results["empty"].reason and "empty.ipynb" in results["empty"].reason
    assert "not valid JSON" in results["notjson"].reason and "notjson.ipynb" in results["notjson"].reason
    assert "nbformat 3" in results["old"].reason
    assert "not UTF-8" in results["latin1"].reason
    for name in ("empty", "notjson", "old", "latin1"):
        assert results[name].score == 0
    with (tmp_path / "out" / "grades.csv").open() as fh:
        assert {row["student"] for row in csv.DictReader(fh)} == set(results)


def test_nbgrader_layout_problems_become_rows(tmp_path, vectorization):
    subs = tmp_path / "subs"
    two = subs / "two_notebooks" / vectorization.name
    two.mkdir(parents=True)
    shutil.copy(_correct_sample(vectorization), two / "a.ipynb")
    shutil.copy(_correct_sample(vectorization), two / "b.ipynb")
    renamed = subs / "renamed" / vectorization.name
    renamed.mkdir(parents=True)
    shutil.copy(_correct_sample(vectorization), renamed / "my_homework.ipynb")
    (subs / "other_course_only" / "99_other").mkdir(parents=True)

    found = {s.student: s for s in find_submissions(subs, vectorization)}
    assert set(found) == {"two_notebooks", "renamed"}
    assert "2 notebooks" in found["two_notebooks"].problem and found["two_notebooks"].path is None
    # The only notebook is graded whatever its name, with a note (as the Gradescope bundle does).
    assert found["renamed"].path == renamed / "my_homework.ipynb" and not found["renamed"].problem
    assert found["renamed"].note == "the notebook was named my_homework.ipynb; graded as vectorization.ipynb"

    results = {r.student: r for r in grade_batch(vectorization, subs, tmp_path / "out", seed=1, progress=False,
                                                 students=["two_notebooks"])}
    assert results["two_notebooks"].score == 0 and "which one" in results["two_notebooks"].reason


def test_missing_or_empty_folder_is_a_clear_error(tmp_path, vectorization):
    with pytest.raises(IntakeError, match="no such folder"):
        find_submissions(tmp_path / "nope", vectorization)
    (tmp_path / "empty").mkdir()
    with pytest.raises(IntakeError, match="no submissions for 00_vectorization"):
        find_submissions(tmp_path / "empty", vectorization)


def test_same_seed_same_grades(tmp_path, vectorization, graded_samples):
    """Graded again, alone and from a flat folder, with the seed of the session's grading."""
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(_correct_sample(vectorization), subs / "ann.ipynb")
    (again,) = grade_batch(vectorization, subs, tmp_path / "a", seed=DEMO_SEED, progress=False)
    (first,) = [r for r in graded_samples[vectorization.name][2] if r.student == "correct"]
    assert again.cell_scores() == first.cell_scores()
    hidden_line = [ln for c in again.cells for ln in c.output.splitlines() if f"seed {DEMO_SEED}" in ln]
    assert hidden_line, "the hidden-test seed must be written into the feedback"


def test_a_kernel_that_did_not_start_is_tried_once_more_and_says_so(tmp_path, vectorization, monkeypatch):
    """The first kernel dies before the student's first cell (as one that misses its start-up limit
    on a busy machine is stopped): nothing of the student's ran, so the notebook is graded again."""
    from autograder.grading.kernel import SandboxedKernelManager
    starts = []
    real_format = SandboxedKernelManager.format_kernel_cmd

    def dies_the_first_time(self, extra_arguments=None):
        starts.append(1)
        if len(starts) == 1:
            return [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
        return real_format(self, extra_arguments)

    monkeypatch.setattr(SandboxedKernelManager, "format_kernel_cmd", dies_the_first_time)
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(_correct_sample(vectorization), subs / "ann.ipynb")
    result = grade_batch(vectorization, subs, tmp_path / "out", seed=1, jobs=1, progress=False)[0]
    assert len(starts) == 2 and result.score == result.max_score and not result.reason, result.reason
    assert any("did not start on the first try" in note for note in result.notes), result.notes
