"""Unit tests of autograder.exercises.xor_backprop, the checks behind assignment 01's test cells.

Every check is called in-process on a "notebook": the solution code below (the source notebook's
answers), executed into a fresh namespace, optionally with one line edited into a typical mistake,
exactly as the sample submissions in source/01_xor_backprop/mistakes.toml are made. A correct
notebook passes public and hidden checks for several seeds; each mistake fails its own check with
the hint that names it, and leaves the other parts' checks passing.
"""
from __future__ import annotations

import numpy as np
import pytest

from autograder import seeds
from autograder.answers import GradingOnly
from autograder.exercises import xor_backprop as grader
from .catalogue import mistake, solution_code
from .conftest import CHECK_SEED as SEED, failure, run_solution

A = "01_xor_backprop"
SOLUTION = solution_code(A)  # the source notebook's answer cells

# Edits that turn the solution into a typical mistake: the catalogue's own, and (find, replace)
# pairs for mistakes the catalogue does not grade.
MISSING_1_OVER_N = mistake(A, "missing_1_over_n")
SIGMOID_GRAD_ON_Z = mistake(A, "sigmoid_grad_on_z")
TRANSPOSED_DW1 = mistake(A, "transposed_weight_grad")
TRANSPOSED_DW2 = ("dW2 = dz2.T @ a1", "dW2 = a1.T @ dz2")
BIAS_NOT_SUMMED = mistake(A, "bias_grad_not_summed")
MSE_DELTA = ("dz2 = (a2 - y) / N", "dz2 = (a2 - y) / N * sigmoid_grad(a2)")
CHAIN_RULE_DELTA = ("dz2 = (a2 - y) / N", "dz2 = (a2 - y) / (a2 * (1.0 - a2)) / N * sigmoid_grad(a2)")
EINSUM = [("dW2 = dz2.T @ a1", "dW2 = np.einsum('nk,nh->kh', dz2, a1)"),
          ("da1 = dz2 @ W2", "da1 = np.einsum('nk,kh->nh', dz2, W2)"),
          ("dW1 = dz1.T @ X", "dW1 = np.einsum('nh,nd->hd', dz1, X)"),
          ("db1 = dz1.sum(axis=0)", "db1 = np.einsum('nh->h', dz1)"),
          ("a1 = sigmoid(X @ W1.T + b1)", "a1 = sigmoid(np.einsum('nd,hd->nh', X, W1) + b1)")]
NO_COPY = mistake(A, "train_mutates_inputs")
IGNORES_FIT_BIAS = mistake(A, "train_ignores_fit_bias")
NEVER_FITS_BIAS = ("if fit_bias:", "if False:")
LOSS_AFTER_UPDATE = ("        losses.append(bce_loss(a2, y))\n", "")
LOSS_AFTER_UPDATE_2 = ("    return W1, b1, W2, b2, np.array(losses)",
                       "        losses.append(bce_loss(forward(X, W1, b1, W2, b2)[1], y))\n"
                       "    return W1, b1, W2, b2, np.array(losses)")
ASCENT = [("W1 -= lr * dW1", "W1 += lr * dW1"), ("W2 -= lr * dW2", "W2 += lr * dW2"),
          ("b1 -= lr * db1", "b1 += lr * db1"), ("b2 -= lr * db2", "b2 += lr * db2")]
NAIVE_SIGMOID = mistake(A, "naive_sigmoid")
WHERE_BOTH_BRANCHES = ("return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
                       "return np.where(z >= 0, 1.0 / (1.0 + np.exp(-z)), np.exp(z) / (1.0 + np.exp(z)))")
TANH_SIGMOID = ("return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))", "return 0.5 * (1.0 + np.tanh(z / 2))")
SIGMOID_SIGN = ("return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
                "return np.where(z >= 0, e / (1.0 + e), 1.0 / (1.0 + e))")
