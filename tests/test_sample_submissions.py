"""End to end: every sample submission, graded through nbgrader, scores exactly as its spec says.

This is how we prove the autograder catches each known mistake: a sample loses exactly the
points of the test cells listed in source/<a>/mistakes.toml, and keeps all others.
"""
from __future__ import annotations

import pytest

from autograder import samples
from autograder.course import list_assignments

from .conftest import ROOT


def _all_samples():
    for assignment in list_assignments(ROOT):
        for spec in samples.load_specs(assignment):
            marks = KNOWN_GAPS.get((assignment.name, spec.student), ())
            yield pytest.param(assignment.name, spec.student, id=f"{assignment.name}-{spec.student}", marks=marks)


# Known gaps, each with its reason (a pytest.mark.xfail(strict=True)), so that a fix shows up at once.
KNOWN_GAPS: dict = {}


@pytest.mark.slow
@pytest.mark.parametrize("assignment_name, student", list(_all_samples()))
def test_sample_scores_exactly_as_expected(graded_samples, assignment_name, student):
    assignment, specs, results, _ = graded_samples[assignment_name]
    spec = next(s for s in specs if s.student == student)
    result = next(r for r in results if r.student == student)
    assert not result.reason, f"{student} could not be graded: {result.reason}"
    expected = spec.expected_cell_scores({c.grade_id: c.max_score for c in result.cells})
    assert result.cell_scores() == expected, f"{student}: {spec.about}"


@pytest.mark.slow
def test_every_assignment_has_a_correct_and_a_stub_sample(graded_samples):
    for name, (assignment, specs, results, _) in graded_samples.items():
        by_student = {r.student: r for r in results}
        assert by_student["correct"].score == by_student["correct"].max_score > 0, name
        assert by_student["stub"].score == 0, name


@pytest.mark.slow
def test_failed_cells_explain_themselves(graded_samples):
    """A lost point comes with a message naming the function and, where one fits, the mistake."""
    _, _, results, _ = graded_samples["00_vectorization"]
    cells = {r.student: {c.grade_id: c for c in r.cells} for r in results}
    assert "hint: the bias b is missing" in cells["wrong_result"]["test_linear_torch"].output
    assert "Python loop" in cells["loop_in_torch"]["test_matvec_speed"].output
    crash = cells["raises"]["test_pairwise_distances_torch"].output
    assert "pairwise_distances_torch(X (4, 3), Y (5, 3)) raised RuntimeError" in crash
    assert "in your pairwise_distances_torch, line 7 of its cell: squared = " in crash
    assert "not implemented yet" in cells["stub"]["test_dot_loop"].output
    assert "NameError" in cells["syntax_error"]["test_linear_loop"].output
    # The restored test ran (the student's print was replaced), and the TA is told.
    assert "all tests passed" not in cells["edited_test_cell"]["test_matvec_loop"].output
    assert "hint: the bias b is missing" in cells["edited_test_cell"]["test_matvec_loop"].output
    edited = next(r for r in results if r.student == "edited_test_cell")
    assert any("test_matvec_loop was edited" in note for note in edited.notes)


@pytest.mark.slow
def test_warnings_on_stderr_do_not_cost_points(graded_samples):
    _, _, results, _ = graded_samples["00_vectorization"]
    warns = next(r for r in results if r.student == "warns")
    assert warns.score == warns.max_score
    assert "[stderr]" in next(c for c in warns.cells if c.grade_id == "test_linear_loop").output


@pytest.mark.slow
def test_hidden_tests_ran_with_the_recorded_seed(graded_samples):
    _, _, results, _ = graded_samples["00_vectorization"]
    correct = next(r for r in results if r.student == "correct")
    assert correct.seed == 2024
    out = next(c for c in correct.cells if c.grade_id == "test_dot_loop").output
    assert "seed 2024" in out and "3 hidden inputs" in out
