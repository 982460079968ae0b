"""A private nbgrader course for one assignment: the engine's working folder.

nbgrader expects a course directory (source/, release/, submitted/, autograded/, a gradebook).
Grading a TA's folder of submissions, releasing, and validating all happen in such a workspace,
never in the repository itself, so no run leaves a gradebook or half-written files in the repo.

    <path>/source/<a>/...                      copy of the instructor's folder
    <path>/release/<a>/<nb>.ipynb              nbgrader's student version
    <path>/submitted/<student>/<a>/<nb>.ipynb  what is being graded
    <path>/autograded/<student>/<a>/<nb>.ipynb executed, with outputs
    <path>/gradebook.db                        nbgrader's SQLite gradebook (one writer at a time)
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nbformat

from ..course import Assignment
from .config import nbgrader_config
from .limits import COURSE_FILE, load_isolation_minimum, load_limits
from .view import kit_paths


def _put_interpreter_bin_on_path() -> None:
    """nbgrader's Gradebook runs the ``alembic`` command; find it beside this interpreter even
    when the virtual environment was not activated (``.venv/bin/autograder ...``)."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


_put_interpreter_bin_on_path()


def _schema_head() -> str:
    """The revision nbgrader stamps on a new gradebook, read from its own migration scripts."""
    import nbgrader
    from alembic.script import ScriptDirectory
    return ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()


def _stamp_new_gradebooks_in_process() -> None:
    """nbgrader asks a fresh ``alembic heads`` process for that revision each time it creates a
    gradebook: 2.4 s on the 2-core machine, once per batch. Read in this process, it takes a
    millisecond, and it is the same answer (nbgrader's scripts have one head)."""
    import nbgrader.api
    nbgrader.api.get_alembic_version = _schema_head


class WorkspaceError(Exception):
    """nbgrader itself failed (not a student's notebook): the message carries nbgrader's log."""


def course_private_paths(course_root: Path) -> list[Path]:
    """Everything in the course repository a student's kernel has no business reading (instructor
    notebooks, solutions, samples, tests, git history): every entry but the kit's own package
    and Python install."""
    kit = [p.resolve() for p in kit_paths()]
    roots = {Path(course_root).resolve()}
    checkout = kit_checkout()
    if checkout is not None:  # the kit runs from a course checkout: its instructor files too
        roots.add(checkout)
    return [entry for root in sorted(roots) for entry in sorted(root.iterdir())
            if not any(k == entry or entry in k.parents for k in kit)]


def kit_checkout() -> Path | None:
    """The course repository the ``autograder`` package was imported from, if it was (an editable install)."""
    import autograder
    from ..course import CourseError, find_course_root
    try:
        return find_course_root(Path(autograder.__file__).resolve().parent)
    except CourseError:
        return None


def quiet_gradebook_warnings() -> None:
    """A worker's private gradebook makes nbgrader's SQLAlchemy warn "not in session" for every
    submission; the parent's gradebook is the one that counts."""
    import warnings
    warnings.filterwarnings("ignore", message=".*not in session.*")


class GradingWorkspace:
    """``hidden``: more folders the student's kernel must not see (the TA's submissions folder,
    the output folder); the workspace itself and the course repository are always private.

    With the namespaces layer the kernel sees none of them anyway (an allow-list); with only the
    uid layer, file modes must keep them from it: the workspace is made readable by its owner only,
    and :meth:`private_paths` is what the grader checks (``Isolation.with_exposed``).
    """

    def __init__(self, assignment: Assignment, path: Path, *, fresh: bool = True, hidden: tuple[Path, ...] = ()):
        self.assignment = assignment
        self.hidden = tuple(Path(h).resolve() for h in hidden)
        self.path = Path(path).resolve()
        if fresh and self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)  # the gradebook and every submission: no other user may enter
        source_copy = self.path / "source" / assignment.name
        if source_copy.exists():
            shutil.rmtree(source_copy)
        shutil.copytree(assignment.source_notebook.parent, source_copy,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        self.limits = load_limits(assignment.root, assignment.name)
        self.minimum_isolation = load_isolation_minimum(assignment.root)
        self.config = nbgrader_config(self.path, limits=self.limits, minimum_isolation=self.minimum_isolation,
                                      minimum_source=str(Path(assignment.root) / COURSE_FILE))
        self._api = None

    def private_paths(self) -> list[Path]:
        """What a student's kernel must not read: this workspace, the course's instructor files,
        and the ``hidden`` folders."""
        return [self.path, *course_private_paths(self.assignment.root), *self.hidden]

    @property
    def api(self):
        if self._api is None:
            from nbgrader.apps import NbGraderAPI
            from nbgrader.coursedir import CourseDirectory
            self._api = NbGraderAPI(coursedir=CourseDirectory(config=self.config), config=self.config)
        return self._api

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.path / 'gradebook.db'}"

    @property
    def release_dir(self) -> Path:
        return self.path / "release" / self.assignment.name

    @property
    def release_notebook(self) -> Path:
        return self.release_dir / f"{self.assignment.notebook}.ipynb"

    def generate(self) -> None:
        """Run nbgrader's generate_assignment: the student version, and the gradebook's copy of the tests."""
        _stamp_new_gradebooks_in_process()
        result = self.api.generate_assignment(self.assignment.name, force=True, create=True)
        if not result.get("success"):
            raise WorkspaceError(f"nbgrader generate_assignment failed for {self.assignment.name}:\n"
                                 f"{result.get('error') or ''}\n{result.get('log') or ''}")

    def submitted_notebook(self, student: str) -> Path:
        return self.path / "submitted" / student / self.assignment.name / f"{self.assignment.notebook}.ipynb"

    def autograded_notebook(self, student: str) -> Path:
        return self.path / "autograded" / student / self.assignment.name / f"{self.assignment.notebook}.ipynb"

    def submit(self, student: str, nb: nbformat.NotebookNode) -> Path:
        """Place a (parsed) notebook where nbgrader looks for the student's submission."""
        target = self.submitted_notebook(student)
        if target.parent.exists():
            shutil.rmtree(target.parent)
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)
        return target

    def autograde(self, student: str) -> dict:
        """nbgrader autograde for one student; ``{"success", "error", "log"}`` as nbgrader returns it."""
        return self.api.autograde(self.assignment.name, student, force=True, create=True)

    def clone(self, path: Path) -> "GradingWorkspace":
        """A private copy for one worker process: the generated assignment and the gradebook's
        test cells, without anyone's submissions. Workers never write the shared gradebook."""
        path = Path(path).resolve()
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        for part in ("source", "release"):
            shutil.copytree(self.path / part, path / part)
        shutil.copy2(self.path / "gradebook.db", path / "gradebook.db")
        return GradingWorkspace(self.assignment, path, fresh=False, hidden=self.hidden)

    def gradebook(self):
        _stamp_new_gradebooks_in_process()
        from nbgrader.api import Gradebook
        return Gradebook(self.db_url)
