"""Checks for assignment 00, vectorisation ("From for-loops to dot products") (grading side: holds the answers).

Students write each computation twice: a pure-Python loop over lists, and a torch version with
no Python loop that runs on the device its inputs live on.

    dot_loop(x, w, b) / dot_torch(x, w, b)                 b + x . w          -> float / 0-d tensor
    matvec_loop(X, w, b) / matvec_torch(X, w, b)           b + X w            -> n floats / (n,)
    linear_loop(X, W, b) / linear_torch(X, W, b)           X W^T + b          -> n x h / (n, h)
    pairwise_distances_loop(X, Y) / ..._torch(X, Y)        ||x_i - y_j||      -> n x p / (n, p)

Shapes: ``X (n, m)``, ``w (m,)``, ``W (h, m)`` (a weight stored as PyTorch stores it:
out x in), ``b`` a float or ``(h,)``, ``Y (p, m)``.

Oracles are NumPy float64 computations. Speed checks compare the student's torch version
with the kit's own pure-Python loop (not the student's, so a deliberately slow loop cannot
inflate the ratio), and count torch calls to name a disguised loop. That loop is written inside
the speed check, so no function of the kit is a loop version that could be handed in as one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..answers import answer, grading_only
from ..checks import CheckFailed, check_close, check_type, describe_call
from ..seeds import hidden_rng
from ..grading.remote import repeatable
from ..timing import Implementation, cuda_available, judge_speedup, time_side_by_side, torch_threads
from ..torch_trace import record_torch_ops
from . import call_student, global_names_used, linspace_grid, passed, scope_word

# Speed bars: far below what a vectorised version reaches (hundreds of times on a 2-core CPU,
# see README), far above what a loop over rows reaches (about 1-2x on these shapes).
SPEEDUP_THRESHOLD = 20.0
DOT_SPEEDUP_THRESHOLD = 10.0
VALUE_RTOL, VALUE_ATOL = 1e-9, 1e-9
DIST_RTOL, DIST_ATOL = 1e-6, 1e-6  # ||x||^2 + ||y||^2 - 2 x.y loses ~1e-8 near zero distance


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------



def _public_shapes() -> list[tuple[int, int, int, int]]:
    """(n, m, h, p) for public cases: small, including one-row and one-feature edge cases, and one
    with n = m = h, where a square W and as many rows as outputs let a shape-driven guess (W without
    its transpose, the bias along the rows) run without an error and show its wrong values."""
    return [(4, 3, 2, 5), (1, 5, 3, 1), (6, 1, 4, 2), (3, 3, 3, 2)]


@grading_only
def _hidden_shapes(rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
    shapes = [tuple(int(v) for v in rng.integers(1, 9, size=4)) for _ in range(2)]
    k = int(rng.integers(2, 9))
    return shapes + [(k, k, k, int(rng.integers(1, 9)))]  # always one square case, as the public set has


@grading_only
def _hidden_cases(label: str):
    rng = hidden_rng(label)
    for n, m, h, p in _hidden_shapes(rng):
        yield (rng.normal(size=(n, m)), rng.normal(size=m), float(rng.normal()),
               rng.normal(size=(h, m)), rng.normal(size=h), rng.normal(size=(p, m)))


def _cases(hidden: bool, label: str):
    """Yield ``(X (n,m), w (m,), b_scalar, W (h,m), b_vec (h,), Y (p,m))`` as float64 arrays."""
    if hidden:
        yield from _hidden_cases(label)
    else:
        for n, m, h, p in _public_shapes():
            X = linspace_grid(n, m)
            Y = np.vstack([X[: min(n, p)], linspace_grid(max(p - n, 0), m, lo=-2, hi=0.5)])[:p]  # shares rows: zero distances
            yield (X, linspace_grid(m, lo=0.5, hi=-1.5), 0.25, linspace_grid(h, m, lo=-0.7, hi=1.1), linspace_grid(h, lo=1, hi=-1), Y)


# ---------------------------------------------------------------------------------------------
# Oracles (NumPy, float64) and the known mistakes: called on the case's NumPy inputs by name
# ---------------------------------------------------------------------------------------------

@answer
def _dot_oracle(x: np.ndarray, w: np.ndarray, b: float) -> np.float64:
    return np.float64(b + x @ w)


def _dot_expected(x: np.ndarray, w: np.ndarray, b: float) -> np.float64:
    """The dot oracle's value as a NumPy float64 (a ``()`` shape, float64 bars); a published
    np.float64 reads back as a Python float."""
    return np.float64(_dot_oracle(x, w, b))


@answer
def _dot_mistakes(x: np.ndarray, w: np.ndarray, b: float) -> dict:
    return {"the bias b is missing": x @ w}


@answer
def _matvec_oracle(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    return b + X @ w


@answer
def _matvec_mistakes(X: np.ndarray, w: np.ndarray, b: float) -> dict:
    return {"the bias b is missing": X @ w}


@answer
def _linear_oracle(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    return X @ W.T + b


@answer
def _linear_mistakes(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> dict:
    found = {"the bias b is missing": X @ W.T}
    if W.shape[0] == W.shape[1]:
        found["W was used without its transpose: W is stored (h, m), out x in, so the product is X @ W.T "
              "(a square W runs either way, so the shapes alone cannot tell)"] = X @ W + b
    if X.shape[0] == W.shape[0]:
        found["the bias was added along the rows (b[i] to row i) instead of to each column j: b has one "
              "value per output, so X @ W.T + b broadcasts it over the rows"] = X @ W.T + b[:, None]
    return found


@answer
def _pairwise_oracle(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    return np.sqrt(((X[:, None, :] - Y[None, :, :]) ** 2).sum(axis=-1))


@answer
def _pairwise_mistakes(X: np.ndarray, Y: np.ndarray) -> dict:
    return {"squared distances: the square root is missing": _pairwise_oracle(X, Y) ** 2}


# ---------------------------------------------------------------------------------------------
# Loop versions: pure Python in, pure Python out
# ---------------------------------------------------------------------------------------------

def _check_pure_python(name: str, fn) -> None:
    used = global_names_used(fn) & {"np", "numpy", "torch"}
    if used:
        raise CheckFailed(f"{name}: the loop version must be pure Python, but it uses {', '.join(sorted(used))}. "
                          "Write the loops yourself: that is the point of the comparison.")


def _check_python_floats(name: str, got, shape: tuple) -> None:
    """``got`` must be nested lists of Python numbers with ``shape`` (``()`` for one number)."""
    if shape == ():
        if isinstance(got, bool) or not isinstance(got, (int, float)) or type(got).__module__ != "builtins":
            raise CheckFailed(f"{name}: expected a Python float, got a {type(got).__module__}.{type(got).__name__}.")
        return
    if not isinstance(got, list):
        raise CheckFailed(f"{name}: expected a list, got a {type(got).__name__}.")
    if len(got) != shape[0]:
        raise CheckFailed(f"{name}: expected a list of {shape[0]} items, got {len(got)}.")
    for item in got:
        _check_python_floats(name, item, shape[1:])


@dataclass(frozen=True)
class _Problem:
    """One computation, as both its loop and its torch version are checked.

    ``inputs`` picks the named inputs out of a case from :func:`_cases`; ``oracle`` and
    ``mistakes`` take those inputs by name and return the expected result and known wrong ones.
    """
    inputs: Callable[..., dict]
    oracle: Callable[..., np.ndarray]
    mistakes: Callable[..., dict]
    rtol: float = VALUE_RTOL
    atol: float = VALUE_ATOL


_PROBLEMS = {
    "dot": _Problem(
        inputs=lambda X, w, b, W, bv, Y: {"x": X[0], "w": w, "b": b},
        oracle=_dot_expected, mistakes=_dot_mistakes),
    "matvec": _Problem(
        inputs=lambda X, w, b, W, bv, Y: {"X": X, "w": w, "b": b},
        oracle=_matvec_oracle, mistakes=_matvec_mistakes),
    "linear": _Problem(
        inputs=lambda X, w, b, W, bv, Y: {"X": X, "W": W, "b": bv},
        oracle=_linear_oracle, mistakes=_linear_mistakes),
    "pairwise_distances": _Problem(
        inputs=lambda X, w, b, W, bv, Y: {"X": X, "Y": Y},
        oracle=_pairwise_oracle, mistakes=_pairwise_mistakes,
        rtol=DIST_RTOL, atol=DIST_ATOL),
}


def _check_loop_version(problem: str, fn, hidden: bool) -> None:
    """Run ``<problem>_loop`` on every case: pure Python, lists in, lists (or a float) out, right values."""
    name, spec = f"{problem}_loop", _PROBLEMS[problem]
    _check_pure_python(name, fn)
    count = 0
    for case in _cases(hidden, name):
        inputs = spec.inputs(*case)
        expected = spec.oracle(**inputs)
        label = describe_call(name, **inputs)
        got = call_student(name, fn, *[v.tolist() if isinstance(v, np.ndarray) else v for v in inputs.values()])
        _check_python_floats(label, got, expected.shape)
        check_close(label, np.asarray(got, dtype=np.float64), expected, check_container=False,
                    rtol=spec.rtol, atol=spec.atol, mistakes=spec.mistakes(**inputs))
        count += 1
    passed(f"{name} matches the oracle on {count} {scope_word(hidden)} inputs")


def check_dot_loop(dot_loop, hidden: bool = False) -> None:
    """``dot_loop(x, w, b)``: lists of m floats and a float -> the float ``b + sum_i x_i w_i``."""
    _check_loop_version("dot", dot_loop, hidden)


def check_matvec_loop(matvec_loop, hidden: bool = False) -> None:
    """``matvec_loop(X, w, b)``: n rows of m floats, m floats, a float -> n floats ``b + X w``."""
    _check_loop_version("matvec", matvec_loop, hidden)


def check_linear_loop(linear_loop, hidden: bool = False) -> None:
    """``linear_loop(X, W, b)``: n x m, h x m, h -> n x h lists, ``X W^T + b``."""
    _check_loop_version("linear", linear_loop, hidden)


def check_pairwise_distances_loop(pairwise_distances_loop, hidden: bool = False) -> None:
    """``pairwise_distances_loop(X, Y)``: n x d, p x d lists -> n x p Euclidean distances."""
    _check_loop_version("pairwise_distances", pairwise_distances_loop, hidden)


# ---------------------------------------------------------------------------------------------
# Torch versions: values, dtype and device
# ---------------------------------------------------------------------------------------------

def _devices() -> list[str]:
    return ["cpu", "cuda"] if cuda_available() else ["cpu"]


def _check_torch_version(problem: str, fn, hidden: bool) -> None:
    """Run ``<problem>_torch`` on every case and device: a tensor on the inputs' device, right values."""
    name, spec = f"{problem}_torch", _PROBLEMS[problem]
    count = 0
    for case in _cases(hidden, name):
        inputs = spec.inputs(*case)
        expected = spec.oracle(**inputs)
        label = describe_call(name, **inputs)
        for device in _devices():
            args = [torch.as_tensor(v, dtype=torch.float64, device=device) if isinstance(v, np.ndarray) else v
                    for v in inputs.values()]
            got = call_student(name, fn, *args)
            check_close(label, got, torch.as_tensor(expected, device=device), rtol=spec.rtol, atol=spec.atol,
                        mistakes=spec.mistakes(**inputs))
        count += 1
    extra = " (including zero distances)" if problem == "pairwise_distances" else ""
    passed(f"{name} matches the oracle on {count} {scope_word(hidden)} inputs{extra}")


