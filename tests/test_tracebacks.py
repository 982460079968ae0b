"""Crash messages (autograder/tracebacks.py): the call with its shapes, the exception, and the
student's own line, found past NumPy's frames and the kit's."""
from __future__ import annotations

import numpy as np
import pytest

from autograder.checks import CheckFailed
from autograder.exercises import call_student
from autograder.tracebacks import describe_call, student_frame

from .conftest import run_cell

CELL = """\
import numpy as np

def helper(Z):
    return Z @ np.ones((5, 2))

def forward(X, W1, b1):
    Z1 = X @ W1.T + b1
    return helper(Z1)
"""


def crash(fn, *args, **kwargs) -> list[str]:
    with pytest.raises(CheckFailed) as raised:
        call_student(fn.__name__, fn, *args, **kwargs)
    return str(raised.value).splitlines()


def test_a_crash_names_the_call_with_its_shapes_and_the_students_line_past_numpys_frames():
    forward = run_cell(CELL)["forward"]
    lines = crash(forward, np.ones((4, 2)), np.ones((3, 3)), b1=np.ones(3))
    assert lines[0].startswith("forward(X (4, 2), W1 (3, 3), b1 (3,)) raised ValueError: matmul:")
    assert lines[1:] == ["  in your forward, line 7 of its cell: Z1 = X @ W1.T + b1"]


def test_the_innermost_of_the_students_frames_is_named():
    forward = run_cell(CELL)["forward"]
    assert crash(forward, np.ones((4, 2)), np.ones((3, 2)), np.ones(3))[1:] == \
        ["  in your helper, line 4 of its cell: return Z @ np.ones((5, 2))"]


def test_the_kits_own_frames_are_not_the_students():
    """A part of the kit swapped into the student's function fails on what the student passed it:
    the line shown is the student's call of it."""
    kit = run_cell("def sigmoid(z):\n    raise ValueError('bad input')\n", {"__name__": "autograder.exercises.fake"})
    cell = run_cell("def forward(X):\n    return sigmoid(X)\n", {"sigmoid": kit["sigmoid"]})
    assert crash(cell["forward"], np.ones(2)) == ["forward(X (2,)) raised ValueError: bad input",
                                                  "  in your forward, line 2 of its cell: return sigmoid(X)"]


def test_a_crash_with_no_student_frame_has_no_line_to_show():
    kit = run_cell("def boom(*values):\n    raise RuntimeError('inside the library')\n", {"__name__": "autograder.fake"})
    assert crash(kit["boom"], [1.0, 2.0], 3) == ["boom((2,), scalar) raised RuntimeError: inside the library"]
    try:
        np.dot(np.ones(2), np.ones(3))
    except ValueError as exc:
        assert student_frame(exc.__traceback__)["function"] == \
            "test_a_crash_with_no_student_frame_has_no_line_to_show"  # this file is no library


def test_describe_call_names_positional_and_keyword_arguments():
    def train(X, params, lr=0.1, *rest):
        pass
    assert describe_call("train", train, (np.zeros((4, 2)), {"W": 1}, 0.5, np.zeros(3)), {"epochs": 3}) == \
        "train(X (4, 2), params dict, lr scalar, (3,), epochs scalar)"
