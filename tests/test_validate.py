"""`autograder validate` passes on the repository and fails, with the reason, when it should."""
from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from autograder.course import get_assignment
from autograder.release import stale_checks
from autograder.validate import check_fresh, check_nbval, check_scores, generated_workspace

from .conftest import ROOT, copy_course

pytestmark = pytest.mark.slow


def test_repository_validates(tmp_path):
    assignment = get_assignment(ROOT, "00_vectorization")
    ws = generated_workspace(assignment, tmp_path / "ws")
    findings = check_scores(assignment, ws) + [check_fresh(assignment, ws.release_dir), check_nbval(assignment)]
    assert all(f.ok for f in findings), [f.detail for f in findings if not f.ok]


def _edit_source(course, grade_id, find, replace):
    path = course / "source" / "00_vectorization" / "vectorization.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    assert find in cell.source
    cell.source = cell.source.replace(find, replace)
    nbformat.write(nb, path)


def test_broken_solution_fails_full_marks(tmp_path):
    course = copy_course(tmp_path / "course")
    _edit_source(course, "matvec_torch", "return X @ w + b", "return X @ w")
    assignment = get_assignment(course, "00")
    findings = {f.check: f for f in check_scores(assignment, generated_workspace(assignment, tmp_path / "g"))}
    full = findings["source scores full marks"]
    assert not full.ok and "test_matvec_torch" in full.detail and "12/13" in full.detail


def test_stale_assignments_are_caught(tmp_path):
    course = copy_course(tmp_path / "course")
    _edit_source(course, "dot_loop", "b + x . w with a Python loop.", "b + x . w, looping.")
    assignment = get_assignment(course, "00")
    finding = check_fresh(assignment, generated_workspace(assignment, tmp_path / "f").release_dir)
    assert not finding.ok
    assert "assignments/00_vectorization/vectorization.ipynb: stale" in finding.detail
    assert "solutions/00_vectorization/vectorization.ipynb: stale" in finding.detail
    assert "autograder release 00_vectorization" in finding.detail


def test_stub_that_earns_points_is_caught(tmp_path):
    course = copy_course(tmp_path / "course")
    stub = course / "assignments" / "00_vectorization" / "vectorization.ipynb"
    nb = nbformat.read(stub, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "dot_loop")
    cell.source = cell.source.replace("raise NotImplementedError()", "return b + sum(a * c for a, c in zip(x, w))")
    nbformat.write(nb, stub)
    assignment = get_assignment(course, "00")
    findings = {f.check: f for f in check_scores(assignment, generated_workspace(assignment, tmp_path / "g"))}
    assert not findings["released stub scores 0"].ok
    assert "test_dot_loop" in findings["released stub scores 0"].detail


def test_solution_outputs_that_no_longer_reproduce_fail_nbval(tmp_path):
    course = copy_course(tmp_path / "course")
    path = course / "solutions" / "00_vectorization" / "vectorization.ipynb"
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "test_dot_loop")
    cell["outputs"][0]["text"] = ["✓ something else entirely\n"]
    path.write_text(json.dumps(nb))
    finding = check_nbval(get_assignment(course, "00"))
    assert not finding.ok and "FAILED" in finding.detail


def test_a_grading_module_changed_without_a_release_is_caught(tmp_path):
    course = copy_course(tmp_path / "course")
    shutil.copytree(ROOT / "autograder" / "exercises", course / "autograder" / "exercises")
    assignment = get_assignment(course, "01")
    assert stale_checks(assignment) == []
    module = assignment.grading_module
    text = module.read_text(encoding="utf-8")
    assert text.count("VALUE_RTOL, VALUE_ATOL = 1e-7, 1e-10") == 1
    module.write_text(text.replace("VALUE_RTOL, VALUE_ATOL = 1e-7, 1e-10", "VALUE_RTOL, VALUE_ATOL = 1e-6, 1e-10"),
                      encoding="utf-8")
    problems = stale_checks(assignment)
    assert any("exercises/xor_backprop.py: stale" in p for p in problems), problems
    assert any("published/xor_backprop.npz: stale" in p for p in problems), problems
