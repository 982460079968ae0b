"""Unit tests of autograder.exercises.attention, the checks behind assignment 04's test cells.

Every check is called in-process on a "notebook": the answer cells of the source notebook
(source/04_attention), solution markers removed, executed into a fresh namespace after the setup
cell's imports, optionally with a line edited into a typical mistake, exactly as the sample
submissions in source/04_attention/mistakes.toml are made. A correct notebook passes public and
hidden checks; each mistake fails its own part's checks with the hint that names it, and leaves
the checks of the other parts passing.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from autograder import seeds
from autograder.exercises import attention as grader
from autograder.gradcheck import numerical_gradients, rel_error
from autograder.notebooks import nbgrader_meta, read_notebook, strip_solution_markers
from .catalogue import mistake
from .conftest import failure, run_solution

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "04_attention" / "attention.ipynb"

# The setup cell's imports, then the source notebook's answers, as a student who got everything right would write them.
IMPORTS = "import math\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n"
SOLUTION = IMPORTS + "\n\n".join(strip_solution_markers(c.source) for c in read_notebook(SOURCE).cells
                                 if nbgrader_meta(c).get("solution"))

# Edits that turn the solution into a typical mistake (find, replace). The samples' own edits are read from
# source/04_attention/mistakes.toml further down.
A = "04_attention"
MASK_AFTER_SOFTMAX = mistake(A, "mask_after_softmax")
MASK_FILL_ZERO = mistake(A, "mask_filled_with_zero")
HEADS_NO_TRANSPOSE = mistake(A, "heads_reshape_without_transpose")
NO_JACOBIAN = mistake(A, "backward_ignores_softmax_jacobian")
ATTENTION_TORCH_BODY = '''    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])     # (..., n, m)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ V, weights'''

# Further mistakes the hints name.
SOFTMAX_WRONG_AXIS_NUMPY = [("E = np.exp(masked - masked.max(axis=-1, keepdims=True))",
                             "E = np.exp(masked - masked.max(axis=1, keepdims=True))"),
                            ("return E / E.sum(axis=-1, keepdims=True)", "return E / E.sum(axis=1, keepdims=True)")]
NO_MAX_SHIFT = ("E = np.exp(masked - masked.max(axis=-1, keepdims=True))", "E = np.exp(masked)")
NO_VALUE_ERROR = ("        if lens.min() < 1 or lens.max() > m:\n            raise ValueError(", "        if False:\n"
                  "            raise ValueError(")
MASK_IN_PLACE = ("masked = np.where(keep, scores, -np.inf)", "scores[~np.broadcast_to(keep, scores.shape)] = -np.inf\n"
                 "    masked = scores")
D2L_FILL = ("masked = np.where(keep, scores, -np.inf)", "masked = np.where(keep, scores, -1e6)")
CAUSAL_UPPER = ("return np.tril(np.ones((n, n), dtype=bool))", "return np.triu(np.ones((n, n), dtype=bool))")
CAUSAL_INVERTED = ("return np.tril(np.ones((n, n), dtype=bool))", "return np.triu(np.ones((n, n), dtype=bool), 1)")
CAUSAL_STRICT = ("return np.tril(np.ones((n, n), dtype=bool))", "return np.tril(np.ones((n, n), dtype=bool), -1)")
CAUSAL_INT = ("return np.tril(np.ones((n, n), dtype=bool))", "return np.tril(np.ones((n, n)))")
SDPA_BY_D = ("scores = Q @ K.transpose(0, 2, 1) / np.sqrt(d)", "scores = Q @ K.transpose(0, 2, 1) / d")
SDPA_NO_MASK = ("every query against every key\n    weights = masked_softmax(scores, valid_lens)",
                "every query against every key\n    weights = masked_softmax(scores)")
JACOBIAN_DIAGONAL = (NO_JACOBIAN[0], "dscores = weights * dweights")
BACKWARD_NO_SCALE = [("dQ = dscores @ K / np.sqrt(d)", "dQ = dscores @ K"),
                     ("dK = dscores.transpose(0, 2, 1) @ Q / np.sqrt(d)", "dK = dscores.transpose(0, 2, 1) @ Q")]
ADDITIVE_NO_TANH = ("features = np.tanh(q[:, :, None, :] + k[:, None, :, :])",
                    "features = q[:, :, None, :] + k[:, None, :, :]")
TORCH_NO_SQRT_D = ("scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])", "scores = Q @ K.transpose(-2, -1)")
TORCH_MASK_AFTER = [('scores = scores.masked_fill(~attn_mask, float("-inf"))', "pass"),
                    ("weights = torch.softmax(scores, dim=-1)\n    return weights @ V, weights",
                     "weights = torch.softmax(scores, dim=-1)\n    if attn_mask is not None:\n"
                     "        weights = weights.masked_fill(~attn_mask, 0.0)\n    return weights @ V, weights")]
TORCH_FILL_ZERO = ('scores = scores.masked_fill(~attn_mask, float("-inf"))',
                   "scores = scores.masked_fill(~attn_mask, 0.0)")
TORCH_INVERTED = ('scores = scores.masked_fill(~attn_mask, float("-inf"))',
                  'scores = scores.masked_fill(attn_mask, float("-inf"))')
TORCH_USES_ORACLE = (ATTENTION_TORCH_BODY, "    out = F.scaled_dot_product_attention(Q, K, V, attn_mask=attn_mask)\n"
                     "    return out, torch.softmax(Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1]), dim=-1)")
LOOP_VECTORISED = ("""    B, n, d = Q.shape
    out = torch.empty(B, n, V.shape[-1], dtype=Q.dtype, device=Q.device)""", """    B, n, d = Q.shape
    return torch.softmax(Q @ K.transpose(-2, -1) / math.sqrt(d), dim=-1) @ V""")
LOOP_OVER_BATCH_ONLY = ("""    for b in range(B):
        for i in range(n):
            scores = K[b] @ Q[b, i] / math.sqrt(d)      # (m,): query i against every key of sequence b
            weights = torch.softmax(scores, dim=0)
            out[b, i] = weights @ V[b]                  # (v,)""", """    for b in range(B):
        out[b] = torch.softmax(Q[b] @ K[b].T / math.sqrt(d), dim=-1) @ V[b]""")
MERGE_NO_TRANSPOSE = ("return X.transpose(1, 2).reshape(B, L, h * d)", "return X.reshape(B, L, h * d)")
MHA_SCALE_E = ("out, weights = attention_torch(Q, K, V, attn_mask)",
               "out, weights = attention_torch(Q * math.sqrt(self.head_dim / self.embed_dim), K, V, attn_mask)")
MHA_WEIGHTS_PER_HEAD = ("return self.out_proj(self.merge_heads(out)), weights.mean(dim=1)",
                        "return self.out_proj(self.merge_heads(out)), weights")
MHA_MASK_IGNORED = ("out, weights = attention_torch(Q, K, V, attn_mask)", "out, weights = attention_torch(Q, K, V)")
MHA_NO_BIAS = [(f"self.{p} = nn.Linear(embed_dim, embed_dim)",
                f"self.{p} = nn.Linear(embed_dim, embed_dim, bias=False)")
               for p in ("q_proj", "k_proj", "v_proj", "out_proj")]
MHA_FUSED_PROJECTION = ("self.q_proj = nn.Linear(embed_dim, embed_dim)",
                        "self.q_proj = nn.Linear(embed_dim, embed_dim)\n"
                        "        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim)")


def notebook(*edits) -> dict:
    """A fresh notebook namespace with the solution run in it, after applying ``edits``."""
    return run_solution(SOLUTION, *edits)


# check name -> (check, the notebook names it takes, whether it takes hidden=True)
CHECKS = {
    "masked_softmax": (grader.check_masked_softmax, ("masked_softmax",), True),
    "masked_softmax_properties": (grader.check_masked_softmax_properties, ("masked_softmax",), False),
    "causal_mask": (grader.check_causal_mask, ("causal_mask",), True),
    "sdpa": (grader.check_scaled_dot_product_attention, ("scaled_dot_product_attention",), True),
    "attention_backward": (grader.check_attention_backward, ("attention_backward",), True),
    "attention_backward_finite_differences": (grader.check_attention_backward_finite_differences,
                                              ("attention_backward",), True),
    "additive_attention": (grader.check_additive_attention, ("additive_attention",), True),
    "attention_torch": (grader.check_attention_torch, ("attention_torch",), True),
    "attention_loop": (grader.check_attention_loop, ("attention_loop",), True),
    "attention_speed": (grader.check_attention_speed, ("attention_torch",), False),
    "mha_structure": (grader.check_mha_structure, ("MultiHeadAttention",), False),
    "mha": (grader.check_mha, ("MultiHeadAttention",), True),
    "mha_causal": (grader.check_mha_causal, ("MultiHeadAttention",), True),
}
FAST_CHECKS = [name for name in CHECKS if name != "attention_speed"]


def run_check(name: str, ns: dict, hidden: bool = False) -> None:
    check, args, takes_hidden = CHECKS[name]
    check(*(ns[a] for a in args), **({"hidden": True} if hidden and takes_hidden else {}))


# --------------------------------------------------------------------------------------------
# The reference solution
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [1234, 7, 2024])
def test_reference_solution_passes_every_check(seed, monkeypatch, capsys):
    monkeypatch.setenv(seeds.SEED_ENV, str(seed))
    monkeypatch.setattr(seeds, "_announced", set())
    ns = notebook()
    for name in FAST_CHECKS:
        run_check(name, ns)
        run_check(name, ns, hidden=True)
    out = capsys.readouterr().out
    assert f"seed {seed}" in out and out.count("✓") == 2 * len(FAST_CHECKS)


def test_reference_solution_passes_the_speed_check(capsys):
    grader.check_attention_speed(notebook()["attention_torch"])
    assert "faster than the loop" in capsys.readouterr().out


def test_the_books_minus_a_million_is_accepted(seeded):
    ns = notebook(D2L_FILL)
    for hidden in (False, True):
        run_check("masked_softmax", ns, hidden)
    run_check("masked_softmax_properties", ns)


def test_hidden_inputs_are_reproducible_and_differ_between_seeds(monkeypatch):
    def capture(seed):
        received = []
        correct = notebook()["scaled_dot_product_attention"]

        def spy(*args):
            received.append([np.asarray(a).tolist() if a is not None else None for a in args])
            return correct(*args)

        monkeypatch.setenv(seeds.SEED_ENV, str(seed))
        grader.check_scaled_dot_product_attention(spy, hidden=True)
        return received

    assert capture(11) == capture(11)
    a, b = capture(11), capture(12)
    assert len(a) == len(b) == 3 and all(x != y for x, y in zip(a, b))


def test_student_functions_are_restored_after_a_swap():
    ns = notebook()
    own = {name: ns[name] for name in (*grader.REFERENCE_NUMPY, *grader.REFERENCE_TORCH)}
    grader.check_scaled_dot_product_attention(ns["scaled_dot_product_attention"])
    grader.check_mha(ns["MultiHeadAttention"])
    assert all(ns[name] is fn for name, fn in own.items())


def test_fd_cases_are_well_conditioned():
    """The public finite-difference case masks a key, and the reference is far inside the bar."""
    dout, Q, K, V, lens = grader._fd_case(False)
    assert lens[0] < K.shape[1]
    _, W = grader._reference_sdpa(Q, K, V, lens)
    grads = grader._reference_attention_backward(dout, Q, K, V, W)
    numeric = numerical_gradients(
        lambda q, k, v: float(np.sum(grader._reference_sdpa(q, k, v, lens)[0] * dout)), [Q, K, V], h=grader.FD_STEP)
    assert max(rel_error(g, n) for g, n in zip(grads, numeric)) < grader.FD_MAX_REL_ERROR / 10


# --------------------------------------------------------------------------------------------
# The samples' mistakes: each fails its own part's checks, names the mistake, and leaves the rest passing
# --------------------------------------------------------------------------------------------

# The sample submissions' spec: the tests below apply exactly its edits.
SAMPLE_SPEC = {s["student"]: s for s in tomllib.loads(
    (ROOT / "source" / "04_attention" / "mistakes.toml").read_text(encoding="utf-8"))["sample"]}
# What each sample's failing cells must say: the mistake, named.
SAMPLE_HINTS = {
    "d2l_style": None,
    "no_sqrt_d_scaling": "the scores were not scaled: divide Q K^T by sqrt(d)",
    "softmax_wrong_axis": "softmax over the wrong axis",
    "mask_after_softmax": "the mask was applied after the softmax",
    "mask_filled_with_zero": "filled with 0 instead of a large negative value",
    "heads_reshape_without_transpose": "the heads were split in the wrong order",
    "backward_ignores_softmax_jacobian": "the softmax's Jacobian is ignored",
    "loop_disguised_as_batched": "so it loops over the batch in Python",
    "attention_torch_loops_over_heads": "the number of calls grows with the heads, so it loops over them in Python",
}


def test_every_sample_with_edits_is_covered():
    assert set(SAMPLE_HINTS) == {name for name, spec in SAMPLE_SPEC.items() if spec.get("edit")}
    assert all(spec.get("fails") for name, spec in SAMPLE_SPEC.items() if SAMPLE_HINTS.get(name))


@pytest.mark.parametrize("sample", list(SAMPLE_HINTS))
def test_samples_fail_exactly_their_cells_and_name_the_mistake(sample, seeded):
    """The same cells as the graded sample (source/04_attention/mistakes.toml) fail, public and hidden,
    and each failing cell's message names the mistake; every other check passes."""
    spec = SAMPLE_SPEC[sample]
    ns = notebook(*[(e["find"], e["replace"]) for e in spec["edit"]])
    failing = set(spec.get("fails", ()))
    for name, (_, _, takes_hidden) in CHECKS.items():
        if f"test_{name}" in failing:
            msg = failure(run_check, name, ns)
            assert SAMPLE_HINTS[sample] in msg, f"{name}: {msg}"
            if takes_hidden:
                failure(run_check, name, ns, hidden=True)
        else:
            run_check(name, ns)
            if takes_hidden:
                run_check(name, ns, hidden=True)


