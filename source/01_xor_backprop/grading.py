"""Checks for assignment 01, XOR with backprop in NumPy (grading side: holds the answers).

Students build a 3-4-1 network of sigmoid units by hand and train it on XOR with full-batch
gradient descent on the mean binary cross-entropy:

    sigmoid(z)                                   any shape -> same shape, stable for |z| = 1000
    sigmoid_grad(a)                              a = sigmoid(z) -> a * (1 - a), same shape
    init_params(n_in, n_hidden, n_out, seed)     -> W1 (H, D), b1 (H,), W2 (K, H), b2 (K,)
    forward(X, W1, b1, W2, b2)                   X (N, D) -> a1 (N, H), a2 (N, K)
    bce_loss(a2, y)                              a2, y (N, K) -> a float, the mean over all entries
    backprop(X, y, W1, b1, W2, b2, a1, a2)       -> dW1 (H, D), db1 (H,), dW2 (K, H), db2 (K,)
    train(X, y, W1, b1, W2, b2, epochs, lr, fit_bias=True)
                                                 -> W1, b1, W2, b2, losses (epochs,)

Here D = 3 (two XOR bits and a constant 1), H = 4 and K = 1; the hidden checks also use other
sizes. Weights are stored as PyTorch stores them, ``(out_features, in_features)``, and a layer
computes ``z = X @ W.T + b``, so the parameters load straight into ``torch.nn.Linear``.

Oracles: ``torch.sigmoid``, ``torch.nn.functional.linear`` and ``binary_cross_entropy`` for the
values; PyTorch autograd (:func:`~autograder.gradcheck.torch_gradients`) and centred differences
in float64 for the gradients; ``torch.optim.SGD`` on a ``torch.nn`` network for the training
trajectory.

Each part is graded on its own. ``check_train`` and its siblings run the student's ``train`` with
the kit's reference ``forward``, ``bce_loss`` and ``backprop`` swapped into the notebook's
namespace for the duration of the call, so that those cells grade the training loop alone (the
update rule, the loss record, ``fit_bias``, copying) and a wrong gradient costs the gradient
cells, not the loop cells. Only ``check_xor_solved`` runs everything the student wrote together.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from ..checks import CheckFailed, check_close, check_shape, check_unchanged, describe_call, to_numpy
from ..gradcheck import numerical_gradients, torch_gradients
from ..answers import answer, grading_only, unrecorded
from ..seeds import hidden_rng
from . import (call_student, check_all, check_gradients, check_seeded_init, close_or_explain, functions_swapped_in,
               linspace_grid, losses_per_epoch, noting_own_parts, own_parts_note, passed, scope_word, unpack_results,
               where_graded)

# The data set: two XOR bits and a constant 1 per row.
XOR_X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=np.float64)

# Bars (DESIGN: tolerances by dtype; float32 answers get float32 bars from check_close).
VALUE_RTOL, VALUE_ATOL = 1e-7, 1e-10
TAIL_ATOL = 1e-12            # sigmoid far in the tails: 0.5 * (1 + tanh(z / 2)) is fine too
GRAD_RTOL, GRAD_ATOL = 1e-7, 1e-10   # against autograd (exact)
FD_MAX_REL_ERROR = 1e-7      # against centred differences, CS231n's bar for float64
FD_STEP = 1e-5               # centred-difference step; rounding and truncation error both ~1e-11
FD_MIN_GRAD = 1e-2           # FD inputs are drawn so that every gradient entry is at least this big
TRAIN_EPOCHS = 100
TRAIN_RTOL, TRAIN_ATOL = 1e-7, 1e-9
BIAS_MAX = 0.1               # "zero or small" initial biases
WEIGHT_MAX = 10.0            # larger initial weights saturate the sigmoids
PARAM_NAMES = ("W1", "b1", "W2", "b2")
GRAD_NAMES = ("dW1", "db1", "dW2", "db2")


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------



def _public_params(d: int, h: int, k: int = 1) -> tuple[np.ndarray, ...]:
    """Fixed weights ``W1 (h, d), b1 (h,), W2 (k, h), b2 (k,)`` with no symmetry and no zero entry."""
    return (linspace_grid(h, d, lo=-2.0, hi=2.3), linspace_grid(h, lo=0.4, hi=-0.6), linspace_grid(k, h, lo=1.8, hi=-2.1),
            linspace_grid(k, lo=0.3, hi=0.2) + 0.1)


@grading_only
def _random_params(rng: np.random.Generator, d: int, h: int, k: int = 1) -> tuple[np.ndarray, ...]:
    return (rng.normal(size=(h, d)), 0.5 * rng.normal(size=h), rng.normal(size=(k, h)), 0.5 * rng.normal(size=k))


@grading_only
def _random_data(rng: np.random.Generator, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """``X (n, d)`` with a constant-1 last column like XOR's, and ``y (n, 1)`` holding both classes."""
    X = np.hstack([rng.normal(size=(n, d - 1)), np.ones((n, 1))])
    y = np.zeros((n, 1))
    y[rng.permutation(n)[: max(1, n // 2)]] = 1.0
    return X, y


def _network_cases(hidden: bool, label: str):
    """Yield ``(X (N, D), y (N, 1), W1, b1, W2, b2)``: XOR and one more public case, or 3 random ones."""
    if hidden:
        yield from _hidden_network_cases(label)
    else:
        yield (XOR_X, XOR_Y, *_public_params(3, 4))
        X = np.hstack([linspace_grid(6, 2, lo=-1.5, hi=1.2), np.ones((6, 1))])
        yield (X, np.array([[1.0], [0.0], [0.0], [1.0], [1.0], [0.0]]), *_public_params(3, 5))


@grading_only
def _hidden_network_cases(label: str):
    rng = hidden_rng(label)
    for _ in range(3):
        n, d, h = int(rng.integers(2, 9)), int(rng.integers(2, 6)), int(rng.integers(2, 7))
        yield (*_random_data(rng, n, d), *_random_params(rng, d, h))


# ---------------------------------------------------------------------------------------------
# Oracles: PyTorch (float64)
# ---------------------------------------------------------------------------------------------

def _torch():
    import torch
    return torch


def _t(x: Any):
    torch = _torch()
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


@answer
def _oracle_sigmoid(z: np.ndarray) -> np.ndarray:
    return _torch().sigmoid(_t(z)).numpy()


@answer
def _torch_net(X, W1, b1, W2, b2):
    """Forward pass in torch (``F.linear`` is ``torch.nn.Linear``'s computation): ``(a1, a2)``."""
    torch = _torch()
    F = torch.nn.functional
    a1 = torch.sigmoid(F.linear(X, W1, b1))
    return a1, torch.sigmoid(F.linear(a1, W2, b2))


@answer
def _oracle_forward(X, W1, b1, W2, b2) -> tuple[np.ndarray, np.ndarray]:
    a1, a2 = _torch_net(*(_t(v) for v in (X, W1, b1, W2, b2)))
    return a1.numpy(), a2.numpy()


@answer
def _oracle_bce(a2, y) -> float:
    return float(_torch().nn.functional.binary_cross_entropy(_t(a2), _t(y)))


@answer
def _oracle_grads(X, y, W1, b1, W2, b2) -> tuple[np.ndarray, ...]:
    """Gradients of the mean BCE loss with respect to ``W1, b1, W2, b2``, by autograd."""
    torch = _torch()
    Xt, yt = _t(X), _t(y)

    def loss(W1, b1, W2, b2):
        return torch.nn.functional.binary_cross_entropy(_torch_net(Xt, W1, b1, W2, b2)[1], yt)

    return torch_gradients(loss, W1, b1, W2, b2)


@answer
def _oracle_train(X, y, W1, b1, W2, b2, epochs: int, lr: float, fit_bias: bool = True):
    """Full-batch gradient descent with ``torch.optim.SGD`` on a ``torch.nn`` network.

    Returns ``(W1, b1, W2, b2, losses)`` where ``losses[t]`` is the loss at the start of epoch
    ``t`` (before that epoch's update).
    """
    torch = _torch()
    (h, d), k = np.shape(W1), np.shape(W2)[0]
    net = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.Sigmoid(), torch.nn.Linear(h, k),
                              torch.nn.Sigmoid()).double()
    with torch.no_grad():
        for param, value in zip((net[0].weight, net[0].bias, net[2].weight, net[2].bias), (W1, b1, W2, b2)):
            param.copy_(_t(value))
    trained = [net[0].weight, net[2].weight] + ([net[0].bias, net[2].bias] if fit_bias else [])
    opt = torch.optim.SGD(trained, lr=lr)
    Xt, yt = _t(X), _t(y)
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy(net(Xt), yt)
        losses.append(float(loss.detach()))
        loss.backward()
        opt.step()
    params = tuple(p.detach().numpy().copy() for p in (net[0].weight, net[0].bias, net[2].weight, net[2].bias))
    return (*params, np.array(losses))


# ---------------------------------------------------------------------------------------------
# The kit's own NumPy parts: stand-ins for the student's while their train is graded, and the
# formulas behind the known-mistake hints (each mistake is a variant of the right formula)
# ---------------------------------------------------------------------------------------------

@answer
def _reference_sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@answer
def _reference_sigmoid_grad(a):
    return a * (1.0 - a)


@answer
def _reference_forward(X, W1, b1, W2, b2):
    a1 = _reference_sigmoid(X @ W1.T + b1)
    return a1, _reference_sigmoid(a1 @ W2.T + b2)


@answer
def _reference_bce_loss(a2, y):
    # Logs clamped at -100, as torch's binary_cross_entropy does: a saturated a2 (exactly 0 or 1)
    # gives a large finite loss, not inf or NaN.
    with np.errstate(divide="ignore"):
        return float(-np.mean(y * np.maximum(np.log(a2), -100.0) + (1.0 - y) * np.maximum(np.log(1.0 - a2), -100.0)))


@answer
def _backprop_formula(X, y, W1, b1, W2, b2, a1, a2, *, hidden_derivative: str = "a",
                      output_delta: str = "bce") -> tuple[np.ndarray, ...]:
    """The backward pass, with switches for the mistakes students make.

    hidden_derivative: "a" (right: a1 * (1 - a1)) or "z" (the formula applied to z1).
    output_delta: "bce" (right: (a2 - y) / N) or "mse" ((a2 - y) / N * a2 * (1 - a2)).
    """
    n = X.shape[0]
    dz2 = (a2 - y) / n
    if output_delta == "mse":
        dz2 = dz2 * a2 * (1.0 - a2)
    dW2, db2 = dz2.T @ a1, dz2.sum(axis=0)
    da1 = dz2 @ W2
    if hidden_derivative == "z":
        z1 = X @ W1.T + b1
        dz1 = da1 * z1 * (1.0 - z1)
    else:
        dz1 = da1 * a1 * (1.0 - a1)
    return dz1.T @ X, dz1.sum(axis=0), dW2, db2


@answer
def _reference_backprop(X, y, W1, b1, W2, b2, a1, a2):
    return _backprop_formula(X, y, W1, b1, W2, b2, a1, a2)


@answer
def _reference_train(X, y, W1, b1, W2, b2, epochs: int, lr: float, fit_bias: bool = True, ascent: bool = False):
    """The training loop with the kit's parts, for the known-mistake hints (``ascent``: W + lr * dW)."""
    params, step = [np.array(p, dtype=np.float64) for p in (W1, b1, W2, b2)], (-lr if ascent else lr)
    losses = []
    for _ in range(epochs):
        a1, a2 = _reference_forward(X, *params)
        losses.append(_reference_bce_loss(a2, y))
        grads = _reference_backprop(X, y, *params, a1, a2)
        for i in ((0, 1, 2, 3) if fit_bias else (0, 2)):
            params[i] = params[i] - step * grads[i]
    return (*params, np.array(losses))


REFERENCE_ACTIVATIONS: dict[str, Callable] = {"sigmoid": _reference_sigmoid, "sigmoid_grad": _reference_sigmoid_grad}
REFERENCE_PARTS: dict[str, Callable] = {
    **REFERENCE_ACTIVATIONS, "forward": _reference_forward, "bce_loss": _reference_bce_loss,
    "backprop": _reference_backprop,
}



def reference_parts(fn: Callable, parts: dict[str, Callable] | None = None):
    """The kit's functions (default: all of ``REFERENCE_PARTS``) in place of the student's, while ``fn`` runs."""
    return functions_swapped_in(fn, REFERENCE_PARTS if parts is None else parts)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _copies(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(np.array(a, dtype=np.float64, copy=True) for a in arrays)



# ---------------------------------------------------------------------------------------------
# sigmoid and sigmoid_grad
# ---------------------------------------------------------------------------------------------

@grading_only
def _hidden_sigmoid_inputs():
    rng = hidden_rng("sigmoid")
    for _ in range(3):
        shape = tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(1, 3))))
        yield 6.0 * rng.normal(size=shape)