SIGMOID_GRAD_OF_Z = ("return a * (1.0 - a)", "return sigmoid(a) * (1.0 - sigmoid(a))")
NO_OUTPUT_SIGMOID = ("a2 = sigmoid(a1 @ W2.T + b2)", "a2 = a1 @ W2.T + b2")
NO_B1 = ("a1 = sigmoid(X @ W1.T + b1)", "a1 = sigmoid(X @ W1.T)")
BCE_SUM = ("return float(-np.mean(", "return float(-np.sum(")
BCE_ONE_TERM = ("return float(-np.mean(y * np.log(a2) + (1.0 - y) * np.log(1.0 - a2)))",
                "return float(-np.mean(y * np.log(a2)))")
INIT_ZEROS = [("W1 = rng.normal(size=(n_hidden, n_in))", "W1 = np.zeros((n_hidden, n_in))"),
              ("W2 = rng.normal(size=(n_out, n_hidden))", "W2 = np.zeros((n_out, n_hidden))")]
INIT_UNSEEDED = ("rng = np.random.default_rng(seed)", "rng = np.random.default_rng()")
INIT_FIXED_SEED = ("rng = np.random.default_rng(seed)", "rng = np.random.default_rng(42)")
INIT_TRANSPOSED = ("W1 = rng.normal(size=(n_hidden, n_in))", "W1 = rng.normal(size=(n_in, n_hidden))")
INIT_SAME_ROWS = ("W1 = rng.normal(size=(n_hidden, n_in))", "W1 = np.tile(rng.normal(size=n_in), (n_hidden, 1))")
INIT_BIG_BIAS = ("return W1, np.zeros(n_hidden), W2, np.zeros(n_out)",
                 "return W1, np.ones(n_hidden), W2, np.zeros(n_out)")
INIT_FLOAT32 = ("return W1, np.zeros(n_hidden), W2, np.zeros(n_out)",
                "return W1.astype(np.float32), np.zeros(n_hidden), W2, np.zeros(n_out)")






def notebook(*edits) -> dict:
    """A fresh notebook namespace with the solution run in it, after applying ``edits``."""
    return run_solution(SOLUTION, *edits)


# check name -> (check, the notebook function it takes)
CHECKS = {
    "sigmoid": (grader.check_sigmoid, "sigmoid"),
    "sigmoid_grad": (grader.check_sigmoid_grad, "sigmoid_grad"),
    "init_params": (grader.check_init_params, "init_params"),
    "forward": (grader.check_forward, "forward"),
    "bce_loss": (grader.check_bce_loss, "bce_loss"),
    "backprop": (grader.check_backprop, "backprop"),
    "backprop_finite_differences": (grader.check_backprop_finite_differences, "backprop"),
    "train": (grader.check_train, "train"),
    "train_fit_bias": (grader.check_train_fit_bias, "train"),
}
PUBLIC_ONLY = {
    "sigmoid_stable": (grader.check_sigmoid_stable, "sigmoid"),
    "train_does_not_mutate": (grader.check_train_does_not_mutate, "train"),
}


def check_xor(ns: dict) -> None:
    grader.check_xor_solved(ns["init_params"], ns["train"], epochs=2000, lr=1.0, seed=0)


# --------------------------------------------------------------------------------------------
# The correct notebook passes everything, public and hidden
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(CHECKS))
def test_correct_passes_public(name, capsys):
    check, fn = CHECKS[name]
    check(notebook()[fn])
    out = capsys.readouterr().out
    assert out.startswith("✓ ") and "public" in out
    assert "hidden tests" not in out  # public checks do not draw from the seed


@pytest.mark.parametrize("name", list(PUBLIC_ONLY))
def test_correct_passes_public_only_checks(name, capsys):
    check, fn = PUBLIC_ONLY[name]
    check(notebook()[fn])
    # In grading, the stability check also meets fresh inputs, so the seed may be announced first.
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("hidden tests: ")]
    assert lines and all(line.startswith("✓ ") for line in lines)


@pytest.mark.parametrize("name", list(CHECKS))
def test_correct_passes_hidden_and_announces_the_seed(name, seeded, capsys):
    check, fn = CHECKS[name]
    check(notebook()[fn], hidden=True)
    out = capsys.readouterr().out
    assert f"random inputs from seed {SEED} (replay: AUTOGRADER_SEED={SEED})" in out
    assert "✓ " in out and "hidden" in out


