"""Compare a student's result with an expectation, and explain the difference.

Every check raises :class:`CheckFailed` (an ``AssertionError``) with a message a student can
act on, or returns quietly. The order of questions follows PrairieLearn's ``code_feedback``:
type first, then shape, dtype, NaN/inf, and only then values. A value mismatch is described
like ``numpy.testing``: how many elements differ, the greatest absolute and relative
difference and where, and a hint when the difference matches a known mistake.

Accepted inputs: Python numbers, (nested) lists, NumPy arrays and torch tensors on any device.
"""
from __future__ import annotations

import numbers
from typing import Any, Mapping

import numpy as np

# Bars used when a student answers in float32 where float64 was expected (DESIGN: "accept
# float32 answers with float32 bars").
FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-6


class CheckFailed(AssertionError):
    """A check did not pass. ``str(exc)`` is the whole explanation for the student."""


def _is_torch_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach") and hasattr(x, "device")


def kind_of(x: Any) -> str:
    """A short, student-facing name for the type of ``x``."""
    if _is_torch_tensor(x):
        return f"torch.Tensor on {x.device}"
    if isinstance(x, np.ndarray):
        return "numpy.ndarray"
    return type(x).__name__


def to_numpy(x: Any) -> np.ndarray:
    """Convert a number, list, NumPy array or torch tensor (any device) into a NumPy array.

    Raises ``TypeError`` for anything that is not numeric data (None, strings, generators...).
    """
    if _is_torch_tensor(x):
        return x.detach().cpu().resolve_conj().resolve_neg().numpy()
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (bool, numbers.Number, np.generic)):
        return np.asarray(x)
    if isinstance(x, (list, tuple)):
        try:
            arr = np.asarray([to_numpy(v) for v in x])
        except (TypeError, ValueError) as exc:
            raise TypeError(f"a {type(x).__name__} that is not a rectangular array of numbers ({exc})") from None
        return arr
    raise TypeError(f"a {kind_of(x)}, which is not numeric data")


def describe_shape(x: Any) -> str:
    """``'(3, 4)'`` for arrays and tensors, ``'scalar'`` for single numbers: used in check messages."""
    try:
        arr = to_numpy(x)
    except TypeError:
        return kind_of(x)
    return "scalar" if arr.ndim == 0 else str(tuple(arr.shape))


def describe_call(name: str, **inputs: Any) -> str:
    """``'linear_torch(X (4, 3), W (2, 3), b (2,))'``: the call a message is about."""
    parts = [f"{k} {describe_shape(v)}" for k, v in inputs.items()]
    return f"{name}({', '.join(parts)})"


def check_type(name: str, got: Any, expected: Any) -> None:
    """Fail unless ``got`` is the same kind of container as ``expected``.

    A torch result must be a tensor on the same device type; a NumPy result an array or a
    NumPy scalar; a Python number any real number (including a 0-d array or tensor).
    """
    if _is_torch_tensor(expected):
        if not _is_torch_tensor(got):
            raise CheckFailed(f"{name}: expected a torch.Tensor on {expected.device}, got a {kind_of(got)}.")
        if got.device.type != expected.device.type:
            raise CheckFailed(
                f"{name}: expected the result on {expected.device.type} (where the inputs live), "
                f"got it on {got.device}. Create new tensors with device=X.device, or avoid creating them."
            )
        return
    if isinstance(expected, np.ndarray) and expected.ndim > 0:
        if not isinstance(got, np.ndarray):
            raise CheckFailed(f"{name}: expected a numpy.ndarray, got a {kind_of(got)}.")
        return
    if isinstance(expected, (numbers.Number, np.generic)) or (isinstance(expected, np.ndarray) and expected.ndim == 0):
        try:
            arr = to_numpy(got)
        except TypeError as exc:
            raise CheckFailed(f"{name}: expected a number, got {exc}.") from None
        if arr.ndim != 0 and arr.size != 1:
            raise CheckFailed(f"{name}: expected a single number, got an array of shape {arr.shape}.")
        return
    try:
        to_numpy(got)
    except TypeError as exc:
        raise CheckFailed(f"{name}: expected numeric data, got {exc}.") from None


def _format_index(idx: tuple) -> str:
    return "(" + ", ".join(str(int(i)) for i in idx) + ("," if len(idx) == 1 else "") + ")" if idx else "()"


