"""Load the grading side: each assignment's grading module under the name its test cells import.

A test cell says ``from autograder.exercises import lstm as grader``. In a student's notebook that
is the public module the kit installs. In a process that grades (``grade``, ``validate``,
``release``, the Gradescope bundle, the tests), :func:`use_grading_modules` makes the same import
load ``source/<a>/grading.py`` instead, with the answers and the hidden checks. The student's
kernel never gets this finder, so it can only ever import the public module.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

from .course import list_assignments


class GradingModuleFinder(importlib.abc.MetaPathFinder):
    """Resolve ``autograder.exercises.<notebook>`` to ``source/<a>/grading.py``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.files = {a.module_name: a.grading_module for a in list_assignments(self.root)
                      if a.grading_module.is_file()}

    def find_spec(self, fullname, path=None, target=None):
        file = self.files.get(fullname)
        if file is None:
            return None
        return importlib.util.spec_from_file_location(fullname, file)


def use_grading_modules(root: Path) -> GradingModuleFinder:
    """Make this process import each assignment's grading module (idempotent for one course root)."""
    root = Path(root).resolve()
    for finder in sys.meta_path:
        if isinstance(finder, GradingModuleFinder) and finder.root == root:
            return finder
    finder = GradingModuleFinder(root)
    sys.meta_path.insert(0, finder)
    for name in finder.files:  # a public module imported before now must not stand in for it
        sys.modules.pop(name, None)
    return finder


def grading_modules_in_use() -> bool:
    """True in a process that loads the grading side."""
    return any(isinstance(f, GradingModuleFinder) for f in sys.meta_path)
