"""Checks for assignment 04, attention (the attention chapter of *Dive into Deep Learning*; grading side:
holds the answers).

Part A, in NumPy, with ``Q (B, n, d)``, ``K (B, m, d)``, ``V (B, m, v)``:

    masked_softmax(scores, valid_lens=None)      scores (B, n, m) -> weights (B, n, m), softmax over the keys;
                                                 valid_lens (B,) or (B, n): keys j >= valid length get exactly 0;
                                                 a length of 0 or above m raises ValueError
    causal_mask(n)                               -> (n, n) bool, True where query i may attend key j (j <= i)
    scaled_dot_product_attention(Q, K, V, valid_lens=None)
                                                 -> out (B, n, v), weights (B, n, m); scores Q K^T / sqrt(d)
    attention_backward(dout, Q, K, V, weights)   dout (B, n, v) -> dQ (B, n, d), dK (B, m, d), dV (B, m, v)
    additive_attention(Q, K, V, W_q, W_k, w_v, valid_lens=None)
                                                 Q (B, n, d_q), K (B, m, d_k), W_q (h, d_q), W_k (h, d_k), w_v (h,)
                                                 -> out (B, n, v), weights (B, n, m); scores w_v . tanh(W_q q + W_k k)

Part B, in PyTorch:

    attention_torch(Q, K, V, attn_mask=None)     (..., n, d) tensors, any leading dims -> out (..., n, v),
                                                 weights (..., n, m), with no Python loop
    attention_loop(Q, K, V)                      (B, n, d) tensors -> out (B, n, v), by loops over batch and queries
    MultiHeadAttention(embed_dim, num_heads)     nn.Module with q_proj, k_proj, v_proj, out_proj (nn.Linear, bias)
        .forward(query, key, value, attn_mask=None)
                                                 (B, L, E), (B, S, E), (B, S, E) -> out (B, L, E), weights (B, L, S)
                                                 averaged over the heads

One mask convention throughout, that of ``F.scaled_dot_product_attention``: a boolean mask is True
where a query may attend a key. (``nn.MultiheadAttention``'s ``attn_mask`` is the opposite, True
blocks, so the checks hand it ``~mask``.)

Oracles: ``F.scaled_dot_product_attention`` (values), ``torch.softmax`` of the masked scores
(weights), PyTorch autograd through ``F.scaled_dot_product_attention`` and centred differences in
float64 (gradients), the chapter's formula written in torch (additive attention), and
``nn.MultiheadAttention(batch_first=True)`` with its weights copied into the student's module.

Each part is graded on its own: the NumPy checks run the student's function with the kit's
``masked_softmax`` and ``scaled_dot_product_attention`` swapped into the notebook's namespace, and
the MultiHeadAttention checks with the kit's ``attention_torch``, so one mistake costs only its
own cells. The speed check counts torch calls (deterministic: a loop over the batch or the queries
makes more calls for more rows) and times ``attention_torch`` against a Python loop over the
(batch, query) pairs that the check writes out itself.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..answers import NotPublished, answer, grading_only, recording
from ..checks import CheckFailed, check_close, check_unchanged, describe_shape, expect_raises, kind_of, to_numpy
from ..gradcheck import numerical_gradients, torch_gradients
from ..seeds import hidden_rng
from ..grading.remote import is_remote, repeatable, run_in_kernel
from ..timing import Implementation, cuda_available, judge_speedup, time_side_by_side, torch_threads
from ..torch_trace import record_torch_ops
from . import (call_student, check_all, check_gradients, functions_swapped_in, global_names_used, linspace_grid,
               noting_own_parts, passed, scope_word, unpack_results)

# Bars (DESIGN: tolerances by dtype; float32 answers get float32 bars from check_close).
VALUE_RTOL, VALUE_ATOL = 1e-7, 1e-10
GRAD_RTOL, GRAD_ATOL = 1e-7, 1e-10      # against autograd (exact)
FD_MAX_REL_ERROR = 1e-7                 # against centred differences (float64), CS231n's bar
FD_STEP = 1e-5
FD_MIN_GRAD = 1e-2                      # FD cases: every gradient entry not structurally 0 is at least this big
SUM_TOL = 1e-12                         # the weights over the valid keys sum to 1 within this
MHA_TOL = 1e-5                          # MultiHeadAttention against nn.MultiheadAttention, float32
SPEEDUP_THRESHOLD = 10.0                # the kit's loop is 80-160x slower than a batched version (one thread)
FORBIDDEN = ("scaled_dot_product_attention", "MultiheadAttention", "multi_head_attention_forward")
GRAD_NAMES = ("dQ", "dK", "dV")
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")

# Hints that name the typical mistakes (the unit tests look for these words).
HINT_SOFTMAX_AXIS = ("softmax over the wrong axis: each query's weights over the m keys must sum to 1, so normalise "
                     "over the LAST axis (axis=-1 / dim=-1); this normalised over the queries")
HINT_SOFTMAX_HEADS = ("softmax over the wrong axis (dim=1, the heads for a 4-d input): normalise over the keys, "
                      "the last axis, dim=-1")
HINT_MASK_AFTER = ("the mask was applied after the softmax: zeroing weights afterwards leaves each row summing to less "
                   "than 1. Set the masked scores to -inf (or -1e6) BEFORE the softmax, which then spreads all the "
                   "weight over the valid keys")
HINT_MASK_ZERO = ("the masked scores were filled with 0 instead of a large negative value: exp(0 - max) > 0, so "
                  "masked keys still get weight. Fill them with -inf (or -1e6) before the softmax: exp(-inf) = 0")
HINT_MASK_IGNORED = "the mask was ignored: this is the plain softmax over all keys"
HINT_MASK_INVERTED = ("the mask is inverted: here True means the query MAY attend the key (the convention of "
                      "F.scaled_dot_product_attention); fill the scores where the mask is False, "
                      "scores.masked_fill(~attn_mask, float('-inf')). nn.MultiheadAttention's attn_mask is the "
                      "opposite")
HINT_NO_JACOBIAN = ("the softmax's Jacobian is ignored: dscores = dweights passes the gradient straight through the "
                    "softmax. Each weight depends on every score of its row; through the softmax, dscores = weights * "
                    "(dweights - sum(dweights * weights, axis=-1, keepdims=True))")
HINT_JACOBIAN_DIAGONAL = ("only the diagonal of the softmax's Jacobian was used: each weight also depends on the other "
                          "scores of its row (d w_j / d s_i = -w_j w_i), which adds the term - weights * "
                          "sum(dweights * weights, axis=-1, keepdims=True)")
HINT_HEADS_SPLIT = ("the heads were split in the wrong order: reshaping (B, L, E) straight to (B, h, L, d) mixes "
                    "positions and features. Reshape to (B, L, h, d), cutting each position's E features into h "
                    "heads of d, then transpose(1, 2) to (B, h, L, d)")
HINT_HEADS_MERGE = ("the heads were merged in the wrong order: (B, h, L, d) reshaped straight to (B, L, E) mixes "
                    "positions and heads. transpose(1, 2) back to (B, L, h, d) first, then reshape to (B, L, E)")
HINT_HEADS_BOTH = ("the heads were split and merged with a reshape but without the transpose: reshape (B, L, E) to "
                   "(B, L, h, d), then transpose(1, 2) to (B, h, L, d); and back the same way")


def _no_scale_hint(d: int) -> str:
    return (f"the scores were not scaled: divide Q K^T by sqrt(d) = sqrt({d}) (d is the length of a query and a key), "
            "so that their spread does not grow with d and the softmax does not saturate")


# ---------------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------------

def _keep_mask(valid_lens: Any, shape: tuple[int, int, int]) -> np.ndarray:
    """``(B, n, m)`` bool: True where key j lies within the valid length (all True for None)."""
    B, n, m = shape
    if valid_lens is None:
        return np.ones(shape, dtype=bool)
    lens = np.asarray(valid_lens)
    if lens.ndim == 1:
        lens = lens[:, None]  # (B, 1): the same length for every query of a sequence
    return np.broadcast_to(np.arange(m) < lens[..., None], shape)


def _valid_lens_error(valid_lens: Any, m: int) -> str:
    """A message when a valid length is below 1 or above m, else ''."""
    lens = np.asarray(valid_lens)
    if lens.size and (lens.min() < 1 or lens.max() > m):
        return f"every valid length must lie between 1 and m = {m}; got {lens.min()} to {lens.max()}"
    return ""


def _describe_lens(valid_lens: Any) -> str:
    if valid_lens is None:
        return "valid_lens=None"
    lens = np.asarray(valid_lens)
    values = f" = {lens.tolist()}" if lens.size <= 12 else ""
    return f"valid_lens {describe_shape(lens)}{values}"


def _describe_mask(mask: Any) -> str:
    return "attn_mask=None" if mask is None else f"attn_mask {describe_shape(mask)} (bool)"


# ---------------------------------------------------------------------------------------------
# The kit's NumPy parts: stand-ins for the student's while another part is graded, and the
# formulas behind the known-mistake hints (``variant`` names a mistake)
# ---------------------------------------------------------------------------------------------

@answer
def _reference_masked_softmax(scores, valid_lens=None, *, variant: str = ""):
    """Softmax over the last axis with keys past the valid length at exactly 0.

    variants: "wrong_axis" (normalised over the queries), "after_softmax" (masked weights zeroed
    after a plain softmax), "fill_zero" (masked scores set to 0), "no_mask".
    """
    scores = np.asarray(scores)
    m = scores.shape[-1]
    if valid_lens is not None and not variant:
        error = _valid_lens_error(valid_lens, m)
        if error:
            raise ValueError(f"masked_softmax: {error}")
    keep = _keep_mask(None if variant == "no_mask" else valid_lens, scores.shape)
    axis = -2 if variant == "wrong_axis" else -1
    with np.errstate(all="ignore"):  # candidates for hints may be NaN
        if variant == "after_softmax":
            E = np.exp(scores - scores.max(axis=-1, keepdims=True))
            return np.where(keep, E / E.sum(axis=-1, keepdims=True), 0.0)
        masked = np.where(keep, scores, 0.0 if variant == "fill_zero" else -np.inf)
        E = np.exp(masked - masked.max(axis=axis, keepdims=True))
        return E / E.sum(axis=axis, keepdims=True)


@answer
def _reference_causal_mask(n):
    return np.tril(np.ones((n, n), dtype=bool))


@answer
def _reference_sdpa(Q, K, V, valid_lens=None, *, variant: str = ""):
    """``(out, weights)``; variants: "no_scale", "scale_d" (divided by d), "no_mask", "kq" (K Q^T)."""
    d = Q.shape[-1]
    scale = {"no_scale": 1.0, "scale_d": 1.0 / d}.get(variant, 1.0 / math.sqrt(d))
    scores = (K @ Q.transpose(0, 2, 1) if variant == "kq" else Q @ K.transpose(0, 2, 1)) * scale
    weights = _reference_masked_softmax(scores, None if variant == "no_mask" else valid_lens)
    return weights @ V, weights


@answer
def _reference_attention_backward(dout, Q, K, V, weights, *, variant: str = ""):
    """``(dQ, dK, dV)``; variants: "no_jacobian" (dS = dW), "diagonal" (W * dW), "diagonal_s1s"
    (W (1 - W) dW), "no_scale" (1/sqrt(d) left out of dQ and dK)."""
    d = Q.shape[-1]
    dV = weights.transpose(0, 2, 1) @ dout
    dW = dout @ V.transpose(0, 2, 1)
    if variant == "no_jacobian":
        dS = dW
    elif variant == "diagonal":
        dS = weights * dW
    elif variant == "diagonal_s1s":
        dS = weights * (1.0 - weights) * dW
    else:
        dS = weights * (dW - np.sum(dW * weights, axis=-1, keepdims=True))
    scale = 1.0 if variant == "no_scale" else 1.0 / math.sqrt(d)
    return dS @ K * scale, dS.transpose(0, 2, 1) @ Q * scale, dV


@answer
def _reference_additive_attention(Q, K, V, W_q, W_k, w_v, valid_lens=None, *, variant: str = ""):
    """``(out, weights)``; variants: "no_tanh", "scaled" (scores / sqrt(h)), "no_mask"."""
    features = (Q @ W_q.T)[:, :, None, :] + (K @ W_k.T)[:, None, :, :]    # (B, n, m, h)
    if variant != "no_tanh":
        features = np.tanh(features)
    scores = features @ w_v                                                 # (B, n, m)
    if variant == "scaled":
        scores = scores / math.sqrt(len(w_v))
    weights = _reference_masked_softmax(scores, None if variant == "no_mask" else valid_lens)
    return weights @ V, weights


# ---------------------------------------------------------------------------------------------
# The kit's torch parts
# ---------------------------------------------------------------------------------------------

@answer
def _reference_attention_torch(Q, K, V, attn_mask=None, *, variant: str = ""):
    """``(out, weights)`` for tensors with any leading dims; ``attn_mask`` True where a query may attend.

    variants: "no_scale", "wrong_axis" (dim=-2), "dim1" (dim=1), "after_softmax", "fill_zero",
    "inverted" (the mask's meaning flipped), "no_mask".
    """
    d = Q.shape[-1]
    scores = Q @ K.transpose(-2, -1)
    if variant != "no_scale":
        scores = scores / math.sqrt(d)
    dim = {"wrong_axis": -2, "dim1": 1}.get(variant, -1)
    if attn_mask is None or variant == "no_mask":
        weights = torch.softmax(scores, dim=dim)
    else:
        keep = ~attn_mask if variant == "inverted" else attn_mask
        if variant == "after_softmax":
            weights = torch.softmax(scores, dim=dim).masked_fill(~keep, 0.0)
        else:
            weights = torch.softmax(scores.masked_fill(~keep, 0.0 if variant == "fill_zero" else float("-inf")),
                                    dim=dim)
    return weights @ V, weights


REFERENCE_NUMPY: dict[str, Callable] = {
    "masked_softmax": _reference_masked_softmax, "causal_mask": _reference_causal_mask,
    "scaled_dot_product_attention": _reference_sdpa,
}
REFERENCE_TORCH: dict[str, Callable] = {"attention_torch": _reference_attention_torch}


# ---------------------------------------------------------------------------------------------
# Oracles (PyTorch, float64)
# ---------------------------------------------------------------------------------------------

def _t(x: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


@answer
def _oracle_masked_softmax(scores, valid_lens) -> np.ndarray:
    keep = torch.as_tensor(np.array(_keep_mask(valid_lens, np.shape(scores))))
    return torch.softmax(_t(scores).masked_fill(~keep, float("-inf")), dim=-1).numpy()


@answer
def _oracle_sdpa(Q, K, V, valid_lens) -> tuple[np.ndarray, np.ndarray]:
    """``out`` from F.scaled_dot_product_attention, ``weights`` from torch.softmax of the masked scores."""
    keep = torch.as_tensor(np.array(_keep_mask(valid_lens, (Q.shape[0], Q.shape[1], K.shape[1]))))
    out = F.scaled_dot_product_attention(_t(Q), _t(K), _t(V), attn_mask=keep).numpy()
    scores = _t(Q) @ _t(K).transpose(-2, -1) / math.sqrt(Q.shape[-1])
    return out, torch.softmax(scores.masked_fill(~keep, float("-inf")), dim=-1).numpy()


@answer
def _oracle_grads(dout, Q, K, V, valid_lens) -> tuple[np.ndarray, ...]:
    """``(dQ, dK, dV)`` by autograd through F.scaled_dot_product_attention."""
    keep = torch.as_tensor(np.array(_keep_mask(valid_lens, (Q.shape[0], Q.shape[1], K.shape[1]))))
    return torch_gradients(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=keep), Q, K, V,
                           dout=dout)


@answer
def _oracle_additive(Q, K, V, W_q, W_k, w_v, valid_lens) -> tuple[np.ndarray, np.ndarray]:
    """The chapter's AdditiveAttention in torch (no biases, no dropout): F.linear, tanh, masked softmax, bmm."""
    q, k = F.linear(_t(Q), _t(W_q)), F.linear(_t(K), _t(W_k))               # (B, n, h), (B, m, h)
    features = torch.tanh(q.unsqueeze(2) + k.unsqueeze(1))                   # (B, n, m, h)
    scores = F.linear(features, _t(w_v)[None, :]).squeeze(-1)                # (B, n, m)
    keep = torch.as_tensor(np.array(_keep_mask(valid_lens, tuple(scores.shape))))
    weights = torch.softmax(scores.masked_fill(~keep, float("-inf")), dim=-1)
    return torch.bmm(weights, _t(V)).numpy(), weights.numpy()


@answer
def _oracle_attention_torch(Q, K, V, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 CPU tensors: ``out`` from F.scaled_dot_product_attention, ``weights`` from torch.softmax."""
    Qt, Kt, Vt = _t(Q), _t(K), _t(V)
    keep = None if mask is None else torch.as_tensor(np.array(mask))
    out = F.scaled_dot_product_attention(Qt, Kt, Vt, attn_mask=keep)
    scores = Qt @ Kt.transpose(-2, -1) / math.sqrt(Q.shape[-1])
    if keep is not None:
        scores = scores.masked_fill(~keep, float("-inf"))
    return out, torch.softmax(scores, dim=-1)


# ---------------------------------------------------------------------------------------------
# Comparing, with hints that also recognise a NaN-producing mistake
# ---------------------------------------------------------------------------------------------

def _matches(got: Any, candidate: Any, rtol: float, atol: float) -> bool:
    try:
        g, c = to_numpy(got).astype(np.float64), to_numpy(candidate).astype(np.float64)
    except (TypeError, ValueError):
        return False
    return g.shape == c.shape and bool(np.allclose(g, c, rtol=max(rtol, 1e-6), atol=max(atol, 1e-9), equal_nan=True))


def _close(label: str, got: Any, expected: Any, make_mistakes: Callable[[], dict], **kwargs) -> None:
    """``check_close`` with ``mistakes`` computed only on failure (and always while release records
    them, so that the student kit has them); a mistake whose values contain NaN (a fully masked
    column normalised the wrong way) is recognised too."""
    if recording():
        make_mistakes()
    try:
        check_close(label, got, expected, **kwargs)
        return
    except CheckFailed as exc:
        msg = str(exc)
    try:
        mistakes = make_mistakes()
    except NotPublished:  # a student kit without the values this mistake would have given
        mistakes = {}
    try:
        check_close(label, got, expected, mistakes=mistakes, **kwargs)
    except CheckFailed as exc:
        msg = str(exc)  # the same failure, now with the hints that check_close recognises itself
    rtol, atol = kwargs.get("rtol", 1e-7), kwargs.get("atol", 1e-10)
    extra = [hint for hint, candidate in mistakes.items()
             if f"hint: {hint}" not in msg and _matches(got, candidate, rtol, atol)]
    raise CheckFailed(msg + "".join(f"\n  hint: {hint}" for hint in extra))


def _forbid(name: str, *functions: Callable) -> None:
    """The part is written from scratch: the oracles may not be called."""
    used = set()
    for fn in functions:
        used |= global_names_used(fn)
    found = [f for f in FORBIDDEN if f in used]
    if found:
        raise CheckFailed(f"{name} uses {found[0]}, the oracle this part is checked against. Write the computation "
                          "from scratch: matrix products, a masked softmax, and (for multi-head attention) reshapes.")


def _copies(*arrays: Any) -> tuple[np.ndarray, ...]:
    return tuple(np.array(a, copy=True) for a in arrays)


# ---------------------------------------------------------------------------------------------
# masked_softmax
# ---------------------------------------------------------------------------------------------

@grading_only
def _random_lens(rng: np.random.Generator, kind: str, B: int, n: int, m: int):
    """``None``, ``(B,)`` or ``(B, n)`` valid lengths in 1..m, with at least one below m."""
    if kind == "none":
        return None
    shape = (B,) if kind == "batch" else (B, n)
    lens = rng.integers(1, m + 1, size=shape)
    lens.flat[0] = max(1, m - 1) if m > 1 else 1
    return lens.astype(np.int64)


@grading_only
def _hidden_masked_softmax_cases():
    rng = hidden_rng("masked_softmax")
    for kind in ("none", "batch", "query", "batch"):
        B, n, m = (int(v) for v in rng.integers(2, 7, size=3))
        yield 3.0 * rng.normal(size=(B, n, m)), _random_lens(rng, kind, B, n, m)


def _masked_softmax_cases(hidden: bool):
    """Yield ``(scores (B, n, m), valid_lens)``: no mask, (B,) lengths, (B, n) lengths."""
    if hidden:
        yield from _hidden_masked_softmax_cases()
    else:
        yield 3.0 * linspace_grid(2, 3, 4), None
        yield 2.5 * linspace_grid(2, 3, 5, lo=-1.5, hi=1.0), np.array([2, 5])
        yield 2.0 * linspace_grid(2, 4, 4, lo=1.2, hi=-0.8), np.array([[1, 2, 3, 4], [2, 2, 3, 1]])


@answer
def _masked_softmax_mistakes(scores, valid_lens) -> dict[str, np.ndarray]:
    m = {HINT_SOFTMAX_AXIS: _reference_masked_softmax(scores, valid_lens, variant="wrong_axis")}
    if valid_lens is not None:
        m[HINT_MASK_AFTER] = _reference_masked_softmax(scores, valid_lens, variant="after_softmax")
        m[HINT_MASK_ZERO] = _reference_masked_softmax(scores, valid_lens, variant="fill_zero")
        m[HINT_MASK_IGNORED] = _reference_masked_softmax(scores, valid_lens, variant="no_mask")
    return m


def check_masked_softmax(masked_softmax, hidden: bool = False) -> None:
    """``masked_softmax(scores, valid_lens)``: ``scores (B, n, m)`` -> weights ``(B, n, m)``.

    Compared with ``torch.softmax(scores.masked_fill(~mask, -inf), dim=-1)`` (relative error below
    1e-7), without a mask and with ``valid_lens`` of shape ``(B,)`` and ``(B, n)``.
    """
    count = 0
    for scores, valid_lens in _masked_softmax_cases(hidden):
        label = f"masked_softmax(scores {describe_shape(scores)}, {_describe_lens(valid_lens)})"
        got = call_student("masked_softmax", masked_softmax, scores.copy(),
                           None if valid_lens is None else valid_lens.copy())
        _close(label, got, _oracle_masked_softmax(scores, valid_lens),
               lambda: _masked_softmax_mistakes(scores, valid_lens), rtol=VALUE_RTOL, atol=VALUE_ATOL)
        count += 1
    passed(f"masked_softmax matches torch.softmax of the masked scores on {count} {scope_word(hidden)} inputs "
           "(no mask, valid_lens (B,) and (B, n))")


# Large scores (a softmax without the max shift overflows) and masks of both shapes.
PROPERTY_SCORES = 900.0 * linspace_grid(2, 3, 6, lo=-1.1, hi=1.0)
PROPERTY_LENS = (np.array([2, 5]), np.array([[1, 3, 6], [4, 2, 1]]))


def _check_masked_zero_and_sums(label: str, got: np.ndarray, scores, valid_lens) -> None:
    """Keys past the valid length get exactly 0, and each row's valid weights sum to 1."""
    keep = _keep_mask(valid_lens, scores.shape)
    hint = next((h for h, c in _masked_softmax_mistakes(scores, valid_lens).items() if _matches(got, c, 1e-7, 1e-10)),
                "")
    hint = f"\n  hint: {hint}" if hint else ""
    leaked = (~keep) & (got != 0)
    if leaked.any():
        b, i, j = (int(v) for v in np.argwhere(leaked)[0])
        raise CheckFailed(f"{label}: keys past the valid length must get a weight of exactly 0, but "
                          f"{int(leaked.sum())} of {int((~keep).sum())} masked weights are not 0 (first: "
                          f"weights[{b}, {i}, {j}] = {got[b, i, j]:.6g}, where the valid length is "
                          f"{int(keep[b, i].sum())}).{hint}")
    sums = np.where(keep, got, 0.0).sum(axis=-1)
    off = np.abs(sums - 1.0) > SUM_TOL
    if off.any():
        b, i = (int(v) for v in np.argwhere(off)[0])
        raise CheckFailed(f"{label}: the weights over the valid keys must sum to 1, but row ({b}, {i}) sums to "
                          f"{sums[b, i]:.12g} ({int(off.sum())} of {off.size} rows are off).{hint}")


def check_masked_softmax_properties(masked_softmax) -> None:
    """On scores as large as +-900: masked keys get exactly 0, the valid weights sum to 1, no NaN
    (the max shift); a valid length of 0 or above m raises ValueError with a message; ``scores``
    is not modified."""
    scores = PROPERTY_SCORES
    for valid_lens in PROPERTY_LENS:
        label = (f"masked_softmax(scores {describe_shape(scores)} with entries up to +-900, "
                 f"{_describe_lens(valid_lens)})")
        before = scores.copy()
        arg = scores.copy()
        got = call_student("masked_softmax", masked_softmax, arg, valid_lens.copy())
        check_unchanged(label, before, arg)
        try:
            check_close(label, got, _oracle_masked_softmax(scores, valid_lens), rtol=VALUE_RTOL, atol=1e-12)
        except CheckFailed:
            # Wrong values: say which property they break (masked weight, row sum) when they are
            # finite numbers of the right shape; otherwise the shape / NaN message stands.
            g = to_numpy(got)
            if g.shape == scores.shape and g.dtype.kind == "f" and np.all(np.isfinite(g)):
                _check_masked_zero_and_sums(label, g.astype(np.float64), scores, valid_lens)
            raise
        _check_masked_zero_and_sums(label, to_numpy(got).astype(np.float64), scores, valid_lens)
    B, n, m = scores.shape
    for bad in (np.array([0, 3]), np.array([2, m + 1]), np.array([[1, 2, 3], [0, 1, 2]])):
        label = f"masked_softmax(scores {describe_shape(scores)}, {_describe_lens(bad)}) with m = {m}"
        try:
            exc = expect_raises(label, ValueError, masked_softmax, scores.copy(), bad)
        except CheckFailed as failure:
            raise CheckFailed(f"{failure} A valid length must lie between 1 and m: check valid_lens first and "
                              "raise ValueError('...') with a message saying which length is wrong.") from None
        if not str(exc).strip():
            raise CheckFailed(f"{label}: raised ValueError without a message. Say what is wrong, e.g. "
                              f"ValueError(f'valid lengths must lie between 1 and m = {{m}}, got {{valid_lens}}').")
    passed("masked_softmax: masked keys get exactly 0, the valid weights sum to 1 for scores up to +-900, "
           "scores is not modified, and valid lengths of 0 or above m raise ValueError")


# ---------------------------------------------------------------------------------------------
# causal_mask
# ---------------------------------------------------------------------------------------------

@grading_only
def _hidden_causal_sizes() -> list[int]:
    return [int(v) for v in hidden_rng("causal_mask").integers(2, 12, size=3)]


@answer
def _oracle_causal_mask(n: int) -> np.ndarray:
    return torch.ones(n, n, dtype=torch.bool).tril().numpy()


@answer
def _causal_mask_mistakes(n: int) -> dict[str, np.ndarray]:
    expected = _oracle_causal_mask(n)
    return {"inverted: True marks the keys a query MAY attend (F.scaled_dot_product_attention's "
            "convention), here the lower triangle with the diagonal; True above the diagonal is "
            "nn.MultiheadAttention's convention": ~expected,
            "transposed: row i is query i, which may attend keys j <= i (the columns up to the diagonal): "
            "a lower triangle, np.tril": expected.T,
            "the diagonal is missing: a position may attend itself (j <= i, not j < i)": np.tril(expected, -1)}


def check_causal_mask(causal_mask, hidden: bool = False) -> None:
    """``causal_mask(n)`` -> ``(n, n)`` bool, True where query i may attend key j, that is j <= i
    (``torch.ones(n, n, dtype=torch.bool).tril()``, the mask F.scaled_dot_product_attention's
    ``is_causal`` applies)."""
    sizes = _hidden_causal_sizes() if hidden else [4, 1, 6]
    for n in sizes:
        label = f"causal_mask({n})"
        got = call_student("causal_mask", causal_mask, n)
        expected = _oracle_causal_mask(n)
        hints = _causal_mask_mistakes(n)
        if not isinstance(got, np.ndarray):
            raise CheckFailed(f"{label}: expected a numpy.ndarray of booleans, got a {type(got).__name__}.")
        if got.shape != (n, n):
            raise CheckFailed(f"{label}: expected shape {(n, n)}, got {got.shape}.")
        if got.dtype != np.bool_:
            same = got.dtype.kind in "biuf" and np.array_equal(got != 0, expected)
            raise CheckFailed(f"{label}: expected dtype bool, got {got.dtype}." + (
                " The pattern is right: return booleans, np.tril(np.ones((n, n), dtype=bool)) (a float mask means "
                "something else to torch: numbers added to the scores)." if same else ""))
        if not np.array_equal(got, expected):
            wrong = np.argwhere(got != expected)[0]
            hint = next((f"\n  hint: {h}" for h, c in hints.items() if np.array_equal(got, c)), "")
            raise CheckFailed(f"{label}: {int((got != expected).sum())} of {n * n} entries are wrong (first at "
                              f"({wrong[0]}, {wrong[1]}): got {bool(got[tuple(wrong)])}). Query i may attend key j "
                              f"exactly when j <= i; for n = 3: [[T, F, F], [T, T, F], [T, T, T]].{hint}")
    passed(f"causal_mask matches torch.ones(n, n, dtype=torch.bool).tril() for n = {', '.join(map(str, sizes))}")


# ---------------------------------------------------------------------------------------------
# scaled_dot_product_attention
# ---------------------------------------------------------------------------------------------

@grading_only
def _random_qkv(rng: np.random.Generator, d_min: int = 2):
    B, n, m = (int(v) for v in rng.integers(1, 6, size=3))
    B, m = B + 1, m + 1  # at least two sequences and two keys, so a mask can bite
    d, v = int(rng.integers(d_min, 8)), int(rng.integers(1, 6))
    return rng.normal(size=(B, n, d)), rng.normal(size=(B, m, d)), rng.normal(size=(B, m, v))


@grading_only
def _hidden_sdpa_cases():
    rng = hidden_rng("scaled_dot_product_attention")
    for kind in ("none", "batch", "query"):
        Q, K, V = _random_qkv(rng)
        yield Q, K, V, _random_lens(rng, kind, Q.shape[0], Q.shape[1], K.shape[1])


def _sdpa_cases(hidden: bool):
    """Yield ``(Q, K, V, valid_lens)``."""
    if hidden:
        yield from _hidden_sdpa_cases()
    else:
        yield (linspace_grid(2, 3, 5, lo=-1.6, hi=1.4), linspace_grid(2, 4, 5, lo=1.3, hi=-1.2),
               linspace_grid(2, 4, 3, lo=-1.0, hi=2.0), None)
        yield (linspace_grid(2, 4, 3, lo=-1.5, hi=1.8), linspace_grid(2, 5, 3, lo=1.7, hi=-1.1),
               linspace_grid(2, 5, 2, lo=0.5, hi=-1.5), np.array([2, 4]))
        yield (linspace_grid(1, 4, 6, lo=1.1, hi=-1.9), linspace_grid(1, 4, 6, lo=-1.4, hi=1.6),
               linspace_grid(1, 4, 3, lo=-2.0, hi=1.0), np.array([[1, 2, 3, 4]]))


@answer
def _sdpa_mistakes(Q, K, V, valid_lens, which: int) -> dict[str, np.ndarray]:
    d = Q.shape[-1]
    m = {_no_scale_hint(d): _reference_sdpa(Q, K, V, valid_lens, variant="no_scale")[which],
         f"the scores were divided by d = {d}; the scale is 1/sqrt(d)":
             _reference_sdpa(Q, K, V, valid_lens, variant="scale_d")[which]}
    if valid_lens is not None:
        m["valid_lens was not passed on to masked_softmax: masked_softmax(scores, valid_lens)"] = \
            _reference_sdpa(Q, K, V, valid_lens, variant="no_mask")[which]
    if Q.shape[1] == K.shape[1]:
        m["the scores are K Q^T: score (i, j) is query i against key j, Q @ K.transpose(0, 2, 1)"] = \
            _reference_sdpa(Q, K, V, valid_lens, variant="kq")[which]
    return m


def check_scaled_dot_product_attention(scaled_dot_product_attention, hidden: bool = False) -> None:
    """``scaled_dot_product_attention(Q, K, V, valid_lens)`` -> ``out (B, n, v), weights (B, n, m)``.

    ``out`` is compared with ``F.scaled_dot_product_attention`` and ``weights`` with
    ``torch.softmax`` of the masked scores ``Q K^T / sqrt(d)`` (relative error below 1e-7).
    Runs with the kit's masked_softmax, so this cell grades the scores and the products.
    """
    count = 0
    with noting_own_parts(scaled_dot_product_attention, REFERENCE_NUMPY):
        for Q, K, V, valid_lens in _sdpa_cases(hidden):
            label = (f"scaled_dot_product_attention(Q {describe_shape(Q)}, K {describe_shape(K)}, "
                     f"V {describe_shape(V)}, {_describe_lens(valid_lens)})")
            exp_out, exp_w = _oracle_sdpa(Q, K, V, valid_lens)
            with functions_swapped_in(scaled_dot_product_attention, REFERENCE_NUMPY):
                result = call_student("scaled_dot_product_attention", scaled_dot_product_attention,
                                      *_copies(Q, K, V), None if valid_lens is None else valid_lens.copy())
            out, weights = unpack_results(label, result, ("out", "weights"))
            check_all(label, [
                ("weights", lambda: _close("weights", weights, exp_w, lambda: _sdpa_mistakes(Q, K, V, valid_lens, 1),
                                           rtol=VALUE_RTOL, atol=VALUE_ATOL)),
                ("out", lambda: _close("out", out, exp_out, lambda: _sdpa_mistakes(Q, K, V, valid_lens, 0),
                                       rtol=VALUE_RTOL, atol=VALUE_ATOL))])
            count += 1
    passed(f"scaled_dot_product_attention matches F.scaled_dot_product_attention on {count} {scope_word(hidden)} "
           "inputs (out and weights; no mask, valid_lens (B,) and (B, n))")


# ---------------------------------------------------------------------------------------------
# attention_backward
# ---------------------------------------------------------------------------------------------

@grading_only
def _hidden_backward_cases():
    rng = hidden_rng("attention_backward")
    for kind in ("none", "batch", "query"):
        Q, K, V = _random_qkv(rng)
        lens = _random_lens(rng, kind, Q.shape[0], Q.shape[1], K.shape[1])
        yield rng.normal(size=(Q.shape[0], Q.shape[1], V.shape[2])), Q, K, V, lens


def _backward_cases(hidden: bool):
    """Yield ``(dout, Q, K, V, valid_lens)``."""
    if hidden:
        yield from _hidden_backward_cases()
    else:
        for Q, K, V, lens in _sdpa_cases(False):
            yield linspace_grid(Q.shape[0], Q.shape[1], V.shape[2], lo=1.5, hi=-1.3), Q, K, V, lens


@answer
def _backward_mistakes(dout, Q, K, V, W, expected) -> list[dict]:
    variants = {v: _reference_attention_backward(dout, Q, K, V, W, variant=v)
                for v in ("no_jacobian", "diagonal", "diagonal_s1s", "no_scale")}
    d = Q.shape[-1]
    hints = []
    for i, name in enumerate(GRAD_NAMES):
        m = {}
        if i < 2:
            m[HINT_NO_JACOBIAN] = variants["no_jacobian"][i]
            m[HINT_JACOBIAN_DIAGONAL] = variants["diagonal"][i]
            m[HINT_JACOBIAN_DIAGONAL + " (weights * (1 - weights) is only d w_j / d s_j)"] = variants["diagonal_s1s"][i]
            m[f"the forward pass divides the scores by sqrt(d) = sqrt({d}): {name} carries that 1/sqrt(d) too"] = \
                variants["no_scale"][i]
        if expected[i].shape[1] == expected[i].shape[2]:
            m[f"transposed: {name} must have the shape and layout of {name[1:]}; check which side of the product "
              "is transposed"] = expected[i].transpose(0, 2, 1)
        hints.append(m)
    return hints


def _call_backward(attention_backward, dout, Q, K, V, W, valid_lens):
    label = (f"attention_backward(dout {describe_shape(dout)}, Q {describe_shape(Q)}, K {describe_shape(K)}, "
             f"V {describe_shape(V)}, weights {describe_shape(W)}) with weights from {_describe_lens(valid_lens)}")
    with functions_swapped_in(attention_backward, REFERENCE_NUMPY):
        result = call_student("attention_backward", attention_backward, *_copies(dout, Q, K, V, W))
    return label, unpack_results(label, result, GRAD_NAMES)


def _check_dead_keys_get_no_gradient(label: str, got, valid_lens, shape) -> None:
    """Keys that no query may attend (past every valid length) get exactly 0 in dK and dV."""
    dead = ~_keep_mask(valid_lens, shape).any(axis=1)    # (B, m)
    if not dead.any():
        return
    for name, grad in (("dK", got[1]), ("dV", got[2])):
        g = to_numpy(grad).astype(np.float64)
        rows = g[dead]
        if np.any(rows != 0):
            b, j = (int(v) for v in np.argwhere(dead & np.any(g != 0, axis=-1))[0])
            raise CheckFailed(f"{label}: key {j} of sequence {b} lies past the valid length, so its weight is 0 and "
                              f"{name}[{b}, {j}] must be exactly 0; got largest |entry| {np.abs(g[b, j]).max():.3g}. "
                              "Hint: masked positions receive zero gradient; use the weights (which are exactly 0 "
                              "there) in every product, and keep them out of any term added afterwards.")


def check_attention_backward(attention_backward, hidden: bool = False) -> None:
    """``attention_backward(dout, Q, K, V, weights)`` -> ``dQ (B, n, d), dK (B, m, d), dV (B, m, v)``.

    The gradients of ``sum(out * dout)`` for ``out = scaled_dot_product_attention(Q, K, V, valid_lens)``,
    compared with PyTorch autograd through F.scaled_dot_product_attention (relative error below 1e-7).
    ``weights`` come from the kit's forward pass, with the mask; keys that no query may attend must
    get exactly 0 in dK and dV.
    """
    count = 0
    with noting_own_parts(attention_backward, REFERENCE_NUMPY):
        for dout, Q, K, V, valid_lens in _backward_cases(hidden):
            _, W = _reference_sdpa(Q, K, V, valid_lens)
            expected = _oracle_grads(dout, Q, K, V, valid_lens)
            label, got = _call_backward(attention_backward, dout, Q, K, V, W, valid_lens)
            hints = _backward_mistakes(dout, Q, K, V, W, expected)
            check_all(label, [
                (name, lambda i=i, name=name: check_close(name, got[i], expected[i], rtol=GRAD_RTOL, atol=GRAD_ATOL,
                                                          mistakes=hints[i]))
                for i, name in enumerate(GRAD_NAMES)])
            _check_dead_keys_get_no_gradient(label, got, valid_lens, W.shape)
            count += 1
    passed(f"attention_backward matches PyTorch autograd on {count} {scope_word(hidden)} inputs (dQ, dK, dV), and "
           "masked keys get exactly zero gradient")


def _fd_case(hidden: bool):
    """``(dout, Q, K, V, valid_lens)`` with (B,) lengths that mask some keys, and every gradient entry
    that is not structurally 0 at least FD_MIN_GRAD in size (the bar is relative)."""
    return _hidden_fd_case() if hidden else _public_fd_case()


@answer
def _public_fd_case():
    """The public finite-difference case: the first well-conditioned draw from a fixed generator."""
    return _fd_search(np.random.default_rng(20264))


@grading_only
def _hidden_fd_case():
    return _fd_search(hidden_rng("attention_backward_finite_differences"))


@grading_only
def _fd_search(rng: np.random.Generator):
    """Draw from ``rng`` until a case is well conditioned (the kit's gradients decide)."""
    for _ in range(5000):
        B, n, m, d, v = (int(rng.integers(2, 4)), int(rng.integers(2, 5)), int(rng.integers(3, 6)),
                         int(rng.integers(2, 5)), int(rng.integers(2, 4)))
        Q, K, V = rng.normal(size=(B, n, d)), rng.normal(size=(B, m, d)), rng.normal(size=(B, m, v))
        lens = rng.integers(2, m + 1, size=B)
        lens[0] = m - 1
        dout = rng.normal(size=(B, n, v))
        _, W = _reference_sdpa(Q, K, V, lens)
        grads = _reference_attention_backward(dout, Q, K, V, W)
        live = _keep_mask(lens, W.shape).any(axis=1)      # (B, m): keys some query may attend
        smallest = min(np.min(np.abs(grads[0])), np.min(np.abs(grads[1][live])), np.min(np.abs(grads[2][live])))
        if smallest >= FD_MIN_GRAD:
            return dout, Q, K, V, lens
    raise RuntimeError("no well-conditioned finite-difference case found")  # pragma: no cover


@answer
def _numeric_gradients(dout, Q, K, V, valid_lens) -> list[np.ndarray]:
    """Centred differences (step FD_STEP) of ``sum(out * dout)`` through the kit's NumPy forward pass."""
    return numerical_gradients(lambda q, k, v: float(np.sum(_reference_sdpa(q, k, v, valid_lens)[0] * dout)),
                               [Q, K, V], h=FD_STEP)


def check_attention_backward_finite_differences(attention_backward, hidden: bool = False) -> None:
    """``attention_backward``'s dQ, dK, dV against centred differences (h = 1e-5) of ``sum(out * dout)``,
    in float64, with a mask: the largest elementwise relative error must stay below 1e-7.

    The forward pass is the kit's NumPy scaled_dot_product_attention. Masked keys do not change the
    output at all, so their centred differences are exactly 0, and so must the analytic gradients be.
    """
    dout, Q, K, V, valid_lens = _fd_case(hidden)
    _, W = _reference_sdpa(Q, K, V, valid_lens)
    with noting_own_parts(attention_backward, REFERENCE_NUMPY):
        label, got = _call_backward(attention_backward, dout, Q, K, V, W, valid_lens)
        numeric = _numeric_gradients(dout, Q, K, V, valid_lens)
        hints = _backward_mistakes(dout, Q, K, V, W, numeric)
        errors = check_gradients(label, got, numeric, GRAD_NAMES, oracle=f"centred differences (h = {FD_STEP:g})",
                                 max_rel_error=FD_MAX_REL_ERROR, batch_size=None, mistakes=hints)
    detail = f" (largest relative error {max(errors.values()):.1e})" if hidden else ""
    passed(f"attention_backward agrees with centred differences (h = {FD_STEP:g}, float64) on a {scope_word(hidden)} "
           f"masked batch: relative error below {FD_MAX_REL_ERROR:g} for dQ, dK, dV{detail}")


# ---------------------------------------------------------------------------------------------
# additive_attention
# ---------------------------------------------------------------------------------------------

@grading_only
def _hidden_additive_cases():
    rng = hidden_rng("additive_attention")
    for kind in ("none", "batch", "query"):
        B, n, m = int(rng.integers(2, 5)), int(rng.integers(1, 5)), int(rng.integers(2, 6))
        dq, dk, v, h = (int(x) for x in rng.integers(2, 7, size=4))
        dk += dq == dk
        yield (rng.normal(size=(B, n, dq)), rng.normal(size=(B, m, dk)), rng.normal(size=(B, m, v)),
               rng.normal(size=(h, dq)) / math.sqrt(dq), rng.normal(size=(h, dk)) / math.sqrt(dk),
               rng.normal(size=h), _random_lens(rng, kind, B, n, m))


def _additive_cases(hidden: bool):
    """Yield ``(Q, K, V, W_q, W_k, w_v, valid_lens)``, with d_q != d_k."""
    if hidden:
        yield from _hidden_additive_cases()
    else:
        base = (linspace_grid(2, 3, 4, lo=-1.5, hi=1.2), linspace_grid(2, 5, 3, lo=1.4, hi=-1.6),
                linspace_grid(2, 5, 2, lo=-1.0, hi=1.8), linspace_grid(6, 4, lo=0.9, hi=-0.7),
                linspace_grid(6, 3, lo=-0.8, hi=1.1), linspace_grid(6, lo=1.5, hi=-1.2))
        yield (*base, None)
        yield (*base, np.array([3, 5]))


@answer
def _additive_mistakes(args, which: int) -> dict[str, np.ndarray]:
    h = len(args[5])
    m = {"tanh is missing: the scores are w_v . tanh(W_q q + W_k k)":
             _reference_additive_attention(*args, variant="no_tanh")[which],
         f"the scores were divided by sqrt(h) = sqrt({h}): that scale belongs to dot-product attention; additive "
         "attention's scores are w_v . tanh(W_q q + W_k k), unscaled":
             _reference_additive_attention(*args, variant="scaled")[which]}
    if args[6] is not None:
        m["valid_lens was not passed on to masked_softmax"] = \
            _reference_additive_attention(*args, variant="no_mask")[which]
    return m


def check_additive_attention(additive_attention, hidden: bool = False) -> None:
    """``additive_attention(Q, K, V, W_q, W_k, w_v, valid_lens)`` -> ``out (B, n, v), weights (B, n, m)``.

    Scores ``w_v . tanh(W_q q_i + W_k k_j)`` with no biases, weights stored as PyTorch stores them
    (``W_q (h, d_q)``, ``W_k (h, d_k)``, ``w_v (h,)``); compared with the chapter's AdditiveAttention
    written in torch (F.linear, tanh, masked softmax, bmm). Runs with the kit's masked_softmax.
    """
    count = 0
    with noting_own_parts(additive_attention, REFERENCE_NUMPY):
        for args in _additive_cases(hidden):
            Q, K, V, W_q, W_k, w_v, valid_lens = args
            label = (f"additive_attention(Q {describe_shape(Q)}, K {describe_shape(K)}, V {describe_shape(V)}, "
                     f"W_q {describe_shape(W_q)}, W_k {describe_shape(W_k)}, w_v {describe_shape(w_v)}, "
                     f"{_describe_lens(valid_lens)})")
            exp_out, exp_w = _oracle_additive(*args)
            with functions_swapped_in(additive_attention, REFERENCE_NUMPY):
                result = call_student("additive_attention", additive_attention, *_copies(*args[:6]),
                                      None if valid_lens is None else valid_lens.copy())
            out, weights = unpack_results(label, result, ("out", "weights"))
            check_all(label, [
                ("weights", lambda: _close("weights", weights, exp_w, lambda: _additive_mistakes(args, 1),
                                           rtol=VALUE_RTOL, atol=VALUE_ATOL)),
                ("out", lambda: _close("out", out, exp_out, lambda: _additive_mistakes(args, 0),
                                       rtol=VALUE_RTOL, atol=VALUE_ATOL))])
            count += 1
    passed(f"additive_attention matches the chapter's AdditiveAttention (in torch) on {count} {scope_word(hidden)} "
           "inputs with d_q != d_k")


# ---------------------------------------------------------------------------------------------
# attention_torch
# ---------------------------------------------------------------------------------------------

def _devices() -> list[str]:
    return ["cpu", "cuda"] if cuda_available() else ["cpu"]


@grading_only
def _hidden_torch_attention_cases():
    rng = hidden_rng("attention_torch")
    for kind, dtype in (("none", torch.float64), ("causal", torch.float64), ("padding", torch.float32),
                        ("heads", torch.float32)):
        Q, K, V = _random_qkv(rng)
        B, n, m = Q.shape[0], Q.shape[1], K.shape[1]
        mask = None
        if kind == "causal":
            n = m = max(n, 2)
            Q, K, V = (rng.normal(size=(B, n, x.shape[2])) for x in (Q, K, V))
            mask = _reference_causal_mask(n)
        elif kind == "padding":
            mask = _keep_mask(_random_lens(rng, "batch", B, n, m), (B, n, m))[:, :1, :]    # (B, 1, m)
        elif kind == "heads":
            h = int(rng.integers(2, 4))
            Q, K, V = (np.stack([x] + [rng.normal(size=x.shape) for _ in range(h - 1)], axis=1)
                       for x in (Q, K, V))                                                # (B, h, ., .)
            mask = rng.random((n, m)) < 0.7
            mask[:, 0] = True  # every query may attend some key
        yield Q, K, V, mask, dtype


def _torch_attention_cases(hidden: bool):
    """Yield ``(Q, K, V, mask, dtype)``: NumPy float64 arrays, a bool mask (True = may attend) or None."""
    if hidden:
        yield from _hidden_torch_attention_cases()
    else:
        yield (linspace_grid(2, 3, 4, lo=-1.6, hi=1.4), linspace_grid(2, 5, 4, lo=1.3, hi=-1.2),
               linspace_grid(2, 5, 3, lo=-1.0, hi=2.0), None, torch.float64)
        yield (linspace_grid(2, 4, 3, lo=-1.5, hi=1.8), linspace_grid(2, 4, 3, lo=1.7, hi=-1.1),
               linspace_grid(2, 4, 2, lo=0.5, hi=-1.5), _reference_causal_mask(4), torch.float64)
        yield (linspace_grid(2, 3, 5, lo=1.1, hi=-1.9), linspace_grid(2, 4, 5, lo=-1.4, hi=1.6),
               linspace_grid(2, 4, 3, lo=-2.0, hi=1.0), _keep_mask(np.array([2, 4]), (2, 3, 4))[:, :1, :],
               torch.float32)
        yield (linspace_grid(2, 3, 4, 6, lo=-1.2, hi=1.5), linspace_grid(2, 3, 4, 6, lo=1.6, hi=-1.3),
               linspace_grid(2, 3, 4, 2, lo=-1.1, hi=0.9), _reference_causal_mask(4), torch.float32)


@answer
def _attention_torch_mistakes(Q, K, V, mask, which: int) -> dict[str, Any]:
    Qt, Kt, Vt = _t(Q), _t(K), _t(V)
    keep = None if mask is None else torch.as_tensor(np.array(mask))

    def variant(v: str):
        return _reference_attention_torch(Qt, Kt, Vt, keep, variant=v)[which]

    m = {_no_scale_hint(Q.shape[-1]): variant("no_scale"), HINT_SOFTMAX_AXIS: variant("wrong_axis")}
    if Q.ndim == 4:
        m[HINT_SOFTMAX_HEADS] = variant("dim1")
    if mask is not None:
        m.update({HINT_MASK_AFTER: variant("after_softmax"), HINT_MASK_ZERO: variant("fill_zero"),
                  HINT_MASK_INVERTED: variant("inverted"), HINT_MASK_IGNORED: variant("no_mask")})
    return m


def check_attention_torch(attention_torch, hidden: bool = False) -> None:
    """``attention_torch(Q, K, V, attn_mask=None)`` -> ``out (..., n, v), weights (..., n, m)``, tensors on
    the inputs' device.

    Any leading dims (3-d and 4-d inputs); ``attn_mask`` a bool tensor broadcastable to
    ``(..., n, m)``, True where a query may attend a key. ``out`` is compared with
    ``F.scaled_dot_product_attention`` and ``weights`` with ``torch.softmax`` of the masked scores,
    in float64 and float32 (float32 bars), on the CPU and on a GPU where present.
    """
    _forbid("attention_torch", attention_torch)
    count = 0
    for Q, K, V, mask, dtype in _torch_attention_cases(hidden):
        exp_out, exp_w = _oracle_attention_torch(Q, K, V, mask)
        label = (f"attention_torch(Q {describe_shape(Q)}, K {describe_shape(K)}, V {describe_shape(V)}, "
                 f"{_describe_mask(mask)}) in {str(dtype).replace('torch.', '')}")
        for device in _devices():
            args = [torch.as_tensor(x, dtype=dtype, device=device) for x in (Q, K, V)]
            kwargs = {} if mask is None else {"attn_mask": torch.as_tensor(np.array(mask), device=device)}
            result = call_student("attention_torch", attention_torch, *args, **kwargs)
            where = label + (f" on {device}" if device != "cpu" else "")
            out, weights = unpack_results(where, result, ("out", "weights"))
            check_all(where, [
                ("weights", lambda: _close("weights", weights, exp_w.to(device),
                                           lambda: _attention_torch_mistakes(Q, K, V, mask, 1),
                                           rtol=VALUE_RTOL, atol=VALUE_ATOL)),
                ("out", lambda: _close("out", out, exp_out.to(device),
                                       lambda: _attention_torch_mistakes(Q, K, V, mask, 0),
                                       rtol=VALUE_RTOL, atol=VALUE_ATOL))])
        count += 1
    devices = " and ".join(_devices())
    passed(f"attention_torch matches F.scaled_dot_product_attention on {count} {scope_word(hidden)} inputs on "
           f"{devices} (3-d and 4-d, causal and padding masks, float64 and float32)")


# ---------------------------------------------------------------------------------------------
# attention_loop
# ---------------------------------------------------------------------------------------------

def _randn(*shape: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed + sum(shape)), dtype=dtype)


def _qkv(B: int, n: int, m: int, d: int, v: int, seed: int = 0, dtype=torch.float32):
    return _randn(B, n, d, seed=seed, dtype=dtype), _randn(B, m, d, seed=seed + 1, dtype=dtype), \
        _randn(B, m, v, seed=seed + 2, dtype=dtype)


@grading_only
def _hidden_loop_cases() -> list[tuple[np.ndarray, ...]]:
    rng = hidden_rng("attention_loop")
    return [_random_qkv(rng) for _ in range(2)]


def check_attention_loop(attention_loop, hidden: bool = False) -> None:
    """``attention_loop(Q, K, V)``: ``(B, n, d), (B, m, d), (B, m, v)`` tensors -> ``out (B, n, v)``, by Python
    loops over the batch and the queries (the timing table's baseline).

    Values are compared with F.scaled_dot_product_attention; the loops are checked by counting
    torch calls: doubling both B and n must add at least one call per extra (batch, query) pair.
    """
    _forbid("attention_loop", attention_loop)
    if hidden:
        cases = _hidden_loop_cases()
    else:
        cases = [(linspace_grid(2, 3, 4, lo=-1.6, hi=1.4), linspace_grid(2, 5, 4, lo=1.3, hi=-1.2),
                  linspace_grid(2, 5, 3, lo=-1.0, hi=2.0)),
                 (linspace_grid(1, 1, 2, lo=0.4, hi=-0.9), linspace_grid(1, 3, 2, lo=-1.0, hi=1.2),
                  linspace_grid(1, 3, 1, lo=2.0, hi=-1.0))]
    for Q, K, V in cases:
        label = f"attention_loop(Q {describe_shape(Q)}, K {describe_shape(K)}, V {describe_shape(V)})"
        got = call_student("attention_loop", attention_loop, *(torch.as_tensor(x) for x in (Q, K, V)))
        if isinstance(got, (tuple, list)) and len(got) == 2:
            raise CheckFailed(f"{label}: returned a pair; attention_loop returns only out (B, n, v).")
        exp_out, _ = _oracle_attention_torch(Q, K, V, None)
        _close(label, got, exp_out, lambda: {}, rtol=VALUE_RTOL, atol=VALUE_ATOL)
    if not hidden:
        small, large = (2, 3), (4, 6)
        _, rec_small = record_torch_ops(call_student, "attention_loop", attention_loop, *_qkv(*small, 5, 4, 3))
        _, rec_large = record_torch_ops(call_student, "attention_loop", attention_loop, *_qkv(*large, 5, 4, 3))
        extra_pairs = large[0] * large[1] - small[0] * small[1]
        if rec_large.calls - rec_small.calls < extra_pairs:
            raise CheckFailed(f"attention_loop made {rec_small.calls} torch calls for B = {small[0]}, n = {small[1]} "
                              f"and {rec_large.calls} for B = {large[0]}, n = {large[1]}: its torch calls do not grow "
                              "with the number of (sequence, query) pairs, so it does not attend one query at a time "
                              "with torch operations. This version is the timing table's baseline: write two Python "
                              "for-loops, over b in range(B) and i in range(n), each step computing "
                              "softmax(K[b] @ Q[b, i] / sqrt(d)) @ V[b] on tensors.")
    passed(f"attention_loop matches F.scaled_dot_product_attention on {len(cases)} {scope_word(hidden)} inputs"
           + ("" if hidden else ", looping over the batch and the queries"))


# ---------------------------------------------------------------------------------------------
# Speed: attention_torch against a Python loop, and no loop in disguise
# ---------------------------------------------------------------------------------------------

def _call_count(attention_torch, B: int, n: int, heads: int | None = None) -> int:
    """Torch calls of one ``attention_torch`` call on (B, n, 8) inputs, or (B, heads, n, 8) ones."""
    qkv = _qkv(B, n, n, 8, 8)
    if heads is not None:
        qkv = tuple(_randn(B, heads, n, 8, seed=k) for k in range(3))
    _, record = record_torch_ops(call_student, "attention_torch", attention_torch, *qkv)
    return record.calls


def _require_form(label: str, got: Any, shape: tuple, device: torch.device, graded: str) -> None:
    """``got`` must have the form the value checks grade: a torch.Tensor on ``device``, of ``shape``,
    with floating-point values. No value is compared, so nothing published is needed."""
    try:
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{label}: expected a torch.Tensor on {device}, got a {kind_of(got)}.")
        if got.device.type != device.type:
            raise CheckFailed(f"{label}: expected the result on {device.type} (where the inputs live), got it on "
                              f"{got.device}.")
        if tuple(got.shape) != tuple(shape):
            raise CheckFailed(f"{label}: expected shape {tuple(shape)}, got shape {tuple(got.shape)}.")
        if not got.dtype.is_floating_point:
            raise CheckFailed(f"{label}: expected floating-point values, got dtype {str(got.dtype).replace('torch.', '')}.")
    except CheckFailed as exc:
        raise CheckFailed(f"{exc} Its {graded} is graded once it returns a result of the right form.") from None


def _require_attention_form(attention_torch, args: tuple) -> None:
    """``attention_torch(*args)`` must return ``(out (..., n, v), weights (..., n, m))``, floating-point
    tensors on the inputs' device, before its speed is graded."""
    Q, K, V = args
    label = f"attention_torch(Q {describe_shape(Q)}, K {describe_shape(K)}, V {describe_shape(V)})"
    result = call_student("attention_torch", attention_torch, *args)  # a crash is reported as such, not as slowness
    try:
        out, weights = unpack_results(label, result, ("out", "weights"))
    except CheckFailed as exc:
        raise CheckFailed(f"{exc} Its speed is graded once it returns a result of the right form.") from None
    _require_form(f"{label} -> out", out, (*Q.shape[:-1], V.shape[-1]), Q.device, "speed")
    _require_form(f"{label} -> weights", weights, (*Q.shape[:-1], K.shape[-2]), Q.device, "speed")


def check_attention_speed(attention_torch) -> None:
    """``attention_torch`` has no Python loop and beats a loop over (batch, query) pairs by 10x.

    Its result on the timed inputs must first have the form of the answer (a pair of floating-point
    tensors, out and weights, of the right shapes). Then, deterministically: the number of torch calls
    must not grow with the batch size B, the sequence length n or, on 4-d inputs, the number of heads
    (a loop in disguise makes one or more calls per row or head and is named). Then, timed on one thread with B = 32, n = m = 32, d = v = 8: at
    least 10x faster than the loop (a batched version reaches about 100x on a 2-core laptop).
    """
    args = _qkv(32, 32, 32, 8, 8)
    _require_attention_form(attention_torch, args)
    base = _call_count(attention_torch, 2, 8)
    for what, (B, n) in (("the batch", (4, 8)), ("the queries", (2, 16))):
        calls = _call_count(attention_torch, B, n)
        if calls > base:
            raise CheckFailed(
                f"attention_torch made {base} torch calls for B = 2, n = 8 and {calls} for B = {B}, n = {n}: the "
                f"number of calls grows with the input, so it loops over {what} in Python. Attend every query of "
                "every sequence at once: scores = Q @ K.transpose(-2, -1) / sqrt(d) has shape (..., n, m), then one "
                "softmax over the last axis and one product with V.")
    base_heads = _call_count(attention_torch, 2, 8, heads=2)
    heads_calls = _call_count(attention_torch, 2, 8, heads=4)
    if heads_calls > base_heads:
        raise CheckFailed(
            f"attention_torch made {base_heads} torch calls for Q (2, 2, 8, 8) (2 heads) and {heads_calls} for Q "
            "(2, 4, 8, 8) (4 heads): the number of calls grows with the heads, so it loops over them in Python. "
            "The matrix products and the softmax work on any leading dimensions: Q @ K.transpose(-2, -1) of "
            "(B, h, n, d) and (B, h, m, d) is (B, h, n, m), every head at once.")

    def python_loop():
        # The lecture's loop over the batch and the queries, on this check's own inputs: the baseline.
        Q, K, V = args
        B, n, d = Q.shape
        out = torch.empty(B, n, V.shape[-1], dtype=Q.dtype, device=Q.device)
        for b in range(B):
            for i in range(n):
                w = torch.softmax(K[b] @ Q[b, i] / math.sqrt(d), dim=0)
                out[b, i] = w @ V[b]
        return out

    with torch_threads(1):
        table = time_side_by_side([
            Implementation("python loop", python_loop),
            Implementation("attention_torch", repeatable(attention_torch, *args)),
        ], baseline="python loop", rounds=7, max_seconds_each=1.0)
    ratio = judge_speedup("attention_torch", table, fast="attention_torch", slow="python loop",
                          threshold=SPEEDUP_THRESHOLD)
    print(table)
    passed(f"attention_torch makes {base} torch calls whatever B and n ({base_heads} on 4-d inputs, whatever the "
           f"number of heads), and is {ratio:,.0f}x faster than the loop "
           f"over (batch, query) pairs (needs {SPEEDUP_THRESHOLD:g}x)")


# ---------------------------------------------------------------------------------------------
# MultiHeadAttention
# ---------------------------------------------------------------------------------------------

def _class_functions(cls) -> list[Callable]:
    if is_remote(cls):
        return [cls] if cls.remote_kind == "class" else []  # global_names_used covers a class's functions there
    return [f for f in vars(cls).values() if callable(f) and hasattr(f, "__code__")] if isinstance(cls, type) else []


def _build(MultiHeadAttention, E: int, h: int):
    label = f"MultiHeadAttention(embed_dim={E}, num_heads={h})"
    with torch.random.fork_rng(devices=[]):  # the module's random init leaves the notebook's torch RNG alone
        module = call_student("MultiHeadAttention", MultiHeadAttention, E, h)
    if not isinstance(module, torch.nn.Module):
        raise CheckFailed(f"{label}: expected an nn.Module, got a {type(module).__name__}. Subclass nn.Module and "
                          "call super().__init__() first in __init__.")
    for name in PROJECTIONS:
        layer = getattr(module, name, None)
        if not isinstance(layer, torch.nn.Linear):
            got = "missing" if layer is None else f"a {type(layer).__name__}"
            raise CheckFailed(f"{label}: self.{name} should be an nn.Linear({E}, {E}), got {got}.")
        if (layer.in_features, layer.out_features) != (E, E):
            raise CheckFailed(f"{label}: self.{name} is nn.Linear({layer.in_features}, {layer.out_features}); each "
                              f"projection maps embed_dim to embed_dim: nn.Linear({E}, {E}).")
        if layer.bias is None:
            raise CheckFailed(f"{label}: self.{name} has no bias; nn.MultiheadAttention's projections have biases "
                              "(nn.Linear's default, bias=True).")
    count = sum(p.numel() for p in module.parameters())
    if count != 4 * E * E + 4 * E:
        raise CheckFailed(f"{label}: has {count} parameters; the four projections hold 4 * (E * E + E) = "
                          f"{4 * E * E + 4 * E} and there should be no others.")
    return label, module


def _structure(MultiHeadAttention, E: int, h: int) -> None:
    """Runs where the class lives (the kernel, when grading): CheckFailed unless it builds as it should."""
    _build(MultiHeadAttention, E, h)


def check_mha_structure(MultiHeadAttention) -> None:
    """``MultiHeadAttention(embed_dim, num_heads)`` is an ``nn.Module`` whose ``q_proj``, ``k_proj``,
    ``v_proj`` and ``out_proj`` are ``nn.Linear(E, E)`` with bias, and that has no other parameters."""
    for E, h in ((8, 2), (6, 1), (12, 4)):
        run_in_kernel(_structure, MultiHeadAttention, E, h)
    passed("MultiHeadAttention: an nn.Module with q_proj, k_proj, v_proj, out_proj as nn.Linear(E, E) with bias, "
           "and no other parameters")


def _torch_mha(E: int, h: int, seed: int) -> torch.nn.MultiheadAttention:
    """A seeded nn.MultiheadAttention(batch_first=True) with random (not zero) biases, float32."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mha = torch.nn.MultiheadAttention(E, h, batch_first=True)
        with torch.no_grad():
            mha.in_proj_bias.uniform_(-0.5, 0.5)
            mha.out_proj.bias.uniform_(-0.5, 0.5)
    return mha


def _mha_params(mha) -> dict[str, torch.Tensor]:
    E = mha.embed_dim
    W, b = mha.in_proj_weight.detach(), mha.in_proj_bias.detach()
    p = {}
    for i, name in enumerate(PROJECTIONS[:3]):
        p[f"{name}.weight"], p[f"{name}.bias"] = W[i * E:(i + 1) * E], b[i * E:(i + 1) * E]
    p["out_proj.weight"], p["out_proj.bias"] = mha.out_proj.weight.detach(), mha.out_proj.bias.detach()
    return p


def _load(module, params: dict[str, torch.Tensor]) -> None:
    """nn.MultiheadAttention's weights (in_proj_weight (3E, E) stacked q, k, v) into the four nn.Linear layers."""
    with torch.no_grad():
        for key, value in params.items():
            layer, attr = key.split(".")
            getattr(getattr(module, layer), attr).copy_(value)


@answer
def _mha_formula(query, key, value, p, h: int, mask=None, variant: str = ""):
    """Multi-head attention by hand, float64; ``variant`` names a mistake: "split" / "merge" / "both"
    (reshape without the transpose), "no_scale", "scale_E" (1/sqrt(E)), "weights_sum", "no_mask", "inverted"."""
    query, key, value = (x.double() for x in (query, key, value))
    p = {k: v.double() for k, v in p.items()}
    B, L, E = query.shape
    S, d = key.shape[1], E // h

    def split(x, n):
        return x.reshape(B, h, n, d) if variant in ("split", "both") else x.reshape(B, n, h, d).transpose(1, 2)

    Qh, Kh, Vh = (split(F.linear(x, p[f"{name}.weight"], p[f"{name}.bias"]), n)
                  for x, name, n in ((query, "q_proj", L), (key, "k_proj", S), (value, "v_proj", S)))
    scale = {"no_scale": 1.0, "scale_E": 1.0 / math.sqrt(E)}.get(variant, 1.0 / math.sqrt(d))
    scores = Qh @ Kh.transpose(-2, -1) * scale
    if mask is not None and variant != "no_mask":
        keep = ~mask if variant == "inverted" else mask
        scores = scores.masked_fill(~keep, float("-inf"))
    w = torch.softmax(scores, dim=-1)
    out = w @ Vh
    merged = out.reshape(B, L, E) if variant in ("merge", "both") else out.transpose(1, 2).reshape(B, L, E)
    return F.linear(merged, p["out_proj.weight"], p["out_proj.bias"]), (w.sum(1) if variant == "weights_sum" else
                                                                          w.mean(1))


@answer
def _mha_mistakes(query, key, value, p, h, mask, which: int) -> dict[str, torch.Tensor]:
    E = query.shape[-1]
    names = {"split": HINT_HEADS_SPLIT, "merge": HINT_HEADS_MERGE, "both": HINT_HEADS_BOTH,
             "no_scale": _no_scale_hint(E // h) + " (d = E / num_heads, the head size)",
             "scale_E": f"the scores were scaled by 1/sqrt(E) = 1/sqrt({E}); each head's scale is 1/sqrt(d) with "
                        f"d = E / num_heads = {E // h}, the length of a head's queries and keys",
             "weights_sum": "the weights were summed over the heads; return their mean, weights.mean(dim=1)"}
    if mask is not None:
        names.update({"no_mask": "attn_mask was ignored: pass it on to attention_torch",
                      "inverted": HINT_MASK_INVERTED})
    if which == 1:  # the weights come before the merge: a merge mistake cannot show in them
        names = {v: hint for v, hint in names.items() if v not in ("merge", "both")}
    return {hint: _mha_formula(query, key, value, p, h, mask, variant=v)[which] for v, hint in names.items()}


@grading_only
def _hidden_mha_cases(masked: bool):
    rng = hidden_rng("mha_causal" if masked else "mha")
    for self_attention in (True, False):
        h, d = int(rng.integers(2, 5)), int(rng.integers(2, 6))
        B, L = int(rng.integers(1, 4)), int(rng.integers(2, 7))
        S = L if masked or self_attention else int(rng.integers(1, 7))
        yield (h * d, h, B, L, S, (_reference_causal_mask(L) if masked else None), self_attention,
               int(rng.integers(0, 10_000)))
    if masked:
        h, d = int(rng.integers(2, 5)), int(rng.integers(2, 6))
        L, S = int(rng.integers(2, 6)), int(rng.integers(2, 7))
        mask = rng.random((L, S)) < 0.6
        mask[:, -1] = True  # every query may attend some key
        yield h * d, h, 2, L, S, mask, False, int(rng.integers(0, 10_000))


def _mha_cases(hidden: bool, masked: bool):
    """Yield ``(E, h, B, L, S, mask, self_attention, seed)``; self-attention passes one tensor as query, key
    and value (L = S)."""
    if hidden:
        yield from _hidden_mha_cases(masked)
    elif masked:
        yield 8, 2, 2, 5, 5, _reference_causal_mask(5), True, 4
        yield 12, 3, 2, 4, 4, _reference_causal_mask(4), False, 5
        mask = np.array([[True, False, True, True, False, True], [False, False, True, False, True, True],
                         [True, True, True, False, False, False]])
        yield 6, 2, 2, 3, 6, mask, False, 6
    else:
        yield 8, 2, 2, 3, 3, None, True, 1
        yield 12, 3, 2, 4, 5, None, False, 2
        yield 6, 1, 1, 2, 3, None, False, 3


def _mha_run(MultiHeadAttention, E: int, h: int, params: dict, query, key, value, keep, parts=None) -> tuple:
    """Runs where the class lives (the kernel, when grading): build ``MultiHeadAttention(E, h)``, load
    ``params``, and call it on ``(query, key, value)`` (with ``attn_mask=keep`` when given) with the
    kit's attention_torch. Returns ``(label, result)``."""
    label, module = _build(MultiHeadAttention, E, h)
    _load(module, params)
    forward = getattr(type(module), "forward", None)
    if forward is torch.nn.Module.forward:  # no forward of its own: nothing of the notebook's to swap into
        forward = None
    # parts: ``(name, function)`` pairs, the kit's attention_torch as the grader sends it (a stand-in
    # that calls back when grading). A tuple, not a dict: a dict would be mirrored back, stand-ins and all.
    with functions_swapped_in(forward, REFERENCE_TORCH if parts is None else dict(parts)):
        kwargs = {} if keep is None else {"attn_mask": keep}
        return label, call_student("MultiHeadAttention.forward", module, query, key, value, **kwargs)


@answer
def _oracle_mha(E: int, h: int, seed: int, query, key, value, keep) -> tuple[torch.Tensor, torch.Tensor]:
    """``(output, averaged_weights)`` of the seeded nn.MultiheadAttention(batch_first=True), which takes
    the blocking mask ``~keep``."""
    mha = _torch_mha(E, h, seed)
    exp_out, exp_w = mha(query, key, value, attn_mask=None if keep is None else ~keep, need_weights=True,
                         average_attn_weights=True)
    return exp_out.detach(), exp_w.detach()


def _own_forward(MultiHeadAttention):
    """The function of the class that calls attention_torch (its forward; in the kernel, the class)."""
    if is_remote(MultiHeadAttention):
        return MultiHeadAttention
    forward = getattr(MultiHeadAttention, "forward", None) if isinstance(MultiHeadAttention, type) else None
    return None if forward is torch.nn.Module.forward else forward


def _check_mha(MultiHeadAttention, hidden: bool, masked: bool) -> int:
    _forbid("MultiHeadAttention", *_class_functions(MultiHeadAttention))
    count = 0
    with noting_own_parts(_own_forward(MultiHeadAttention), REFERENCE_TORCH):
        for E, h, B, L, S, mask, self_attention, seed in _mha_cases(hidden, masked):
            params = _mha_params(_torch_mha(E, h, seed))
            gen = torch.Generator().manual_seed(seed)
            query = torch.randn(B, L, E, generator=gen)
            key = query if self_attention else torch.randn(B, S, E, generator=gen)
            value = query if self_attention else torch.randn(B, S, E, generator=gen)
            keep = None if mask is None else torch.as_tensor(np.array(mask))
            exp_out, exp_w = _oracle_mha(E, h, seed, query, key, value, keep)
            kind = "self-attention" if self_attention else "attention"
            label, result = run_in_kernel(_mha_run, MultiHeadAttention, E, h, params, query, key, value, keep,
                                          parts=tuple(REFERENCE_TORCH.items()))
            label = (f"{label}(query {describe_shape(query)}, key {describe_shape(key)}, "
                     f"value {describe_shape(value)}" + (f", {_describe_mask(mask)}" if mask is not None else "")
                     + f") [{kind}]")
            out, weights = unpack_results(label, result, ("output", "averaged_weights"))
            w_shape = tuple(to_numpy(weights).shape) if hasattr(weights, "shape") else None
            if w_shape == (B, h, L, S) and h > 1:
                raise CheckFailed(f"{label}: averaged_weights has shape {w_shape}, one (L, S) map per head; "
                                  f"nn.MultiheadAttention returns their average over the heads, (B, L, S) = "
                                  f"{(B, L, S)}: weights.mean(dim=1).")
            check_all(label, [
                ("output", lambda: _close("output", out, exp_out,
                                          lambda: _mha_mistakes(query, key, value, params, h, keep, 0),
                                          rtol=MHA_TOL, atol=MHA_TOL)),
                ("averaged_weights", lambda: _close("averaged_weights", weights, exp_w,
                                                    lambda: _mha_mistakes(query, key, value, params, h, keep, 1),
                                                    rtol=MHA_TOL, atol=MHA_TOL))])
            count += 1
    return count


def check_mha(MultiHeadAttention, hidden: bool = False) -> None:
    """``MultiHeadAttention(E, h)(query, key, value)`` -> ``(output (B, L, E), averaged_weights (B, L, S))``
    equals ``nn.MultiheadAttention(E, h, batch_first=True)`` within 1e-5 in float32, once its weights
    (``in_proj_weight (3E, E)`` stacked q, k, v, and ``out_proj``) are copied into q_proj, k_proj,
    v_proj and out_proj. Self- and cross-attention, no mask. Runs with the kit's attention_torch.
    """
    count = _check_mha(MultiHeadAttention, hidden, masked=False)
    passed(f"MultiHeadAttention equals nn.MultiheadAttention(batch_first=True) within {MHA_TOL:g} on {count} "
           f"{scope_word(hidden)} inputs without a mask (output and head-averaged weights)")


def check_mha_causal(MultiHeadAttention, hidden: bool = False) -> None:
    """``check_mha`` with ``attn_mask``: a causal mask (self-attention) and an arbitrary (L, S) mask.
    The module receives the mask with True = may attend; nn.MultiheadAttention receives ``~mask``."""
    count = _check_mha(MultiHeadAttention, hidden, masked=True)
    passed(f"MultiHeadAttention equals nn.MultiheadAttention(batch_first=True) within {MHA_TOL:g} on {count} "
           f"{scope_word(hidden)} inputs with an attn_mask (causal, and an arbitrary (L, S) mask)")
