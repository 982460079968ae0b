"""Run the public test cells of the solution and of every sample as a student's notebook runs them.

    python -m autograder.public_run ASSIGNMENT      prints {student: {grade_id: null | failure}} as JSON

Only in a process that does not grade: the checks are the public modules the kit installs, which
look their answers up (:mod:`autograder.answers`). The tests compare what this says with grading.
"""
from __future__ import annotations

import json
import os
import sys

from .course import find_course_root, get_assignment
from .grading_side import grading_modules_in_use
from .notebooks import nbgrader_meta, read_notebook
from .publish import run_cell, run_with_samples


def public_outcomes(assignment) -> dict[str, dict[str, str | None]]:
    """``{student: {grade_id: None (passed) or the failure's text}}`` for the graded test cells."""
    if grading_modules_in_use():
        raise RuntimeError("public runs need a process without the grading modules")
    os.environ.setdefault("MPLBACKEND", "Agg")
    outcomes: dict[str, dict[str, str | None]] = {}

    def run(student: str, cell, namespace: dict) -> None:
        failure = run_cell(cell.source, namespace)
        if nbgrader_meta(cell).get("points"):
            outcomes.setdefault(student, {})[nbgrader_meta(cell)["grade_id"]] = failure

    run_with_samples(assignment, read_notebook(assignment.release_notebook), assignment.release_dir, run,
                     whole_notebooks=True, log=lambda line: print(line, file=sys.stderr))
    return outcomes


if __name__ == "__main__":
    print(json.dumps(public_outcomes(get_assignment(find_course_root(), sys.argv[1]))))
