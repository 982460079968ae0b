"""Throughput of batch grading: plain sequential `nbgrader autograde` against `autograder grade
--jobs N` and `--cluster local:N`.

Grades the same set of generated submissions of an assignment (copies of its sample
submissions) every way in one run, checks that the scores are identical, and prints the
throughput ratios. Plain nbgrader runs the source notebook's checks in the kernel, so its time
per notebook is the in-kernel cost that grading through the wire is compared with. With
``--scale-out`` it also grades on ``local:1`` and ``local:2`` and prints the scale-out efficiency
(throughput on 2 workers / (2 x that on 1)). Unless ``--no-overhead``, it measures the marginal
cost of one more submission beyond executing its notebook (see overhead_per_submission) and the
parent's own cost per row, and from those models 1, 2 and 64 workers (scale_out_model).

    .venv/bin/python benchmarks/batch_throughput.py [--assignment 03] [--copies 5] [--jobs 2] [--scale-out]

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


def make_submissions(assignment, folder: Path, copies: int) -> list[str]:
    """``copies`` students per sample, in nbgrader's layout; returns the student ids."""
    students = []
    for spec in load_specs(assignment):
        src = assignment.samples_dir / spec.student / assignment.name / f"{assignment.notebook}.ipynb"
        for k in range(copies):
            student = f"{spec.student}-{k:02d}"
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
    (course / "nbgrader_config.py").write_text(
        "from pathlib import Path\nfrom autograder.grading.config import nbgrader_config\n"
        "c = get_config()\nc.merge(nbgrader_config(Path(__file__).parent))\n")
    env = {**os.environ, "AUTOGRADER_SEED": str(SEED), **KERNEL_THREADS,
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


def overhead_per_submission(assignment, subs: Path, students: list[str], work: Path, small: int, large: int):
    """Marginal cost of one more submission beyond running its notebook, from two sequential
    in-process runs (``small`` and ``large`` submissions): the difference in wall time minus the
    difference in notebook execution time (kernel start to shutdown, measured inside the run),
    per extra submission. One-off costs (generate_assignment, workspace set-up) cancel out."""
    from autograder.grading import batch

    runs = {}
    for k in (small, large):
        chosen = work / f"subset-{k}"
        for s in students[:k]:
            shutil.copytree(subs / s, chosen / s)
        start = time.perf_counter()
        with parent_timer() as parent_seconds:
            results = batch.grade_batch(assignment, chosen, work / f"out-{k}", seed=SEED, jobs=1, progress=False)
        runs[k] = (time.perf_counter() - start, sum(r.execution_seconds for r in results), parent_seconds[0] / k)
    (t_small, e_small, _), (t_large, e_large, parent_per_row) = runs[small], runs[large]
    per_extra = (t_large - t_small) / (large - small)
    exec_per = (e_large - e_small) / (large - small)
    one_off = t_small - e_small - small * (per_extra - exec_per)
    return per_extra, exec_per, one_off, parent_per_row, runs


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
    parser.add_argument("--copies", type=int, default=5, help="copies of each sample (8 samples: 5 -> 40 submissions)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scale-out", action="store_true", help="also grade on local:1 and local:2")
    parser.add_argument("--no-overhead", action="store_true", help="skip the sequential overhead runs")
    parser.add_argument("--overhead-small", type=int, default=2, help="submissions in the small overhead run")
    parser.add_argument("--overhead-large", type=int, default=10, help="submissions in the large overhead run")
    args = parser.parse_args()

    assignment = get_assignment(ROOT, args.assignment)
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        tmp = Path(tmp)
        students = make_submissions(assignment, tmp / "subs", args.copies)
        n = len(students)
        print(f"machine: {os.cpu_count()} CPUs; {n} submissions of {assignment.name}; hidden seed {SEED}")

        t_plain, plain_scores = plain_nbgrader(assignment, tmp / "subs", tmp / "course")
        ways = {"nbgrader autograde (sequential)": (t_plain, plain_scores)}
        ways[f"autograder grade --jobs {args.jobs}"] = autograder_grade(assignment, tmp / "subs", tmp / "par", args.jobs)
        ways[f"autograder grade --cluster local:{args.jobs}"] = autograder_grade(
            assignment, tmp / "subs", tmp / "cluster", args.jobs, cluster=f"local:{args.jobs}")
        if args.scale_out:
            ways["autograder grade --cluster local:1"] = autograder_grade(assignment, tmp / "subs", tmp / "c1", 1,
                                                                          cluster="local:1")
        identical = all(scores == plain_scores for _, scores in ways.values())
        par_scores = ways[f"autograder grade --jobs {args.jobs}"][1]
        print(f"\n{'way':<38} {'wall time':>10} {'per notebook':>13} {'notebooks/min':>14}")
        for name, (t, _) in ways.items():
            print(f"{name:<38} {t:>9.1f}s {t / n:>12.2f}s {60 * n / t:>14.1f}")
        t_par = ways[f"autograder grade --jobs {args.jobs}"][0]
        print(f"\nthroughput ratio --jobs {args.jobs} / plain: {t_plain / t_par:.2f}x; "
              f"scores identical for all {n} submissions, every way: {identical}")
        if args.scale_out:
            t1, t2 = ways["autograder grade --cluster local:1"][0], ways[f"autograder grade --cluster local:{args.jobs}"][0]
            print(f"scale-out efficiency on {args.jobs} local workers: {t1 / (args.jobs * t2):.2f} "
                  f"(throughput {n / t2:.3f}/s against {args.jobs} x {n / t1:.3f}/s)")
        if not identical:
            diff = [s for s in students if plain_scores.get(s) != par_scores.get(s)]
            for s in diff[:10]:
                cells = sorted(set(plain_scores.get(s, {})) | set(par_scores.get(s, {})))
                changed = [f"{c} {plain_scores.get(s, {}).get(c)} vs {par_scores.get(s, {}).get(c)}" for c in cells
                           if plain_scores.get(s, {}).get(c) != par_scores.get(s, {}).get(c)]
                print(f"  {s}: " + "; ".join(changed))

        if args.no_overhead:
            return 0 if identical else 1
        per_extra, exec_per, one_off, parent_per_row, runs = overhead_per_submission(
            assignment, tmp / "subs", students[:: max(1, n // args.overhead_large)], tmp / "overhead",
            args.overhead_small, args.overhead_large)
        print(f"\noverhead (autograder grade --jobs 1, {args.overhead_small} then {args.overhead_large} submissions: "
              f"{runs[args.overhead_small][0]:.1f} s and {runs[args.overhead_large][0]:.1f} s):")
        print(f"  each extra submission {per_extra:.2f} s, of which running its notebook {exec_per:.2f} s "
              f"-> overhead {per_extra - exec_per:.2f} s per submission (goal: under 1 s)")
        print(f"  one-off per batch (generate_assignment, workspace, reports set-up): {one_off:.1f} s")
        print(f"  per notebook, grading (checks in the grader, calls over the wire) / plain nbgrader (checks in "
              f"the kernel): {per_extra:.2f} s / {t_plain / n:.2f} s = {per_extra / (t_plain / n):.2f}x (goal: 1.2x)")
        print(f"  the parent's own cost per row (gradebook and reports): {parent_per_row:.3f} s")
        for workers in (1, 2, 64):  # from the marginal cost of a submission on one core, measured above
            rate, efficiency = scale_out_model(per_extra, parent_per_row, workers)
            print(f"  model, {workers:>2} workers of one core each: {60 * rate:.1f} notebooks/min, "
                  f"efficiency {efficiency:.2f}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
