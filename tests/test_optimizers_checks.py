"""Unit tests of autograder.exercises.optimizers, the checks behind assignment 03's test cells.

Every check is called in-process on a "notebook": the answer cells of the source notebook
(source/03_optimizers), solution markers removed, executed into a fresh namespace, optionally with
a line edited into a typical mistake, exactly as the sample submissions in
source/03_optimizers/mistakes.toml are made. A correct notebook passes public and hidden checks
for several seeds; each mistake fails its own check with the hint that names it, and leaves the
checks of the other parts passing.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest

from autograder import seeds
from autograder.exercises import optimizers as grader
from autograder.notebooks import cells_by_id, nbgrader_meta, read_notebook, strip_solution_markers
from .catalogue import mistake
from .conftest import CHECK_SEED as SEED, failure, run_solution

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "03_optimizers" / "optimizers.ipynb"

# The source notebook's answers, as a student who got everything right would write them.
SOLUTION = "\n\n".join(strip_solution_markers(c.source) for c in read_notebook(SOURCE).cells
                       if nbgrader_meta(c).get("solution"))

# Edits that turn the solution into a typical mistake (find, replace); the first ones are the samples'.
ADAM_BIAS = "m_hat = m / (1 - beta1 ** t)           # bias correction: m and v started at 0\n    v_hat = v / (1 - beta2 ** t)"
A = "03_optimizers"
ADAM_NO_BIAS_CORRECTION = mistake(A, "adam_no_bias_correction")
RMSPROP_RETURN = "s = beta * state.get(\"s\", np.zeros_like(w)) + (1 - beta) * dw * dw\n    state[\"s\"] = s\n    return w - lr * dw / (np.sqrt(s) + eps), state"
RMSPROP_EPS_INSIDE = (RMSPROP_RETURN, RMSPROP_RETURN.replace("np.sqrt(s) + eps", "np.sqrt(s + eps)"))
ADAGRAD_RETURN = "s = state.get(\"s\", np.zeros_like(w)) + dw * dw\n    state[\"s\"] = s\n    return w - lr * dw / (np.sqrt(s) + eps), state"
ADAGRAD_EPS_INSIDE = (ADAGRAD_RETURN, ADAGRAD_RETURN.replace("np.sqrt(s) + eps", "np.sqrt(s + eps)"))
ADAGRAD_NO_EPS = (ADAGRAD_RETURN, ADAGRAD_RETURN.replace("(np.sqrt(s) + eps)", "np.sqrt(s)"))
ADAM_EPS_INSIDE = ("np.sqrt(v_hat) + eps", "np.sqrt(v_hat + eps)")
SGD_IN_PLACE = mistake(A, "sgd_updates_w_in_place")
DROPS_LAST_BATCH = mistake(A, "minibatches_drops_last_batch")
RETURNS_LAST_WEIGHTS = mistake(A, "early_stopping_returns_last_weights")
WAIT_NEVER_RESET = mistake(A, "early_stopping_wait_never_reset")
TIE_IMPROVES = mistake(A, "early_stopping_tie_improves")
DIFFERENT_BUT_VALID = mistake(A, "different_but_valid")
MOMENTUM_LINE = "v = beta * state.get(\"v\", np.zeros_like(w)) + (1 - beta) * dw"
MOMENTUM_TORCH_FORM = (MOMENTUM_LINE, "v = beta * state.get(\"v\", np.zeros_like(w)) + dw")
MOMENTUM_DAMPENED_FIRST = (MOMENTUM_LINE, "v = beta * state[\"v\"] + (1 - beta) * dw if \"v\" in state else dw.copy()")
MOMENTUM_SWAPPED = (MOMENTUM_LINE, "v = (1 - beta) * state.get(\"v\", np.zeros_like(w)) + beta * dw")
MOMENTUM_KEEPS_DW = (MOMENTUM_LINE + "\n    state[\"v\"] = v",
                     "if \"v\" not in state:\n        state[\"v\"] = dw\n        state[\"v\"] *= 1 - beta\n"
                     "    else:\n        state[\"v\"] *= beta\n        state[\"v\"] += (1 - beta) * dw\n    v = state[\"v\"]")
ADAM_T_FIXED = ("t = state.get(\"t\", 0) + 1", "t = 1")
ADAM_M_ONLY = ("v_hat = v / (1 - beta2 ** t)", "v_hat = v")
ADAM_HARDCODED = ("m = beta1 * state", "beta1, beta2 = 0.9, 0.999\n    m = beta1 * state")
RMSPROP_SWAPPED = ("s = beta * state.get(\"s\", np.zeros_like(w)) + (1 - beta) * dw * dw",
                   "s = (1 - beta) * state.get(\"s\", np.zeros_like(w)) + beta * dw * dw")
ADAM_IN_PLACE = ("return w - lr * m_hat / (np.sqrt(v_hat) + eps), state",
                 "w -= lr * m_hat / (np.sqrt(v_hat) + eps)\n    return w, state")
MB_GLOBAL_RNG = ("order = rng.permutation(n) if shuffle", "order = np.random.permutation(n) if shuffle")
MB_FIXED_SEED = ("order = rng.permutation(n) if shuffle", "order = np.random.default_rng(0).permutation(n) if shuffle")
MB_NOT_SHUFFLED = ("order = rng.permutation(n) if shuffle", "order = np.arange(n) if shuffle")
MB_ARRAY_SPLIT = ("for start in range(0, n, batch_size):       # the last slice may be shorter: it is kept\n"
                  "        yield order[start:start + batch_size]", "yield from np.array_split(order, -(-n // batch_size))")
MB_WITH_REPLACEMENT = ("order = rng.permutation(n) if shuffle", "order = rng.integers(0, n, size=n) if shuffle")
MB_IGNORES_SHUFFLE = ("order = rng.permutation(n) if shuffle else np.arange(n)", "order = rng.permutation(n)")
SCHED_EXTRA = ("** (step // hyper[\"step_size\"])", "** (step // hyper[\"step_size\"] + 1)")
SCHED_NO_FLOOR = ("** (step // hyper[\"step_size\"])", "** (step / hyper[\"step_size\"])")
SCHED_POWER = ("lr0 / (1 + hyper[\"decay_rate\"] * step)", "lr0 / (1 + hyper[\"decay_rate\"]) ** step")
SCHED_NO_RAISE = ("raise ValueError(f\"unknown", "return lr0  # (f\"unknown")
FIT_RESET_STATE = ("        batch_losses = []\n", "        batch_losses = []\n        state = {}\n")
FIT_SCHEDULE_IGNORED = ("rate = lr if schedule is None else lr_schedule(lr0=lr, step=epoch, **schedule)", "rate = lr")
FIT_SCHEDULE_LATE = ("step=epoch, **schedule)", "step=epoch + 1, **schedule)")
FIT_RNG_PER_EPOCH = ("for idx in minibatches(n, batch_size, rng):",
                     "for idx in minibatches(n, batch_size, np.random.default_rng(seed)):")
FIT_GLOBAL_RNG = ("for idx in minibatches(n, batch_size, rng):",
                  "for idx in minibatches(n, batch_size, np.random.default_rng()):")
FIT_SCHEDULE_PER_BATCH = [("rng = np.random.default_rng(seed)\n", "rng = np.random.default_rng(seed)\n    count = 0\n"),
                          ("            loss, dw = loss_and_grad(w, idx)\n",
                           "            loss, dw = loss_and_grad(w, idx)\n"
                           "            if schedule is not None:\n"
                           "                rate = lr_schedule(lr0=lr, step=count, **schedule)\n"
                           "            count += 1\n")]
FIT_LAST_LOSS = ("history[\"loss\"].append(float(np.mean(batch_losses)))", "history[\"loss\"].append(batch_losses[-1])")
FIT_SUM_LOSS = ("history[\"loss\"].append(float(np.mean(batch_losses)))", "history[\"loss\"].append(sum(batch_losses))")
FIT_NO_COPY_OF_W0 = ("w, state = np.array(w0, copy=True), {}", "w, state = w0, {}")
ES_NEVER_STOPS = ("if patience is not None and wait >= patience:", "if False:")
ES_ONE_LATE = ("if patience is not None and wait >= patience:", "if patience is not None and wait > patience:")
ES_VAL_BEFORE_EPOCH = [("        batch_losses = []\n",
                        "        batch_losses = []\n        if val_loss is not None:\n            val_loss(w)\n")]


def notebook(*edits) -> dict:
    """A fresh notebook namespace with the solution run in it, after applying ``edits``."""
    return run_solution(SOLUTION, *edits)


# check name -> (check, the notebook functions it takes); these take hidden=True too
CHECKS = {
    "minibatches": (grader.check_minibatches, ("minibatches",)),
    "sgd": (grader.check_sgd, ("sgd",)),
    "momentum": (grader.check_momentum, ("momentum",)),
    "adagrad": (grader.check_adagrad, ("adagrad",)),
    "rmsprop": (grader.check_rmsprop, ("rmsprop",)),
    "adam": (grader.check_adam, ("adam",)),
    "lr_schedule": (grader.check_lr_schedule, ("lr_schedule",)),
    "fit": (grader.check_fit, ("fit",)),
    "fit_early_stopping": (grader.check_fit_early_stopping, ("fit",)),
}
PUBLIC_ONLY = {
    "rules_do_not_mutate": (grader.check_rules_do_not_mutate, grader.RULE_NAMES),
    "adam_beats_sgd": (grader.check_adam_beats_sgd, ("sgd", "adam")),
}


def run_all(ns: dict, hidden: bool) -> None:
    for check, names in CHECKS.values():
        check(*(ns[n] for n in names), hidden=hidden)
    for check, names in PUBLIC_ONLY.values():
        check(*(ns[n] for n in names))


def test_the_source_notebook_defines_every_function():
    ns = notebook()
    for name in ("minibatches", *grader.RULE_NAMES, "lr_schedule", "fit"):
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
    assert capsys.readouterr().out.startswith("✓ ")


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


@pytest.mark.parametrize("seed", [0, 3])
def test_different_but_valid_solution_gets_full_marks(seed, monkeypatch):
    """The sample of that name: a list from np.split, a new state dict per call, torch's Adam arrangement."""
    monkeypatch.setenv(seeds.SEED_ENV, str(seed))
    ns = notebook(*DIFFERENT_BUT_VALID)
    run_all(ns, hidden=False)
    run_all(ns, hidden=True)


