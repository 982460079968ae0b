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

import pytest

from .conftest import ROOT
from .hostile.configurations import SubsetRuns
from .hostile.corpus import load_cases

pytestmark = pytest.mark.slow

SUBSET = ["read_source", "read_other_submissions", "write_gradebook", "delete_course", "open_socket",
          "kit_by_name", "kit_files", "find_decoys", "fork_bomb", "ignores_interrupt", "kill_own_kernel"]
DECOY_SOLUTION = ROOT / "examples" / "submissions" / "correct" / "01_xor_backprop" / "xor_backprop.ipynb"


@pytest.fixture(scope="module")
def reports():
    """``{configuration: its report}`` for the configurations this machine can make (the others map
    to why not). Two kernels each: most of a hostile grading waits (on a timeout, a fork bomb's
    end), and with fewer the two cores sat a third idle."""
    return SubsetRuns(["no_sys_admin", "nobody", "no_bwrap"], SUBSET, DECOY_SOLUTION, jobs=2).reports()


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
