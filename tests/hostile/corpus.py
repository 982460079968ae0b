"""The hostile-submission corpus: build it from cases.toml, grade it, print the README table.

    .venv/bin/python -m tests.hostile.corpus      # grade the corpus, print a Markdown table
    .venv/bin/python -m tests.hostile.corpus --json report.json [--cases a,b] [--decoys decoys.json]
                                                  # grade (some of) it, write each case's verdict
                                                  # (benchmarks/isolation_matrix.py runs this under
                                                  # each isolation configuration)

The notebooks are built at run time from the committed sample submissions (nothing generated
is committed): a case edits a sample, inserts a cell into it, or replaces the file.
"""
from __future__ import annotations

import copy
import json
import shutil
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.course import Assignment, get_assignment
from autograder.notebooks import nbgrader_meta
from autograder.samples import Edit, apply_edits, sample_path

CASES = Path(__file__).with_name("cases.toml")

# Tight limits so the runaway cases cost seconds, not minutes. Generous enough for the honest work:
# its slowest cell takes about 5 s (a training run, with two gradings at a time on two cores).
TEST_LIMITS = """[limits]
cell_timeout_s = 15
notebook_timeout_s = 300
memory_mb = 3072
max_processes = 64
output_kb = 64
"""


@dataclass(frozen=True)
class Case:
    name: str
    assignment: str
    tried: str
    fails: tuple[str, ...] | str
    base: str = "correct"
    edits: tuple[dict, ...] = ()
    insert: dict | None = None
    file: str | None = None
    reason: str = ""
    says: str = ""
    noted: str = ""  # graded, with this in the notes the TA sees
    shows: str = ""
    hole: str = ""
    needs: str = ""
    destructive: bool = False
    decoys: bool = False

    def holds_under(self, layers, kernel_is_root: bool = False) -> bool:
        """Whether the isolation ``layers`` make this case hold: namespaces give what uid gives, and
        the process limit holds for any kernel but root's (RLIMIT_NPROC never applies to uid 0)."""
        if self.needs == "process_limit":
            return not kernel_is_root
        return not self.needs or self.needs in layers or "namespaces" in layers


def load_cases() -> list[Case]:
    cases = []
    for entry in tomllib.loads(CASES.read_text(encoding="utf-8"))["case"]:
        fails = entry.pop("fails")
        cases.append(Case(fails=fails if fails == "all" else tuple(fails),
                          edits=tuple(entry.pop("edit", ())), **entry))
    return cases


def _edited(nb, case: Case):
    nb = copy.deepcopy(nb)
    apply_edits(nb, [Edit(**e) for e in case.edits], f"{CASES.name}: case {case.name}")
    if case.insert:
        at = next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") == case.insert["before"])
        nb.cells.insert(at, nbformat.v4.new_code_cell(case.insert["code"].strip("\n")))
    return nb


def _write_bad_file(kind: str, good: Path, folder: Path, notebook_name: str) -> None:
    """One of the files that cannot be graded, made from a good submission ``good``."""
    target = folder / notebook_name
    text = good.read_text(encoding="utf-8")
    data = json.loads(text)
    if kind == "not_json":
        target.write_text("I could not get Jupyter to work, so here are my answers:\ndef dot_loop(x, w, b): ...\n")
    elif kind == "truncated":
        target.write_text(text[: len(text) // 2], encoding="utf-8")
    elif kind == "nbformat3":
        target.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                                      "worksheets": [{"cells": data["cells"]}]}))
    elif kind == "no_cells":
        target.write_text(json.dumps({k: v for k, v in data.items() if k != "cells"}))
    elif kind == "no_metadata":
        for cell in data["cells"]:
            cell["metadata"].pop("nbgrader", None)
        target.write_text(json.dumps(data))
    elif kind == "new_notebook":
        for i, cell in enumerate(data["cells"]):
            cell["metadata"].pop("nbgrader", None)
            cell["id"] = f"new-{i}"
        target.write_text(json.dumps(data))
    elif kind == "duplicate_ids":
        data["cells"].insert(4, copy.deepcopy(data["cells"][3]))
        target.write_text(json.dumps(data))
    elif kind == "renamed":
        shutil.copy(good, folder / "my_homework.ipynb")
    elif kind == "empty":
        target.write_bytes(b"")
    elif kind == "huge":
        with target.open("wb") as fh:  # sparse: 200 MB on paper, nothing on disk
            fh.truncate(200 * 2**20)
    elif kind == "latin1":
        target.write_bytes(text.replace("Returns", "Résultat").encode("latin-1", errors="replace"))
    else:
        raise ValueError(f"unknown bad-file kind {kind!r}")