def test_rules_agree_with_torch_to_rounding(seeded):
    """The bar is 1e-10; a correct rule lands near 1e-16, so a busy machine or a different BLAS cannot fail it."""
    ns = notebook()
    for name in grader.RULE_NAMES:
        for hidden in (False, True):
            assert grader.check_rule(name, ns[name], hidden=hidden) < 1e-14


def test_student_functions_are_restored_after_a_swap():
    ns = notebook()
    own = {name: ns[name] for name in grader.REFERENCE_PARTS}
    grader.check_fit(ns["fit"])
    grader.check_fit_early_stopping(ns["fit"])
    assert all(ns[name] is fn for name, fn in own.items())


def test_hidden_inputs_are_reproducible_and_differ_between_seeds(monkeypatch):
    def capture(seed):
        received = []
        correct = notebook()["adam"]

        def spy(w, dw, state, lr, **hyper):
            received.append((np.array(dw).tolist(), lr, sorted(hyper.items())))
            return correct(w, dw, state, lr, **hyper)

        monkeypatch.setenv(seeds.SEED_ENV, str(seed))
        grader.check_adam(spy, hidden=True)
        return received

    assert capture(11) == capture(11)
    a, b = capture(11), capture(12)
    assert len(a) == len(b) == 2 * grader.RULE_STEPS and a[0] != b[0]


