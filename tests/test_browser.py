"""Each released notebook as a student meets it, in JupyterLab in a real browser.

For every assignment: open the notebook and see its first heading render with a paragraph under
it; paste the solution of one function, run its test cell and see the ✓; paste a catalogued
mistake in its place and see its hint; click nbgrader's Validate and see its verdict. Screenshots
of each step go to ``$AUTOGRADER_SCREENSHOTS`` (default ``browser-screenshots/`` in the checkout).

The browser is Debian's ``chromium`` (``apt-get install chromium``; nothing is downloaded at run
time), driven by Playwright (``pip install playwright``). The test skips, saying which, only where
one of the two is missing; ``.ci/run`` installs both.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import samples
from autograder.course import get_assignment, list_assignments
from autograder.notebooks import read_notebook
from autograder.student_kit import build_student_kit

from .catalogue import mistake
from .conftest import ROOT, free_port, wait_until_serving

pytestmark = pytest.mark.slow

CHROMIUM = Path(os.environ.get("AUTOGRADER_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("AUTOGRADER_SCREENSHOTS", ROOT / "browser-screenshots"))

# (assignment, the function pasted in, its test cell, the catalogued mistake pasted next, what its hint says)
STEPS = [
    ("00_vectorization", "linear_torch", "test_linear_torch", "wrong_result", "the bias b is missing"),
    ("01_xor_backprop", "sigmoid", "test_sigmoid_stable", "naive_sigmoid", "np.exp(-np.abs(z))"),
    ("02_mnist_numpy", "softmax", "test_softmax_stable", "softmax_no_max_shift", "no max shift"),
    ("03_optimizers", "minibatches", "test_minibatches", "minibatches_drops_last_batch", "never visited"),
    ("04_attention", "masked_softmax", "test_masked_softmax", "mask_filled_with_zero", "large negative value"),
    ("05_lstm", "lstm_step_forward", "test_lstm_step_forward", "gates_wrong_order", "CS231n's order"),
]


def _missing() -> str:
    if not CHROMIUM.is_file():
        return f"no browser at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright)"
    return ""


@pytest.fixture(scope="module")
def kit_notebooks(tmp_path_factory) -> Path:
    """The student kit's notebooks folder: the Lab's root."""
    if _missing():
        pytest.skip(_missing())
    kit = tmp_path_factory.mktemp("kit") / "kit"
    build_student_kit(ROOT, list_assignments(ROOT), kit, log=lambda line: None)
    root = kit / "notebooks"
    assert sorted(p.name for p in root.iterdir()) == sorted(name for name, *_ in STEPS)
    return root


@pytest.fixture(scope="module")
def lab(tmp_path_factory, kit_notebooks):
    """JupyterLab on the student kit's notebooks, started as its README says (``autograder lab``),
    from another folder, with no terminal of its own (as a desktop launcher would start it)."""
    root = kit_notebooks
    home = tmp_path_factory.mktemp("home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(HOME=str(home), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    server = subprocess.Popen(
        [sys.executable, "-m", "autograder", "lab", str(root), "--", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--ServerApp.token=", "--ServerApp.password=", "--expose-app-in-browser",
         "--allow-root"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(f"{base}/lab", server, 120, "JupyterLab",
                       lambda: server.stdout.read() if server.stdout else "")
    yield base
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


OPEN_NOTEBOOK = """async () => {
  const app = window.jupyterapp;
  for (let i = 0; i < 600 && !(app.shell.currentWidget && app.shell.currentWidget.sessionContext); i++)
    await new Promise(r => setTimeout(r, 100));
  const panel = app.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  for (let i = 0; i < 600 && panel.sessionContext.session?.kernel?.status !== 'idle'; i++)
    await new Promise(r => setTimeout(r, 100));
  return panel.sessionContext.session?.kernel?.status;
}"""

CELLS = """() => window.jupyterapp.shell.currentWidget.content.widgets.map(c => ({
  type: c.model.type, grade_id: (c.model.getMetadata('nbgrader') || {}).grade_id || '',
  test: !!(c.model.getMetadata('nbgrader') || {}).grade}))"""

RUN_CELL = """async (i) => {
  const app = window.jupyterapp, panel = app.shell.currentWidget;
  panel.content.activeCellIndex = i;
  await app.commands.execute('notebook:run-cell');
  for (let k = 0; k < 3000 && panel.sessionContext.session?.kernel?.status !== 'idle'; k++)
    await new Promise(r => setTimeout(r, 100));
  const cell = panel.content.widgets[i];
  cell.node.scrollIntoView({block: 'center'});
  const out = cell.node.querySelector('.jp-OutputArea');
  return out ? out.innerText : '';
}"""

SOURCE = "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.sharedModel.getSource()"


def _paste(page, index: int, code: str) -> None:
    """Click into cell ``index``'s editor, select all, and paste ``code`` as a student would."""
    page.evaluate("(i) => { const p = window.jupyterapp.shell.currentWidget.content;"
                  " p.activeCellIndex = i; p.widgets[i].node.scrollIntoView({block: 'center'}); }", index)
    editor = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(code)
    page.keyboard.press("Escape")
    assert page.evaluate(SOURCE, index) == code, "the pasted code did not arrive as pasted"


