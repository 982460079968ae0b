"""Throughput of batch grading: plain sequential `nbgrader autograde` against `autograder grade
--jobs N`, `--cluster local:N` and `--cluster local:1`, on the same submissions in one run.

Generates ``--submissions`` students from an assignment's samples (taken in turn), grades them
every way, checks that every way gives the same scores, and prints:

- wall time and throughput of each way, and each parallel way's throughput against plain nbgrader;
- the per-notebook ratio of grading (one worker, checks in the grader, calls over the wire) to
  plain nbgrader on the source notebook (checks in the kernel, the grading side loaded there):
  both sequential, over the same notebooks;
- scale-out efficiency on N local workers: throughput / (N x one worker's throughput);
- the parent's own cost per row (gradebook and reports, timed around batch's two functions in an
  in-process run), and from it and one worker's cost per submission a model of 1, 2 and 64 workers.

    .venv/bin/python benchmarks/batch_throughput.py --assignment 03_optimizers [--submissions 40] [--jobs 2]

A benchmark, not a test: run it on a quiet machine and read the figures.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.course import get_assignment  # noqa: E402
from autograder.grading.config import nbgrader_config  # noqa: E402
from autograder.grading.engine import KERNEL_THREADS  # noqa: E402
from autograder.samples import load_specs  # noqa: E402

SEED = 4242


def make_submissions(assignment, folder: Path, count: int) -> list[str]:
    """``count`` students, in nbgrader's layout, taking the sample submissions in turn (so every
    sample is graded about equally often); returns the student ids."""
    specs = load_specs(assignment)
    students = []
    for k in range(count):
        spec = specs[k % len(specs)]
        src = assignment.samples_dir / spec.student / assignment.name / f"{assignment.notebook}.ipynb"
        student = f"{spec.student}-{k // len(specs):02d}"
        dst = folder / student / assignment.name / src.name
        dst.parent.mkdir(parents=True)
        shutil.copy(src, dst)
        students.append(student)
    return sorted(students)


def plain_nbgrader(assignment, submissions: Path, course: Path) -> tuple[float, dict]:
    """The baseline: one `nbgrader autograde` over all students, as a course would run it."""
    shutil.copytree(assignment.source_notebook.parent, course / "source" / assignment.name)
    shutil.copytree(submissions, course / "submitted")
    cfg = nbgrader_config(course)
    # The kit's settings with nbgrader's own Execute (and kernel) in place of the kit's GuardedExecute,
    # which would run the test cells here, over the wire, in a sandboxed kernel: so the test cells
    # run in the kernel, as a course without the kit would run them. The other preprocessors stay
    # (StderrToStdout among them, so a warning costs no points either way).
    (course / "nbgrader_config.py").write_text(
        "from pathlib import Path\nfrom autograder.grading.config import nbgrader_config\n"
        "from autograder.grading.execute import GuardedExecute\nfrom nbgrader.preprocessors import Execute\n"
        "c = get_config()\nc.merge(nbgrader_config(Path(__file__).parent))\n"
        "c.Autograde.autograde_preprocessors = [Execute if p is GuardedExecute else p\n"
        "                                       for p in c.Autograde.autograde_preprocessors]\n"
        "c.Execute.timeout = c.GuardedExecute.timeout\n")
    # The source notebook's hidden checks need the grading side in the kernel, which a student's
    # kernel never has: every Python process of this run (the kernels included) loads it at start.
    startup = course / "grading-side-in-kernel"
    startup.mkdir()
    (startup / "sitecustomize.py").write_text(
        "from autograder.grading_side import use_grading_modules\n"
        f"use_grading_modules({str(ROOT)!r})\n")
    env = {**os.environ, "AUTOGRADER_SEED": str(SEED), **KERNEL_THREADS,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(startup), os.environ.get("PYTHONPATH")])),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run(nbgrader + ["generate_assignment", assignment.name, "--force"], cwd=course, env=env,
                   check=True, capture_output=True)
    start = time.perf_counter()
    proc = subprocess.run(nbgrader + ["autograde", assignment.name, "--force"], cwd=course, env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        raise SystemExit("nbgrader autograde failed")
    from nbgrader.api import Gradebook
    scores = {}
    with Gradebook(cfg.CourseDirectory.db_url) as gb:
        for sub in gb.assignment_submissions(assignment.name):
            scores[sub.student.id] = {g.name: float(g.score or 0) for nb in sub.notebooks for g in nb.grades}
    return elapsed, scores


def autograder_grade(assignment, submissions: Path, out: Path, jobs: int, cluster: str = "") -> tuple[float, dict]:
    start = time.perf_counter()
    where = ["--cluster", cluster] if cluster else ["--jobs", str(jobs)]
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", assignment.name, str(submissions),
                           "--out", str(out), *where, "--seed", str(SEED), "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        raise SystemExit("autograder grade failed")
    import csv
    with (out / "grades.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    cells = [c for c in rows[0] if c.startswith("test_")]
    return elapsed, {r["student"]: {c: float(r[c]) for c in cells} for r in rows}


def parent_cost_per_row(assignment, subs: Path, students: list[str], work: Path) -> float:
    """Seconds the parent spends per row (gradebook and reports), from an in-process sequential
    grading of ``students``: the one cost that adding workers cannot spread."""
    from autograder.grading import batch

    chosen = work / "parent-cost"
    for s in students:
        shutil.copytree(subs / s, chosen / s)
    with parent_timer() as parent_seconds:
        batch.grade_batch(assignment, chosen, work / "parent-cost-out", seed=SEED, jobs=1, progress=False)
    return parent_seconds[0] / len(students)


@contextlib.contextmanager
def parent_timer():
    """Seconds the parent spends on rows (the gradebook and every report), which no worker can take
    over: ``[seconds]``, filled in as the batch runs."""
    from autograder.grading import batch
    spent = [0.0]
    originals = {name: getattr(batch, name) for name in ("record_result", "_write_reports")}

    def timed(fn):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start
        return run

    for name, fn in originals.items():
        setattr(batch, name, timed(fn))
    try:
        yield spent
    finally:
        for name, fn in originals.items():
            setattr(batch, name, fn)


def scale_out_model(per_submission: float, parent_per_row: float, workers: int) -> tuple[float, float]:
    """``(notebooks per second, efficiency)`` on ``workers`` workers, each grading a submission in
    ``per_submission`` seconds, with the parent recording each row in ``parent_per_row`` seconds:
    the workers' pace until the parent's becomes the bottleneck (one-off costs left out)."""
    rate = min(workers / per_submission, 1 / parent_per_row)
    return rate, rate / (workers / per_submission)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default="00_vectorization")
    parser.add_argument("--submissions", type=int, default=40, help="students, taking the samples in turn")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--parent-sample", type=int, default=4,
                        help="submissions graded in-process to time the parent's cost per row")
    args = parser.parse_args()

    assignment = get_assignment(ROOT, args.assignment)
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        tmp = Path(tmp)
        students = make_submissions(assignment, tmp / "subs", args.submissions)
        n = len(students)
        print(f"machine: {os.cpu_count()} CPUs; {n} submissions of {assignment.name}; hidden seed {SEED}")

        plain = "nbgrader autograde (sequential)"
        jobs, cluster, one = (f"autograder grade --jobs {args.jobs}", f"autograder grade --cluster local:{args.jobs}",
                              "autograder grade --cluster local:1")
        ways = {plain: plain_nbgrader(assignment, tmp / "subs", tmp / "course")}
        ways[jobs] = autograder_grade(assignment, tmp / "subs", tmp / "jobs", args.jobs)
        ways[cluster] = autograder_grade(assignment, tmp / "subs", tmp / "cluster", args.jobs, cluster=f"local:{args.jobs}")
        ways[one] = autograder_grade(assignment, tmp / "subs", tmp / "one", 1, cluster="local:1")
        plain_scores = ways[plain][1]
        identical = all(scores == plain_scores for _, scores in ways.values())

        print(f"\n{'way':<38} {'wall time':>10} {'per notebook':>13} {'notebooks/min':>14}")
        for name, (t, _) in ways.items():
            print(f"{name:<38} {t:>9.1f}s {t / n:>12.2f}s {60 * n / t:>14.1f}")
        t_plain, t_jobs, t_cluster, t_one = (ways[w][0] for w in (plain, jobs, cluster, one))
        print(f"\nscores identical for all {n} submissions, every way: {identical}")
        for name, (_, scores) in ways.items():
            for s in [s for s in students if scores.get(s) != plain_scores.get(s)][:5]:
                cells = sorted(set(plain_scores.get(s, {})) | set(scores.get(s, {})))
                changed = [f"{c} {plain_scores.get(s, {}).get(c)} vs {scores.get(s, {}).get(c)}" for c in cells
                           if plain_scores.get(s, {}).get(c) != scores.get(s, {}).get(c)]
                print(f"  {name}, {s}: " + "; ".join(changed))
        print(f"throughput, --jobs {args.jobs} / plain sequential: {t_plain / t_jobs:.2f}x; "
              f"--cluster local:{args.jobs} / plain sequential: {t_plain / t_cluster:.2f}x")
        # Both sequential, over the same notebooks: the cost of grading through the wire.
        print(f"per notebook, grading on one worker / plain nbgrader (checks in the kernel): "
              f"{t_one / n:.2f} s / {t_plain / n:.2f} s = {t_one / t_plain:.2f}x (goal: at most 1.2x)")
        print(f"scale-out efficiency, N=1: 1.00 by definition; N={args.jobs}: {t_one / (args.jobs * t_cluster):.2f} "
              f"(throughput {n / t_cluster:.4f}/s against {args.jobs} x {n / t_one:.4f}/s)")

        parent_per_row = parent_cost_per_row(assignment, tmp / "subs", students[:: max(1, n // args.parent_sample)]
                                             [:args.parent_sample], tmp / "parent")
        print(f"the parent's own cost per row (gradebook and reports, {args.parent_sample} graded in-process): "
              f"{parent_per_row:.3f} s")
        for workers in (1, 2, 64):  # one worker's measured cost per submission, and the parent's per row
            rate, efficiency = scale_out_model(t_one / n, parent_per_row, workers)
            print(f"  model, {workers:>2} workers of one core each: {60 * rate:.1f} notebooks/min, "
                  f"efficiency {efficiency:.2f}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
