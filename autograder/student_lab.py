"""``autograder lab [FOLDER]``: JupyterLab as a student should see it.

The kit depends on nbgrader (its Validate button, and the metadata it reads), and nbgrader's
install turns on its instructor tools in every Lab: Formgrader, Create Assignment, the course and
assignment lists (which only say "The exchange directory does not exist"). This command starts
JupyterLab with a configuration folder of its own, added to ``JUPYTER_CONFIG_PATH``, that turns
those off and keeps Validate; and with this interpreter's ``bin/`` first on ``PATH``, and a
terminal shell that keeps it (not a login shell), so that ``autograder check`` works in the Lab's
own terminal even when the environment was not activated. The Lab starts in its folder, where its
terminals open.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

INSTRUCTOR_SERVER_EXTENSIONS = ["nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.assignment_list",
                                "nbgrader.server_extensions.course_list"]
INSTRUCTOR_LAB_PLUGINS = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                          "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list",
                          "@jupyter/nbgrader:menu",
                          "@jupyterlab/apputils-extension:announcements"]  # "get notified about Jupyter news?"


def student_config_dir() -> Path:
    """The configuration folder (written on each start, so it follows the installed kit)."""
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "autograder" / "jupyter"
    server = {"ServerApp": {"jpserver_extensions": {
        **{name: False for name in INSTRUCTOR_SERVER_EXTENSIONS},
        "nbgrader.server_extensions.validate_assignment": True}}}
    page = {"disabledExtensions": {name: True for name in INSTRUCTOR_LAB_PLUGINS}}
    (base / "jupyter_server_config.d").mkdir(parents=True, exist_ok=True)
    (base / "labconfig").mkdir(exist_ok=True)
    (base / "jupyter_server_config.d" / "autograder-student.json").write_text(json.dumps(server, indent=2))
    (base / "labconfig" / "page_config.json").write_text(json.dumps(page, indent=2))
    return base


def student_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with the student configuration and this Python's ``bin/``
    first on ``PATH``."""
    env = dict(os.environ if env is None else env)
    config = str(student_config_dir())
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([config, *filter(None, [env.get("JUPYTER_CONFIG_PATH")])])
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), *filter(None, [env.get("PATH")])])
    return env


def start_lab(folder: str, extra: list[str]) -> None:
    """Replace this process with ``jupyter lab FOLDER EXTRA...`` under the student environment,
    started in FOLDER: a terminal opened in the Lab starts where the server did, and should start
    beside the notebooks its file browser shows."""
    if Path(folder).is_dir():
        folder = str(Path(folder).resolve())
        os.chdir(folder)
    # Started without a terminal, the server opens login shells, whose /etc/profile resets PATH
    # (and `autograder` with it); a shell named here is not a login shell, and keeps the Lab's PATH.
    shell = os.environ.get("SHELL") or shutil.which("sh") or "/bin/sh"
    command = [sys.executable, "-m", "jupyterlab", folder, f"--ServerApp.terminado_settings=shell_command={shell}",
               *extra]
    os.execve(sys.executable, command, student_environment())