def _sigmoid_inputs(hidden: bool):
    if hidden:
        yield from _hidden_sigmoid_inputs()
    else:
        yield np.linspace(-8.0, 8.0, 9)
        yield linspace_grid(4, 3, lo=-5.0, hi=6.0)
        yield linspace_grid(5, 1, lo=2.0, hi=-3.0)


@answer
def _sigmoid_mistakes(z: np.ndarray) -> dict:
    return {"this is sigmoid(-z) = 1 - sigmoid(z): check the sign in the exponent, "
            "sigmoid(z) = 1 / (1 + exp(-z))": 1.0 - _oracle_sigmoid(z)}


def check_sigmoid(sigmoid, hidden: bool = False) -> None:
    """``sigmoid(z)``: an array ``z`` of any shape -> ``1 / (1 + exp(-z))``, same shape, float64.

    Compared with ``torch.sigmoid`` (relative error below 1e-7); ``z`` must not be modified.
    """
    count = 0
    for z in _sigmoid_inputs(hidden):
        before = z.copy()
        got = call_student("sigmoid", sigmoid, z)
        label = describe_call("sigmoid", z=z)
        check_unchanged(label, before, z)
        expected = _oracle_sigmoid(z)
        check_close(label, got, expected, rtol=VALUE_RTOL, atol=VALUE_ATOL, mistakes=_sigmoid_mistakes(z))
        count += 1
    passed(f"sigmoid matches torch.sigmoid on {count} {scope_word(hidden)} inputs")


