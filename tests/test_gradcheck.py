"""Unit tests of autograder.gradcheck: the two gradient oracles, rel_error and check_gradient."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder.checks import CheckFailed
from autograder.gradcheck import (
    check_gradient,
    numerical_gradient,
    numerical_gradient_array,
    rel_error,
    torch_gradients,
)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def affine(rng):
    """A dense layer in the course's convention: X (N, D), W (out, in), b (out,), dout (N, out)."""
    N, D, M = 5, 4, 3
    X = rng.standard_normal((N, D))
    W = rng.standard_normal((M, D))
    b = rng.standard_normal(M)
    dout = rng.standard_normal((N, M))
    return X, W, b, dout


# --------------------------------------------------------------------------------------------
# rel_error
# --------------------------------------------------------------------------------------------

class TestRelError:
    def test_identical_is_zero(self):
        x = np.linspace(-1, 1, 7)
        assert rel_error(x, x.copy()) == 0.0

    def test_both_zero_is_zero(self):
        assert rel_error(np.zeros(3), np.zeros(3)) == 0.0

    def test_definition(self):
        a = np.array([1.0, 2.0, 3.0])
        b = np.array([1.0, 2.2, 3.0])
        assert rel_error(a, b) == pytest.approx(0.2 / 4.2, rel=1e-12)

    def test_is_the_largest_elementwise_error(self):
        a = np.array([1.0, 100.0])
        b = np.array([1.1, 100.1])
        assert rel_error(a, b) == pytest.approx(0.1 / 2.1, rel=1e-12)

    def test_symmetric(self, rng):
        a, b = rng.standard_normal(10), rng.standard_normal(10)
        assert rel_error(a, b) == rel_error(b, a)

    def test_opposite_signs_give_one(self):
        assert rel_error(np.array([2.0, 3.0]), np.array([-2.0, -3.0])) == pytest.approx(1.0)

    def test_eps_guards_division_by_zero(self):
        # |a - b| / max(|a| + |b|, eps): tiny values are divided by eps, not by ~0.
        assert rel_error(np.array([1e-15]), np.array([0.0])) == pytest.approx(1e-3)
        assert rel_error(np.array([1e-15]), np.array([0.0]), eps=1e-9) == pytest.approx(1e-6)

    def test_accepts_scalars_lists_tensors_and_computes_in_float64(self):
        assert rel_error(1.0, 1.0) == 0.0
        assert rel_error([1.0, 2.0], torch.tensor([1.0, 2.0])) == 0.0
        assert isinstance(rel_error(np.float32(1.0), 2), float)
        assert rel_error(np.float32(1.0), 3.0) == pytest.approx(0.5)

    def test_empty_is_zero(self):
        assert rel_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0

    def test_shape_mismatch_raises(self):
        with pytest.raises(ValueError, match=r"shapes differ, \(2, 3\) vs \(3, 2\)"):
            rel_error(np.zeros((2, 3)), np.zeros((3, 2)))


# --------------------------------------------------------------------------------------------
# numerical_gradient(_array)
# --------------------------------------------------------------------------------------------

