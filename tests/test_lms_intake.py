"""LMS exports: lastname_<user id>_<submission id>_<file>, in a zip or a folder, with a roster CSV."""
from __future__ import annotations

import csv
import shutil
import zipfile

import pytest

from autograder.course import get_assignment
from autograder.grading.batch import grade_batch
from autograder.grading.intake import IntakeError, find_lms_submissions, read_roster

from .conftest import ROOT

A = get_assignment(ROOT, "00_vectorization")
CORRECT = A.samples_dir / "correct" / A.name / f"{A.notebook}.ipynb"


def _roster(path, rows=(("101", "ada"), ("102", "bob"), ("103", "cy"), ("104", "dee"), ("105", "eve"))):
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "student"])
        w.writerows(rows)
    return path


def _export(folder):
    folder.mkdir()
    shutil.copy(CORRECT, folder / "lovelace_101_9001_vectorization.ipynb")
    shutil.copy(CORRECT, folder / "builder_late_102_9002_vectorization.ipynb")
    shutil.copy(CORRECT, folder / "builder_102_9003_vectorization-1.ipynb")      # two notebooks for bob
    (folder / "young_103_9004_vectorization.py").write_text("print('oops')")      # wrong file type
    (folder / "stranger_999_9005_vectorization.ipynb").write_text("{}")            # not in the roster
    (folder / "vectorization.ipynb").write_text("{}")                              # not LMS-named
    # dee (104) and eve (105) sent nothing
    shutil.copy(CORRECT, folder / "eve_105_9006_notes.txt")
    return folder


def test_folder_export_gives_every_student_and_every_file_a_row(tmp_path):
    subs = {s.student: s for s in find_lms_submissions(_export(tmp_path / "exp"), A, _roster(tmp_path / "r.csv"),
                                                       tmp_path / "staging")}
    assert subs["ada"].path.name == "lovelace_101_9001_vectorization.ipynb" and not subs["ada"].problem
    assert "2 notebooks" in subs["bob"].problem and subs["bob"].path is None
    assert "wrong file type: young_103_9004_vectorization.py" in subs["cy"].problem
    assert subs["dee"].problem == "no submission in the export"
    assert "wrong file type: eve_105_9006_notes.txt" in subs["eve"].problem
    assert "user id 999 is not in the roster" in subs["lms-999"].problem
    assert "not named like an LMS export" in subs["vectorization"].problem


def test_zip_export_is_unpacked_safely(tmp_path):
    folder = _export(tmp_path / "exp")
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in folder.iterdir():
            zf.write(p, f"submissions/{p.name}")
        zf.writestr("../../escape_101_1_x.txt", "must not land outside staging")
        zf.writestr("__MACOSX/._lovelace_101_9001_vectorization.ipynb", "junk")
    subs = {s.student: s for s in find_lms_submissions(archive, A, _roster(tmp_path / "r.csv"), tmp_path / "staging")}
    assert subs["ada"].path.parent == tmp_path / "staging"
    assert not (tmp_path / "escape_101_1_x.txt").exists()
    assert "wrong file type" not in subs["ada"].problem  # the stray .txt for ada is only noted
    assert "escape_101_1_x.txt" in subs["ada"].note


def test_bad_rosters_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nada,ada@x\n")
    with pytest.raises(IntakeError, match="needs an id column"):
        read_roster(bad)
    clash = _roster(tmp_path / "clash.csv", rows=(("1", "ada"), ("1", "bob")))
    with pytest.raises(IntakeError, match="listed for ada and bob"):
        read_roster(clash)
    with pytest.raises(IntakeError, match="no such file"):
        find_lms_submissions(tmp_path / "missing.zip", A, clash, tmp_path / "s")


@pytest.mark.slow
def test_grading_an_lms_zip(tmp_path):
    folder = _export(tmp_path / "exp")
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in folder.iterdir():
            zf.write(p, p.name)
    results = {r.student: r for r in grade_batch(A, archive, tmp_path / "out", roster=_roster(tmp_path / "r.csv"),
                                                 seed=1, progress=False)}
    assert results["ada"].score == 13
    for student in ("bob", "cy", "dee", "eve", "lms-999", "vectorization"):
        assert results[student].score == 0 and results[student].reason
