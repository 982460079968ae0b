"""Sample submissions, generated from the source notebook, never edited by hand.

``source/<a>/mistakes.toml`` says how each sample differs from a correct submission:

    [[sample]]
    student = "wrong_result"                      # folder under examples/submissions/
    about = "linear_torch forgets the bias"       # what the student did
    base = "solution"                             # "solution" (filled in) or "release" (untouched stub)
    fails = ["test_linear_torch"]                 # test cells that must score 0; all others full marks
    [[sample.edit]]
    cell = "linear_torch"                         # grade_id of the cell to edit
    find = "return X @ W.T + b"                   # must occur exactly once in that cell
    replace = "return X @ W.T"

A "solution" sample is the released notebook with every answer cell filled in from the source
(solution markers removed): exactly what a student who got everything right would hand in.
The tests grade every sample and require exactly the expected score per cell.
"""
from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .course import Assignment, CourseError
from .notebooks import cells_by_id, nbgrader_meta, normalized, read_notebook, strip_solution_markers


@dataclass(frozen=True)
class Edit:
    cell: str
    find: str
    replace: str


@dataclass(frozen=True)
class SampleSpec:
    student: str
    about: str
    base: str = "solution"
    fails: tuple[str, ...] = ()
    edits: tuple[Edit, ...] = field(default_factory=tuple)

    def expected_cell_scores(self, max_points: dict[str, float]) -> dict[str, float]:
        """``{grade_id: points}``: 0 for the cells this sample breaks, full marks elsewhere."""
        unknown = set(self.fails) - set(max_points)
        if unknown:
            raise CourseError(f"sample {self.student}: fails names unknown test cells {sorted(unknown)}")
        return {gid: (0.0 if gid in self.fails else pts) for gid, pts in max_points.items()}


def load_specs(assignment: Assignment) -> list[SampleSpec]:
    """The sample specs for an assignment (empty when it has no spec file)."""
    path = assignment.sample_spec
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"{path}: {exc}") from None
    specs = []
    for entry in data.get("sample", []):
        try:
            specs.append(SampleSpec(
                student=entry["student"], about=entry["about"], base=entry.get("base", "solution"),
                fails=tuple(entry.get("fails", ())),
                edits=tuple(Edit(e["cell"], e["find"], e["replace"]) for e in entry.get("edit", ())),
            ))
        except KeyError as exc:
            raise CourseError(f"{path}: a sample is missing the key {exc}") from None
    names = [s.student for s in specs]
    if len(set(names)) != len(names):
        raise CourseError(f"{path}: two samples share a student name")
    return specs


def filled_in(release_nb, source_nb):
    """The released notebook with every answer cell replaced by the source's solution."""
    nb = copy.deepcopy(release_nb)
    source_cells = cells_by_id(source_nb)
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            cell.source = strip_solution_markers(source_cells[meta["grade_id"]].source)
    return nb


def apply_edits(nb, edits, where: str) -> None:
    """Apply each :class:`Edit` to ``nb`` in place; ``where`` starts the error message."""
    cells = cells_by_id(nb)
    for edit in edits:
        if edit.cell not in cells:
            raise CourseError(f"{where}: no cell with grade_id {edit.cell!r}")
        cell = cells[edit.cell]
        count = cell.source.count(edit.find)
        if count != 1:
            raise CourseError(f"{where}: {edit.find!r} occurs {count} times in cell "
                              f"{edit.cell!r} (must be exactly once; has the source changed?)")
        cell.source = cell.source.replace(edit.find, edit.replace)


def build_sample(spec: SampleSpec, release_nb, source_nb, where: str = ""):
    """One sample submission as a notebook (outputs empty, as if saved after editing)."""
    if spec.base not in ("solution", "release"):
        raise CourseError(f"{where}sample {spec.student}: base must be 'solution' or 'release', not {spec.base!r}")
    nb = filled_in(release_nb, source_nb) if spec.base == "solution" else copy.deepcopy(release_nb)
    apply_edits(nb, spec.edits, f"{where}sample {spec.student}")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def sample_path(assignment: Assignment, student: str) -> Path:
    return assignment.samples_dir / student / assignment.name / f"{assignment.notebook}.ipynb"


def build_all(assignment: Assignment, release_nb) -> dict[Path, nbformat.NotebookNode]:
    """``{path: notebook}`` for every sample of the assignment."""
    source_nb = read_notebook(assignment.source_notebook)
    where = f"{assignment.sample_spec}: "
    return {sample_path(assignment, s.student): build_sample(s, release_nb, source_nb, where)
            for s in load_specs(assignment)}


def write_all(assignment: Assignment, release_nb) -> list[Path]:
    """(Re)write the sample submissions; remove stale ones of this assignment."""
    built = build_all(assignment, release_nb)
    for old in assignment.samples_dir.glob(f"*/{assignment.name}/*.ipynb"):
        if old not in built:
            old.unlink()
    for path, nb in built.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
    return sorted(built)


def stale_samples(assignment: Assignment, release_nb) -> list[str]:
    """Why the committed samples differ from what the source would generate (empty: fresh)."""
    problems = []
    built = build_all(assignment, release_nb)
    for path, nb in built.items():
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif normalized(read_notebook(path)) != normalized(nb):
            problems.append(f"{path}: differs from what the source generates")
    for old in assignment.samples_dir.glob(f"*/{assignment.name}/*.ipynb"):
        if old not in built:
            problems.append(f"{old}: not in {assignment.sample_spec.name}")
    return problems


def mismatches(specs: list[SampleSpec], results) -> list[str]:
    """Where graded samples differ from their expected per-cell scores (empty: all as expected).

    ``results`` are :class:`~autograder.grading.results.StudentResult` objects for the samples.
    """
    by_student = {r.student: r for r in results}
    problems = []
    for spec in specs:
        r = by_student.get(spec.student)
        if r is None:
            problems.append(f"{spec.student}: not graded")
            continue
        expected = spec.expected_cell_scores({c.grade_id: c.max_score for c in r.cells})
        got = r.cell_scores()
        wrong = [f"{gid} expected {exp:g}, got {got.get(gid, 0):g}" for gid, exp in expected.items()
                 if abs(got.get(gid, 0.0) - exp) > 1e-9]
        if wrong:
            problems.append(f"{spec.student} ({spec.about}): " + "; ".join(wrong))
    return problems
