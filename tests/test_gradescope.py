"""`autograder gradescope A --out ZIP`: the bundle's contents, and its run_autograder grading
submissions as Gradescope would run it (unpacked under a temporary /autograder).

setup.sh is not run here (it installs system packages): run_autograder is pointed at this
test's own interpreter with AUTOGRADER_PYTHON, and at a temporary root with
AUTOGRADER_GRADESCOPE_ROOT.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.course import get_assignment
from autograder.gradescope import PYTHON_ENV, ROOT_ENV, find_submission

from .conftest import ROOT

ASSIGNMENT = "00_vectorization"
WRONG_RESULT = ROOT / "examples" / "submissions" / "wrong_result" / ASSIGNMENT / "vectorization.ipynb"

# Gradescope's results.json ("Autograder Specifications", Output format).
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
TOP_LEVEL_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
                  "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
             "visibility", "extra_data"}


def assert_gradescope_results(d: dict) -> None:
    """Every field is one Gradescope documents, with the documented type."""
    assert isinstance(d, dict) and set(d) <= TOP_LEVEL_KEYS, set(d) - TOP_LEVEL_KEYS
    number = (int, float)
    assert isinstance(d["score"], number) and not isinstance(d["score"], bool)
    for key in ("output",):
        assert isinstance(d.get(key, ""), str)
    for key in ("visibility", "stdout_visibility"):
        if key in d:
            assert d[key] in VISIBILITY, (key, d[key])
    if "execution_time" in d:
        assert isinstance(d["execution_time"], number)
    assert isinstance(d.get("extra_data", {}), dict)
    tests = d.get("tests", [])
    assert isinstance(tests, list)
    for t in tests:
        assert set(t) <= TEST_KEYS, set(t) - TEST_KEYS
        assert isinstance(t["name"], str) and t["name"]
        assert isinstance(t["score"], number) and isinstance(t["max_score"], number)
        assert 0 <= t["score"] <= t["max_score"]
        assert isinstance(t["output"], str)
        assert t["visibility"] in VISIBILITY
        if "status" in t:
            assert t["status"] in {"passed", "failed"}
    if tests:
        assert d["score"] == pytest.approx(sum(t["score"] for t in tests))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """The zip, built once through the real command."""
    out = tmp_path_factory.mktemp("gradescope") / "autograder.zip"
    proc = subprocess.run([sys.executable, "-m", "autograder", "gradescope", ASSIGNMENT, "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "never share it with students" in proc.stdout
    return out


def unpack(bundle: Path, target: Path) -> Path:
    """Unzip as Gradescope does, restoring the mode bits stored in the zip."""
    with zipfile.ZipFile(bundle) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, target))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                path.chmod(mode)
    return target


def run_autograder(bundle: Path, tmp_path: Path, submission_files: dict[str, Path | bytes] | None = None,
                   **env_overrides: str) -> dict:
    """Lay out tmp/autograder/{source,submission}, run the bundle's run_autograder, return results.json."""
    root = tmp_path / "autograder"
    unpack(bundle, root / "source")
    (root / "submission").mkdir(parents=True)
    for name, content in (submission_files or {}).items():
        dest = root / "submission" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy(content, dest)
        else:
            dest.write_bytes(content)
    env = {**os.environ, ROOT_ENV: str(root), PYTHON_ENV: sys.executable}
    env.pop("AUTOGRADER_SEED", None)
    env.update(env_overrides)
    proc = subprocess.run([str(root / "source" / "run_autograder")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = root / "results" / "results.json"
    assert results.is_file(), proc.stdout + proc.stderr
    payload = json.loads(results.read_text(encoding="utf-8"))
    assert_gradescope_results(payload)
    return payload


@pytest.mark.slow
def test_bundle_holds_what_gradescope_and_the_grader_need(bundle):
    with zipfile.ZipFile(bundle) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        names = set(infos)
        for script in ("setup.sh", "run_autograder"):
            assert script in names, "Gradescope needs it at the zip's top level"
            assert (infos[script].external_attr >> 16) & 0o111 == 0o111, f"{script} must be executable"
            assert stat.S_ISREG(infos[script].external_attr >> 16)
        assert {"bundle.json", "requirements.txt", "README.md", "course/nbgrader_config.py",
                f"course/source/{ASSIGNMENT}/vectorization.ipynb"} <= names
        assert ("course/course.toml" in names) == (ROOT / "course.toml").is_file()
        wheels = [n for n in names if n.startswith("dist/autograder-") and n.endswith(".whl")]
        assert len(wheels) == 1
        assert not [n for n in names if n.split("/")[0] in {"examples", ".venv", "assignments", "solutions", "tests",
                                                              ".git", "source"}
                    or "__pycache__" in n or n.startswith("course/source/01_")]
        setup = zf.read("setup.sh").decode()
        requirements = zf.read("requirements.txt").decode().splitlines()
        info = json.loads(zf.read("bundle.json"))
        readme = zf.read("README.md").decode()
        wheel_bytes = zf.read(wheels[0])
    assert info["assignment"] == ASSIGNMENT and info["notebook"] == "vectorization"
    assert "torch==2.13.0" in setup and "https://download.pytorch.org/whl/cpu" in setup
    assert setup.index("torch==2.13.0") < setup.index("dist/*.whl"), "torch (CPU) goes in before the kit"
    assert "python3.11" in setup and "selftest" in setup
    assert "apt_install bubblewrap" in setup and setup.index("bubblewrap") < setup.index("selftest")
    pins = [r for r in requirements if r and not r.startswith("#")]
    assert any(r.startswith("nbgrader==") for r in pins)
    assert all("==" in r for r in pins)
    assert not [r for r in pins if r.lower().startswith(("torch==", "nvidia-", "autograder=="))]
    assert "SOLUTIONS" in readme and "never share it with students" in readme
    for script in ("setup.sh", "run_autograder"):  # at least valid bash
        with zipfile.ZipFile(bundle) as zf:
            subprocess.run(["bash", "-n"], input=zf.read(script), check=True)
    # The wheel is the kit, including the grader that runs inside Gradescope and the assignment's checks.
    wheel = bundle.parent / "kit.whl"
    wheel.write_bytes(wheel_bytes)
    with zipfile.ZipFile(wheel) as whl:
        inside = set(whl.namelist())
    assert {"autograder/gradescope.py", "autograder/exercises/vectorization.py",
            "autograder/grading/engine.py"} <= inside


@pytest.mark.slow
def test_run_autograder_grades_a_submission_exactly(bundle, tmp_path):
    d = run_autograder(bundle, tmp_path, {"vectorization.ipynb": WRONG_RESULT}, AUTOGRADER_SEED="2024")
    assert d["score"] == 12
    tests = {t["name"]: t for t in d["tests"]}
    assert len(tests) == 13 and sum(t["max_score"] for t in tests.values()) == 13
    assert tests["test_linear_torch"]["score"] == 0 and tests["test_linear_torch"]["status"] == "failed"
    assert "the bias b is missing" in tests["test_linear_torch"]["output"]
    assert all(t["score"] == t["max_score"] for name, t in tests.items() if name != "test_linear_torch")
    assert "seed 2024" in d["output"] and d["extra_data"]["seed"] == 2024
    assert "could not be graded" not in d["output"]


@pytest.mark.slow
def test_empty_submission_scores_zero_with_the_reason(bundle, tmp_path):
    d = run_autograder(bundle, tmp_path, {"notes.txt": b"I forgot the notebook"})
    assert d["score"] == 0
    assert "no .ipynb file" in d["output"] and "notes.txt" in d["output"]
    assert len(d["tests"]) == 13 and all(t["score"] == 0 for t in d["tests"])
    assert isinstance(d["extra_data"]["seed"], int) and f"seed {d['extra_data']['seed']}" in d["output"]


@pytest.mark.slow
def test_notebook_that_is_not_json_scores_zero_with_the_reason(bundle, tmp_path):
    d = run_autograder(bundle, tmp_path, {"vectorization.ipynb": b"{ not json"})
    assert d["score"] == 0
    assert "not valid JSON (line 1" in d["output"]
    assert all(t["score"] == 0 for t in d["tests"])


@pytest.mark.slow
def test_a_crash_inside_the_grader_still_writes_results(bundle, tmp_path):
    root = tmp_path / "autograder"
    unpack(bundle, root / "source")
    info = json.loads((root / "source" / "bundle.json").read_text())
    (root / "source" / "bundle.json").write_text(json.dumps({**info, "assignment": "42_nope"}))
    (root / "submission").mkdir()
    shutil.copy(WRONG_RESULT, root / "submission" / "vectorization.ipynb")
    env = {**os.environ, ROOT_ENV: str(root), PYTHON_ENV: sys.executable}
    proc = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0
    d = json.loads((root / "results" / "results.json").read_text())
    assert_gradescope_results(d)
    assert d["score"] == 0 and "unknown assignment '42_nope'" in d["output"]


@pytest.mark.slow
def test_an_interpreter_that_cannot_start_still_writes_results(bundle, tmp_path):
    d = run_autograder(bundle, tmp_path, {"vectorization.ipynb": WRONG_RESULT},
                       **{PYTHON_ENV: str(tmp_path / "no-such-python")})
    assert d["score"] == 0 and d["tests"] == []
    assert "the autograder itself failed (exit status 127)" in d["output"]


@pytest.mark.slow
def test_without_cap_sys_admin_the_bundle_grades_the_instructor_notebook_under_the_uid_layer(bundle, tmp_path):
    """Gradescope's containers run as root without CAP_SYS_ADMIN, and their seccomp profile refuses
    the namespaces bwrap needs (tests/hostile/configurations.py's "docker"): the kernels still get
    a uid of their own, and the instructor notebook still scores full marks."""
    from .hostile.configurations import available, wrap
    why_not = available("docker")
    if why_not:
        pytest.skip(why_not)
    root = tmp_path / "autograder"
    unpack(bundle, root / "source")
    (root / "submission").mkdir(parents=True)
    shutil.copy(root / "source" / "course" / "source" / ASSIGNMENT / "vectorization.ipynb", root / "submission")
    argv, env = wrap("docker", [str(root / "source" / "run_autograder")], tmp_path / "config")
    env.update({ROOT_ENV: str(root), PYTHON_ENV: sys.executable, "AUTOGRADER_SEED": "2024"})
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    d = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert_gradescope_results(d)
    isolation = d["extra_data"]["isolation"]
    assert "uid" in isolation["layers"] and "namespaces" not in isolation["layers"], isolation
    assert "Creating new namespace failed" in isolation["missing"]["namespaces"]
    assert d["score"] == 13 and all(t["score"] == t["max_score"] for t in d["tests"]), d["output"]
    assert stat.S_IMODE((root / "source" / "course").stat().st_mode) == 0o700  # the solutions: root only
    assert "isolation: uid + limits" in proc.stdout


@pytest.mark.slow
def test_the_self_test_refuses_below_the_courses_minimum(bundle, tmp_path):
    root = tmp_path / "autograder"
    unpack(bundle, root / "source")
    (root / "source" / "course" / "course.toml").write_text('isolation = "namespaces"\n')
    env = {**os.environ, ROOT_ENV: str(root), "PATH": str(tmp_path)}  # no bwrap on this PATH
    proc = subprocess.run([sys.executable, "-m", "autograder.gradescope", "selftest", "--source", str(root / "source")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "self-test: refused" in proc.stdout and 'requires isolation = "namespaces"' in proc.stdout
    assert "apt-get install bubblewrap" in proc.stdout and "scores" not in proc.stdout


# find_submission: which notebook in Gradescope's submission folder gets graded (no grading, fast).

@pytest.fixture(scope="module")
def assignment():
    return get_assignment(ROOT, ASSIGNMENT)


def _touch(folder: Path, *names: str) -> Path:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("{}")
    return folder


def test_a_single_notebook_is_graded_whatever_its_name_or_folder(tmp_path, assignment):
    s = find_submission(_touch(tmp_path, "hw/my vectorization (1).ipynb", "hw/.ipynb_checkpoints/x.ipynb",
                               "__MACOSX/hw/._x.ipynb"), assignment)
    assert s.path == tmp_path / "hw" / "my vectorization (1).ipynb"
    assert "graded as vectorization.ipynb" in s.note


def test_the_expected_name_wins_among_several_notebooks(tmp_path, assignment):
    s = find_submission(_touch(tmp_path, "scratch.ipynb", "vectorization.ipynb"), assignment)
    assert s.path == tmp_path / "vectorization.ipynb" and "2 notebooks were submitted" in s.note


def test_several_notebooks_none_expected_is_a_reason(tmp_path, assignment):
    s = find_submission(_touch(tmp_path, "a.ipynb", "b.ipynb"), assignment)
    assert s.path is None and "2 notebooks (a.ipynb, b.ipynb)" in s.problem and "which one" in s.problem


def test_no_submission_folder_is_a_reason(tmp_path, assignment):
    s = find_submission(tmp_path / "missing", assignment)
    assert s.path is None and "no submission folder" in s.problem


@pytest.mark.slow
def test_the_self_test_scores_full_marks_and_calls_no_cell_of_the_instructor_edited(bundle, tmp_path):
    root = tmp_path / "autograder"
    unpack(bundle, root / "source")
    env = {**os.environ, ROOT_ENV: str(root), "AUTOGRADER_SEED": "2024"}
    proc = subprocess.run([sys.executable, "-m", "autograder.gradescope", "selftest", "--source", str(root / "source")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "scores 13/13 ✓" in proc.stdout, proc.stdout
    assert "edited" not in proc.stdout, proc.stdout
