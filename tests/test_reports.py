"""The three report formats a grading run writes: grades.csv, feedback pages, results.json."""
from __future__ import annotations

import csv
import json
import re

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
    from autograder.grading.summary import failure_groups, pass_rates
    assignment, specs, results, out = graded_samples["00_vectorization"]
    page = (out / "summary.html").read_text()
    assert "class summary" in page and "<svg" in page
    for spec in specs:  # every student links to their feedback page, which exists
        href = f"feedback/{spec.student}/{assignment.notebook}.html"
        assert f'href="{href}"' in page and (out / href).is_file()
    rates = {gid: (full, total) for gid, full, total in pass_rates(results)}
    n = len(specs)
    for gid in ("test_linear_torch", "test_matvec_speed"):  # the catalogue says who fails each
        failing = sum(gid in spec.fails for spec in specs)
        assert 0 < failing < n and rates[gid] == (n - failing, n), gid
    groups = failure_groups(results)
    not_implemented = [g.students for g in groups if "not implemented yet" in g.text]
    assert not_implemented and all(s == ["stub"] for s in not_implemented)
    bias = [(g.kind, g.students) for g in groups if g.question == "test_linear_torch" and "bias b is missing" in g.text]
    assert bias == [("mistake", ["wrong_result"])]


def _failed(student: str, output: str, grade_id: str = "test_backprop", points: float = 3) -> StudentResult:
    return StudentResult(student, "01_xor_backprop", 14.0, [CellResult("test_sigmoid", 1, 1),
                                                           CellResult(grade_id, 0, points, output)])


def test_failures_group_by_the_mistake_named_not_by_the_numbers_in_the_call():
    from autograder.grading.summary import failure_groups
    results = [_failed(f"s{i}", f"CheckFailed: backprop(X {(4 + i, 3)}, W1 (3, {i})): dW1 right, db2 wrong\n"
                                f"  greatest difference: 0.{i}1\n  hint: the bias gradient is not summed over the batch")
               for i in range(4)]
    results.append(_failed("t", "CheckFailed: backprop(X (4, 3)): dW1 wrong, db2 right"))
    results.append(_failed("u", "CheckFailed: backprop(X (5, 3)): dW1 wrong, db2 right"))
    groups = failure_groups(results)
    assert [(g.kind, g.students) for g in groups] == [
        ("mistake", ["s0", "s1", "s2", "s3"]), ("message", ["t", "u"])]
    assert "dW1 wrong, db2 right" in groups[1].text  # names kept, numbers masked
    assert "(#, #)" in groups[1].text


def test_the_summary_says_how_many_groups_it_does_not_show():
    from autograder.grading.summary import SHOWN_GROUPS, summary_html
    results = [_failed(f"s{i}", f"CheckFailed: message number {chr(65 + i % 26)}{i // 26} differs")
               for i in range(SHOWN_GROUPS + 5)]
    page = summary_html(results, "01_xor_backprop", 7, notebook="xor_backprop")
    assert "5 more groups not shown" in page
    assert 'href="feedback/s0/xor_backprop.html"' in page


def test_whole_scores_get_a_bar_each_and_full_marks_its_own():
    from autograder.grading.summary import score_bins
    bins = score_bins([14, 14, 13, 13, 13, 0], 14)
    assert len(bins) == 15 and bins[-1] == ("14", 2) and bins[13] == ("13", 3) and bins[0] == ("0", 1)
    halves = score_bins([13.5, 14, 0.5], 14)  # not whole: ten bins below full marks, then full marks
    assert len(halves) == 11 and halves[-1] == ("14", 1) and sum(n for _, n in halves) == 3


def test_the_tallest_bar_keeps_its_count_inside_the_picture():
    from autograder.grading.summary import _histogram_svg
    svg = _histogram_svg([14.0] * 30, 14)
    ys = [float(y) for y in re.findall(r'<text x="[^"]+" y="([^"]+)"', svg)]
    assert min(ys) > 0 and ">30<" in svg


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


def test_four_copies_of_each_01_sample_make_one_group_per_mistake_and_full_marks_stand_apart(graded_samples):
    """As a TA would see 4 students per mistake: each copy's numbers differ (timings, values), its
    names do not; every group then holds all 4 copies of each sample in it."""
    import copy as copying
    from autograder.grading.summary import failure_groups, score_bins
    _, specs, results, _ = graded_samples["01_xor_backprop"]
    number = re.compile(r"(?<![A-Za-z_\d])\d+(?:\.\d+)?")
    copies = []
    for r in results:
        for k in range(4):
            c = copying.deepcopy(r)
            c.student = f"{r.student}-{k}"
            for cell in c.cells:
                cell.output = number.sub(lambda m: str(float(m.group()) + 0.1 * k) if k else m.group(), cell.output)
            copies.append(c)
    groups = failure_groups(copies)
    assert groups
    for g in groups:
        samples = {s.rsplit("-", 1)[0] for s in g.students}
        assert len(g.students) == 4 * len(samples), (g.question, g.text, g.students)
    assert any(g.kind == "mistake" for g in groups)
    bins = dict(score_bins([c.score for c in copies], 14))
    full = sum(r.score == 14 for r in results)
    assert bins["14"] == 4 * full and bins["13"] == 4 * sum(r.score == 13 for r in results)
