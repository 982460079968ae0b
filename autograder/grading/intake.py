"""Find the submissions in a folder as a TA receives them.

Accepted layouts (``A`` is the assignment folder, e.g. ``00_vectorization``):

    SUBMISSIONS/<student>/<A>/<notebook>.ipynb   nbgrader's layout
    SUBMISSIONS/<student>.ipynb                  a flat folder, one notebook per student

Problems that concern one student (two notebooks, a non-notebook file) become that student's
row with the reason; they never stop the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..course import Assignment


@dataclass
class Submission:
    student: str
    path: Path | None          # None when there is nothing gradable; ``problem`` says why
    problem: str = ""
    note: str = ""


class IntakeError(Exception):
    """The submissions folder itself is unusable (missing, or nothing recognisable in it)."""


def find_submissions(folder: Path, assignment: Assignment) -> list[Submission]:
    """Every student's submission for ``assignment`` in ``folder``, sorted by student."""
    folder = Path(folder)
    if not folder.is_dir():
        raise IntakeError(f"{folder}: no such folder")
    found: dict[str, Submission] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            if entry.suffix == ".ipynb":
                found[entry.stem] = Submission(entry.stem, entry)
            continue
        if not entry.is_dir():
            continue
        adir = entry / assignment.name
        if not adir.is_dir():
            continue  # this student has no submission for this assignment
        notebooks = sorted(adir.glob("*.ipynb"))
        expected = adir / f"{assignment.notebook}.ipynb"
        if expected in notebooks:
            found[entry.name] = Submission(entry.name, expected)
        elif len(notebooks) == 1:
            found[entry.name] = Submission(entry.name, notebooks[0],
                                           note=f"notebook was renamed to {notebooks[0].name}; graded as {expected.name}")
        elif not notebooks:
            others = ", ".join(p.name for p in sorted(adir.iterdir())[:5]) or "nothing"
            found[entry.name] = Submission(entry.name, None, problem=f"{adir}: no .ipynb file (found {others})")
        else:
            names = ", ".join(p.name for p in notebooks)
            found[entry.name] = Submission(entry.name, None,
                                           problem=f"{adir}: {len(notebooks)} notebooks ({names}) and none is "
                                                   f"{expected.name}: which one is the submission?")
    if not found:
        raise IntakeError(f"{folder}: no submissions for {assignment.name} (expected <student>/{assignment.name}/"
                          f"{assignment.notebook}.ipynb or <student>.ipynb)")
    return [found[k] for k in sorted(found)]
