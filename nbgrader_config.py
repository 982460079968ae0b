"""nbgrader settings for this course, so plain `nbgrader` commands behave like `autograder`.

Release goes to assignments/ (DESIGN.md). The settings themselves live in
autograder/grading/config.py, shared with the `autograder` command.
"""
from pathlib import Path

from autograder.grading.config import nbgrader_config

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file
c.merge(nbgrader_config(Path(__file__).parent, release_directory="assignments"))
