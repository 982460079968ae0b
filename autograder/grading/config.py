"""The nbgrader configuration every grading run uses (and ``nbgrader_config.py`` loads)."""
from __future__ import annotations

from pathlib import Path

from traitlets.config import Config

CELL_TIMEOUT_S = 120  # per cell: the speed checks and the lecture benchmark fit well inside


def nbgrader_config(root: Path, *, release_directory: str = "release", cell_timeout: int = CELL_TIMEOUT_S) -> Config:
    """nbgrader settings for a course rooted at ``root``.

    * ``Execute.timeout`` is nbgrader's per-cell limit (``ExecutePreprocessor.timeout`` is ignored).
    * Our ``StderrToStdout`` replaces ``IgnorePattern`` so that warnings never zero a test cell.
    * The gradebook lives in ``root/gradebook.db``.
    """
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, Execute, LimitOutput,
                                        SaveAutoGrades)

    from .preprocessors import StderrToStdout

    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = "dl-course-kit"
    c.CourseDirectory.release_directory = release_directory
    c.CourseDirectory.db_url = f"sqlite:///{Path(root) / 'gradebook.db'}"
    c.Execute.timeout = cell_timeout
    c.Execute.interrupt_on_timeout = True
    c.Autograde.autograde_preprocessors = [Execute, StderrToStdout, ClearMetadataPreprocessor, LimitOutput,
                                           SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    return c