class TestNumericalGradient:
    def test_sum_of_cubes(self, rng):
        x = rng.uniform(0.5, 1.5, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))
        grad = numerical_gradient(lambda z: np.sum(z ** 3), x)
        assert grad.shape == x.shape and grad.dtype == np.float64
        assert rel_error(grad, 3 * x ** 2) < 1e-7

    def test_quadratic_form(self, rng):
        A = rng.standard_normal((4, 4))
        x = rng.standard_normal(4)
        grad = numerical_gradient(lambda z: z @ A @ z, x)
        assert rel_error(grad, (A + A.T) @ x) < 1e-7

    def test_scalar_input(self):
        x = np.array(0.7)
        grad = numerical_gradient(lambda z: np.sin(z), x)
        assert grad.shape == () and abs(float(grad) - np.cos(0.7)) < 1e-9

    def test_detects_a_wrong_analytic_gradient(self, rng):
        x = rng.uniform(0.5, 1.5, size=5)
        grad = numerical_gradient(lambda z: np.sum(z ** 3), x)
        assert rel_error(grad, 2 * x ** 2) > 1e-2  # a factor missing is far above the bar

    def test_input_restored_exactly(self, rng):
        x = rng.standard_normal((3, 3))
        before = x.copy()
        numerical_gradient(lambda z: np.sum(np.tanh(z)), x)
        assert np.array_equal(x, before)

    def test_input_restored_when_f_raises(self):
        x = np.linspace(0.1, 0.6, 6)
        before = x.copy()
        calls = []

        def f(z):
            calls.append(1)
            if len(calls) == 4:  # second element, first evaluation
                raise RuntimeError("student bug")
            return float(np.sum(z))

        with pytest.raises(RuntimeError, match="student bug"):
            numerical_gradient(f, x)
        assert np.array_equal(x, before)

    def test_f_sees_the_perturbed_array(self):
        x = np.zeros(2)
        seen = []
        numerical_gradient(lambda z: seen.append(z.copy()) or 0.0, x, h=0.5)
        np.testing.assert_array_equal(seen, [[0.5, 0.0], [-0.5, 0.0], [0.0, 0.5], [0.0, -0.5]])

    @pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64])
    def test_rejects_other_dtypes(self, dtype):
        x = np.ones(3, dtype=dtype)
        with pytest.raises(TypeError, match="needs a float64 array"):
            numerical_gradient(lambda z: float(np.sum(z)), x)

    def test_float32_message_explains(self):
        with pytest.raises(TypeError, match=r"got float32.*too coarse"):
            numerical_gradient(lambda z: 0.0, np.ones(2, dtype=np.float32))

    def test_array_version_matrix_product(self, affine):
        X, W, b, dout = affine
        dX = numerical_gradient_array(lambda z: z @ W.T + b, X, dout)
        dW = numerical_gradient_array(lambda z: X @ z.T + b, W, dout)
        db = numerical_gradient_array(lambda z: X @ W.T + z, b, dout)
        assert rel_error(dX, dout @ W) < 1e-7
        assert rel_error(dW, dout.T @ X) < 1e-7
        assert rel_error(db, dout.sum(axis=0)) < 1e-7

    def test_array_version_accepts_tensor_output(self, rng):
        x = rng.standard_normal(4)
        dout = rng.standard_normal(4)
        grad = numerical_gradient_array(lambda z: torch.from_numpy(z) * 2, x, dout)
        assert rel_error(grad, 2 * dout) < 1e-7


# --------------------------------------------------------------------------------------------
# torch_gradients
# --------------------------------------------------------------------------------------------

class TestTorchGradients:
    def test_affine_with_dout(self, affine):
        X, W, b, dout = affine
        dX, dW, db = torch_gradients(lambda X, W, b: X @ W.T + b, X, W, b, dout=dout)
        for g, ref in ((dX, dout @ W), (dW, dout.T @ X), (db, dout.sum(axis=0))):
            assert isinstance(g, np.ndarray) and g.dtype == np.float64 and g.shape == ref.shape
            assert rel_error(g, ref) < 1e-12

    def test_agrees_with_numerical_gradient(self, affine):
        X, W, b, dout = affine
        (dW,) = torch_gradients(lambda X, W, b: torch.tanh(X @ W.T + b), X, W, b, dout=dout, wrt=[1])
        num = numerical_gradient_array(lambda z: np.tanh(X @ z.T + b), W, dout)
        assert rel_error(dW, num) < 1e-7

    def test_scalar_loss_without_dout(self, rng):
        x = rng.standard_normal((2, 3))
        (g,) = torch_gradients(lambda x: (x ** 3).sum(), x)
        assert rel_error(g, 3 * x ** 2) < 1e-12

    def test_single_element_output_without_dout(self):
        (g,) = torch_gradients(lambda x: (x * 2).reshape(1, 1), np.array([1.5]))
        np.testing.assert_array_equal(g, [2.0])

    def test_non_scalar_output_without_dout_raises(self):
        with pytest.raises(ValueError, match=r"returned shape \(3,\); pass dout"):
            torch_gradients(lambda x: x * 2, np.ones(3))

    def test_wrt_selects_and_orders(self, affine):
        X, W, b, dout = affine
        db, dX = torch_gradients(lambda X, W, b: X @ W.T + b, X, W, b, dout=dout, wrt=[2, 0])
        assert db.shape == b.shape and dX.shape == X.shape
        assert rel_error(db, dout.sum(axis=0)) < 1e-12

    def test_unused_input_gets_zero_gradient(self):
        g1, g2 = torch_gradients(lambda a, b: (a * 3).sum(), np.ones(2), np.ones((2, 2)))
        np.testing.assert_array_equal(g1, [3.0, 3.0])
        np.testing.assert_array_equal(g2, np.zeros((2, 2)))

    def test_inputs_are_float64_and_not_modified(self, rng):
        x32 = rng.standard_normal(3).astype(np.float32)
        before = x32.copy()
        seen = []

        def fn(x):
            seen.append(x.dtype)
            return (x ** 2).sum()

        (g,) = torch_gradients(fn, x32)
        assert seen == [torch.float64] and g.dtype == np.float64
        np.testing.assert_array_equal(x32, before)
        assert rel_error(g, 2 * x32.astype(np.float64)) < 1e-12

    def test_accepts_tensors_lists_and_numbers(self):
        gx, gy = torch_gradients(lambda x, y: (x * y).sum(), torch.tensor([1.0, 2.0]), 3.0)
        np.testing.assert_array_equal(gx, [3.0, 3.0])
        assert gy.shape == () and float(gy) == 3.0
        (gl,) = torch_gradients(lambda x: (x ** 2).sum(), [1.0, -2.0])
        np.testing.assert_array_equal(gl, [2.0, -4.0])


