"""The ``autograder`` command (also ``python -m autograder``).

    autograder release [A]                    regenerate assignments/, solutions/, sample submissions
    autograder validate [A]                   course-CI gate; exit 1 with the reason when anything fails
    autograder grade A SUBMISSIONS --out DIR  TA batch grading: grades.csv, summary.html, feedback/, results/
    autograder check NOTEBOOK                 student self-check of the public tests
    autograder lab [FOLDER]                   JupyterLab for students (no instructor tools)
    autograder demo                           grade the bundled sample submissions and print the gradebook
    autograder gradescope A --out ZIP         Gradescope autograder bundle (holds the solutions: keep it private)
    autograder student-kit --out DIR          what students install: the public wheel and the released notebooks
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .course import CourseError, find_course_root, get_assignment, list_assignments, select


def _quiet_libraries() -> None:
    # nbgrader's gradebook (SQLAlchemy) warns on every autograde about session bookkeeping that
    # does not affect the grades; a TA at 2 a.m. should see the progress bar, not that.
    warnings.filterwarnings("ignore", module="nbgrader")
    warnings.filterwarnings("ignore", message=".*not in session.*")


def _root(args) -> Path:
    return find_course_root(Path(args.course) if args.course else None)


def cmd_release(args) -> int:
    from .release import release
    for a in select(_root(args), args.assignment):
        release(a)
    return 0


def cmd_validate(args) -> int:
    from .validate import validate
    findings = validate(select(_root(args), args.assignment))
    failed = [f for f in findings if not f.ok]
    print(f"\n{len(findings) - len(failed)} of {len(findings)} checks pass." +
          (" FAILED: " + "; ".join(f"{f.assignment}: {f.check}" for f in failed) if failed else ""))
    return 1 if failed else 0


def cmd_grade(args) -> int:
    from .grading.batch import grade_batch
    from .grading.cluster import ClusterError
    from .grading.intake import IntakeError
    from .grading.isolation import IsolationError
    from .grading.limits import LimitsError
    from .grading.reports import gradebook_table
    assignment = get_assignment(_root(args), args.assignment)
    try:
        results = grade_batch(assignment, Path(args.submissions), Path(args.out), seed=args.seed,
                              students=args.student or None, jobs=args.jobs, roster=args.roster,
                              progress=not args.no_progress, say=print, cluster=args.cluster)
    except (IntakeError, ValueError, IsolationError, LimitsError, ClusterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(gradebook_table(results))
    errors = sum(bool(r.reason) for r in results)
    print(f"\n{len(results)} graded ({errors} could not be run), hidden-test seed {results[0].seed}. "
          f"Wrote {args.out}/grades.csv, {'' if args.student else 'summary.html, '}feedback/, results/.")
    return 0


def cmd_check(args) -> int:
    from .student_check import check_notebook
    return check_notebook(Path(args.notebook))


def cmd_demo(args) -> int:
    from . import samples
    from .grading.batch import grade_batch
    from .grading.reports import gradebook_table
    root = _root(args)
    out_root = Path(args.out)
    all_ok = True
    for assignment in list_assignments(root):
        specs = samples.load_specs(assignment)
        if not specs:
            continue
        print(f"\n=== {assignment.name}: grading {len(specs)} sample submissions from "
              f"{assignment.samples_dir.relative_to(root)}/ ===")
        results = grade_batch(assignment, assignment.samples_dir, out_root / assignment.name, seed=args.seed,
                              say=print)
        print(gradebook_table(results))
        problems = samples.mismatches(specs, results)
        if problems:
            all_ok = False
            print("\n✗ some samples did not score as expected:\n  " + "\n  ".join(problems))
        else:
            print(f"\n✓ every sample scored exactly as expected (see {assignment.sample_spec.relative_to(root)}); "
                  f"reports in {out_root / assignment.name}/")
    return 0 if all_ok else 1


def cmd_gradescope(args) -> int:
    from .gradescope import build_bundle
    assignment = get_assignment(_root(args), args.assignment)
    listing = build_bundle(assignment, Path(args.out))
    print("\n".join(f"  {name}" for name in listing))
    print(f"Wrote {args.out} ({Path(args.out).stat().st_size / 2**20:.1f} MB) for {assignment.name}: upload it as the "
          f"Gradescope autograder. It contains the instructor notebook with the solutions: never share it with students.")
    return 0


def cmd_student_kit(args) -> int:
    from .student_kit import StudentKitError, build_student_kit
    root = _root(args)
    try:
        build_student_kit(root, list_assignments(root), Path(args.out))
    except StudentKitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_lab(args) -> int:
    from .student_lab import start_lab
    extra = args.jupyter_args[1:] if args.jupyter_args[:1] == ["--"] else args.jupyter_args
    start_lab(args.folder, extra)
    return 0  # not reached: start_lab replaces this process with JupyterLab


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", help="course root (default: the folder above with source/ and nbgrader_config.py)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="regenerate assignments/, solutions/ and sample submissions from source/")
    p.add_argument("assignment", nargs="?", help="one assignment (default: all)")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("validate", help="CI gate: full marks for sources, 0 for stubs, fresh files, nbval")
    p.add_argument("assignment", nargs="?", help="one assignment (default: all)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("grade", help="grade a folder of submissions")
    p.add_argument("assignment", help="e.g. 00_vectorization (or 00, or vectorization)")
    p.add_argument("submissions", help="<student>/<A>/<notebook>.ipynb (nbgrader) or <student>.ipynb (flat)")
    p.add_argument("--out", required=True, help="where grades.csv, summary.html, feedback/ and results/ go")
    p.add_argument("--seed", type=int, help="hidden-test seed (default: random, recorded in grades.csv)")
    p.add_argument("--student", action="append",
                   help="regrade only this student (repeatable); the other rows of grades.csv in --out are kept")
    p.add_argument("--roster", help="roster CSV (id and student columns): SUBMISSIONS is then an LMS export, "
                                    "a zip or folder of lastname_<id>_<submission>_<file>.ipynb")
    p.add_argument("--jobs", "-j", type=int, help="grade this many submissions in parallel (default: the number of cores)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="grade on a Dask cluster: a scheduler address (tcp://host:8786), gateway:N (a new Dask "
                        "Gateway cluster of N workers) or local:N (N worker processes here); see docs/ta-reference.md")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("check", help="run a notebook's public tests before submitting")
    p.add_argument("notebook")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("lab", help="JupyterLab for students: no instructor tools, and `autograder check` in its terminal")
    p.add_argument("folder", nargs="?", default=".", help="the folder to open (default: here)")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="after --: options for jupyter lab")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("demo", help="grade the bundled sample submissions and print the gradebook")
    p.add_argument("--out", default="demo-output", help="where the reports go (default: demo-output/)")
    p.add_argument("--seed", type=int, default=2024, help="hidden-test seed (fixed, so the demo is reproducible)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("gradescope", help="build a Gradescope autograder zip (contains the solutions: keep it private)")
    p.add_argument("assignment", help="e.g. 00_vectorization (or 00, or vectorization)")
    p.add_argument("--out", required=True, help="the zip to write, e.g. autograder.zip")
    p.set_defaults(func=cmd_gradescope)

    p = sub.add_parser("student-kit", help="write what students install: the public wheel, the released notebooks")
    p.add_argument("--out", required=True, help="the folder to write (emptied first)")
    p.set_defaults(func=cmd_student_kit)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .grading.isolation import IsolationError
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    try:
        return args.func(args)
    except (CourseError, IsolationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