def _batch_loop():
    """attention_torch called once per sequence: batched over the queries, a Python loop over the batch."""
    batched = notebook()["attention_torch"]

    def batch_loop(Q, K, V, attn_mask=None):
        if attn_mask is not None:
            attn_mask = torch.broadcast_to(attn_mask, (*Q.shape[:-1], K.shape[-2]))
        pairs = [batched(Q[b], K[b], V[b], None if attn_mask is None else attn_mask[b]) for b in range(len(Q))]
        return torch.stack([o for o, _ in pairs]), torch.stack([w for _, w in pairs])

    return batch_loop


def test_a_loop_over_the_batch_fails_the_speed_check_only(seeded):
    fn = _batch_loop()
    msg = failure(grader.check_attention_speed, fn)
    assert "so it loops over the batch in Python" in msg and "torch calls for B = 2, n = 8" in msg, msg
    for hidden in (False, True):
        grader.check_attention_torch(fn, hidden=hidden)


def test_a_loop_over_the_queries_is_named():
    def query_loop(Q, K, V, attn_mask=None):
        cols = [torch.softmax(K @ Q[..., i, :, None] / Q.shape[-1] ** 0.5, dim=-2) for i in range(Q.shape[-2])]
        w = torch.cat([c.transpose(-2, -1) for c in cols], dim=-2)
        return w @ V, w

    assert "loops over the queries in Python" in failure(grader.check_attention_speed, query_loop)