def build(case: Case, course_root: Path, subs: Path) -> None:
    """Write ``case``'s submission as ``subs/<case.name>/<assignment>/<notebook>.ipynb``."""
    assignment = get_assignment(course_root, case.assignment)
    folder = subs / case.name / assignment.name
    folder.mkdir(parents=True)
    good = sample_path(assignment, case.base)
    if case.file:
        _write_bad_file(case.file, good, folder, good.name)
    else:
        nbformat.write(_edited(nbformat.read(good, as_version=4), case), folder / good.name)


def prepare_course(dst: Path) -> Path:
    """A copy of the course with the corpus's tight limits in course.toml."""
    from tests.conftest import copy_course
    copy_course(dst)
    (dst / "course.toml").write_text(TEST_LIMITS)
    return dst


def honest_copies(assignment: Assignment, subs: Path, students: list[str]) -> None:
    """Honest samples, mixed into the batch under the name ``honest-<student>``."""
    for student in students:
        src = sample_path(assignment, student)
        dst = subs / f"honest-{student}" / assignment.name / src.name
        dst.parent.mkdir(parents=True)
        shutil.copy(src, dst)


@dataclass
class Graded:
    case: Case
    result: object
    inserted_output: str = ""
    cell_outputs: dict = field(default_factory=dict)


def markdown_table(graded: list[Graded]) -> str:
    from autograder.grading.reports import first_failure_line
    lines = ["| case | what was tried | what happened | score |", "|---|---|---|---|"]
    for g in graded:
        r = g.result
        if r.reason:
            happened = r.reason.split(": ", 1)[-1]
        else:
            lost = [c for c in r.cells if c.score < c.max_score]
            first = first_failure_line(lost[0].output) if lost else ""
            happened = (g.inserted_output.strip().splitlines() or [""])[-1] if not lost else \
                f"{len(lost)} test cell(s) lost: {first}"
            happened = happened or "graded normally"
        if g.case.hole:
            happened += f" **(known hole: {g.case.hole.split(' (')[0]})**"
        lines.append(f"| `{g.case.name}` | {g.case.tried} | {happened.replace('|', '/')[:160]} | "
                     f"{r.score:g}/{r.max_score:g} |")
    return "\n".join(lines)


def kernel_is_root() -> bool:
    """Kernels started here run as root on the host (root grades, and no uid of their own)."""
    import os
    from autograder.grading.kernel import isolation_in_force
    return os.geteuid() == 0 and not isolation_in_force().uses_uid


def runs_here(case: Case) -> bool:
    """A destructive case runs only where it is held, or where the kernel is not root (it would
    really delete, overwrite, or fork without limit)."""
    from autograder.grading.kernel import isolation_in_force
    return not case.destructive or not kernel_is_root() or case.holds_under(isolation_in_force().layers, True)


def verdict(g: Graded, decoys=None) -> str:
    """'' when the case scored exactly as cases.toml says; otherwise what differed."""
    from .decoys import check
    case, r = g.case, g.result
    if case.fails == "all":
        return "" if r.score == 0 and case.reason in r.reason else f"reason {r.reason!r}, score {r.score:g}"
    if r.reason:
        return f"not graded: {r.reason}"
    expected = {c.grade_id: (0.0 if c.grade_id in case.fails else c.max_score) for c in r.cells}
    if r.cell_scores() != expected:
        lost = sorted(k for k, v in r.cell_scores().items() if v != expected[k])
        said = next(c.output for c in r.cells if c.grade_id == lost[0]).strip().splitlines() or [""]
        return f"scored {r.score:g}/{r.max_score:g}; differs in {', '.join(lost)} ({lost[0]}: {said[-1][:160]})"
    if case.says:
        first_failed = next(c for c in r.cells if c.grade_id == case.fails[0])
        if " ".join(case.says.split()) not in " ".join(first_failed.output.split()):  # wrapped lines
            return f"{case.fails[0]} does not say {case.says!r}: {first_failed.output[-200:]!r}"
    if case.noted and not any(case.noted in note for note in r.notes):
        return f"no note says {case.noted!r}: {r.notes}"
    if case.shows and case.shows not in g.inserted_output:
        return f"the inserted cell does not show {case.shows!r}: {g.inserted_output.strip()[-200:]!r}"
    if case.decoys:
        return check(g.inserted_output, decoys)
    return ""


