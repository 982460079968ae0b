"""Checks for assignment 05, an LSTM from scratch (grading side: holds the answers).

Students write an LSTM layer twice, following the LSTM section of *Dive into Deep Learning*
(input gate i, forget gate f, input node g, output gate o, memory cell c, hidden state h), with
the gates stacked in PyTorch's order i, f, g, o so that the weights load straight into
``torch.nn.LSTM``:

    a = x @ W_ih.T + h_prev @ W_hh.T + b                  (N, 4H), blocks [i | f | g | o]
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
    c = f * c_prev + i * g;   h = o * tanh(c)

Part A, NumPy, shapes ``x (N, D)``, ``h, c (N, H)``, ``W_ih (4H, D)``, ``W_hh (4H, H)``, ``b (4H,)``:

    lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b)  -> h, c, cache
        cache = (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, c): a fixed layout, so that the
        grader can hand the kit's own cache to the student's backward pass
    lstm_step_backward(dh, dc, cache)                     -> dx, dh_prev, dc_prev, dW_ih, dW_hh, db
    lstm_forward(X, h0, c0, W_ih, W_hh, b)                X (N, T, D) -> Hs (N, T, H), (h_T, c_T), cache
        cache = [step cache of t = 0, ..., step cache of t = T-1]
    lstm_backward(dHs, cache, dhT=None, dcT=None)         -> dX, dh0, dc0, dW_ih, dW_hh, db
        the gradient of  sum(Hs * dHs) + sum(h_T * dhT) + sum(c_T * dcT)  (None counts as zeros):
        a loss on the final hidden state enters through dHs[:, -1] or dhT (h_T is Hs[:, -1]),
        a loss on the final cell state through dcT
    clip_gradients(grads, max_norm)                       -> clipped (list), total_norm (float)

Part B, PyTorch: ``lstm_step_torch`` (the step on tensors, -> h, c), the module
``LSTM(input_size, hidden_size)`` (parameters ``W_ih``, ``W_hh``, ``b``; ``forward(X, state=None)``
-> ``Hs (N, T, H), (h_T, c_T)``, batch-first), and a character-level language model trained on
the opening of *Coriolanus* (:func:`load_coriolanus`, shipped in this module: nothing downloads).

Oracles: ``torch.nn.LSTMCell`` and ``torch.nn.LSTM`` themselves (float64, through
``torch.func.functional_call`` with ``bias_ih = b`` and ``bias_hh = 0``) for values, PyTorch
autograd through them for gradients, centred differences in float64 (relative error below 1e-7),
and ``torch.nn.utils.clip_grad_norm_`` for clipping.

Each part is graded on its own: every check runs the student's function with the kit's own
versions of the OTHER functions of the notebook swapped into its namespace
(:func:`functions_swapped_in`), and hands it inputs made by the kit. ``lstm_step_backward`` gets
the kit's cache; ``lstm_forward`` runs with the kit's step; ``lstm_backward`` gets the kit's
caches and runs with the kit's ``lstm_step_backward``, so a mistake inside the step costs the
step's cells only, and a mistake in the loop through time (the cell-state gradient not carried
from step to step) costs the sequence cells only. The module runs with the kit's
``lstm_step_torch``. Only :func:`check_char_lm` judges the student's work together: the model the
notebook trained, evaluated by the grader on the held-out text. In the student kit the kit's parts
are published values only, so nothing is swapped: the student's own parts run, and a failure that
one of them may have caused says so (:func:`noting_own_parts`).

The checks leave torch's global random state as they found it (:func:`_torch_rng_kept`), so
grading a cell never changes what a later, seeded notebook cell computes.
"""
from __future__ import annotations

import contextlib
import itertools
import math
from typing import Any, Callable

import numpy as np

from ..answers import answer, grading_only, is_published_stub, unrecorded
from ..checks import CheckFailed, check_close, describe_call, describe_shape, kind_of, to_numpy
from ..gradcheck import numerical_gradients, torch_gradients
from ..grading.remote import run_in_kernel
from ..seeds import hidden_rng
from . import (call_student, check_all, check_gradients, close_or_explain, functions_swapped_in, linspace_grid,
               noting_own_parts, own_parts_note, passed, scope_word, unpack_results)

# Bars (DESIGN: tolerances by dtype; float32 answers get float32 bars from check_close).
VALUE_RTOL, VALUE_ATOL = 1e-7, 1e-10
GRAD_RTOL, GRAD_ATOL = 1e-7, 1e-10     # against autograd (exact)
FD_MAX_REL_ERROR = 1e-7                # against centred differences, CS231n's bar for float64
FD_STEP = 1e-5                         # rounding and truncation error both ~1e-11 at this step
FD_MIN_GRAD = 1e-2                     # FD cases are drawn so that every gradient entry is at least this big
MODULE_RTOL, MODULE_ATOL = 1e-5, 1e-5  # the module against torch.nn.LSTM, float32 (the bar)
MODULE_GRAD_RTOL, MODULE_GRAD_ATOL = 1e-4, 1e-5  # float32 gradients summed over time steps
CLIP_RTOL, CLIP_ATOL = 1e-6, 1e-12     # with or without PyTorch's 1e-6 in max_norm / (norm + 1e-6)
MAX_PERPLEXITY_FRACTION = 0.6          # the trained model's validation perplexity vs the unigram model's
VALIDATION_FRACTION = 0.1              # the last 10% of the text is held out

GATES = ("i", "f", "g", "o")
GATE_NAMES = {"i": "input gate i", "f": "forget gate f", "g": "input node g", "o": "output gate o"}
CACHE_NAMES = ("x", "h_prev", "c_prev", "W_ih", "W_hh", "i", "f", "g", "o", "c")
STEP_INPUTS = ("x", "h_prev", "c_prev", "W_ih", "W_hh", "b")
STEP_GRADS = ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db")
SEQ_GRADS = ("dX", "dh0", "dc0", "dW_ih", "dW_hh", "db")
GATE_ORDER_HINT = "gates in the wrong order — PyTorch's order is i, f, g, o"


# ---------------------------------------------------------------------------------------------
# torch, and leaving its random state alone
# ---------------------------------------------------------------------------------------------

def _torch():
    import torch
    return torch


def _t(x: Any):
    return _torch().as_tensor(np.asarray(x, dtype=np.float64))


@contextlib.contextmanager
def _torch_rng_kept():
    """Run the block, then put torch's CPU random state back: building an ``nn.LSTM`` (or the
    student's module) draws initial weights, and a check must not change what the notebook's
    next seeded cell computes."""
    torch = _torch()
    with torch.random.fork_rng(devices=[]):
        yield


def _np_copy(x: Any) -> np.ndarray:
    return np.array(x, dtype=np.float64, copy=True)


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------