def check_dot_torch(dot_torch, hidden: bool = False) -> None:
    """``dot_torch(x, w, b)``: 1-D tensors (m,) and a float -> a 0-d tensor ``b + x . w``."""
    _check_torch_version("dot", dot_torch, hidden)


def check_matvec_torch(matvec_torch, hidden: bool = False) -> None:
    """``matvec_torch(X, w, b)``: X (n, m), w (m,), a float -> (n,) ``b + X w``."""
    _check_torch_version("matvec", matvec_torch, hidden)


def check_linear_torch(linear_torch, hidden: bool = False) -> None:
    """``linear_torch(X, W, b)``: X (n, m), W (h, m), b (h,) -> (n, h) ``X W^T + b``."""
    _check_torch_version("linear", linear_torch, hidden)


def check_pairwise_distances_torch(pairwise_distances_torch, hidden: bool = False) -> None:
    """``pairwise_distances_torch(X, Y)``: X (n, d), Y (p, d) -> (n, p) Euclidean distances."""
    _check_torch_version("pairwise_distances", pairwise_distances_torch, hidden)


def _require_form(label: str, got, shape: tuple, device: torch.device, graded: str) -> None:
    """``got`` must have the form the value checks grade: a torch.Tensor on ``device``, of ``shape``
    (one number where ``shape`` is ``()``), with floating-point values. No value is compared, so
    nothing published is needed: a speed or memory check asks this before it grades its property,
    and a function that returns nothing (or something else) cannot pass it."""
    try:
        check_type(label, got, torch.empty(shape, device=device))
        if shape == ():
            if got.numel() != 1:
                raise CheckFailed(f"{label}: expected a single number, got a tensor of shape {tuple(got.shape)}.")
        elif tuple(got.shape) != tuple(shape):
            raise CheckFailed(f"{label}: expected shape {tuple(shape)}, got shape {tuple(got.shape)}.")
        if not got.dtype.is_floating_point:
            raise CheckFailed(f"{label}: expected floating-point values, got dtype {str(got.dtype).replace('torch.', '')}.")
    except CheckFailed as exc:
        raise CheckFailed(f"{exc} Its {graded} is graded once it returns a result of the right form.") from None