STABLE_Z = np.array([-1000.0, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1000.0])


@grading_only
def _hidden_stable_sigmoid_inputs() -> list[np.ndarray]:
    """Fresh inputs for the stability check, from the grading seed: magnitudes from 0.1 to 1000, both
    signs, with at least one z below -750 (where np.exp(-z) overflows) and one above 750."""
    rng = hidden_rng("sigmoid_stable")
    arrays = []
    for _ in range(2):
        shape = tuple(int(s) for s in rng.integers(2, 7, size=int(rng.integers(1, 3))))
        z = rng.choice([-1.0, 1.0], size=shape) * 10.0 ** rng.uniform(-1.0, 3.0, size=shape)
        flat = z.reshape(-1)
        flat[0], flat[-1] = -rng.uniform(750.0, 1000.0), rng.uniform(750.0, 1000.0)
        arrays.append(z)
    return arrays


def _check_sigmoid_stable_on(sigmoid, z: np.ndarray, label: str, expected: np.ndarray) -> None:
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", invalid="warn", divide="warn"):
        warnings.simplefilter("always")
        got = call_student("sigmoid", sigmoid, z.copy())
    numeric = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    check_close(label, got, expected, rtol=VALUE_RTOL, atol=TAIL_ATOL)
    if numeric:
        raise CheckFailed(
            f"{label}: the values are right, but NumPy warned: \"{numeric[0].message}\". "
            "Hint: np.exp(-z) overflows for z = -1000 (e^1000 is far beyond float64's 1.8e308). "
            "Never exponentiate a large positive number: with e = np.exp(-np.abs(z)), sigmoid is 1 / (1 + e) "
            "where z >= 0 and e / (1 + e) where z < 0. (np.where evaluates both branches, so each branch "
            "must be safe on every element.)"
        )


def check_sigmoid_stable(sigmoid) -> None:
    """``sigmoid`` on ``z`` as large as +-1000: no overflow warning, no NaN, values 0 and 1 in the tails.

    The cell has no hidden part; in grading the same check also runs on fresh inputs drawn from the
    grading seed (none in the student kit), so no published value can stand in for ``sigmoid``.
    """
    z = STABLE_Z.copy()
    label = describe_call("sigmoid", z=z) + " with z = [-1000, -100, -30, -1, 0, 1, 30, 100, 1000]"
    _check_sigmoid_stable_on(sigmoid, z, label, _oracle_sigmoid(z))
    for z in where_graded(_hidden_stable_sigmoid_inputs, default=[]):
        # Fresh inputs: their answers are no public check's, so they are never recorded for the kit.
        label = describe_call("sigmoid", z=z) + " with hidden z as large as +-1000"
        _check_sigmoid_stable_on(sigmoid, z, label, unrecorded(_oracle_sigmoid)(z))
    passed("sigmoid is stable: z = +-1000 gives 0 and 1 with no overflow warning")


@grading_only
def _hidden_sigmoid_grad_inputs():
    rng = hidden_rng("sigmoid_grad")
    for _ in range(3):
        shape = (int(rng.integers(1, 7)), int(rng.integers(1, 5)))
        yield rng.uniform(0.001, 0.999, size=shape)