@pytest.mark.parametrize("seed", [0, 1, 7, 2024, 99991])
def test_correct_passes_hidden_for_several_seeds(seed, monkeypatch):
    monkeypatch.setenv(seeds.SEED_ENV, str(seed))
    ns = notebook()
    for check, fn in CHECKS.values():
        check(ns[fn], hidden=True)


def test_correct_notebook_solves_xor(capsys):
    check_xor(notebook())
    out = capsys.readouterr().out
    assert "classifies all four XOR rows" in out and "✗" not in out


@pytest.mark.parametrize("seed", range(20))
def test_other_valid_vectorisations_pass_the_gradient_bars(seed, monkeypatch):
    """einsum everywhere, and the output delta through the chain rule: within 1e-7 of both oracles."""
    monkeypatch.setenv(seeds.SEED_ENV, str(seed))
    for edits in (EINSUM, [CHAIN_RULE_DELTA]):
        ns = notebook(*edits)
        grader.check_backprop(ns["backprop"], hidden=True)
        grader.check_backprop_finite_differences(ns["backprop"], hidden=True)
        grader.check_forward(ns["forward"], hidden=True)


SIGMOID_STUB = ("return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))", "raise NotImplementedError()")
SIGMOID_GRAD_STUB = ("return a * (1.0 - a)", "raise NotImplementedError()")


@pytest.mark.parametrize("edit", [SIGMOID_STUB, SIGMOID_SIGN, SIGMOID_GRAD_STUB, SIGMOID_GRAD_OF_Z],
                         ids=["sigmoid_stub", "sigmoid_sign", "sigmoid_grad_stub", "sigmoid_grad_of_z"])
def test_a_mistake_in_sigmoid_or_its_gradient_costs_neither_forward_nor_backprop(edit, seeded):
    """One mistake, one part: forward's and backprop's checks run with the kit's sigmoid and
    sigmoid_grad, so only the sigmoid cells (and the notebook's own training) see the mistake."""
    ns = notebook(edit)
    for hidden in (False, True):
        grader.check_forward(ns["forward"], hidden=hidden)
        grader.check_backprop(ns["backprop"], hidden=hidden)
        grader.check_backprop_finite_differences(ns["backprop"], hidden=hidden)
    broken = grader.check_sigmoid_grad if edit in (SIGMOID_GRAD_STUB, SIGMOID_GRAD_OF_Z) else grader.check_sigmoid
    assert failure(broken, ns["sigmoid_grad" if broken is grader.check_sigmoid_grad else "sigmoid"])


def test_tanh_form_of_the_sigmoid_is_accepted():
    ns = notebook(TANH_SIGMOID)
    grader.check_sigmoid(ns["sigmoid"])
    grader.check_sigmoid_stable(ns["sigmoid"])


@pytest.mark.parametrize("seed", [None, *range(30)])
def test_finite_difference_cases_are_well_conditioned(seed, monkeypatch):
    """Every gradient entry of an FD case is >= 1e-2, so a correct float64 answer clears 1e-7 by far."""
    monkeypatch.setenv(seeds.SEED_ENV, str(seed or 0))
    X, y, W1, b1, W2, b2 = grader._fd_case(hidden=seed is not None)
    a1, a2 = grader._reference_forward(X, W1, b1, W2, b2)
    grads = grader._reference_backprop(X, y, W1, b1, W2, b2, a1, a2)
    assert min(np.min(np.abs(g)) for g in grads) >= grader.FD_MIN_GRAD
    assert X.shape[0] >= 2  # so that a missing 1/N shows