SPEED_LABEL = "attention_torch(Q (32, 32, 8), K (32, 32, 8), V (32, 32, 8))"
SPEED_NOTE = "Its speed is graded once it returns a result of the right form."


def test_a_function_that_returns_nothing_fails_the_speed_check():
    msg = failure(grader.check_attention_speed, lambda *a, **k: None)
    assert msg.startswith(f"{SPEED_LABEL}: expected a tuple of 2 items (out, weights), got a NoneType."), msg
    assert msg.endswith(SPEED_NOTE)


@pytest.mark.parametrize("wrong, expected", [
    (lambda Q, K, V, attn_mask=None: Q @ K.transpose(-2, -1),
     f"{SPEED_LABEL}: expected a tuple of 2 items (out, weights), got a Tensor of shape (32, 32, 32)."),
    (lambda Q, K, V, attn_mask=None: (V, Q),
     f"{SPEED_LABEL} -> weights: expected shape (32, 32, 32), got shape (32, 32, 8)."),
    (lambda Q, K, V, attn_mask=None: (V.numpy(), Q @ K.transpose(-2, -1)),
     f"{SPEED_LABEL} -> out: expected a torch.Tensor on cpu, got a numpy.ndarray."),
    (lambda Q, K, V, attn_mask=None: (V.long(), Q @ K.transpose(-2, -1)),
     f"{SPEED_LABEL} -> out: expected floating-point values, got dtype int64."),
], ids=["one_tensor", "wrong_shape", "numpy", "integers"])
def test_a_result_of_the_wrong_form_fails_the_speed_check(wrong, expected):
    msg = failure(grader.check_attention_speed, wrong)
    assert msg.startswith(expected), msg
    assert msg.endswith(SPEED_NOTE)


