"""``autograder grade A SUBMISSIONS --out DIR [--jobs N]``: grade a folder of submissions.

Every submission gets a row, whatever it does: a file that cannot be read, a notebook that
crashes, or an nbgrader failure scores 0 with the reason, and the batch goes on. One seed per
batch feeds the hidden tests; it is chosen at random unless given, and written into every row.

Parallel grading: each submission runs in its own kernel, inside a worker process with a private
copy of the nbgrader workspace (see :meth:`GradingWorkspace.clone`). Workers only grade; the
parent alone writes the run's gradebook (:mod:`.record`) and the reports. ``--jobs 1`` takes
exactly the same path in-process, so parallel and sequential scores agree by construction.
"""
from __future__ import annotations

import csv
import multiprocessing
import os
import secrets
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from ..course import Assignment
from . import reports
from .summary import summary_html
from .engine import grade_one, ungraded
from .intake import Submission, find_lms_submissions, find_submissions
from .isolation import Isolation
from .kernel import isolation_in_force
from .record import record_result
from .results import StudentResult
from .workspace import GradingWorkspace, quiet_gradebook_warnings

_worker_ws: GradingWorkspace | None = None


def _start_worker(base: GradingWorkspace, folder: Path) -> None:
    """Process initialiser: this worker's private workspace, cloned from the generated base."""
    global _worker_ws
    quiet_gradebook_warnings()
    _worker_ws = base.clone(folder / f"worker-{os.getpid()}")


def _grade_in_worker(submission: Submission, seed: int) -> tuple[StudentResult, Path]:
    result = grade_one(_worker_ws, submission, seed)
    return result, _worker_ws.autograded_notebook(submission.student)


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


def _graded(base: GradingWorkspace, found: list[Submission], seed: int, jobs: int, bar: tqdm):
    """Yield ``(result, autograded_notebook)`` as submissions finish."""
    workers = base.path / "workers"
    if jobs <= 1 or len(found) <= 1:
        _start_worker(base, workers)
        for submission in found:
            bar.set_postfix_str(f"grading {submission.student}", refresh=False)
            yield _grade_in_worker(submission, seed)
        return
    # spawn, not fork: each worker starts clean (no inherited kernels, sockets or SQLite handles).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(found)), mp_context=context,
                             initializer=_start_worker, initargs=(base, workers)) as pool:
        futures = {pool.submit(_grade_in_worker, s, seed): s for s in found}
        for future in as_completed(futures):
            submission = futures[future]
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 - a worker crash must not stop the batch
                yield ungraded(base, submission, seed, f"the grading worker crashed: {type(exc).__name__}: {exc}"), \
                    Path("/nonexistent")


def grade_batch(assignment: Assignment, submissions: Path, out: Path, *, seed: int | None = None,
                students: list[str] | None = None, jobs: int | None = None, roster: Path | None = None,
                progress: bool = True, say: Callable[[str], None] | None = None,
                cluster: str | None = None) -> list[StudentResult]:
    """Grade the submissions for ``assignment`` under ``submissions``; write the reports to ``out``.

    Args:
        seed: the hidden-test seed (default: drawn at random, then recorded in every row).
        students: regrade only these students; the other rows of an earlier run in ``out`` are kept.
        jobs: worker processes (default: the number of cores).
        roster: a roster CSV; ``submissions`` is then an LMS export (zip or folder).
        progress: show a progress bar (on stderr): done/total, failures so far, ETA.
        say: prints the line naming the isolation in force, before the first submission.
        cluster: a Dask scheduler address, ``gateway:N`` or ``local:N`` (see :mod:`.cluster`); ``jobs`` is then
            unused.

    Returns:
        One result per graded student, sorted by student.

    Raises:
        IsolationError: the machine cannot give the isolation course.toml requires (nothing graded).
        ClusterError: ``cluster`` is not an address that can be used (nothing graded).
    """
    out = Path(out)
    if cluster:
        from .cluster import check_address
        check_address(cluster)
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    jobs = default_jobs() if jobs is None else max(1, int(jobs))
    if roster is not None:
        found = find_lms_submissions(Path(submissions), assignment, Path(roster), out / ".intake")
    else:
        found = find_submissions(Path(submissions), assignment)
    if students:
        missing = sorted(set(students) - {s.student for s in found})
        if missing:
            raise ValueError(f"no submission for {', '.join(missing)} in {submissions}")
        found = [s for s in found if s.student in students]

    # A regrade keeps the run's gradebook and the other students' autograded notebooks.
    # The student's kernel sees neither the other submissions nor the reports.
    base = GradingWorkspace(assignment, out / ".nbgrader", fresh=not students, hidden=(out, Path(submissions)))
    isolation = _isolation(base, out)
    if say is not None:
        say(isolation.describe())
    isolation.require(base.minimum_isolation, str(assignment.root / "course.toml"))
    base.generate()

    results: list[StudentResult] = []
    failures = 0
    where = f"on {cluster}" if cluster else f"{jobs} job{'s' if jobs > 1 else ''}"
    bar = tqdm(total=len(found), desc=f"grading {assignment.name} ({where})",
               unit="nb", disable=not progress, dynamic_ncols=True)
    if cluster:
        from .cluster import graded_on_cluster
        graded = graded_on_cluster(base, found, seed, cluster)
    else:
        graded = _graded(base, found, seed, jobs, bar)
    try:
        for result, autograded in graded:
            record_result(base, result, autograded if autograded.is_file() else None)
            failures += bool(result.reason) or result.score < result.max_score
            results.append(result)
            bar.set_postfix_str(f"not full marks: {failures}", refresh=False)
            bar.update(1)
    finally:
        bar.close()
        shutil.rmtree(base.path / "workers", ignore_errors=True)

    _write_reports(assignment, results, out, keep_other_rows=bool(students), isolation=isolation.describe())
    return sorted(results, key=lambda r: r.student)


def _isolation(base: GradingWorkspace, out: Path) -> Isolation:
    """The isolation kernels will get here, knowing which private paths a uid of its own could read.

    With a uid but no namespaces, file modes are the wall: the output folder (everyone's reports)
    is made readable by its owner only, like the workspace inside it."""
    isolation = isolation_in_force()
    if isolation.uses_uid and not isolation.uses_namespaces:
        os.chmod(out, 0o700)
    return isolation.with_exposed(base.private_paths())


def _write_reports(assignment: Assignment, results: list[StudentResult], out: Path, *, keep_other_rows: bool,
                   isolation: str = "") -> None:
    csv_path = out / "grades.csv"
    kept: list[dict] = []
    if keep_other_rows and csv_path.is_file():
        regraded = {r.student for r in results}
        with csv_path.open(newline="", encoding="utf-8") as fh:
            kept = [row for row in csv.DictReader(fh) if row["student"] not in regraded]
    reports.write_grades_csv(results, csv_path, extra_rows=kept)
    for r in results:
        reports.write_feedback(r, out / "feedback" / r.student / f"{assignment.notebook}.html")
        reports.write_results_json(r, out / "results" / f"{r.student}.json")
    if not keep_other_rows:  # a regrade of a few students would make a misleading class summary
        seed = results[0].seed if results else None
        (out / "summary.html").write_text(summary_html(results, assignment.name, seed, isolation,
                                                           notebook=assignment.notebook), encoding="utf-8")
