"""Gradient oracles: centred finite differences in float64, and PyTorch autograd.

Two independent ways to know the right gradient:

* :func:`numerical_gradient` / :func:`numerical_gradient_array`: centred differences,
  ``(f(x + h) - f(x - h)) / 2h``, one element at a time, in float64. Slow, but they need
  nothing but the forward function.
* :func:`torch_gradients`: the same computation written in torch; autograd returns the exact
  gradients.

:func:`check_gradient` compares an analytic gradient with either and states the bar.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .checks import CheckFailed, check_close, describe_shape, to_numpy


def rel_error(a: Any, b: Any, eps: float = 1e-12) -> float:
    """The largest elementwise relative error ``|a - b| / max(|a| + |b|, eps)``, in float64.

    This is CS231n's measure: about 1e-7 or less for a correct float64 gradient checked by
    centred differences, 1e-2 or more for a wrong one.
    """
    a64, b64 = to_numpy(a).astype(np.float64), to_numpy(b).astype(np.float64)
    if a64.shape != b64.shape:
        raise ValueError(f"rel_error: shapes differ, {a64.shape} vs {b64.shape}")
    if a64.size == 0:
        return 0.0
    return float(np.max(np.abs(a64 - b64) / np.maximum(np.abs(a64) + np.abs(b64), eps)))


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Centred-difference gradient of a scalar function.

    Args:
        f: maps an array shaped like ``x`` to a scalar. It is called with ``x`` perturbed in
            place, so it must read ``x`` afresh on every call (not a copy taken earlier).
        x: float64 array of any shape; restored exactly on return.
        h: step size.

    Returns:
        ``grad``, float64 array with ``x``'s shape: ``d f / d x``.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient needs a float64 array (got {x.dtype}): float32 steps are too coarse")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        try:
            x[i] = old + h
            f_plus = float(f(x))
            x[i] = old - h
            f_minus = float(f(x))
        finally:
            x[i] = old  # restored even when f raises: callers reuse x for the next check
        grad[i] = (f_plus - f_minus) / (2 * h)
        it.iternext()
    return grad


def numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray,
                             h: float = 1e-6) -> np.ndarray:
    """Centred-difference gradient of an array function, given the upstream gradient ``dout``.

    Computes ``d/dx sum(f(x) * dout)``: the vector-Jacobian product a backward pass returns.

    Args:
        f: maps an array shaped like ``x`` to an array shaped like ``dout``.
        x: float64 array, perturbed in place and restored.
        dout: upstream gradient, same shape as ``f(x)``.
    """
    dout64 = np.asarray(dout, dtype=np.float64)
    return numerical_gradient(lambda z: float(np.sum(np.asarray(f(z), dtype=np.float64) * dout64)), x, h)


def numerical_gradients(loss: Callable[..., float], params: Sequence[np.ndarray],
                        h: float = 1e-6) -> list[np.ndarray]:
    """Centred-difference gradients of ``loss(*params)`` with respect to each of ``params``.

    Args:
        loss: maps arrays shaped like ``params`` (in order) to a scalar.
        params: float64 arrays; none is modified.

    Returns:
        One float64 gradient per parameter, each with that parameter's shape.
    """
    grads = []
    for i in range(len(params)):
        trial = [p.copy() for p in params]

        def loss_of_one(x, i=i, trial=trial):
            trial[i] = x
            return loss(*trial)

        grads.append(numerical_gradient(loss_of_one, params[i].copy(), h))
    return grads


def torch_gradients(fn: Callable[..., Any], *inputs: Any, dout: Any = None,
                    wrt: Sequence[int] | None = None) -> tuple[np.ndarray, ...]:
    """Exact gradients from PyTorch autograd, as float64 NumPy arrays.

    Args:
        fn: the computation written in torch; receives float64 tensors made from ``inputs``
            (in order) and returns a tensor.
        inputs: arrays (or numbers) to differentiate with respect to.
        dout: upstream gradient with ``fn``'s output shape; ``None`` means the output is a
            scalar (the loss).
        wrt: indices of the inputs to return gradients for (default: all).

    Returns:
        One gradient per selected input, each with that input's shape.
    """
    import torch

    tensors = [torch.tensor(to_numpy(x), dtype=torch.float64, requires_grad=True) for x in inputs]
    out = fn(*tensors)
    if dout is None:
        if out.numel() != 1:
            raise ValueError(f"torch_gradients: fn returned shape {tuple(out.shape)}; pass dout for a non-scalar output")
        out.reshape(()).backward()
    else:
        out.backward(torch.as_tensor(to_numpy(dout), dtype=torch.float64))
    chosen = range(len(tensors)) if wrt is None else wrt
    return tuple(
        (tensors[i].grad if tensors[i].grad is not None else torch.zeros_like(tensors[i])).numpy().copy()
        for i in chosen
    )


def check_gradient(name: str, analytic: Any, reference: Any, *, max_rel_error: float = 1e-7,
                   oracle: str = "centred differences", batch_size: int | None = None,
                   mistakes: dict | None = None, state_bar: bool = True) -> float:
    """Fail unless an analytic gradient matches a reference gradient; return the relative error.

    Shape, dtype and NaN are checked first (with hints such as "transposed" and "missing sum
    over the batch axis"); then the bar: ``rel_error(analytic, reference) < max_rel_error``.
    ``state_bar=False`` leaves the bar out of the message, for a caller that states it once for
    several gradients.
    """
    ref = to_numpy(reference).astype(np.float64)
    bar = f"(reference: {oracle}; bar: relative error below {max_rel_error:g})"
    # Shapes, NaN and the common mistakes get their explanation from check_close; a loose bar
    # there (never shown) so that only real disagreements reach the rel_error bar below.
    try:
        check_close(name, analytic, ref, rtol=1e-3, atol=1e-6, batch_size=batch_size, mistakes=mistakes,
                    check_container=False, state_bar=False)
    except CheckFailed as exc:
        raise CheckFailed(f"{exc}\n  {bar}" if state_bar else str(exc)) from None
    err = rel_error(analytic, ref)
    if not err < max_rel_error:
        raise CheckFailed(
            f"{name}: relative error {err:.3g}" + (f" against {oracle}; the bar is {max_rel_error:g}" if state_bar else "")
            + f". Shape {describe_shape(analytic)} is right, the values are close but not close enough: "
            "look for float32 intermediates or a small term left out."
        )
    return err