# --------------------------------------------------------------------------------------------
# The oracles themselves
# --------------------------------------------------------------------------------------------

def test_lecture_momentum_is_torch_sgd_with_a_scaled_learning_rate_from_the_first_step():
    rng = np.random.default_rng(0)
    w0, grads = rng.normal(size=4), rng.normal(size=(40, 4)) + 0.5
    ours = grader.formula_trajectory("momentum", w0, grads, 0.3, {"beta": 0.8})
    torch_scaled = grader.torch_trajectory("momentum", w0, grads, 0.3, {"beta": 0.8})
    assert np.max(grader.trajectory_errors(ours, torch_scaled)) < 1e-14


def test_torch_dampening_is_not_the_lecture_momentum():
    """torch's SGD(momentum=b, dampening=b) starts its buffer at dw: the offset lr * dw_1 * sum(b^s) stays."""
    import torch
    rng = np.random.default_rng(1)
    w0, grads, lr, beta = rng.normal(size=3), rng.normal(size=(30, 3)), 0.1, 0.9
    p = torch.tensor(w0.copy(), requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=beta, dampening=beta)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    ours = grader.formula_trajectory("momentum", w0, grads, lr, {"beta": beta})[-1]
    offset = lr * grads[0] * beta * (1 - beta ** 30) / (1 - beta)
    np.testing.assert_allclose(ours - p.detach().numpy(), offset, rtol=1e-10)
    assert np.all(np.abs(offset) > 1e-3)