# --------------------------------------------------------------------------------------------
# check_gradient
# --------------------------------------------------------------------------------------------

def _failure(*args, **kwargs) -> str:
    with pytest.raises(CheckFailed) as info:
        check_gradient(*args, **kwargs)
    return str(info.value)


class TestCheckGradient:
    def test_correct_gradient_passes_and_returns_rel_error(self, affine):
        X, W, b, dout = affine
        num = numerical_gradient_array(lambda z: X @ z.T + b, W, dout)
        err = check_gradient("affine_backward dW", dout.T @ X, num)
        assert isinstance(err, float) and 0 <= err < 1e-7
        assert err == rel_error(dout.T @ X, num)

    def test_accepts_tensor_answer_and_reference(self, affine):
        X, W, b, dout = affine
        (ref,) = torch_gradients(lambda X, W, b: X @ W.T + b, X, W, b, dout=dout, wrt=[1])
        assert check_gradient("dW", torch.from_numpy(dout.T @ X), torch.from_numpy(ref), oracle="autograd") < 1e-12

    def test_transposed_gradient_fails_with_shape_hint(self, affine):
        X, W, b, dout = affine
        ref = dout.T @ X  # (3, 4)
        msg = _failure("affine_backward dW", X.T @ dout, ref)  # (4, 3)
        assert "expected shape (3, 4), got shape (4, 3)" in msg and "transposed" in msg
        assert "(reference: centred differences; bar: relative error below 1e-07)" in msg

    def test_transposed_square_gradient_fails_with_value_hint(self, rng):
        ref = rng.standard_normal((4, 4))
        msg = _failure("dW", ref.T.copy(), ref, oracle="autograd")
        assert "the result is transposed" in msg
        assert "reference: autograd; bar: relative error below 1e-07" in msg

    def test_missing_factor_fails(self, rng):
        x = rng.uniform(0.5, 1.5, size=6)
        ref = numerical_gradient(lambda z: np.sum(z ** 3), x)
        msg = _failure("dx", x ** 2, ref)  # missing the factor 3
        assert "values differ" in msg and "off by a constant factor" in msg
        assert "bar: relative error below 1e-07" in msg

    def test_missing_one_over_n_with_batch_size(self, affine):
        X, W, b, dout = affine
        N = X.shape[0]
        ref = dout.T @ X / N
        msg = _failure("dW", dout.T @ X, ref, batch_size=N)
        assert f"scaled by N = {N}" in msg

    def test_bias_gradient_not_summed_over_batch(self, affine):
        X, W, b, dout = affine
        msg = _failure("db", dout, dout.sum(axis=0))
        assert "expected shape (3,), got shape (5, 3)" in msg and "sum over the batch axis is missing" in msg

    def test_custom_mistakes(self, affine):
        X, W, b, dout = affine
        msg = _failure("dX", dout @ np.abs(W), dout @ W, mistakes={"used |W| instead of W": dout @ np.abs(W)})
        assert "hint: used |W| instead of W" in msg

    def test_nan_gradient(self, affine):
        X, W, b, dout = affine
        bad = dout @ W
        bad[0, 0] = np.nan
        msg = _failure("dX", bad, dout @ W)
        assert "1 of 20 values are NaN" in msg

    def test_close_but_not_close_enough_states_the_bar(self, rng):
        ref = rng.uniform(1, 2, size=(3, 4))
        got = ref * (1 + 1e-5)  # within check_close's loose pre-check, far above 1e-7
        msg = _failure("dW", got, ref, oracle="autograd")
        assert msg.startswith("dW: relative error ")
        assert "against autograd; the bar is 1e-07" in msg
        assert "Shape (3, 4) is right" in msg and "float32 intermediates" in msg
        err = rel_error(got, ref)
        assert f"relative error {err:.3g}" in msg

    def test_custom_bar(self, rng):
        ref = rng.uniform(1, 2, size=5)
        got = ref * (1 + 1e-5)
        assert check_gradient("dW", got, ref, max_rel_error=1e-4) < 1e-4
        assert "the bar is 1e-06" in _failure("dW", got, ref, max_rel_error=1e-6)

    def test_float32_answer_judged_by_rel_error(self, rng):
        ref = rng.uniform(1, 2, size=(3, 3))
        # Rounding a float64 gradient to float32 keeps rel_error below ~3e-8 ...
        assert check_gradient("dW", ref.astype(np.float32), ref) < 1e-7
        # ... but float32 intermediates that lose more precision fail the float64 bar.
        noisy = (ref * (1 + 5e-6)).astype(np.float32)
        assert "the bar is 1e-07" in _failure("dW", noisy, ref)


