"""Broken and hostile submissions (tests/hostile/cases.toml), graded in one batch with --jobs 2.

Every case must score exactly what it says, with its reason; no case may stop the batch or
change anyone else's row: the honest samples mixed into the batch score what they score alone.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.course import get_assignment
from autograder.grading.kernel import PRIVATE_UIDS, isolation_available
from autograder.grading.record import gradebook_scores
from autograder.grading.workspace import GradingWorkspace

from .hostile.corpus import load_cases

pytestmark = pytest.mark.slow

CASES = load_cases()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from .hostile.corpus import grade_corpus
    work = tmp_path_factory.mktemp("hostile")
    graded, honest = grade_corpus(work, jobs=2)
    table = os.environ.get("AUTOGRADER_HOSTILE_TABLE")  # where to write the README's table, if wanted
    if table:
        from .hostile.corpus import markdown_table
        Path(table).write_text(markdown_table(list(graded.values())) + "\n", encoding="utf-8")
    return work, graded, honest


def _param(case):
    marks = [pytest.mark.xfail(reason=case.hole, strict=True)] if case.hole else []
    if case.name in ("read_source", "read_other_submissions", "write_gradebook", "delete_course", "open_socket"):
        marks.append(pytest.mark.skipif(not isolation_available(), reason="namespaces need root"))
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case_scores_exactly_as_expected(corpus, case):
    _, graded, _ = corpus
    g = graded[case.name]
    r = g.result
    if case.fails == "all":
        assert r.score == 0 and case.reason in r.reason, r.reason
        return
    assert not r.reason, r.reason
    expected = {c.grade_id: (0.0 if c.grade_id in case.fails else c.max_score) for c in r.cells}
    assert r.cell_scores() == expected, f"{case.name}: {r.cell_scores()}"
    if case.says:
        first_failed = next(c for c in r.cells if c.grade_id == case.fails[0])
        assert case.says in first_failed.output, first_failed.output
    if case.shows:
        assert case.shows in g.inserted_output, g.inserted_output


def test_honest_rows_in_the_hostile_batch_equal_their_scores_graded_alone(corpus, graded_samples):
    _, _, honest = corpus
    for assignment_name, results in honest.items():
        alone = {r.student: r for r in graded_samples[assignment_name][2]}
        for r in results:
            assert r.cell_scores() == alone[r.student.removeprefix("honest-")].cell_scores(), r.student


def test_the_gradebook_holds_what_was_graded(corpus):
    work, graded, honest = corpus
    for assignment_name, results in honest.items():
        a = get_assignment(work / "course", assignment_name)
        ws = GradingWorkspace(a, work / f"out-{assignment_name}" / ".nbgrader", fresh=False)
        for r in [*results, *(g.result for g in graded.values() if g.case.assignment == assignment_name)]:
            if not r.reason:
                assert gradebook_scores(ws, r.student) == r.cell_scores(), r.student


def test_the_course_is_intact_and_nothing_is_left_running(corpus):
    work, _, _ = corpus
    for name in ("source", "solutions", "examples", "assignments"):
        assert any((work / "course" / name).iterdir()), f"{name}/ was emptied"
    if isolation_available():
        leftovers = [p for p in os.listdir("/proc") if p.isdigit() and _uid(p) in PRIVATE_UIDS]
        assert not leftovers, f"processes of sandbox users still running: {leftovers}"


def _uid(pid: str) -> int:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return -1
