"""The private nbgrader course the engine works in (grading/workspace.py)."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from autograder.course import get_assignment
from autograder.grading.workspace import GradingWorkspace, _schema_head

from .conftest import ROOT


def test_the_schema_head_read_in_process_is_the_one_the_alembic_command_gives():
    from nbgrader.dbutil import _temp_alembic_ini
    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        out = subprocess.run([str(Path(sys.executable).parent / "alembic"), "-c", ini, "heads"],
                             capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == _schema_head()


def test_a_new_gradebook_is_stamped_with_that_head(tmp_path):
    ws = GradingWorkspace(get_assignment(ROOT, "01_xor_backprop"), tmp_path / "ws")
    ws.gradebook().close()
    with sqlite3.connect(tmp_path / "ws" / "gradebook.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(_schema_head(),)]