def _sigmoid_grad_inputs(hidden: bool):
    if hidden:
        yield from _hidden_sigmoid_grad_inputs()
    else:
        yield np.linspace(0.05, 0.95, 7)
        yield _oracle_sigmoid(linspace_grid(4, 3, lo=-4.0, hi=3.0))


@answer
def _oracle_sigmoid_grad(a: np.ndarray) -> np.ndarray:
    """Autograd's derivative of ``torch.sigmoid`` at ``z = log(a / (1 - a))``."""
    z = np.log(a / (1.0 - a))
    (expected,) = torch_gradients(_torch().sigmoid, z, dout=np.ones_like(z))
    return expected


@answer
def _sigmoid_grad_mistakes(a: np.ndarray) -> dict:
    s = _reference_sigmoid(a)
    return {"sigmoid_grad receives the activation a = sigmoid(z), not z: return a * (1 - a), "
            "without applying sigmoid again": s * (1.0 - s),
            "the sign is flipped: the derivative is a * (1 - a)": -_oracle_sigmoid_grad(a)}


def check_sigmoid_grad(sigmoid_grad, hidden: bool = False) -> None:
    """``sigmoid_grad(a)``: activations ``a = sigmoid(z)`` of any shape -> ``d sigmoid / dz = a * (1 - a)``.

    The oracle is autograd's derivative of ``torch.sigmoid`` at ``z = log(a / (1 - a))``.
    """
    count = 0
    for a in _sigmoid_grad_inputs(hidden):
        expected = _oracle_sigmoid_grad(a)
        got = call_student("sigmoid_grad", sigmoid_grad, a.copy())
        check_close(describe_call("sigmoid_grad", a=a), got, expected, rtol=VALUE_RTOL, atol=VALUE_ATOL,
                    mistakes=_sigmoid_grad_mistakes(a))
        count += 1
    passed(f"sigmoid_grad matches autograd's derivative of sigmoid on {count} {scope_word(hidden)} inputs")


# ---------------------------------------------------------------------------------------------
# init_params
# ---------------------------------------------------------------------------------------------

def _check_init_shapes(label: str, params: tuple, d: int, h: int, k: int) -> None:
    shapes = {"W1": (h, d), "b1": (h,), "W2": (k, h), "b2": (k,)}
    for name, value in zip(PARAM_NAMES, params):
        if not isinstance(value, np.ndarray):
            raise CheckFailed(f"{label}: {name} should be a numpy.ndarray, got a {type(value).__name__}.")
        if value.shape != shapes[name]:
            hint = (" Hint: weights are stored as PyTorch stores them, (out_features, in_features)."
                    if value.shape == shapes[name][::-1] else "")
            raise CheckFailed(f"{label}: {name} should have shape {shapes[name]}, got {value.shape}.{hint}")
        if value.dtype != np.float64:
            raise CheckFailed(f"{label}: {name} should be float64, got {value.dtype}.")
        if not np.all(np.isfinite(value)):
            raise CheckFailed(f"{label}: {name} contains NaN or inf.")


def _check_init_values(label: str, params: tuple) -> None:
    W1, b1, W2, b2 = params
    for name, b in (("b1", b1), ("b2", b2)):
        if np.max(np.abs(b)) > BIAS_MAX:
            raise CheckFailed(f"{label}: {name} has entries as large as {np.max(np.abs(b)):.3g}; start the biases at "
                              f"zero (or at most {BIAS_MAX:g}): np.zeros(n).")
    for name, W in (("W1", W1), ("W2", W2)):
        if not np.any(W != 0):
            raise CheckFailed(f"{label}: {name} is all zeros. Every hidden unit then computes the same thing and "
                              "receives the same gradient, so they never become different (the symmetry is never "
                              "broken). Draw the weights at random, e.g. rng.normal(size=...).")
        if np.max(np.abs(W)) > WEIGHT_MAX:
            raise CheckFailed(f"{label}: {name} has entries as large as {np.max(np.abs(W)):.3g}; weights this large "
                              "saturate the sigmoids, whose gradient is then ~0. Use a standard normal or smaller.")
    if W1.shape[0] > 1 and len(np.unique(W1, axis=0)) < W1.shape[0]:
        raise CheckFailed(f"{label}: two rows of W1 are identical, so those hidden units compute the same function "
                          "and get the same updates forever. Draw every weight independently at random.")


@grading_only
def _hidden_init_sizes() -> list[tuple[int, int, int, int]]:
    rng = hidden_rng("init_params")
    sizes = [tuple(int(v) for v in rng.integers(1, 8, size=3)) + (int(rng.integers(0, 1000)),) for _ in range(3)]
    return [(d, max(h, 2), k, s) for d, h, k, s in sizes]


def check_init_params(init_params, hidden: bool = False) -> None:
    """``init_params(n_in=3, n_hidden=4, n_out=1, seed=0)`` -> ``W1 (H, D), b1 (H,), W2 (K, H), b2 (K,)``.

    float64 arrays; the same seed gives the same arrays, different seeds different ones; biases
    zero or small; weights random (not all zero, no two hidden units alike, not huge).
    """
    sizes = _hidden_init_sizes() if hidden else [(3, 4, 1, 0), (5, 7, 2, 3)]

    def check_params(label: str, params: tuple, d: int, h: int, k: int) -> None:
        _check_init_shapes(label, params, d, h, k)
        _check_init_values(label, params)

    check_seeded_init(init_params, sizes, PARAM_NAMES, check_params)
    if not hidden:
        defaults = unpack_results("init_params()", call_student("init_params", init_params), PARAM_NAMES)
        _check_init_shapes("init_params() (the defaults)", defaults, 3, 4, 1)
    passed(f"init_params: shapes, float64, seeding and symmetry breaking right on {len(sizes)} {scope_word(hidden)} "
           "size settings")


