"""Resource limits for grading one notebook, with course-wide defaults and per-assignment overrides.

The limits live in ``course.toml`` at the course root (optional; the defaults below apply
without it)::

    [limits]                     # every assignment
    cell_timeout_s = 120
    notebook_timeout_s = 900

    [limits.04_attention]        # one assignment
    cell_timeout_s = 180

A course can also require a minimum isolation for its kernels (see
:mod:`autograder.grading.isolation`); grading refuses to start on a machine that cannot give it::

    isolation = "namespaces"     # or "uid", or "limits" (the default: whatever the machine gives)

Why each exists: a cell that loops forever (``cell_timeout_s``), a notebook of many slow cells
(``notebook_timeout_s``), a memory bomb (``memory_mb``, the kernel's address space), a fork bomb
(``max_processes``, threads included), a cell that prints without end (``output_kb`` per cell),
and a kernel that fills the disk (``file_mb``, the largest file it may write).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

COURSE_FILE = "course.toml"
ISOLATION_LEVELS = ("namespaces", "uid", "limits")  # strongest first, as autograder.grading.isolation.LAYERS


class LimitsError(Exception):
    """course.toml is unreadable or names an unknown limit; the message names the file."""


@dataclass(frozen=True)
class Limits:
    cell_timeout_s: int = 120        # the speed checks and lecture benchmarks fit well inside
    notebook_timeout_s: int = 900    # all cells together, kernel start included
    memory_mb: int = 4096            # address space (a kernel with torch, NumPy and matplotlib loaded: ~0.8 GB)
    max_processes: int = 512         # processes and threads of the kernel's user
    output_kb: int = 512             # text and images one cell may output; the rest is cut
    file_mb: int = 256               # the largest file the kernel may write

    def describe(self) -> str:
        return (f"{self.cell_timeout_s} s per cell, {self.notebook_timeout_s} s per notebook, "
                f"{self.memory_mb} MB of memory, {self.max_processes} processes, "
                f"{self.output_kb} KB of output per cell")


def _read_course_file(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LimitsError(f"{path}: cannot read it ({exc})") from None


def load_isolation_minimum(course_root: Path) -> str:
    """The top-level ``isolation`` of course.toml: the weakest isolation grading may run with."""
    path = Path(course_root) / COURSE_FILE
    if not path.is_file():
        return "limits"
    value = _read_course_file(path).get("isolation", "limits")
    if value not in ISOLATION_LEVELS:
        raise LimitsError(f"{path}: isolation = {value!r} is not a layer; use one of "
                          + ", ".join(f'"{v}"' for v in ISOLATION_LEVELS) + " (strongest first)")
    return value


def load_limits(course_root: Path, assignment_name: str) -> Limits:
    """The limits for ``assignment_name``: defaults, then ``[limits]``, then ``[limits.<name>]``."""
    path = Path(course_root) / COURSE_FILE
    limits = Limits()
    if not path.is_file():
        return limits
    table = _read_course_file(path).get("limits", {})
    known = {f.name for f in fields(Limits)}
    overrides = {k: v for k, v in table.items() if not isinstance(v, dict)}
    per_assignment = table.get(assignment_name, {})
    for where, values in (("[limits]", overrides), (f"[limits.{assignment_name}]", per_assignment)):
        unknown = sorted(set(values) - known)
        if unknown:
            hint = " (isolation is a top-level key, above [limits])" if "isolation" in unknown else ""
            raise LimitsError(f"{path}: unknown limit {', '.join(unknown)} in {where} "
                              f"(known: {', '.join(sorted(known))}){hint}")
        bad = [k for k, v in values.items() if not isinstance(v, int) or isinstance(v, bool) or v <= 0]
        if bad:
            raise LimitsError(f"{path}: {', '.join(bad)} in {where} must be a positive whole number")
        limits = replace(limits, **values)
    return limits