def test_hidden_inputs_are_reproducible_and_differ_between_seeds(monkeypatch):
    def capture(seed):
        received = []
        correct = notebook()["backprop"]

        def spy(*args):
            received.append([np.array(a).tolist() for a in args])
            return correct(*args)

        monkeypatch.setenv(seeds.SEED_ENV, str(seed))
        grader.check_backprop(spy, hidden=True)
        return received

    assert capture(11) == capture(11)
    a, b = capture(11), capture(12)
    assert len(a) == len(b) == 3 and all(x != y for x, y in zip(a, b))


# --------------------------------------------------------------------------------------------
# sigmoid and sigmoid_grad
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit", [NAIVE_SIGMOID, WHERE_BOTH_BRANCHES], ids=["naive", "where_both_branches"])
def test_unstable_sigmoid_fails_only_the_stability_check(edit):
    ns = notebook(edit)
    grader.check_sigmoid(ns["sigmoid"])  # the values are right where exp does not overflow
    msg = failure(grader.check_sigmoid_stable, ns["sigmoid"])
    assert "overflow" in msg and "np.exp(-np.abs(z))" in msg


def _published_stand_in(fixed: np.ndarray, values: np.ndarray):
    """What a published stand-in does: the right values on the check's fixed inputs, nothing else
    (``NotPublished``, a failure, elsewhere; here a plausible wrong guess, to see the label)."""
    def stand_in(z):
        if np.shape(z) == fixed.shape and np.allclose(z, fixed):
            return values.copy()
        return np.full_like(np.asarray(z, dtype=np.float64), 0.5)
    return stand_in


def test_sigmoid_stability_meets_fresh_inputs_in_grading(seeded, monkeypatch):
    stand_in = _published_stand_in(grader.STABLE_Z, grader._oracle_sigmoid(grader.STABLE_Z))
    msg = failure(grader.check_sigmoid_stable, stand_in)
    assert "with hidden z as large as +-1000" in msg
    # The fresh inputs hold both tails, beyond where np.exp(-z) overflows.
    for z in grader._hidden_stable_sigmoid_inputs():
        assert z.min() < -700 and z.max() > 700
    # The naive sigmoid fails on the fixed inputs, with the message it always had.
    msg = failure(grader.check_sigmoid_stable, notebook(NAIVE_SIGMOID)["sigmoid"])
    assert "z = [-1000, -100, -30, -1, 0, 1, 30, 100, 1000]" in msg and "hidden z" not in msg

    def refused():
        raise GradingOnly("student kit")

    monkeypatch.setattr(grader, "_hidden_stable_sigmoid_inputs", refused)
    grader.check_sigmoid_stable(stand_in)  # the student kit runs the fixed inputs only


@pytest.mark.parametrize("candidate", [lambda *a, **k: None, lambda z: np.asarray(z)[:-1] * 0 + 0.5,
                                       lambda z: (np.asarray(z) > 0).tolist()], ids=["nothing", "shape", "list"])
def test_sigmoid_stability_fails_a_result_of_the_wrong_form(candidate):
    failure(grader.check_sigmoid_stable, candidate)


def test_sigmoid_with_the_wrong_sign_is_named():
    msg = failure(grader.check_sigmoid, notebook(SIGMOID_SIGN)["sigmoid"])
    assert "sigmoid(z) = 1 / (1 + exp(-z))" in msg and "sigmoid(z (9,))" in msg


def test_sigmoid_grad_of_z_instead_of_a_is_named():
    msg = failure(grader.check_sigmoid_grad, notebook(SIGMOID_GRAD_OF_Z)["sigmoid_grad"])
    assert "sigmoid_grad receives the activation a = sigmoid(z), not z" in msg


# --------------------------------------------------------------------------------------------
# init_params
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    (INIT_ZEROS, "all zeros"),
    (INIT_UNSEEDED, "called twice with the same seed"),
    (INIT_FIXED_SEED, "the seed is ignored"),
    (INIT_TRANSPOSED, "(out_features, in_features)"),
    (INIT_SAME_ROWS, "two rows of W1 are identical"),
    (INIT_BIG_BIAS, "start the biases at zero"),
    (INIT_FLOAT32, "should be float64, got float32"),
], ids=["zeros", "unseeded", "fixed_seed", "transposed", "same_rows", "big_bias", "float32"])
def test_init_params_mistakes_are_named(edit, expected):
    assert expected in failure(grader.check_init_params, notebook(edit)["init_params"])


