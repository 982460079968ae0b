"""Set-up: environment.yml and pyproject.toml list the same dependencies; set-up never pulls an
unpinned torch here."""
from __future__ import annotations

import re
import tomllib

from .conftest import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _environment_pip_requirements() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "- pip:")
    reqs = []
    for ln in lines[start + 1:]:
        m = re.match(r"^\s+- (.+)$", ln)
        if not m:
            break
        reqs.append(m.group(1).strip())
    return [r for r in reqs if not r.startswith("-e")]


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(project["dependencies"]) == sorted(_environment_pip_requirements())
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_required_dependencies_are_declared():
    names = {_name(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    for needed in ("numpy", "torch", "nbgrader", "jupyter", "nbclient", "nbval", "pytest", "matplotlib", "tqdm"):
        assert needed in names


def test_makefile_installs_pinned_torch_before_the_package():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^TORCH\s*\?=\s*torch==\d+\.\d+\.\d+\s*$", makefile, re.M)
    package = re.search(r'pip install --disable-pip-version-check -e "?\.(\[[a-z,]+\])?"?', makefile)
    assert package and makefile.index("$(TORCH)") < package.start()


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
