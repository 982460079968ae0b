"""Where things are in a course repository (see DESIGN.md, "Layout").

    source/<a>/<notebook>.ipynb          instructor master, the only place solutions live
    source/<a>/grading.py                its checks with their answers (instructor-only, see answers.py)
    autograder/exercises/<notebook>.py   the public checks students install (generated from grading.py)
    assignments/<a>/<notebook>.ipynb     student stubs (generated)
    solutions/<a>/<notebook>.ipynb       executed solutions (generated)
    source/<a>/mistakes.toml             its catalogue of mistakes (instructor-only): the samples, hints, unit tests
    examples/submissions/<student>/<a>/  sample submissions (generated), nbgrader's layout
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


GRADING_MODULE = "grading.py"  # beside each source notebook: its checks, with the answers
MISTAKES_CATALOGUE = "mistakes.toml"  # beside it too: the typical mistakes, as edits of the solution
INSTRUCTOR_ONLY = (GRADING_MODULE, MISTAKES_CATALOGUE)  # never released, never in the student kit


class CourseError(Exception):
    """A problem with the course repository itself (missing folder, unknown assignment)."""


def find_course_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding ``source/`` and ``nbgrader_config.py``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "source").is_dir() and (folder / "nbgrader_config.py").is_file():
            return folder
    raise CourseError(f"no course found at or above {here}: expected a folder with source/ and nbgrader_config.py; "
                      "run this inside the course folder, or name it with --course PATH")


@dataclass(frozen=True)
class Assignment:
    """One assignment: ``name`` is its folder (``00_vectorization``), ``notebook`` its notebook's stem."""
    root: Path
    name: str
    notebook: str

    @property
    def source_notebook(self) -> Path:
        return self.root / "source" / self.name / f"{self.notebook}.ipynb"

    @property
    def grading_module(self) -> Path:
        """The assignment's checks with their answers: grading side only."""
        return self.root / "source" / self.name / GRADING_MODULE

    @property
    def module_name(self) -> str:
        """The name test cells import the checks by, in the student's notebook and in grading."""
        return f"autograder.exercises.{self.notebook}"

    @property
    def public_module(self) -> Path:
        """The public checks students install (generated from :attr:`grading_module`)."""
        return self.root / "autograder" / "exercises" / f"{self.notebook}.py"

    @property
    def published_answers(self) -> Path:
        """The answers on the public inputs that the public checks look up (generated)."""
        return self.root / "autograder" / "exercises" / "published" / f"{self.notebook}.npz"

    @property
    def release_dir(self) -> Path:
        return self.root / "assignments" / self.name

    @property
    def release_notebook(self) -> Path:
        return self.release_dir / f"{self.notebook}.ipynb"

    @property
    def solution_dir(self) -> Path:
        return self.root / "solutions" / self.name

    @property
    def solution_notebook(self) -> Path:
        return self.solution_dir / f"{self.notebook}.ipynb"

    @property
    def sample_spec(self) -> Path:
        """The catalogue of mistakes: the sample submissions, the unit tests and the hints read it."""
        return self.root / "source" / self.name / MISTAKES_CATALOGUE

    @property
    def samples_dir(self) -> Path:
        return self.root / "examples" / "submissions"


def list_assignments(root: Path) -> list[Assignment]:
    """Every ``source/<a>/`` holding exactly one notebook, in name order."""
    found = []
    for folder in sorted((root / "source").iterdir()):
        if not folder.is_dir() or folder.name.startswith((".", "_")):
            continue
        notebooks = sorted(p for p in folder.glob("*.ipynb"))
        if len(notebooks) != 1:
            raise CourseError(f"{folder}: expected exactly one notebook, found {len(notebooks)}")
        found.append(Assignment(root, folder.name, notebooks[0].stem))
    return found


def get_assignment(root: Path, name: str) -> Assignment:
    """Look an assignment up by folder (``00_vectorization``), number (``00``) or notebook (``vectorization``)."""
    candidates = list_assignments(root)
    for a in candidates:
        if name in (a.name, a.notebook) or a.name.split("_", 1)[0] == name:
            return a
    known = ", ".join(a.name for a in candidates) or "none"
    raise CourseError(f"unknown assignment {name!r}; known: {known}")


def select(root: Path, name: str | None) -> list[Assignment]:
    """One assignment by name, or all of them when ``name`` is None."""
    return [get_assignment(root, name)] if name else list_assignments(root)