def check_pairwise_memory(pairwise_distances_torch) -> None:
    """The torch version must never build an (n, p, d) intermediate tensor."""
    n, p, d = 48, 40, 32
    gen = torch.Generator().manual_seed(0)
    X, Y = torch.randn(n, d, generator=gen), torch.randn(p, d, generator=gen)
    got, record = record_torch_ops(call_student, "pairwise_distances_torch", pairwise_distances_torch, X, Y)
    _require_form(describe_call("pairwise_distances_torch", X=X, Y=Y), got, (n, p), X.device, "memory use")
    if record.largest_numel >= n * p * d:
        raise CheckFailed(
            f"pairwise_distances_torch(X ({n}, {d}), Y ({p}, {d})) built a tensor of shape {record.largest_shape} "
            f"({record.largest_numel:,} elements), as large as (n, p, d) = ({n}, {p}, {d}). "
            "For n = p = 10,000 and d = 1,000 that is 400 GB. Hint: expand the square, "
            "||x - y||^2 = ||x||^2 + ||y||^2 - 2 x.y, so the only (n, p) term is a matrix product."
        )
    passed(f"pairwise_distances_torch's largest intermediate is {record.largest_shape}: no (n, p, d) tensor")


# ---------------------------------------------------------------------------------------------
# Speed: the student's torch version against the kit's pure-Python loop
# ---------------------------------------------------------------------------------------------

