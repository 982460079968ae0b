"""The hostile-submission corpus: build it from cases.toml, grade it, print the README table.

    .venv/bin/python -m tests.hostile.corpus      # grade the corpus, print a Markdown table

The notebooks are built at run time from the committed sample submissions (nothing generated
is committed): a case edits a sample, inserts a cell into it, or replaces the file.
"""
from __future__ import annotations

import copy
import json
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.course import Assignment, get_assignment
from autograder.notebooks import nbgrader_meta
from autograder.samples import Edit, apply_edits, sample_path

CASES = Path(__file__).with_name("cases.toml")

# Tight limits so the runaway cases cost seconds, not minutes; generous enough for the honest work.
TEST_LIMITS = """[limits]
cell_timeout_s = 30
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
    shows: str = ""
    hole: str = ""


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
    lines = ["| case | what was tried | what happened | score |", "|---|---|---|---|"]
    for g in graded:
        r = g.result
        if r.reason:
            happened = r.reason.split(": ", 1)[-1]
        else:
            lost = [c for c in r.cells if c.score < c.max_score]
            first = lost[0].output.strip().splitlines()[-1] if lost and lost[0].output.strip() else ""
            happened = (g.inserted_output.strip().splitlines() or [""])[-1] if not lost else \
                f"{len(lost)} test cell(s) lost: {first}"
            happened = happened or "graded normally"
        if g.case.hole:
            happened += f" **(known hole: {g.case.hole.split(' (')[0]})**"
        lines.append(f"| `{g.case.name}` | {g.case.tried} | {happened.replace('|', '/')[:160]} | "
                     f"{r.score:g}/{r.max_score:g} |")
    return "\n".join(lines)


def grade_corpus(work: Path, jobs: int = 2, seed: int = 2024) -> tuple[dict, dict]:
    """Grade every case (and honest copies) per assignment; ``({case: Graded}, {assignment: [honest results]})``."""
    from autograder.grading.batch import grade_batch
    from autograder.notebooks import cell_output_text, read_notebook

    course = prepare_course(work / "course")
    cases = load_cases()
    graded, honest = {}, {}
    for name in sorted({c.assignment for c in cases}):
        assignment = get_assignment(course, name)
        subs = work / f"subs-{name}"
        mine = [c for c in cases if c.assignment == name]
        for case in mine:
            build(case, course, subs)
        honest_copies(assignment, subs, ["correct", "stub"])
        out = work / f"out-{name}"
        results = {r.student: r for r in grade_batch(assignment, subs, out, seed=seed, jobs=jobs, progress=False)}
        honest[name] = [r for s, r in results.items() if s.startswith("honest-")]
        for case in mine:
            g = Graded(case, results[case.name])
            autograded = out / ".nbgrader" / "autograded" / case.name / name / f"{assignment.notebook}.ipynb"
            if case.insert and autograded.is_file():
                nb = read_notebook(autograded)
                code = case.insert["code"].strip("\n")
                g.inserted_output = next((cell_output_text(c) for c in nb.cells if c.source == code), "")
            graded[case.name] = g
    return graded, honest


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        results, _ = grade_corpus(Path(tmp))
        print(markdown_table(list(results.values())))