@pytest.mark.parametrize("seed", [None, 0, 1, 2, 3, 4])
@pytest.mark.parametrize("name", grader.RULE_NAMES)
def test_every_known_mistake_is_far_from_the_right_trajectory(name, seed, monkeypatch):
    """A mistake's hint is offered within HINT_BAR (1e-8) of its trajectory, and a rule fails beyond RULE_BAR
    (1e-10): every mistake must be far from the right trajectory by both measures."""
    monkeypatch.setenv(seeds.SEED_ENV, str(seed or 0))
    problems = grader._hidden_rule_problems(name) if seed is not None else grader._public_rule_problems(name)
    for w0, grads, lr, hyper in problems:
        right = grader.torch_trajectory(name, w0, grads, lr, hyper)
        for variant in grader.RULE_MISTAKES[name]:
            wrong = grader.formula_trajectory(name, w0, grads, lr, hyper, variant)
            assert np.max(grader.trajectory_errors(wrong, right)) > 10 * grader.HINT_BAR, (name, variant)


def test_schedules_match_torch_closed_forms():
    for kind, lr0, hyper in grader._schedule_cases(hidden=False):
        expected = grader.torch_schedule(kind, lr0, 50, **hyper)
        ours = [grader._reference_lr_schedule(kind, lr0, s, **hyper) for s in range(50)]
        np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_notebook_paths_use_the_graders_quadratic_and_rates():
    """test_adam_beats_sgd uses the module's constants; they must be the ones the notebook shows."""
    cell = cells_by_id(read_notebook(SOURCE))["paths_setup"].source
    ns = {"np": np, "sgd": None, "momentum": None, "adagrad": None, "rmsprop": None, "adam": None}
    exec(compile(cell, "<paths_setup>", "exec"), ns)
    np.testing.assert_array_equal(ns["QUADRATIC_A"], grader.QUADRATIC_A)
    np.testing.assert_array_equal(ns["QUADRATIC_W0"], grader.QUADRATIC_W0)
    assert ns["QUADRATIC_STEPS"] == grader.QUADRATIC_STEPS
    assert {k: ns["QUADRATIC_RATES"][k] for k in grader.QUADRATIC_LR} == grader.QUADRATIC_LR


@pytest.mark.parametrize("seed", range(20))
def test_hidden_early_stopping_curves_are_well_formed(seed, monkeypatch):
    """Every curve with a patience stops before its last epoch (a loop that never stops must fail), ties
    appear only where a curve repeats its best on purpose, and every hidden set catches both known
    mistakes of the rule: a wait never reset, and a tie taken for an improvement."""
    monkeypatch.setenv(seeds.SEED_ENV, str(seed))
    caught = set()
    for values, patience, epochs in grader._early_stopping_cases(hidden=True):
        assert len(values) == epochs
        run, best = grader.early_stopping_reference(values, patience, epochs)
        assert 0 < best < run <= epochs
        assert values[best] == min(values[:run])
        if patience is not None:
            assert run < epochs
        if len(set(values)) < epochs:  # ties only with the best so far
            assert all(v == min(values[:e + 1]) for e, v in enumerate(values) if v in values[:e])
        caught |= {v for v in grader.EARLY_STOPPING_MISTAKES
                   if grader.early_stopping_reference(values, patience, epochs, variant=v) != (run, best)}
    assert caught == set(grader.EARLY_STOPPING_MISTAKES)


def test_early_stopping_reference():
    assert grader.early_stopping_reference([1.0, 0.8, 0.6, 0.65, 0.62, 0.7, 0.5, 0.4], 3, 8) == (6, 2)
    assert grader.early_stopping_reference([1.0, 0.7, 0.75, 0.5, 0.55, 0.6], None, 6) == (6, 3)
    assert grader.early_stopping_reference([0.9, 0.8, 0.85, 0.7, 0.6], 2, 5) == (5, 4)
    assert grader.early_stopping_reference([0.5, 0.5, 0.6, 0.4], 2, 4) == (3, 0)  # a tie is no improvement
    curve = [1.0, 0.8, 0.8, 0.7, 0.75, 0.6, 0.6, 0.6, 0.5]
    assert grader.early_stopping_reference(curve, 2, 9) == (8, 5)
    assert grader.early_stopping_reference(curve, 2, 9, variant="tie_improves") == (9, 8)
    assert grader.early_stopping_reference(curve, 2, 9, variant="no_reset") == (5, 3)