def _public_weights(d: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed ``W_ih (4h, d), W_hh (4h, h), b (4h,)``: no symmetry, gates far from saturation."""
    return (linspace_grid(4 * h, d, lo=-0.9, hi=1.1), linspace_grid(4 * h, h, lo=0.8, hi=-1.0),
            linspace_grid(4 * h, lo=-0.5, hi=0.6) + 0.05)


def _random_weights(rng: np.random.Generator, d: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (rng.normal(size=(4 * h, d)) / np.sqrt(d), rng.normal(size=(4 * h, h)) / np.sqrt(h),
            0.5 * rng.normal(size=4 * h))


def _step_case_public(n: int, d: int, h: int) -> tuple[np.ndarray, ...]:
    """``(x, h_prev, c_prev, W_ih, W_hh, b)`` built from linspace."""
    return (linspace_grid(n, d, lo=-1.5, hi=1.2), 0.8 * linspace_grid(n, h, lo=0.9, hi=-0.7),
            linspace_grid(n, h, lo=-1.3, hi=1.6), *_public_weights(d, h))


def _step_case_random(rng: np.random.Generator, n: int, d: int, h: int) -> tuple[np.ndarray, ...]:
    return (rng.normal(size=(n, d)), np.tanh(rng.normal(size=(n, h))), rng.normal(size=(n, h)),
            *_random_weights(rng, d, h))


def _sizes(rng: np.random.Generator, n=(2, 6), d=(2, 6), h=(2, 6)) -> tuple[int, int, int]:
    return int(rng.integers(*n)), int(rng.integers(*d)), int(rng.integers(*h))


# The public step cases, (N, D, H); and sequence cases, (N, T, D, H).
PUBLIC_STEP_SIZES = ((3, 4, 5), (4, 3, 2))
PUBLIC_SEQ_SIZES = ((2, 4, 3, 4), (3, 3, 2, 3))


def _step_cases(hidden: bool, label: str):
    """Yield ``(x, h_prev, c_prev, W_ih, W_hh, b, dh, dc)``: two public cases, or three hidden ones."""
    if hidden:
        yield from _hidden_step_cases(label)
    else:
        for n, d, h in PUBLIC_STEP_SIZES:
            yield (*_step_case_public(n, d, h), linspace_grid(n, h, lo=1.1, hi=-0.8),
                   linspace_grid(n, h, lo=-0.6, hi=0.9) + 0.1)


@grading_only
def _hidden_step_cases(label: str):
    rng = hidden_rng(label)
    for _ in range(3):
        n, d, h = _sizes(rng)
        yield (*_step_case_random(rng, n, d, h), rng.normal(size=(n, h)), rng.normal(size=(n, h)))


def _seq_case_public(n: int, t: int, d: int, h: int) -> tuple[np.ndarray, ...]:
    """``(X, h0, c0, W_ih, W_hh, b, dHs, dhT, dcT)`` built from linspace."""
    return (linspace_grid(n, t, d, lo=-1.4, hi=1.3), 0.7 * linspace_grid(n, h, lo=-0.8, hi=1.0),
            linspace_grid(n, h, lo=1.2, hi=-1.1), *_public_weights(d, h), linspace_grid(n, t, h, lo=0.9, hi=-1.2),
            linspace_grid(n, h, lo=-0.7, hi=0.5) + 0.1, linspace_grid(n, h, lo=0.6, hi=-0.9))


def _seq_case_random(rng: np.random.Generator, n: int, t: int, d: int, h: int) -> tuple[np.ndarray, ...]:
    return (rng.normal(size=(n, t, d)), np.tanh(rng.normal(size=(n, h))), rng.normal(size=(n, h)),
            *_random_weights(rng, d, h), rng.normal(size=(n, t, h)), rng.normal(size=(n, h)), rng.normal(size=(n, h)))


def _seq_cases(hidden: bool, label: str):
    """Yield ``(X, h0, c0, W_ih, W_hh, b, dHs, dhT, dcT)``: public or hidden cases, T >= 2."""
    if hidden:
        yield from _hidden_seq_cases(label)
    else:
        for sizes in PUBLIC_SEQ_SIZES:
            yield _seq_case_public(*sizes)


@grading_only
def _hidden_seq_cases(label: str):
    rng = hidden_rng(label)
    for _ in range(3):
        n, d, h = _sizes(rng, n=(2, 5), d=(2, 5), h=(2, 5))
        yield _seq_case_random(rng, n, int(rng.integers(2, 7)), d, h)


# ---------------------------------------------------------------------------------------------
# Oracles: torch.nn.LSTMCell and torch.nn.LSTM, float64, weights put in by functional_call
# ---------------------------------------------------------------------------------------------

def _cell_module(d: int, h: int, dtype=None):
    torch = _torch()
    with _torch_rng_kept():
        return torch.nn.LSTMCell(d, h, dtype=dtype or torch.float64)


def _lstm_module(d: int, h: int, dtype=None):
    torch = _torch()
    with _torch_rng_kept():
        return torch.nn.LSTM(d, h, batch_first=True, dtype=dtype or torch.float64)


@answer
def _torch_cell(x, h_prev, c_prev, W_ih, W_hh, b):
    """``torch.nn.LSTMCell`` with ``bias_ih = b`` and ``bias_hh = 0``: ``(h, c)`` as tensors."""
    torch = _torch()
    cell = _cell_module(x.shape[1], h_prev.shape[1], dtype=x.dtype)
    params = {"weight_ih": W_ih, "weight_hh": W_hh, "bias_ih": b, "bias_hh": torch.zeros_like(b)}
    return torch.func.functional_call(cell, params, (x, (h_prev, c_prev)))


@answer
def _torch_lstm(X, h0, c0, W_ih, W_hh, b):
    """``torch.nn.LSTM(batch_first=True)``, one layer, ``bias_ih_l0 = b``, ``bias_hh_l0 = 0``:
    ``(Hs (N, T, H), h_T (N, H), c_T (N, H))`` as tensors."""
    torch = _torch()
    lstm = _lstm_module(X.shape[2], h0.shape[1], dtype=X.dtype)
    params = {"weight_ih_l0": W_ih, "weight_hh_l0": W_hh, "bias_ih_l0": b, "bias_hh_l0": torch.zeros_like(b)}
    Hs, (hT, cT) = torch.func.functional_call(lstm, params, (X, (h0[None], c0[None])))
    return Hs, hT[0], cT[0]


@answer
def _oracle_step(x, h_prev, c_prev, W_ih, W_hh, b) -> tuple[np.ndarray, np.ndarray]:
    torch = _torch()
    with torch.no_grad():
        h, c = _torch_cell(*(_t(v) for v in (x, h_prev, c_prev, W_ih, W_hh, b)))
    return h.numpy(), c.numpy()


@answer
def _oracle_step_grads(x, h_prev, c_prev, W_ih, W_hh, b, dh, dc) -> tuple[np.ndarray, ...]:
    """Autograd of ``sum(h * dh) + sum(c * dc)`` through ``nn.LSTMCell``: the six gradients."""
    dh_t, dc_t = _t(dh), _t(dc)

    def loss(*inputs):
        h, c = _torch_cell(*inputs)
        return (h * dh_t).sum() + (c * dc_t).sum()

    return torch_gradients(loss, x, h_prev, c_prev, W_ih, W_hh, b)


@answer
def _oracle_seq(X, h0, c0, W_ih, W_hh, b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    torch = _torch()
    with torch.no_grad():
        Hs, hT, cT = _torch_lstm(*(_t(v) for v in (X, h0, c0, W_ih, W_hh, b)))
    return Hs.numpy(), hT.numpy(), cT.numpy()


@answer
def _oracle_seq_grads(X, h0, c0, W_ih, W_hh, b, dHs, dhT, dcT) -> tuple[np.ndarray, ...]:
    """Autograd of ``sum(Hs * dHs) + sum(h_T * dhT) + sum(c_T * dcT)`` through ``nn.LSTM``."""
    g = [_t(v) for v in (dHs, dhT, dcT)]

    def loss(*inputs):
        Hs, hT, cT = _torch_lstm(*inputs)
        return (Hs * g[0]).sum() + (hT * g[1]).sum() + (cT * g[2]).sum()

    return torch_gradients(loss, X, h0, c0, W_ih, W_hh, b)


# ---------------------------------------------------------------------------------------------
# The kit's own parts: stand-ins for the student's while another part is graded, and the
# formulas behind the known-mistake hints
# ---------------------------------------------------------------------------------------------

@answer
def _reference_sigmoid(z):
    """Stable logistic sigmoid, 1 / (1 + exp(-z)), with no overflow for |z| = 1000."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(z)))


@answer
def _step_forward_formula(x, h_prev, c_prev, W_ih, W_hh, b, *, order: str = "ifgo", variant: str = ""):
    """The step, reading the four row blocks of the weights in ``order``; ``variant`` names a
    mistake: "no_tanh_c" (h = o * c), "old_cell" (h = o * tanh(c_prev)), "g_sigmoid" (sigmoid on
    the input node), "no_bias"."""
    H = h_prev.shape[1]
    a = x @ W_ih.T + h_prev @ W_hh.T + (0.0 if variant == "no_bias" else b)
    block = {gate: a[:, k * H:(k + 1) * H] for k, gate in enumerate(order)}
    i, f, o = _reference_sigmoid(block["i"]), _reference_sigmoid(block["f"]), _reference_sigmoid(block["o"])
    g = _reference_sigmoid(block["g"]) if variant == "g_sigmoid" else np.tanh(block["g"])
    c = f * c_prev + i * g
    h = o * {"no_tanh_c": c, "old_cell": np.tanh(c_prev)}.get(variant, np.tanh(c))
    return h, c, (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, c)


@answer
def _reference_step_forward(x, h_prev, c_prev, W_ih, W_hh, b):
    return _step_forward_formula(x, h_prev, c_prev, W_ih, W_hh, b)


@answer
def _step_backward_formula(dh, dc, cache, *, variant: str = ""):
    """The step's backward pass; ``variant`` names a mistake: "no_forget_bias" (db's f block
    zero), "no_tanh_grad" (dc_total = dc + dh * o), "no_dh_to_c" (dc_total = dc),
    "dc_prev_ungated" (dc_prev = dc_total, the forget gate left out)."""
    x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, c = cache
    H = h_prev.shape[1]
    tc = np.tanh(c)
    do = dh * tc
    dc_total = dc + {"no_tanh_grad": dh * o, "no_dh_to_c": 0.0}.get(variant, dh * o * (1.0 - tc ** 2))
    da = np.concatenate([dc_total * g * i * (1.0 - i), dc_total * c_prev * f * (1.0 - f),
                         dc_total * i * (1.0 - g ** 2), do * o * (1.0 - o)], axis=1)
    db = da.sum(axis=0)
    if variant == "no_forget_bias":
        db[H:2 * H] = 0.0
    dc_prev = dc_total if variant == "dc_prev_ungated" else dc_total * f
    return da @ W_ih, da @ W_hh, dc_prev, da.T @ x, da.T @ h_prev, db


@answer
def _reference_step_backward(dh, dc, cache):
    return _step_backward_formula(dh, dc, cache)


@answer
def _seq_forward_formula(X, h0, c0, W_ih, W_hh, b, *, variant: str = ""):
    """``lstm_forward`` with the kit's step; ``variant``: "zero_state" (h0, c0 ignored),
    "reversed" (time run backwards), "cells_as_Hs" (Hs holds the cell states)."""
    h, c = (np.zeros_like(h0), np.zeros_like(c0)) if variant == "zero_state" else (h0, c0)
    T = X.shape[1]
    steps = range(T - 1, -1, -1) if variant == "reversed" else range(T)
    Hs, Cs, cache = np.zeros((X.shape[0], T, h0.shape[1])), np.zeros((X.shape[0], T, h0.shape[1])), []
    for t in steps:
        h, c, step_cache = _reference_step_forward(X[:, t], h, c, W_ih, W_hh, b)
        Hs[:, t], Cs[:, t] = h, c
        cache.append(step_cache)
    return (Cs if variant == "cells_as_Hs" else Hs), (h, c), cache


@answer
def _reference_lstm_forward(X, h0, c0, W_ih, W_hh, b):
    return _seq_forward_formula(X, h0, c0, W_ih, W_hh, b)


@answer
def _seq_backward_formula(dHs, cache, dhT=None, dcT=None, *, variant: str = ""):
    """Backpropagation through time with the kit's step backward; ``variant`` names a mistake:
    "no_dc_carry" (every step gets dc = 0: only dh is carried), "no_dh_carry" (every step gets
    dHs[:, t] only), "final_ignored" (dhT, dcT dropped), "last_weight_grads" (weight gradients
    overwritten, not summed, over the steps), "dX_reversed"."""
    T = len(cache)
    x0, h_prev0 = cache[0][0], cache[0][1]
    N, H = h_prev0.shape
    dh = np.zeros((N, H)) if dhT is None or variant == "final_ignored" else np.array(dhT, dtype=np.float64)
    dc = np.zeros((N, H)) if dcT is None or variant == "final_ignored" else np.array(dcT, dtype=np.float64)
    dX = np.zeros((N, T, x0.shape[1]))
    dW_ih, dW_hh, db = np.zeros_like(cache[0][3]), np.zeros_like(cache[0][4]), np.zeros(4 * H)
    for t in range(T - 1, -1, -1):
        dh_in = dHs[:, t] if variant == "no_dh_carry" else dHs[:, t] + dh
        dc_in = np.zeros((N, H)) if variant == "no_dc_carry" else dc
        dx, dh, dc, dWi, dWh, dbt = _reference_step_backward(dh_in, dc_in, cache[t])
        dX[:, t] = dx
        if variant == "last_weight_grads":
            dW_ih, dW_hh, db = dWi, dWh, dbt
        else:
            dW_ih, dW_hh, db = dW_ih + dWi, dW_hh + dWh, db + dbt
    if variant == "dX_reversed":
        dX = dX[:, ::-1]
    return dX, dh, dc, dW_ih, dW_hh, db


@answer
def _reference_lstm_backward(dHs, cache, dhT=None, dcT=None):
    return _seq_backward_formula(dHs, cache, dhT, dcT)


@answer
def _reference_clip_gradients(grads, max_norm):
    """``torch.nn.utils.clip_grad_norm_``'s rule: scale every array by min(1, max_norm / (norm + 1e-6))."""
    total = float(np.sqrt(sum(np.sum(np.asarray(g, dtype=np.float64) ** 2) for g in grads)))
    scale = min(1.0, max_norm / (total + 1e-6))
    return [np.asarray(g) * scale for g in grads], total


@answer
def _step_torch_formula(x, h_prev, c_prev, W_ih, W_hh, b, *, order: str = "ifgo"):
    torch = _torch()
    H = h_prev.shape[1]
    a = x @ W_ih.T + h_prev @ W_hh.T + b
    block = {gate: a[:, k * H:(k + 1) * H] for k, gate in enumerate(order)}
    c = torch.sigmoid(block["f"]) * c_prev + torch.sigmoid(block["i"]) * torch.tanh(block["g"])
    return torch.sigmoid(block["o"]) * torch.tanh(c), c


@answer
def _reference_step_torch(x, h_prev, c_prev, W_ih, W_hh, b):
    return _step_torch_formula(x, h_prev, c_prev, W_ih, W_hh, b)


REFERENCE_PARTS: dict[str, Callable] = {
    "sigmoid": _reference_sigmoid,
    "lstm_step_forward": _reference_step_forward,
    "lstm_step_backward": _reference_step_backward,
    "lstm_forward": _reference_lstm_forward,
    "lstm_backward": _reference_lstm_backward,
    "clip_gradients": _reference_clip_gradients,
    "lstm_step_torch": _reference_step_torch,
}


def _other_parts(graded: str | None) -> dict[str, Callable]:
    """The kit's parts but ``graded`` (the one under test, which may call itself by name)."""
    return {k: v for k, v in REFERENCE_PARTS.items() if k != graded}


def reference_parts(fn: Callable, graded: str | None = None):
    """The kit's functions in place of the student's, while ``fn`` runs: all of them but ``graded``
    (the one under test, which may call itself by name)."""
    return functions_swapped_in(fn, _other_parts(graded))


# ---------------------------------------------------------------------------------------------
# Hints: known mistakes, and which gate blocks are wrong
# ---------------------------------------------------------------------------------------------

def _order_text(order: str) -> str:
    return ", ".join(order)


def _wrong_orders() -> list[str]:
    """Every order of the four gates but PyTorch's, CS231n's i, f, o, g first."""
    rest = ["".join(p) for p in itertools.permutations("ifgo") if "".join(p) not in ("ifgo", "ifog")]
    return ["ifog"] + rest


def _order_hint(order: str) -> str:
    source = " (CS231n's order)" if order == "ifog" else ""
    return (f"{GATE_ORDER_HINT}: the row blocks 0:H, H:2H, 2H:3H, 3H:4H of W_ih, W_hh and b hold i, f, g, o; "
            f"yours reads them as {_order_text(order)}{source}")


@answer
def _step_forward_mistakes(x, h_prev, c_prev, W_ih, W_hh, b) -> tuple[dict, dict]:
    """``({hint: h}, {hint: c})`` for the known mistakes of the step's forward pass."""
    hs, cs = {}, {}

    def add(hint: str, **kwargs) -> None:
        h, c, _ = _step_forward_formula(x, h_prev, c_prev, W_ih, W_hh, b, **kwargs)
        hs[hint], cs[hint] = h, c

    add("h = o * c: the tanh on the cell state is missing before the output gate; h = o * tanh(c)",
        variant="no_tanh_c")
    add("h was computed from the OLD cell state: h = o * tanh(c), with the new c = f * c_prev + i * g",
        variant="old_cell")
    add("the input node g uses sigmoid; it takes tanh (values in (-1, 1)), the three gates take sigmoid",
        variant="g_sigmoid")
    add("the bias b is missing", variant="no_bias")
    for order in _wrong_orders():
        add(_order_hint(order), order=order)
    # h = o * c leaves c right: only h's hint should speak of it.
    cs = {k: v for k, v in cs.items() if not k.startswith("h = o * c") and not k.startswith("h was computed")}
    return hs, cs


def _gate_blocks_note(name: str, got: Any, expected: np.ndarray, H: int) -> str:
    """For a gradient with 4H rows (dW_ih, dW_hh, db): which gates' row blocks are wrong, or ""."""
    try:
        g = np.asarray(to_numpy(got), dtype=np.float64)
    except (TypeError, ValueError):
        return ""
    if g.shape != expected.shape or expected.shape[0] != 4 * H:
        return ""
    wrong, zero = [], []
    for k, gate in enumerate(GATES):
        rows = slice(k * H, (k + 1) * H)
        if not np.allclose(g[rows], expected[rows], rtol=1e-6, atol=1e-9):
            wrong.append(gate)
            if not np.any(g[rows]) and np.any(expected[rows]):
                zero.append(gate)
    if not wrong or len(wrong) == 4:
        return ""
    blocks = ", ".join(f"{GATE_NAMES[gate]} (rows {GATES.index(gate)}H:{GATES.index(gate) + 1}H)" for gate in wrong)
    right = ", ".join(gate for gate in GATES if gate not in wrong)
    note = f"{name}: only the block(s) of the {blocks} are wrong; those of {right} are right"
    if zero:
        note += (f". The {' and '.join(GATE_NAMES[gate] for gate in zero)} block is all zeros: that gate's "
                 f"gradient was dropped")
    return note


def _close_with_blocks(name: str, got: Any, expected: np.ndarray, H: int, mistakes: dict, **kwargs) -> None:
    """``check_close``, adding which gate blocks are wrong when no known mistake explains the values."""
    try:
        check_close(name, got, expected, **kwargs)
    except CheckFailed:
        try:
            check_close(name, got, expected, mistakes=mistakes, **kwargs)
        except CheckFailed as exc:
            msg = str(exc)
            note = "" if "hint:" in msg else _gate_blocks_note(name, got, expected, H)
            raise CheckFailed(msg + (f"\n  hint: {note}" if note else "")) from None


@answer
def _step_backward_mistakes(dh, dc, cache) -> list[dict]:
    """Per gradient, ``{hint: wrong value}`` for the known mistakes of the step's backward pass."""
    variants = {v: _step_backward_formula(dh, dc, cache, variant=v)
                for v in ("no_forget_bias", "no_tanh_grad", "no_dh_to_c", "dc_prev_ungated")}
    hints = {
        "no_forget_bias": "db's forget-gate block db[H:2H] is zero: the forget gate's bias gradient was dropped; "
                          "db = da.sum(axis=0) over all four gate blocks",
        "no_tanh_grad": "the derivative of tanh(c) is missing where dh reaches the cell: "
                        "dc_total = dc + dh * o * (1 - tanh(c)**2)",
        "no_dh_to_c": "the gradient from dh through h = o * tanh(c) into c is missing: "
                      "dc_total = dc + dh * o * (1 - tanh(c)**2)",
        "dc_prev_ungated": "dc_prev must pass through the forget gate: dc_prev = dc_total * f",
    }
    out = []
    for k in range(len(STEP_GRADS)):
        m = {}
        for v, wrong in variants.items():
            if v == "no_forget_bias" and STEP_GRADS[k] != "db":
                continue
            m[hints[v]] = wrong[k]
        out.append(m)
    return out


@answer
def _seq_backward_mistakes(dHs, X, h0, c0, W_ih, W_hh, b, dhT, dcT) -> list[dict]:
    """Per gradient of ``lstm_backward``, ``{hint: wrong value}`` for the known mistakes, on the kit's
    caches of the sequence ``X, h0, c0, W_ih, W_hh, b``."""
    cache = _reference_lstm_forward(X, h0, c0, W_ih, W_hh, b)[2]
    hints = {
        "no_dc_carry": "the cell-state gradient is not carried across time steps (only dh is): step t's "
                       "lstm_step_backward must receive the dc_prev that step t+1 returned (dcT at the last step), "
                       "not zeros — the memory cell carries gradient straight back through c_t = f_t * c_{t-1} + ...",
        "no_dh_carry": "the hidden-state gradient is not carried across time steps: step t receives "
                       "dHs[:, t] + the dh_prev that step t+1 returned",
        "final_ignored": "dhT and dcT are ignored: start the loop with dh = dhT and dc = dcT (zeros when None)",
        "last_weight_grads": "the weight gradients are overwritten at every step instead of summed over the "
                             "time steps (the same W_ih, W_hh, b are used at every step)",
        "dX_reversed": "dX is in reversed time order: dX[:, t] belongs to X[:, t]",
    }
    variants = {v: _seq_backward_formula(dHs, cache, dhT, dcT, variant=v) for v in hints}
    return [{hints[v]: wrong[k] for v, wrong in variants.items()} for k in range(len(SEQ_GRADS))]


# ---------------------------------------------------------------------------------------------
# Part A, NumPy: the step
# ---------------------------------------------------------------------------------------------

def _step_label(name: str, **inputs) -> str:
    return describe_call(name, **inputs)


def check_lstm_step_forward(lstm_step_forward, hidden: bool = False) -> None:
    """``lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b)`` -> ``h (N, H), c (N, H), cache``.

    ``h`` and ``c`` are compared with ``torch.nn.LSTMCell`` in float64 (weights ``W_ih``,
    ``W_hh``, ``bias_ih = b``, ``bias_hh = 0``), relative error below 1e-7; ``cache`` must be the
    tuple ``(x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, c)``. Runs with the kit's ``sigmoid``.
    """
    count = 0
    with noting_own_parts(lstm_step_forward, _other_parts("lstm_step_forward")):
        for x, h_prev, c_prev, W_ih, W_hh, b, _, _ in _step_cases(hidden, "lstm_step_forward"):
            inputs = (x, h_prev, c_prev, W_ih, W_hh, b)
            label = _step_label("lstm_step_forward", **dict(zip(STEP_INPUTS, inputs)))
            h_exp, c_exp = _oracle_step(*inputs)
            with reference_parts(lstm_step_forward, "lstm_step_forward"):
                result = call_student("lstm_step_forward", lstm_step_forward, *(_np_copy(v) for v in inputs))
            h, c, cache = unpack_results(label, result, ("h", "c", "cache"))
            hints: list[tuple[dict, dict]] = []

            def mistakes(k: int) -> dict:
                if not hints:
                    hints.append(_step_forward_mistakes(*inputs))
                return hints[0][k]

            check_all(label, [
                ("h", lambda: close_or_explain("h", h, h_exp, lambda: mistakes(0), rtol=VALUE_RTOL,
                                               atol=VALUE_ATOL)),
                ("c", lambda: close_or_explain("c", c, c_exp, lambda: mistakes(1), rtol=VALUE_RTOL,
                                               atol=VALUE_ATOL)),
            ])
            _check_cache(label, cache, _reference_step_forward(*inputs)[2])
            count += 1
    passed(f"lstm_step_forward matches torch.nn.LSTMCell (float64) on {count} {scope_word(hidden)} inputs, "
           "and its cache holds (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, c)")


def _check_cache(label: str, cache: Any, expected: tuple) -> None:
    layout = "(x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, c)"
    if not isinstance(cache, (tuple, list)) or len(cache) != len(CACHE_NAMES):
        size = f"a {type(cache).__name__} of {len(cache)} items" if isinstance(cache, (tuple, list)) else \
            f"a {kind_of(cache)}"
        raise CheckFailed(f"{label} -> cache: expected the tuple {layout} (10 items), got {size}. h and c are "
                          "right; the grader hands this layout to lstm_step_backward, so keep exactly this order: "
                          "return h, c, (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, c)")
    check_all(f"{label} -> cache {layout}", [
        (name, lambda k=k, name=name: check_close(f"cache[{k}] ({name})", cache[k], expected[k], rtol=VALUE_RTOL,
                                                 atol=VALUE_ATOL, check_container=False))
        for k, name in enumerate(CACHE_NAMES)])


def _call_step_backward(lstm_step_backward, dh, dc, cache):
    label = (_step_label("lstm_step_backward", dh=dh, dc=dc)[:-1]
             + f", cache from the kit's lstm_step_forward: x {describe_shape(cache[0])}, "
               f"h_prev {describe_shape(cache[1])}, W_ih {describe_shape(cache[3])})")
    with reference_parts(lstm_step_backward, "lstm_step_backward"):
        result = call_student("lstm_step_backward", lstm_step_backward, _np_copy(dh), _np_copy(dc),
                              tuple(_np_copy(v) for v in cache))
    return label, unpack_results(label, result, STEP_GRADS)


def _compare_grads(label: str, got: tuple, expected: tuple, names: tuple[str, ...], H: int,
                   mistakes: list[dict]) -> None:
    """All gradients against autograd, one message listing every wrong one (with gate-block notes)."""
    check_all(label, [
        (name, lambda k=k, name=name: _close_with_blocks(name, got[k], expected[k], H, mistakes[k], rtol=GRAD_RTOL,
                                                        atol=GRAD_ATOL))
        for k, name in enumerate(names)])


def check_lstm_step_backward(lstm_step_backward, hidden: bool = False) -> None:
    """``lstm_step_backward(dh, dc, cache)`` -> ``dx, dh_prev, dc_prev, dW_ih, dW_hh, db``.

    The gradients of ``sum(h * dh) + sum(c * dc)`` with respect to the step's six inputs,
    compared with PyTorch autograd through ``nn.LSTMCell`` (float64, relative error below 1e-7).
    ``cache`` comes from the kit's own forward step, so only the backward pass is graded here.
    """
    count = 0
    with noting_own_parts(lstm_step_backward, _other_parts("lstm_step_backward")):
        for x, h_prev, c_prev, W_ih, W_hh, b, dh, dc in _step_cases(hidden, "lstm_step_backward"):
            inputs = (x, h_prev, c_prev, W_ih, W_hh, b)
            cache = _reference_step_forward(*inputs)[2]
            expected = _oracle_step_grads(*inputs, dh, dc)
            label, got = _call_step_backward(lstm_step_backward, dh, dc, cache)
            _compare_grads(label, got, expected, STEP_GRADS, h_prev.shape[1],
                           _step_backward_mistakes(dh, dc, cache))
            count += 1
    passed(f"lstm_step_backward matches PyTorch autograd through nn.LSTMCell on {count} {scope_word(hidden)} inputs "
           "(dx, dh_prev, dc_prev, dW_ih, dW_hh, db)")


def _step_loss(dh, dc):
    def loss(*inputs):
        h, c, _ = _reference_step_forward(*inputs)
        return float(np.sum(h * dh) + np.sum(c * dc))
    return loss


def _well_conditioned(grads) -> bool:
    return min(float(np.min(np.abs(g))) for g in grads) >= FD_MIN_GRAD


def _fd_step_case(hidden: bool):
    """A step (N = 3, D = 3, H = 2 in public) whose six gradients have every entry >= FD_MIN_GRAD,
    drawn again and again (deterministically) until they do: a tiny but correct entry could
    otherwise miss the 1e-7 relative bar by rounding alone."""
    if hidden:
        return _hidden_fd_step_case()
    return _public_fd_step_case(20505)


@answer
def _public_fd_step_case(seed: int):
    """The public case: the first step (N = 3, D = 3, H = 2) drawn from ``np.random.default_rng(seed)``
    whose gradients by the kit's step are all >= FD_MIN_GRAD."""
    return _well_conditioned_step(np.random.default_rng(seed), lambda rng: (3, 3, 2))


@grading_only
def _hidden_fd_step_case():
    return _well_conditioned_step(hidden_rng("lstm_step_backward_finite_differences"),
                                  lambda rng: _sizes(rng, n=(2, 4), d=(2, 4), h=(2, 4)))


def _well_conditioned_step(rng: np.random.Generator, sizes: Callable):
    """The first step drawn from ``rng`` (sizes ``sizes(rng)``) whose gradients are all >= FD_MIN_GRAD."""
    for _ in range(5000):
        n, d, h = sizes(rng)
        inputs = _step_case_random(rng, n, d, h)
        dh, dc = rng.normal(size=(n, h)), rng.normal(size=(n, h))
        if _well_conditioned(_reference_step_backward(dh, dc, _reference_step_forward(*inputs)[2])):
            return inputs, dh, dc
    raise RuntimeError("no well-conditioned finite-difference case found")  # pragma: no cover


@answer
def _numeric_step_gradients(x, h_prev, c_prev, W_ih, W_hh, b, dh, dc) -> list[np.ndarray]:
    """Centred differences (step FD_STEP) of ``sum(h * dh) + sum(c * dc)`` through the kit's forward step."""
    return numerical_gradients(_step_loss(dh, dc), [x, h_prev, c_prev, W_ih, W_hh, b], h=FD_STEP)


def check_lstm_step_backward_finite_differences(lstm_step_backward, hidden: bool = False) -> None:
    """``lstm_step_backward``'s six gradients against centred differences (h = 1e-5) of
    ``sum(h * dh) + sum(c * dc)`` computed with the kit's forward step, in float64; the bar is
    CS231n's: the largest elementwise relative error below 1e-7."""
    inputs, dh, dc = _fd_step_case(hidden)
    cache = _reference_step_forward(*inputs)[2]
    with noting_own_parts(lstm_step_backward, _other_parts("lstm_step_backward")):
        label, got = _call_step_backward(lstm_step_backward, dh, dc, cache)
        numeric = _numeric_step_gradients(*inputs, dh, dc)
        errors = check_gradients(label, got, numeric, STEP_GRADS, oracle=f"centred differences (h = {FD_STEP:g})",
                                 max_rel_error=FD_MAX_REL_ERROR, batch_size=None,
                                 mistakes=_step_backward_mistakes(dh, dc, cache))
    worst = max(errors.values())
    n, h = dh.shape
    detail = f" (largest relative error {worst:.1e})" if hidden else ""
    passed(f"lstm_step_backward agrees with centred differences (h = {FD_STEP:g}) on a {scope_word(hidden)} step "
           f"with N = {n}, H = {h}: relative error below {FD_MAX_REL_ERROR:g} for all six gradients{detail}")


# ---------------------------------------------------------------------------------------------
# Part A, NumPy: the sequence
# ---------------------------------------------------------------------------------------------

def _seq_label(X, h0, c0, W_ih, W_hh, b) -> str:
    return describe_call("lstm_forward", X=X, h0=h0, c0=c0, W_ih=W_ih, W_hh=W_hh, b=b)


def check_lstm_forward(lstm_forward, hidden: bool = False) -> None:
    """``lstm_forward(X, h0, c0, W_ih, W_hh, b)``: ``X (N, T, D)`` -> ``Hs (N, T, H), (h_T, c_T), cache``.

    Compared with ``torch.nn.LSTM(batch_first=True)`` in float64 (relative error below 1e-7).
    Runs with the kit's ``lstm_step_forward``, so this cell grades the loop over time alone.
    ``cache`` must be the list of the T step caches in time order: the kit's ``lstm_backward``
    run on it must give autograd's gradients.
    """
    count = 0
    parts = _other_parts("lstm_forward")
    with noting_own_parts(lstm_forward, parts):
        for X, h0, c0, W_ih, W_hh, b, dHs, dhT, dcT in _seq_cases(hidden, "lstm_forward"):
            inputs = (X, h0, c0, W_ih, W_hh, b)
            label = _seq_label(*inputs)
            Hs_exp, hT_exp, cT_exp = _oracle_seq(*inputs)
            with reference_parts(lstm_forward, "lstm_forward"):
                result = call_student("lstm_forward", lstm_forward, *(_np_copy(v) for v in inputs))
            Hs, final, cache = unpack_results(label, result, ("Hs", "(h_T, c_T)", "cache"))
            hT, cT = unpack_results(f"{label} -> (h_T, c_T)", final, ("h_T", "c_T"))
            hints: list[tuple[dict, dict, dict]] = []

            def mistakes(k: int) -> dict:
                if not hints:
                    hints.append(_lstm_forward_mistakes(*inputs))
                return hints[0][k]

            check_all(label, [
                ("Hs", lambda: close_or_explain("Hs", Hs, Hs_exp, lambda: mistakes(0), rtol=VALUE_RTOL,
                                                atol=VALUE_ATOL)),
                ("h_T", lambda: close_or_explain("h_T", hT, hT_exp, lambda: mistakes(1), rtol=VALUE_RTOL,
                                                 atol=VALUE_ATOL)),
                ("c_T", lambda: close_or_explain("c_T", cT, cT_exp, lambda: mistakes(2), rtol=VALUE_RTOL,
                                                 atol=VALUE_ATOL)),
            ])
            _check_seq_cache(label, cache, inputs, dHs, dhT, dcT)
            count += 1
    whose = "your own" if own_parts_note(lstm_forward, parts) else "the kit's"
    passed(f"lstm_forward matches torch.nn.LSTM(batch_first=True) (float64) on {count} {scope_word(hidden)} "
           f"sequences, and its cache drives backpropagation through time (run with {whose} lstm_step_forward)")


@answer
def _lstm_forward_mistakes(X, h0, c0, W_ih, W_hh, b) -> tuple[dict, dict, dict]:
    """``({hint: Hs}, {hint: h_T}, {hint: c_T})`` for the known mistakes of the loop through time."""
    Hs_exp = _oracle_seq(X, h0, c0, W_ih, W_hh, b)[0]
    variants = {v: _seq_forward_formula(X, h0, c0, W_ih, W_hh, b, variant=v)
                for v in ("zero_state", "reversed", "cells_as_Hs")}
    zero = "h0 and c0 are ignored: the first step must start from the given h0, c0, not zeros"
    rev = "time runs backwards: step t = 0 first, X[:, t] at step t"
    return ({zero: variants["zero_state"][0], rev: variants["reversed"][0],
             "Hs holds the cell states c; it must hold the hidden states h": variants["cells_as_Hs"][0],
             "Hs is (N, T, H) with time on axis 1 (batch-first)": np.swapaxes(Hs_exp, 0, 1)},
            {zero: variants["zero_state"][1][0], "h_T is the state after the FIRST step": Hs_exp[:, 0],
             "h_T is h0, the state before the loop: return the state after the last step": h0},
            {zero: variants["zero_state"][1][1],
             "c_T is c0, the state before the loop: return the cell state after the last step": c0})


def _check_seq_cache(label: str, cache: Any, inputs: tuple, dHs, dhT, dcT) -> None:
    """The cache must be the T step caches, in time order: the kit's BPTT on it gives autograd's gradients
    (in the student kit, which cannot run the kit's BPTT: it must equal the kit's caches)."""
    T = inputs[0].shape[1]
    if not isinstance(cache, (list, tuple)) or len(cache) != T:
        got = f"a {type(cache).__name__} of {len(cache)} items" if isinstance(cache, (list, tuple)) else \
            f"a {kind_of(cache)}"
        raise CheckFailed(f"{label} -> cache: expected a list of T = {T} step caches (one per time step, the "
                          f"cache each lstm_step_forward call returned), got {got}.")
    kit_cache = _reference_lstm_forward(*inputs)[2]
    if is_published_stub(_reference_lstm_backward):
        # The student kit cannot run the kit's backward pass on the student's cache (it only has published
        # values): it compares the cache with the kit's own, step by step.
        _compare_seq_cache(label, cache, kit_cache)
        return
    expected = _oracle_seq_grads(*inputs, dHs, dhT, dcT)
    try:
        # On the student's cache: no public check's answer, so never recorded.
        got = unrecorded(_reference_lstm_backward)(dHs, [tuple(_np_copy(v) for v in step) for step in cache],
                                                   dhT, dcT)
    except Exception as exc:  # noqa: BLE001 - a malformed cache, reported to the student
        raise CheckFailed(f"{label} -> cache: the kit's lstm_backward could not use it ({type(exc).__name__}: {exc}). "
                          "cache[t] must be the cache that lstm_step_forward returned at step t.") from None
    for k, name in enumerate(SEQ_GRADS):
        try:
            check_close(name, got[k], expected[k], rtol=1e-6, atol=1e-9)
        except CheckFailed:
            raise CheckFailed(f"{label} -> cache: backpropagation through time on your cache gives the wrong {name}. "
                              "cache[t] must be the cache of step t, in time order (cache[0] for X[:, 0]).") from None


def _compare_seq_cache(label: str, cache: list, kit_cache: list) -> None:
    """The student kit's check of a sequence cache: step t's cache must be the kit's (within 1e-6)."""
    for t, (step, kit_step) in enumerate(zip(cache, kit_cache)):
        if not isinstance(step, (tuple, list)) or len(step) != len(CACHE_NAMES):
            raise CheckFailed(f"{label} -> cache: cache[{t}] is not a step cache "
                              "(x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, c), so lstm_backward could not use it. "
                              "cache[t] must be the cache that lstm_step_forward returned at step t.")
        for k, name in enumerate(CACHE_NAMES):
            try:
                check_close(name, step[k], kit_step[k], rtol=1e-6, atol=1e-9, check_container=False)
            except CheckFailed:
                raise CheckFailed(f"{label} -> cache: cache[{t}][{k}] ({name}) is not the {name} of step {t}. "
                                  "cache[t] must be the cache of step t, in time order (cache[0] for X[:, 0]).") \
                    from None


def check_lstm_backward(lstm_backward, hidden: bool = False) -> None:
    """``lstm_backward(dHs, cache, dhT=None, dcT=None)`` -> ``dX, dh0, dc0, dW_ih, dW_hh, db``.

    The gradients of ``sum(Hs * dHs) + sum(h_T * dhT) + sum(c_T * dcT)`` (None counts as zeros)
    compared with PyTorch autograd through ``nn.LSTM`` (float64, relative error below 1e-7), with
    and without ``dhT``/``dcT``. ``cache`` is the kit's (from its own ``lstm_forward``) and the
    kit's ``lstm_step_backward`` stands in for the student's, so this cell grades backpropagation
    through time itself: what is carried from step to step and what is summed.
    """
    count = 0
    parts = _other_parts("lstm_backward")
    with noting_own_parts(lstm_backward, parts):
        for k, (X, h0, c0, W_ih, W_hh, b, dHs, dhT, dcT) in enumerate(_seq_cases(hidden, "lstm_backward")):
            inputs = (X, h0, c0, W_ih, W_hh, b)
            cache = _reference_lstm_forward(*inputs)[2]
            for final in (True, False) if hidden or k == 0 else (False,):
                dh_T, dc_T = (dhT, dcT) if final else (None, None)
                zeros = np.zeros_like(h0)
                expected = _oracle_seq_grads(*inputs, dHs, zeros if dh_T is None else dh_T,
                                             zeros if dc_T is None else dc_T)
                label, got = _call_lstm_backward(lstm_backward, dHs, cache, dh_T, dc_T)
                _compare_grads(label, got, expected, SEQ_GRADS, h0.shape[1],
                               _seq_backward_mistakes(dHs, *inputs, dh_T, dc_T))
                count += 1
    run_with = ("your own lstm_step_backward and the kit's caches" if own_parts_note(lstm_backward, parts)
                else "the kit's lstm_step_backward and caches")
    passed(f"lstm_backward matches PyTorch autograd through nn.LSTM on {count} {scope_word(hidden)} sequences, with "
           f"and without dhT/dcT (run with {run_with})")


def _call_lstm_backward(lstm_backward, dHs, cache, dhT, dcT):
    N, T, H = dHs.shape
    extra = (f", dhT {describe_shape(dhT)}, dcT {describe_shape(dcT)}" if dhT is not None else
             ", dhT=None, dcT=None")
    label = (f"lstm_backward(dHs {describe_shape(dHs)}, cache from the kit's lstm_forward (T = {T} steps, "
             f"D = {cache[0][0].shape[1]}, H = {H}){extra})")
    kwargs = {"dhT": _np_copy(dhT), "dcT": _np_copy(dcT)} if dhT is not None else {}
    with reference_parts(lstm_backward, "lstm_backward"):
        result = call_student("lstm_backward", lstm_backward, _np_copy(dHs),
                              [tuple(_np_copy(v) for v in step) for step in cache], **kwargs)
    return label, unpack_results(label, result, SEQ_GRADS)


def _fd_seq_case(hidden: bool):
    """A sequence (N = 2, T = 3, D = 3, H = 2 in public) whose gradients all have entries >= FD_MIN_GRAD."""
    if hidden:
        return _hidden_fd_seq_case()
    return _public_fd_seq_case(20506)


@answer
def _public_fd_seq_case(seed: int):
    """The public case: the first sequence (N = 2, D = 3, H = 2, T = 3) drawn from
    ``np.random.default_rng(seed)`` whose gradients by the kit's BPTT are all >= FD_MIN_GRAD."""
    return _well_conditioned_seq(np.random.default_rng(seed), lambda rng: (2, 3, 2, 3))


@grading_only
def _hidden_fd_seq_case():
    def sizes(rng):
        n, d, h = _sizes(rng, n=(2, 4), d=(2, 4), h=(2, 4))
        return n, d, h, int(rng.integers(2, 5))

    return _well_conditioned_seq(hidden_rng("lstm_backward_finite_differences"), sizes)


def _well_conditioned_seq(rng: np.random.Generator, sizes: Callable):
    """The first sequence drawn from ``rng`` (``n, d, h, t = sizes(rng)``) whose gradients are all >= FD_MIN_GRAD."""
    for _ in range(5000):
        n, d, h, t = sizes(rng)
        case = _seq_case_random(rng, n, t, d, h)
        cache = _reference_lstm_forward(*case[:6])[2]
        if _well_conditioned(_reference_lstm_backward(case[6], cache, case[7], case[8])):
            return case
    raise RuntimeError("no well-conditioned finite-difference case found")  # pragma: no cover


@answer
def _numeric_seq_gradients(X, h0, c0, W_ih, W_hh, b, dHs, dhT, dcT) -> list[np.ndarray]:
    """Centred differences (step FD_STEP) of ``sum(Hs * dHs) + sum(h_T * dhT) + sum(c_T * dcT)`` through the
    kit's forward pass, for X, h0, c0, W_ih, W_hh, b."""
    def loss(*params):
        Hs, (hT, cT), _ = _reference_lstm_forward(*params)
        return float(np.sum(Hs * dHs) + np.sum(hT * dhT) + np.sum(cT * dcT))

    return numerical_gradients(loss, [X, h0, c0, W_ih, W_hh, b], h=FD_STEP)


def check_lstm_backward_finite_differences(lstm_backward, hidden: bool = False) -> None:
    """``lstm_backward``'s six gradients against centred differences (h = 1e-5) of
    ``sum(Hs * dHs) + sum(h_T * dhT) + sum(c_T * dcT)`` computed with the kit's forward pass, in
    float64; relative error below 1e-7. Runs with the kit's ``lstm_step_backward`` and caches."""
    X, h0, c0, W_ih, W_hh, b, dHs, dhT, dcT = _fd_seq_case(hidden)
    inputs = [X, h0, c0, W_ih, W_hh, b]
    cache = _reference_lstm_forward(*inputs)[2]
    numeric = _numeric_seq_gradients(*inputs, dHs, dhT, dcT)
    with noting_own_parts(lstm_backward, _other_parts("lstm_backward")):
        label, got = _call_lstm_backward(lstm_backward, dHs, cache, dhT, dcT)
        errors = check_gradients(label, got, numeric, SEQ_GRADS, oracle=f"centred differences (h = {FD_STEP:g})",
                                 max_rel_error=FD_MAX_REL_ERROR, batch_size=None,
                                 mistakes=_seq_backward_mistakes(dHs, *inputs, dhT, dcT))
    detail = f" (largest relative error {max(errors.values()):.1e})" if hidden else ""
    N, T, _ = X.shape
    passed(f"lstm_backward agrees with centred differences (h = {FD_STEP:g}) on a {scope_word(hidden)} sequence of "
           f"T = {T} steps, N = {N}: relative error below {FD_MAX_REL_ERROR:g} for all six gradients{detail}")


# ---------------------------------------------------------------------------------------------
# Part A: gradient clipping
# ---------------------------------------------------------------------------------------------

def _clip_cases(hidden: bool):
    """Yield ``(grads, max_norm)``. Every case that clips has a global norm >= 2 (so PyTorch's +1e-6
    is within the bar) and, where it can, tensors whose own norms are below max_norm: clipping each
    tensor on its own then changes nothing, and the global rule does. The rest are below max_norm
    and must come back unchanged."""
    if hidden:
        yield from _hidden_clip_cases()
    else:
        grads = [linspace_grid(4, 3, lo=-1.0, hi=0.8), linspace_grid(4, lo=0.9, hi=-0.6),
                 linspace_grid(2, 5, lo=-0.7, hi=1.1)]
        yield grads, 1.5                                                     # norms ~1.4, 0.8, 1.2; total ~2.0
        yield [3.0 * g for g in grads], 10.0                                 # below max_norm: unchanged
        yield [2.0 * grads[0], 5.0 * grads[2]], 1.0                          # every tensor above max_norm


@grading_only
def _hidden_clip_cases():
    rng = hidden_rng("clip_gradients")
    for _ in range(3):
        shapes = [tuple(int(s) for s in rng.integers(2, 6, size=int(rng.integers(1, 3))))
                  for _ in range(int(rng.integers(2, 5)))]
        grads = [rng.normal(size=s) for s in shapes]
        norms = [float(np.linalg.norm(g)) for g in grads]
        total = float(np.sqrt(sum(n ** 2 for n in norms)))
        grads = [g * (3.0 / total) for g in grads]                           # global norm 3
        norms = [n * (3.0 / total) for n in norms]
        yield grads, float(rng.uniform(max(norms) + 0.05, 2.95)) if max(norms) < 2.9 else 1.0
    yield [g * 0.5 for g in grads], 2.0 + float(rng.uniform(0.1, 1.0))        # global norm 1.5: no clipping


@answer
def _oracle_clip(grads, max_norm) -> tuple[list[np.ndarray], float]:
    torch = _torch()
    params = [torch.zeros(np.shape(g), dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = _t(g).clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad.numpy().copy() for p in params], float(total)


def _distinct(mistakes: dict) -> dict:
    """The candidates in order, leaving out any that equals an earlier one: the first (most specific)
    explanation of a value is the one a student sees."""
    kept: dict = {}
    for hint, value in mistakes.items():
        v = np.asarray(value, dtype=np.float64)
        if not any(np.shape(k) == v.shape and np.allclose(k, v, rtol=1e-9, atol=1e-12) for k in kept.values()):
            kept[hint] = v
    return kept


@answer
def _clip_mistakes(grads, max_norm) -> tuple[list[dict], dict]:
    """Per array ``{hint: wrong value}``, and ``{hint: wrong total}``."""
    norms = [float(np.linalg.norm(g)) for g in grads]
    total = float(np.sqrt(sum(n ** 2 for n in norms)))
    per_tensor = [g * min(1.0, max_norm / (n + 1e-6)) for g, n in zip(grads, norms)]
    always = [g * (max_norm / (total + 1e-6)) for g in grads]
    inverted = [g * min(1.0, total / max_norm) for g in grads]
    no_sqrt = [g * min(1.0, max_norm / (total ** 2)) for g in grads]
    per = []
    for k in range(len(grads)):
        per.append(_distinct({
            "clipped each tensor by its own norm: clip by the GLOBAL norm, sqrt of the sum of squares over every "
            "array together, and scale all arrays by the same factor": per_tensor[k],
            "scaled even though the global norm is below max_norm (that scales gradients UP): "
            "scale = min(1, max_norm / (norm + 1e-6))": always[k],
            "the scale is inverted: multiply by max_norm / norm, not norm / max_norm": inverted[k],
            "the norm is the square root of the sum of squares; yours has no square root": no_sqrt[k],
        }))
    totals = {"this is the sum of squares: the norm is its square root": total ** 2,
              "this is the sum of the arrays' norms; the global norm is sqrt(sum of their squared norms)": sum(norms),
              "this is the largest array's norm; the global norm takes every array": max(norms)}
    return per, totals


def check_clip_gradients(clip_gradients, hidden: bool = False) -> None:
    """``clip_gradients(grads, max_norm)`` -> ``(clipped, total_norm)``: ``grads`` a list of arrays,
    ``clipped`` the list scaled by ``min(1, max_norm / (total_norm + 1e-6))``, where
    ``total_norm`` is the norm of all the arrays together. Compared with
    ``torch.nn.utils.clip_grad_norm_`` (relative error below 1e-6, so the 1e-6 may be left out)."""
    count = 0
    for grads, max_norm in _clip_cases(hidden):
        shapes = ", ".join(describe_shape(g) for g in grads)
        label = f"clip_gradients(grads=[{len(grads)} arrays: {shapes}], max_norm={max_norm:g})"
        expected, total_exp = _oracle_clip(grads, max_norm)
        result = call_student("clip_gradients", clip_gradients, [_np_copy(g) for g in grads], max_norm)
        clipped, total = unpack_results(label, result, ("clipped", "total_norm"))
        if not isinstance(clipped, (list, tuple)) or len(clipped) != len(grads):
            got = f"{len(clipped)} items" if isinstance(clipped, (list, tuple)) else f"a {kind_of(clipped)}"
            raise CheckFailed(f"{label} -> clipped: expected a list of {len(grads)} arrays, one per gradient, got {got}.")
        per, totals = _clip_mistakes(grads, max_norm)
        check_all(label, [
            *((f"clipped[{k}]", lambda k=k: close_or_explain(f"clipped[{k}]", clipped[k], expected[k], lambda k=k: per[k],
                                                           rtol=CLIP_RTOL, atol=CLIP_ATOL))
              for k in range(len(grads))),
            ("total_norm", lambda: close_or_explain("total_norm", total, total_exp, lambda: totals, rtol=CLIP_RTOL,
                                                    atol=CLIP_ATOL, check_container=False)),
        ])
        count += 1
    passed(f"clip_gradients matches torch.nn.utils.clip_grad_norm_ on {count} {scope_word(hidden)} lists of arrays "
           "(clipped arrays and total norm)")


# ---------------------------------------------------------------------------------------------
# Part B, PyTorch: the step on tensors, and the module
# ---------------------------------------------------------------------------------------------

def check_lstm_step_torch(lstm_step_torch, hidden: bool = False) -> None:
    """``lstm_step_torch(x, h_prev, c_prev, W_ih, W_hh, b)`` on tensors -> ``h, c`` (tensors).

    Compared with ``torch.nn.LSTMCell`` in float64 (relative error below 1e-7) and float32;
    gradients must flow: autograd through the student's step gives ``nn.LSTMCell``'s gradients.
    """
    torch = _torch()
    count = 0
    with noting_own_parts(lstm_step_torch, _other_parts("lstm_step_torch")):
        for x, h_prev, c_prev, W_ih, W_hh, b, dh, dc in _step_cases(hidden, "lstm_step_torch"):
            inputs = (x, h_prev, c_prev, W_ih, W_hh, b)
            label = _step_label("lstm_step_torch", **dict(zip(STEP_INPUTS, inputs)))
            h_exp, c_exp = _oracle_step(*inputs)
            hints: list = []

            def mistakes(k: int) -> dict:
                if not hints:
                    hints.append(_step_forward_mistakes(*inputs))
                return hints[0][k]

            for dtype in (torch.float64, torch.float32):
                result, got = run_in_kernel(_step_torch_run, lstm_step_torch, inputs, dtype, dh, dc)
                where = f"{label} in {str(dtype).replace('torch.', '')}"
                h, c = unpack_results(where, result, ("h", "c"))
                expected = (torch.as_tensor(h_exp, dtype=dtype), torch.as_tensor(c_exp, dtype=dtype))
                check_all(where, [
                    ("h", lambda: close_or_explain("h", h, expected[0], lambda: mistakes(0), rtol=VALUE_RTOL,
                                                   atol=VALUE_ATOL)),
                    ("c", lambda: close_or_explain("c", c, expected[1], lambda: mistakes(1), rtol=VALUE_RTOL,
                                                   atol=VALUE_ATOL)),
                ])
            if got is None:
                raise CheckFailed(f"{label}: h and c do not carry gradients (requires_grad is False although the "
                                  "inputs require grad). Compute with torch operations only: no .detach(), .numpy(), "
                                  ".item() or torch.tensor(...) of intermediate results.")
            _check_float32_grads(label, got, _oracle_step_grads(*inputs, dh, dc), STEP_INPUTS)
            count += 1
    passed(f"lstm_step_torch matches torch.nn.LSTMCell on {count} {scope_word(hidden)} inputs, float64 and float32, "
           "and autograd through it gives nn.LSTMCell's gradients")


def _step_torch_run(lstm_step_torch, inputs: tuple, dtype, dh: np.ndarray, dc: np.ndarray) -> tuple:
    """Runs where the student's function lives (the kernel, when grading): the step on tensors of
    ``dtype`` that require grad, with the kit's other parts; returns ``(result, grads)``, where
    ``grads`` are autograd's gradients of ``sum(h * dh) + sum(c * dc)`` with respect to the six
    inputs (None when h and c carry no gradient)."""
    torch = _torch()
    tensors = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in inputs]
    with reference_parts(lstm_step_torch, "lstm_step_torch"):
        result = call_student("lstm_step_torch", lstm_step_torch, *tensors)
    pair = tuple(result) if isinstance(result, (tuple, list)) and len(result) == 2 else ()
    if not pair or not all(getattr(t, "requires_grad", False) for t in pair):
        return result, None
    h, c = pair
    grads = torch.autograd.grad((h.double() * torch.as_tensor(dh)).sum() + (c.double() * torch.as_tensor(dc)).sum(),
                                tensors, allow_unused=True)
    return result, tuple(grads)


def _check_float32_grads(label: str, got: tuple, expected: tuple, names: tuple[str, ...]) -> None:
    def one(k: int, name: str) -> None:
        if got[k] is None:
            raise CheckFailed(f"d/d{name}: no gradient reached {name}: it is not used, or used through a detached "
                              "copy.")
        check_close(f"d/d{name}", got[k], expected[k], rtol=MODULE_GRAD_RTOL, atol=MODULE_GRAD_ATOL,
                    check_container=False)

    check_all(f"{label}: autograd through it (float32)", [
        (f"d/d{name}", lambda k=k, name=name: one(k, name)) for k, name in enumerate(names)])


def _module_cases(hidden: bool):
    """Yield ``(X, h0, c0, W_ih, W_hh, b, dHs, dhT, dcT)`` for the module (float64 arrays)."""
    if hidden:
        yield from _hidden_module_cases()
    else:
        yield _seq_case_public(3, 5, 4, 6)
        yield _seq_case_public(2, 3, 2, 3)


@grading_only
def _hidden_module_cases():
    rng = hidden_rng("lstm_module")
    for _ in range(2):
        n, d, h = _sizes(rng, n=(2, 6), d=(2, 7), h=(2, 9))
        yield _seq_case_random(rng, n, int(rng.integers(2, 9)), d, h)


def _module_parameters(label: str, model, d: int, h: int) -> tuple:
    torch = _torch()
    shapes = {"W_ih": (4 * h, d), "W_hh": (4 * h, h), "b": (4 * h,)}
    params = []
    for name, shape in shapes.items():
        p = getattr(model, name, None)
        if p is None:
            raise CheckFailed(f"{label}: the module has no attribute {name}. Store the weights as "
                              f"self.{name} = nn.Parameter(...) with shape {shape}.")
        if not isinstance(p, torch.nn.Parameter):
            raise CheckFailed(f"{label}: self.{name} is a {kind_of(p)}, not an nn.Parameter, so model.parameters() "
                              f"(and the optimiser) never see it. Wrap it: self.{name} = nn.Parameter(...).")
        if tuple(p.shape) != shape:
            raise CheckFailed(f"{label}: self.{name} has shape {tuple(p.shape)}, expected {shape} "
                              "(stored as PyTorch stores them: W_ih (4H, D), W_hh (4H, H), b (4H,), gates i, f, g, o).")
        params.append(p)
    registered = {id(p) for p in model.parameters()}
    if not all(id(p) in registered for p in params):
        raise CheckFailed(f"{label}: W_ih, W_hh and b must be registered parameters (model.parameters()).")
    return tuple(params)


def _build_module(LSTM, d: int, h: int):
    torch = _torch()
    label = f"LSTM(input_size={d}, hidden_size={h})"
    model = call_student("LSTM", LSTM, d, h)
    if not isinstance(model, torch.nn.Module):
        raise CheckFailed(f"{label}: expected an nn.Module, got a {kind_of(model)}. Subclass nn.Module and call "
                          "super().__init__() first.")
    return label, model


def check_lstm_module(LSTM, hidden: bool = False) -> None:
    """``LSTM(input_size, hidden_size)``: an ``nn.Module`` with parameters ``W_ih (4H, D)``,
    ``W_hh (4H, H)``, ``b (4H,)``; ``forward(X, state=None)``: ``X (N, T, D)`` ->
    ``Hs (N, T, H), (h_T, c_T)``, zeros for a missing state.

    With the weights of a ``torch.nn.LSTM(batch_first=True)`` copied in (``b = b_ih + b_hh``), the
    outputs must match it within 1e-5 in float32, with and without an initial state, and the
    gradients of the parameters must match nn.LSTM's; in float64 (``model.double()``) with no state,
    the outputs must be float64 (the zero state follows the input). Runs with the kit's
    ``lstm_step_torch``.
    """
    count = 0
    parts = _other_parts(None)
    # In the student's notebook the class is here: its forward is what calls lstm_step_torch.
    forward = LSTM.forward if isinstance(LSTM, type) else LSTM
    with noting_own_parts(forward, parts):
        for X, h0, c0, W_ih, W_hh, b, dHs, dhT, dcT in _module_cases(hidden):
            label, results, grads, float64 = run_in_kernel(_module_run, LSTM, W_ih, W_hh, b, X, h0, c0, dHs, dhT,
                                                           dcT)
            outputs, expected_grads = _oracle_module(X, h0, c0, W_ih, W_hh, b, dHs, dhT, dcT)
            for with_state, result, expected in zip((False, True), results, outputs):
                call = f"model(X {describe_shape(X)}{', (h0, c0)' if with_state else ''}) for model = {label}"
                Hs, final = unpack_results(call, result, ("Hs", "(h_T, c_T)"))
                hT, cT = unpack_results(f"{call} -> (h_T, c_T)", final, ("h_T", "c_T"))
                _compare_module_outputs(call, (Hs, hT, cT), expected, with_state, X, h0, c0, W_ih, W_hh, b)
            _compare_module_grads(label, grads, expected_grads)
            if float64 != "float64, float64, float64":
                raise CheckFailed(
                    f"model.double()(X {describe_shape(X)} in float64) for model = {label}, with no state: expected "
                    f"Hs, h_T and c_T in float64, got {float64}. Hint: the default zero state must follow the input, "
                    "X.new_zeros(N, H) or torch.zeros(N, H, dtype=X.dtype, device=X.device); torch.zeros(N, H) is "
                    "float32 on the CPU whatever X is (and breaks on a GPU too).")
            count += 1
    whose = "your own" if own_parts_note(forward, parts) else "the kit's"
    passed(f"LSTM matches torch.nn.LSTM(batch_first=True) within {MODULE_RTOL:g} in float32 on {count} "
           f"{scope_word(hidden)} sequences, with and without an initial state, gradients included "
           f"(run with {whose} lstm_step_torch)")


@answer
def _oracle_module(X, h0, c0, W_ih, W_hh, b, dHs, dhT, dcT) -> tuple[list[tuple], tuple[np.ndarray, ...]]:
    """``torch.nn.LSTM(batch_first=True)`` in float32 with the weights copied in (``b`` split into two
    bias vectors, ``b = b_ih + b_hh``): ``([(Hs, h_T, c_T) without, and with the initial state],
    (dW_ih, dW_hh, db))``, the gradients of ``sum(Hs * dHs) + sum(h_T * dhT) + sum(c_T * dcT)`` on the
    run with the initial state."""
    torch = _torch()
    D, H = X.shape[2], h0.shape[1]
    with _torch_rng_kept():
        reference = torch.nn.LSTM(D, H, batch_first=True)
    b_ih = 0.5 * b                                   # split b into two bias vectors: b = b_ih + b_hh
    with torch.no_grad():
        for p, v in zip((reference.weight_ih_l0, reference.weight_hh_l0, reference.bias_ih_l0,
                         reference.bias_hh_l0), (W_ih, W_hh, b_ih, b - b_ih)):
            p.copy_(torch.as_tensor(v))
    Xt = torch.as_tensor(X, dtype=torch.float32)
    state = (torch.as_tensor(h0, dtype=torch.float32), torch.as_tensor(c0, dtype=torch.float32))
    outputs = []
    for with_state in (False, True):
        ref_Hs, (ref_h, ref_c) = reference(Xt, (state[0][None], state[1][None]) if with_state else None)
        outputs.append((ref_Hs, ref_h[0], ref_c[0]))
    ref_Hs, ref_h, ref_c = outputs[-1]
    g = [torch.as_tensor(v, dtype=torch.float32) for v in (dHs, dhT, dcT)]
    ((ref_Hs * g[0]).sum() + (ref_h * g[1]).sum() + (ref_c * g[2]).sum()).backward()
    grads = (reference.weight_ih_l0.grad, reference.weight_hh_l0.grad, reference.bias_ih_l0.grad)
    return [tuple(t.detach() for t in out) for out in outputs], tuple(e.numpy() for e in grads)


@answer
def _module_mistakes(X, h0, c0, W_ih, W_hh, b, Hs_exp, with_state: bool) -> tuple[dict, dict]:
    """``({hint: Hs}, {hint: h_T})`` for the known mistakes of the module's forward (``Hs_exp``: nn.LSTM's)."""
    hints = {"Hs is (T, N, H): stack the time steps along dim=1, torch.stack(hs, dim=1) (batch-first)":
             Hs_exp.transpose(0, 1)}
    if with_state:
        hints["the initial state is ignored: start from state = (h0, c0) when it is given"] = \
            _seq_forward_formula(X, h0, c0, W_ih, W_hh, b, variant="zero_state")[0]
    return hints, {"h_T is the state after the first step: return the last one": Hs_exp[:, 0]}


def _compare_module_outputs(call: str, got: tuple, expected: tuple, with_state: bool, X, h0, c0, W_ih, W_hh, b) -> None:
    torch = _torch()
    Hs_exp = expected[0].detach()
    for value in got:
        if not isinstance(value, torch.Tensor):
            raise CheckFailed(f"{call}: expected torch tensors, got a {kind_of(value)}.")
    N, T, H = Hs_exp.shape
    if tuple(got[0].shape) == (T, N, H) and T != N:
        raise CheckFailed(f"{call} -> Hs: expected shape {(N, T, H)} (batch first), got {(T, N, H)}: time is on "
                          "axis 0. Hint: stack the steps along dim=1, torch.stack(hs, dim=1).")
    hints: list[tuple[dict, dict]] = []

    def mistakes(k: int) -> dict:
        if not hints:
            hints.append(_module_mistakes(X, h0, c0, W_ih, W_hh, b, Hs_exp, with_state))
        return hints[0][k]

    check_all(call, [
        ("Hs", lambda: close_or_explain("Hs", got[0], Hs_exp, lambda: mistakes(0), rtol=MODULE_RTOL,
                                        atol=MODULE_ATOL)),
        ("h_T", lambda: close_or_explain("h_T", got[1], expected[1].detach(), lambda: mistakes(1),
                                         rtol=MODULE_RTOL, atol=MODULE_ATOL)),
        ("c_T", lambda: check_close("c_T", got[2], expected[2].detach(), rtol=MODULE_RTOL, atol=MODULE_ATOL)),
    ])


def _module_run(LSTM, W_ih, W_hh, b, X, h0, c0, dHs, dhT, dcT) -> tuple:
    """Runs where the student's class lives (the kernel, when grading): build ``LSTM(D, H)``, check
    its parameters, load the weights, run ``forward`` without and with an initial state (with the
    kit's ``lstm_step_torch``), then ``backward()`` of ``sum(Hs * dHs) + sum(h_T * dhT) + sum(c_T * dcT)``
    on the second run. Returns ``(label, [result, result], grads of (W_ih, W_hh, b) or None)``; None
    when the outputs carry no gradient (or are not shaped for the loss: the grader says how)."""
    torch = _torch()
    D, H = X.shape[2], h0.shape[1]
    with _torch_rng_kept():
        label, model = _build_module(LSTM, D, H)
    params = _module_parameters(label, model, D, H)
    with torch.no_grad():
        for p, v in zip(params, (W_ih, W_hh, b)):
            p.copy_(torch.as_tensor(v))
    Xt = torch.as_tensor(X, dtype=torch.float32)
    state = (torch.as_tensor(h0, dtype=torch.float32), torch.as_tensor(c0, dtype=torch.float32))
    results = []
    for with_state in (False, True):
        with reference_parts(type(model).forward, None):
            results.append(call_student(f"{label}.forward", model, Xt, *((state,) if with_state else ())))
    float64 = _float64_run(model, Xt)
    try:
        Hs, (hT, cT) = results[-1]
        if not Hs.requires_grad:
            return label, results, None, float64
        g = [torch.as_tensor(v, dtype=torch.float32) for v in (dHs, dhT, dcT)]
        model.zero_grad()
        ((Hs * g[0]).sum() + (hT * g[1]).sum() + (cT * g[2]).sum()).backward()
    except (TypeError, ValueError, RuntimeError, AttributeError):
        return label, results, None, float64  # malformed outputs: the grader names what is wrong with them
    return label, results, tuple(p.grad for p in params), float64


def _float64_run(model, Xt) -> str:
    """A copy of ``model`` in float64 (``.double()``) run on ``Xt`` in float64 with no state: the
    dtypes of ``Hs, h_T, c_T`` (as "float64, float64, float64"), or the error it raised. A default
    zero state made without the input's dtype (``torch.zeros(N, H)``) breaks here."""
    import copy

    try:
        twin = copy.deepcopy(model).double()
        with reference_parts(type(twin).forward, None):
            Hs, (hT, cT) = twin(Xt.double())
        return ", ".join(str(t.dtype).replace("torch.", "") for t in (Hs, hT, cT))
    except Exception as exc:  # noqa: BLE001 - the check reports it
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _compare_module_grads(label, grads, expected: tuple) -> None:
    if grads is None:
        raise CheckFailed(f"{label}: the outputs carry no gradient (requires_grad is False): use the parameters "
                          "in torch operations only, no .detach(), .numpy() or torch.no_grad() in forward.")
    _check_float32_grads(f"{label}, after backward() of a loss on Hs, h_T and c_T", tuple(grads), expected,
                         ("W_ih", "W_hh", "b"))


# ---------------------------------------------------------------------------------------------
# Part B: the training loop, on a small model of the kit's
# ---------------------------------------------------------------------------------------------

TRAIN_RTOL, TRAIN_ATOL = 1e-4, 1e-6   # float32 losses; a clipping mistake moves them by about 2 % here
# The known mistakes of the loop, as variants of it, and what each one is called.
TRAIN_MISTAKES = {
    "unclipped": "these are the losses of training whose steps used the unclipped gradients: either nothing is "
                 "clipped, or clipping comes after optimizer.step(), too late (the step has already used the "
                 "gradients). Clip between loss.backward() and optimizer.step()",
    "no_zero_grad": "the gradients were never zeroed, so each update adds to the last ones: call "
                    "optimizer.zero_grad() before loss.backward()",
}


def _tiny_char_model(vocab_size: int):
    """Embedding (4 numbers) -> ``torch.nn.LSTM`` (8) -> linear layer, as the notebook's CharLM, with
    the weights ``torch.manual_seed(0)`` draws: the kit's own small model (torch's LSTM, not the
    student's, so only the training loop is graded with it)."""
    torch = _torch()
    nn = torch.nn

    class TinyCharModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.lstm = nn.Embedding(vocab_size, 4), nn.LSTM(4, 8, batch_first=True)
            self.head = nn.Linear(8, vocab_size)

        def forward(self, ids, state=None):
            Hs, state = self.lstm(self.embed(ids), state)
            return self.head(Hs), state

    with _torch_rng_kept():
        torch.manual_seed(0)
        return TinyCharModel()


def _train_cases(hidden: bool):
    """Yield ``(ids (T,) int64, vocab_size, steps, batch_size, seq_len, lr, max_norm, seed)``: one run
    whose gradient norms (about 0.3 to 0.8) are above ``max_norm`` at every update, so clipping acts,
    and one where ``max_norm`` is never reached."""
    if hidden:
        yield from _hidden_train_cases()
    else:
        ids = np.array([(i * i * 7 + 3 * i) % 6 for i in range(80)], dtype=np.int64)
        yield ids, 6, 8, 4, 8, 0.05, 0.2, 1
        yield ids, 6, 4, 4, 8, 0.05, 10.0, 2


@grading_only
def _hidden_train_cases():
    rng = hidden_rng("train_char_lm")
    vocab = int(rng.integers(5, 9))
    ids = rng.integers(0, vocab, size=int(rng.integers(60, 100))).astype(np.int64)
    yield ids, vocab, 8, 4, int(rng.integers(6, 10)), 0.05, round(float(rng.uniform(0.03, 0.06)), 3), int(rng.integers(100))
    yield ids, vocab, 4, 3, 8, 0.05, 10.0, int(rng.integers(100))


@answer
def _reference_train_losses(ids, vocab_size: int, steps: int, batch_size: int, seq_len: int, lr: float,
                            max_norm: float, seed: int, variant: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's loop on :func:`_tiny_char_model`: ``(losses (steps,), gradient norms (steps,))``,
    the norms before clipping. ``variant`` names one of :data:`TRAIN_MISTAKES` instead."""
    torch = _torch()
    F = torch.nn.functional
    model = _tiny_char_model(vocab_size)
    ids = torch.as_tensor(ids)
    with _torch_rng_kept():
        gen = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        offsets = torch.arange(seq_len + 1)
        losses, norms = [], []
        for _ in range(steps):
            starts = torch.randint(0, len(ids) - seq_len, (batch_size,), generator=gen)
            windows = ids[starts[:, None] + offsets]
            logits, _ = model(windows[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1))
            if variant != "no_zero_grad":
                optimizer.zero_grad()
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf if variant == "unclipped" else max_norm)
            norms.append(float(norm))
            optimizer.step()
            losses.append(loss.item())
    return np.array(losses), np.array(norms)


def _train_run(train_char_lm, ids, vocab_size: int, steps: int, batch_size: int, seq_len: int, lr: float,
               max_norm: float, seed: int):
    """Runs where the student's function lives (the kernel, when grading): ``train_char_lm`` on a fresh
    :func:`_tiny_char_model`; what it returned."""
    torch = _torch()
    model = _tiny_char_model(vocab_size)
    with _torch_rng_kept():
        return call_student("train_char_lm", train_char_lm, model, torch.as_tensor(ids), steps, batch_size, seq_len,
                            lr, max_norm=max_norm, seed=seed)


def check_train_char_lm(train_char_lm, hidden: bool = False) -> None:
    """``train_char_lm(model, ids, steps, batch_size, seq_len, lr, max_norm, seed)`` -> ``losses``, a list
    of ``steps`` floats, on the kit's small model: the losses must match the notebook's loop (Adam,
    zero_grad, backward, clip_grad_norm_, step) within 1e-4, once with a ``max_norm`` below every
    gradient norm of the run (clipping acts at every update) and once with one above them all."""
    count = 0
    for ids, vocab, steps, batch, seq_len, lr, max_norm, seed in _train_cases(hidden):
        label = (f"train_char_lm(model, ids ({len(ids)},), steps={steps}, batch_size={batch}, seq_len={seq_len}, "
                 f"lr={lr:g}, max_norm={max_norm:g}, seed={seed}) on the kit's small model (embedding, "
                 f"nn.LSTM, linear layer; {vocab} characters)")
        got = run_in_kernel(_train_run, train_char_lm, ids, vocab, steps, batch, seq_len, lr, max_norm, seed)
        if not isinstance(got, (list, tuple)) or len(got) != steps:
            what = f"{len(got)} items" if isinstance(got, (list, tuple)) else f"a {kind_of(got)}"
            raise CheckFailed(f"{label}: expected a list of {steps} losses, one per update, got {what}.")
        try:
            losses = np.array([float(v) for v in got])
        except (TypeError, ValueError):
            raise CheckFailed(f"{label}: expected a list of {steps} floats (loss.item() of each update), got items "
                              f"of type {', '.join(sorted({kind_of(v) for v in got}))}.") from None
        expected = _reference_train_losses(ids, vocab, steps, batch, seq_len, lr, max_norm, seed)[0]
        args = (ids, vocab, steps, batch, seq_len, lr, max_norm, seed)
        close_or_explain(f"{label} -> losses", losses, expected,
                         lambda: {hint: _reference_train_losses(*args, variant=v)[0] for v, hint in TRAIN_MISTAKES.items()},
                         rtol=TRAIN_RTOL, atol=TRAIN_ATOL, check_container=False)
        count += 1
    passed(f"train_char_lm's losses match the notebook's loop on {count} {scope_word(hidden)} runs of the kit's small "
           "model, with clipping that acts at every update and with clipping that never does")


# ---------------------------------------------------------------------------------------------
# Part B: the character-level language model, on the opening of Coriolanus
# ---------------------------------------------------------------------------------------------

def load_coriolanus() -> str:
    """The opening of Shakespeare's *Coriolanus* (public domain): the first 15,991 characters of the
    Tiny Shakespeare corpus, up to Volumnia's "Indeed, you shall not." Shipped here, so nothing is
    downloaded and every machine trains on the same text."""
    return CORIOLANUS


def text_split(text: str | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(chars, train_ids, val_ids)``: the vocabulary (sorted characters), then the text as indices
    into it, split into the first 90% for training and the last 10% for validation."""
    text = load_coriolanus() if text is None else text
    chars = sorted(set(text))
    index = {ch: k for k, ch in enumerate(chars)}
    ids = np.array([index[ch] for ch in text], dtype=np.int64)
    n_train = int(round(len(ids) * (1.0 - VALIDATION_FRACTION)))
    return chars, ids[:n_train], ids[n_train:]


def unigram_perplexity(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int) -> float:
    """Perplexity on ``val_ids`` of character frequencies counted on ``train_ids`` (add-one smoothing)."""
    counts = np.bincount(train_ids, minlength=vocab_size) + 1.0
    p = counts / counts.sum()
    return float(np.exp(-np.mean(np.log(p[val_ids]))))


def _validation_logits(model, val_ids: np.ndarray) -> tuple:
    """Runs where the model lives (the kernel, when grading): ``(uses torch.nn.LSTM, logits (T-1, V))``,
    the model's next-character scores over the validation text, read in one pass from a zero state
    (``model(ids (1, T))`` -> ``logits (1, T, V), state``), in eval mode and without gradients."""
    torch = _torch()
    if isinstance(getattr(model, "lstm", None), torch.nn.LSTM):
        return True, None
    ids = torch.as_tensor(val_ids)
    was_training = model.training
    model.eval()
    try:
        with _torch_rng_kept(), torch.no_grad():
            out = model(ids[None, :-1])
    finally:
        model.train(was_training)
    logits = out[0] if isinstance(out, (tuple, list)) else out
    return False, logits[0].detach().double()


def _perplexity(logits, val_ids: np.ndarray) -> float:
    """``exp`` of the mean cross-entropy of ``logits (T-1, V)`` predicting ``val_ids[1:]``."""
    torch = _torch()
    nll = torch.nn.functional.cross_entropy(torch.as_tensor(logits).double(), torch.as_tensor(val_ids)[1:])
    return float(torch.exp(nll))


def check_char_lm(model: Any, max_fraction: float = MAX_PERPLEXITY_FRACTION) -> None:
    """The notebook's trained character model, everything the student wrote together: the grader
    computes its perplexity on the held-out last 10% of the text and compares it with a unigram
    model's (character frequencies of the training text). The model must reach at most
    ``max_fraction`` of the unigram perplexity. ``model`` is None when training never finished."""
    if model is None:
        raise CheckFailed("char_model does not exist: the training cell did not finish. The error under it says why "
                          "(the tests of LSTM and train_char_lm above say which part is off).")
    chars, train_ids, val_ids = text_split()
    try:
        uses_torch_lstm, logits = run_in_kernel(_validation_logits, model, val_ids)
        ppl = float("nan") if uses_torch_lstm else _perplexity(logits, val_ids)
    except Exception as exc:  # noqa: BLE001 - reported to the student
        raise CheckFailed(f"the trained model could not be evaluated on the validation text: {type(exc).__name__}: "
                          f"{exc}") from None
    if uses_torch_lstm:
        raise CheckFailed("char_model.lstm is torch.nn.LSTM; this test judges a model built on YOUR LSTM module.")
    baseline = unigram_perplexity(train_ids, val_ids, len(chars))
    bar = max_fraction * baseline
    summary = (f"the trained model's perplexity on the held-out text ({len(val_ids):,} characters) is {ppl:.2f}; a "
               f"unigram model (character frequencies) has {baseline:.2f}; the bar is {bar:.2f} "
               f"({max_fraction:.0%} of the unigram's; computed by the grader)")
    if not math.isfinite(ppl) or ppl > bar:
        raise CheckFailed(f"{summary}.\n  Hint: a model that learns nothing scores about the unigram's perplexity or "
                          "worse. Did the training loss go down? Check train_char_lm: zero the gradients before every "
                          "backward(), call optimizer.step(), and predict the NEXT character (targets shifted by one).")
    passed(summary)


# The text (see load_coriolanus). It contains no backslash and no double quote.
CORIOLANUS = """\
First Citizen:
Before we proceed any further, hear me speak.

All:
Speak, speak.

First Citizen:
You are all resolved rather to die than to famish?

All:
Resolved. resolved.

First Citizen:
First, you know Caius Marcius is chief enemy to the people.

All:
We know't, we know't.

First Citizen:
Let us kill him, and we'll have corn at our own price.
Is't a verdict?

All:
No more talking on't; let it be done: away, away!

Second Citizen:
One word, good citizens.

First Citizen:
We are accounted poor citizens, the patricians good.
What authority surfeits on would relieve us: if they
would yield us but the superfluity, while it were
wholesome, we might guess they relieved us humanely;
but they think we are too dear: the leanness that
afflicts us, the object of our misery, is as an
inventory to particularise their abundance; our
sufferance is a gain to them Let us revenge this with
our pikes, ere we become rakes: for the gods know I
speak this in hunger for bread, not in thirst for revenge.

Second Citizen:
Would you proceed especially against Caius Marcius?

All:
Against him first: he's a very dog to the commonalty.

Second Citizen:
Consider you what services he has done for his country?

First Citizen:
Very well; and could be content to give him good
report fort, but that he pays himself with being proud.

Second Citizen:
Nay, but speak not maliciously.

First Citizen:
I say unto you, what he hath done famously, he did
it to that end: though soft-conscienced men can be
content to say it was for his country he did it to
please his mother and to be partly proud; which he
is, even till the altitude of his virtue.

Second Citizen:
What he cannot help in his nature, you account a
vice in him. You must in no way say he is covetous.

First Citizen:
If I must not, I need not be barren of accusations;
he hath faults, with surplus, to tire in repetition.
What shouts are these? The other side o' the city
is risen: why stay we prating here? to the Capitol!

All:
Come, come.

First Citizen:
Soft! who comes here?

Second Citizen:
Worthy Menenius Agrippa; one that hath always loved
the people.

First Citizen:
He's one honest enough: would all the rest were so!

MENENIUS:
What work's, my countrymen, in hand? where go you
With bats and clubs? The matter? speak, I pray you.

First Citizen:
Our business is not unknown to the senate; they have
had inkling this fortnight what we intend to do,
which now we'll show 'em in deeds. They say poor
suitors have strong breaths: they shall know we
have strong arms too.

MENENIUS:
Why, masters, my good friends, mine honest neighbours,
Will you undo yourselves?

First Citizen:
We cannot, sir, we are undone already.

MENENIUS:
I tell you, friends, most charitable care
Have the patricians of you. For your wants,
Your suffering in this dearth, you may as well
Strike at the heaven with your staves as lift them
Against the Roman state, whose course will on
The way it takes, cracking ten thousand curbs
Of more strong link asunder than can ever
Appear in your impediment. For the dearth,
The gods, not the patricians, make it, and
Your knees to them, not arms, must help. Alack,
You are transported by calamity
Thither where more attends you, and you slander
The helms o' the state, who care for you like fathers,
When you curse them as enemies.

First Citizen:
Care for us! True, indeed! They ne'er cared for us
yet: suffer us to famish, and their store-houses
crammed with grain; make edicts for usury, to
support usurers; repeal daily any wholesome act
established against the rich, and provide more
piercing statutes daily, to chain up and restrain
the poor. If the wars eat us not up, they will; and
there's all the love they bear us.

MENENIUS:
Either you must
Confess yourselves wondrous malicious,
Or be accused of folly. I shall tell you
A pretty tale: it may be you have heard it;
But, since it serves my purpose, I will venture
To stale 't a little more.

First Citizen:
Well, I'll hear it, sir: yet you must not think to
fob off our disgrace with a tale: but, an 't please
you, deliver.

MENENIUS:
There was a time when all the body's members
Rebell'd against the belly, thus accused it:
That only like a gulf it did remain
I' the midst o' the body, idle and unactive,
Still cupboarding the viand, never bearing
Like labour with the rest, where the other instruments
Did see and hear, devise, instruct, walk, feel,
And, mutually participate, did minister
Unto the appetite and affection common
Of the whole body. The belly answer'd--

First Citizen:
Well, sir, what answer made the belly?

MENENIUS:
Sir, I shall tell you. With a kind of smile,
Which ne'er came from the lungs, but even thus--
For, look you, I may make the belly smile
As well as speak--it tauntingly replied
To the discontented members, the mutinous parts
That envied his receipt; even so most fitly
As you malign our senators for that
They are not such as you.

First Citizen:
Your belly's answer? What!
The kingly-crowned head, the vigilant eye,
The counsellor heart, the arm our soldier,
Our steed the leg, the tongue our trumpeter.
With other muniments and petty helps
In this our fabric, if that they--

MENENIUS:
What then?
'Fore me, this fellow speaks! What then? what then?

First Citizen:
Should by the cormorant belly be restrain'd,
Who is the sink o' the body,--

MENENIUS:
Well, what then?

First Citizen:
The former agents, if they did complain,
What could the belly answer?

MENENIUS:
I will tell you
If you'll bestow a small--of what you have little--
Patience awhile, you'll hear the belly's answer.

First Citizen:
Ye're long about it.

MENENIUS:
Note me this, good friend;
Your most grave belly was deliberate,
Not rash like his accusers, and thus answer'd:
'True is it, my incorporate friends,' quoth he,
'That I receive the general food at first,
Which you do live upon; and fit it is,
Because I am the store-house and the shop
Of the whole body: but, if you do remember,
I send it through the rivers of your blood,
Even to the court, the heart, to the seat o' the brain;
And, through the cranks and offices of man,
The strongest nerves and small inferior veins
From me receive that natural competency
Whereby they live: and though that all at once,
You, my good friends,'--this says the belly, mark me,--

First Citizen:
Ay, sir; well, well.

MENENIUS:
'Though all at once cannot
See what I do deliver out to each,
Yet I can make my audit up, that all
From me do back receive the flour of all,
And leave me but the bran.' What say you to't?

First Citizen:
It was an answer: how apply you this?

MENENIUS:
The senators of Rome are this good belly,
And you the mutinous members; for examine
Their counsels and their cares, digest things rightly
Touching the weal o' the common, you shall find
No public benefit which you receive
But it proceeds or comes from them to you
And no way from yourselves. What do you think,
You, the great toe of this assembly?

First Citizen:
I the great toe! why the great toe?

MENENIUS:
For that, being one o' the lowest, basest, poorest,
Of this most wise rebellion, thou go'st foremost:
Thou rascal, that art worst in blood to run,
Lead'st first to win some vantage.
But make you ready your stiff bats and clubs:
Rome and her rats are at the point of battle;
The one side must have bale.
Hail, noble Marcius!

MARCIUS:
Thanks. What's the matter, you dissentious rogues,
That, rubbing the poor itch of your opinion,
Make yourselves scabs?

First Citizen:
We have ever your good word.

MARCIUS:
He that will give good words to thee will flatter
Beneath abhorring. What would you have, you curs,
That like nor peace nor war? the one affrights you,
The other makes you proud. He that trusts to you,
Where he should find you lions, finds you hares;
Where foxes, geese: you are no surer, no,
Than is the coal of fire upon the ice,
Or hailstone in the sun. Your virtue is
To make him worthy whose offence subdues him
And curse that justice did it.
Who deserves greatness
Deserves your hate; and your affections are
A sick man's appetite, who desires most that
Which would increase his evil. He that depends
Upon your favours swims with fins of lead
And hews down oaks with rushes. Hang ye! Trust Ye?
With every minute you do change a mind,
And call him noble that was now your hate,
Him vile that was your garland. What's the matter,
That in these several places of the city
You cry against the noble senate, who,
Under the gods, keep you in awe, which else
Would feed on one another? What's their seeking?

MENENIUS:
For corn at their own rates; whereof, they say,
The city is well stored.

MARCIUS:
Hang 'em! They say!
They'll sit by the fire, and presume to know
What's done i' the Capitol; who's like to rise,
Who thrives and who declines; side factions
and give out
Conjectural marriages; making parties strong
And feebling such as stand not in their liking
Below their cobbled shoes. They say there's
grain enough!
Would the nobility lay aside their ruth,
And let me use my sword, I'll make a quarry
With thousands of these quarter'd slaves, as high
As I could pick my lance.

MENENIUS:
Nay, these are almost thoroughly persuaded;
For though abundantly they lack discretion,
Yet are they passing cowardly. But, I beseech you,
What says the other troop?

MARCIUS:
They are dissolved: hang 'em!
They said they were an-hungry; sigh'd forth proverbs,
That hunger broke stone walls, that dogs must eat,
That meat was made for mouths, that the gods sent not
Corn for the rich men only: with these shreds
They vented their complainings; which being answer'd,
And a petition granted them, a strange one--
To break the heart of generosity,
And make bold power look pale--they threw their caps
As they would hang them on the horns o' the moon,
Shouting their emulation.

MENENIUS:
What is granted them?

MARCIUS:
Five tribunes to defend their vulgar wisdoms,
Of their own choice: one's Junius Brutus,
Sicinius Velutus, and I know not--'Sdeath!
The rabble should have first unroof'd the city,
Ere so prevail'd with me: it will in time
Win upon power and throw forth greater themes
For insurrection's arguing.

MENENIUS:
This is strange.

MARCIUS:
Go, get you home, you fragments!

Messenger:
Where's Caius Marcius?

MARCIUS:
Here: what's the matter?

Messenger:
The news is, sir, the Volsces are in arms.

MARCIUS:
I am glad on 't: then we shall ha' means to vent
Our musty superfluity. See, our best elders.

First Senator:
Marcius, 'tis true that you have lately told us;
The Volsces are in arms.

MARCIUS:
They have a leader,
Tullus Aufidius, that will put you to 't.
I sin in envying his nobility,
And were I any thing but what I am,
I would wish me only he.

COMINIUS:
You have fought together.

MARCIUS:
Were half to half the world by the ears and he.
Upon my party, I'ld revolt to make
Only my wars with him: he is a lion
That I am proud to hunt.

First Senator:
Then, worthy Marcius,
Attend upon Cominius to these wars.

COMINIUS:
It is your former promise.

MARCIUS:
Sir, it is;
And I am constant. Titus Lartius, thou
Shalt see me once more strike at Tullus' face.
What, art thou stiff? stand'st out?

TITUS:
No, Caius Marcius;
I'll lean upon one crutch and fight with t'other,
Ere stay behind this business.

MENENIUS:
O, true-bred!

First Senator:
Your company to the Capitol; where, I know,
Our greatest friends attend us.

TITUS:

COMINIUS:
Noble Marcius!

First Senator:

MARCIUS:
Nay, let them follow:
The Volsces have much corn; take these rats thither
To gnaw their garners. Worshipful mutiners,
Your valour puts well forth: pray, follow.

SICINIUS:
Was ever man so proud as is this Marcius?

BRUTUS:
He has no equal.

SICINIUS:
When we were chosen tribunes for the people,--

BRUTUS:
Mark'd you his lip and eyes?

SICINIUS:
Nay. but his taunts.

BRUTUS:
Being moved, he will not spare to gird the gods.

SICINIUS:
Be-mock the modest moon.

BRUTUS:
The present wars devour him: he is grown
Too proud to be so valiant.

SICINIUS:
Such a nature,
Tickled with good success, disdains the shadow
Which he treads on at noon: but I do wonder
His insolence can brook to be commanded
Under Cominius.

BRUTUS:
Fame, at the which he aims,
In whom already he's well graced, can not
Better be held nor more attain'd than by
A place below the first: for what miscarries
Shall be the general's fault, though he perform
To the utmost of a man, and giddy censure
Will then cry out of Marcius 'O if he
Had borne the business!'

SICINIUS:
Besides, if things go well,
Opinion that so sticks on Marcius shall
Of his demerits rob Cominius.

BRUTUS:
Come:
Half all Cominius' honours are to Marcius.
Though Marcius earned them not, and all his faults
To Marcius shall be honours, though indeed
In aught he merit not.

SICINIUS:
Let's hence, and hear
How the dispatch is made, and in what fashion,
More than his singularity, he goes
Upon this present action.

BRUTUS:
Lets along.

First Senator:
So, your opinion is, Aufidius,
That they of Rome are entered in our counsels
And know how we proceed.

AUFIDIUS:
Is it not yours?
What ever have been thought on in this state,
That could be brought to bodily act ere Rome
Had circumvention? 'Tis not four days gone
Since I heard thence; these are the words: I think
I have the letter here; yes, here it is.
'They have press'd a power, but it is not known
Whether for east or west: the dearth is great;
The people mutinous; and it is rumour'd,
Cominius, Marcius your old enemy,
Who is of Rome worse hated than of you,
And Titus Lartius, a most valiant Roman,
These three lead on this preparation
Whither 'tis bent: most likely 'tis for you:
Consider of it.'

First Senator:
Our army's in the field
We never yet made doubt but Rome was ready
To answer us.

AUFIDIUS:
Nor did you think it folly
To keep your great pretences veil'd till when
They needs must show themselves; which
in the hatching,
It seem'd, appear'd to Rome. By the discovery.
We shall be shorten'd in our aim, which was
To take in many towns ere almost Rome
Should know we were afoot.

Second Senator:
Noble Aufidius,
Take your commission; hie you to your bands:
Let us alone to guard Corioli:
If they set down before 's, for the remove
Bring your army; but, I think, you'll find
They've not prepared for us.

AUFIDIUS:
O, doubt not that;
I speak from certainties. Nay, more,
Some parcels of their power are forth already,
And only hitherward. I leave your honours.
If we and Caius Marcius chance to meet,
'Tis sworn between us we shall ever strike
Till one can do no more.

All:
The gods assist you!

AUFIDIUS:
And keep your honours safe!

First Senator:
Farewell.

Second Senator:
Farewell.

All:
Farewell.

VOLUMNIA:
I pray you, daughter, sing; or express yourself in a
more comfortable sort: if my son were my husband, I
should freelier rejoice in that absence wherein he
won honour than in the embracements of his bed where
he would show most love. When yet he was but
tender-bodied and the only son of my womb, when
youth with comeliness plucked all gaze his way, when
for a day of kings' entreaties a mother should not
sell him an hour from her beholding, I, considering
how honour would become such a person. that it was
no better than picture-like to hang by the wall, if
renown made it not stir, was pleased to let him seek
danger where he was like to find fame. To a cruel
war I sent him; from whence he returned, his brows
bound with oak. I tell thee, daughter, I sprang not
more in joy at first hearing he was a man-child
than now in first seeing he had proved himself a
man.

VIRGILIA:
But had he died in the business, madam; how then?

VOLUMNIA:
Then his good report should have been my son; I
therein would have found issue. Hear me profess
sincerely: had I a dozen sons, each in my love
alike and none less dear than thine and my good
Marcius, I had rather had eleven die nobly for their
country than one voluptuously surfeit out of action.

Gentlewoman:
Madam, the Lady Valeria is come to visit you.

VIRGILIA:
Beseech you, give me leave to retire myself.

VOLUMNIA:
Indeed, you shall not.
"""
