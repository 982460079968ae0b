"""Checks for assignment 03, mini-batch SGD and optimisers (grading side: holds the answers).

Students write, in NumPy:

    minibatches(n, batch_size, rng, shuffle=True)
                                        yields index arrays (b,) that cover range(n) exactly once per
                                        call, each of batch_size indices except a last, shorter one
    sgd(w, dw, state, lr)               every rule: (w_new, state); w is any shape, dw like w,
    momentum(w, dw, state, lr, beta=0.9)          state a dict the caller owns (starts as {});
    adagrad(w, dw, state, lr, eps=1e-10)          the rule never changes w or dw in place
    rmsprop(w, dw, state, lr, beta=0.99, eps=1e-8)
    adam(w, dw, state, lr, beta1=0.9, beta2=0.999, eps=1e-8)
    lr_schedule(kind, lr0, step, **hyper)
                                        "step" (step_size, gamma), "exponential" (gamma),
                                        "inverse_time" (decay_rate): the learning rate after `step`
                                        scheduler steps (step 0 gives lr0)
    fit(loss_and_grad, w0, rule, lr, epochs, batch_size, n, seed, schedule=None, patience=None,
        val_loss=None)                  -> (w_best, history), history = {"loss": [...], "val_loss": [...]}

Oracles: ``torch.optim`` for the update rules, 50 steps in float64 on a fixed gradient sequence
(``SGD``; ``SGD(lr=lr * (1 - beta), momentum=beta)`` for the lecture's momentum, which is exactly
the same sequence of weights; ``Adagrad``; ``RMSprop(alpha=beta)``; ``Adam``), with the bar
``max|w_got - w_torch| / max|w_torch| < 1e-10`` at every step; ``torch.optim.lr_scheduler``
(``StepLR``, ``ExponentialLR``) for the schedules; for ``fit``, ``torch.optim`` and its schedulers
replayed over the batches the student's loop actually used (recorded by the kit's
``loss_and_grad``), as assignment 02 does.

Each part is graded on its own. ``fit`` runs with the kit's ``minibatches`` and ``lr_schedule`` in
the notebook's namespace and receives the kit's rules as its ``rule``, so a wrong rule or batching
costs only its own cell. ``check_fit_early_stopping`` feeds ``fit`` a validation loss that returns
a scripted sequence of values (one per distinct set of weights it is called with), so the epoch
at which training must stop and the weights it must return are known exactly.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import math
from typing import Any, Callable

import numpy as np

from ..answers import NotPublished, answer, grading_only, is_published_stub, recording, unrecorded
from ..checks import CheckFailed, check_close, check_shape, describe_shape, to_numpy
from ..grading.remote import exception_from, run_in_kernel
from ..seeds import hidden_rng
from ..tracebacks import exception_record
from . import (call_student, call_student_each, close_or_explain, functions_swapped_in, linspace_grid,
               losses_per_epoch, own_parts_note, passed, raise_crash, scope_word, unpack_results)

RULE_STEPS = 50
RULE_BAR = 1e-10            # max|got - torch| / max|torch| at every step, float64
HINT_BAR = 1e-8             # a student's trajectory this close to a known mistake's gets its hint
SCHEDULE_RTOL = 1e-10
FIT_RTOL, FIT_ATOL = 1e-9, 1e-12
RULE_NAMES = ("sgd", "momentum", "adagrad", "rmsprop", "adam")
DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {}, "momentum": {"beta": 0.9}, "adagrad": {"eps": 1e-10}, "rmsprop": {"beta": 0.99, "eps": 1e-8},
    "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
}
SCHEDULE_KINDS = ("step", "exponential", "inverse_time")

# The notebook's ill-conditioned quadratic f(w) = 0.5 * w @ A @ w and the rates it gives (part 5).
QUADRATIC_A = np.diag([0.1, 10.0])
QUADRATIC_W0 = np.array([-3.0, 1.0])
QUADRATIC_STEPS = 100
QUADRATIC_LR = {"sgd": 0.18, "adam": 0.1}


# ---------------------------------------------------------------------------------------------
# The kit's own versions: stand-ins while another part is graded, and the formulas behind hints
# ---------------------------------------------------------------------------------------------

@answer
def _reference_minibatches(n, batch_size, rng, shuffle=True):
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


@answer
def _reference_sgd(w, dw, state, lr):
    return w - lr * dw, state


@answer
def _momentum_formula(w, dw, state, lr, beta=0.9, variant=""):
    """The lecture's momentum; ``variant`` names a mistake: "torch_form" (v = beta v + dw),
    "dampened_first" (torch's SGD(momentum=beta, dampening=beta): v = dw on the first step),
    "swapped" (v = (1 - beta) v + beta dw), "stale" (w moves with the old v, then v is updated)."""
    v_old = state.get("v")
    if v_old is None:
        v_old = np.zeros_like(w)
        if variant == "dampened_first":
            v = np.array(dw, dtype=float, copy=True)
            return w - lr * v, {**state, "v": v}
    if variant == "torch_form":
        v = beta * v_old + dw
    elif variant == "swapped":
        v = (1 - beta) * v_old + beta * dw
    else:
        v = beta * v_old + (1 - beta) * dw
    step = v_old if variant == "stale" else v
    return w - lr * step, {**state, "v": v}


@answer
def _reference_momentum(w, dw, state, lr, beta=0.9):
    return _momentum_formula(w, dw, state, lr, beta)


@answer
def _root_mean_square_denominator(s, eps, variant=""):
    """np.sqrt(s) + eps, the denominator of AdaGrad, RMSProp and Adam; variants name mistakes:
    "eps_inside" (np.sqrt(s + eps)), "no_sqrt" (s + eps)."""
    if variant == "eps_inside":
        return np.sqrt(s + eps)
    if variant == "no_sqrt":
        return s + eps
    return np.sqrt(s) + eps


@answer
def _adagrad_formula(w, dw, state, lr, eps=1e-10, variant=""):
    """AdaGrad; variants: "eps_inside" (sqrt(s + eps)), "no_sqrt" (dw / (s + eps))."""
    s = state.get("s", np.zeros_like(w)) + dw * dw
    denom = _root_mean_square_denominator(s, eps, variant)
    return w - lr * dw / denom, {**state, "s": s}


@answer
def _reference_adagrad(w, dw, state, lr, eps=1e-10):
    return _adagrad_formula(w, dw, state, lr, eps)


@answer
def _rmsprop_formula(w, dw, state, lr, beta=0.99, eps=1e-8, variant=""):
    """RMSProp; variants: "eps_inside", "swapped" (s = (1 - beta) s + beta dw^2), "no_sqrt"."""
    s_old = state.get("s", np.zeros_like(w))
    s = (1 - beta) * s_old + beta * dw * dw if variant == "swapped" else beta * s_old + (1 - beta) * dw * dw
    denom = _root_mean_square_denominator(s, eps, variant)
    return w - lr * dw / denom, {**state, "s": s}


@answer
def _reference_rmsprop(w, dw, state, lr, beta=0.99, eps=1e-8):
    return _rmsprop_formula(w, dw, state, lr, beta, eps)


@answer
def _adam_formula(w, dw, state, lr, beta1=0.9, beta2=0.999, eps=1e-8, variant=""):
    """Adam with bias correction; variants: "no_bias_correction", "eps_inside" (sqrt(v_hat + eps)),
    "t_fixed" (the step counter never advances: t = 1 every step), "m_only" / "v_only" (only one
    of the two moments corrected)."""
    t = state.get("t", 0) + 1
    m = beta1 * state.get("m", np.zeros_like(w)) + (1 - beta1) * dw
    v = beta2 * state.get("v", np.zeros_like(w)) + (1 - beta2) * dw * dw
    tc = 1 if variant == "t_fixed" else t
    m_hat = m if variant in ("no_bias_correction", "v_only") else m / (1 - beta1 ** tc)
    v_hat = v if variant in ("no_bias_correction", "m_only") else v / (1 - beta2 ** tc)
    denom = _root_mean_square_denominator(v_hat, eps, variant)
    return w - lr * m_hat / denom, {**state, "t": t, "m": m, "v": v}


@answer
def _reference_adam(w, dw, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    return _adam_formula(w, dw, state, lr, beta1, beta2, eps)


@answer
def _sgd_formula(w, dw, state, lr, variant=""):
    """SGD; variant "ascent": w + lr * dw."""
    return (w + lr * dw, state) if variant == "ascent" else _reference_sgd(w, dw, state, lr)


FORMULAS: dict[str, Callable] = {"sgd": _sgd_formula,
                                 "momentum": _momentum_formula, "adagrad": _adagrad_formula,
                                 "rmsprop": _rmsprop_formula, "adam": _adam_formula}
REFERENCE_RULES: dict[str, Callable] = {"sgd": _reference_sgd, "momentum": _reference_momentum,
                                        "adagrad": _reference_adagrad, "rmsprop": _reference_rmsprop,
                                        "adam": _reference_adam}


@answer
def _schedule_formula(kind, lr0, step, variant="", **hyper):
    """The learning rate after ``step`` scheduler steps (step 0 gives lr0); variants name mistakes:
    "late" (step + 1), "extra" (one decay too many for "step"), "no_floor" (gamma ** (step / step_size)),
    "exponential" (the step schedule as gamma ** step), "power" (inverse-time decay as
    lr0 / (1 + decay_rate) ** step)."""
    s = step + 1 if variant == "late" else step
    if kind == "step":
        if variant == "extra":
            return lr0 * hyper["gamma"] ** (step // hyper["step_size"] + 1)
        if variant == "no_floor":
            return lr0 * hyper["gamma"] ** (s / hyper["step_size"])
        if variant == "exponential":
            return lr0 * hyper["gamma"] ** s
        return lr0 * hyper["gamma"] ** (s // hyper["step_size"])
    if kind == "exponential":
        return lr0 * hyper["gamma"] ** s
    if kind == "inverse_time":
        if variant == "power":
            return lr0 / (1.0 + hyper["decay_rate"]) ** s
        return lr0 / (1.0 + hyper["decay_rate"] * s)
    raise ValueError(f"unknown schedule kind {kind!r}: expected one of {', '.join(SCHEDULE_KINDS)}")


@answer
def _reference_lr_schedule(kind, lr0, step, **hyper):
    return _schedule_formula(kind, lr0, step, **hyper)


REFERENCE_PARTS: dict[str, Callable] = {"minibatches": _reference_minibatches, "lr_schedule": _reference_lr_schedule}


def reference_parts(fn: Callable):
    """The kit's ``minibatches`` and ``lr_schedule`` in place of the student's while ``fn`` runs."""
    return functions_swapped_in(fn, REFERENCE_PARTS)


# ---------------------------------------------------------------------------------------------
# Oracles: torch.optim in float64
# ---------------------------------------------------------------------------------------------

def _torch():
    import torch
    return torch


def torch_optimizer(name: str, params, lr: float, hyper: dict):
    """The ``torch.optim`` optimiser whose trajectory the kit's rule ``name`` must follow.

    The lecture's momentum, v = beta v + (1 - beta) dw, w -= lr v (v starting at 0), is the same
    sequence of weights as torch's SGD(momentum=beta), whose buffer is b = beta b + dw (starting at
    dw), with the learning rate lr * (1 - beta): by induction v_t = (1 - beta) b_t at every step.
    """
    torch = _torch()
    h = {**DEFAULTS[name], **hyper}
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr * (1 - h["beta"]), momentum=h["beta"])
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, eps=h["eps"])
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=h["beta"], eps=h["eps"])
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(h["beta1"], h["beta2"]), eps=h["eps"])
    raise ValueError(name)


def describe_oracle(name: str, lr: float, hyper: dict) -> str:
    """``'torch.optim.Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-08)'``: the oracle, as a message shows it."""
    h = {**DEFAULTS[name], **hyper}
    return {
        "sgd": f"torch.optim.SGD(lr={lr:g})",
        "momentum": f"torch.optim.SGD(lr={lr:g} * (1 - {h.get('beta', 0):g}), momentum={h.get('beta', 0):g})",
        "adagrad": f"torch.optim.Adagrad(lr={lr:g}, eps={h.get('eps', 0):g})",
        "rmsprop": f"torch.optim.RMSprop(lr={lr:g}, alpha={h.get('beta', 0):g}, eps={h.get('eps', 0):g})",
        "adam": f"torch.optim.Adam(lr={lr:g}, betas=({h.get('beta1', 0):g}, {h.get('beta2', 0):g}), "
                f"eps={h.get('eps', 0):g})",
    }[name]


@answer
def torch_trajectory(name: str, w0: np.ndarray, grads: np.ndarray, lr: float, hyper: dict) -> np.ndarray:
    """``(T, *w0.shape)``: the weights after each of torch's steps, the gradients ``grads[t]`` given."""
    torch = _torch()
    p = torch.tensor(np.array(w0, dtype=np.float64), requires_grad=True)
    opt = torch_optimizer(name, [p], lr, hyper)
    out = []
    for g in grads:
        p.grad = torch.tensor(np.array(g, dtype=np.float64))
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


