"""Unit tests of autograder.exercises.lstm, the checks behind assignment 05's test cells.

Every check is called in-process on a "notebook": the setup cell and the answer cells of the
source notebook (source/05_lstm), solution markers removed, executed into a fresh namespace,
optionally with lines edited into a typical mistake. The samples' mistakes are read from
source/05_lstm/mistakes.toml itself, so these tests and the graded samples cannot drift apart.
A correct notebook passes public and hidden checks for several seeds; each mistake fails its own
check with the hint that names it, and leaves the checks of the other parts passing.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch

from autograder import samples, seeds
from autograder.course import get_assignment
from autograder.exercises import lstm as grader
from autograder.notebooks import nbgrader_meta, read_notebook, strip_solution_markers
from .conftest import CHECK_SEED as SEED, failure

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "05_lstm" / "lstm.ipynb"
CELLS = {nbgrader_meta(c).get("grade_id"): c.source for c in read_notebook(SOURCE).cells}
SOLUTION_IDS = [nbgrader_meta(c).get("grade_id") for c in read_notebook(SOURCE).cells
                if nbgrader_meta(c).get("solution")]
SPECS = {s.student: s for s in samples.load_specs(get_assignment(ROOT, "05"))}

# check name -> (check, the notebook object it takes); all take hidden=True too
CHECKS = {
    "test_lstm_step_forward": (grader.check_lstm_step_forward, "lstm_step_forward"),
    "test_lstm_step_backward": (grader.check_lstm_step_backward, "lstm_step_backward"),
    "test_lstm_step_backward_finite_differences": (grader.check_lstm_step_backward_finite_differences,
                                                   "lstm_step_backward"),
    "test_lstm_forward": (grader.check_lstm_forward, "lstm_forward"),
    "test_lstm_backward": (grader.check_lstm_backward, "lstm_backward"),
    "test_lstm_backward_finite_differences": (grader.check_lstm_backward_finite_differences, "lstm_backward"),
    "test_clip_gradients": (grader.check_clip_gradients, "clip_gradients"),
    "test_lstm_step_torch": (grader.check_lstm_step_torch, "lstm_step_torch"),
    "test_lstm_module": (grader.check_lstm_module, "LSTM"),
    "test_train_char_lm": (grader.check_train_char_lm, "train_char_lm"),
}

# The hint each sample's mistake must show in every cell it fails.
SAMPLE_HINTS = {
    "gates_wrong_order": "gates in the wrong order — PyTorch's order is i, f, g, o",
    "no_tanh_on_cell": "the tanh on the cell state is missing before the output gate",
    "dc_not_carried": "the cell-state gradient is not carried across time steps (only dh is)",
    "forget_bias_grad_dropped": "the forget gate's bias gradient was dropped",
    "clip_per_tensor": "clipped each tensor by its own norm",
    "zero_state_ignores_dtype": "the default zero state must follow the input",
    "clip_after_step": "clipping comes after optimizer.step(), too late",
}


def edits_of(student: str) -> list[tuple[str, str, str]]:
    return [(e.cell, e.find, e.replace) for e in SPECS[student].edits]


def notebook(*edits) -> dict:
    """A fresh namespace with the setup cell and the answer cells run in it, after ``edits``:
    ``(cell, find, replace)`` triples (``find`` must occur exactly once in that cell)."""
    cells = {gid: strip_solution_markers(CELLS[gid]) for gid in SOLUTION_IDS}
    for cell, find, replace in edits:
        assert cells[cell].count(find) == 1, (cell, find)
        cells[cell] = cells[cell].replace(find, replace)
    ns = {"__name__": "notebook"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(CELLS["setup"], "<setup>", "exec"), ns)
    exec(compile("\n\n".join(cells[g] for g in SOLUTION_IDS), "<notebook>", "exec"), ns)
    return ns


@pytest.fixture(autouse=True, scope="module")
def _keep_threads():
    """The setup cell sets torch to one thread; put the test process back afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def run_check(name: str, ns: dict, hidden: bool = False) -> None:
    check, obj = CHECKS[name]
    check(ns[obj], hidden=hidden)


