"""The student kit holds no answer key.

For every assignment and every graded function, each callable the kit ships (every module-level
function and class of every module in the installed package, the public checks included, and the
callable values of its module-level dicts) is put in that function's place, and the instructor's
test cells that use it run with hidden tests. None may pass a cell that the untouched stub fails.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import importlib.util
import inspect
import io
import json
import os
import pkgutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import autograder
from autograder import samples, seeds
from autograder.course import list_assignments
from autograder.grading.engine import KERNEL_THREADS
from autograder.grading.host_cells import names_from_notebook
from autograder.notebooks import is_test_cell, nbgrader_meta, read_notebook

from .conftest import CHECK_SEED, ROOT, outcome_of, two_at_a_time

ASSIGNMENTS = [a for a in list_assignments(ROOT) if a.grading_module.is_file()]
RUN_LIMIT_S = 20


def _public_module(path: Path, name: str):
    """A public module as students have it, loaded beside the grading module this process uses."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    grading = sys.modules.get(name)
    sys.modules[name] = module  # while it runs (dataclasses look their module up)
    try:
        spec.loader.exec_module(module)
    finally:
        if grading is not None:
            sys.modules[name] = grading
        else:
            del sys.modules[name]
    return module


def kit_modules() -> list:
    """Every module of the installed package; for the checks, the public modules students get."""
    found = []
    for info in pkgutil.walk_packages(autograder.__path__, "autograder."):
        if info.name.endswith(".__main__"):
            continue
        if info.name.startswith("autograder.exercises.") and not info.ispkg:
            path = Path(autograder.__file__).parent / "exercises" / f"{info.name.rsplit('.', 1)[1]}.py"
            found.append(_public_module(path, info.name))
        else:
            with contextlib.suppress(Exception):
                found.append(importlib.import_module(info.name))
    return found


def kit_callables() -> dict[str, object]:
    """``{"module:name": callable}``: functions, classes and the callable values of dicts."""
    found: dict[str, object] = {}
    for module in kit_modules():
        for name, value in vars(module).items():
            if name.startswith("__"):
                continue  # __builtins__ and the like are Python's, not the kit's
            where = f"{module.__name__}:{name}"
            if (inspect.isfunction(value) or inspect.isclass(value)) and \
                    str(getattr(value, "__module__", "")).startswith("autograder"):
                found[where] = value
            elif isinstance(value, dict):
                for key, item in value.items():
                    if callable(item):
                        found[f"{where}[{key!r}]"] = item
    return found


def _graded_names(release_nb) -> set[str]:
    names = set()
    for cell in release_nb.cells:
        if nbgrader_meta(cell).get("solution"):
            tree = ast.parse(cell.source)
            names |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return names


class _TooLong(Exception):
    pass


def _alarm(signum, frame):
    raise _TooLong()


def cell_passes(source: str, namespace: dict) -> bool:
    """Run one test cell here; True when it raised nothing (within RUN_LIMIT_S)."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(RUN_LIMIT_S)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(compile(source, "<test cell>", "exec"), dict(namespace))  # noqa: S102 - instructor tests
        return True
    except BaseException:  # noqa: BLE001 - any failure, the time limit included, is a failed cell
        return False
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _answer_namespace(nb, cwd: Path) -> dict:
    """The notebook's answer and set-up cells run here (not its training runs or plots)."""
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        for cell in nb.cells:
            if cell.cell_type != "code" or is_test_cell(cell):
                continue
            if nbgrader_meta(cell).get("solution") or nbgrader_meta(cell).get("locked"):
                _run_into(cell.source, namespace)
    finally:
        os.chdir(previous)
    return namespace