def _value_hints(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float,
                 batch_size: int | None, mistakes: Mapping[str, Any] | None) -> list[str]:
    """Names of known mistakes that explain ``got``. Shapes already agree unless noted."""
    def close(a, b) -> bool:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.size == 1 and b.size == 1:  # got and expected were compared as scalars: so are candidates
            a, b = a.reshape(()), b.reshape(())
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=max(rtol, 1e-6), atol=max(atol, 1e-9)))

    hints = []
    for description, candidate in (mistakes or {}).items():
        try:
            if close(got, to_numpy(candidate)):
                hints.append(description)
        except TypeError:
            continue
    if hints:
        return hints
    if got.shape != expected.shape:
        return hints
    if np.any(expected != 0) and close(got, -expected):
        hints.append("the sign is flipped: got = -expected")
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1] and close(got, expected.T):
        hints.append("the result is transposed: got = expected.T")
    if batch_size and batch_size > 1 and np.any(expected != 0):
        if close(got, expected * batch_size):
            hints.append(f"scaled by N = {batch_size}: a sum where the mean was wanted (missing 1/N)")
        elif close(got, expected / batch_size):
            hints.append(f"scaled by 1/N = 1/{batch_size}: divided by the batch size once too often")
    if not hints and np.any(expected != 0):
        nz = np.abs(expected) > max(atol, 1e-12)
        ratio = got[nz] / expected[nz]
        if ratio.size > 1 and np.allclose(ratio, ratio[0], rtol=1e-6) and not np.isclose(ratio[0], 1.0):
            hints.append(f"off by a constant factor: got = {ratio[0]:.6g} x expected")
    return hints


def check_close(name: str, got: Any, expected: Any, *, rtol: float = 1e-7, atol: float = 1e-10,
                batch_size: int | None = None, mistakes: Mapping[str, Any] | None = None,
                allow_float32: bool = True, check_container: bool = True, state_bar: bool = True) -> None:
    """Fail with an explanation unless ``got`` matches ``expected`` within the bars.

    Args:
        name: what is being checked, as the student should read it, e.g.
            ``describe_call("matvec_torch", X=X, w=w, b=b)``.
        got: the student's result (number, list, ndarray or tensor on any device).
        expected: the oracle's result, of the container type the student should return.
        rtol, atol: the bar, as in ``numpy.allclose``: ``|got - exp| <= atol + rtol * |exp|``.
        batch_size: N, to recognise answers scaled by N or 1/N.
        mistakes: ``{description: array}``; when ``got`` matches one of these arrays, the
            description is offered as the hint (e.g. ``{"the bias b is missing": X @ w}``).
        allow_float32: accept a float32 answer where float64 is expected, with float32 bars.
        check_container: check the container type (tensor vs ndarray vs number) first.
        state_bar: name the bar in the message (False when the caller states its own bar once).
    """
    if check_container:
        check_type(name, got, expected)
    try:
        g = to_numpy(got)
    except TypeError as exc:
        raise CheckFailed(f"{name}: expected numeric data, got {exc}.") from None
    e = to_numpy(expected)

    # Shape before values. A missing sum over the batch axis shows up as an extra leading axis.
    if g.size == 1 and e.size == 1:
        g, e = g.reshape(()), e.reshape(())
    if g.shape != e.shape:
        msg = f"{name}: expected shape {e.shape}, got shape {g.shape}."
        # (1, D) for (D,) is a keepdims/reshape slip, not a missing sum: that needs N > 1 rows.
        if g.ndim == e.ndim + 1 and g.shape[1:] == e.shape and g.shape[0] > 1 and g.dtype.kind in "fiu":
            if np.allclose(g.sum(axis=0), e, rtol=max(rtol, 1e-6), atol=max(atol, 1e-9)):
                msg += " Hint: summing your result over axis 0 gives the expected values: the sum over the batch axis is missing."
            else:
                msg += " Hint: the result has an extra leading axis: is a sum or mean over the batch (rows) missing?"
        elif g.ndim == 2 and e.ndim == 2 and g.shape == e.shape[::-1]:
            msg += " Hint: the shape is transposed. Rows are examples: X is (N, D), a weight is (out, in), and z = X @ W.T + b."
        elif g.size == e.size:
            msg += " Hint: the right number of elements in the wrong shape: check a reshape, keepdims=True, or a (N,) vs (N, 1) result."
        raise CheckFailed(msg)

    # dtype: numbers where numbers are expected; float32 accepted with float32 bars.
    if e.dtype.kind == "f":
        if g.dtype.kind == "b" or g.dtype.kind not in "fiuc":
            raise CheckFailed(f"{name}: expected floating-point values, got dtype {g.dtype}.")
        if g.dtype.kind == "c":
            raise CheckFailed(f"{name}: expected real floating-point values ({e.dtype}), got complex values ({g.dtype}).")
        if g.dtype.kind in "iu":
            raise CheckFailed(
                f"{name}: expected floating-point values ({e.dtype}), got integers ({g.dtype}). "
                "Hint: integer division (//), astype(int), or an integer array used as an accumulator?"
            )
        if g.dtype == np.float32 and e.dtype == np.float64 and not allow_float32:
            raise CheckFailed(f"{name}: expected float64, got float32. This part needs float64 precision.")
        if np.float32 in (g.dtype, e.dtype) and np.float16 not in (g.dtype, e.dtype):
            # A float32 answer, or a float32 oracle (a torch module, a GPU result): float32 bars.
            rtol, atol = max(rtol, FLOAT32_RTOL), max(atol, FLOAT32_ATOL)
        elif g.dtype == np.float16:
            raise CheckFailed(f"{name}: expected {e.dtype}, got float16, which is too imprecise to check.")
    elif e.dtype.kind in "iu" and g.dtype.kind not in "iu":
        if g.dtype.kind == "f" and np.all(np.isfinite(g)) and np.all(g == np.round(g)):
            g = g.astype(np.int64)
        else:
            raise CheckFailed(f"{name}: expected integers ({e.dtype}), got dtype {g.dtype}.")

    g64 = g.astype(np.float64) if g.dtype.kind != "c" else g
    e64 = e.astype(np.float64) if e.dtype.kind != "c" else e

    # NaN and inf before values: they make every other statistic meaningless.
    bad_got = ~np.isfinite(g64)
    bad_exp = ~np.isfinite(e64)
    unexpected = bad_got & ~bad_exp
    if unexpected.any():
        where = _format_index(tuple(np.argwhere(unexpected)[0])) if g64.ndim else "()"
        kinds = "NaN" if np.isnan(g64[unexpected]).all() else ("inf" if np.isinf(g64[unexpected]).all() else "NaN/inf")
        raise CheckFailed(
            f"{name}: {int(unexpected.sum())} of {g64.size} values are {kinds} (first at index {where}), "
            "where the expected values are finite. Hint: overflow in exp (shift by the max first), "
            "log of 0, or a division by zero?"
        )

    both_finite = ~bad_got & ~bad_exp
    nonfinite_mismatch = (bad_got | bad_exp) & ~((g64 == e64) | (np.isnan(g64) & np.isnan(e64)))
    diff = np.zeros_like(np.abs(e64), dtype=np.float64)
    diff[both_finite] = np.abs(g64[both_finite] - e64[both_finite])
    diff[nonfinite_mismatch] = np.inf  # e.g. expected inf, got 1: not a difference of 0
    allowed = atol + rtol * np.abs(np.where(both_finite, e64, 0.0))
    mismatch = (diff > allowed) | nonfinite_mismatch
    if not mismatch.any():
        return

    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(np.abs(e64) > 0, diff / np.abs(e64), np.inf * (diff > 0))
    worst_abs = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
    worst_rel = np.unravel_index(int(np.argmax(np.where(np.isfinite(rel), rel, -1))), rel.shape) if rel.ndim else ()
    lines = [
        f"{name}: values differ from the expected result.",
        f"  mismatched elements: {int(mismatch.sum())} of {mismatch.size}"
        + (f" (bar: |got - expected| <= {atol:g} + {rtol:g} * |expected|)" if state_bar else ""),
        f"  greatest absolute difference: {float(diff[worst_abs]):.6g} at index {_format_index(worst_abs)} "
        f"(got {float(g64[worst_abs]):.8g}, expected {float(e64[worst_abs]):.8g})",
    ]
    if np.isfinite(rel[worst_rel]):
        lines.append(f"  greatest relative difference: {float(rel[worst_rel]):.6g} at index {_format_index(worst_rel)}")
    for hint in _value_hints(g64, e64, rtol, atol, batch_size, mistakes):
        lines.append(f"  hint: {hint}")
    raise CheckFailed("\n".join(lines))


