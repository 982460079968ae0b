"""``autograder student-kit --out DIR``: what a course hands to its students.

    DIR/autograder-<version>-py3-none-any.whl   the public package: generic checks, the public
                                                checks of each assignment and the answers they
                                                look up on the public inputs; no grading module
    DIR/notebooks/<a>/                          the released notebooks, with their data files
    DIR/README.md                               how to install it: laptop, JupyterHub, Colab

The wheel is built from this course's package and then opened to make sure it holds no grading
module and every published answer file.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from .course import INSTRUCTOR_ONLY, Assignment, CourseError


class StudentKitError(Exception):
    """The kit could not be built, or what was built is not safe to hand out."""


README = """# {course}: the student kit

Install the wheel once, then open the notebooks in `notebooks/`. Each test cell checks your work on
fixed public inputs; at grading time, hidden tests run the same checks on other inputs.

## On your laptop

```sh
python3 -m venv dl-course && . dl-course/bin/activate
pip install {wheel} jupyterlab
autograder lab notebooks/
```

`autograder lab` is JupyterLab without the instructor's tools (nbgrader's Formgrader and
assignment lists), with nbgrader's Validate button kept. Before you submit, run every cell from a
fresh kernel: `autograder check notebooks/<a>/<notebook>.ipynb` (in a terminal, or in the Lab's own
terminal: File > New > Terminal).

## On JupyterHub

The instructor adds `pip install {wheel}` to the image (or the hub's start-up script); students only
open the notebooks.

## On Google Colab

Upload the notebook, then run this in a first cell (the course's URL for the wheel):

```python
%pip install https://<your course site>/{wheel}
```
"""


def build_wheel(root: Path, out: Path) -> Path:
    """``pip wheel`` of the course's package, without its dependencies (they install from PyPI)."""
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--disable-pip-version-check", "-q", "-w", str(out), str(root)],
                          capture_output=True, text=True)
    wheels = sorted(out.glob("autograder-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise StudentKitError(f"pip wheel {root} failed:\n{proc.stderr.strip() or proc.stdout.strip()}")
    return wheels[-1]


def check_wheel(wheel: Path, assignments: list[Assignment]) -> list[str]:
    """What makes ``wheel`` unsafe or incomplete (empty: fine)."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    problems = [f"{wheel.name}: holds {name}" for name in sorted(names)
                if name.endswith(tuple("/" + f for f in INSTRUCTOR_ONLY)) or name.startswith("source/")]
    for a in assignments:
        if a.grading_module.is_file():
            for path in (a.public_module, a.published_answers):
                inside = path.relative_to(a.root).as_posix()
                if inside not in names:
                    problems.append(f"{wheel.name}: {inside} is missing")
    return problems


def build_student_kit(root: Path, assignments: list[Assignment], out: Path, *, log=print) -> Path:
    """Write the kit into ``out`` (emptied first); return the wheel's path."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    wheel = build_wheel(root, out)
    problems = check_wheel(wheel, assignments)
    if problems:
        raise StudentKitError("the student kit is not safe to hand out: " + "; ".join(problems))
    for a in assignments:
        if not a.release_notebook.is_file():
            raise CourseError(f"{a.release_notebook}: missing; run `autograder release {a.name}` first")
        shutil.copytree(a.release_dir, out / "notebooks" / a.name,
                        ignore=shutil.ignore_patterns(*INSTRUCTOR_ONLY, ".ipynb_checkpoints", "__pycache__"))
    (out / "README.md").write_text(README.format(course=root.name, wheel=wheel.name), encoding="utf-8")
    size = wheel.stat().st_size
    log(f"wrote {out}/: {wheel.name} ({size / 1e6:.2f} MB), notebooks/ ({len(assignments)} assignments), README.md")
    return wheel
