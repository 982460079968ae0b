"""Honest notebooks with metadata slips keep their points, with a note that says what happened.

The slips are data (``tests/metadata_slips.toml``); each is applied to a correct 01 submission and
to the untouched release (a stub). Before grading, :mod:`autograder.grading.normalise` puts the
submission back into the released notebook's shape; nbgrader alone scores each of these 0.
"""
from __future__ import annotations

import copy
import tomllib
import uuid
from pathlib import Path

import nbformat
import pytest

from autograder.course import get_assignment
from autograder.grading.normalise import matches_anything, normalised
from autograder.notebooks import nbgrader_meta, read_notebook

from .conftest import ROOT

SLIPS = tomllib.loads((Path(__file__).parent / "metadata_slips.toml").read_text())["slip"]
ASSIGNMENT = get_assignment(ROOT, "01_xor_backprop")
CORRECT = ROOT / "examples" / "submissions" / "correct" / ASSIGNMENT.name / f"{ASSIGNMENT.notebook}.ipynb"


def _cell(nb, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") == grade_id)


def slipped(nb: nbformat.NotebookNode, slip: dict) -> nbformat.NotebookNode:
    """``nb`` with ``slip`` done to it."""
    nb = copy.deepcopy(nb)
    i = _cell(nb, slip["cell"])
    cell, meta = nb.cells[i], nb.cells[i].metadata["nbgrader"]
    if slip["do"] == "drop_key":
        del meta[slip["key"]]
    elif slip["do"] == "set_key":
        meta[slip["key"]] = slip["value"]
        if slip["key"] == "grade":
            meta.setdefault("points", 1.0)
    elif slip["do"] == "delete_cell":
        del nb.cells[i]
    elif slip["do"] == "copy_cell":
        twin = copy.deepcopy(cell)
        twin["id"] = uuid.uuid4().hex[:8]
        nb.cells.insert(i + 1, twin)
    elif slip["do"] == "to_markdown":
        nb.cells[i] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata, id=cell["id"])
    elif slip["do"] == "edit_source":
        cell.source += slip["value"]
    else:
        raise ValueError(f"unknown slip {slip['do']!r}")
    nbformat.validate(nb)
    return nb


def _released():
    return read_notebook(ASSIGNMENT.release_notebook)


def test_an_honest_notebook_needs_no_repair():
    """The control: nothing to repair, no note (so a note is always about a slip)."""
    nb, notes = normalised(read_notebook(CORRECT), _released())
    assert notes == []
    assert [c.source for c in nb.cells] == [c.source for c in read_notebook(CORRECT).cells]


@pytest.mark.parametrize("slip", SLIPS, ids=[s["name"] for s in SLIPS])
def test_each_slip_is_repaired_with_a_true_note(slip):
    released = _released()
    nb, notes = normalised(slipped(read_notebook(CORRECT), slip), released)
    assert any(slip["note"] in note for note in notes), notes
    assert len(notes) == 1, notes  # one slip, one note
    # Every released cell with nbgrader metadata is there once, with its type and metadata.
    ours = {nbgrader_meta(c)["grade_id"]: c for c in released.cells if nbgrader_meta(c).get("grade_id")}
    theirs = [nbgrader_meta(c).get("grade_id") for c in nb.cells if nbgrader_meta(c)]
    assert sorted(theirs) == sorted(ours)
    for cell in nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if gid:
            assert cell.cell_type == ours[gid].cell_type and nbgrader_meta(cell) == nbgrader_meta(ours[gid])
            if nbgrader_meta(cell).get("grade") or nbgrader_meta(cell).get("locked") and cell.cell_type == "code":
                assert cell.source == ours[gid].source
    nbformat.validate(nb)


def test_a_notebook_with_no_released_cell_is_refused_not_guessed():
    nb = read_notebook(CORRECT)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
        cell["id"] = uuid.uuid4().hex[:8]
    assert not matches_anything(nb, _released())
    kept_ids = read_notebook(CORRECT)
    for cell in kept_ids.cells:
        cell.metadata.pop("nbgrader", None)  # the metadata stripped by a tool, the cell ids kept
    assert matches_anything(kept_ids, _released())


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every slip on the correct submission and on the stub, graded in one batch."""
    from autograder.grading.batch import grade_batch
    subs = tmp_path_factory.mktemp("slips")
    for slip in SLIPS:
        for base, nb in (("honest", read_notebook(CORRECT)), ("stub", _released())):
            folder = subs / f"{base}_{slip['name']}" / ASSIGNMENT.name
            folder.mkdir(parents=True)
            nbformat.write(slipped(nb, slip), folder / f"{ASSIGNMENT.notebook}.ipynb")
    results = grade_batch(ASSIGNMENT, subs, tmp_path_factory.mktemp("out"), seed=2024, progress=False, jobs=2)
    return {r.student: r for r in results}


@pytest.mark.slow
@pytest.mark.parametrize("slip", SLIPS, ids=[s["name"] for s in SLIPS])
def test_an_honest_notebook_with_a_slip_keeps_its_points_and_a_stub_still_earns_none(graded, slip):
    honest, stub = graded[f"honest_{slip['name']}"], graded[f"stub_{slip['name']}"]
    assert not honest.reason and honest.score == honest.max_score == 14, \
        (honest.reason, [(c.grade_id, c.output[-300:]) for c in honest.cells if not c.passed])
    assert any(slip["note"] in note for note in honest.notes), honest.notes
    assert stub.score == 0, [(c.grade_id, c.score) for c in stub.cells if c.score]
