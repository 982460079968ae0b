"""Part of the hostile corpus, graded under the weaker configurations this machine can make.

tests/test_hostile_submissions.py grades the whole corpus under the isolation this machine gives
(root with all capabilities, in CI). Here the cases about what a kernel can reach, plus the honest
rows, are graded again (one 01_xor_backprop batch, --jobs 2) in three child processes that run at
the same time: root without CAP_SYS_ADMIN, the unprivileged user nobody, and root without bwrap
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
CONFIGURATIONS_HERE = ("no_sys_admin", "nobody", "no_bwrap")


@pytest.fixture(scope="module")
def reports():
    """``{configuration: its report}`` for the configurations this machine can make (the others map
    to why not): the corpus subset graded under each, in child processes that run at the same
    time (a grading mostly waits on its kernels, and each must hold whatever runs beside it).
    The decoys are planted once, for all of them."""
    why_not = {name: available(name) for name in CONFIGURATIONS_HERE}
    wanted = [name for name in CONFIGURATIONS_HERE if not why_not[name]]
    if not wanted:
        return why_not
    folder = Path(tempfile.mkdtemp(prefix="iso-config-", dir="/tmp"))  # pytest's own is 0700
    folder.chmod(0o755)
    decoys = planted.plant(DECOY_SOLUTION)
    running, found = {}, dict(why_not)
    try:
        decoy_file = decoys.write(folder / "decoys.json")
        decoy_file.chmod(0o644)
        for name in wanted:
            report_dir = folder / name / "report"
            report_dir.mkdir(parents=True)
            report_dir.chmod(0o777)  # nobody writes its report here
            argv, env = wrap(name, [sys.executable, "-m", "tests.hostile.corpus", "--json", str(report_dir / "r.json"),
                                    "--cases", ",".join(SUBSET), "--decoys", str(decoy_file)], folder / name / "config")
            running[name] = (subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True), report_dir / "r.json")
        for name, (proc, report_file) in running.items():
            out, err = proc.communicate(timeout=1800)
            found[name] = json.loads(report_file.read_text()) if proc.returncode == 0 else \
                AssertionError(f"grading under {name} exited {proc.returncode}:\n{out[-2000:]}{err[-4000:]}")
    finally:
        for proc, _ in running.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        planted.remove(decoys)
        shutil.rmtree(folder, ignore_errors=True)
    return found


def _graded_under(name: str, reports: dict) -> dict:
    """The corpus subset's report under configuration ``name`` (skipped where it cannot be made)."""
    report = reports[name]
    if isinstance(report, str):
        pytest.skip(report)
    if isinstance(report, Exception):
        raise report
    return report


def _assert_held(report: dict) -> None:
    """Honest rows at full marks, and every case the layers in force should stop, stopped."""
    assert report["honest"] and all(v == "" for v in report["honest"].values()), report["honest"]
    cases = {c.name: c for c in load_cases()}
    for name, row in report["cases"].items():
        if cases[name].holds_under(report["layers"], report["kernel_is_root"]):
            assert row["verdict"] == "", f"{name} under {report['isolation']}: {row['verdict']}"
    held = [n for n, row in report["cases"].items() if row["needed"]]
    assert held, f"no case of the subset holds under {report['isolation']}"


def test_root_without_cap_sys_admin_still_isolates_and_grades(reports):
    report = _graded_under("no_sys_admin", reports)
    assert report["euid"] == 0 and report["layers"][-1] == "limits"
    _assert_held(report)


def test_an_unprivileged_user_gets_namespaces_or_limits_but_no_uid(reports):
    report = _graded_under("nobody", reports)
    assert report["euid"] == 65534 and "uid" not in report["layers"]
    _assert_held(report)


def test_without_bwrap_root_falls_back_to_a_uid_of_its_own(reports):
    report = _graded_under("no_bwrap", reports)
    assert "namespaces" not in report["layers"] and "apt-get install bubblewrap" in report["isolation"]
    assert "uid" in report["layers"], report["isolation"]
    _assert_held(report)
