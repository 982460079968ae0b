"""The three report formats a grading run writes: grades.csv, feedback pages, results.json."""
from __future__ import annotations

import csv
import json

import pytest

from autograder.grading.reports import feedback_html, gradebook_table, gradescope_results
from autograder.grading.results import CellResult, StudentResult

pytestmark = pytest.mark.slow


def test_grades_csv_has_a_row_per_student_and_a_column_per_cell(graded_samples):
    assignment, specs, results, out = graded_samples["00_vectorization"]
    with (out / "grades.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["student"] for r in rows] == sorted(s.student for s in specs)
    cells = [c.grade_id for c in results[0].cells]
    for column in ["student", "assignment", "score", "max_score", *cells, "seed", "status", "reason"]:
        assert column in rows[0]
    by_student = {r["student"]: r for r in rows}
    assert by_student["correct"]["score"] == by_student["correct"]["max_score"] == "13"
    assert by_student["wrong_result"]["test_linear_torch"] == "0"
    assert by_student["wrong_result"]["score"] == "12"
    assert by_student["stub"]["score"] == "0"


GRADESCOPE_TEST_FIELDS = {"name", "score", "max_score", "output", "visibility"}


def test_results_json_follows_gradescope_format(graded_samples):
    _, specs, results, out = graded_samples["00_vectorization"]
    for spec in specs:
        data = json.loads((out / "results" / f"{spec.student}.json").read_text())
        assert isinstance(data["score"], float)
        assert data["visibility"] in {"visible", "hidden", "after_due_date", "after_published"}
        for test in data["tests"]:
            assert GRADESCOPE_TEST_FIELDS <= set(test)
            assert 0 <= test["score"] <= test["max_score"]
        assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
        assert "seed 2024" in data["output"]


def test_feedback_pages_never_show_hidden_test_source(graded_samples):
    assignment, specs, _, out = graded_samples["00_vectorization"]
    for spec in specs:
        page = (out / "feedback" / spec.student / f"{assignment.notebook}.html").read_text()
        assert "Score:" in page
        assert "BEGIN HIDDEN TESTS" not in page and "hidden=True" not in page
    wrong = (out / "feedback" / "wrong_result" / f"{assignment.notebook}.html").read_text()
    assert "the bias b is missing" in wrong


def test_broken_submission_reports_its_reason_everywhere():
    r = StudentResult("amy", "00_vectorization", 2.0, [CellResult("t1", 0, 1), CellResult("t2", 0, 1)],
                      seed=7, reason="amy.ipynb: not valid JSON (line 3, column 1: Expecting value)")
    assert "not valid JSON" in gradescope_results(r)["output"]
    assert "not valid JSON" in feedback_html(r)
    assert "not valid JSON" in gradebook_table([r])
    assert r.score == 0 and r.status == "error"


def test_summary_shows_pass_rates_and_common_failures(graded_samples):
    from autograder.grading.summary import common_failures, pass_rates
    _, specs, results, out = graded_samples["00_vectorization"]
    page = (out / "summary.html").read_text()
    assert "class summary" in page and "<svg" in page
    rates = {gid: (full, total) for gid, full, total in pass_rates(results)}
    n = len(specs)
    assert rates["test_linear_torch"] == (n - 2, n)      # stub and wrong_result
    assert rates["test_matvec_speed"] == (n - 2, n)      # stub and loop_in_torch
    top = common_failures(results)
    not_implemented = [students for q, msg, students in top if "not implemented yet" in msg]
    assert not_implemented and all(s == ["stub"] for s in not_implemented)
    bias = [students for q, msg, students in top if q == "test_linear_torch" and "values differ" in msg]
    assert bias == [["wrong_result"]]
    assert "#" in next(msg for q, msg, s in top if "values differ" in msg)  # numbers masked


def test_timing_tables_become_bar_charts():
    from autograder.grading.timing_chart import parse_timing_tables
    from autograder.timing import TimingRow, TimingTable
    table = TimingTable([TimingRow("python loop", "cpu", 3.6e-3), TimingRow("matvec_torch", "cpu", 1.6e-5),
                         TimingRow("matvec_torch", "cuda", None, note="skipped: no CUDA device")], "python loop")
    text = f"✓ something\n{table}\n✓ matvec_torch is 225x faster"
    rows = parse_timing_tables(text)[0]
    assert [(n, d) for n, d, _ in rows] == [("python loop", "cpu"), ("matvec_torch", "cpu"), ("matvec_torch", "cuda")]
    assert rows[0][2] == pytest.approx(3.6e-3) and rows[1][2] == pytest.approx(1.6e-5) and rows[2][2] is None
    r = StudentResult("amy", "00_vectorization", 1.0, [CellResult("test_matvec_speed", 1, 1, text)])
    page = feedback_html(r)
    assert page.count("<svg") == 1 and "skipped" in page and "16 µs" in page
    assert "<svg" not in feedback_html(StudentResult("bo", "a", 1.0, [CellResult("t", 1, 1, "✓ no table")]))
