"""How a failure reads in the notebook: wrapped at word boundaries, under its own indentation."""
from __future__ import annotations

from autograder.checks import CheckFailed
from autograder.notebook_display import WIDTH, check_failed_traceback, wrapped

LONG = ("dW1: values differ from the expected result, and the greatest difference sits at index (3, 2) "
        "where a transposed weight gradient would put it: dW1 = dz1.T @ X is (H, D), not X.T @ dz1")


def test_long_lines_break_between_words_and_keep_their_indentation():
    text = wrapped("  " + LONG)
    lines = text.splitlines()
    assert len(lines) > 1 and all(len(line) <= WIDTH for line in lines)
    assert " ".join(text.split()) == " ".join(LONG.split())  # no word cut, none lost
    assert all(line.startswith("    ") for line in lines[1:]) and lines[0].startswith("  dW1")


def test_a_word_longer_than_a_line_is_left_whole():
    path = "/very/long/" + "x" * 120
    assert path in wrapped(f"see {path} for more")


def test_the_notebook_shows_a_failure_wrapped():
    shown = check_failed_traceback(CheckFailed(LONG))[0]
    assert shown.startswith("\x1b[0;31mCheckFailed\x1b[0m: dW1:")
    assert max(len(line) for line in shown.split("\n")[1:]) <= WIDTH