def _loop_hint(name: str, fn, make_args, rows: int, noun: str = "rows") -> str:
    """Name a disguised loop: torch calls that grow with the size of the input (its ``noun``:
    the rows of a matrix, the elements of a vector)."""
    _, small = record_torch_ops(fn, *make_args(rows))
    _, large = record_torch_ops(fn, *make_args(2 * rows))
    if large.calls > small.calls + rows // 2:
        return (f"{name} made {small.calls} torch calls for {rows} {noun} and {large.calls} for {2 * rows}: "
                "the work is being done in a Python loop. Use one batched operation (matrix product, broadcasting).")
    return ""


def _speed_check(name: str, student_fn, loop: str, make_args, rows: int, threshold: float,
                 arg_names: tuple[str, ...], shape: tuple) -> None:
    """Time ``student_fn`` against the kit's pure-Python ``loop`` ("dot", "matvec", "linear" or
    "pairwise", the lecture's loops) on ``make_args(rows)`` (named ``arg_names``), once its result
    there has the form of the answer: a floating-point tensor of ``shape`` on the inputs' device.

    The loops are defined here, inside the check, and not as functions of the module: each is a
    correct loop version, and nothing the kit exposes may pass for one.
    """
    def dot(x, w, b):
        total = b
        for xi, wi in zip(x, w):
            total += xi * wi
        return total

    def matvec(X, w, b):
        return [dot(row, w, b) for row in X]

    def linear(X, W, b):
        return [[dot(row, wr, bj) for wr, bj in zip(W, b)] for row in X]

    def pairwise(X, Y):
        return [[math.sqrt(sum((a - c) ** 2 for a, c in zip(x, y))) for y in Y] for x in X]

    baseline = {"dot": dot, "matvec": matvec, "linear": linear, "pairwise": pairwise}[loop]
    args = make_args(rows)
    got = call_student(name, student_fn, *args)  # crashes are reported as such, not as slowness
    _require_form(describe_call(name, **dict(zip(arg_names, args))), got, shape, args[0].device, "speed")
    lists = [a.tolist() if isinstance(a, torch.Tensor) else a for a in args]
    with torch_threads(1):
        table = time_side_by_side([
            Implementation("python loop", lambda: baseline(*lists)),
            Implementation(name, repeatable(student_fn, *args)),
        ], baseline="python loop", rounds=7, max_seconds_each=1.5)
    ratio = judge_speedup(name, table, fast=name, slow="python loop", threshold=threshold,
                          hint=_loop_hint(name, student_fn, make_args, min(rows, 256),
                                          noun="elements" if loop == "dot" else "rows"))
    print(table)
    passed(f"{name} is {ratio:,.0f}x faster than the Python loop (needs {threshold:g}x)")