def honest_verdicts(honest: dict) -> dict[str, str]:
    """``{student: ''}`` when an honest row scored what its sample spec says, else what differed."""
    from autograder.samples import load_specs
    out = {}
    for assignment_name, results in honest.items():
        specs = {s.student: s for s in load_specs(get_assignment(Path(__file__).resolve().parents[2], assignment_name))}
        for r in results:
            spec = specs[r.student.removeprefix("honest-")]
            expected = spec.expected_cell_scores({c.grade_id: c.max_score for c in r.cells})
            out[r.student] = "" if not r.reason and r.cell_scores() == expected else \
                f"{r.score:g}/{r.max_score:g} {r.reason}".strip()
    return out


def grade_corpus(work: Path, jobs: int = 2, seed: int = 2024, only: list[str] | None = None) -> tuple[dict, dict]:
    """Grade every case (or those named in ``only``), and honest copies, in one batch per assignment,
    the batches at the same time; ``({case: Graded}, {assignment: [honest results]})``. Destructive
    cases are left out where they would do harm (:func:`runs_here`)."""
    from autograder.grading.batch import grade_batch
    from autograder.notebooks import cell_output_text, read_notebook

    course = prepare_course(work / "course")
    cases = [c for c in load_cases() if (only is None or c.name in only) and runs_here(c)]
    by_assignment = {name: [c for c in cases if c.assignment == name] for name in sorted({c.assignment for c in cases})}

    def graded_batch(name: str) -> dict:
        assignment = get_assignment(course, name)
        subs = work / f"subs-{name}"
        for case in by_assignment[name]:
            build(case, course, subs)
        honest_copies(assignment, subs, ["correct", "stub"])
        return {r.student: r for r in grade_batch(assignment, subs, work / f"out-{name}", seed=seed, jobs=jobs,
                                                   progress=False)}

    # The batches run at the same time: most of a hostile batch is waiting for a kernel to time out.
    with ThreadPoolExecutor(max_workers=len(by_assignment) or 1) as pool:
        batches = dict(zip(by_assignment, pool.map(graded_batch, by_assignment)))
    graded, honest = {}, {}
    for name, results in batches.items():
        assignment = get_assignment(course, name)
        out = work / f"out-{name}"
        honest[name] = [r for s, r in results.items() if s.startswith("honest-")]
        for case in by_assignment[name]:
            g = Graded(case, results[case.name])
            autograded = out / ".nbgrader" / "autograded" / case.name / name / f"{assignment.notebook}.ipynb"
            if case.insert and autograded.is_file():
                nb = read_notebook(autograded)
                code = case.insert["code"].strip("\n")
                g.inserted_output = next((cell_output_text(c) for c in nb.cells if c.source == code), "")
            graded[case.name] = g
    return graded, honest


def report(work: Path, jobs: int, only: list[str] | None, decoys) -> dict:
    """Grade and judge: what benchmarks/isolation_matrix.py reads."""
    import os
    import time
    from autograder.grading.kernel import isolation_in_force
    started = time.perf_counter()
    graded, honest = grade_corpus(work, jobs=jobs, only=only)
    isolation = isolation_in_force()
    root = kernel_is_root()
    return {"isolation": isolation.describe(), "layers": list(isolation.layers), "launch": isolation.launch,
            "euid": os.geteuid(), "kernel_is_root": root, "seconds": round(time.perf_counter() - started, 1),
            "cases": {name: {"verdict": verdict(g, decoys), "needed": g.case.holds_under(isolation.layers, root),
                             "needs": g.case.needs, "score": g.result.score, "max_score": g.result.max_score}
                      for name, g in graded.items()},
            "not_run": sorted(c.name for c in load_cases() if (only is None or c.name in only) and c.name not in graded),
            "honest": honest_verdicts(honest)}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile
    parser = argparse.ArgumentParser(prog="python -m tests.hostile.corpus")
    parser.add_argument("--json", type=Path, help="write each case's verdict here instead of printing the table")
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--decoys", type=Path, help="the planted decoys (tests/hostile/decoys.py), for find_decoys")
    args = parser.parse_args(argv)
    only = args.cases.split(",") if args.cases else None
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        if args.json is None:
            results, _ = grade_corpus(Path(tmp), jobs=args.jobs, only=only)
            print(markdown_table(list(results.values())))
            return 0
        from .decoys import Decoys
        decoys = Decoys.read(args.decoys) if args.decoys else None
        args.json.write_text(json.dumps(report(Path(tmp), args.jobs, only, decoys), indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
