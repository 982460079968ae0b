"""Grade on Gradescope: ``autograder gradescope A --out autograder.zip`` builds the autograder bundle.

Gradescope's autograder specification (gradescope-autograders.readthedocs.io, "Autograder
Specifications"): the zip's top level holds ``setup.sh``, run once as root on Ubuntu when the
image is built, and ``run_autograder``, run once per submission with the working directory
``/autograder``. The zip is unpacked to ``/autograder/source``, the student's files are in
``/autograder/submission``, and the results go to ``/autograder/results/results.json``.

The bundle (everything under ``/autograder/source`` at run time)::

    setup.sh                  python3.11 (apt if needed), bubblewrap, a venv at /autograder/venv, CPU torch,
                              the kit; self-test
    run_autograder            grades the one notebook in /autograder/submission; always writes results.json
    bundle.json               which assignment, kit version, torch pin, build time
    requirements.txt          pins (pip constraints) from the environment the bundle was built in
    dist/autograder-*.whl     the kit, built from this checkout
    course/nbgrader_config.py
    course/course.toml        the course's limits and minimum isolation, when it has one
    course/source/<A>/        the instructor notebook: hidden tests AND SOLUTIONS (nbgrader restores
                              the test cells from it), so the bundle must stay with the course staff
    README.md

Each submission goes through the same path as ``autograder grade`` for one student: a private
nbgrader workspace (:class:`GradingWorkspace`), then :func:`grade_one` (nbgrader restores the
instructor's test cells, runs the notebook with per-cell limits, reads the points back), then
:func:`reports.gradescope_results`. The hidden-test seed comes from ``AUTOGRADER_SEED`` or is drawn
at random; it is written into the results. Whatever goes wrong, a results.json with score 0 and
the reason is written: by :func:`run` for anything Python sees, by ``run_autograder`` itself when
Python cannot even start.

Isolation (:mod:`autograder.grading.isolation`): Gradescope's containers run as root, usually
without CAP_SYS_ADMIN, so the namespaces layer needs bubblewrap *and* user namespaces, which the
container may refuse; the uid layer (a user id of its own) works as root in any case. The bundle's
``course/`` folder holds the solutions, so the grader makes it readable by root only before the
first kernel starts. ``extra_data.isolation`` in results.json names the layers in force.

``AUTOGRADER_GRADESCOPE_ROOT`` (default ``/autograder``) moves the whole layout, and
``AUTOGRADER_PYTHON`` (default ``$ROOT/venv/bin/python``) picks the interpreter, so that a bundle
can be tried on any machine::

    unzip autograder.zip -d /tmp/ag/source && mkdir /tmp/ag/submission && cp nb.ipynb /tmp/ag/submission/
    AUTOGRADER_GRADESCOPE_ROOT=/tmp/ag AUTOGRADER_PYTHON=.venv/bin/python /tmp/ag/source/run_autograder
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import importlib.util
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

from .course import Assignment, CourseError, get_assignment

ROOT_ENV = "AUTOGRADER_GRADESCOPE_ROOT"
PYTHON_ENV = "AUTOGRADER_PYTHON"
DEFAULT_ROOT = "/autograder"
TORCH_DEFAULT = "torch==2.13.0"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"  # Gradescope's containers have no GPU
BUNDLE_INFO = "bundle.json"
STUDENT = "submission"

# Not pinned in requirements.txt: torch comes from the CPU index first; CUDA runtime wheels are
# useless there; the kit itself is the wheel in dist/.
_UNPINNED = re.compile(r"^(torch|torchvision|torchaudio|triton|nvidia-.*|cuda-.*|pip|autograder)$")


# --------------------------------------------------------------------------- the bundle's scripts

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
# It installs Python 3.11, a virtual environment with the CPU build of torch and the course kit,
# then grades the instructor notebook once as a self-test: a broken image fails here, not on a student.
set -euxo pipefail
ROOT="${AUTOGRADER_GRADESCOPE_ROOT:-/autograder}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/venv"
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

apt_install() { apt-get update -y && apt-get install -y --no-install-recommends "$@"; }

# 1. bubblewrap, for the namespaces layer of the kernels' sandbox (without it they still get a
#    user id of their own and resource limits; the self-test prints which layers are in force).
command -v bwrap >/dev/null 2>&1 || apt_install bubblewrap \
  || echo "setup.sh: could not install bubblewrap; kernels run without the namespaces layer" >&2

# 2. Python 3.11, what the kit is tested with (Ubuntu 22.04: universe; 24.04: the deadsnakes PPA).
if ! command -v python3.11 >/dev/null 2>&1; then
  apt_install python3.11 python3.11-venv \
    || { apt_install software-properties-common gnupg ca-certificates \
         && add-apt-repository -y ppa:deadsnakes/ppa && apt_install python3.11 python3.11-venv; } \
    || echo "setup.sh: could not install python3.11; trying the system python3" >&2
fi
PY=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 \
     && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    PY="$(command -v "$candidate")"
    break
  fi
done
if [ -z "$PY" ]; then
  echo "setup.sh: no Python >= 3.11 available; the kit needs one" >&2
  exit 1
fi

# 3. The virtual environment (Ubuntu's pythonX.Y-venv package provides ensurepip).
if ! "$PY" -m venv "$VENV"; then
  rm -rf "$VENV"
  apt_install "$(basename "$PY")-venv"
  "$PY" -m venv "$VENV"
fi

# 4. torch first, from the CPU index; then the kit, its dependencies held to the tested pins.
"$VENV/bin/python" -m pip install --upgrade pip
"$VENV/bin/python" -m pip install "@TORCH@" --index-url "@TORCH_INDEX@"
"$VENV/bin/python" -m pip install -c "$HERE/requirements.txt" "$HERE"/dist/*.whl

# 5. Self-test: the instructor notebook must score full marks in this image.
"$VENV/bin/python" -m autograder.gradescope selftest --source "$HERE"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this once per submission (cwd /autograder). It grades the one notebook in
# $ROOT/submission and writes $ROOT/results/results.json; whatever fails, a results.json is written.
ROOT="${AUTOGRADER_GRADESCOPE_ROOT:-/autograder}"
PY="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
cd "$ROOT" || true
"$PY" -m autograder.gradescope run --root "$ROOT"
status=$?
if [ ! -s "$RESULTS" ]; then
  # Python could not start or died without a word: write the reason here (fixed text, valid JSON).
  cat > "$RESULTS" <<EOF
{"score": 0, "output": "This submission could not be graded: the autograder itself failed (exit status $status) before it wrote any results. This is not a problem with your notebook; please tell the course staff.", "visibility": "visible", "stdout_visibility": "hidden", "tests": []}
EOF
  echo "run_autograder: '$PY -m autograder.gradescope run' exited with status $status and wrote no results.json" >&2
fi
exit 0
"""

