"""After a cell leaves the kernel at its memory limit, later MemoryErrors name that cell
(grading/execute.py's MemoryState, measured through grading/processes.py). The graded end-to-end
case is ``memory_kept_full`` in tests/hostile/cases.toml."""
from __future__ import annotations

import os

import nbformat

from autograder.grading.execute import MemoryState, describe_cell
from autograder.grading.host_cells import error_output
from autograder.grading.processes import address_space_mb


class FakeKernel:
    """A kernel whose address space after each cell is scripted."""

    memory_mb = 1000

    def __init__(self, sizes):
        self.sizes = list(sizes)

    def address_space_mb(self):
        return self.sizes.pop(0)


def cell(source="x = 1", grade_id=None, error=None):
    c = nbformat.v4.new_code_cell(source)
    if grade_id:
        c.metadata["nbgrader"] = {"grade_id": grade_id}
    c.outputs = [error_output(*error)] if error else []
    return c


def run(sizes, cells):
    state, km = MemoryState(), FakeKernel(sizes)
    for index, c in enumerate(cells):
        state.after(c, index, km)
    return cells


def test_later_memory_errors_name_the_cell_that_filled_the_memory():
    cells = run([300, 990, 995, 996], [
        cell("import numpy as np"),
        cell("hog = []\ntry:\n    ..."),
        cell(grade_id="test_backprop", error=("CheckFailed", "backprop(...) raised MemoryError: ")),
        cell(grade_id="test_train", error=("ValueError", "shapes differ")),
    ])
    memory = cells[2].outputs[0]
    assert "since the cell that begins `hog = []` (cell 2 of the notebook)" in memory.evalue
    assert "(995 of 1,000 MB)" in memory.evalue and "still at its memory limit" in " ".join(memory.traceback)
    assert cells[3].outputs[0].evalue == "shapes differ"  # not a memory failure: no note


def test_the_cell_that_filled_it_and_a_kernel_that_freed_it_get_no_note():
    cells = run([990, 200, 995], [
        cell("hog = bytearray(10**9)", error=("MemoryError", "")),
        cell("del hog"),
        cell(grade_id="test_forward", error=("MemoryError", "")),  # full again, by its own doing
    ])
    assert [c.outputs[0].evalue for c in (cells[0], cells[2])] == ["", ""]


def test_cells_are_named_by_grade_id_or_by_their_first_line():
    assert describe_cell(cell(grade_id="forward"), 3) == "forward"
    assert describe_cell(cell("\n  hog = []  \nmore"), 6) == "the cell that begins `hog = []` (cell 7 of the notebook)"


def test_address_space_is_measured_from_proc():
    before = address_space_mb(os.getpid())
    block = bytearray(256 * 2**20)
    assert address_space_mb(os.getpid()) - before >= 200
    del block
    assert address_space_mb(2**22 + 12345) is None  # no such process