# --------------------------------------------------------------------------------------------
# masked_softmax and causal_mask
# --------------------------------------------------------------------------------------------

def test_numpy_softmax_over_the_wrong_axis_is_named():
    assert "softmax over the wrong axis" in failure(grader.check_masked_softmax,
                                                    notebook(*SOFTMAX_WRONG_AXIS_NUMPY)["masked_softmax"])


def test_mask_fill_zero_is_named_by_the_property_check_too():
    msg = failure(grader.check_masked_softmax_properties, notebook(MASK_FILL_ZERO)["masked_softmax"])
    assert "must get a weight of exactly 0" in msg and "filled with 0" in msg


def test_mask_after_softmax_is_named_by_the_property_check_too():
    msg = failure(grader.check_masked_softmax_properties, notebook(*MASK_AFTER_SOFTMAX)["masked_softmax"])
    assert "the mask was applied after the softmax" in msg


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the mistake overflows, as it should
def test_softmax_without_max_shift_fails_the_property_check_only(seeded):
    ns = notebook(NO_MAX_SHIFT)
    grader.check_masked_softmax(ns["masked_softmax"])
    msg = failure(grader.check_masked_softmax_properties, ns["masked_softmax"])
    assert "NaN" in msg and "shift by the max" in msg


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a length of 0 gives 0 / 0 without the check
def test_missing_value_error_is_explained():
    msg = failure(grader.check_masked_softmax_properties, notebook(NO_VALUE_ERROR)["masked_softmax"])
    assert "expected ValueError" in msg and "between 1 and m" in msg