def test_numerical_gradients_of_each_parameter_match_the_analytic_ones():
    from autograder.gradcheck import numerical_gradients
    rng = np.random.default_rng(5)
    X, W, b = rng.normal(size=(4, 3)), rng.normal(size=(2, 3)), rng.normal(size=2)
    before = [W.copy(), b.copy()]

    def loss(W, b):
        return float(np.sum((X @ W.T + b) ** 2) / 2)

    dW, db = numerical_gradients(loss, [W, b], h=1e-6)
    Z = X @ W.T + b
    assert rel_error(dW, Z.T @ X) < 1e-7
    assert rel_error(db, Z.sum(axis=0)) < 1e-7
    assert np.array_equal(W, before[0]) and np.array_equal(b, before[1])


def test_several_gradients_wrong_the_same_way_state_the_hint_and_the_bar_once():
    """Missing 1/N in every gradient: one hint naming the four, one bar, not one of each per gradient."""
    from autograder.exercises import check_gradients
    rng = np.random.default_rng(0)
    reference = [rng.normal(size=s) for s in [(4, 3), (4,), (1, 4), (1,)]]
    got = tuple(4 * g for g in reference)
    names = ("dW1", "db1", "dW2", "db2")
    with pytest.raises(CheckFailed) as info:
        check_gradients("backprop(X (4, 3))", got, reference, names, oracle="centred differences",
                        max_rel_error=1e-7, batch_size=4, mistakes=[{}] * 4)
    text = str(info.value)
    assert text.count("hint") == 1 and "hint (dW1, db1, dW2, db2): scaled by N = 4" in text, text
    assert text.count("bar") == 1 and "bar: relative error below 1e-07" in text, text
    assert "|got - expected|" not in text  # the loose pre-check's bar is never shown


def test_one_gradient_alone_still_states_its_bar():
    with pytest.raises(CheckFailed) as info:
        check_gradient("dW", np.ones(3) * 2, np.ones(3), oracle="centred differences")
    assert str(info.value).count("bar") == 1 and "relative error below 1e-07" in str(info.value)
