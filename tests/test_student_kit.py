"""The student kit on its own: a fresh virtual environment with only the kit's wheel installed (no
repository, no grading modules) runs every released notebook, with the solution pasted in, and
passes all of its public tests."""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import samples
from autograder.course import list_assignments
from autograder.notebooks import read_notebook
from autograder.student_kit import build_student_kit, check_wheel

from .conftest import ROOT

ASSIGNMENTS = list_assignments(ROOT)


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    out = tmp_path_factory.mktemp("kit")
    wheel = build_student_kit(ROOT, ASSIGNMENTS, out / "kit", log=lambda line: None)
    return out / "kit", wheel


@pytest.fixture(scope="module")
def fresh_venv(kit, tmp_path_factory):
    """A venv whose only ``autograder`` is the kit's wheel; its other packages (numpy, torch, jupyter)
    are this environment's, reached through a plain path entry (no .pth of this environment runs, so
    the editable install of the repository is not seen)."""
    _, wheel = kit
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "course-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # A pure-Python wheel installs by unpacking it (pip would also uninstall this environment's copy).
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return venv / "bin" / "python"


def test_the_wheel_holds_no_grading_module_and_every_published_answer(kit):
    _, wheel = kit
    assert check_wheel(wheel, ASSIGNMENTS) == []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert not [n for n in names if n.endswith("grading.py") or "source/" in n]
    assert sum(n.startswith("autograder/exercises/published/") for n in names) == len(
        [a for a in ASSIGNMENTS if a.grading_module.is_file()])


def test_a_planted_grading_module_is_refused(kit, tmp_path):
    _, wheel = kit
    bad = tmp_path / wheel.name
    shutil.copy(wheel, bad)
    with zipfile.ZipFile(bad, "a") as archive:
        archive.writestr("autograder/exercises/grading.py", "ANSWER = 42\n")
    assert any("grading.py" in p for p in check_wheel(bad, ASSIGNMENTS))


def test_the_fresh_venv_sees_only_the_kit(fresh_venv, tmp_path):
    probe = ("import autograder, autograder.exercises.xor_backprop as m, importlib.util, sys\n"
             "print(autograder.__file__)\n"
             "print(importlib.util.find_spec('source') is None)\n"
             "print(m._reference_backprop.__published__)\n")
    out = subprocess.run([str(fresh_venv), "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, check=True).stdout.split()
    assert out[0].startswith(str(fresh_venv.parent.parent)) and out[1:] == ["True", "True"]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=lambda a: a.name)
def test_every_public_test_passes_from_the_kit_alone(assignment, kit, fresh_venv, tmp_path):
    folder, _ = kit
    solved = folder / "notebooks" / assignment.name / f"solved_{assignment.notebook}.ipynb"
    nbformat.write(samples.filled_in(read_notebook(assignment.release_notebook),
                                     read_notebook(assignment.source_notebook)), solved)
    proc = subprocess.run([str(fresh_venv), "-m", "autograder", "check", str(solved)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=1500,
                          env={"PATH": f"{fresh_venv.parent}:/usr/bin:/bin", "HOME": str(tmp_path),
                               "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "✗" not in proc.stdout


def test_the_students_lab_turns_off_the_instructor_tools_and_finds_the_check_command(tmp_path, monkeypatch):
    import json
    import os

    from autograder.student_lab import student_environment
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    env = student_environment({"PATH": "/usr/bin:/bin", "JUPYTER_CONFIG_PATH": "/elsewhere"})
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)  # autograder check in its terminal
    assert (Path(sys.executable).parent / "autograder").exists()
    config, *rest = env["JUPYTER_CONFIG_PATH"].split(os.pathsep)
    assert rest == ["/elsewhere"]
    server = json.loads((Path(config) / "jupyter_server_config.d" / "autograder-student.json").read_text())
    extensions = server["ServerApp"]["jpserver_extensions"]
    assert extensions["nbgrader.server_extensions.formgrader"] is False
    assert extensions["nbgrader.server_extensions.validate_assignment"] is True
    page = json.loads((Path(config) / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"]["@jupyter/nbgrader:create-assignment"] is True
    assert "@jupyter/nbgrader:validate-assignment" not in page["disabledExtensions"]


def _student_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme[readme.index("## For students"):readme.index("## For TAs")]


@pytest.mark.slow
def test_the_readme_student_steps_work_from_the_kit_in_a_fresh_venv(kit, tmp_path):
    """The README's laptop steps, as written, from the kit's folder: a venv, `pip install` of the
    wheel and jupyterlab, `autograder check`, `autograder lab`. The venv reaches this environment's
    packages through a path entry, so pip finds the dependencies installed and downloads nothing."""
    import os
    import re
    import socket
    import time
    import urllib.request

    folder, _ = kit
    section = _student_section()
    laptop = re.search(r"`(python3 -m venv dl && \. dl/bin/activate && pip install autograder-\*\.whl jupyterlab)`",
                       section.replace("\n  ", " "))
    assert laptop, "the README's laptop command changed: update this test with it"
    assert "`autograder lab notebooks/`" in section and "`autograder check notebooks/<a>/<notebook>.ipynb`" in section
    work = tmp_path / "laptop"
    shutil.copytree(folder, work)
    subprocess.run([sys.executable, "-m", "venv", "dl"], cwd=work, check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(work / "dl"), "platbase": str(work / "dl")}))
    (site / "course-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {"PATH": f"{work / 'dl' / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "MPLBACKEND": "Agg",
           "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    # The venv's bundled setuptools would shadow this environment's newer one, which torch needs,
    # and with no index pip could not upgrade it.
    subprocess.run(["dl/bin/python", "-m", "pip", "uninstall", "-q", "-y", "setuptools"], cwd=work, env=env)
    command = laptop.group(1).replace("python3 -m venv dl && ", "").replace(". dl/bin/activate && ", "")
    proc = subprocess.run(["sh", "-c", f". dl/bin/activate && {command}"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (work / "dl" / "bin" / "autograder").is_file()
    # the wheel, not the checkout: the grading side is nowhere to be found
    where = subprocess.run(["dl/bin/python", "-c", "import autograder, pathlib; print(pathlib.Path(autograder.__file__).parent)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(work / "dl")), where
    check = subprocess.run(["sh", "-c", ". dl/bin/activate && autograder check notebooks/01_xor_backprop/xor_backprop.ipynb"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert "public tests: 0 of 14 points pass" in check.stdout, check.stdout[-2000:] + check.stderr[-2000:]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lab = subprocess.Popen(["sh", "-c", f". dl/bin/activate && exec autograder lab notebooks/ --no-browser --port {port} "
                            "--IdentityProvider.token=t" + (" --allow-root" if os.geteuid() == 0 else "")],
                           cwd=work, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and status is None:
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token=t", timeout=5).status
            except OSError:
                time.sleep(0.5)
        assert status == 200
    finally:
        lab.terminate()
        lab.wait(timeout=30)