# ---------------------------------------------------------------------------------------------
# forward and bce_loss
# ---------------------------------------------------------------------------------------------

@answer
def _forward_mistakes(X, W1, b1, W2, b2) -> tuple[dict, dict]:
    z1 = X @ W1.T + b1
    a1 = _reference_sigmoid(z1)
    return ({"a1 is z1 = X @ W1.T + b1: apply sigmoid to the hidden layer": z1,
             "the bias b1 is missing": _reference_sigmoid(X @ W1.T)},
            {"a2 is z2 = a1 @ W2.T + b2: apply sigmoid to the output layer too": a1 @ W2.T + b2,
             "the bias b2 is missing": _reference_sigmoid(a1 @ W2.T),
             "a2 was computed from z1 instead of a1 = sigmoid(z1)": _reference_sigmoid(z1 @ W2.T + b2)})


def check_forward(forward, hidden: bool = False) -> None:
    """``forward(X, W1, b1, W2, b2)``: ``X (N, D)`` -> ``a1 (N, H)``, ``a2 (N, 1)``.

    ``a1 = sigmoid(X @ W1.T + b1)``, ``a2 = sigmoid(a1 @ W2.T + b2)``; compared with torch. Runs
    with the kit's sigmoid in place of the student's, so this cell grades the layer arithmetic only.
    """
    count = 0
    with noting_own_parts(forward, REFERENCE_ACTIVATIONS):
        for X, _, W1, b1, W2, b2 in _network_cases(hidden, "forward"):
            label = describe_call("forward", X=X, W1=W1, b1=b1, W2=W2, b2=b2)
            a1_exp, a2_exp = _oracle_forward(X, W1, b1, W2, b2)
            with reference_parts(forward, REFERENCE_ACTIVATIONS):
                result = call_student("forward", forward, *_copies(X, W1, b1, W2, b2))
            got = unpack_results(label, result, ("a1", "a2"))
            a1_mistakes, a2_mistakes = _forward_mistakes(X, W1, b1, W2, b2)
            check_close(f"{label} -> a1", got[0], a1_exp, rtol=VALUE_RTOL, atol=VALUE_ATOL, mistakes=a1_mistakes)
            check_close(f"{label} -> a2", got[1], a2_exp, rtol=VALUE_RTOL, atol=VALUE_ATOL, mistakes=a2_mistakes)
            count += 1
    passed(f"forward matches torch (F.linear + sigmoid) on {count} {scope_word(hidden)} inputs")


@grading_only
def _hidden_bce_cases():
    rng = hidden_rng("bce_loss")
    for _ in range(3):
        n = int(rng.integers(2, 10))
        y = (rng.uniform(size=(n, 1)) < 0.5).astype(np.float64)
        y[0, 0], y[-1, 0] = 0.0, 1.0
        yield rng.uniform(0.02, 0.98, size=(n, 1)), y


def _bce_cases(hidden: bool):
    if hidden:
        yield from _hidden_bce_cases()
    else:
        yield np.array([[0.1], [0.8], [0.7], [0.3]]), XOR_Y
        yield np.linspace(0.05, 0.95, 6)[:, None], np.array([[1.0], [0.0], [0.0], [1.0], [1.0], [0.0]])


@answer
def _bce_mistakes(a2: np.ndarray, y: np.ndarray) -> dict:
    n = a2.shape[0]
    return {"the (1 - y) * log(1 - a2) term is missing": float(-np.mean(y * np.log(a2))),
            "the y * log(a2) term is missing": float(-np.mean((1 - y) * np.log(1 - a2))),
            f"a sum over the batch, not the mean (N = {n})": n * _oracle_bce(a2, y)}


def check_bce_loss(bce_loss, hidden: bool = False) -> None:
    """``bce_loss(a2, y)``: ``a2, y (N, 1)`` -> the mean binary cross-entropy, one number.

    ``-mean(y * log(a2) + (1 - y) * log(1 - a2))``; compared with ``F.binary_cross_entropy``.
    """
    count = 0
    for a2, y in _bce_cases(hidden):
        expected = _oracle_bce(a2, y)
        n = a2.shape[0]
        got = call_student("bce_loss", bce_loss, a2.copy(), y.copy())
        check_close(describe_call("bce_loss", a2=a2, y=y), got, expected, rtol=VALUE_RTOL, atol=VALUE_ATOL,
                    batch_size=n, mistakes=_bce_mistakes(a2, y))
        count += 1
    passed(f"bce_loss matches torch's binary_cross_entropy on {count} {scope_word(hidden)} inputs")


# ---------------------------------------------------------------------------------------------
# backprop
# ---------------------------------------------------------------------------------------------

@answer
def _gradient_mistakes(X, y, W1, b1, W2, b2, a1, a2, expected) -> list[dict]:
    """Per gradient, ``{hint: wrong value}`` for the known mistakes, computed from the formula's variants."""
    on_z = _backprop_formula(X, y, W1, b1, W2, b2, a1, a2, hidden_derivative="z")
    mse = _backprop_formula(X, y, W1, b1, W2, b2, a1, a2, output_delta="mse")
    n = X.shape[0]
    hints = []
    for i, name in enumerate(GRAD_NAMES):
        m = {}
        if i in (0, 1):
            m["sigmoid_grad was applied to the pre-activation z1 = X @ W1.T + b1; it takes the activation: "
              "sigmoid_grad(a1) = a1 * (1 - a1)"] = on_z[i]
        m["the output delta for sigmoid + binary cross-entropy is dz2 = (a2 - y) / N; multiplying it by "
          "sigmoid_grad(a2) again is the squared-error formula"] = mse[i]
        if i in (0, 2):
            m[f"transposed: {name} must have the shape of {PARAM_NAMES[i]}, (out, in); "
              f"compute dz.T @ inputs, not inputs.T @ dz"] = expected[i].T
        if n > 1:
            m[f"scaled by N = {n}: the loss is the mean over the batch, so every gradient carries 1/N "
              "(missing 1/N)"] = n * expected[i]
        hints.append(m)
    return hints


