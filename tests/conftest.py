"""Shared fixtures: the course in this repository, and its samples graded once per test session."""
from __future__ import annotations

import itertools
import linecache
import shutil
import socket
import subprocess
import time
import urllib.request
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Hashable

import numpy as np
import pytest

from autograder import samples, seeds
from autograder.checks import CheckFailed
from autograder.course import list_assignments
from autograder.grading_side import use_grading_modules

ROOT = Path(__file__).resolve().parents[1]
# The tests grade: they import each assignment's grading module, as `grade` does.
use_grading_modules(ROOT)
DEMO_SEED = 2024
CHECK_SEED = 1234  # the grading seed that in-process check tests run under

warnings.filterwarnings("ignore", message=".*not in session.*")


@pytest.fixture(scope="session")
def course_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def graded_samples(tmp_path_factory):
    """``{assignment_name: (assignment, specs, results, out_dir)}``: every sample, graded through
    the real nbgrader path with a fixed seed and ``--jobs 2``, once for the whole session."""
    from autograder.grading.batch import grade_batch
    graded = {}
    for assignment in list_assignments(ROOT):
        specs = samples.load_specs(assignment)
        if not specs:
            continue
        out = tmp_path_factory.mktemp(f"graded-{assignment.name}")
        results = grade_batch(assignment, assignment.samples_dir, out, seed=DEMO_SEED, jobs=2, progress=False)
        graded[assignment.name] = (assignment, specs, results, out)
    return graded


def two_at_a_time(work: Callable, items: list[Hashable]) -> dict:
    """``{item: work(item)}``, two items at a time: for work that keeps one core busy in a child
    process, the load of ``--jobs 2``. An item whose work raised maps to the exception, which
    :func:`outcome_of` raises in that item's own test."""
    def attempt(item):
        try:
            return work(item)
        except Exception as exc:  # noqa: BLE001 - one item's failure belongs to its own test
            return exc
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(items, pool.map(attempt, items)))


def outcome_of(outcomes: dict, item: Hashable):
    """``item``'s result from :func:`two_at_a_time`, or its exception raised here."""
    outcome = outcomes[item]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, server: subprocess.Popen, seconds: float, what: str, output) -> None:
    """Return once ``url`` answers; fail the test, saying ``what`` did not start and showing
    ``output()``, if ``server`` exits or ``seconds`` pass first (the server is then killed)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"{what} did not start:\n{output()}")
            time.sleep(0.5)


def copy_course(dst: Path) -> Path:
    """A throwaway copy of the course (no .venv, no .git), for tests that break things."""
    for name in ("source", "assignments", "solutions", "examples"):
        shutil.copytree(ROOT / name, dst / name)
    shutil.copy(ROOT / "nbgrader_config.py", dst / "nbgrader_config.py")
    return dst


@pytest.fixture
def seeded(monkeypatch):
    """A fixed grading seed, and a fresh 'seed announced' record so the announcement is printed."""
    monkeypatch.setenv(seeds.SEED_ENV, str(CHECK_SEED))
    monkeypatch.setattr(seeds, "_announced", set())
    return CHECK_SEED


def failure(check, *args, **kwargs) -> str:
    """The message of the CheckFailed that ``check(*args, **kwargs)`` must raise."""
    with pytest.raises(CheckFailed) as info:
        check(*args, **kwargs)
    return str(info.value)


def run_solution(source: str, *edits) -> dict:
    """A fresh notebook namespace with ``source`` run in it, after applying ``edits``.

    Each edit is a ``(find, replace)`` pair (or a list of them); ``find`` must occur exactly once.
    """
    flat = []
    for edit in edits:
        flat.extend(edit if isinstance(edit, list) else [edit])
    for find, replace in flat:
        assert source.count(find) == 1, find
        source = source.replace(find, replace)
    return run_cell(source, {"np": np, "__name__": "notebook"})


def run_cell(source: str, namespace: dict | None = None) -> dict:
    """Run ``source`` in ``namespace`` as a notebook cell runs: its lines kept for tracebacks,
    as IPython keeps them, under a name of its own. Returns the namespace."""
    namespace = {} if namespace is None else namespace
    filename = f"<cell {next(_cells)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - the test's own notebook code
    return namespace


_cells = itertools.count(1)