@answer
def formula_trajectory(name: str, w0: np.ndarray, grads: np.ndarray, lr: float, hyper: dict,
                       variant: str = "") -> np.ndarray:
    """The kit's NumPy formula for rule ``name`` (with a mistake ``variant``), step by step."""
    w, state, out = np.array(w0, dtype=np.float64), {}, []
    with np.errstate(all="ignore"):
        for g in grads:
            w, state = FORMULAS[name](w, g, state, lr, **hyper, variant=variant)
            out.append(np.array(w, copy=True))
    return np.array(out)


# ---------------------------------------------------------------------------------------------
# Problems for the update rules: a start w0 and a fixed sequence of gradients
# ---------------------------------------------------------------------------------------------

# Learning rates of the public problems: a step moves w by about lr (adaptive rules) or lr * |dw|.
PUBLIC_LR = {"sgd": 0.1, "momentum": 0.2, "adagrad": 0.3, "rmsprop": 0.01, "adam": 0.01}
PUBLIC_HYPER = {"sgd": {}, "momentum": {"beta": 0.7}, "adagrad": {"eps": 1e-8},
                "rmsprop": {"beta": 0.9, "eps": 1e-6}, "adam": {"beta1": 0.8, "beta2": 0.99, "eps": 1e-7}}


def _gradients(mean: np.ndarray, noise: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """``(T, *shape)``: per-coordinate scales from 1e-6 to about 3 (so that an epsilon in the wrong
    place shows), a persistent mean (so that momentum matters) plus noise that flips signs, and one
    entry exactly 0 on the first step (as a dead ReLU unit gives: 0 / (0 + eps) must be 0, not NaN)."""
    grads = scales * (mean + noise)
    grads[(0,) + (0,) * mean.ndim] = 0.0
    return grads


def _public_rule_problems(name: str):
    """Two fixed problems: w0 (3, 4) with the default hyperparameters, w0 (7,) with others."""
    for shape, hyper in (((3, 4), {}), ((7,), PUBLIC_HYPER[name])):
        size = int(np.prod(shape))
        w0 = linspace_grid(*shape, lo=-1.5, hi=2.0)
        order = (np.arange(size) * 5) % size if size % 5 else np.arange(size)
        scales = (10.0 ** np.linspace(-6.0, 0.5, size))[order].reshape(shape)
        mean = linspace_grid(*shape, lo=0.8, hi=-1.2)
        noise = linspace_grid(RULE_STEPS, *shape, lo=-1.0, hi=1.0)
        yield w0, _gradients(mean, noise, scales), PUBLIC_LR[name], hyper


@grading_only
def _random_hyper(rng: np.random.Generator, name: str) -> dict:
    if name == "momentum":
        return {"beta": float(rng.uniform(0.6, 0.95))}
    if name == "adagrad":
        return {"eps": float(10.0 ** rng.uniform(-10, -7))}
    if name == "rmsprop":
        return {"beta": float(rng.uniform(0.8, 0.995)), "eps": float(10.0 ** rng.uniform(-8, -6))}
    if name == "adam":
        return {"beta1": float(rng.uniform(0.7, 0.95)), "beta2": float(rng.uniform(0.95, 0.9995)),
                "eps": float(10.0 ** rng.uniform(-8, -6))}
    return {}


@grading_only
def _hidden_rule_problems(name: str):
    rng = hidden_rng(f"rule_{name}")
    for _ in range(2):
        shape = tuple(int(s) for s in rng.integers(2, 6, size=int(rng.integers(1, 3))))
        w0 = rng.normal(size=shape)
        scales = 10.0 ** rng.uniform(-6.0, 0.5, size=shape)
        scales.flat[int(rng.integers(1, scales.size))] = 1e-6   # always one tiny-gradient entry: eps must show
        grads = _gradients(rng.normal(size=shape), rng.normal(size=(RULE_STEPS, *shape)), scales)
        lr = float(PUBLIC_LR[name] * 10.0 ** rng.uniform(-0.5, 0.5))
        yield w0, grads, lr, _random_hyper(rng, name)


def _call_label(name: str, w: Any, lr: float, hyper: dict) -> str:
    kw = "".join(f", {k}={v:g}" for k, v in hyper.items())
    return f"{name}(w {describe_shape(w)}, dw {describe_shape(w)}, state, lr={lr:g}{kw})"


# ---------------------------------------------------------------------------------------------
# Running a student's rule
# ---------------------------------------------------------------------------------------------

def _unpack_rule(label: str, result: Any, shape: tuple) -> tuple[np.ndarray, dict]:
    w_new, state = unpack_results(label, result, ("w_new", "state"))
    if not isinstance(state, dict):
        raise CheckFailed(f"{label}: the second result (state) is a {type(state).__name__}, not a dict. Store what "
                          "the rule must remember (velocity, squared-gradient average, step count) in the state "
                          "dict it receives, and return it: return w_new, state.")
    try:
        arr = to_numpy(w_new)
    except TypeError as exc:
        raise CheckFailed(f"{label}: w_new should be a numpy.ndarray, got {exc}.") from None
    if arr.shape != tuple(shape):
        raise CheckFailed(f"{label}: w_new has shape {arr.shape}, w has shape {tuple(shape)}: the new weights must "
                          "have the shape of w.")
    if arr.dtype != np.float64:
        raise CheckFailed(f"{label}: w_new has dtype {arr.dtype}; w and dw are float64, and this part is checked in "
                          "float64 to a relative error of 1e-10: do not cast.")
    return arr, state


def _rule_steps(rule: Callable, w0: np.ndarray, lr: float, hyper: dict, grads=None,
                quadratic_steps: int = 0) -> tuple[list, dict | None]:
    """Runs where the rule is (the student's kernel, in grading), so that a whole run is one request:
    ``(the rule's raw results, step by step; the record of the crash that ended the run, or None)``,
    threading ``w`` and ``state`` as a training loop does.

    Each call gets fresh copies of ``w`` and ``dw``, so a rule that changes them in place still
    produces its values (``check_rules_do_not_mutate`` is where that costs points). ``dw`` is
    ``grads[t]``, or ``QUADRATIC_A @ w`` for ``quadratic_steps`` steps. It stops early at a crash,
    or at a result that cannot be threaded; :func:`_threaded_rule` judges each result, so the
    student sees the same message as from a plain loop.
    """
    w, state, out = np.array(w0, dtype=np.float64), {}, []
    for t in range(len(grads) if grads is not None else quadratic_steps):
        dw = np.array(grads[t], copy=True) if grads is not None else QUADRATIC_A @ w
        try:
            result = rule(w.copy(), dw, state, lr, **hyper)
        except Exception as exc:  # noqa: BLE001 - sent as data; the grader raises it at this step
            return out, exception_record(exc)
        out.append(result)
        try:
            w_new, state = result
            arr = to_numpy(w_new)
        except (TypeError, ValueError):
            break
        if arr.shape != w.shape or arr.dtype != np.float64 or not isinstance(state, dict):
            break
        w = np.array(arr, copy=True)
    return out, None


def _threaded_rule(name: str, rule: Callable, w0: np.ndarray, lr: float, hyper: dict, labels: list[str],
                   grads=None) -> np.ndarray:
    """``(steps, *w0.shape)``: ``w`` after each step of :func:`_rule_steps`, each result judged here."""
    steps = len(labels)
    raw, crash = run_in_kernel(_rule_steps, rule, w0, lr, hyper, grads=grads,
                               quadratic_steps=0 if grads is not None else steps)
    w, state, out = np.array(w0, dtype=np.float64), {}, []
    for t, label in enumerate(labels):
        dw = np.array(grads[t], copy=True) if grads is not None else QUADRATIC_A @ w
        if t < len(raw):
            result = raw[t]
        elif crash is not None:  # the run ended here with a crash: the call it was
            raise_crash(name, rule, (w.copy(), dw, state, lr), hyper, exception_from(crash))
        else:  # the kernel could not thread the last result (it is judged above): one call at a time
            result = call_student(name, rule, w.copy(), dw, state, lr, **hyper)
        w, state = _unpack_rule(label, result, w0.shape)
        w = np.array(w, copy=True)
        out.append(w)
    return np.array(out)


def student_trajectory(name: str, rule: Callable, w0: np.ndarray, grads: np.ndarray, lr: float,
                       hyper: dict) -> np.ndarray:
    """Call the student's rule for every gradient, threading ``state`` as a training loop does."""
    labels = [f"{_call_label(name, w0, lr, hyper)} at step {t + 1}" for t in range(len(grads))]
    return _threaded_rule(name, rule, w0, lr, hyper, labels, grads=grads)


def trajectory_errors(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Per step: ``max|got_t - expected_t| / max|expected_t|`` (inf where got is NaN or inf)."""
    with np.errstate(all="ignore"):
        diff = np.abs(got - expected).reshape(len(got), -1).max(axis=1)
        scale = np.abs(expected).reshape(len(expected), -1).max(axis=1)
        err = diff / np.maximum(scale, 1e-300)
    return np.where(np.isfinite(err), err, np.inf)


# The known mistakes per rule: variant -> hint.
RULE_MISTAKES: dict[str, dict[str, str]] = {
    "sgd": {"ascent": "the sign is flipped: gradient DEScent moves against the gradient, w - lr * dw"},
    "momentum": {
        "torch_form": "this is PyTorch's form, v = beta * v + dw (an undamped sum of past gradients); the lecture's "
                      "is an exponentially weighted average: v = beta * v + (1 - beta) * dw",
        "dampened_first": "this is torch.optim.SGD(momentum=beta, dampening=beta), which starts the velocity at "
                          "v = dw on the first step; the lecture's v starts at 0, so v = (1 - beta) * dw on the "
                          "first step too",
        "swapped": "beta and 1 - beta are swapped: v = beta * v + (1 - beta) * dw",
        "stale": "w moved with the old velocity: update v = beta * v + (1 - beta) * dw first, then w - lr * v",
    },
    "adagrad": {
        "eps_inside": "epsilon is inside the square root: the denominator is np.sqrt(s) + eps, as in "
                      "torch.optim.Adagrad",
        "no_sqrt": "the square root is missing: divide by np.sqrt(s) + eps, where s is the running sum of dw**2",
    },
    "rmsprop": {
        "eps_inside": "epsilon is inside the square root: the denominator is np.sqrt(s) + eps, as in "
                      "torch.optim.RMSprop",
        "swapped": "beta and 1 - beta are swapped: s = beta * s + (1 - beta) * dw**2",
        "no_sqrt": "the square root is missing: divide by np.sqrt(s) + eps",
    },
    "adam": {
        "no_bias_correction": "no bias correction: m and v start at 0, so divide them by (1 - beta1**t) and "
                              "(1 - beta2**t), with t = 1 on the first step; without it the first steps are "
                              "sqrt(1 - beta2) / (1 - beta1) times off",
        "eps_inside": "epsilon is inside the square root: the denominator is np.sqrt(v_hat) + eps, as in "
                      "torch.optim.Adam",
        "t_fixed": "the step count t never advances: keep t in the state and add 1 on every call "
                   "(t = 1, 2, 3, ...)",
        "m_only": "only m is bias-corrected: v_hat = v / (1 - beta2**t) too",
        "v_only": "only v is bias-corrected: m_hat = m / (1 - beta1**t) too",
    },
}


@answer
def _rule_mistakes(name: str, w0: np.ndarray, grads: np.ndarray, lr: float, hyper: dict) -> tuple[dict, list]:
    """The trajectories of the known mistakes of rule ``name`` on one problem: ``{variant: (T, *shape)}``
    (``RULE_MISTAKES``), and ``[(ignored, trajectory)]`` for the rule run with the hyperparameters
    ``ignored`` (those that differ from the defaults) left at their defaults, fewest ignored first."""
    variants = {variant: formula_trajectory(name, w0, grads, lr, hyper, variant) for variant in RULE_MISTAKES[name]}
    changed = [k for k in hyper if hyper[k] != DEFAULTS[name][k]]
    ignoring = []
    for r in range(1, len(changed) + 1):
        for ignored in itertools.combinations(changed, r):
            trial = {k: (DEFAULTS[name][k] if k in ignored else v) for k, v in hyper.items()}
            ignoring.append((list(ignored), formula_trajectory(name, w0, grads, lr, trial)))
    return variants, ignoring


def _rule_hints(name: str, got: np.ndarray, w0, grads, lr, hyper) -> list[str]:
    """Hints for the known mistakes whose trajectory ``got`` follows (within HINT_BAR)."""
    n = len(got)
    try:
        variants, ignoring = _rule_mistakes(name, w0, grads[:n], lr, hyper)
    except NotPublished:  # a student kit without the trajectories of these mistakes
        variants, ignoring = {}, []
    hints = []
    for variant, hint in RULE_MISTAKES[name].items():
        if variant in variants and np.max(trajectory_errors(got, variants[variant])) < HINT_BAR:
            hints.append(hint)
    if not hints:
        for ignored, wrong in ignoring:
            if np.max(trajectory_errors(got, wrong)) < HINT_BAR:
                used = ", ".join(f"{k}={DEFAULTS[name][k]:g} instead of {hyper[k]:g}" for k in ignored)
                hints.append(f"the rule ignored the hyperparameters it was passed: it used {used}. Use the "
                             "arguments, never constants")
                break
    if not hints and name in ("adagrad", "rmsprop", "adam") and not np.all(np.isfinite(got)):
        hints.append("NaN or inf: the denominator is 0 where dw has been 0 so far (one entry of dw is 0 on the "
                     "first step); add eps outside the square root, np.sqrt(s) + eps, as torch does")
    return hints


def check_rule(name: str, rule: Callable, hidden: bool = False) -> float:
    """``rule(w, dw, state, lr, **hyper)`` follows ``torch_optimizer(name)`` for RULE_STEPS steps.

    The bar at every step: ``max|w_got - w_torch| / max|w_torch| < RULE_BAR``. On failure the
    message names the first step that differs and, when the trajectory matches a known mistake
    (``RULE_MISTAKES``), the mistake. Returns the largest error seen.
    """
    worst, count = 0.0, 0
    problems = _hidden_rule_problems(name) if hidden else _public_rule_problems(name)
    for w0, grads, lr, hyper in problems:
        label = _call_label(name, w0, lr, hyper)
        got = student_trajectory(name, rule, w0, grads, lr, hyper)
        expected = torch_trajectory(name, w0, grads, lr, hyper)
        if recording():  # the student kit gets the mistakes' trajectories on the public problems too
            _rule_mistakes(name, w0, grads, lr, hyper)
        errors = trajectory_errors(got, expected)
        bad = np.flatnonzero(~(errors < RULE_BAR))
        if bad.size:
            t = int(bad[0])
            g, e = got[t], expected[t]
            with np.errstate(all="ignore"):
                diff = np.where(np.isfinite(g), np.abs(g - e), np.inf)
            where = np.unravel_index(int(np.argmax(diff)), diff.shape)
            idx = "(" + ", ".join(str(int(i)) for i in where) + ("," if len(where) == 1 else "") + ")"
            lines = [f"{label}, {RULE_STEPS} steps with state threaded from call to call: step {t + 1} differs from "
                     f"{describe_oracle(name, lr, hyper)} ({'step 1 agrees' if t == 1 else f'steps 1 to {t} agree'})." if t else
                     f"{label}, {RULE_STEPS} steps with state threaded from call to call: the first step already "
                     f"differs from {describe_oracle(name, lr, hyper)}.",
                     f"  relative error {errors[t]:.3g} (max|w_got - w_torch| / max|w_torch|; bar {RULE_BAR:g})",
                     f"  greatest difference at index {idx}: got {float(g[where]):.10g}, expected "
                     f"{float(e[where]):.10g} (|dw| at that entry is about {float(np.abs(grads[(slice(None),) + tuple(where)]).max()):.2g})"]
            for hint in _rule_hints(name, got, w0, grads, lr, hyper):
                lines.append(f"  hint: {hint}")
            raise CheckFailed("\n".join(lines))
        worst = max(worst, float(np.max(errors)))
        count += 1
    oracle = {"sgd": "torch.optim.SGD", "momentum": "torch.optim.SGD(lr=lr * (1 - beta), momentum=beta)",
              "adagrad": "torch.optim.Adagrad", "rmsprop": "torch.optim.RMSprop(alpha=beta)",
              "adam": "torch.optim.Adam"}[name]
    passed(f"{name} matches {oracle} step for step for {RULE_STEPS} steps on {count} {scope_word(hidden)} problems "
           f"(largest relative error {worst:.1e}; bar {RULE_BAR:g})")
    return worst


def check_sgd(sgd, hidden: bool = False) -> None:
    """``sgd(w, dw, state, lr)`` -> ``(w - lr * dw, state)``, against ``torch.optim.SGD``."""
    check_rule("sgd", sgd, hidden)


def check_momentum(momentum, hidden: bool = False) -> None:
    """``momentum(w, dw, state, lr, beta=0.9)``: ``v = beta v + (1 - beta) dw`` (v starts at 0),
    ``w_new = w - lr v``; against ``torch.optim.SGD(lr=lr * (1 - beta), momentum=beta)``, which gives
    exactly the same weights at every step (see :func:`torch_optimizer`)."""
    check_rule("momentum", momentum, hidden)


def check_adagrad(adagrad, hidden: bool = False) -> None:
    """``adagrad(w, dw, state, lr, eps=1e-10)``: ``s += dw**2``, ``w - lr dw / (sqrt(s) + eps)``;
    against ``torch.optim.Adagrad``."""
    check_rule("adagrad", adagrad, hidden)


def check_rmsprop(rmsprop, hidden: bool = False) -> None:
    """``rmsprop(w, dw, state, lr, beta=0.99, eps=1e-8)``: ``s = beta s + (1 - beta) dw**2``,
    ``w - lr dw / (sqrt(s) + eps)``; against ``torch.optim.RMSprop(alpha=beta)``."""
    check_rule("rmsprop", rmsprop, hidden)


def check_adam(adam, hidden: bool = False) -> None:
    """``adam(w, dw, state, lr, beta1=0.9, beta2=0.999, eps=1e-8)`` with bias correction; against
    ``torch.optim.Adam(betas=(beta1, beta2))``."""
    check_rule("adam", adam, hidden)


# ---------------------------------------------------------------------------------------------
# No rule changes w or dw in place
# ---------------------------------------------------------------------------------------------

MUTATION_HINT = ("Hint: w -= lr * step (or np.subtract(..., out=w)) changes the caller's array; compute a new one, "
                 "w_new = w - lr * step, and return it. A training loop that keeps the best weights so far, as fit "
                 "does, would otherwise see them change under it.")


def check_rules_do_not_mutate(sgd, momentum, adagrad, rmsprop, adam) -> None:
    """Every rule, called twice in a row with its state threaded, leaves the caller's ``w`` and
    ``dw`` arrays unchanged (including the first step's ``dw`` after the second call: a state that
    keeps a reference to ``dw`` and later updates it in place changes the caller's gradient), and
    returns a ``w_new`` shaped like ``w`` each time: what returns no update cannot pass for one that
    keeps its inputs."""
    rules = {"sgd": sgd, "momentum": momentum, "adagrad": adagrad, "rmsprop": rmsprop, "adam": adam}
    failures = []
    for name, rule in rules.items():
        w = linspace_grid(3, 4, lo=-1.0, hi=1.5)
        dws = [linspace_grid(3, 4, lo=0.5, hi=-0.9), linspace_grid(3, 4, lo=-0.7, hi=1.1)]
        saved_dws = [d.copy() for d in dws]
        state: dict = {}
        try:
            for t, dw in enumerate(dws):
                before = w.copy()
                label = f"{_call_label(name, w, 0.1, {})} (call {t + 1} of 2)"
                result = call_student(name, rule, w, dw, state, 0.1)
                if not np.array_equal(w, before):
                    raise CheckFailed(f"{label}: changed the caller's w in place. {MUTATION_HINT}")
                for k, (d, saved) in enumerate(zip(dws[:t + 1], saved_dws)):
                    if not np.array_equal(d, saved):
                        which = "dw" if k == t else "the first call's dw"
                        raise CheckFailed(f"{label}: changed {which} in place. Hint: the rule must not write into "
                                          "the gradient it is given; if the state keeps dw itself (v = dw), a later "
                                          "v *= beta changes the caller's array: store a copy, or compute new arrays.")
                w_new, state = unpack_results(label, result, ("w_new", "state"))
                # Something that is no update (w_new not like w) has nothing to keep unchanged.
                check_shape(f"{label}: w_new", w_new, w.shape)
                if not isinstance(state, dict):
                    state = {}
                w = np.array(to_numpy(w_new), dtype=np.float64, copy=True)
        except CheckFailed as exc:
            failures.append(str(exc))
    if failures:
        raise CheckFailed(f"{len(failures)} of 5 rules change their inputs in place or return no update:\n"
                          + "\n".join("  " + line for f in failures for line in f.splitlines()))
    passed("no rule changes w or dw in place (sgd, momentum, adagrad, rmsprop, adam; two calls each)")


# ---------------------------------------------------------------------------------------------
# minibatches
# ---------------------------------------------------------------------------------------------

def _batches(label: str, minibatches: Callable, n: int, b: int, rng, shuffle: bool = True) -> list[np.ndarray]:
    """The batches of one call, as int64 arrays; CheckFailed if they are not 1-D integer index arrays."""
    def run():
        result = minibatches(n, b, rng, shuffle=shuffle)
        if result is None:
            raise CheckFailed(f"{label} returned None: yield each batch's index array (or return a list of them).")
        return list(result)

    batches = call_student("minibatches", run)
    out = []
    for i, batch in enumerate(batches):
        try:
            arr = to_numpy(batch)
        except TypeError as exc:
            raise CheckFailed(f"{label}: batch {i} is not an index array ({exc}).") from None
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise CheckFailed(f"{label}: batch {i} should be a 1-D array of integer indices, got shape {arr.shape} "
                              f"and dtype {arr.dtype}. Hint: yield order[start:start + batch_size], a slice of a "
                              "permutation of range(n).")
        out.append(arr.astype(np.int64))
    return out


def _check_cover(label: str, batches: list[np.ndarray], n: int, b: int) -> None:
    sizes = [len(x) for x in batches]
    r = n % b
    if not batches:
        raise CheckFailed(f"{label}: no batches at all.")
    if max(sizes) > b:
        raise CheckFailed(f"{label}: a batch of {max(sizes)} indices, more than batch_size = {b}. Sizes: {sizes}.")
    if r and len(batches) == n // b and all(s == b for s in sizes):
        raise CheckFailed(f"{label}: {n // b} batches of {b}, {n // b * b} of the {n} indices. Hint: the last partial "
                          f"batch is dropped: n mod batch_size = {n} mod {b} = {r} indices are never visited. Loop "
                          "over range(0, n, batch_size) and yield order[start:start + batch_size]; the last slice is "
                          "simply shorter.")
    expected = [b] * (n // b) + ([r] if r else [])
    if sizes != expected:
        raise CheckFailed(f"{label}: batch sizes {sizes}; expected {expected}: batches of batch_size indices, only the "
                          "last one shorter. Hint: np.array_split makes batches of other sizes; slice "
                          "order[start:start + batch_size] for start in range(0, n, batch_size).")
    counts = np.bincount(np.concatenate(batches), minlength=n) if all(x.min() >= 0 for x in batches) else None
    if counts is None or len(counts) != n or np.any(counts != 1):
        raise CheckFailed(f"{label}: the batches do not hold every index 0..{n - 1} exactly once. Hint: shuffle with a "
                          "permutation, order = rng.permutation(n), and slice it; drawing indices with replacement "
                          "(rng.integers, rng.choice) repeats some and skips others.")


def _minibatch_cases(hidden: bool) -> list[tuple[int, int, int]]:
    """``(n, batch_size, seed)``: a partial last batch, an exact split, batch_size 1 (SGD), n (batch
    gradient descent) and more than n."""
    if hidden:
        return _hidden_minibatch_cases()
    return [(23, 5, 0), (20, 5, 1), (13, 1, 2), (13, 13, 3), (6, 8, 4)]


@grading_only
def _hidden_minibatch_cases() -> list[tuple[int, int, int]]:
    rng = hidden_rng("minibatches")
    cases = []
    for _ in range(3):
        b = int(rng.integers(2, 30))
        n = int(rng.integers(max(b + 1, 12), 200))   # n >= 12: a shuffle is never the identity by chance
        n += 1 if n % b == 0 else 0
        cases.append((n, b, int(rng.integers(0, 10_000))))
    n = int(rng.integers(12, 60))
    return cases + [(n, 1, int(rng.integers(0, 10_000))), (n, n, int(rng.integers(0, 10_000)))]


def check_minibatches(minibatches, hidden: bool = False) -> None:
    """``minibatches(n, batch_size, rng, shuffle=True)`` yields index arrays that cover ``range(n)``
    exactly once per call: batches of ``batch_size``, a last one of ``n % batch_size`` kept.

    With ``shuffle=True`` the order is a permutation drawn from ``rng`` (only from it: the same seed
    gives the same batches, and a second call with the same generator a new order, as the next
    epoch needs); with ``shuffle=False`` it is 0, 1, ..., n - 1.
    """
    for n, b, seed in _minibatch_cases(hidden):
        label = f"minibatches(n={n}, batch_size={b}, rng=np.random.default_rng({seed}))"
        first = _batches(label, minibatches, n, b, np.random.default_rng(seed))
        _check_cover(label, first, n, b)
        ordered = _batches(label[:-1] + ", shuffle=False)", minibatches, n, b, np.random.default_rng(seed), False)
        _check_cover(label[:-1] + ", shuffle=False)", ordered, n, b)
        if not np.array_equal(np.concatenate(ordered), np.arange(n)):
            raise CheckFailed(f"{label[:-1]}, shuffle=False): the indices should come in order 0, 1, ..., {n - 1}; "
                              "shuffle=False means no shuffling.")
        if n < 5:
            continue
        if np.array_equal(np.concatenate(first), np.arange(n)):
            raise CheckFailed(f"{label}: the indices come in order 0, 1, ..., {n - 1}: with shuffle=True they must be "
                              "shuffled. Hint: order = rng.permutation(n).")
        again = _batches(label, minibatches, n, b, np.random.default_rng(seed))
        if len(again) != len(first) or not all(np.array_equal(x, y) for x, y in zip(again, first)):
            raise CheckFailed(f"{label}: called twice with a generator made from the same seed, it gave different "
                              "batches. Hint: shuffle with the rng passed in (rng.permutation(n)), not with "
                              "np.random.permutation or np.random.shuffle, which use NumPy's global state.")
        rng = np.random.default_rng(seed)
        epoch1 = _batches(label, minibatches, n, b, rng)
        epoch2 = _batches(label, minibatches, n, b, rng)
        if np.array_equal(np.concatenate(epoch1), np.concatenate(epoch2)):
            raise CheckFailed(f"{label}: two calls with the same generator (two epochs) gave the same order. Every "
                              "epoch must shuffle anew. Hint: draw the permutation from the rng passed in, "
                              "rng.permutation(n), which advances it; do not make a new generator from a fixed seed "
                              "inside minibatches.")
    passed(f"minibatches covers every index exactly once on {len(_minibatch_cases(hidden))} {scope_word(hidden)} "
           "(n, batch_size) cases, including a last partial batch, batch_size 1 and batch_size n; shuffles from the "
           "rng, anew on every call, reproducibly; shuffle=False keeps the order")


# ---------------------------------------------------------------------------------------------
# lr_schedule
# ---------------------------------------------------------------------------------------------

SCHEDULE_STEPS = 50


@answer
def torch_schedule(kind: str, lr0: float, steps: int, **hyper) -> np.ndarray:
    """The learning rate torch's scheduler gives after 0, 1, ..., steps - 1 calls of ``scheduler.step()``.

    "step" is ``StepLR(step_size, gamma)``, "exponential" ``ExponentialLR(gamma)``, "inverse_time"
    ``LambdaLR`` with the factor ``1 / (1 + decay_rate * step)`` (torch has no built-in one).
    """
    torch = _torch()
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr0)
    sched_mod = torch.optim.lr_scheduler
    if kind == "step":
        sched = sched_mod.StepLR(opt, step_size=hyper["step_size"], gamma=hyper["gamma"])
    elif kind == "exponential":
        sched = sched_mod.ExponentialLR(opt, gamma=hyper["gamma"])
    else:
        rate = hyper["decay_rate"]
        sched = sched_mod.LambdaLR(opt, lambda s: 1.0 / (1.0 + rate * s))
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()      # no gradient: nothing moves, but the scheduler sees the usual order of calls
        sched.step()
    return np.array(out, dtype=np.float64)


SCHEDULE_MISTAKES = {
    "late": "one step late: step 0 must give lr0 itself (the learning rate before any decay)",
    "extra": "one decay too many: step 0 must give lr0 itself, gamma ** (step // step_size) with no + 1",
    "no_floor": "no floor: the step schedule holds the rate for step_size steps, gamma ** (step // step_size), "
                "not gamma ** (step / step_size)",
    "exponential": "the step size is ignored: gamma ** (step // step_size), not gamma ** step",
    "power": "this is lr0 / (1 + decay_rate) ** step; inverse-time decay is lr0 / (1 + decay_rate * step)",
}


@answer
def _lr_schedule_mistakes(kind: str, lr0: float, hyper: dict) -> dict[str, np.ndarray]:
    """``{hint: the rates of that mistake for steps 0..SCHEDULE_STEPS - 1}``, the mistakes that apply to ``kind``."""
    mistakes = {}
    for variant, hint in SCHEDULE_MISTAKES.items():
        if variant in ("no_floor", "exponential", "extra") and kind != "step":
            continue
        if variant == "power" and kind != "inverse_time":
            continue
        mistakes[hint] = np.array([_schedule_formula(kind, lr0, s, variant, **hyper)
                                   for s in range(SCHEDULE_STEPS)])
    return mistakes


def _schedule_cases(hidden: bool) -> list[tuple[str, float, dict]]:
    if hidden:
        return _hidden_schedule_cases()
    return [("step", 0.1, {"step_size": 3, "gamma": 0.5}), ("step", 0.5, {"step_size": 7, "gamma": 0.8}),
            ("exponential", 0.1, {"gamma": 0.9}), ("inverse_time", 0.1, {"decay_rate": 0.5})]


@grading_only
def _hidden_schedule_cases() -> list[tuple[str, float, dict]]:
    rng = hidden_rng("lr_schedule")
    return [("step", float(rng.uniform(0.01, 1.0)), {"step_size": int(rng.integers(2, 8)),
                                                      "gamma": float(rng.uniform(0.2, 0.9))}),
            ("exponential", float(rng.uniform(0.01, 1.0)), {"gamma": float(rng.uniform(0.8, 0.99))}),
            ("inverse_time", float(rng.uniform(0.01, 1.0)), {"decay_rate": float(rng.uniform(0.05, 2.0))})]


def check_lr_schedule(lr_schedule, hidden: bool = False) -> None:
    """``lr_schedule(kind, lr0, step, **hyper)`` for steps 0..49, against ``torch.optim.lr_scheduler``
    (``StepLR``, ``ExponentialLR``; inverse-time decay through ``LambdaLR`` with its formula), to a
    relative error of 1e-10; an unknown ``kind`` raises ``ValueError``."""
    cases = _schedule_cases(hidden)
    for kind, lr0, hyper in cases:
        kw = ", ".join(f"{k}={v:g}" for k, v in hyper.items())
        label = f"lr_schedule({kind!r}, lr0={lr0:g}, step, {kw}) for step = 0..{SCHEDULE_STEPS - 1}"
        got = list(call_student_each("lr_schedule", lr_schedule,
                                     [((kind, lr0, step), hyper) for step in range(SCHEDULE_STEPS)]))
        for step, value in enumerate(got):
            try:
                arr = to_numpy(value)
            except TypeError as exc:
                raise CheckFailed(f"{label}: step {step} returned {exc}; return one number, the learning rate.") \
                    from None
            if arr.size != 1:
                raise CheckFailed(f"{label}: step {step} returned an array of shape {arr.shape}; return one number.")
        got_arr = np.array([float(to_numpy(v).reshape(())) for v in got])
        expected = torch_schedule(kind, lr0, SCHEDULE_STEPS, **hyper)
        mistakes = _lr_schedule_mistakes(kind, lr0, hyper)
        oracle = {"step": "torch's StepLR", "exponential": "torch's ExponentialLR",
                  "inverse_time": "torch's LambdaLR(lambda step: 1 / (1 + decay_rate * step))"}[kind]
        check_close(f"{label} (index = step; oracle: {oracle})", got_arr, expected, rtol=SCHEDULE_RTOL, atol=0.0,
                    mistakes=mistakes, check_container=False)
    label = "lr_schedule('cosine', lr0=0.1, step=3)"
    try:
        result = lr_schedule("cosine", 0.1, 3)
    except ValueError:
        pass
    except NotImplementedError:
        raise CheckFailed("lr_schedule: not implemented yet (it raised NotImplementedError).") from None
    except Exception as exc:  # noqa: BLE001 - reported to the student
        raise CheckFailed(f"{label} raised {type(exc).__name__}: {exc}; an unknown kind should raise ValueError "
                          "naming it.") from None
    else:
        raise CheckFailed(f"{label} returned {result!r}; an unknown kind should raise ValueError (say, "
                          "raise ValueError(f\"unknown schedule {kind!r}\")), so that a typo cannot train with a "
                          "learning rate nobody chose.")
    passed(f"lr_schedule matches torch's schedulers at every step 0..{SCHEDULE_STEPS - 1} on {len(cases)} "
           f"{scope_word(hidden)} cases (step, exponential, inverse_time) and rejects an unknown kind")


# ---------------------------------------------------------------------------------------------
# fit: a least-squares problem whose loss_and_grad records the batches the loop uses
# ---------------------------------------------------------------------------------------------

class LeastSquares:
    """``loss(W) = mean over the batch of 0.5 * ||W @ x_i - y_i||^2`` for ``W (k, d)``, ``X (n, d)``,
    ``Y (n, k)``. ``loss_and_grad(w, idx)`` records ``idx`` and the weights it was called with."""

    def __init__(self, X: np.ndarray, Y: np.ndarray):
        self.X, self.Y = X, Y
        self.calls: list[tuple[np.ndarray, np.ndarray]] = []
        self.problems: list[str] = []

    def loss_and_grad(self, w, idx):
        try:
            rows = np.asarray(to_numpy(idx)).reshape(-1)
        except (TypeError, ValueError):
            rows = None
        if rows is None or (rows.size and rows.dtype.kind not in "iu"):
            self.problems.append(f"loss_and_grad received idx of type {type(idx).__name__}"
                                 + (f", dtype {rows.dtype}" if rows is not None else "")
                                 + "; pass the batch's integer index array as minibatches yields it")
            rows = np.zeros(0, dtype=np.int64)
        w = np.asarray(to_numpy(w), dtype=np.float64)
        self.calls.append((rows.astype(np.int64).copy(), w.copy()))
        loss, grad = self.value_and_grad(w, rows)
        return loss, grad

    def value_and_grad(self, w: np.ndarray, rows: np.ndarray) -> tuple[float, np.ndarray]:
        Xb, Yb = self.X[rows], self.Y[rows]
        R = Xb @ w.T - Yb                      # (b, k)
        m = max(len(rows), 1)
        return float(0.5 * np.sum(R * R) / m), (R.T @ Xb) / m


def _least_squares(rng: np.random.Generator | None, n: int, d: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X (n, d), Y (n, k), W0 (k, d))``: fixed (rng None) or random data."""
    if rng is not None:
        return _random_least_squares(rng, n, d, k)
    X = linspace_grid(n, d, lo=-1.5, hi=1.8)
    W_true = linspace_grid(k, d, lo=1.2, hi=-0.9)
    Y = X @ W_true.T + 0.3 * linspace_grid(n, k, lo=-1.0, hi=0.7)
    return X, Y, linspace_grid(k, d, lo=0.4, hi=-0.6)


@grading_only
def _random_least_squares(rng: np.random.Generator, n: int, d: int, k: int) -> tuple[np.ndarray, ...]:
    X = rng.normal(size=(n, d))
    Y = X @ rng.normal(size=(k, d)).T + 0.3 * rng.normal(size=(n, k))
    return X, Y, 0.5 * rng.normal(size=(k, d))


@answer
def _oracle_fit(X: np.ndarray, Y: np.ndarray, w0, epochs_batches: list[list[np.ndarray]], rule: str, lr: float,
                hyper: dict, schedule: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """torch.optim over the given batches (``epochs_batches[e]``: epoch e's index arrays), the
    scheduler stepped after every epoch. Returns ``(final weights, losses)``, ``losses[e]`` the mean
    of epoch e's batch losses, each taken before that batch's update."""
    torch = _torch()
    W = torch.tensor(np.array(w0, dtype=np.float64), requires_grad=True)
    opt = torch_optimizer(rule, [W], lr, hyper)
    sched = None
    if schedule:
        kind, h = schedule["kind"], {k: v for k, v in schedule.items() if k != "kind"}
        sm = torch.optim.lr_scheduler
        if kind == "step":
            sched = sm.StepLR(opt, step_size=h["step_size"], gamma=h["gamma"])
        elif kind == "exponential":
            sched = sm.ExponentialLR(opt, gamma=h["gamma"])
        else:
            sched = sm.LambdaLR(opt, lambda s, r=h["decay_rate"]: 1.0 / (1.0 + r * s))
    X, Y = torch.tensor(X), torch.tensor(Y)
    losses = []
    for batches in epochs_batches:
        epoch = []
        for rows in batches:
            opt.zero_grad()
            r = torch.as_tensor(rows)
            loss = 0.5 * ((X[r] @ W.T - Y[r]) ** 2).sum() / max(len(rows), 1)
            epoch.append(float(loss.detach()))
            loss.backward()
            opt.step()
        losses.append(float(np.mean(epoch)))
        if sched is not None:
            sched.step()
    return W.detach().numpy().copy(), np.array(losses)


@answer
def _replay_variants(X: np.ndarray, Y: np.ndarray, w0, epochs_batches, rule: str, lr: float, hyper: dict,
                     schedule: dict | None) -> dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]:
    """The kit's NumPy replay of the batches under known loop mistakes: ``{variant: (w, {loss kind: losses})}``.

    Variants: "" (right), "reset_state" (a new state every epoch), "schedule_ignored",
    "schedule_late" (epoch + 1), "schedule_per_batch" (the schedule stepped after every batch).
    Loss kinds: "mean", "sum", "last", "weighted", "after" (the epoch's batch losses taken after each update).
    """
    problem = LeastSquares(X, Y)
    out = {}
    variants = ["", "reset_state"] + (["schedule_ignored", "schedule_late", "schedule_per_batch"] if schedule else [])
    sched_kind = schedule["kind"] if schedule else None
    sched_hyper = {k: v for k, v in schedule.items() if k != "kind"} if schedule else {}
    for variant in variants:
        w, state, batch_count = np.array(w0, dtype=np.float64), {}, 0
        kinds: dict[str, list[float]] = {k: [] for k in ("mean", "sum", "last", "weighted", "after")}
        with np.errstate(all="ignore"):
            for e, batches in enumerate(epochs_batches):
                if variant == "reset_state":
                    state = {}
                losses, after, sizes = [], [], []
                for rows in batches:
                    if not schedule or variant == "schedule_ignored":
                        rate = lr
                    elif variant == "schedule_per_batch":
                        rate = _schedule_formula(sched_kind, lr, batch_count, **sched_hyper)
                    else:
                        rate = _schedule_formula(sched_kind, lr, e + (variant == "schedule_late"), **sched_hyper)
                    loss, grad = problem.value_and_grad(w, rows)
                    w, state = REFERENCE_RULES[rule](w, grad, state, rate, **hyper)
                    losses.append(loss)
                    sizes.append(len(rows))
                    after.append(problem.value_and_grad(w, rows)[0])
                    batch_count += 1
                kinds["mean"].append(float(np.mean(losses)))
                kinds["sum"].append(float(np.sum(losses)))
                kinds["last"].append(losses[-1])
                kinds["weighted"].append(float(np.dot(losses, sizes) / np.sum(sizes)))
                kinds["after"].append(float(np.mean(after)))
        out[variant] = (w, {k: np.array(v) for k, v in kinds.items()})
    return out


@answer
def _fit_mistakes(X: np.ndarray, Y: np.ndarray, w0, epochs_batches, rule: str, lr: float, hyper: dict,
                  schedule: dict | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``({hint: losses per epoch}, {hint: final weights})``: the known loop mistakes (``FIT_LOSS_HINTS``,
    ``FIT_VARIANT_HINTS``) replayed over the batches ``epochs_batches``."""
    v = _replay_variants(X, Y, w0, epochs_batches, rule, lr, hyper, schedule)
    losses = {hint: v[""][1][kind] for kind, hint in FIT_LOSS_HINTS.items()}
    losses.update({hint: v[name][1]["mean"] for name, hint in FIT_VARIANT_HINTS.items() if name in v})
    weights = {hint: v[name][0] for name, hint in FIT_VARIANT_HINTS.items() if name in v}
    return losses, weights


FIT_LOSS_HINTS = {
    "sum": "history['loss'][e] is the SUM of the epoch's batch losses: take their mean",
    "last": "history['loss'][e] is only the epoch's last batch loss: record every batch's loss and take their mean",
    "weighted": "history['loss'][e] must be the plain mean of the epoch's batch losses, np.mean(batch_losses); "
                "yours weights each batch by its size",
    "after": "the batch losses were taken after the updates: record the loss that loss_and_grad returns, "
             "before the rule moves w",
}
FIT_VARIANT_HINTS = {
    "reset_state": "the optimiser's state was reset every epoch: create state = {} once, before the epoch loop, "
                   "so that momentum and the running averages carry over from epoch to epoch",
    "schedule_ignored": "the schedule was ignored: with a schedule, epoch e trains with "
                        "lr_schedule(lr0=lr, step=e, **schedule)",
    "schedule_late": "the schedule is one epoch late: epoch 0 trains with lr_schedule(lr0=lr, step=0, ...) = lr",
    "schedule_per_batch": "the schedule was stepped after every batch; it counts epochs: epoch e (all its "
                          "batches) trains with lr_schedule(lr0=lr, step=e, **schedule)",
}


def _fit_label(w0, rule: str, hyper: dict, lr: float, epochs: int, b: int, n: int, seed: int,
               schedule: dict | None = None, patience: int | None = None, val: bool = False) -> str:
    rule_txt = f"partial({rule}, {', '.join(f'{k}={v:g}' for k, v in hyper.items())})" if hyper else rule
    extra = ""
    if schedule:
        items = ", ".join(f"{k!r}: {v!r}" if isinstance(v, str) else f"{k!r}: {v:g}" for k, v in schedule.items())
        extra = f", schedule={{{items}}}"
    extra += f", patience={patience}" if patience is not None else ""
    extra += ", val_loss=..." if val else ""
    return (f"fit(loss_and_grad, w0 {describe_shape(w0)}, rule={rule_txt}, lr={lr:g}, epochs={epochs}, "
            f"batch_size={b}, n={n}, seed={seed}{extra})")


def _unpack_fit(label: str, result: Any, shape: tuple) -> tuple[np.ndarray, dict]:
    w_best, history = unpack_results(label, result, ("w_best", "history"))
    if not isinstance(history, dict) or "loss" not in history:
        raise CheckFailed(f"{label}: history should be a dict with the keys 'loss' and 'val_loss' (lists with one "
                          f"number per epoch), got a {type(history).__name__}"
                          + (f" with keys {sorted(history)}" if isinstance(history, dict) else "") + ".")
    try:
        arr = np.asarray(to_numpy(w_best), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CheckFailed(f"{label}: w_best should be an array like w0, got {exc}.") from None
    if arr.shape != tuple(shape):
        raise CheckFailed(f"{label}: w_best has shape {arr.shape}, w0 has shape {tuple(shape)}.")
    return arr, history


def _notebook_rule(fit: Callable, rule: str) -> Callable | None:
    """The notebook's own rule ``rule`` where the kit's rules are only published values (the student kit:
    they cannot answer for the weights a student's fit reaches); None where the kit's rule runs (grading)."""
    if not is_published_stub(REFERENCE_RULES[rule]):
        return None
    own = (getattr(fit, "__globals__", None) or {}).get(rule)
    return own if callable(own) else None


def _fit_rule(fit: Callable, rule: str, hyper: dict, own_called: list[str]) -> Callable:
    """The ``rule`` argument fit gets: the kit's rule; in the student kit the notebook's own, whose name
    is added to ``own_called`` once fit calls it."""
    own = _notebook_rule(fit, rule)
    if own is None:
        # The student's code calls it: what it asks is no public check's answer, so it is not recorded.
        fn = unrecorded(REFERENCE_RULES[rule])
    else:
        def fn(*args, **kwargs):
            if rule not in own_called:
                own_called.append(rule)
            return own(*args, **kwargs)
    return functools.partial(fn, **hyper) if hyper else fn


def _fit_parts_note(fit: Callable, own_called: list[str]) -> str:
    """What a failure adds when fit ran with the notebook's own minibatches, lr_schedule or rules (the
    student kit) rather than the kit's (grading); empty in grading."""
    used = [name for name in sorted(REFERENCE_PARTS) if own_parts_note(fit, {name: REFERENCE_PARTS[name]})]
    used += own_called
    return (f" (in your notebook this ran with your own {', '.join(used)}: a mistake there shows up here too; "
            "grading runs it with correct ones)") if used else ""


@contextlib.contextmanager
def _noting_fit_parts(fit: Callable, own_called: list[str]):
    """Run the block; a failure it raises ends with :func:`_fit_parts_note`."""
    try:
        yield
    except CheckFailed as exc:
        note = _fit_parts_note(fit, own_called)
        if not note:
            raise
        raise CheckFailed(f"{exc}{note}") from None


def _run_fit(fit: Callable, label: str, problem: LeastSquares, w0, rule: str, hyper: dict, own_called: list[str],
             **kwargs):
    """The student's fit with the kit's minibatches and lr_schedule, the kit's rule, copies of w0 (in the
    student kit: with the notebook's own minibatches, lr_schedule and rule)."""
    rule_fn = _fit_rule(fit, rule, hyper, own_called)
    w_in = np.array(w0, copy=True)
    with reference_parts(fit):
        result = call_student("fit", fit, loss_and_grad=problem.loss_and_grad, w0=w_in, rule=rule_fn, **kwargs)
    if not np.array_equal(w_in, w0):
        raise CheckFailed(f"{label}: changed the caller's w0 in place. Hint: start from a copy, w = w0.copy().")
    if problem.problems:
        raise CheckFailed(f"{label}: {problem.problems[0]}.")
    if not problem.calls:
        raise CheckFailed(f"{label}: loss_and_grad was never called. Compute each batch's loss and gradient with "
                          "loss, dw = loss_and_grad(w, idx) for the index array idx of every batch.")
    return _unpack_fit(label, result, np.shape(w0))


def _split_epochs(label: str, calls: list, n: int, b: int, epochs: int) -> list[list[np.ndarray]]:
    """The recorded batches, epoch by epoch; each epoch must visit every index exactly once."""
    per_epoch = math.ceil(n / b)
    if len(calls) != epochs * per_epoch:
        raise CheckFailed(f"{label}: loss_and_grad was called {len(calls)} times; expected {epochs} epochs x "
                          f"{per_epoch} batches = {epochs * per_epoch} calls, one per batch. Hint: call it once per "
                          "batch with that batch's indices, and nowhere else (history['loss'] is built from the "
                          "losses those calls return).")
    split = [[rows for rows, _ in calls[e * per_epoch:(e + 1) * per_epoch]] for e in range(epochs)]
    for e, batches in enumerate(split):
        counts = np.bincount(np.concatenate(batches), minlength=n)
        if len(counts) != n or np.any(counts != 1):
            raise CheckFailed(f"{label}: epoch {e}'s batches do not visit every index 0..{n - 1} exactly once. Hint: "
                              "for idx in minibatches(n, batch_size, rng), once per epoch.")
    return split


def _fit_cases(hidden: bool):
    """Yield ``(X, Y, W0, rule, hyper, lr, epochs, batch_size, seed, schedule)``."""
    if hidden:
        yield from _hidden_fit_cases()
    else:
        X, Y, W0 = _least_squares(None, 23, 3, 2)
        yield X, Y, W0, "adam", {"beta1": 0.8}, 0.05, 4, 5, 0, None
        yield X, Y, W0, "momentum", {"beta": 0.5}, 0.1, 5, 4, 1, {"kind": "step", "step_size": 2, "gamma": 0.5}


@grading_only
def _hidden_fit_cases():
    rng = hidden_rng("fit")
    for rule, kind in (("adam", None), ("momentum", str(rng.choice(SCHEDULE_KINDS)))):
        n, d, k, b = int(rng.integers(25, 50)), int(rng.integers(2, 5)), int(rng.integers(1, 4)), int(rng.integers(3, 9))
        n += 1 if n % b == 0 else 0
        X, Y, W0 = _least_squares(rng, n, d, k)
        hyper = _random_hyper(rng, rule)
        lr = float({"adam": 0.05, "momentum": 0.1}[rule] * 10.0 ** rng.uniform(-0.3, 0.3))
        schedule = None
        if kind:
            schedule = {"kind": kind, **{"step": {"step_size": int(rng.integers(1, 3)),
                                                  "gamma": float(rng.uniform(0.3, 0.8))},
                                         "exponential": {"gamma": float(rng.uniform(0.5, 0.9))},
                                         "inverse_time": {"decay_rate": float(rng.uniform(0.2, 1.0))}}[kind]}
        yield X, Y, W0, rule, hyper, lr, 4, b, int(rng.integers(0, 10_000)), schedule


def check_fit(fit, hidden: bool = False) -> None:
    """``fit(loss_and_grad, w0, rule, lr, epochs, batch_size, n, seed, schedule=None)`` -> ``(w, history)``.

    The batches ``fit`` uses (recorded by the kit's ``loss_and_grad``) must visit every index once
    per epoch, in a new order every epoch, the same for the same seed and different for another.
    Those batches are then replayed through ``torch.optim`` (the rule's optimiser, and the
    scheduler stepped once per epoch): ``history['loss']`` (the mean of each epoch's batch losses,
    each before its update) and the final weights must follow. Without ``val_loss`` the weights
    returned are the final ones. Runs with the kit's ``minibatches`` and ``lr_schedule`` (in the student
    kit, where the kit's parts and rules are only published values, with the notebook's own, and a failure
    says so).
    """
    count, own_rules = 0, []
    for X, Y, W0, rule, hyper, lr, epochs, b, seed, schedule in _fit_cases(hidden):
        own_called: list[str] = []
        with _noting_fit_parts(fit, own_called):
            _check_fit_run(fit, own_called, X, Y, W0, rule, hyper, lr, epochs, b, seed, schedule)
        count += 1
        own_rules += [r for r in own_called if r not in own_rules]
    whose = "your own" if own_parts_note(fit, REFERENCE_PARTS) else "the kit's"
    given = f", and your own {' and '.join(own_rules)} as its rule" if own_rules else ""
    passed(f"fit follows torch.optim and its schedulers over its own batches on {count} "
           f"{scope_word(hidden)} runs (every index once per epoch, a new order every epoch, the same batches for "
           f"the same seed; history['loss'] and the final weights; run with {whose} minibatches and lr_schedule"
           f"{given})")


def _check_fit_run(fit: Callable, own_called: list[str], X, Y, W0, rule: str, hyper: dict, lr: float, epochs: int,
                   b: int, seed: int, schedule: dict | None) -> None:
    """One run of :func:`check_fit` (``own_called``: see :func:`_fit_rule`)."""
    n = len(X)
    kwargs = dict(lr=lr, epochs=epochs, batch_size=b, n=n, seed=seed)
    if schedule:
        kwargs["schedule"] = dict(schedule)
    label = _fit_label(W0, rule, hyper, lr, epochs, b, n, seed, schedule)
    problem = LeastSquares(X, Y)
    got, history = _run_fit(fit, label, problem, W0, rule, hyper, own_called, **kwargs)
    split = _split_epochs(label, problem.calls, n, b, epochs)
    orders = [np.concatenate(x) for x in split]
    if all(np.array_equal(o, orders[0]) for o in orders[1:]):
        raise CheckFailed(f"{label}: every epoch visited the indices in the same order. Hint: make ONE generator, "
                          "rng = np.random.default_rng(seed), before the epoch loop, and call "
                          "minibatches(n, batch_size, rng) once per epoch: it draws a new order every time.")
    again = LeastSquares(X, Y)
    _run_fit(fit, label, again, W0, rule, hyper, own_called, **kwargs)
    if len(again.calls) != len(problem.calls) or not all(
            np.array_equal(a[0], c[0]) for a, c in zip(again.calls, problem.calls)):
        raise CheckFailed(f"{label}: called twice with seed={seed}, it used different batches: fit must be "
                          "deterministic for a seed. Hint: rng = np.random.default_rng(seed), and shuffle only "
                          "with it.")
    other = LeastSquares(X, Y)
    _run_fit(fit, label, other, W0, rule, hyper, own_called, **{**kwargs, "seed": seed + 1})
    if len(other.calls) == len(problem.calls) and all(
            np.array_equal(a[0], c[0]) for a, c in zip(other.calls, problem.calls)):
        raise CheckFailed(f"{label} and seed={seed + 1} used the same batches: the seed is ignored. Hint: "
                          "rng = np.random.default_rng(seed).")
    try:
        expected_w, expected_losses = _oracle_fit(X, Y, W0, split, rule, lr, hyper, schedule)
    except NotPublished:  # the student kit knows the replay of the batches a correct minibatches draws, only
        raise CheckFailed(f"{label}: fit used other batches than those this public check has the expected values "
                          "for (the batches of a correct minibatches(n, batch_size, rng), with one "
                          "rng = np.random.default_rng(seed) for all epochs), so it cannot replay them here; "
                          "grading replays whichever batches fit uses.") from None
    replayed: list = []

    def mistakes() -> tuple[dict, dict]:
        if not replayed:
            replayed.append(_fit_mistakes(X, Y, W0, split, rule, lr, hyper, schedule))
        return replayed[0]

    def weight_mistakes() -> dict:
        try:
            m = dict(mistakes()[1])
        except NotPublished:  # a student kit without these values: the initial weights are still known
            m = {}
        m["these are the initial weights w0: return the trained ones"] = W0
        return m

    losses = losses_per_epoch(f"{label} -> history['loss']", history["loss"], epochs,
                              hint="One number per epoch: the mean of that epoch's batch losses.")
    close_or_explain(f"{label} -> history['loss'] (index = epoch)", losses, expected_losses, lambda: mistakes()[0],
                     rtol=FIT_RTOL, atol=FIT_ATOL, check_container=False)
    close_or_explain(f"{label} -> w (after training)", got, expected_w, weight_mistakes, rtol=FIT_RTOL,
                     atol=FIT_ATOL, check_container=False)


# ---------------------------------------------------------------------------------------------
# fit: early stopping against a scripted validation loss
# ---------------------------------------------------------------------------------------------

class ScriptedValidation:
    """A ``val_loss(w)`` that returns ``values[k]`` for the k-th distinct weights it is called with.

    Calling it again with the same weights returns the same value, so a loop may call it more than
    once per epoch. ``seen`` keeps a copy of each distinct weight array, in order.
    """

    def __init__(self, values: list[float], w0: np.ndarray):
        self.values = list(values)
        self.w0 = np.array(w0, dtype=np.float64)
        self.seen: list[np.ndarray] = []
        self.keys: dict[bytes, int] = {}
        self.called_at_w0 = False

    def __call__(self, w):
        w = np.array(to_numpy(w), dtype=np.float64)
        if w.shape == self.w0.shape and np.array_equal(w, self.w0):
            self.called_at_w0 = True
        key = w.tobytes()
        if key not in self.keys:
            self.keys[key] = len(self.seen)
            self.seen.append(w.copy())
        k = self.keys[key]
        return float(self.values[k]) if k < len(self.values) else float(self.values[-1] + 1.0 + k)


# The known mistakes of early stopping, as variants of the rule, and what each one is called.
EARLY_STOPPING_MISTAKES = {
    "tie_improves": "a validation loss equal to the best so far was counted as an improvement; only a strictly "
                    "lower one is (if current < best, not <=)",
    "no_reset": "the count of epochs without improvement was not set back to 0 when the validation loss improved, "
                "so two separate pauses added up",
}


@answer
def early_stopping_reference(values: list[float], patience: int | None, epochs: int,
                             variant: str | None = None) -> tuple[int, int]:
    """``(epochs run, best epoch)``: stop after ``patience`` epochs in a row without a strictly lower
    validation loss than the best so far (never, with ``patience=None``). ``variant`` names one of
    :data:`EARLY_STOPPING_MISTAKES` instead."""
    best, best_epoch, wait = math.inf, -1, 0
    for e in range(epochs):
        if values[e] < best or (variant == "tie_improves" and values[e] == best):
            best, best_epoch = values[e], e
            wait = wait if variant == "no_reset" else 0
        else:
            wait += 1
            if patience is not None and wait >= patience:
                return e + 1, best_epoch
    return epochs, best_epoch


def _early_stopping_mistake(right: tuple[int, int], wrong: dict[str, tuple[int, int]], ran: float,
                            returned_epoch: int | None = None) -> str:
    """The hint naming the known mistake (``wrong``: its ``(epochs run, best epoch)`` on this curve)
    that runs ``ran`` epochs and, where given, returns the weights of ``returned_epoch``; or ''."""
    for variant, (wrong_run, wrong_best) in wrong.items():
        if (wrong_run, wrong_best) != right and wrong_run == ran and returned_epoch in (None, wrong_best):
            return EARLY_STOPPING_MISTAKES[variant]
    return ""


def _early_stopping_cases(hidden: bool):
    """Yield ``(values, patience, epochs)``: scripted validation losses, one per epoch."""
    if hidden:
        yield from _hidden_early_stopping_cases()
    else:
        yield [1.0, 0.8, 0.6, 0.65, 0.62, 0.7, 0.5, 0.4], 3, 8   # stops after epoch 5; best is epoch 2
        yield [1.0, 0.7, 0.75, 0.5, 0.55, 0.6], None, 6          # no early stopping; best is epoch 3
        yield [0.9, 0.8, 0.85, 0.7, 0.6], 2, 5                   # a pause of 1 < patience, then improves
        # Two separate pauses of 1 (the wait starts again after each), then ties with the best: a tie
        # is no improvement, so it stops after epoch 7; the best is epoch 5's 0.6, the first of them.
        yield [1.0, 0.8, 0.8, 0.7, 0.75, 0.6, 0.6, 0.6, 0.5], 2, 9


@grading_only
def _hidden_early_stopping_cases():
    rng = hidden_rng("fit_early_stopping")
    for patience in (int(rng.integers(2, 4)), None, int(rng.integers(1, 3))):
        epochs = int(rng.integers(8, 12))
        drops = np.cumsum(rng.uniform(0.05, 0.3, size=epochs))
        values = [float(v) for v in 2.0 - drops]
        # The validation loss turns up after `turn`; with a patience, training must stop before the
        # last epoch, so that a loop that never stops cannot pass.
        turn = int(rng.integers(2, epochs - (patience or 1) - 1))
        for e in range(turn + 1, epochs):
            values[e] = values[turn] + float(rng.uniform(0.01, 0.2)) * (e - turn) * (1 + 0.5 * ((e - turn) % 2))
        if patience == 1 and rng.uniform() < 0.5:
            values[-1] = values[turn] - 0.1          # a late improvement that patience must not reach
        yield [round(float(v), 6) for v in values], patience, epochs
    for ties in (False, True):
        yield _plateau_curve(rng, int(rng.integers(2, 4)), ties)


@grading_only
def _plateau_curve(rng: np.random.Generator, patience: int, ties: bool) -> tuple[list[float], int, int]:
    """``(values, patience, epochs)``: two pauses of ``patience - 1`` epochs, each ended by an
    improvement, then ``patience`` epochs without one (a stop) and a late improvement never reached.
    With ``ties``, the pauses repeat the best value exactly instead of rising above it."""
    values, best = [], 2.0
    for pause in (patience - 1, patience - 1, patience):
        best = round(best - float(rng.uniform(0.05, 0.3)), 6)
        values.append(best)
        values += [best if ties else round(best + float(rng.uniform(0.01, 0.2)), 6) for _ in range(pause)]
    values.append(round(best - 0.1, 6))
    return values, patience, len(values)


def _early_stopping_data(hidden: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X (17, 3), Y (17, 2), W0 (2, 3))``: the training problem of the early-stopping runs."""
    if hidden:
        return _hidden_early_stopping_data()
    return _least_squares(None, 17, 3, 2)


@grading_only
def _hidden_early_stopping_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _least_squares(hidden_rng("fit_early_stopping_data"), 17, 3, 2)


def check_fit_early_stopping(fit, hidden: bool = False) -> None:
    """``fit(..., patience=p, val_loss=val_loss)``: after every epoch, ``val_loss(w)`` once; stop after
    ``p`` epochs in a row without a strictly lower value than the best so far (never, with
    ``patience=None``); return the weights of the epoch with the lowest validation loss, and
    ``history['val_loss']`` with one value per epoch run.

    ``val_loss`` returns a scripted sequence of values (one per distinct weights it sees), so the
    epoch to stop at and the weights to return are known exactly.
    """
    own_called: list[str] = []
    with _noting_fit_parts(fit, own_called):
        _check_early_stopping_runs(fit, hidden, own_called)


def _check_early_stopping_runs(fit: Callable, hidden: bool, own_called: list[str]) -> None:
    """The runs of :func:`check_fit_early_stopping`, and its pass line (``own_called``: see :func:`_fit_rule`)."""
    X, Y, W0 = _early_stopping_data(hidden)
    n, b, lr = len(X), 5, 0.05
    count, patiences = 0, []
    for values, patience, epochs in _early_stopping_cases(hidden):
        seed = 3 + count
        problem = LeastSquares(X, Y)
        val = ScriptedValidation(values, W0)
        label = _fit_label(W0, "sgd", {}, lr, epochs, b, n, seed, patience=patience, val=True)
        shown = ", ".join(f"{v:g}" for v in values)
        label += f" with validation losses [{shown}] (one per epoch; epochs count from 0)"
        got, history = _run_fit(fit, label, problem, W0, "sgd", {}, own_called, lr=lr, epochs=epochs, batch_size=b,
                                n=n, seed=seed, patience=patience, val_loss=val)
        per_epoch = math.ceil(n / b)
        run, best = early_stopping_reference(values, patience, epochs)
        wrong = {v: early_stopping_reference(values, patience, epochs, variant=v) for v in EARLY_STOPPING_MISTAKES}
        ran = len(problem.calls) / per_epoch
        if val.called_at_w0:
            raise CheckFailed(f"{label}: val_loss was called with the initial weights w0. Call it after each epoch's "
                              "updates, with the weights that epoch produced.")
        if not val.seen:
            raise CheckFailed(f"{label}: val_loss was never called. After every epoch, compute val_loss(w) and keep "
                              "the weights whenever it is the lowest so far.")
        if ran != run:
            if ran == epochs:
                why = "it ran all epochs: training did not stop"
            elif ran == run - 1:
                why = "it stopped one epoch early"
            elif ran == run + 1:
                why = "it stopped one epoch late"
            else:
                why = f"it ran {ran:g} epochs"
            mistake = _early_stopping_mistake((run, best), wrong, ran)
            why += f".\n  hint: {mistake}" if mistake else ""
            rule = (f"with patience={patience}, training stops after {patience} epochs in a row without a validation "
                    "loss strictly lower than the best so far" if patience is not None else
                    "with patience=None, training runs every epoch")
            raise CheckFailed(f"{label}: expected {run} epochs ({rule}: the best is epoch {best}, "
                              f"{values[best]:g}); {why}" + ("" if mistake else "."))
        if len(val.seen) != run:
            raise CheckFailed(f"{label}: val_loss saw {len(val.seen)} different weight arrays in {run} epochs; call it "
                              "once after each epoch's updates.")
        val_hist = losses_per_epoch(f"{label} -> history['val_loss']", history.get("val_loss", []), run,
                                    hint="One validation loss per epoch run.")
        check_close(f"{label} -> history['val_loss']", val_hist, np.array(values[:run]), rtol=1e-12, atol=0.0,
                    check_container=False)
        losses_per_epoch(f"{label} -> history['loss']", history["loss"], run,
                         hint="One training loss per epoch run (the epochs after the stop are not run).")
        expected = val.seen[best]
        if not (got.shape == expected.shape and np.allclose(got, expected, rtol=1e-12, atol=1e-14)):
            if np.allclose(got, val.seen[-1], rtol=1e-12, atol=1e-14):
                hint = (f"these are the weights after the last epoch run (epoch {run - 1}, validation loss "
                        f"{values[run - 1]:g}); return the best ones, from epoch {best} (validation loss "
                        f"{values[best]:g}): keep a copy, w_best = w.copy(), whenever the validation loss improves")
            elif np.allclose(got, W0, rtol=1e-12, atol=1e-14):
                hint = "these are the initial weights w0: return the weights of the best epoch"
            else:
                near = [e for e, w in enumerate(val.seen) if np.allclose(got, w, rtol=1e-12, atol=1e-14)]
                hint = (f"these are the weights after epoch {near[0]} (validation loss {values[near[0]]:g}); the "
                        f"lowest validation loss is epoch {best}'s ({values[best]:g})" if near else
                        "these are not the weights val_loss saw after any epoch")
                mistake = _early_stopping_mistake((run, best), wrong, ran, near[0] if near else -1)
                hint += f"; {mistake}" if mistake else ""
            raise CheckFailed(f"{label}: returned the wrong weights. Expected the weights of epoch {best}, where the "
                              f"validation loss was lowest ({values[best]:g}).\n  hint: {hint}")
        count += 1
        patiences.append(str(patience))
    passed(f"fit stops early at the right epoch and returns the best weights, not the last, on {count} "
           f"{scope_word(hidden)} validation curves (patience {', '.join(patiences)})")


# ---------------------------------------------------------------------------------------------
# Adam against SGD on the notebook's ill-conditioned quadratic
# ---------------------------------------------------------------------------------------------

def quadratic_loss(w) -> float:
    """The notebook's ill-conditioned quadratic, ``0.5 * w @ A @ w`` with ``A = diag(0.1, 10)``."""
    w = np.asarray(w, dtype=np.float64)
    return float(0.5 * w @ QUADRATIC_A @ w)


def run_on_quadratic(name: str, rule: Callable, lr: float, steps: int = QUADRATIC_STEPS) -> np.ndarray:
    """``(steps + 1, 2)``: the path of ``rule`` from QUADRATIC_W0 on the quadratic, gradients A @ w."""
    labels = [f"{name}(w (2,), dw (2,), state, lr={lr:g}) at step {t + 1} on the quadratic" for t in range(steps)]
    return np.concatenate([QUADRATIC_W0[None], _threaded_rule(name, rule, QUADRATIC_W0, lr, {}, labels)])


def check_adam_beats_sgd(sgd, adam) -> None:
    """On the notebook's quadratic, from w0 = (-3, 1), 100 steps each at the notebook's rates
    (sgd 0.18, adam 0.1): the student's adam ends at a lower loss than the student's sgd."""
    ends = {}
    for name, rule in (("sgd", sgd), ("adam", adam)):
        path = run_on_quadratic(name, rule, QUADRATIC_LR[name])
        with np.errstate(all="ignore"):
            loss = quadratic_loss(path[-1])
        if not np.isfinite(loss):
            raise CheckFailed(f"{name} on the quadratic 0.5 * (0.1 * w1**2 + 10 * w2**2) from w0 = (-3, 1), lr = "
                              f"{QUADRATIC_LR[name]:g}: the loss became {loss} (NaN or inf) within "
                              f"{QUADRATIC_STEPS} steps. The {name} test above says what is off.")
        ends[name] = loss
    start = quadratic_loss(QUADRATIC_W0)
    summary = (f"after {QUADRATIC_STEPS} steps from f(w0) = {start:g}: adam (lr = {QUADRATIC_LR['adam']:g}) reaches "
               f"{ends['adam']:.3g}, sgd (lr = {QUADRATIC_LR['sgd']:g}) {ends['sgd']:.3g}")
    if not ends["adam"] < ends["sgd"]:
        raise CheckFailed(f"On the ill-conditioned quadratic 0.5 * (0.1 * w1**2 + 10 * w2**2), {summary}: adam should "
                          "end lower. Its per-coordinate step sizes take it along the flat direction w1 as fast as "
                          "along the steep one; sgd's rate is capped by the steep direction (lr < 2 / 10). The adam "
                          "and sgd tests above say which rule is off.")
    passed(f"adam beats sgd on the ill-conditioned quadratic: {summary}")