# --------------------------------------------------------------------------------------------
# forward and bce_loss
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    (NO_OUTPUT_SIGMOID, "apply sigmoid to the output layer too"),
    (NO_B1, "the bias b1 is missing"),
], ids=["no_output_sigmoid", "no_b1"])
def test_forward_mistakes_are_named(edit, expected, seeded):
    for hidden in (False, True):
        msg = failure(grader.check_forward, notebook(edit)["forward"], hidden=hidden)
        assert expected in msg and "forward(X (" in msg


def test_forward_must_return_both_activations():
    def forward_a2_only(X, W1, b1, W2, b2):
        return notebook()["forward"](X, W1, b1, W2, b2)[1]

    assert "expected a tuple of 2 items (a1, a2)" in failure(grader.check_forward, forward_a2_only)


@pytest.mark.parametrize("edit, expected", [
    (BCE_SUM, "a sum over the batch, not the mean"),
    (BCE_ONE_TERM, "the (1 - y) * log(1 - a2) term is missing"),
], ids=["sum", "one_term"])
def test_bce_mistakes_are_named(edit, expected, seeded):
    for hidden in (False, True):
        assert expected in failure(grader.check_bce_loss, notebook(edit)["bce_loss"], hidden=hidden)


# --------------------------------------------------------------------------------------------
# backprop: both gradient checks name the mistake, and say which gradients are right
# --------------------------------------------------------------------------------------------

GRADIENT_MISTAKES = [
    (MISSING_1_OVER_N, "(missing 1/N)", "4 of 4 results are wrong"),
    (SIGMOID_GRAD_ON_Z, "sigmoid_grad was applied to the pre-activation z1", "(dW2, db2 are right)"),
    (TRANSPOSED_DW1, "the shape is transposed", "(db1, dW2, db2 are right)"),
    (TRANSPOSED_DW2, "the shape is transposed", "(dW1, db1, db2 are right)"),
    (BIAS_NOT_SUMMED, "the sum over the batch axis is missing", "(dW1, dW2, db2 are right)"),
    (MSE_DELTA, "multiplying it by sigmoid_grad(a2) again is the squared-error formula", "4 of 4 results are wrong"),
]
GRADIENT_IDS = ["missing_1_over_n", "sigmoid_grad_on_z", "transposed_dW1", "transposed_dW2", "bias_not_summed",
                "mse_delta"]


@pytest.mark.parametrize("check", [grader.check_backprop, grader.check_backprop_finite_differences],
                         ids=["autograd", "finite_differences"])
@pytest.mark.parametrize("hidden", [False, True], ids=["public", "hidden"])
@pytest.mark.parametrize("edit, hint, which", GRADIENT_MISTAKES, ids=GRADIENT_IDS)
def test_gradient_mistakes_are_named(edit, hint, which, hidden, check, seeded):
    msg = failure(check, notebook(edit)["backprop"], hidden=hidden)
    assert hint in msg, msg
    assert which in msg, msg
    assert msg.startswith("backprop(X (")


def test_missing_1_over_n_names_the_batch_size():
    msg = failure(grader.check_backprop, notebook(MISSING_1_OVER_N)["backprop"])
    assert "scaled by N = 4" in msg


def test_square_transposed_weight_gradient_is_named(monkeypatch):
    """With as many inputs as hidden units the transposed dW1 has the right shape: the values give it away."""
    ns = notebook(TRANSPOSED_DW1)
    rng = np.random.default_rng(0)
    X, y = grader._random_data(rng, 5, 4)
    params = grader._random_params(rng, 4, 4)
    monkeypatch.setattr(grader, "_network_cases", lambda hidden, label: iter([(X, y, *params)]))
    assert "transposed: dW1 must have the shape of W1" in failure(grader.check_backprop, ns["backprop"])