def test_the_source_notebook_defines_every_function():
    ns = notebook()
    for name in ("lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward", "clip_gradients",
                 "lstm_step_torch", "LSTM", "train_char_lm", "sigmoid"):
        assert callable(ns[name]), name


# --------------------------------------------------------------------------------------------
# The correct notebook passes everything, public and hidden
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(CHECKS))
def test_correct_passes_public(name, capsys):
    ns = notebook()
    capsys.readouterr()
    run_check(name, ns)
    out = capsys.readouterr().out
    assert out.startswith("✓ ") and "public" in out
    assert "hidden tests" not in out  # public checks do not draw from the seed


@pytest.mark.parametrize("name", list(CHECKS))
def test_correct_passes_hidden_and_announces_the_seed(name, seeded, capsys):
    ns = notebook()
    run_check(name, ns, hidden=True)
    out = capsys.readouterr().out
    assert f"random inputs from seed {SEED} (replay: AUTOGRADER_SEED={SEED})" in out
    assert "✓ " in out and "hidden" in out


@pytest.mark.parametrize("seed", [0, 1, 7, 2024, 99991])
def test_correct_passes_hidden_for_several_seeds(seed, monkeypatch):
    monkeypatch.setenv(seeds.SEED_ENV, str(seed))
    ns = notebook()
    for name in CHECKS:
        run_check(name, ns, hidden=True)


@pytest.mark.parametrize("seed", [3, 11])
def test_alternative_valid_sample_gets_full_marks(seed, monkeypatch):
    """np.split, its own sigmoid, einsum, np.stack, a norm without PyTorch's 1e-6, chunk, F.linear, cat."""
    monkeypatch.setenv(seeds.SEED_ENV, str(seed))
    ns = notebook(*edits_of("alternative_valid"))
    for name in CHECKS:
        run_check(name, ns)
        run_check(name, ns, hidden=True)


def test_the_samples_spec_lists_every_cell_the_stub_fails():
    assert set(SPECS["stub"].fails) == set(CHECKS) | {"test_char_lm"}


def test_the_stub_is_reported_as_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    for name, (check, _) in CHECKS.items():
        assert "not implemented yet" in failure(check, stub), name


# --------------------------------------------------------------------------------------------
# The samples' mistakes: exactly their cells fail, with the hint that names the mistake
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("student", list(SAMPLE_HINTS))
def test_sample_mistake_fails_exactly_its_cells_with_its_hint(student, seeded):
    ns = notebook(*edits_of(student))
    expected_fails = set(SPECS[student].fails)
    assert expected_fails and expected_fails <= set(CHECKS)
    for name in CHECKS:
        for hidden in (False, True):
            if name in expected_fails:
                msg = failure(CHECKS[name][0], ns[CHECKS[name][1]], hidden=hidden)
                assert SAMPLE_HINTS[student] in msg, (name, hidden, msg)
            else:
                run_check(name, ns, hidden=hidden)


def test_wrong_gate_order_names_the_order_read():
    msg = failure(grader.check_lstm_step_forward, notebook(*edits_of("gates_wrong_order"))["lstm_step_forward"])
    assert "yours reads them as i, f, o, g (CS231n's order)" in msg and "2 of 2 results are wrong" in msg


def test_missing_tanh_leaves_c_right():
    msg = failure(grader.check_lstm_step_forward, notebook(*edits_of("no_tanh_on_cell"))["lstm_step_forward"])
    assert "(c is right)" in msg and "h = o * tanh(c)" in msg


def test_forget_bias_dropped_is_the_only_wrong_gradient():
    msg = failure(grader.check_lstm_step_backward, notebook(*edits_of("forget_bias_grad_dropped"))["lstm_step_backward"])
    assert "(dx, dh_prev, dc_prev, dW_ih, dW_hh are right)" in msg