# --------------------------------------------------------------------------------------------
# The samples' mistakes: each fails its own cell, with the hint that names it, and nothing else
# --------------------------------------------------------------------------------------------

# (edit, cell, the public message's hint, the hidden message's hint)
SAMPLE_MISTAKES = [
    (ADAM_NO_BIAS_CORRECTION, "adam", "no bias correction", "no bias correction"),
    (RMSPROP_EPS_INSIDE, "rmsprop", "epsilon is inside the square root", "epsilon is inside the square root"),
    (SGD_IN_PLACE, "rules_do_not_mutate", "sgd(w (3, 4), dw (3, 4), state, lr=0.1) (call 1 of 2): changed the "
                                          "caller's w in place", None),
    (DROPS_LAST_BATCH, "minibatches", "the last partial batch is dropped: n mod batch_size = 23 mod 5 = 3",
     "the last partial batch is dropped"),
    (RETURNS_LAST_WEIGHTS, "fit_early_stopping", "these are the weights after the last epoch run (epoch 5",
     "these are the weights after the last epoch run"),
    (WAIT_NEVER_RESET, "fit_early_stopping", "it ran 5 epochs.\n  hint: the count of epochs without improvement was not set back to 0", "was not set back to 0"),
    (TIE_IMPROVES, "fit_early_stopping", "equal to the best so far was counted as an improvement",
     "equal to the best so far was counted as an improvement"),
]
SAMPLE_IDS = ["adam_no_bias_correction", "rmsprop_eps_inside_sqrt", "sgd_updates_w_in_place",
              "minibatches_drops_last_batch", "early_stopping_returns_last_weights",
              "early_stopping_wait_never_reset", "early_stopping_tie_improves"]


def _run_check(name: str, ns: dict, hidden: bool = False):
    if name in PUBLIC_ONLY:
        check, names = PUBLIC_ONLY[name]
        return check(*(ns[n] for n in names))
    check, names = CHECKS[name]
    return check(*(ns[n] for n in names), hidden=hidden)


@pytest.mark.parametrize("edit, cell, hint, hidden_hint", SAMPLE_MISTAKES, ids=SAMPLE_IDS)
def test_sample_mistakes_fail_only_their_cell_with_the_hint(edit, cell, hint, hidden_hint, seeded):
    ns = notebook(edit)
    msg = failure(_run_check, cell, ns)
    assert hint in msg, msg
    if hidden_hint:
        assert hidden_hint in failure(_run_check, cell, ns, hidden=True)
    for other in [*CHECKS, *PUBLIC_ONLY]:
        if other != cell:
            _run_check(other, ns)
            if other not in PUBLIC_ONLY:
                _run_check(other, ns, hidden=True)


# --------------------------------------------------------------------------------------------
# Update rules: more mistakes, each named
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, rule, hint", [
    (ADAGRAD_EPS_INSIDE, "adagrad", "epsilon is inside the square root"),
    (ADAM_EPS_INSIDE, "adam", "epsilon is inside the square root: the denominator is np.sqrt(v_hat) + eps"),
    pytest.param(ADAGRAD_NO_EPS, "adagrad", "NaN or inf: the denominator is 0 where dw has been 0 so far",
                 marks=pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")),
    (ADAM_T_FIXED, "adam", "the step count t never advances"),
    (ADAM_M_ONLY, "adam", "only m is bias-corrected"),
    (ADAM_HARDCODED, "adam", "it used beta1=0.9 instead of"),
    (MOMENTUM_TORCH_FORM, "momentum", "this is PyTorch's form, v = beta * v + dw"),
    (MOMENTUM_DAMPENED_FIRST, "momentum", "torch.optim.SGD(momentum=beta, dampening=beta)"),
    (MOMENTUM_SWAPPED, "momentum", "beta and 1 - beta are swapped"),
    (("return w - lr * dw, state", "return w + lr * dw, state"), "sgd", "the sign is flipped"),
    (RMSPROP_SWAPPED, "rmsprop", "beta and 1 - beta are swapped"),
], ids=["adagrad_eps_inside", "adam_eps_inside", "adagrad_no_eps", "adam_t_fixed", "adam_m_only",
        "adam_hardcoded_betas", "momentum_torch_form", "momentum_dampened_first", "momentum_swapped",
        "sgd_ascent", "rmsprop_swapped"])