def test_masking_scores_in_place_is_caught():
    msg = failure(grader.check_masked_softmax_properties, notebook(MASK_IN_PLACE)["masked_softmax"])
    assert "modified its input in place" in msg


@pytest.mark.parametrize("edit, expected", [
    (CAUSAL_UPPER, "transposed"),
    (CAUSAL_INVERTED, "inverted"),
    (CAUSAL_STRICT, "the diagonal is missing"),
    (CAUSAL_INT, "The pattern is right: return booleans"),
], ids=["upper", "inverted", "strict", "float"])
def test_causal_mask_mistakes_are_named(edit, expected):
    assert expected in failure(grader.check_causal_mask, notebook(edit)["causal_mask"])


# --------------------------------------------------------------------------------------------
# scaled_dot_product_attention, attention_backward, additive_attention
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    (SDPA_BY_D, "divided by d = 5; the scale is 1/sqrt(d)"),
    (SDPA_NO_MASK, "valid_lens was not passed on"),
], ids=["by_d", "no_mask"])
def test_sdpa_mistakes_are_named(edit, expected):
    msg = failure(grader.check_scaled_dot_product_attention, notebook(edit)["scaled_dot_product_attention"])
    assert expected in msg


def test_sdpa_runs_with_the_kits_masked_softmax():
    """A wrong masked_softmax costs only its own cells."""
    ns = notebook(MASK_FILL_ZERO)
    grader.check_scaled_dot_product_attention(ns["scaled_dot_product_attention"])
    grader.check_additive_attention(ns["additive_attention"])


@pytest.mark.parametrize("edit, expected", [
    (JACOBIAN_DIAGONAL, "only the diagonal of the softmax's Jacobian"),
    (BACKWARD_NO_SCALE, "carries that 1/sqrt(d) too"),
], ids=["diagonal", "no_scale"])
def test_backward_mistakes_are_named_by_both_checks(edit, expected):
    ns = notebook(*(edit if isinstance(edit, list) else [edit]))
    for check in (grader.check_attention_backward, grader.check_attention_backward_finite_differences):
        msg = failure(check, ns["attention_backward"])
        assert expected in msg and "dV" in msg.splitlines()[0], msg


def test_backward_leaking_gradient_to_masked_keys_is_caught():
    def leaky(dout, Q, K, V, weights):
        dQ, dK, dV = notebook()["attention_backward"](dout, Q, K, V, weights)
        return dQ, dK + 1e-300, dV   # right within any tolerance, but not exactly zero for masked keys

    assert "must be exactly 0" in failure(grader.check_attention_backward, leaky)