README = """# Gradescope autograder for {assignment}

Built by `autograder gradescope {assignment}` on {built} (kit {version}).

**PRIVATE: this bundle contains the instructor notebook `course/source/{assignment}/{notebook}.ipynb`,
with the hidden tests and the SOLUTIONS.** nbgrader restores the test cells from it when it
grades. Upload it to Gradescope only as the assignment's autograder, and never share it with students.

Upload: Gradescope assignment -> Configure Autograder -> Zipped file upload -> this zip. Base image:
Ubuntu 22.04 or 24.04. `setup.sh` needs Python 3.11 or later and installs it from apt (22.04: universe;
24.04: the deadsnakes PPA); on an older image it stops with "no Python >= 3.11". Where it was run:
`run_autograder` and the self-test are tested on Debian 12 with Python 3.11 as root, with and without
CAP_SYS_ADMIN; `setup.sh` itself has not been run on Gradescope's images by the kit's tests. Students submit `{notebook}.ipynb` (a single notebook under another name is graded, with a note).

- `setup.sh` (once, at image build): bubblewrap, Python 3.11, a venv in `/autograder/venv`, `{torch}` from
  the CPU index, then `dist/*.whl` with its dependencies held to `requirements.txt`. It ends by grading
  the instructor notebook once, and fails the build unless it scores full marks (it prints the
  isolation layers in force, and fails below the minimum `course/course.toml` sets).
- `run_autograder` (per submission): grades the one `.ipynb` in `/autograder/submission` the way
  `autograder grade` does, and writes `/autograder/results/results.json`: one test per graded cell
  with the check's message, plus the hidden-test seed. A submission that cannot be graded
  (no notebook, two notebooks, not JSON, a crash) scores 0 with the reason.
- `AUTOGRADER_SEED=N` replays hidden tests exactly; otherwise each submission draws a seed (printed in its results).

Try it locally before uploading:

    unzip autograder.zip -d /tmp/ag/source && mkdir -p /tmp/ag/submission && cp {notebook}.ipynb /tmp/ag/submission/
    AUTOGRADER_GRADESCOPE_ROOT=/tmp/ag AUTOGRADER_PYTHON=$PWD/.venv/bin/python /tmp/ag/source/run_autograder
    cat /tmp/ag/results/results.json
"""