def test_rule_mistakes_are_named(edit, rule, hint, seeded):
    ns = notebook(edit)
    msg = failure(_run_check, rule, ns, hidden=True)
    assert hint in msg, msg
    assert msg.startswith(f"{rule}(w (") and "torch.optim." in msg
    if edit is not ADAM_HARDCODED:   # the public default-hyperparameter problem cannot see hard-coded defaults
        assert hint.split(":")[0] in failure(_run_check, rule, ns)


def test_the_first_differing_step_is_named():
    msg = failure(grader.check_adam, notebook(ADAM_T_FIXED)["adam"])
    assert "step 2 differs from torch.optim.Adam" in msg and "(step 1 agrees)" in msg


def test_a_rule_that_forgets_the_state_is_told_to_return_it():
    def no_state(w, dw, state, lr):
        return w - lr * dw

    assert "expected a tuple of 2 items (w_new, state)" in failure(grader.check_sgd, no_state)

    def list_state(w, dw, state, lr):
        return w - lr * dw, []

    assert "not a dict" in failure(grader.check_sgd, list_state)


def test_a_float32_rule_is_told_to_keep_float64():
    def float32_sgd(w, dw, state, lr):
        return (w - lr * dw).astype(np.float32), state

    assert "do not cast" in failure(grader.check_sgd, float32_sgd)


@pytest.mark.parametrize("edit, hint", [
    (SGD_IN_PLACE, "sgd(w (3, 4)"),
    (ADAM_IN_PLACE, "adam(w (3, 4)"),
    (MOMENTUM_KEEPS_DW, "momentum(w (3, 4), dw (3, 4), state, lr=0.1) (call 1 of 2): changed dw in place"),
], ids=["sgd", "adam", "momentum_keeps_dw"])
def test_in_place_updates_fail_only_the_mutation_cell(edit, hint, seeded):
    ns = notebook(edit)
    msg = failure(grader.check_rules_do_not_mutate, *(ns[n] for n in grader.RULE_NAMES))
    assert hint in msg and "1 of 5 rules" in msg, msg
    for name in grader.RULE_NAMES:
        _run_check(name, ns)
        _run_check(name, ns, hidden=True)


def test_adam_beats_sgd_fails_for_an_adam_that_does_not_descend():
    ns = notebook()

    def adam_too_slow(w, dw, state, lr, **hyper):
        return ns["adam"](w, dw, state, lr * 1e-3, **hyper)

    msg = failure(grader.check_adam_beats_sgd, ns["sgd"], adam_too_slow)
    assert "adam should end lower" in msg and "lr < 2 / 10" in msg


@pytest.mark.parametrize("edit", [ADAM_NO_BIAS_CORRECTION, ADAM_EPS_INSIDE, ADAM_T_FIXED, SGD_IN_PLACE],
                         ids=["no_bias_correction", "eps_inside", "t_fixed", "sgd_in_place"])
def test_adam_still_beats_sgd_with_the_small_mistakes(edit):
    ns = notebook(edit)
    grader.check_adam_beats_sgd(ns["sgd"], ns["adam"])


# --------------------------------------------------------------------------------------------
# minibatches
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    (MB_GLOBAL_RNG, "not with np.random.permutation"),
    (MB_FIXED_SEED, "two calls with the same generator (two epochs) gave the same order"),
    (MB_NOT_SHUFFLED, "with shuffle=True they must be shuffled"),
    (MB_ARRAY_SPLIT, "np.array_split"),
    (MB_WITH_REPLACEMENT, "drawing indices with replacement"),
    (MB_IGNORES_SHUFFLE, "shuffle=False means no shuffling"),
], ids=["global_rng", "fixed_seed", "not_shuffled", "array_split", "with_replacement", "ignores_shuffle"])
def test_minibatch_mistakes_are_named(edit, expected, seeded):
    ns = notebook(edit)
    assert expected in failure(grader.check_minibatches, ns["minibatches"])
    failure(grader.check_minibatches, ns["minibatches"], hidden=True)
    grader.check_fit(ns["fit"])  # fit runs with the kit's minibatches


