"""Regenerate one assignment's public module and published answers, quickly (no solution run, no samples).

    .venv/bin/python tools/publish_one.py 01

`autograder release` does this too, as part of the whole release.
"""
import sys
import time
from pathlib import Path

from autograder.course import find_course_root, get_assignment
from autograder.notebooks import read_notebook
from autograder.release import publish_checks

assignment = get_assignment(find_course_root(), sys.argv[1])
started = time.perf_counter()
publish_checks(assignment, read_notebook(assignment.release_notebook), assignment.release_dir)
print(f"took {time.perf_counter() - started:.1f} s")
