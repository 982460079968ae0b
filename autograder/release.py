"""``autograder release``: regenerate the derived folders from source/.

    assignments/<a>/   student stubs, by nbgrader generate_assignment (solutions cleared,
                       hidden tests removed, cells locked and checksummed)
    autograder/exercises/<notebook>.py and published/<notebook>.npz
                       the public checks students install, generated from source/<a>/grading.py,
                       and the answers they look up on the public inputs (see autograder.answers)
    solutions/<a>/     the source with hidden tests and solution markers removed, executed,
                       outputs kept (nbval re-runs it to check the outputs reproduce)
    examples/submissions/<student>/<a>/   sample submissions (see autograder.samples)
"""
from __future__ import annotations

import copy
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import nbformat

from . import answers, samples
from .public_module import public_source, write_public_module
from .publish import record_answers
from .course import Assignment
from .grading.workspace import GradingWorkspace
from .notebooks import nbgrader_meta, normalized, read_notebook, strip_hidden_tests, strip_solution_markers

SOLUTION_CELL_TIMEOUT_S = 300


def build_release(assignment: Assignment, scratch: Path) -> Path:
    """Generate the student version in a scratch workspace; return its release folder."""
    ws = GradingWorkspace(assignment, scratch)
    ws.generate()
    return ws.release_dir


def solution_notebook(assignment: Assignment) -> nbformat.NotebookNode:
    """The source as a posted solution, not executed: hidden tests and solution markers removed."""
    nb = copy.deepcopy(read_notebook(assignment.source_notebook))
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade"):
            cell.source = strip_hidden_tests(cell.source).rstrip("\n")
        if nbgrader_meta(cell).get("solution"):
            cell.source = strip_solution_markers(cell.source)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def execute_notebook(nb: nbformat.NotebookNode, cwd: Path, timeout: int = SOLUTION_CELL_TIMEOUT_S,
                     allow_errors: bool = False) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel started in ``cwd``; return the notebook with outputs.

    The kernel gets one BLAS/OpenMP thread, as grading kernels do: the posted timing tables then
    show what the graded checks see, not threads fighting over a busy machine's cores."""
    from nbclient import NotebookClient
    from traitlets.config import Config

    from .grading.engine import KERNEL_THREADS
    # Without MPLBACKEND (the grading side sets Agg for its own runs) the kernel draws inline:
    # the posted solutions show their figures.
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    with tempfile.TemporaryDirectory(prefix="nb-kernel-") as sockets:
        # Unix sockets, not TCP: nothing to listen on the network, and no warning from the kernel.
        config = Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "k")}})
        client = NotebookClient(nb, config=config, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                                resources={"metadata": {"path": str(cwd)}})
        client.execute(env={**env, **KERNEL_THREADS})
    return nb


def checks_fingerprint(assignment: Assignment) -> str:
    """What the published answers are recorded from: the grading module, the source notebook and
    the catalogue of mistakes (``validate`` compares it instead of recording them again)."""
    digest = hashlib.sha256()
    for path in (assignment.grading_module, assignment.source_notebook, assignment.sample_spec):
        digest.update(path.name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0")
    return digest.hexdigest()


def publish_checks(assignment: Assignment, release_nb, release_dir: Path, *, log=print) -> None:
    """Write the public module and the answers it looks up (nothing for an assignment whose checks
    are not yet split into a grading module)."""
    if not assignment.grading_module.is_file():
        return
    write_public_module(assignment.grading_module, assignment.public_module)
    recorder = record_answers(assignment, release_nb, release_dir, log=log)
    count = answers.save(recorder, assignment.published_answers, checks_fingerprint(assignment))
    log(f"{assignment.name}: wrote {assignment.public_module.relative_to(assignment.root)} and "
        f"{count} published answers")


def release(assignment: Assignment, *, log=print) -> None:
    """Regenerate assignments/<a>, solutions/<a> and the sample submissions of one assignment."""
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        released = build_release(assignment, Path(tmp) / "ws")
        if assignment.release_dir.exists():
            shutil.rmtree(assignment.release_dir)
        shutil.copytree(released, assignment.release_dir)
    log(f"{assignment.name}: wrote {assignment.release_dir.relative_to(assignment.root)}/")
    publish_checks(assignment, read_notebook(assignment.release_notebook), assignment.release_dir, log=log)

    # Solutions run beside their data files (copied from the source folder).
    if assignment.solution_dir.exists():
        shutil.rmtree(assignment.solution_dir)
    shutil.copytree(assignment.release_dir, assignment.solution_dir)
    nb = execute_notebook(solution_notebook(assignment), assignment.solution_dir)
    nbformat.write(nb, assignment.solution_notebook)
    log(f"{assignment.name}: executed {assignment.solution_notebook.relative_to(assignment.root)}")

    written = samples.write_all(assignment, read_notebook(assignment.release_notebook))
    if written:
        log(f"{assignment.name}: wrote {len(written)} sample submissions under "
            f"{assignment.samples_dir.relative_to(assignment.root)}/")


def stale_parts(assignment: Assignment, released: Path) -> list[str]:
    """Why assignments/, solutions/ or the samples differ from what source/ generates (empty: fresh).

    ``released`` is a release folder freshly generated from source/ (see :func:`build_release`).
    """
    problems = []
    for fresh in sorted(p for p in released.rglob("*") if p.is_file()):
        rel = fresh.relative_to(released)
        committed = assignment.release_dir / rel
        if not committed.is_file():
            problems.append(f"assignments/{assignment.name}/{rel}: missing")
        elif fresh.suffix == ".ipynb":
            if normalized(read_notebook(committed)) != normalized(read_notebook(fresh)):
                problems.append(f"assignments/{assignment.name}/{rel}: stale (source/ changed since the last release)")
        elif fresh.read_bytes() != committed.read_bytes():
            problems.append(f"assignments/{assignment.name}/{rel}: stale")
    if not assignment.solution_notebook.is_file():
        problems.append(f"solutions/{assignment.name}/{assignment.notebook}.ipynb: missing")
    elif normalized(read_notebook(assignment.solution_notebook)) != normalized(solution_notebook(assignment)):
        problems.append(f"solutions/{assignment.name}/{assignment.notebook}.ipynb: stale (source/ changed since the last release)")
    problems += samples.stale_samples(assignment, read_notebook(released / f"{assignment.notebook}.ipynb"))
    problems += stale_checks(assignment)
    return problems


def stale_checks(assignment: Assignment) -> list[str]:
    """Why the public module or its published answers differ from what the grading module gives."""
    if not assignment.grading_module.is_file():
        return []
    problems = []
    public = assignment.public_module.relative_to(assignment.root)
    expected = public_source(assignment.grading_module.read_text(encoding="utf-8"), assignment.notebook,
                             str(assignment.grading_module))
    if not assignment.public_module.is_file():
        problems.append(f"{public}: missing")
    elif assignment.public_module.read_text(encoding="utf-8") != expected:
        problems.append(f"{public}: stale (source/{assignment.name}/grading.py changed since the last release)")
    published = assignment.published_answers.relative_to(assignment.root)
    if answers.recorded_from(assignment.published_answers) != checks_fingerprint(assignment):
        problems.append(f"{published}: stale or missing (recorded from another grading module, source "
                        "notebook or catalogue of mistakes)")
    return problems