def test_minibatches_returning_none_is_told_to_yield():
    assert "yield each batch's index array" in failure(grader.check_minibatches, lambda n, b, rng, shuffle=True: None)


# --------------------------------------------------------------------------------------------
# lr_schedule
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    (SCHED_EXTRA, "one decay too many"),
    (SCHED_NO_FLOOR, "no floor"),
    (SCHED_POWER, "inverse-time decay is lr0 / (1 + decay_rate * step)"),
    (SCHED_NO_RAISE, "an unknown kind should raise ValueError"),
], ids=["extra_decay", "no_floor", "power", "no_raise"])
def test_schedule_mistakes_are_named(edit, expected, seeded):
    ns = notebook(edit)
    for hidden in (False, True):
        assert expected in failure(grader.check_lr_schedule, ns["lr_schedule"], hidden=hidden)
    grader.check_fit(ns["fit"])  # fit runs with the kit's lr_schedule


# --------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    (FIT_RESET_STATE, "the optimiser's state was reset every epoch"),
    (FIT_SCHEDULE_IGNORED, "the schedule was ignored"),
    (FIT_SCHEDULE_LATE, "the schedule is one epoch late"),
    (FIT_SCHEDULE_PER_BATCH, "the schedule was stepped after every batch"),
    (FIT_RNG_PER_EPOCH, "every epoch visited the indices in the same order"),
    (FIT_GLOBAL_RNG, "fit must be deterministic for a seed"),
    (FIT_LAST_LOSS, "only the epoch's last batch loss"),
    (FIT_SUM_LOSS, "the SUM of the epoch's batch losses"),
], ids=["reset_state", "schedule_ignored", "schedule_late", "schedule_per_batch", "rng_per_epoch", "global_rng",
        "last_loss", "sum_loss"])
def test_fit_mistakes_are_named(edit, expected, seeded):
    ns = notebook(*(edit if isinstance(edit, list) else [edit]))
    for hidden in (False, True):
        msg = failure(grader.check_fit, ns["fit"], hidden=hidden)
        assert expected in msg, msg
        assert msg.startswith("fit(loss_and_grad, w0 (")


def test_fit_that_changes_w0_is_caught():
    ns = notebook(FIT_NO_COPY_OF_W0, SGD_IN_PLACE)
    # The kit's rules never change w, so w0 survives even without a copy...
    grader.check_fit(ns["fit"])

    # ...but a fit that writes into w0 itself does not.
    def writes_w0(loss_and_grad, w0, rule, lr, epochs, batch_size, n, seed, **kwargs):
        w_best, history = ns["fit"](loss_and_grad, w0, rule, lr, epochs, batch_size, n, seed, **kwargs)
        w0[...] = w_best
        return w_best, history

    assert "changed the caller's w0 in place" in failure(grader.check_fit, writes_w0)


def test_fit_that_never_calls_loss_and_grad_is_told_how():
    def idle(loss_and_grad, w0, rule, lr, epochs, batch_size, n, seed, **kwargs):
        return w0, {"loss": [0.0] * epochs, "val_loss": []}

    assert "loss_and_grad was never called" in failure(grader.check_fit, idle)


def test_fit_history_must_be_a_dict():
    ns = notebook()

    def as_list(*args, **kwargs):
        w, history = ns["fit"](*args, **kwargs)
        return w, history["loss"]

    assert "history should be a dict with the keys 'loss' and 'val_loss'" in failure(grader.check_fit, as_list)


def test_fit_mistakes_in_the_rules_or_batches_cost_nothing_there(seeded):
    ns = notebook(ADAM_NO_BIAS_CORRECTION, RMSPROP_EPS_INSIDE, DROPS_LAST_BATCH, MOMENTUM_TORCH_FORM, SCHED_EXTRA)
    for hidden in (False, True):
        grader.check_fit(ns["fit"], hidden=hidden)
        grader.check_fit_early_stopping(ns["fit"], hidden=hidden)