def test_step_backward_is_graded_with_the_kits_cache():
    """A broken forward step (wrong gate order) costs nothing in the backward cells."""
    ns = notebook(*edits_of("gates_wrong_order"))
    grader.check_lstm_step_backward(ns["lstm_step_backward"])
    grader.check_lstm_step_backward_finite_differences(ns["lstm_step_backward"])


# --------------------------------------------------------------------------------------------
# More mistakes, named
# --------------------------------------------------------------------------------------------

STEP_FORWARD_MISTAKES = [
    ([("lstm_step_forward", "g = np.tanh(a[:, 2 * H:3 * H])", "g = sigmoid(a[:, 2 * H:3 * H])")],
     "the input node g uses sigmoid"),
    ([("lstm_step_forward", "h = o * np.tanh(c)", "h = o * np.tanh(c_prev)")], "from the OLD cell state"),
    ([("lstm_step_forward", "a = x @ W_ih.T + h_prev @ W_hh.T + b", "a = x @ W_ih.T + h_prev @ W_hh.T")],
     "the bias b is missing"),
    ([("lstm_step_forward", "i = sigmoid(a[:, :H])                   # input gate\n    f = sigmoid(a[:, H:2 * H])",
       "f = sigmoid(a[:, :H])                   # input gate\n    i = sigmoid(a[:, H:2 * H])")],
     "yours reads them as f, i, g, o"),
    ([("lstm_step_forward", "    cache = (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, c)",
       "    cache = (x, h_prev, c_prev, W_ih, W_hh, b, i, f, g, o, c)")], "(10 items), got a tuple of 11 items"),
    ([("lstm_step_forward", "    cache = (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, c)",
       "    cache = (x, h_prev, c_prev, W_ih, W_hh, i, f, o, g, c)")], "cache[7] (g)"),
]


@pytest.mark.parametrize("edits, expected", STEP_FORWARD_MISTAKES,
                         ids=["g_sigmoid", "old_cell", "no_bias", "i_f_swapped", "cache_with_b", "cache_order"])
def test_step_forward_mistakes_are_named(edits, expected, seeded):
    ns = notebook(*edits)
    for hidden in (False, True):
        msg = failure(grader.check_lstm_step_forward, ns["lstm_step_forward"], hidden=hidden)
        assert expected in msg, msg
        assert msg.startswith("lstm_step_forward(x (")


def test_a_wrong_gate_derivative_names_the_gate_block():
    ns = notebook(("lstm_step_backward", "da_o = do * o * (1.0 - o)", "da_o = do * o"))
    msg = failure(grader.check_lstm_step_backward, ns["lstm_step_backward"])
    assert "only the block(s) of the output gate o (rows 3H:4H) are wrong; those of i, f, g are right" in msg
    assert "(dc_prev is right)" in msg


@pytest.mark.parametrize("edit, expected", [
    (("lstm_step_backward", "dc_total = dc + dh * o * (1.0 - tanh_c ** 2)", "dc_total = dc + dh * o"),
     "the derivative of tanh(c) is missing"),
    (("lstm_step_backward", "dc_total = dc + dh * o * (1.0 - tanh_c ** 2)", "dc_total = dc"),
     "the gradient from dh through h = o * tanh(c) into c is missing"),
    (("lstm_step_backward", "dc_prev = dc_total * f", "dc_prev = dc_total"), "dc_prev = dc_total * f"),
], ids=["no_tanh_grad", "no_dh_to_c", "dc_prev_ungated"])
def test_step_backward_mistakes_are_named(edit, expected, seeded):
    ns = notebook(edit)
    for check in (grader.check_lstm_step_backward, grader.check_lstm_step_backward_finite_differences):
        for hidden in (False, True):
            assert expected in failure(check, ns["lstm_step_backward"], hidden=hidden)