def _backprop_alone(backprop, X, y, W1, b1, W2, b2, a1, a2):
    """The student's backprop on copies of the arrays, with the kit's sigmoid and sigmoid_grad."""
    with reference_parts(backprop, REFERENCE_ACTIVATIONS):
        return call_student("backprop", backprop, *_copies(X, y, W1, b1, W2, b2, a1, a2))


def check_backprop(backprop, hidden: bool = False) -> None:
    """``backprop(X, y, W1, b1, W2, b2, a1, a2)`` -> ``dW1 (H, D), db1 (H,), dW2 (1, H), db2 (1,)``.

    Gradients of the MEAN binary cross-entropy, compared with PyTorch autograd (rtol 1e-7).
    ``a1, a2`` come from the kit's forward pass, and the kit's sigmoid_grad stands in for the
    student's, so only ``backprop`` is graded here.
    """
    count = 0
    with noting_own_parts(backprop, REFERENCE_ACTIVATIONS):
        for X, y, W1, b1, W2, b2 in _network_cases(hidden, "backprop"):
            a1, a2 = _oracle_forward(X, W1, b1, W2, b2)
            expected = _oracle_grads(X, y, W1, b1, W2, b2)
            label = describe_call("backprop", X=X, y=y, W1=W1, b1=b1, W2=W2, b2=b2, a1=a1, a2=a2)
            got = unpack_results(label, _backprop_alone(backprop, X, y, W1, b1, W2, b2, a1, a2), GRAD_NAMES)
            hints = _gradient_mistakes(X, y, W1, b1, W2, b2, a1, a2, expected)
            n = X.shape[0]
            check_all(label, [
                (name, lambda i=i, name=name: check_close(name, got[i], expected[i], rtol=GRAD_RTOL,
                                                          atol=GRAD_ATOL, batch_size=n, mistakes=hints[i]))
                for i, name in enumerate(GRAD_NAMES)])
            count += 1
    passed(f"backprop matches PyTorch autograd on {count} {scope_word(hidden)} inputs (dW1, db1, dW2, db2)")


def _fd_case(hidden: bool):
    """One network and batch whose gradient entries are all at least FD_MIN_GRAD in size.

    Centred differences carry an absolute error of about 1e-11; below 1e-2 the relative error of
    a tiny but correct entry could approach the 1e-7 bar. Draws are repeated (deterministically,
    from the seed) until every entry is big enough.
    """
    if not hidden:
        W1, b1, W2, b2 = _public_params(3, 4)
        return (XOR_X, XOR_Y, W1, b1, 1.5 * W2, b2)  # its smallest gradient entry is 0.0115
    return _hidden_fd_case()


@grading_only
def _hidden_fd_case():
    rng = hidden_rng("backprop_finite_differences")
    for _ in range(1000):
        n, d, h = int(rng.integers(2, 7)), int(rng.integers(2, 5)), int(rng.integers(2, 6))
        X, y = _random_data(rng, n, d)
        params = _random_params(rng, d, h)
        grads = _reference_backprop(X, y, *params, *_reference_forward(X, *params))
        if min(np.min(np.abs(g)) for g in grads) >= FD_MIN_GRAD:
            return (X, y, *params)
    raise RuntimeError("no well-conditioned finite-difference case found")  # pragma: no cover


@answer
def _numeric_gradients(X, y, W1, b1, W2, b2) -> list[np.ndarray]:
    """Centred differences (step FD_STEP) of the kit's mean BCE loss, for W1, b1, W2, b2."""
    return numerical_gradients(lambda *p: _reference_bce_loss(_reference_forward(X, *p)[1], y), [W1, b1, W2, b2],
                               h=FD_STEP)


def check_backprop_finite_differences(backprop, hidden: bool = False) -> None:
    """``backprop``'s four gradients against centred differences of the mean BCE loss, in float64.

    The loss is the kit's NumPy forward pass and loss (not the student's); step h = 1e-5; the bar
    is CS231n's: the largest elementwise relative error below 1e-7.
    """
    X, y, W1, b1, W2, b2 = _fd_case(hidden)
    params = [W1, b1, W2, b2]
    a1, a2 = _reference_forward(X, W1, b1, W2, b2)
    label = describe_call("backprop", X=X, y=y, W1=W1, b1=b1, W2=W2, b2=b2, a1=a1, a2=a2)
    with noting_own_parts(backprop, REFERENCE_ACTIVATIONS):
        got = unpack_results(label, _backprop_alone(backprop, X, y, W1, b1, W2, b2, a1, a2), GRAD_NAMES)
        numeric = _numeric_gradients(X, y, W1, b1, W2, b2)
        hints = _gradient_mistakes(X, y, W1, b1, W2, b2, a1, a2, numeric)
        oracle = f"centred differences (h = {FD_STEP:g})"
        errors = check_gradients(label, got, numeric, GRAD_NAMES, oracle=oracle, max_rel_error=FD_MAX_REL_ERROR,
                                 batch_size=X.shape[0], mistakes=hints)
    detail = f" (largest relative error {max(errors.values()):.1e})" if hidden else ""
    passed(f"backprop agrees with {oracle} on a {scope_word(hidden)} batch of {X.shape[0]}: relative error below "
           f"{FD_MAX_REL_ERROR:g} for dW1, db1, dW2, db2{detail}")


# ---------------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------------

def _train_cases(hidden: bool, label: str):
    """Yield ``(X, y, W1, b1, W2, b2, lr)`` for 100-epoch training runs."""
    if hidden:
        yield from _hidden_train_cases(label)
    else:
        W1, b1, W2, b2 = _public_params(3, 4)
        yield (XOR_X, XOR_Y, 0.5 * W1, b1, W2, b2, 1.0)