def _randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape)))


def check_dot_speed(dot_torch) -> None:
    """dot_torch on 10,000 features must beat the loop by 10x (lecture: about 90x)."""
    _speed_check("dot_torch", dot_torch, "dot",
                 lambda rows: (_randn(rows), _randn(rows), 0.5), rows=10_000, threshold=DOT_SPEEDUP_THRESHOLD,
                 arg_names=("x", "w", "b"), shape=())


def check_matvec_speed(matvec_torch) -> None:
    """matvec_torch on a tall (2000, 50) matrix must beat the loop by 20x."""
    _speed_check("matvec_torch", matvec_torch, "matvec",
                 lambda rows: (_randn(rows, 50), _randn(50), 0.5), rows=2000, threshold=SPEEDUP_THRESHOLD,
                 arg_names=("X", "w", "b"), shape=(2000,))


def check_linear_speed(linear_torch) -> None:
    """linear_torch on X (2000, 8), W (8, 8) must beat the loop by 20x."""
    _speed_check("linear_torch", linear_torch, "linear",
                 lambda rows: (_randn(rows, 8), _randn(8, 8), _randn(8)), rows=2000, threshold=SPEEDUP_THRESHOLD,
                 arg_names=("X", "W", "b"), shape=(2000, 8))


def check_pairwise_speed(pairwise_distances_torch) -> None:
    """pairwise_distances_torch on X (1000, 4), Y (30, 4) must beat the loop by 20x."""
    _speed_check("pairwise_distances_torch", pairwise_distances_torch, "pairwise",
                 lambda rows: (_randn(rows, 4), _randn(30, 4)), rows=1000, threshold=SPEEDUP_THRESHOLD,
                 arg_names=("X", "Y"), shape=(1000, 30))
