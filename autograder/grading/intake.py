"""Find the submissions in a folder as a TA receives them.

Accepted layouts (``A`` is the assignment folder, e.g. ``00_vectorization``):

    SUBMISSIONS/<student>/<A>/<notebook>.ipynb   nbgrader's layout
    SUBMISSIONS/<student>.ipynb                  a flat folder, one notebook per student

    EXPORT.zip or EXPORT/ + --roster roster.csv  an LMS export (see find_lms_submissions)

Problems that concern one student (two notebooks, a non-notebook file) become that student's
row with the reason; they never stop the batch.
"""
from __future__ import annotations

import csv
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..course import Assignment


@dataclass
class Submission:
    student: str
    path: Path | None          # None when there is nothing gradable; ``problem`` says why
    problem: str = ""
    note: str = ""


class IntakeError(Exception):
    """The submissions folder itself is unusable (missing, or nothing recognisable in it)."""


def find_submissions(folder: Path, assignment: Assignment) -> list[Submission]:
    """Every student's submission for ``assignment`` in ``folder``, sorted by student."""
    folder = Path(folder)
    if not folder.is_dir():
        raise IntakeError(f"{folder}: no such folder")
    found: dict[str, Submission] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            if entry.suffix == ".ipynb":
                found[entry.stem] = Submission(entry.stem, entry)
            continue
        if not entry.is_dir():
            continue
        adir = entry / assignment.name
        if not adir.is_dir():
            continue  # this student has no submission for this assignment
        notebooks = sorted(adir.glob("*.ipynb"))
        expected = adir / f"{assignment.notebook}.ipynb"
        if expected in notebooks:
            found[entry.name] = Submission(entry.name, expected)
        elif len(notebooks) == 1:
            # The only notebook is the submission, whatever the browser called the download; the
            # Gradescope bundle grades it the same way.
            found[entry.name] = Submission(entry.name, notebooks[0],
                                           note=f"the notebook was named {notebooks[0].name}; graded as {expected.name}")
        elif not notebooks:
            others = ", ".join(p.name for p in sorted(adir.iterdir())[:5]) or "nothing"
            found[entry.name] = Submission(entry.name, None, problem=f"{adir}: no .ipynb file (found {others})")
        else:
            names = ", ".join(p.name for p in notebooks)
            found[entry.name] = Submission(entry.name, None,
                                           problem=f"{adir}: {len(notebooks)} notebooks ({names}) and none is "
                                                   f"{expected.name}: which one is the submission?")
    if not found:
        raise IntakeError(f"{folder}: no submissions for {assignment.name} (expected <student>/{assignment.name}/"
                          f"{assignment.notebook}.ipynb or <student>.ipynb)")
    return [found[k] for k in sorted(found)]


# ---------------------------------------------------------------------------------------------
# LMS exports (Canvas-style): lastname_12345_67890_<anything>.ipynb, plus a roster CSV
# ---------------------------------------------------------------------------------------------

LMS_NAME = re.compile(r"^(?P<name>[^_]+)_(?:late_)?(?P<lms_id>\d+)_(?P<submission_id>\d+)_(?P<file>.+)$", re.I)
ROSTER_ID_COLUMNS = ("lms_id", "id", "user_id", "canvas_id", "sis_user_id")
ROSTER_STUDENT_COLUMNS = ("student", "student_id", "login", "login_id", "username", "email")


def read_roster(path: Path) -> dict[str, str]:
    """``{lms_id: student}`` from a CSV with an id column (lms_id, id, user_id...) and a student column
    (student, student_id, login...)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            id_col = next((c for c in ROSTER_ID_COLUMNS if c in header), None)
            student_col = next((c for c in ROSTER_STUDENT_COLUMNS if c in header), None)
            if not id_col or not student_col:
                raise IntakeError(f"{path}: the roster needs an id column ({', '.join(ROSTER_ID_COLUMNS)}) and a "
                                  f"student column ({', '.join(ROSTER_STUDENT_COLUMNS)}); found {', '.join(header) or 'none'}")
            roster = {}
            for line, row in enumerate(reader, start=2):
                row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                lms_id, student = row.get(id_col, ""), row.get(student_col, "")
                if not lms_id or not student:
                    raise IntakeError(f"{path}, line {line}: empty {id_col if not lms_id else student_col}")
                if lms_id in roster and roster[lms_id] != student:
                    raise IntakeError(f"{path}, line {line}: id {lms_id} is listed for {roster[lms_id]} and {student}")
                roster[lms_id] = student
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise IntakeError(f"{path}: cannot read the roster ({exc})") from None
    return roster


def _export_files(export: Path, staging: Path) -> list[Path]:
    """The files of an LMS export: a folder's files, or a zip's members unpacked into ``staging``."""
    if export.is_dir():
        return sorted(p for p in export.iterdir() if p.is_file() and not p.name.startswith("."))
    if not zipfile.is_zipfile(export):
        raise IntakeError(f"{export}: neither a folder nor a zip file")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    files = []
    with zipfile.ZipFile(export) as zf:
        for info in zf.infolist():
            name = Path(info.filename).name  # flatten: no member may write outside staging
            if info.is_dir() or not name or name.startswith(".") or info.filename.startswith("__MACOSX"):
                continue
            target = staging / name
            with zf.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            files.append(target)
    return sorted(files)


def find_lms_submissions(export: Path, assignment: Assignment, roster_csv: Path, staging: Path) -> list[Submission]:
    """One :class:`Submission` per roster student and per unusable file, from an LMS export.

    Rows with a ``problem`` (and no path): a student with no notebook, only other file types,
    or two notebooks; a file whose id is not in the roster; a file not named like an LMS export.
    """
    export = Path(export)
    if not export.exists():
        raise IntakeError(f"{export}: no such file or folder")
    roster = read_roster(roster_csv)
    notebooks: dict[str, list[Path]] = {}
    others: dict[str, list[Path]] = {}
    rows: dict[str, Submission] = {}
    for path in _export_files(export, staging):
        match = LMS_NAME.match(path.name)
        if not match:
            rows[path.stem] = Submission(path.stem, None, problem=f"{path.name}: not named like an LMS export "
                                         "(lastname_<user id>_<submission id>_<file>); cannot tell whose it is")
            continue
        lms_id = match["lms_id"]
        if lms_id not in roster:
            rows[f"lms-{lms_id}"] = Submission(f"lms-{lms_id}", None,
                                               problem=f"{path.name}: user id {lms_id} is not in the roster {Path(roster_csv).name}")
            continue
        (notebooks if path.suffix.lower() == ".ipynb" else others).setdefault(roster[lms_id], []).append(path)
    for lms_id, student in sorted(roster.items(), key=lambda kv: kv[1]):
        mine, extra = notebooks.get(student, []), others.get(student, [])
        if len(mine) == 1:
            note = f"also sent {', '.join(p.name for p in extra)} (ignored)" if extra else ""
            rows[student] = Submission(student, mine[0], note=note)
        elif len(mine) > 1:
            rows[student] = Submission(student, None, problem=f"{len(mine)} notebooks ({', '.join(p.name for p in mine)}): "
                                                              "which one is the submission?")
        elif extra:
            rows[student] = Submission(student, None, problem=f"wrong file type: {', '.join(p.name for p in extra)} "
                                                              f"(expected {assignment.notebook}.ipynb)")
        else:
            rows[student] = Submission(student, None, problem="no submission in the export")
    return [rows[k] for k in sorted(rows)]
