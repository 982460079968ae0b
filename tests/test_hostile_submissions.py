"""Broken and hostile submissions (tests/hostile/cases.toml), graded in one batch with --jobs 2.

Every case must score exactly what it says, with its reason; no case may stop the batch or
change anyone else's row: the honest samples mixed into the batch score what they score alone.
Decoys (tests/hostile/decoys.py) are planted outside the course first, for find_decoys to miss.
This runs under the isolation this machine gives; tests/test_isolation_configurations.py grades
a part of the corpus under the weaker configurations it can make.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.course import get_assignment
from autograder.grading.kernel import PRIVATE_UIDS, isolation_in_force
from autograder.grading.record import gradebook_scores
from autograder.grading.workspace import GradingWorkspace

from .conftest import ROOT
from .hostile.corpus import kernel_is_root, load_cases, runs_here, verdict

pytestmark = pytest.mark.slow

CASES = load_cases()
DECOY_SOLUTION = ROOT / "examples" / "submissions" / "correct" / "01_xor_backprop" / "xor_backprop.ipynb"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from .hostile import decoys as planted
    from .hostile.corpus import grade_corpus
    work = tmp_path_factory.mktemp("hostile")
    decoys = planted.plant(DECOY_SOLUTION) if os.geteuid() == 0 else None  # /home needs root
    try:
        graded, honest = grade_corpus(work, jobs=2)
    finally:
        if decoys is not None:
            planted.remove(decoys)
    table = os.environ.get("AUTOGRADER_HOSTILE_TABLE")  # where to write the README's table, if wanted
    if table:
        from .hostile.corpus import markdown_table
        Path(table).write_text(markdown_table(list(graded.values())) + "\n", encoding="utf-8")
    return work, graded, honest, decoys


def _param(case):
    marks = [pytest.mark.xfail(reason=case.hole, strict=True)] if case.hole else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case_scores_exactly_as_expected(corpus, case):
    _, graded, _, decoys = corpus
    layers = isolation_in_force().layers
    if case.name not in graded:
        assert not runs_here(case)
        pytest.skip(f"not run: the kernel would run as root and do it ({isolation_in_force().describe()})")
    if not case.holds_under(layers, kernel_is_root()):
        pytest.skip(f"needs the {case.needs} layer; {isolation_in_force().describe()}")
    problem = verdict(graded[case.name], decoys)
    assert not problem, f"{case.name}: {problem}"


def test_honest_rows_in_the_hostile_batch_equal_their_scores_graded_alone(corpus, graded_samples):
    _, _, honest, _ = corpus
    for assignment_name, results in honest.items():
        alone = {r.student: r for r in graded_samples[assignment_name][2]}
        for r in results:
            assert r.cell_scores() == alone[r.student.removeprefix("honest-")].cell_scores(), r.student


def test_the_gradebook_holds_what_was_graded(corpus):
    work, graded, honest, _ = corpus
    for assignment_name, results in honest.items():
        a = get_assignment(work / "course", assignment_name)
        ws = GradingWorkspace(a, work / f"out-{assignment_name}" / ".nbgrader", fresh=False)
        for r in [*results, *(g.result for g in graded.values() if g.case.assignment == assignment_name)]:
            if not r.reason:
                assert gradebook_scores(ws, r.student) == r.cell_scores(), r.student


def test_every_row_names_the_isolation_it_was_graded_under(corpus):
    _, graded, honest, _ = corpus
    layers = list(isolation_in_force().layers)
    for r in [*(g.result for g in graded.values()), *(r for rows in honest.values() for r in rows)]:
        assert r.isolation["layers"] == layers, (r.student, r.isolation)


def test_the_course_is_intact_and_nothing_is_left_running(corpus):
    work, _, _, _ = corpus
    for name in ("source", "solutions", "examples", "assignments"):
        assert any((work / "course" / name).iterdir()), f"{name}/ was emptied"
        assert any((ROOT / name).iterdir()), f"the checkout's {name}/ was emptied"
    if isolation_in_force().uses_uid:
        leftovers = [p for p in os.listdir("/proc") if p.isdigit() and _uid(p) in PRIVATE_UIDS]
        assert not leftovers, f"processes of sandbox users still running: {leftovers}"


def _uid(pid: str) -> int:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return -1
