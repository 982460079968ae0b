"""The boundary's machinery: @answer and @grading_only, the public module made from a grading
module, recording answers and looking them up."""
from __future__ import annotations

import numpy as np
import pytest

from autograder import answers
from autograder.answers import answer
from autograder.public_module import GradingModuleError, public_source

GRADING = '''"""A grading module."""
from __future__ import annotations

from ..answers import answer, grading_only

LIMIT = 3  # kept


@answer
def _oracle(x):
    """The answer, doubled."""
    return 2 * x


@grading_only
def _hidden_inputs():
    return [1.0, 2.0]


def check(fn, hidden=False):
    return fn(5.0) == _oracle(5.0)
'''


def test_the_public_module_keeps_the_checks_and_drops_the_answers():
    text = public_source(GRADING, "toy")
    assert "return 2 * x" not in text and "[1.0, 2.0]" not in text
    assert "_oracle = _answers.published_stub(_PUBLISHED, '_oracle', 'The answer, doubled.')" in text
    assert "_hidden_inputs = _answers.refused_stub('_hidden_inputs')" in text
    assert "LIMIT = 3  # kept" in text and "def check(fn, hidden=False):" in text
    assert text.index("from __future__") < text.index("_PUBLISHED =") < text.index("_oracle =")
    compile(text, "toy.py", "exec")


def test_a_mark_the_generator_cannot_strip_is_refused():
    nested = GRADING.replace("def check(fn, hidden=False):", "def check(fn, hidden=False):\n    @answer\n    def inner(): pass")
    with pytest.raises(GradingModuleError, match="module-level"):
        public_source(nested, "toy", "source/99/grading.py")
    with pytest.raises(GradingModuleError, match="marks no function"):
        public_source('"""Nothing to hide."""\n', "toy")


def test_recorded_answers_are_found_again_within_rounding(tmp_path):
    @answer
    def oracle(x, n=2):
        return x * n

    recorder = answers.Recorder()
    with recorder.active():
        oracle(np.linspace(0, 1, 5), n=3)
        oracle(np.linspace(0, 1, 5), n=3)  # the same call once
    assert len(recorder) == 1
    answers.save(recorder, tmp_path / "toy.npz", "fingerprint")
    published = answers.Published(tmp_path / "toy.npz")
    stub = answers.published_stub(published, "oracle", None)
    got = stub(np.linspace(0, 1, 5) * (1 + 1e-13), n=3)  # another machine's last bits
    np.testing.assert_array_equal(got, np.linspace(0, 1, 5) * 3)
    assert answers.recorded_from(tmp_path / "toy.npz") == "fingerprint"
    with pytest.raises(answers.NotPublished, match="did not publish"):
        stub(np.linspace(0, 1, 5) + 0.1, n=3)  # another input
    with pytest.raises(answers.NotPublished):
        stub(np.linspace(0, 1, 5), n=4)  # an exact argument differs
    with pytest.raises(answers.GradingOnly):
        answers.refused_stub("_hidden")()


def test_calls_inside_an_answer_and_calls_by_the_students_code_are_not_recorded():
    @answer
    def inner(x):
        return x + 1

    @answer
    def outer(x):
        return inner(x) * 2

    recorder = answers.Recorder()
    with recorder.active():
        outer(1.0)
        answers.unrecorded(inner)(5.0)
    assert [name for bucket in recorder.entries.values() for _, _, name in bucket] == ["outer"]