# --------------------------------------------------------------------------------------------
# Early stopping
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    (ES_NEVER_STOPS, "it ran all epochs: training did not stop"),
    (ES_ONE_LATE, "training did not stop"),   # patience 3 + 1 runs past the 8 public epochs
    (ES_VAL_BEFORE_EPOCH, "val_loss was called with the initial weights w0"),
], ids=["never_stops", "one_late", "val_before_epoch"])
def test_early_stopping_mistakes_are_named(edit, expected, seeded):
    ns = notebook(*(edit if isinstance(edit, list) else [edit]))
    msg = failure(grader.check_fit_early_stopping, ns["fit"])
    assert expected in msg, msg
    failure(grader.check_fit_early_stopping, ns["fit"], hidden=True)
    grader.check_fit(ns["fit"])


def test_early_stopping_that_stops_one_epoch_early_is_named():
    ns = notebook(("if patience is not None and wait >= patience:",
                   "if patience is not None and wait >= patience - 1:"))
    assert "it stopped one epoch early" in failure(grader.check_fit_early_stopping, ns["fit"])


def test_early_stopping_returning_a_neighbouring_epoch_is_named():
    ns = notebook()
    real = ns["fit"]

    def off_by_one(loss_and_grad, w0, rule, lr, epochs, batch_size, n, seed, schedule=None, patience=None,
                   val_loss=None):
        seen = []

        def spy(w):
            seen.append(np.array(w, copy=True))
            return val_loss(w)

        w_best, history = real(loss_and_grad, w0, rule, lr, epochs, batch_size, n, seed, schedule, patience, spy)
        best = int(np.argmin(history["val_loss"]))
        return seen[min(best + 1, len(seen) - 1)], history

    msg = failure(grader.check_fit_early_stopping, off_by_one)
    assert "these are the weights after epoch 3 (validation loss 0.65); the lowest validation loss is epoch 2's" in msg


def test_patience_without_val_loss_is_the_students_choice():
    """The notebook's solution raises; the checks never call fit that way."""
    ns = notebook()
    with pytest.raises(ValueError):
        ns["fit"](lambda w, idx: (0.0, w), np.zeros(2), ns["sgd"], 0.1, 2, 2, 4, 0, patience=2)


# --------------------------------------------------------------------------------------------
# The notebook's own loss_and_grad for MNIST agrees with autograd (it is given, so it must be right)
# --------------------------------------------------------------------------------------------

def test_notebook_mnist_gradient_matches_autograd():
    import torch
    cells = cells_by_id(read_notebook(SOURCE))
    rng = np.random.default_rng(0)
    ns = {"np": np, "X_train": rng.random((20, 785)), "y_train": rng.integers(0, 10, 20)}
    exec(compile(cells["mnist_loss"].source, "<mnist_loss>", "exec"), ns)
    W = 0.1 * rng.normal(size=(10, 785))
    idx = np.array([3, 1, 4, 15, 9])
    loss, grad = ns["mnist_loss_and_grad"](W, idx)
    Wt = torch.tensor(W, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(torch.tensor(ns["X_train"][idx]) @ Wt.T,
                                            torch.tensor(ns["y_train"][idx]))
    ref.backward()
    assert math.isclose(loss, float(ref.detach()), rel_tol=1e-12)
    np.testing.assert_allclose(grad, Wt.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert math.isclose(ns["cross_entropy_of"](W, ns["X_train"][idx], ns["y_train"][idx]), loss, rel_tol=1e-12)


def test_partial_rules_work_in_fit():
    """The notebook's convention for other hyperparameters: functools.partial(adam, beta1=0.8)."""
    ns = notebook()
    problem = grader.LeastSquares(*grader._least_squares(None, 12, 3, 2)[:2])
    w, history = ns["fit"](problem.loss_and_grad, np.zeros((2, 3)), functools.partial(ns["adam"], beta1=0.8), 0.05,
                           3, 4, 12, 0)
    assert len(history["loss"]) == 3 and history["val_loss"] == [] and w.shape == (2, 3)


def test_a_rule_that_crashes_mid_run_is_reported_at_that_step_with_its_line():
    """A whole run goes to the rule at once; a crash part-way is still raised at its own step."""
    ns = notebook()
    right = ns["sgd"]
    calls = []

    def sgd(w, dw, state, lr):
        calls.append(1)
        if len(calls) == 3:
            raise FloatingPointError("step three")
        return right(w, dw, state, lr)

    msg = failure(grader.check_sgd, sgd)
    assert msg.startswith("sgd(w (3, 4), dw (3, 4), state dict, lr scalar) raised FloatingPointError: step three"), msg
    assert len(calls) == 3  # the run stopped at the crash, and the crash is the one it met