@grading_only
def _hidden_train_cases(label: str):
    rng = hidden_rng(label)
    for _ in range(2):
        n, d, h = int(rng.integers(3, 9)), int(rng.integers(2, 5)), int(rng.integers(2, 6))
        X, y = _random_data(rng, n, d)
        yield (X, y, *_random_params(rng, d, h), float(rng.uniform(0.2, 2.0)))


def _call_train(train, X, y, W1, b1, W2, b2, epochs, lr, **kwargs):
    """The student's train on copies, with the kit's parts in place of theirs: ``(W1, b1, W2, b2, losses)``."""
    kw = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    label = (describe_call("train", X=X, y=y, W1=W1, b1=b1, W2=W2, b2=b2)[:-1] + f", epochs={epochs}, lr={lr:g}{kw})")
    with reference_parts(train):
        result = call_student("train", train, *_copies(X, y, W1, b1, W2, b2), epochs, lr, **kwargs)
    return label, unpack_results(label, result, PARAM_NAMES + ("losses",))


def _compare_run(label: str, got: tuple, X, y, params, epochs, lr, fit_bias: bool) -> None:
    """Compare a training run with the oracle's; on a mismatch, name the known mistake it matches.

    The mistakes are runs of the kit's loop (with the parts the student's train ran with) with one
    thing changed: the loss recorded after the update, gradient ascent, the biases trained (or
    not) against ``fit_bias``, one update short.
    """
    expected = _oracle_train(X, y, *params, epochs, lr, fit_bias)
    runs: dict[str, tuple] = {}

    def run(kind: str) -> tuple:
        if kind not in runs:
            runs[kind] = {
                "late": lambda: _reference_train(X, y, *params, epochs + 1, lr, fit_bias),
                "ascent": lambda: _reference_train(X, y, *params, epochs, lr, fit_bias, ascent=True),
                "bias": lambda: _reference_train(X, y, *params, epochs, lr, not fit_bias),
                "short": lambda: _reference_train(X, y, *params, epochs - 1, lr, fit_bias),
            }[kind]()
        return runs[kind]

    bias_hint = ("the biases were not trained: with fit_bias=True, update b1 and b2 too" if fit_bias else
                 "the biases were trained although fit_bias=False: leave b1 and b2 as they are")
    ascent_hint = "the loss goes up: the update is W = W - lr * dW (a minus sign)"
    losses = losses_per_epoch(label, got[4], epochs, hint="Record the loss once per epoch, before that epoch's update.")
    close_or_explain(f"{label} -> losses", losses, expected[4], lambda: {
        "losses[t] should be the loss before epoch t's update; yours are one epoch late "
        "(recorded after the update)": run("late")[4][1:],
        ascent_hint: run("ascent")[4],
        bias_hint: run("bias")[4]}, rtol=TRAIN_RTOL, atol=TRAIN_ATOL, check_container=False)
    for i, name in enumerate(PARAM_NAMES):
        close_or_explain(f"{label} -> {name} (after training)", got[i], expected[i], lambda i=i: {
            ascent_hint: run("ascent")[i],
            bias_hint: run("bias")[i],
            f"these are the weights after {epochs - 1} updates: the last epoch's update is missing "
            "from the returned weights": run("short")[i],
            "these are the initial weights: return the trained ones": params[i]},
            rtol=TRAIN_RTOL, atol=TRAIN_ATOL)


def _runs(count: int, hidden: bool) -> str:
    return f"{count} {scope_word(hidden)} run{'s' if count != 1 else ''}"


def check_train(train, hidden: bool = False) -> None:
    """``train(X, y, W1, b1, W2, b2, epochs, lr)`` for 100 epochs, against ``torch.optim.SGD``.

    Full-batch gradient descent from the same initial weights: ``losses[t]`` (the loss before
    epoch t's update) and the final ``W1, b1, W2, b2`` must follow the oracle's trajectory.
    ``train`` runs with the kit's forward, bce_loss and backprop in place of the student's, so
    this cell grades the loop and the update rule only.
    """
    count = 0
    with noting_own_parts(train, REFERENCE_PARTS):
        for X, y, W1, b1, W2, b2, lr in _train_cases(hidden, "train"):
            label, got = _call_train(train, X, y, W1, b1, W2, b2, TRAIN_EPOCHS, lr)
            _compare_run(label, got, X, y, (W1, b1, W2, b2), TRAIN_EPOCHS, lr, fit_bias=True)
            count += 1
    whose = "your own" if own_parts_note(train, REFERENCE_PARTS) else "the kit's"
    passed(f"train follows torch.optim.SGD for {TRAIN_EPOCHS} epochs on {_runs(count, hidden)} "
           f"(losses and final weights; run with {whose} forward, bce_loss and backprop)")


def check_train_fit_bias(train, hidden: bool = False) -> None:
    """``train(..., fit_bias=False)`` from zero biases: the biases stay zero, the weights follow the oracle."""
    count = 0
    with noting_own_parts(train, REFERENCE_PARTS):
        for X, y, W1, b1, W2, b2, lr in _train_cases(hidden, "train_fit_bias"):
            b1, b2 = np.zeros_like(b1), np.zeros_like(b2)
            label, got = _call_train(train, X, y, W1, b1, W2, b2, TRAIN_EPOCHS, lr, fit_bias=False)
            for name, b, zero in (("b1", got[1], b1), ("b2", got[3], b2)):
                if np.shape(b) == zero.shape and np.any(to_numpy(b) != 0):
                    raise CheckFailed(f"{label} -> {name}: the biases started at zero and must stay zero with "
                                      f"fit_bias=False, but {name} = {np.round(to_numpy(b), 4).tolist()}. "
                                      "Hint: update b1 and b2 only if fit_bias.")
            _compare_run(label, got, X, y, (W1, b1, W2, b2), TRAIN_EPOCHS, lr, fit_bias=False)
            count += 1
    passed(f"train with fit_bias=False keeps the biases at zero and follows the oracle on {_runs(count, hidden)}")


