"""Throughput of batch grading: plain sequential `nbgrader autograde` against `autograder grade --jobs N`.

Grades the same set of generated submissions of assignment 00 (copies of the sample
submissions, 40 by default) both ways in one run, checks that the scores are identical, and
prints the throughput ratio. It also measures the per-submission overhead of `autograder grade`
beyond executing the notebook itself: (sequential autograder time per notebook) minus (time to
execute the same notebook with nbclient alone), over a smaller subset.

    .venv/bin/python benchmarks/batch_throughput.py [--copies 5] [--jobs 2] [--overhead-sample 8]

A benchmark, not a test: run it on a quiet machine and read the figures.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.course import get_assignment  # noqa: E402
from autograder.grading.config import nbgrader_config  # noqa: E402
from autograder.grading.engine import KERNEL_THREADS  # noqa: E402
from autograder.release import execute_notebook  # noqa: E402
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


def autograder_grade(assignment, submissions: Path, out: Path, jobs: int) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", assignment.name, str(submissions),
                           "--out", str(out), "--jobs", str(jobs), "--seed", str(SEED), "--no-progress"],
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


def execution_only(assignment, notebooks: list[Path]) -> list[float]:
    """Seconds to execute each notebook with nbclient alone (kernel start included), same environment."""
    times = []
    os.environ.update({"AUTOGRADER_SEED": str(SEED), **KERNEL_THREADS})
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        execute_notebook(nb, path.parent, allow_errors=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=5, help="copies of each sample (8 samples: 5 -> 40 submissions)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--overhead-sample", type=int, default=8, help="submissions used for the overhead figure")
    args = parser.parse_args()

    assignment = get_assignment(ROOT, "00_vectorization")
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        tmp = Path(tmp)
        students = make_submissions(assignment, tmp / "subs", args.copies)
        n = len(students)
        print(f"machine: {os.cpu_count()} CPUs; {n} submissions of {assignment.name}; hidden seed {SEED}")

        t_plain, plain_scores = plain_nbgrader(assignment, tmp / "subs", tmp / "course")
        t_par, par_scores = autograder_grade(assignment, tmp / "subs", tmp / "par", args.jobs)
        identical = plain_scores == par_scores
        print(f"\n{'way':<38} {'wall time':>10} {'per notebook':>13} {'notebooks/min':>14}")
        for name, t in (("nbgrader autograde (sequential)", t_plain),
                        (f"autograder grade --jobs {args.jobs}", t_par)):
            print(f"{name:<38} {t:>9.1f}s {t / n:>12.2f}s {60 * n / t:>14.1f}")
        print(f"\nthroughput ratio: {t_plain / t_par:.2f}x (goal: at least 1.7x); "
              f"scores identical for all {n} submissions: {identical}")
        if not identical:
            diff = [s for s in students if plain_scores.get(s) != par_scores.get(s)]
            for s in diff[:10]:
                cells = sorted(set(plain_scores.get(s, {})) | set(par_scores.get(s, {})))
                changed = [f"{c} {plain_scores.get(s, {}).get(c)} vs {par_scores.get(s, {}).get(c)}" for c in cells
                           if plain_scores.get(s, {}).get(c) != par_scores.get(s, {}).get(c)]
                print(f"  {s}: " + "; ".join(changed))

        # Overhead: autograder's sequential cost per notebook minus plain execution of the same notebooks.
        subset = students[:: max(1, n // args.overhead_sample)][: args.overhead_sample]
        sub_dir = tmp / "subset"
        for s in subset:
            shutil.copytree(tmp / "subs" / s, sub_dir / s)
        t_seq, _ = autograder_grade(assignment, sub_dir, tmp / "seq", 1)
        notebooks = [sub_dir / s / assignment.name / f"{assignment.notebook}.ipynb" for s in subset]
        exec_times = execution_only(assignment, notebooks)
        per_nb = t_seq / len(subset)
        overhead = per_nb - statistics.mean(exec_times)
        print(f"\noverhead over {len(subset)} notebooks: autograder grade --jobs 1 {per_nb:.2f} s/notebook, "
              f"nbclient execution alone {statistics.mean(exec_times):.2f} s/notebook "
              f"-> {overhead:.2f} s per submission (goal: under 1 s; includes the one-off "
              f"generate_assignment and process start, {t_seq:.1f} s in all)")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