def test_finite_difference_bar_is_stated_and_tight():
    """A gradient off by 1e-5 relative passes the loose shape/hint pass but not the 1e-7 bar."""
    correct = notebook()["backprop"]

    def slightly_off(*args):
        return tuple(g * (1 + 1e-5) for g in correct(*args))

    msg = failure(grader.check_backprop_finite_differences, slightly_off)
    assert "bar: relative error below 1e-07" in msg and "centred differences" in msg
    assert msg.count("bar") == 1  # stated once, for all the gradients


def test_backprop_must_return_four_gradients():
    def two(*args):
        return notebook()["backprop"](*args)[:2]

    assert "expected a tuple of 4 items (dW1, db1, dW2, db2)" in failure(grader.check_backprop, two)


# --------------------------------------------------------------------------------------------
# train: graded with the kit's parts, so each train cell grades the loop alone
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit", [MISSING_1_OVER_N, SIGMOID_GRAD_ON_Z, TRANSPOSED_DW1, BIAS_NOT_SUMMED, BCE_SUM,
                                  NO_OUTPUT_SIGMOID],
                         ids=["missing_1_over_n", "sigmoid_grad_on_z", "transposed_dW1", "bias_not_summed",
                              "bce_sum", "no_output_sigmoid"])
def test_train_checks_do_not_depend_on_the_students_other_parts(edit, seeded):
    ns = notebook(edit)
    grader.check_train(ns["train"])
    grader.check_train(ns["train"], hidden=True)
    grader.check_train_fit_bias(ns["train"])
    grader.check_train_does_not_mutate(ns["train"])


def test_the_students_functions_are_put_back_after_a_train_check():
    ns = notebook(MISSING_1_OVER_N)
    mine = {name: ns[name] for name in grader.REFERENCE_PARTS}
    grader.check_train(ns["train"])
    assert all(ns[name] is fn for name, fn in mine.items())


def test_the_students_functions_are_put_back_when_train_raises():
    ns = notebook()
    mine = ns["backprop"]
    ns["seen"] = []
    exec("def train(*args, **kwargs):\n    seen.append(backprop)\n    raise ValueError('boom')\n", ns)
    assert ") raised ValueError: boom" in failure(grader.check_train, ns["train"])
    assert ns["seen"] == [grader._reference_backprop]  # the kit's backprop, during the check
    assert ns["backprop"] is mine  # the student's, afterwards
    del ns["sigmoid"]
    failure(grader.check_train, ns["train"])
    assert "sigmoid" not in ns  # a name that was absent is removed again


def test_train_that_mutates_its_inputs_fails_only_the_mutation_check():
    ns = notebook(NO_COPY)
    grader.check_train(ns["train"])
    grader.check_train_fit_bias(ns["train"])
    msg = failure(grader.check_train_does_not_mutate, ns["train"])
    assert "W1: modified its input in place" in msg and "W = W - lr * dW" in msg


def _train_returning(make):
    """A train that returns ``make(W1, b1, W2, b2, epochs)`` and touches nothing."""
    def train(X, y, W1, b1, W2, b2, epochs, lr, fit_bias=True):
        return make(W1.copy(), b1.copy(), W2.copy(), b2.copy(), epochs)
    return train


@pytest.mark.parametrize("candidate", [
    lambda *a, **k: None,
    print,
    _train_returning(lambda W1, b1, W2, b2, epochs: (W1, b1, W2, b2)),
    _train_returning(lambda W1, b1, W2, b2, epochs: (W1.T, b1, W2, b2, np.zeros(epochs))),
    _train_returning(lambda W1, b1, W2, b2, epochs: (W1, b1, W2, b2, np.zeros(epochs + 1))),
    _train_returning(lambda W1, b1, W2, b2, epochs: (W1.astype(int), b1, W2, b2, np.zeros(epochs))),
    _train_returning(lambda W1, b1, W2, b2, epochs: ("W1", b1, W2, b2, np.zeros(epochs))),
], ids=["nothing", "print", "no_losses", "transposed", "losses", "integers", "string"])
def test_mutation_check_needs_a_result_of_the_right_form(candidate):
    msg = failure(grader.check_train_does_not_mutate, candidate)
    assert "Whether it leaves its inputs unchanged is graded once it returns a result of the right form." in msg