def test_additive_without_tanh_is_named():
    assert "tanh is missing" in failure(grader.check_additive_attention,
                                        notebook(ADDITIVE_NO_TANH)["additive_attention"])


# --------------------------------------------------------------------------------------------
# attention_torch and attention_loop
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    (TORCH_NO_SQRT_D, "the scores were not scaled"),
    (TORCH_MASK_AFTER, "the mask was applied after the softmax"),
    (TORCH_FILL_ZERO, "filled with 0 instead of a large negative value"),
    (TORCH_INVERTED, "the mask is inverted"),
], ids=["no_sqrt_d", "mask_after", "fill_zero", "inverted"])
def test_attention_torch_mistakes_are_named(edit, expected):
    ns = notebook(*(edit if isinstance(edit, list) else [edit]))
    assert expected in failure(grader.check_attention_torch, ns["attention_torch"])


def test_attention_torch_may_not_call_the_oracle():
    msg = failure(grader.check_attention_torch, notebook(TORCH_USES_ORACLE)["attention_torch"])
    assert "uses scaled_dot_product_attention, the oracle" in msg


def test_attention_loop_must_loop_over_batch_and_queries():
    for edit in (LOOP_VECTORISED, LOOP_OVER_BATCH_ONLY):
        msg = failure(grader.check_attention_loop, notebook(edit)["attention_loop"])
        assert "does not attend one query at a time" in msg


# --------------------------------------------------------------------------------------------
# MultiHeadAttention
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    (MERGE_NO_TRANSPOSE, "the heads were merged in the wrong order"),
    ([HEADS_NO_TRANSPOSE, MERGE_NO_TRANSPOSE], "split and merged with a reshape but without the transpose"),
    (MHA_SCALE_E, "scaled by 1/sqrt(E)"),
    (MHA_WEIGHTS_PER_HEAD, "weights.mean(dim=1)"),
], ids=["merge", "both", "scale_E", "per_head_weights"])
def test_mha_mistakes_are_named(edit, expected):
    ns = notebook(*(edit if isinstance(edit, list) else [edit]))
    grader.check_mha_structure(ns["MultiHeadAttention"])
    assert expected in failure(grader.check_mha, ns["MultiHeadAttention"])


def test_mha_ignoring_the_mask_fails_only_the_masked_check():
    ns = notebook(MHA_MASK_IGNORED)
    grader.check_mha(ns["MultiHeadAttention"])
    assert "attn_mask was ignored" in failure(grader.check_mha_causal, ns["MultiHeadAttention"])


@pytest.mark.parametrize("edit, expected", [
    (MHA_NO_BIAS, "has no bias"),
    (MHA_FUSED_PROJECTION, "there should be no others"),
], ids=["no_bias", "extra_parameters"])
def test_mha_structure_mistakes_are_named(edit, expected):
    ns = notebook(*(edit if isinstance(edit, list) else [edit]))
    assert expected in failure(grader.check_mha_structure, ns["MultiHeadAttention"])


def test_mha_wrapping_nn_multiheadattention_is_refused():
    ns = notebook(("self.out_proj = nn.Linear(embed_dim, embed_dim)",
                   "self.out_proj = nn.Linear(embed_dim, embed_dim)\n        self.helper = nn.MultiheadAttention"))
    assert "uses MultiheadAttention, the oracle" in failure(grader.check_mha, ns["MultiHeadAttention"])


def test_mha_without_a_forward_of_its_own_is_not_implemented():
    class NoForward(torch.nn.Module):
        def __init__(self, embed_dim, num_heads):
            super().__init__()
            self.q_proj, self.k_proj, self.v_proj, self.out_proj = (torch.nn.Linear(embed_dim, embed_dim)
                                                                    for _ in range(4))

    assert "not implemented yet" in failure(grader.check_mha, NoForward)
    assert "attention_torch" not in vars(torch.nn.modules.module)


def test_checks_leave_the_global_torch_rng_alone():
    ns = notebook()
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    grader.check_mha_structure(ns["MultiHeadAttention"])
    grader.check_mha(ns["MultiHeadAttention"])
    assert torch.equal(torch.rand(3), expected)