def check_scalar(name: str, got: Any, expected: float, *, rtol: float = 1e-7, atol: float = 1e-10, **kwargs) -> None:
    """``check_close`` for a single number (Python float, NumPy scalar, 0-d array or tensor)."""
    check_close(name, got, float(expected), rtol=rtol, atol=atol, **kwargs)


def check_shape(name: str, got: Any, shape: tuple) -> None:
    """Fail unless ``got`` is array-like with exactly ``shape``."""
    try:
        arr = to_numpy(got)
    except TypeError as exc:
        raise CheckFailed(f"{name}: expected an array of shape {shape}, got {exc}.") from None
    if tuple(arr.shape) != tuple(shape):
        raise CheckFailed(f"{name}: expected shape {tuple(shape)}, got shape {tuple(arr.shape)}.")


def check_unchanged(name: str, before: Any, after: Any) -> None:
    """Fail if a function modified an input array in place (``before`` is a copy taken earlier)."""
    b, a = to_numpy(before), to_numpy(after)
    if b.shape != a.shape or not np.array_equal(b, a, equal_nan=True):
        raise CheckFailed(
            f"{name}: modified its input in place. Hint: work on a copy (W = W.copy()) or write "
            "W = W - lr * dW instead of W -= lr * dW."
        )


def expect_raises(name: str, exc_type: type[BaseException], fn, *args, **kwargs) -> BaseException:
    """Fail unless ``fn(*args, **kwargs)`` raises ``exc_type``; return the exception."""
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - reported to the student
        raise CheckFailed(f"{name}: expected {exc_type.__name__}, but it raised {type(exc).__name__}: {exc}") from None
    raise CheckFailed(f"{name}: expected {exc_type.__name__}, but it returned normally.")
