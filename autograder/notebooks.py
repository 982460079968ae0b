"""Reading, checking and transforming notebooks (the nbgrader cell metadata is the contract)."""
from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from pathlib import Path

import nbformat

HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S)
SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


class NotebookError(Exception):
    """A notebook file that cannot be graded; the message names the file and the problem."""


def read_notebook(path: Path, *, refuse_duplicates: bool = True) -> nbformat.NotebookNode:
    """Read a notebook, or raise :class:`NotebookError` with a precise reason.

    ``refuse_duplicates=False`` reads a file whose cells repeat an id or a ``grade_id`` (a
    submission, which :mod:`.grading.normalise` then matches to the released cells, each once)."""
    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise NotebookError(f"{path}: the file is empty")
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{path}: {size / 2**20:.0f} MB is larger than the {MAX_NOTEBOOK_BYTES // 2**20} MB limit")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise NotebookError(f"{path}: JSON, but not a notebook")
    major = data.get("nbformat")
    if major != 4:
        raise NotebookError(f"{path}: nbformat {major}; this course needs nbformat 4 (save it from Jupyter 4 or later)")
    if not isinstance(data.get("cells"), list):
        raise NotebookError(f"{path}: JSON, but not a notebook (no list of 'cells')")
    if not data["cells"]:
        raise NotebookError(f"{path}: the notebook has no cells")
    if refuse_duplicates:
        _reject_duplicates(path, data["cells"])
    try:
        with warnings.catch_warnings():  # a repeated cell id is for the caller to settle, not a warning
            warnings.simplefilter("ignore", nbformat.validator.DuplicateCellId)
            nb = nbformat.reads(text, as_version=4)
            nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several types
        raise NotebookError(f"{path}: not a valid notebook ({str(exc).splitlines()[0]})") from None
    return nb


def _reject_duplicates(path: Path, cells: list) -> None:
    """Two cells with one id (or one nbgrader grade_id): nbformat would quietly rename one, and
    nbgrader could then restore or score the wrong cell, so such a file is refused."""
    for what, ids in (("cell id", [c.get("id") for c in cells if isinstance(c, dict) and c.get("id")]),
                      ("nbgrader grade_id", [nbgrader_meta(c).get("grade_id") for c in cells
                                             if isinstance(c, dict) and nbgrader_meta(c).get("grade_id")])):
        twice = sorted(str(i) for i, n in Counter(ids).items() if n > 1)
        if twice:
            raise NotebookError(f"{path}: duplicated {what} {', '.join(twice)} "
                                "(cells copied by editing the file?); re-save the notebook from Jupyter")


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test_cell(cell) -> bool:
    """An autograded test cell: graded code, not a solution (nbgrader's own rule)."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def grade_cells(nb) -> dict[str, nbformat.NotebookNode]:
    """``{grade_id: cell}`` for autograded test cells, in notebook order."""
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells
            if nbgrader_meta(c).get("grade") and c.cell_type == "code"}


def cells_by_id(nb) -> dict[str, nbformat.NotebookNode]:
    """``{grade_id: cell}`` for every cell with nbgrader metadata."""
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if nbgrader_meta(c).get("grade_id")}


def strip_hidden_tests(source: str) -> str:
    return HIDDEN_TESTS.sub("", source)


def strip_solution_markers(source: str) -> str:
    return SOLUTION_MARKERS.sub("", source)


def cell_output_text(cell) -> str:
    """A code cell's outputs as plain text: streams, text results, and errors (name: message)."""
    parts = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(out.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            text = out.get("data", {}).get("text/plain")
            if text and not text.startswith("<Figure"):
                parts.append(text if text.endswith("\n") else text + "\n")
        elif kind == "error":
            tb = out.get("traceback") or []
            last = ANSI.sub("", tb[-1]) if tb else ""
            message = last if last.startswith(out.get("ename", "")) else f"{out.get('ename')}: {out.get('evalue')}"
            parts.append(message + "\n")
    return ANSI.sub("", "".join(parts)).strip()


def normalized(nb) -> list[tuple]:
    """What must agree for two generated notebooks to count as the same: cell kinds, sources and
    nbgrader metadata (not outputs, execution counts or other metadata)."""
    return [(c.cell_type, c.source, json.dumps(nbgrader_meta(c), sort_keys=True)) for c in nb.cells]
