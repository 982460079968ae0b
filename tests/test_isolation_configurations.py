"""Part of the hostile corpus, graded under the weaker configurations this machine can make.

tests/test_hostile_submissions.py grades the whole corpus under the isolation this machine gives
(root with all capabilities, in CI). Here the cases about what a kernel can reach, plus the honest
rows, are graded again (one 01_xor_backprop batch, --jobs 2) in a child process that is root
without CAP_SYS_ADMIN, the unprivileged user nobody, or root without bwrap
(tests/hostile/configurations.py). In each: nobody's honest work loses a point to a missing layer,
and every case that the layers in force should stop is stopped. benchmarks/isolation_matrix.py
runs the full corpus under every configuration (docs/isolation.md has its figures).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from .conftest import ROOT
from .hostile import decoys as planted
from .hostile.configurations import available, wrap
from .hostile.corpus import load_cases

pytestmark = pytest.mark.slow

SUBSET = ["read_source", "read_other_submissions", "write_gradebook", "delete_course", "open_socket",
          "kit_by_name", "kit_files", "find_decoys", "fork_bomb", "ignores_interrupt", "kill_own_kernel"]
DECOY_SOLUTION = ROOT / "examples" / "submissions" / "correct" / "01_xor_backprop" / "xor_backprop.ipynb"


def _graded_under(name: str, folder: Path) -> dict:
    """The corpus subset's report, graded in a child process under configuration ``name``."""
    why_not = available(name)
    if why_not:
        pytest.skip(why_not)
    report_dir = folder / "report"
    report_dir.mkdir()
    report_dir.chmod(0o777)  # nobody writes its report here
    decoys = planted.plant(DECOY_SOLUTION)
    try:
        decoy_file = decoys.write(folder / "decoys.json")
        decoy_file.chmod(0o644)
        argv, env = wrap(name, [sys.executable, "-m", "tests.hostile.corpus", "--json", str(report_dir / "r.json"),
                                "--cases", ",".join(SUBSET), "--decoys", str(decoy_file)], folder / "config")
        proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    finally:
        planted.remove(decoys)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads((report_dir / "r.json").read_text())


def _assert_held(report: dict) -> None:
    """Honest rows at full marks, and every case the layers in force should stop, stopped."""
    assert report["honest"] and all(v == "" for v in report["honest"].values()), report["honest"]
    cases = {c.name: c for c in load_cases()}
    for name, row in report["cases"].items():
        if cases[name].holds_under(report["layers"], report["kernel_is_root"]):
            assert row["verdict"] == "", f"{name} under {report['isolation']}: {row['verdict']}"
    held = [n for n, row in report["cases"].items() if row["needed"]]
    assert held, f"no case of the subset holds under {report['isolation']}"


@pytest.fixture
def open_tmp():
    """A folder under /tmp that every user may enter (pytest's own is 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="iso-config-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_root_without_cap_sys_admin_still_isolates_and_grades(open_tmp):
    report = _graded_under("no_sys_admin", open_tmp)
    assert report["euid"] == 0 and report["layers"][-1] == "limits"
    _assert_held(report)


def test_an_unprivileged_user_gets_namespaces_or_limits_but_no_uid(open_tmp):
    report = _graded_under("nobody", open_tmp)
    assert report["euid"] == 65534 and "uid" not in report["layers"]
    _assert_held(report)


def test_without_bwrap_root_falls_back_to_a_uid_of_its_own(open_tmp):
    report = _graded_under("no_bwrap", open_tmp)
    assert "namespaces" not in report["layers"] and "apt-get install bubblewrap" in report["isolation"]
    assert "uid" in report["layers"], report["isolation"]
    _assert_held(report)
