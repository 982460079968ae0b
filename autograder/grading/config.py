"""The nbgrader configuration every grading run uses (and ``nbgrader_config.py`` loads)."""
from __future__ import annotations

from pathlib import Path

from traitlets.config import Config

from ..course import INSTRUCTOR_ONLY
from .limits import Limits


def nbgrader_config(root: Path, *, release_directory: str = "release", limits: Limits = Limits(),
                    minimum_isolation: str = "limits", minimum_source: str = "course.toml") -> Config:
    """nbgrader settings for a course rooted at ``root``.

    * ``GuardedExecute`` (our Execute) runs each notebook in a sandboxed kernel with ``limits``;
      ``timeout`` is its per-cell limit (``ExecutePreprocessor.timeout`` is ignored by nbgrader).
      A kernel below ``minimum_isolation`` (set in ``minimum_source``) refuses to start.
    * Our ``StderrToStdout`` replaces ``IgnorePattern`` so that warnings never zero a test cell.
    * The gradebook lives in ``root/gradebook.db``.
    """
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, LimitOutput, SaveAutoGrades

    from .execute import GuardedExecute
    from .preprocessors import StderrToStdout

    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = "dl-course-kit"
    c.CourseDirectory.release_directory = release_directory
    c.CourseDirectory.db_url = f"sqlite:///{Path(root) / 'gradebook.db'}"
    # The grading module and the catalogue of mistakes beside the source notebook: never copied into a release.
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", *INSTRUCTOR_ONLY]
    c.GuardedExecute.timeout = limits.cell_timeout_s
    c.GuardedExecute.interrupt_on_timeout = True
    c.GuardedExecute.notebook_timeout = limits.notebook_timeout_s
    c.GuardedExecute.max_output_bytes = limits.output_kb * 1024
    c.SandboxedKernelManager.memory_mb = limits.memory_mb
    c.SandboxedKernelManager.max_processes = limits.max_processes
    c.SandboxedKernelManager.file_mb = limits.file_mb
    c.SandboxedKernelManager.minimum_isolation = minimum_isolation
    c.SandboxedKernelManager.minimum_source = minimum_source
    c.Autograde.autograde_preprocessors = [GuardedExecute, StderrToStdout, ClearMetadataPreprocessor, LimitOutput,
                                           SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    return c