def _solved_cell(assignment, grade_id: str) -> str:
    solved = samples.filled_in(read_notebook(assignment.release_notebook), read_notebook(assignment.source_notebook))
    return next(c.source for c in solved.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _with_mistake(code: str, name: str, student: str) -> str:
    edits = mistake(name, student)
    for find, replace in [edits] if isinstance(edits, tuple) else edits:
        assert find in code, f"{student}: {find!r} is not in the solution"
        code = code.replace(find, replace)
    return code


@pytest.mark.parametrize("name, function, test_cell, student, hint", STEPS, ids=[s[0] for s in STEPS])
def test_a_student_solves_a_function_sees_the_tick_then_a_hint_then_validates(browser, lab, name, function,
                                                                            test_cell, student, hint):
    assignment = get_assignment(ROOT, name)
    shots = SCREENSHOTS / name
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        # A workspace of its own, reset: only this notebook open (Lab would restore the last one's tabs).
        page.goto(f"{lab}/lab/workspaces/{name}/tree/{name}/{assignment.notebook}.ipynb?reset")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=120_000)
        assert page.evaluate(OPEN_NOTEBOOK) == "idle"
        # The student's Lab (autograder lab): none of nbgrader's instructor tools, Validate kept.
        commands = page.evaluate("() => window.jupyterapp.commands.listCommands()")
        assert not [c for c in commands if c.startswith("nbgrader:open-")], commands  # formgrader, lists, create
        assert page.get_by_text("Formgrader").count() == 0 and page.get_by_text("Nbgrader").count() == 0

        # 1. The first heading renders, with a paragraph under it (not a stack of headings).
        first = page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-RenderedMarkdown")
        first.locator("h1").first.wait_for(timeout=30_000)
        assert first.locator("p").count() >= 1 and first.locator("h1").count() == 1
        page.screenshot(path=shots / "1-heading.png")

        cells = page.evaluate(CELLS)
        answer = next(i for i, c in enumerate(cells) if c["grade_id"] == function)
        test = next(i for i, c in enumerate(cells) if c["grade_id"] == test_cell)
        for i in range(answer):  # the set-up and the other answer cells (stubs): no test cells
            if cells[i]["type"] == "code" and not cells[i]["test"]:
                page.evaluate(RUN_CELL, i)

        # 2. The solution pasted into one function: its test cell shows the tick.
        solution = _solved_cell(assignment, function)
        _paste(page, answer, solution)
        page.evaluate(RUN_CELL, answer)
        output = page.evaluate(RUN_CELL, test)
        page.screenshot(path=shots / "2-tick.png")
        assert "✓" in output and "CheckFailed" not in output, output

        # 3. A catalogued mistake in its place: the test cell names it.
        _paste(page, answer, _with_mistake(solution, name, student))
        page.evaluate(RUN_CELL, answer)
        output = page.evaluate(RUN_CELL, test)
        page.screenshot(path=shots / "3-hint.png")
        assert "CheckFailed" in output and hint in " ".join(output.split()), output

        # 4. nbgrader's Validate button, on the notebook as it now stands.
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        page.get_by_role("button", name="Validate").click()
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for(timeout=300_000)
        page.wait_for_function("() => !document.querySelector('.jp-Dialog')?.innerText.includes('Validating')",
                               timeout=300_000)
        page.screenshot(path=shots / "4-validate.png")
        verdict = dialog.inner_text()
        assert "failed" in verdict.lower() or "error" in verdict.lower(), verdict
    finally:
        page.close()


def test_the_check_command_the_notebooks_suggest_works_typed_in_the_labs_terminal(browser, lab, kit_notebooks):
    """The notebooks tell students to run ``autograder check`` in a terminal: typed into the Lab's
    own terminal, which opens beside the notebooks, it runs and prints the public tests' verdict."""
    shots = SCREENSHOTS / "terminal"
    shots.mkdir(parents=True, exist_ok=True)
    folder = kit_notebooks / "00_vectorization"
    report, finished = folder / "check.txt", folder / "finished.txt"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{lab}/lab/workspaces/terminal?reset")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=120_000)
        page.evaluate("() => window.jupyterapp.commands.execute('terminal:create-new')")
        terminal = page.locator(".jp-Terminal .xterm-helper-textarea")
        terminal.wait_for(state="attached", timeout=60_000)
        time.sleep(2)  # the shell's prompt
        terminal.focus()
        page.keyboard.type("cd 00_vectorization && autograder check vectorization.ipynb > check.txt 2>&1; "
                           "echo $? > finished.txt\n", delay=5)
        deadline = time.monotonic() + 300
        while not (finished.is_file() and finished.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(1)
        page.screenshot(path=shots / "terminal.png")
        assert report.is_file(), "the command typed in the Lab's terminal did not run in the notebooks' folder"
        assert finished.is_file(), "the command typed in the Lab's terminal never finished"
        text = report.read_text()
        assert "command not found" not in text, text
        # The notebook as the other tests left it (any of them may have saved it): a verdict on every cell.
        assert re.search(r"public tests: \d+ of 13 points pass", text) and "test_linear_torch" in text, text
    finally:
        page.close()
        for path in (report, finished):
            path.unlink(missing_ok=True)