def _require_train_form(label: str, result: Any, shapes: dict[str, tuple], epochs: int) -> None:
    """``train``'s result must have the form the value checks grade before its inputs are compared:
    ``W1, b1, W2, b2`` floating-point arrays of ``shapes`` and one loss per epoch. No value is
    compared, so nothing published is needed, and a function that returns nothing (or something
    else) cannot pass by leaving its inputs alone."""
    try:
        got = unpack_results(label, result, PARAM_NAMES + ("losses",))
        for name, value in zip(PARAM_NAMES, got):
            check_shape(f"{label} -> {name}", value, shapes[name])
            if to_numpy(value).dtype.kind != "f":
                raise CheckFailed(f"{label} -> {name}: expected floating-point values, got dtype "
                                  f"{to_numpy(value).dtype}.")
        losses_per_epoch(label, got[4], epochs)
    except CheckFailed as exc:
        raise CheckFailed(f"{exc} Whether it leaves its inputs unchanged is graded once it returns a result of the "
                          "right form.") from None


def check_train_does_not_mutate(train) -> None:
    """``train`` must return new arrays and leave the caller's ``X, y, W1, b1, W2, b2`` untouched.

    Its result must first have the form of the answer (``W1, b1, W2, b2`` in their shapes and 5 losses).
    """
    W1, b1, W2, b2 = _public_params(3, 4)
    inputs = _copies(XOR_X, XOR_Y, W1, b1, W2, b2)
    before = _copies(*inputs)
    label = describe_call("train", X=XOR_X, y=XOR_Y, W1=W1, b1=b1, W2=W2, b2=b2)[:-1] + ", epochs=5, lr=1)"
    with reference_parts(train):
        result = call_student("train", train, *inputs, 5, 1.0)
    with noting_own_parts(train, REFERENCE_PARTS):
        _require_train_form(label, result, {name: np.shape(p) for name, p in zip(PARAM_NAMES, (W1, b1, W2, b2))}, 5)
    for name, b, a in zip(("X", "y") + PARAM_NAMES, before, inputs):
        check_unchanged(f"{label}: {name}", b, a)
    passed("train leaves the caller's X, y, W1, b1, W2, b2 unchanged")


# ---------------------------------------------------------------------------------------------
# Everything together: the notebook's own training run solves XOR
# ---------------------------------------------------------------------------------------------

def check_xor_solved(init_params, train, epochs: int, lr: float, seed: int) -> None:
    """The student's ``init_params(seed=seed)`` and ``train(XOR_X, XOR_Y, ..., epochs, lr)``, all their own
    parts, must give a network that classifies all four XOR rows (``a2 > 0.5`` exactly where ``y = 1``).
    """
    label = f"train(X, y, *init_params(seed={seed}), epochs={epochs}, lr={lr:g})"
    params = unpack_results(f"init_params(seed={seed})", call_student("init_params", init_params, seed=seed), PARAM_NAMES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call_student("train", train, *_copies(XOR_X, XOR_Y), *params, epochs, lr)
        except CheckFailed as exc:
            hint = ("\n  Hint: an update W = W - lr * dW needs dW in W's shape: is a weight gradient transposed, or a "
                    "bias gradient not summed over the batch? The gradient tests above say which."
                    if "broadcast" in str(exc) else "")
            raise CheckFailed(f"{label}: {exc}{hint}") from None
    result = unpack_results(label, result, PARAM_NAMES + ("losses",))
    numeric_warnings = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    shapes = {"W1": (4, 3), "b1": (4,), "W2": (1, 4), "b2": (1,)}
    trained = []
    for name, value in zip(PARAM_NAMES, result[:4]):
        try:
            arr = np.asarray(to_numpy(value), dtype=np.float64)
        except (TypeError, ValueError):
            raise CheckFailed(f"{label}: the trained {name} is a {type(value).__name__}, not an array.") from None
        if arr.shape != shapes[name]:
            raise CheckFailed(f"{label}: the trained {name} has shape {arr.shape}, but {name} is {shapes[name]}. "
                              "Each update must keep a parameter's shape: is a gradient transposed, or a bias "
                              "gradient not summed over the batch?")
        if not np.all(np.isfinite(arr)):
            seen = f" (NumPy warned: {numeric_warnings[0]})" if numeric_warnings else ""
            raise CheckFailed(f"{label}: the trained {name} contains NaN or inf: training diverged{seen}. "
                              "Check backprop against the gradient tests above.")
        trained.append(arr)
    # The trained network's outputs, by torch (inline: this check needs them for the student's own weights).
    torch = _torch()
    F = torch.nn.functional
    W1, b1, W2, b2 = (_t(v) for v in trained)
    a2 = torch.sigmoid(F.linear(torch.sigmoid(F.linear(_t(XOR_X), W1, b1)), W2, b2)).numpy()
    predicted = (a2 > 0.5).astype(np.float64)
    rows = "\n".join(f"    x = {XOR_X[i, :2].astype(int).tolist()}  y = {int(XOR_Y[i, 0])}  a2 = {a2[i, 0]:.3f}"
                     f"  {'✓' if predicted[i, 0] == XOR_Y[i, 0] else '✗'}" for i in range(4))
    if not np.array_equal(predicted, XOR_Y):
        wrong = int(np.sum(predicted != XOR_Y))
        raise CheckFailed(f"{label}: the trained network gets {wrong} of 4 XOR rows wrong (a2 > 0.5 means class 1):\n"
                          f"{rows}\n  Hint: the gradient and train tests above say which part is off.")
    passed(f"the trained network classifies all four XOR rows (epochs={epochs}, lr={lr:g}, seed={seed}):\n{rows}")