@pytest.mark.parametrize("edit, expected", [
    (("lstm_forward", "h, c = h0, c0", "h, c = np.zeros_like(h0), np.zeros_like(c0)"), "h0 and c0 are ignored"),
    (("lstm_forward", "for t in range(T):", "for t in reversed(range(T)):"), "time runs backwards"),
    (("lstm_forward", "Hs[:, t] = h", "Hs[:, t] = c"), "Hs holds the cell states c"),
    (("lstm_forward", "cache.append(step_cache)", "cache.insert(0, step_cache)"), "in time order"),
    (("lstm_forward", "return Hs, (h, c), cache", "return Hs, (h, c), cache[-1]"), "expected a list of T = 4"),
], ids=["zero_state", "reversed", "cells", "cache_reversed", "cache_last_step"])
def test_sequence_forward_mistakes_are_named(edit, expected):
    assert expected in failure(grader.check_lstm_forward, notebook(edit)["lstm_forward"])


@pytest.mark.parametrize("edit, expected", [
    (("lstm_backward", "lstm_step_backward(dHs[:, t] + dh, dc, cache[t])", "lstm_step_backward(dHs[:, t], dc, cache[t])"),
     "the hidden-state gradient is not carried across time steps"),
    (("lstm_backward", "dW_ih += dW_ih_t", "dW_ih = dW_ih_t"), "overwritten at every step instead of summed"),
], ids=["no_dh_carry", "weights_overwritten"])
def test_sequence_backward_mistakes_are_named(edit, expected, seeded):
    ns = notebook(edit)
    for check in (grader.check_lstm_backward, grader.check_lstm_backward_finite_differences):
        for hidden in (False, True):
            assert expected in failure(check, ns["lstm_backward"], hidden=hidden)


def test_dhT_ignored_is_named_when_both_final_gradients_are_dropped():
    ns = notebook(("lstm_backward", "dh = np.zeros((N, H)) if dhT is None else dhT", "dh = np.zeros((N, H))"),
                  ("lstm_backward", "dc = np.zeros((N, H)) if dcT is None else dcT", "dc = np.zeros((N, H))"))
    assert "dhT and dcT are ignored" in failure(grader.check_lstm_backward, ns["lstm_backward"])


def test_sequence_backward_is_graded_with_the_kits_step():
    """A step-backward mistake costs nothing in the sequence cells; a forward-step mistake nothing in lstm_forward."""
    ns = notebook(*edits_of("forget_bias_grad_dropped"), *edits_of("gates_wrong_order"))
    grader.check_lstm_backward(ns["lstm_backward"])
    grader.check_lstm_backward_finite_differences(ns["lstm_backward"])
    grader.check_lstm_forward(ns["lstm_forward"])


def test_finite_difference_bar_is_stated_and_tight():
    correct = notebook()["lstm_step_backward"]

    def slightly_off(*args, **kwargs):
        return tuple(g * (1 + 1e-5) for g in correct(*args, **kwargs))

    msg = failure(grader.check_lstm_step_backward_finite_differences, slightly_off)
    assert "bar: relative error below 1e-07" in msg and "centred differences" in msg
    assert msg.count("bar") == 1  # stated once, for all the gradients


@pytest.mark.parametrize("seed", [None, *range(15)])
def test_finite_difference_cases_are_well_conditioned(seed, monkeypatch):
    monkeypatch.setenv(seeds.SEED_ENV, str(seed or 0))
    inputs, dh, dc = grader._fd_step_case(hidden=seed is not None)
    grads = grader._reference_step_backward(dh, dc, grader._reference_step_forward(*inputs)[2])
    assert min(np.min(np.abs(g)) for g in grads) >= grader.FD_MIN_GRAD
    case = grader._fd_seq_case(hidden=seed is not None)
    grads = grader._reference_lstm_backward(case[6], grader._reference_lstm_forward(*case[:6])[2], case[7], case[8])
    assert min(np.min(np.abs(g)) for g in grads) >= grader.FD_MIN_GRAD


