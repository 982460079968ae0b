"""Unit tests of autograder.exercises.vectorization, the checks behind assignment 00's test cells.

Each check is called in-process with a correct implementation (the notebook's solution, copied
below) and with the mistakes students make: a missing bias or square root, NumPy/torch inside a
"pure Python" loop, the wrong return type, an untouched stub, an (n, p, d) intermediate, and a
Python loop over rows disguised as torch. Failures are asserted on their messages and hints, not
only on the fact that they raise.

Speed checks time real code; the disguised loops run at 0-3x the speed of the Python loop and the
correct versions at 60-200x, so the thresholds (10x / 20x) leave a wide margin on a busy machine
(see benchmarks/timing_trust.py for the 20-out-of-20 evidence).
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from autograder import seeds
from autograder.exercises import vectorization as grader
from .conftest import CHECK_SEED as SEED, failure


# --------------------------------------------------------------------------------------------
# Reference implementations: the notebook's solutions (source/00_vectorization)
# --------------------------------------------------------------------------------------------

def dot_loop(x, w, b):
    total = b
    for xi, wi in zip(x, w):
        total += xi * wi
    return total


def matvec_loop(X, w, b):
    return [dot_loop(row, w, b) for row in X]


def linear_loop(X, W, b):
    return [[dot_loop(row, w_row, b_j) for w_row, b_j in zip(W, b)] for row in X]


def pairwise_distances_loop(X, Y):
    return [[math.sqrt(sum((a - c) ** 2 for a, c in zip(x, y))) for y in Y] for x in X]


def dot_torch(x, w, b):
    return b + torch.dot(x, w)


def matvec_torch(X, w, b):
    return X @ w + b


def linear_torch(X, W, b):
    return X @ W.T + b


def pairwise_distances_torch(X, Y):
    squared = (X * X).sum(dim=1)[:, None] + (Y * Y).sum(dim=1)[None, :] - 2 * X @ Y.T
    return torch.sqrt(torch.clamp(squared, min=0.0))


# --------------------------------------------------------------------------------------------
# Typical wrong implementations
# --------------------------------------------------------------------------------------------

def dot_loop_no_bias(x, w, b):
    return dot_loop(x, w, 0.0)


def matvec_loop_no_bias(X, w, b):
    return [dot_loop(row, w, 0.0) for row in X]


def linear_loop_no_bias(X, W, b):
    return [[dot_loop(row, w_row, 0.0) for w_row in W] for row in X]


def pairwise_loop_no_sqrt(X, Y):
    return [[sum((a - c) ** 2 for a, c in zip(x, y)) for y in Y] for x in X]


def dot_torch_no_bias(x, w, b):
    return torch.dot(x, w)


def matvec_torch_no_bias(X, w, b):
    return X @ w


def linear_torch_no_bias(X, W, b):
    return X @ W.T


def pairwise_torch_no_sqrt(X, Y):
    return torch.clamp((X * X).sum(dim=1)[:, None] + (Y * Y).sum(dim=1)[None, :] - 2 * X @ Y.T, min=0.0)


def pairwise_torch_broadcast(X, Y):
    """Correct values, but builds the (n, p, d) tensor of differences."""
    return torch.sqrt(((X[:, None, :] - Y[None, :, :]) ** 2).sum(dim=-1))


# Loops that are not pure Python.
def dot_loop_numpy(x, w, b):
    return float(np.dot(x, w) + b)


def dot_loop_torch(x, w, b):
    return float(torch.dot(torch.tensor(x), torch.tensor(w))) + b


def matvec_loop_imports_numpy(X, w, b):
    import numpy
    return [float(v) for v in numpy.asarray(X) @ numpy.asarray(w) + b]


def linear_loop_numpy_in_lambda(X, W, b):
    row_out = lambda row: (np.asarray(W) @ np.asarray(row) + np.asarray(b)).tolist()  # noqa: E731
    return [row_out(row) for row in X]


def pairwise_loop_torch(X, Y):
    return torch.cdist(torch.tensor(X), torch.tensor(Y)).tolist()


# Loops that return the wrong kind of number. The NumPy function comes in through a default
# argument, so the pure-Python check (global names) does not see it and the type check must.
def dot_loop_numpy_float(x, w, b, _to_numpy=np.float64):
    return _to_numpy(dot_loop(x, w, b))


def matvec_loop_numpy_array(X, w, b, _to_numpy=np.asarray):
    return _to_numpy(matvec_loop(X, w, b))


def matvec_loop_tuple(X, w, b):
    return tuple(matvec_loop(X, w, b))


def linear_loop_numpy_floats(X, W, b, _to_numpy=np.float64):
    return [[_to_numpy(v) for v in row] for row in linear_loop(X, W, b)]


# Torch versions that return the wrong container.
def matvec_torch_numpy(X, w, b):
    return (X @ w + b).numpy()


def dot_torch_python_float(x, w, b):
    return float(b + torch.dot(x, w))


def matvec_torch_column(X, w, b):
    return (X @ w + b)[:, None]


def pairwise_torch_shape_error(X, Y):
    return (X * X).sum(dim=1)[:, None] + (Y * Y).sum(dim=1)[None, :] - 2 * X @ Y


# Loops disguised as torch: right values, one or more torch calls per row.
def dot_torch_per_element(x, w, b):
    return b + sum(x[i] * w[i] for i in range(len(x)))


def matvec_torch_dot_per_row(X, w, b):
    return torch.stack([torch.dot(row, w) for row in X]) + b


def linear_torch_matvec_per_row(X, W, b):
    return torch.stack([W @ row for row in X]) + b


def pairwise_torch_per_row(X, Y):
    return torch.stack([torch.sqrt(((Y - x) ** 2).sum(dim=1)) for x in X])


def stub(*args):
    raise NotImplementedError()


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

VALUE_CHECKS = {  # check name -> (check, correct implementation)
    "dot_loop": (grader.check_dot_loop, dot_loop),
    "matvec_loop": (grader.check_matvec_loop, matvec_loop),
    "linear_loop": (grader.check_linear_loop, linear_loop),
    "pairwise_distances_loop": (grader.check_pairwise_distances_loop, pairwise_distances_loop),
    "dot_torch": (grader.check_dot_torch, dot_torch),
    "matvec_torch": (grader.check_matvec_torch, matvec_torch),
    "linear_torch": (grader.check_linear_torch, linear_torch),
    "pairwise_distances_torch": (grader.check_pairwise_distances_torch, pairwise_distances_torch),
}
LOOP_CHECKS = [name for name in VALUE_CHECKS if name.endswith("_loop")]
SPEED_CHECKS = {  # function name -> (check, correct implementation)
    "dot_torch": (grader.check_dot_speed, dot_torch),
    "matvec_torch": (grader.check_matvec_speed, matvec_torch),
    "linear_torch": (grader.check_linear_speed, linear_torch),
    "pairwise_distances_torch": (grader.check_pairwise_speed, pairwise_distances_torch),
}



def as_plain(value):
    """Inputs as comparable plain data: tensors and arrays become nested lists."""
    if isinstance(value, torch.Tensor):
        return ("tensor", str(value.dtype), value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return ("ndarray", value.tolist())
    return copy.deepcopy(value)


def capture_hidden_inputs(name: str, monkeypatch, seed: int, hidden: bool = True) -> list:
    """Run ``name``'s check with ``seed``; return the inputs the student's function received."""
    check, correct = VALUE_CHECKS[name]
    received = []

    def spy(*args):
        received.append(tuple(as_plain(a) for a in args))
        return correct(*args)

    monkeypatch.setenv(seeds.SEED_ENV, str(seed))
    check(spy, hidden=hidden)
    assert received, f"{name}'s check never called the student's function"
    return received



# --------------------------------------------------------------------------------------------
# Correct implementations pass, public and hidden
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(VALUE_CHECKS))
def test_correct_implementation_passes_public(name, capsys):
    check, correct = VALUE_CHECKS[name]
    check(correct)
    out = capsys.readouterr().out
    assert f"✓ {name} matches the oracle on {len(grader._public_shapes())} public inputs" in out
    assert "hidden tests" not in out  # public checks do not draw from the seed


@pytest.mark.parametrize("name", list(VALUE_CHECKS))
def test_correct_implementation_passes_hidden(name, seeded, capsys):
    check, correct = VALUE_CHECKS[name]
    check(correct, hidden=True)
    out = capsys.readouterr().out
    assert f"✓ {name} matches the oracle on 3 hidden inputs" in out
    # The seed lands in the feedback so that a TA can replay the inputs.
    assert f"random inputs from seed {SEED} (replay: AUTOGRADER_SEED={SEED})" in out


@pytest.mark.parametrize("seed", [0, 1, 7, 2024, 99991])
def test_correct_implementations_pass_hidden_for_several_seeds(seed, monkeypatch):
    monkeypatch.setenv(seeds.SEED_ENV, str(seed))
    for check, correct in VALUE_CHECKS.values():
        check(correct, hidden=True)


def test_pairwise_public_inputs_include_zero_distances():
    distances = []

    def spy(X, Y):
        out = pairwise_distances_torch(X, Y)
        distances.append(out)
        return out

    grader.check_pairwise_distances_torch(spy)
    assert any(bool((d == 0).any()) for d in distances)


# --------------------------------------------------------------------------------------------
# Hidden inputs: fresh per seed, reproducible from the seed
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(VALUE_CHECKS))
def test_hidden_inputs_are_reproducible_from_the_seed(name, monkeypatch):
    first = capture_hidden_inputs(name, monkeypatch, seed=11)
    again = capture_hidden_inputs(name, monkeypatch, seed=11)
    assert first == again


@pytest.mark.parametrize("name", list(VALUE_CHECKS))
def test_hidden_inputs_differ_between_seeds(name, monkeypatch):
    a = capture_hidden_inputs(name, monkeypatch, seed=11)
    b = capture_hidden_inputs(name, monkeypatch, seed=12)
    assert len(a) == len(b) == 3 * len(grader._devices())
    assert all(x != y for x, y in zip(a, b)), "some hidden input is the same for two seeds"


@pytest.mark.parametrize("name", list(VALUE_CHECKS))
def test_hidden_inputs_differ_from_public_inputs(name, monkeypatch):
    hidden = capture_hidden_inputs(name, monkeypatch, seed=11)
    public = capture_hidden_inputs(name, monkeypatch, seed=11, hidden=False)
    assert not set(map(repr, hidden)) & set(map(repr, public))


def test_loop_and_torch_checks_see_the_same_kind_of_inputs(monkeypatch):
    # The loop check passes nested lists of Python floats, the torch check float64 tensors.
    loop_args = capture_hidden_inputs("matvec_loop", monkeypatch, seed=5)[0]
    torch_args = capture_hidden_inputs("matvec_torch", monkeypatch, seed=5)[0]
    X, w, b = loop_args
    assert isinstance(X, list) and all(isinstance(v, float) for row in X for v in row)
    assert isinstance(w, list) and isinstance(b, float)
    assert torch_args[0][:2] == ("tensor", "torch.float64") and torch_args[1][:2] == ("tensor", "torch.float64")


# --------------------------------------------------------------------------------------------
# Wrong values: the message names the call and the likely mistake
# --------------------------------------------------------------------------------------------

MISSING_BIAS = [
    ("dot_loop", dot_loop_no_bias),
    ("matvec_loop", matvec_loop_no_bias),
    ("linear_loop", linear_loop_no_bias),
    ("dot_torch", dot_torch_no_bias),
    ("matvec_torch", matvec_torch_no_bias),
    ("linear_torch", linear_torch_no_bias),
]


@pytest.mark.parametrize("hidden", [False, True], ids=["public", "hidden"])
@pytest.mark.parametrize("name, wrong", MISSING_BIAS, ids=[n for n, _ in MISSING_BIAS])
def test_missing_bias_is_named(name, wrong, hidden, seeded):
    check, _ = VALUE_CHECKS[name]
    msg = failure(check, wrong, hidden=hidden)
    assert msg.startswith(f"{name}(")
    assert "values differ from the expected result" in msg
    assert "hint: the bias b is missing" in msg
    assert "square root" not in msg


def test_missing_bias_message_names_the_input_shapes():
    msg = failure(grader.check_linear_torch, linear_torch_no_bias)
    # The first public case: X (4, 3), W (2, 3), b (2,).
    assert msg.startswith("linear_torch(X (4, 3), W (2, 3), b (2,)): values differ")
    assert "greatest absolute difference" in msg


@pytest.mark.parametrize("hidden", [False, True], ids=["public", "hidden"])
@pytest.mark.parametrize("name, wrong", [("pairwise_distances_loop", pairwise_loop_no_sqrt),
                                         ("pairwise_distances_torch", pairwise_torch_no_sqrt)],
                         ids=["loop", "torch"])
def test_missing_square_root_is_named(name, wrong, hidden, seeded):
    check, _ = VALUE_CHECKS[name]
    msg = failure(check, wrong, hidden=hidden)
    assert msg.startswith(f"{name}(X ")
    assert "hint: squared distances: the square root is missing" in msg
    assert "bias" not in msg


def test_wrong_shape_reported_before_values():
    msg = failure(grader.check_matvec_torch, matvec_torch_column)
    assert "matvec_torch(X (4, 3), w (3,), b scalar): expected shape (4,), got shape (4, 1)." in msg
    assert "values differ" not in msg


def test_crash_names_the_function_and_the_error():
    msg = failure(grader.check_pairwise_distances_torch, pairwise_torch_shape_error)
    assert msg.startswith("pairwise_distances_torch(X (4, 3), Y (5, 3)) raised RuntimeError:")


# --------------------------------------------------------------------------------------------
# Loop versions: pure Python in, pure Python out
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, wrong, uses", [
    ("dot_loop", dot_loop_numpy, "np"),
    ("dot_loop", dot_loop_torch, "torch"),
    ("matvec_loop", matvec_loop_imports_numpy, "numpy"),
    ("linear_loop", linear_loop_numpy_in_lambda, "np"),
    ("pairwise_distances_loop", pairwise_loop_torch, "torch"),
], ids=["dot-np", "dot-torch", "matvec-import-numpy", "linear-np-in-lambda", "pairwise-torch"])
def test_loop_using_numpy_or_torch_is_rejected(name, wrong, uses):
    check, _ = VALUE_CHECKS[name]
    # These compute the right values: only the pure-Python rule rejects them.
    msg = failure(check, wrong)
    assert msg.startswith(f"{name}: the loop version must be pure Python, but it uses {uses}.")
    assert "Write the loops yourself" in msg


@pytest.mark.parametrize("name", LOOP_CHECKS)
def test_pure_python_rule_does_not_reject_math_or_helpers(name):
    # The correct loops call math.sqrt and the student's own dot_loop: both are allowed.
    check, correct = VALUE_CHECKS[name]
    check(correct)


@pytest.mark.parametrize("hidden", [False, True], ids=["public", "hidden"])
def test_loop_returning_numpy_float_is_rejected(hidden, seeded):
    msg = failure(grader.check_dot_loop, dot_loop_numpy_float, hidden=hidden)
    assert msg.startswith("dot_loop(")
    assert "expected a Python float, got a numpy.float64." in msg


def test_loop_returning_numpy_array_is_rejected():
    msg = failure(grader.check_matvec_loop, matvec_loop_numpy_array)
    assert "matvec_loop(X (4, 3), w (3,), b scalar): expected a list, got a ndarray." in msg


def test_loop_returning_tuple_is_rejected():
    msg = failure(grader.check_matvec_loop, matvec_loop_tuple)
    assert "expected a list, got a tuple." in msg


def test_loop_returning_nested_numpy_floats_is_rejected():
    msg = failure(grader.check_linear_loop, linear_loop_numpy_floats)
    assert "linear_loop(" in msg and "expected a Python float, got a numpy.float64." in msg


# --------------------------------------------------------------------------------------------
# Torch versions: a tensor, on the inputs' device
# --------------------------------------------------------------------------------------------

def test_torch_version_returning_numpy_array_is_rejected():
    msg = failure(grader.check_matvec_torch, matvec_torch_numpy)
    assert msg == "matvec_torch(X (4, 3), w (3,), b scalar): expected a torch.Tensor on cpu, got a numpy.ndarray."


def test_torch_version_returning_python_float_is_rejected():
    msg = failure(grader.check_dot_torch, dot_torch_python_float)
    assert "dot_torch(x (3,), w (3,), b scalar): expected a torch.Tensor on cpu, got a float." in msg


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_version_must_stay_on_the_inputs_device(capsys):
    for check, correct in VALUE_CHECKS.values():
        if correct.__name__.endswith("_torch"):
            check(correct)

    def matvec_on_cpu(X, w, b):
        return (X @ w + b).cpu()

    msg = failure(grader.check_matvec_torch, matvec_on_cpu)
    assert "expected the result on cuda (where the inputs live), got it on cpu" in msg


# --------------------------------------------------------------------------------------------
# The untouched stub
# --------------------------------------------------------------------------------------------

ALL_CHECKS = [
    *((name, check) for name, (check, _) in VALUE_CHECKS.items()),
    ("pairwise_distances_torch", grader.check_pairwise_memory),
    *((name, check) for name, (check, _) in SPEED_CHECKS.items()),
]


@pytest.mark.parametrize("name, check", ALL_CHECKS, ids=[c.__name__ for _, c in ALL_CHECKS])
def test_stub_is_reported_as_not_implemented(name, check):
    msg = failure(check, stub)
    assert msg == f"{name}: not implemented yet (it raised NotImplementedError)."


def test_name_overwritten_by_a_value_is_reported():
    msg = failure(grader.check_matvec_torch, None)
    assert msg == "matvec_torch: expected a function, got a NoneType. Did you overwrite its name?"


# --------------------------------------------------------------------------------------------
# Memory: no (n, p, d) intermediate
# --------------------------------------------------------------------------------------------

def test_pairwise_memory_rejects_the_broadcast_version():
    # The broadcast version is correct in value, so only the memory check catches it.
    grader.check_pairwise_distances_torch(pairwise_torch_broadcast)
    msg = failure(grader.check_pairwise_memory, pairwise_torch_broadcast)
    assert msg.startswith("pairwise_distances_torch(X (48, 32), Y (40, 32)) built a tensor of shape (48, 40, 32)")
    assert "61,440 elements" in msg
    assert "expand the square" in msg and "||x||^2 + ||y||^2 - 2 x.y" in msg


def test_pairwise_memory_accepts_the_expanded_square(capsys):
    grader.check_pairwise_memory(pairwise_distances_torch)
    out = capsys.readouterr().out
    assert "✓ pairwise_distances_torch's largest intermediate is (48, 40): no (n, p, d) tensor" in out


# --------------------------------------------------------------------------------------------
# Speed: correct versions pass, disguised loops fail and are named
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SPEED_CHECKS))
def test_speed_check_passes_correct_version(name, capsys):
    check, correct = SPEED_CHECKS[name]
    check(correct)
    out = capsys.readouterr().out
    threshold = grader.DOT_SPEEDUP_THRESHOLD if name == "dot_torch" else grader.SPEEDUP_THRESHOLD
    assert f"faster than the Python loop (needs {threshold:g}x)" in out
    assert f"✓ {name} is " in out
    assert "python loop" in out  # the timing table is part of the feedback


DISGUISED = [
    ("dot_torch", dot_torch_per_element),
    ("matvec_torch", matvec_torch_dot_per_row),
    ("linear_torch", linear_torch_matvec_per_row),
    ("pairwise_distances_torch", pairwise_torch_per_row),
]


@pytest.mark.parametrize("name, disguised", DISGUISED, ids=[f.__name__ for _, f in DISGUISED])
def test_speed_check_fails_loop_disguised_as_torch(name, disguised):
    check, correct = SPEED_CHECKS[name]
    # Same values as the correct version: only the speed check can tell them apart.
    args = (torch.randn(6, 3, dtype=torch.float64), torch.randn(3, dtype=torch.float64), 0.5)
    if name == "dot_torch":
        args = (args[1], args[1] * 2, 0.5)
    elif name == "linear_torch":
        args = (args[0], torch.randn(4, 3, dtype=torch.float64), torch.randn(4, dtype=torch.float64))
    elif name == "pairwise_distances_torch":
        args = (args[0], torch.randn(5, 3, dtype=torch.float64))
    torch.testing.assert_close(disguised(*args), correct(*args))

    msg = failure(check, disguised)
    threshold = grader.DOT_SPEEDUP_THRESHOLD if name == "dot_torch" else grader.SPEEDUP_THRESHOLD
    assert msg.startswith(f"{name}: {name} [cpu] runs at ")
    assert f"it should be at least {threshold:g}x faster" in msg
    assert "python loop" in msg  # the timing table comes with the failure
    assert f"hint: {name} made " in msg
    noun = "elements" if name == "dot_torch" else "rows"  # a vector has elements, a matrix rows
    assert f"torch calls for 256 {noun}" in msg and "for 512:" in msg
    assert "the work is being done in a Python loop" in msg



# --------------------------------------------------------------------------------------------
# Speed and memory are graded only on a result of the right form
# --------------------------------------------------------------------------------------------

FORM_CHECKS = [
    ("dot_torch", grader.check_dot_speed, "dot_torch(x (10000,), w (10000,), b scalar)", "a single number", "speed"),
    ("matvec_torch", grader.check_matvec_speed, "matvec_torch(X (2000, 50), w (50,), b scalar)", "shape (2000,)",
     "speed"),
    ("linear_torch", grader.check_linear_speed, "linear_torch(X (2000, 8), W (8, 8), b (8,))", "shape (2000, 8)",
     "speed"),
    ("pairwise_distances_torch", grader.check_pairwise_speed, "pairwise_distances_torch(X (1000, 4), Y (30, 4))",
     "shape (1000, 30)", "speed"),
    ("pairwise_distances_torch", grader.check_pairwise_memory, "pairwise_distances_torch(X (48, 32), Y (40, 32))",
     "shape (48, 40)", "memory use"),
]
FORM_IDS = [check.__name__ for _, check, *_ in FORM_CHECKS]


@pytest.mark.parametrize("name, check, label, form, graded", FORM_CHECKS, ids=FORM_IDS)
def test_a_function_that_returns_nothing_fails(name, check, label, form, graded):
    msg = failure(check, lambda *a, **k: None)
    assert msg == (f"{label}: expected a torch.Tensor on cpu, got a NoneType. "
                   f"Its {graded} is graded once it returns a result of the right form.")


@pytest.mark.parametrize("name, check, label, form, graded", FORM_CHECKS, ids=FORM_IDS)
def test_a_result_of_the_wrong_shape_fails(name, check, label, form, graded):
    msg = failure(check, lambda *a, **k: torch.zeros(3, 7))
    assert msg.startswith(f"{label}: expected {form}, got ") and "(3, 7)" in msg, msg
    assert msg.endswith(f"Its {graded} is graded once it returns a result of the right form.")


@pytest.mark.parametrize("name, check, label, form, graded", FORM_CHECKS, ids=FORM_IDS)
def test_a_result_that_is_not_a_float_tensor_fails(name, check, label, form, graded):
    correct = {"dot_torch": dot_torch, "matvec_torch": matvec_torch, "linear_torch": linear_torch,
               "pairwise_distances_torch": pairwise_distances_torch}[name]
    as_numpy = failure(check, lambda *a: correct(*a).numpy())
    assert as_numpy.startswith(f"{label}: expected a torch.Tensor on cpu, got a numpy.ndarray."), as_numpy
    as_ints = failure(check, lambda *a: correct(*a).long())
    assert as_ints.startswith(f"{label}: expected floating-point values, got dtype int64."), as_ints
    assert as_ints.endswith(f"Its {graded} is graded once it returns a result of the right form.")


def test_hidden_streams_differ_for_labels_with_a_long_common_prefix(monkeypatch):
    from autograder.seeds import hidden_rng
    monkeypatch.setenv("AUTOGRADER_SEED", "11")
    a = hidden_rng("pairwise_distances_loop").normal(size=4)
    b = hidden_rng("pairwise_distances_torch").normal(size=4)
    again = hidden_rng("pairwise_distances_loop").normal(size=4)
    assert not (a == b).all()
    assert (a == again).all()


# --------------------------------------------------------------------------------------------
# Shape-driven guesses: right on most shapes, so both input sets hold a case that tells
# --------------------------------------------------------------------------------------------

SHAPE_GUESSES = [("linear_torch_guesses_the_transpose", "W was used without its transpose"),
                 ("linear_torch_bias_on_rows", "the bias was added along the rows")]


@pytest.mark.parametrize("student, hint", SHAPE_GUESSES, ids=[s for s, _ in SHAPE_GUESSES])
def test_a_shape_driven_guess_fails_linear_torch_public_and_hidden(student, hint, seeded):
    from .catalogue import mistake, solution_code
    from .conftest import run_solution
    ns = run_solution(solution_code("00_vectorization"), mistake("00_vectorization", student))
    assert hint in failure(grader.check_linear_torch, ns["linear_torch"])
    assert hint in failure(grader.check_linear_torch, ns["linear_torch"], hidden=True)
    grader.check_linear_speed(ns["linear_torch"])  # its speed is not what it got wrong


@pytest.mark.parametrize("seed", range(30))
def test_every_hidden_set_has_a_square_case_with_as_many_rows_as_outputs(seed, monkeypatch):
    monkeypatch.setenv(seeds.SEED_ENV, str(seed))
    shapes = [(X.shape[0], W.shape[1], W.shape[0]) for X, _, _, W, _, _ in grader._hidden_cases("linear_torch")]
    assert any(n == m == h > 1 for n, m, h in shapes), shapes