def test_mutation_check_accepts_a_list_of_losses():
    grader.check_train_does_not_mutate(_train_returning(lambda W1, b1, W2, b2, epochs: (W1, b1, W2, b2, [0.5] * epochs)))


def test_train_ignoring_fit_bias_fails_only_the_fit_bias_check():
    ns = notebook(IGNORES_FIT_BIAS)
    grader.check_train(ns["train"])
    msg = failure(grader.check_train_fit_bias, ns["train"])
    assert "must stay zero with fit_bias=False" in msg


@pytest.mark.parametrize("edit, hint", [
    ([LOSS_AFTER_UPDATE, LOSS_AFTER_UPDATE_2], "one epoch late"),
    (ASCENT, "the update is W = W - lr * dW (a minus sign)"),
    (NEVER_FITS_BIAS, "the biases were not trained"),
], ids=["loss_after_update", "ascent", "never_fits_bias"])
def test_train_mistakes_are_named(edit, hint, seeded):
    ns = notebook(edit)
    for hidden in (False, True):
        msg = failure(grader.check_train, ns["train"], hidden=hidden)
        assert hint in msg and "epochs=100" in msg


def test_train_returning_the_wrong_number_of_losses_is_explained():
    correct = notebook()["train"]

    def train(*args, **kwargs):
        *params, losses = correct(*args, **kwargs)
        return (*params, losses[:-1])

    assert "expected one loss per epoch (100), got 99" in failure(grader.check_train, train)


def test_train_returning_a_list_of_losses_is_accepted():
    correct = notebook()["train"]

    def train(*args, **kwargs):
        *params, losses = correct(*args, **kwargs)
        return (*params, [float(v) for v in losses])

    grader.check_train(train)


# --------------------------------------------------------------------------------------------
# Everything together: the notebook's training run solves XOR
# --------------------------------------------------------------------------------------------

def test_missing_1_over_n_still_learns_xor():
    """Missing 1/N is a 4x learning rate: only the gradient checks catch it (as the sample spec says)."""
    check_xor(notebook(MISSING_1_OVER_N))


@pytest.mark.parametrize("edit, expected", [
    (SIGMOID_GRAD_ON_Z, "training diverged"),
    (TRANSPOSED_DW1, "a weight gradient transposed"),
    (BIAS_NOT_SUMMED, "bias gradient not summed"),
    (INIT_ZEROS, "XOR rows wrong"),
], ids=["sigmoid_grad_on_z", "transposed_dW1", "bias_not_summed", "init_zeros"])
def test_xor_not_solved_is_explained(edit, expected):
    msg = failure(check_xor, notebook(edit))
    assert expected in msg and "train(X, y, *init_params(seed=0), epochs=2000, lr=1)" in msg


def test_trained_bias_with_the_wrong_shape_is_reported():
    """db1 not summed, with an update that rebinds (b1 = b1 - lr * db1): b1 grows to (N, 4)."""
    ns = notebook(BIAS_NOT_SUMMED, ("b1 -= lr * db1", "b1 = b1 - lr * db1"))
    msg = failure(check_xor, ns)
    assert "the trained b1 has shape (4, 4), but b1 is (4,)" in msg


# --------------------------------------------------------------------------------------------
# The untouched stub
# --------------------------------------------------------------------------------------------

def stub(*args, **kwargs):
    raise NotImplementedError()


@pytest.mark.parametrize("name", list(CHECKS) + list(PUBLIC_ONLY))
def test_stub_is_reported_as_not_implemented(name):
    check, fn = {**CHECKS, **PUBLIC_ONLY}[name]
    assert f"{fn}: not implemented yet" in failure(check, stub)


def test_stub_fails_xor_solved():
    assert "not implemented yet" in failure(grader.check_xor_solved, stub, stub, epochs=10, lr=1.0, seed=0)