@pytest.mark.parametrize("edit, expected", [
    (("clip_gradients", "scale = min(1.0, max_norm / (total_norm + 1e-6))", "scale = max_norm / (total_norm + 1e-6)"),
     "scales gradients UP"),
    (("clip_gradients", "total_norm = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))",
      "total_norm = float(sum(np.sum(g ** 2) for g in grads))"), "has no square root"),
    (("clip_gradients", "total_norm = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))",
      "total_norm = float(sum(np.linalg.norm(g) for g in grads))"), "the sum of the arrays' norms"),
], ids=["always_scaled", "no_sqrt", "sum_of_norms"])
def test_clipping_mistakes_are_named(edit, expected):
    assert expected in failure(grader.check_clip_gradients, notebook(edit)["clip_gradients"])


# --------------------------------------------------------------------------------------------
# Part B: the torch step and the module
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    (("lstm_step_torch", "a_i, a_f, a_g, a_o = a.split(H, dim=1)", "a_i, a_f, a_o, a_g = a.split(H, dim=1)"),
     "gates in the wrong order — PyTorch's order is i, f, g, o"),
    (("lstm_step_torch", "h = torch.sigmoid(a_o) * torch.tanh(c)", "h = torch.sigmoid(a_o) * c"),
     "the tanh on the cell state is missing"),
    (("lstm_step_torch", "return h, c", "return h.detach(), c.detach()"), "do not carry gradients"),
], ids=["gate_order", "no_tanh", "detached"])
def test_torch_step_mistakes_are_named(edit, expected):
    assert expected in failure(grader.check_lstm_step_torch, notebook(edit)["lstm_step_torch"])


@pytest.mark.parametrize("edit, expected", [
    (("lstm_module", "self.b = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k))",
      "self.b = torch.empty(4 * hidden_size).uniform_(-k, k)"), "not an nn.Parameter"),
    (("lstm_module", "self.W_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size).uniform_(-k, k))",
      "self.W_ih = nn.Parameter(torch.empty(input_size, 4 * hidden_size).uniform_(-k, k))"), "expected (24, 4)"),
    (("lstm_module", "return torch.stack(hs, dim=1), (h, c)", "return torch.stack(hs, dim=0), (h, c)"),
     "time is on axis 0"),
    (("lstm_module", "if state is None:", "if True:   # (the state argument is ignored)"),
     "the initial state is ignored"),
    (("lstm_module", "hs.append(h)", "hs.append(h.detach())"), "carry no gradient"),
], ids=["not_parameter", "transposed_weight", "time_first", "state_ignored", "detached"])
def test_module_mistakes_are_named(edit, expected):
    assert expected in failure(grader.check_lstm_module, notebook(edit)["LSTM"])


def test_module_is_graded_with_the_kits_torch_step():
    ns = notebook(("lstm_step_torch", "a_i, a_f, a_g, a_o = a.split(H, dim=1)", "a_i, a_f, a_o, a_g = a.split(H, dim=1)"))
    grader.check_lstm_module(ns["LSTM"])


def test_student_functions_are_restored_after_a_swap():
    ns = notebook()
    own = {name: ns[name] for name in grader.REFERENCE_PARTS}
    for name in CHECKS:
        run_check(name, ns)
    assert all(ns[name] is fn for name, fn in own.items())


def test_checks_leave_torch_random_state_alone():
    ns = notebook()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    for name in CHECKS:
        run_check(name, ns)
    assert torch.equal(torch.get_rng_state(), before)