# --------------------------------------------------------------------------- building the bundle

def torch_requirement(course_root: Path) -> str:
    """The torch pin the kit is tested with: the Makefile's ``TORCH ?= torch==X.Y.Z``."""
    makefile = course_root / "Makefile"
    if makefile.is_file():
        m = re.search(r"^TORCH\s*\?=\s*(torch==[0-9][^\s]*)\s*$", makefile.read_text(encoding="utf-8"), re.M)
        if m:
            return m.group(1)
    return TORCH_DEFAULT


def pinned_requirements() -> list[str]:
    """``name==version`` for every distribution in the running environment (the one the kit is
    tested in), except torch and its CUDA wheels, pip, and the kit itself. Local versions are skipped."""
    pins: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").strip()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if not name or _UNPINNED.match(key) or "+" in (dist.version or "+"):
            continue
        pins[key] = f"{name}=={dist.version}"
    return [pins[k] for k in sorted(pins)]


def build_wheel(course_root: Path, dist_dir: Path) -> Path:
    """Build the kit's wheel from a copy of ``autograder/`` + ``pyproject.toml`` (so the build never
    writes ``build/`` or ``*.egg-info`` into the checkout)."""
    if not (course_root / "pyproject.toml").is_file() or not (course_root / "autograder").is_dir():
        raise CourseError(f"{course_root}: a Gradescope bundle is built from a checkout of the kit "
                          f"(pyproject.toml and autograder/ beside source/)")
    dist_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="autograder-wheel-") as tmp:
        kit = Path(tmp) / "kit"
        shutil.copytree(course_root / "autograder", kit / "autograder",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"))
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (course_root / name).is_file():
                shutil.copy2(course_root / name, kit / name)
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
               str(kit), "-w", str(dist_dir)]
        if importlib.util.find_spec("setuptools") is not None:
            cmd.insert(4, "--no-build-isolation")  # offline: build with the setuptools already here
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise CourseError(f"building the kit's wheel failed:\n{proc.stdout}\n{proc.stderr}".rstrip())
    wheels = sorted(dist_dir.glob("autograder-*.whl"))
    if len(wheels) != 1:
        raise CourseError(f"expected one autograder wheel in {dist_dir}, found {[w.name for w in wheels]}")
    return wheels[0]


