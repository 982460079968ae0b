"""Shared fixtures: the course in this repository, and its samples graded once per test session."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from autograder import samples
from autograder.course import list_assignments

ROOT = Path(__file__).resolve().parents[1]
DEMO_SEED = 2024

warnings.filterwarnings("ignore", message=".*not in session.*")


@pytest.fixture(scope="session")
def course_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def graded_samples(tmp_path_factory):
    """``{assignment_name: (assignment, specs, results, out_dir)}``: every sample, graded through
    the real nbgrader path with a fixed seed, once for the whole session."""
    from autograder.grading.batch import grade_batch
    graded = {}
    for assignment in list_assignments(ROOT):
        specs = samples.load_specs(assignment)
        if not specs:
            continue
        out = tmp_path_factory.mktemp(f"graded-{assignment.name}")
        results = grade_batch(assignment, assignment.samples_dir, out, seed=DEMO_SEED, progress=False)
        graded[assignment.name] = (assignment, specs, results, out)
    return graded


def copy_course(dst: Path) -> Path:
    """A throwaway copy of the course (no .venv, no .git), for tests that break things."""
    for name in ("source", "assignments", "solutions", "examples"):
        shutil.copytree(ROOT / name, dst / name)
    shutil.copy(ROOT / "nbgrader_config.py", dst / "nbgrader_config.py")
    return dst
