"""The `autograder` command as students and TAs call it (a real subprocess, real exit codes)."""
from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def _sample(student):
    return ROOT / "examples" / "submissions" / student / "00_vectorization" / "vectorization.ipynb"


def test_check_passes_a_correct_notebook(tmp_path):
    nb = tmp_path / "vectorization.ipynb"
    shutil.copy(_sample("correct"), nb)
    proc = run_cli("check", str(nb))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✓ test_linear_torch (1 pt)" in proc.stdout
    assert "13 of 13 points pass" in proc.stdout
    assert "IPKernelApp" not in proc.stdout + proc.stderr  # no kernel warnings (TCP without encryption)


def test_check_names_the_failing_question_and_exits_non_zero(tmp_path):
    nb = tmp_path / "vectorization.ipynb"
    shutil.copy(_sample("wrong_result"), nb)
    proc = run_cli("check", str(nb))
    assert proc.returncode == 1
    assert "✗ test_linear_torch (1 pt)" in proc.stdout
    assert "hint: the bias b is missing" in proc.stdout
    assert "12 of 13 points pass" in proc.stdout


def test_check_rejects_a_file_that_is_not_a_notebook(tmp_path):
    bad = tmp_path / "vectorization.ipynb"
    bad.write_text("{ not json")
    proc = run_cli("check", str(bad))
    assert proc.returncode == 2 and "not valid JSON" in proc.stdout


def test_grade_one_student_writes_all_reports(tmp_path):
    proc = run_cli("grade", "00_vectorization", str(ROOT / "examples" / "submissions"), "--out", str(tmp_path),
                   "--student", "loop_in_torch", "--seed", "7", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "loop_in_torch" in proc.stdout and "12/13" in proc.stdout
    rows = list(csv.DictReader((tmp_path / "grades.csv").open()))
    assert [(r["student"], r["score"], r["test_matvec_speed"], r["seed"]) for r in rows] == \
        [("loop_in_torch", "12", "0", "7")]
    assert (tmp_path / "results" / "loop_in_torch.json").is_file()
    assert (tmp_path / "feedback" / "loop_in_torch" / "vectorization.html").is_file()
    # A regrade of some students writes no class summary, and the closing line does not claim one.
    assert "Wrote" in proc.stdout and "summary.html" not in proc.stdout
    assert not (tmp_path / "summary.html").exists()


def test_grading_a_whole_class_names_every_report_it_wrote(tmp_path):
    subs = tmp_path / "submissions"
    for student in ("correct", "raises"):
        (subs / student / "00_vectorization").mkdir(parents=True)
        shutil.copy(_sample(student), subs / student / "00_vectorization")
    out = tmp_path / "out"
    proc = run_cli("grade", "00_vectorization", str(subs), "--out", str(out), "--seed", "7", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    closing = proc.stdout.strip().splitlines()[-1]
    assert closing == (f"2 graded (0 could not be run), hidden-test seed 7. Wrote {out / 'grades.csv'}, "
                       "summary.html, feedback/, results/."), closing
    assert all((out / name).exists() for name in ("grades.csv", "summary.html", "feedback", "results"))


def test_grade_unknown_assignment_is_a_clear_error(tmp_path):
    proc = run_cli("grade", "42_nope", str(tmp_path), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "unknown assignment '42_nope'" in proc.stderr


def test_grade_outside_a_course_names_the_way_out(tmp_path):
    proc = run_cli("grade", "00_vectorization", str(tmp_path), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no course found" in proc.stderr and "--course" in proc.stderr, proc.stderr