def test_hidden_inputs_are_reproducible_and_differ_between_seeds(monkeypatch):
    def capture(seed):
        received = []
        correct = notebook()["lstm_step_backward"]

        def spy(dh, dc, cache):
            received.append(np.array(dh).tolist())
            return correct(dh, dc, cache)

        monkeypatch.setenv(seeds.SEED_ENV, str(seed))
        grader.check_lstm_step_backward(spy, hidden=True)
        return received

    assert capture(11) == capture(11)
    a, b = capture(11), capture(12)
    assert len(a) == len(b) == 3 and all(x != y for x, y in zip(a, b))


# --------------------------------------------------------------------------------------------
# The character model: the text, the baseline and the bar
# --------------------------------------------------------------------------------------------

class BigramModel(torch.nn.Module):
    """Predicts from the previous character only, with the training text's pair counts: a model
    shaped like the notebook's CharLM (ids (N, T) -> logits (N, T, V), state) that needs no training."""

    def __init__(self, train_ids: np.ndarray, V: int, uniform: bool = False):
        super().__init__()
        pairs = np.ones((V, V))
        np.add.at(pairs, (train_ids[:-1], train_ids[1:]), 1.0)
        table = np.zeros((V, V)) if uniform else np.log(pairs / pairs.sum(axis=1, keepdims=True))
        self.table = torch.nn.Parameter(torch.as_tensor(table, dtype=torch.float32))
        self.lstm = None

    def forward(self, ids, state=None):
        return self.table[ids], state


def test_the_text_is_the_shipped_corpus():
    text = grader.load_coriolanus()
    assert len(text) == 15_991 and text.startswith("First Citizen:\nBefore we proceed")
    assert text.endswith("VOLUMNIA:\nIndeed, you shall not.\n")
    chars, train, val = grader.text_split()
    assert len(chars) == 58 and len(train) == 14_392 and len(val) == 1_599
    assert round(grader.unigram_perplexity(train, val, len(chars)), 2) == 25.24


def test_a_model_better_than_the_bar_passes_and_one_that_learned_nothing_fails(capsys):
    chars, train, _ = grader.text_split()
    grader.check_char_lm(BigramModel(train, len(chars)))          # perplexity ~14.1 against a bar of ~15.1
    assert "computed by the grader" in capsys.readouterr().out
    msg = failure(grader.check_char_lm, BigramModel(train, len(chars), uniform=True))
    assert "perplexity on the held-out text (1,599 characters) is 58.00" in msg and "the bar is 15.15" in msg


def test_a_missing_model_says_training_did_not_finish():
    assert "the training cell did not finish" in failure(grader.check_char_lm, None)


@pytest.mark.slow
def test_the_notebooks_training_clears_the_bar():
    ns = notebook()
    with contextlib.redirect_stdout(io.StringIO()):
        exec(CELLS["data"], ns)
        exec(CELLS["char_lm_class"], ns)
    torch.manual_seed(0)
    model = ns["CharLM"](len(ns["chars"]), 16, 64)
    losses = ns["train_char_lm"](model, ns["train_ids"], steps=200, batch_size=32, seq_len=64, lr=1e-2, seed=0)
    assert len(losses) == 200 and losses[-1] < losses[0]
    grader.check_char_lm(model)


@pytest.mark.parametrize("seed", [None, *range(20)])
def test_training_runs_have_clipping_that_acts_and_clipping_that_never_does(seed, monkeypatch):
    """In the first run of each set every gradient norm is above max_norm, so clipping acts at every
    update; in the second none is. A loop whose steps use the unclipped gradients fails the first."""
    if seed is not None:
        monkeypatch.setenv(seeds.SEED_ENV, str(seed))
    acts, never = grader._train_cases(hidden=seed is not None)
    losses, norms = grader._reference_train_losses(*acts)
    assert (norms > acts[6]).all(), (acts[6], norms)
    unclipped = grader._reference_train_losses(*acts, variant="unclipped")[0]
    assert np.max(np.abs(unclipped - losses) / np.abs(losses)) > 10 * grader.TRAIN_RTOL
    assert (grader._reference_train_losses(*never)[1] < never[6]).all()