def _zip_tree(folder: Path, out: Path) -> list[str]:
    """Zip ``folder``'s contents (not the folder itself) to ``out``, keeping the executable bits."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    names = []
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            name = path.relative_to(folder).as_posix()
            info = zipfile.ZipInfo(name, date_time=time.localtime(path.stat().st_mtime)[:6])
            info.create_system = 3  # Unix, so that unzip restores the mode bits below
            info.external_attr = (stat.S_IFREG | (0o755 if os.access(path, os.X_OK) else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
            names.append(name)
    partial.replace(out)
    return names


def build_bundle(assignment: Assignment, out: Path) -> list[str]:
    """Write the Gradescope autograder zip for ``assignment`` to ``out``; return the zip's listing."""
    root = assignment.root
    torch = torch_requirement(root)
    with tempfile.TemporaryDirectory(prefix="autograder-gradescope-") as tmp:
        stage = Path(tmp) / "bundle"
        stage.mkdir()
        wheel = build_wheel(root, stage / "dist")

        course = stage / "course"
        shutil.copytree(assignment.source_notebook.parent, course / "source" / assignment.name,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc"))
        shutil.copy2(root / "nbgrader_config.py", course / "nbgrader_config.py")
        if (root / "course.toml").is_file():  # limits and minimum isolation hold on Gradescope too
            shutil.copy2(root / "course.toml", course / "course.toml")

        built = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        version = wheel.name.split("-")[1]
        info = {"assignment": assignment.name, "notebook": assignment.notebook, "kit_version": version,
                "wheel": f"dist/{wheel.name}", "torch": torch, "torch_index": TORCH_INDEX,
                "built": built, "built_with_python": sys.version.split()[0]}
        (stage / BUNDLE_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        (stage / "requirements.txt").write_text(
            f"# pip constraints: the versions the kit was tested with (Python {sys.version.split()[0]}).\n"
            f"# torch is installed before these, from {TORCH_INDEX} ({torch}).\n"
            + "\n".join(pinned_requirements()) + "\n", encoding="utf-8")
        (stage / "README.md").write_text(README.format(assignment=assignment.name, notebook=assignment.notebook,
                                                       built=built, version=version, torch=torch), encoding="utf-8")
        for name, text in (("setup.sh", SETUP_SH.replace("@TORCH@", torch).replace("@TORCH_INDEX@", TORCH_INDEX)),
                           ("run_autograder", RUN_AUTOGRADER)):
            path = stage / name
            path.write_text(text, encoding="utf-8", newline="\n")
            path.chmod(0o755)
        return _zip_tree(stage, Path(out))


# --------------------------------------------------------------------------- grading one submission

def _seed() -> int:
    raw = os.environ.get("AUTOGRADER_SEED", "").strip()
    if raw:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"AUTOGRADER_SEED={raw!r} is not an integer") from None
    return secrets.randbelow(2**31)


def _visible_files(folder: Path) -> list[Path]:
    """Files under ``folder``, leaving out hidden ones, Jupyter checkpoints and macOS zip litter."""
    found = []
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if path.is_file() and not any(p.startswith(".") or p == "__MACOSX" for p in parts):
            found.append(path)
    return found


def find_submission(folder: Path, assignment: Assignment):
    """The notebook to grade in Gradescope's submission folder, as a :class:`Submission`.

    One ``.ipynb`` (at any depth) is graded whatever its name, with a note when it was renamed.
    Several are fine when exactly one has the expected name; otherwise, as with none, the
    submission cannot be graded and the ``problem`` says why.
    """
    from .grading.intake import Submission
    expected = f"{assignment.notebook}.ipynb"
    if not folder.is_dir():
        return Submission(STUDENT, None, problem=f"no submission folder ({folder})")
    files = _visible_files(folder)
    notebooks = [p for p in files if p.suffix == ".ipynb"]

    def rel(path: Path) -> str:
        return path.relative_to(folder).as_posix()

    if len(notebooks) == 1:
        nb = notebooks[0]
        note = "" if nb.name == expected else f"the notebook was named {rel(nb)}; graded as {expected}"
        return Submission(STUDENT, nb, note=note)
    if not notebooks:
        others = ", ".join(rel(p) for p in files[:5]) + (", ..." if len(files) > 5 else "")
        return Submission(STUDENT, None, problem=f"the submission has no .ipynb file (found {others or 'nothing'}); "
                                                 f"submit {expected}")
    named = [p for p in notebooks if p.name == expected]
    listed = ", ".join(rel(p) for p in notebooks)
    if len(named) == 1:
        return Submission(STUDENT, named[0], note=f"{len(notebooks)} notebooks were submitted ({listed}); "
                                                  f"graded {rel(named[0])}")
    return Submission(STUDENT, None, problem=f"the submission has {len(notebooks)} notebooks ({listed}) and "
                                             f"{'none' if not named else 'more than one'} is {expected}: "
                                             f"which one is the submission? Submit only {expected}.")


def load_bundle(source: Path) -> Assignment:
    """The assignment a bundle grades (from ``bundle.json``), with the bundle's course as its root."""
    info = json.loads((source / BUNDLE_INFO).read_text(encoding="utf-8"))
    return get_assignment(source / "course", info["assignment"])


def keep_course_private(source: Path) -> None:
    """Make the bundle's ``course/`` (the instructor notebook, with the solutions) readable by its
    owner only: a kernel with a user id of its own but no namespaces must not read it."""
    course = source / "course"
    if course.is_dir() and course.stat().st_uid == os.geteuid():
        os.chmod(course, 0o700)


def grade_submission(source: Path, submission_dir: Path, seed: int, say=None):
    """Grade what is in ``submission_dir`` with the bundle in ``source``: a :class:`StudentResult`.

    Raises IsolationError (nothing graded) below the minimum isolation of the bundle's course.toml."""
    from .grading.engine import grade_one
    from .grading.kernel import isolation_in_force
    from .grading.workspace import GradingWorkspace
    assignment = load_bundle(source)
    keep_course_private(source)
    submission = find_submission(submission_dir, assignment)
    with tempfile.TemporaryDirectory(prefix="autograder-gradescope-") as tmp:
        ws = GradingWorkspace(assignment, Path(tmp) / "nbgrader")
        isolation = isolation_in_force().with_exposed(ws.private_paths())
        if say is not None:
            say(isolation.describe())
        isolation.require(ws.minimum_isolation, str(assignment.root / "course.toml"))
        ws.generate()
        return grade_one(ws, submission, seed)


def crash_results(reason: str, seed: int | None = None) -> dict:
    """A Gradescope results.json for a submission that could not be graded at all."""
    output = f"This submission could not be graded: {reason}"
    if seed is not None:
        output += f"\nHidden tests used seed {seed}."
    return {"score": 0.0, "output": output, "visibility": "visible", "stdout_visibility": "hidden", "tests": []}


def _write_json(payload: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def run(root: Path) -> dict:
    """Grade ``root/submission`` with the bundle in ``root/source`` and write
    ``root/results/results.json``. Never raises: a crash scores 0 with the reason."""
    started = time.perf_counter()
    seed = None
    try:
        from .grading.reports import gradebook_table, gradescope_results
        seed = _seed()
        print(f"grading {root / 'submission'} with hidden-test seed {seed}", flush=True)
        result = grade_submission(root / "source", root / "submission", seed, say=lambda line: print(line, flush=True))
        print(gradebook_table([result]), flush=True)
        payload = gradescope_results(result)
        payload.setdefault("extra_data", {}).update(assignment=result.assignment, seed=seed,
                                                    max_score=result.max_score, status=result.status)
    except Exception as exc:  # noqa: BLE001 - every failure must still produce a results.json
        traceback.print_exc()
        payload = crash_results(f"the autograder failed ({type(exc).__name__}: {exc}). This is not a problem "
                                f"with your notebook; please tell the course staff.", seed)
    payload["execution_time"] = int(round(time.perf_counter() - started))
    _write_json(payload, root / "results" / "results.json")
    return payload


def selftest(source: Path) -> int:
    """Grade the bundle's instructor notebook; 0 when it scores full marks (``setup.sh``'s last step).
    1, without grading, when this machine cannot give the isolation the course requires."""
    from .grading.isolation import IsolationError
    from .grading.reports import gradebook_table
    assignment = load_bundle(source)
    with tempfile.TemporaryDirectory(prefix="autograder-selftest-") as tmp:
        submission = Path(tmp) / "submission"
        submission.mkdir()
        # As a student with every answer right hands it in: no hidden tests in the test cells
        # (the instructor's copy has them, and would be reported as edited test cells).
        import nbformat

        from .release import solution_notebook
        nbformat.write(solution_notebook(assignment), submission / assignment.source_notebook.name)
        try:
            result = grade_submission(source, submission, _seed(), say=print)
        except IsolationError as exc:
            print(f"self-test: refused: {exc}")
            return 1
    print(gradebook_table([result]))
    ok = not result.reason and result.score >= result.max_score > 0
    print(f"self-test: the instructor notebook for {assignment.name} scores {result.score:g}/{result.max_score:g}"
          + (" ✓" if ok else f" ✗ {result.reason}"))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.gradescope",
                                     description="The inside of a Gradescope bundle (see autograder/gradescope.py).")
    sub = parser.add_subparsers(dest="command", required=True)
    default_root = os.environ.get(ROOT_ENV) or DEFAULT_ROOT
    p = sub.add_parser("run", help="grade ROOT/submission, write ROOT/results/results.json")
    p.add_argument("--root", default=default_root, help=f"default: ${ROOT_ENV} or {DEFAULT_ROOT}")
    p = sub.add_parser("selftest", help="the instructor notebook must score full marks")
    p.add_argument("--source", default=str(Path(default_root) / "source"), help="the unpacked bundle")
    args = parser.parse_args(argv)
    import warnings
    warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's gradebook chatter
    if args.command == "run":
        run(Path(args.root))
        return 0
    return selftest(Path(args.source))


if __name__ == "__main__":
    sys.exit(main())