def _run_into(source: str, namespace: dict) -> None:
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(RUN_LIMIT_S)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(compile(source, "<cell>", "exec"), namespace)  # noqa: S102 - instructor material
    except BaseException:  # noqa: BLE001 - a set-up cell that needs what was not run is skipped
        pass
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _fits(candidate, graded) -> bool:
    """``candidate`` accepts as many positional arguments as ``graded`` requires (else every call fails)."""
    try:
        wanted = [p for p in inspect.signature(graded).parameters.values()
                  if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        inspect.signature(candidate).bind(*range(len(wanted)))
    except (TypeError, ValueError):
        return False
    return True


def leaks_of(assignment) -> dict:
    """Every kit callable in place of every graded function of ``assignment``: ``{"covered": the
    (cell, function) pairs tried, "cells": the graded test cells, "leaks": what passed}``."""
    candidates = kit_callables()
    release_nb = read_notebook(assignment.release_notebook)
    source_nb = read_notebook(assignment.source_notebook)
    solution = _answer_namespace(samples.filled_in(release_nb, source_nb), assignment.release_dir)
    stubs = _answer_namespace(release_nb, assignment.release_dir)
    graded = _graded_names(release_nb) & set(solution)
    test_cells = [c for c in source_nb.cells if is_test_cell(c) and nbgrader_meta(c).get("points")]
    leaks, covered = [], 0
    for cell in test_cells:
        uses = sorted(set(names_from_notebook(ast.parse(cell.source))) & graded)
        if not uses or not cell_passes(cell.source, solution):
            continue  # needs what this test does not run (a trained model), or grades none of the functions
        for name in uses:
            if cell_passes(cell.source, {**solution, name: stubs.get(name)}):
                continue  # the cell passes without this function: nothing to leak
            covered += 1
            for where, candidate in candidates.items():
                if _fits(candidate, solution[name]) and cell_passes(cell.source, {**solution, name: candidate}):
                    leaks.append(f"{nbgrader_meta(cell)['grade_id']}: {name} = {where}")
    return {"covered": covered, "cells": len(test_cells), "leaks": leaks}


def leak_report(assignment, folder: Path) -> dict:
    """:func:`leaks_of` ``assignment``, in a child process working in ``folder`` (made here).

    A child process: every callable of the kit is called there, the grader's own machinery
    included (sandbox.become drops to a uid, kill_leftovers kills by uid), and none of that may
    change the test process. Its working folder is a scratch one: a candidate that writes files
    (a wheel, a config) writes there. One thread for numpy and torch, as in a grading kernel:
    two children at a time, each with a thread per core, spend the cores waiting on each other."""
    scratch = folder / "cwd"
    scratch.mkdir(parents=True)
    report = folder / "leaks.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "HOME": str(scratch), "XDG_CONFIG_HOME": str(scratch / ".config"), seeds.SEED_ENV: str(CHECK_SEED),
           **KERNEL_THREADS}
    proc = subprocess.run([sys.executable, "-m", "tests.test_student_kit_leaks", assignment.name, str(report)],
                          cwd=scratch, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0 and report.is_file(), proc.stderr[-3000:]
    return json.loads(report.read_text())


@pytest.fixture(scope="module")
def leak_reports(tmp_path_factory):
    """``{assignment: its leak report}``, two child processes at a time."""
    folder = tmp_path_factory.mktemp("leaks")
    return two_at_a_time(lambda a: leak_report(a, folder / a.name), ASSIGNMENTS)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=lambda a: a.name)
def test_nothing_in_the_student_kit_passes_a_graded_cell(assignment, leak_reports):
    found = outcome_of(leak_reports, assignment)
    assert found["covered"] >= found["cells"] // 2, f"only {found['covered']} (cell, function) pairs could be tried"
    assert not found["leaks"], "the student kit passes graded cells:\n" + "\n".join(found["leaks"])


def _refuse(*args, **kwargs):
    raise PermissionError("refused in the leak test's child process")


if __name__ == "__main__":
    # A candidate that changes who this process is, or signals others, would spoil the later tries
    # (or the machine): those calls fail here, as they would for a student without privileges.
    # Nor may one replace this process (autograder lab execs JupyterLab).
    for name in ("setuid", "setgid", "setgroups", "setresuid", "setresgid", "seteuid", "setegid", "kill", "killpg",
                 "execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe"):
        setattr(os, name, _refuse)
    from autograder.course import get_assignment
    Path(sys.argv[2]).write_text(json.dumps(leaks_of(get_assignment(ROOT, sys.argv[1]))))
