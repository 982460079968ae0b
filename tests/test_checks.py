"""Unit tests of autograder.checks: what passes, what fails, and what the student is told."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from autograder.checks import (
    FLOAT32_ATOL,
    FLOAT32_RTOL,
    CheckFailed,
    check_close,
    check_scalar,
    check_shape,
    check_type,
    check_unchanged,
    describe_call,
    describe_shape,
    expect_raises,
    kind_of,
    to_numpy,
)

from .conftest import failure




@pytest.fixture
def expected():
    """A small fixed (N, D) = (4, 3) float64 array with no zeros, built from linspace."""
    return np.linspace(0.5, 6.0, 12).reshape(4, 3)


# --------------------------------------------------------------------------------------------
# to_numpy, kind_of, describe_*
# --------------------------------------------------------------------------------------------

class TestConversions:
    def test_python_float_and_int(self):
        a = to_numpy(2.5)
        assert a.shape == () and a.dtype == np.float64 and a == 2.5
        assert to_numpy(3).dtype.kind == "i"
        assert to_numpy(True).dtype == np.bool_

    def test_nested_lists(self):
        a = to_numpy([[1.0, 2.0], [3.0, 4.0]])
        assert a.shape == (2, 2) and a.dtype == np.float64
        np.testing.assert_array_equal(a, [[1, 2], [3, 4]])

    def test_list_of_tensors_and_arrays(self):
        a = to_numpy([torch.tensor([1.0, 2.0], dtype=torch.float64), np.array([3.0, 4.0])])
        np.testing.assert_array_equal(a, [[1, 2], [3, 4]])

    def test_ndarray_returned_as_is(self):
        x = np.arange(6.0).reshape(2, 3)
        assert to_numpy(x) is x

    def test_tensor_requires_grad_is_detached(self):
        t = torch.arange(3.0, requires_grad=True) * 2
        a = to_numpy(t)
        assert isinstance(a, np.ndarray) and a.dtype == np.float32
        np.testing.assert_array_equal(a, [0, 2, 4])

    def test_tensor_with_conj_and_neg_bits(self):
        z = torch.tensor([1 + 2j, 3 - 1j]).conj()
        np.testing.assert_array_equal(to_numpy(z), [1 - 2j, 3 + 1j])
        neg = torch._neg_view(torch.tensor([1.0, -2.0]))
        np.testing.assert_array_equal(to_numpy(neg), [-1.0, 2.0])

    @pytest.mark.parametrize("bad", [None, "1.0", object(), (i for i in range(3))])
    def test_non_numeric_raises_typeerror(self, bad):
        with pytest.raises(TypeError):
            to_numpy(bad)

    def test_ragged_list_raises_typeerror_naming_it(self):
        with pytest.raises(TypeError, match="not a rectangular array"):
            to_numpy([[1.0, 2.0], [3.0]])

    def test_kind_of(self):
        assert kind_of(np.zeros(2)) == "numpy.ndarray"
        assert kind_of(torch.zeros(2)) == "torch.Tensor on cpu"
        assert kind_of([1]) == "list"
        assert kind_of(None) == "NoneType"

    def test_describe_shape_and_call(self):
        assert describe_shape(np.zeros((3, 4))) == "(3, 4)"
        assert describe_shape(torch.zeros(5)) == "(5,)"
        assert describe_shape(1.5) == "scalar"
        assert describe_shape(None) == "NoneType"
        call = describe_call("linear_torch", X=torch.zeros(4, 3), W=np.zeros((2, 3)), b=np.zeros(2))
        assert call == "linear_torch(X (4, 3), W (2, 3), b (2,))"


# --------------------------------------------------------------------------------------------
# check_type
# --------------------------------------------------------------------------------------------

class TestCheckType:
    def test_tensor_expected_ndarray_returned(self):
        msg = failure(check_type, "linear_torch", np.zeros(3), torch.zeros(3))
        assert msg == "linear_torch: expected a torch.Tensor on cpu, got a numpy.ndarray."

    def test_tensor_expected_list_returned(self):
        msg = failure(check_type, "f", [1.0, 2.0], torch.zeros(2))
        assert "expected a torch.Tensor" in msg and "got a list" in msg

    def test_ndarray_expected_tensor_returned(self):
        msg = failure(check_type, "matvec", torch.zeros(3), np.zeros(3))
        assert msg == "matvec: expected a numpy.ndarray, got a torch.Tensor on cpu."

    def test_ndarray_expected_list_returned(self):
        assert "got a list" in failure(check_type, "f", [0.0, 0.0], np.zeros(2))

    def test_same_kinds_pass(self):
        assert check_type("f", torch.ones(2), torch.zeros(2)) is None
        assert check_type("f", np.ones(2), np.zeros(2)) is None

    def test_tensor_on_other_device_type(self):
        # A meta tensor stands in for "the inputs live on another device" without a GPU.
        msg = failure(check_type, "f", torch.zeros(2), torch.empty(2, device="meta"))
        assert "expected the result on meta" in msg and "got it on cpu" in msg
        assert "device=X.device" in msg

    @pytest.mark.parametrize("got", [1.0, 2, np.float64(1.0), np.array(3.0), np.array([3.0]),
                                     torch.tensor(1.0), [1.0]])
    def test_number_expected_accepts_any_single_number(self, got):
        assert check_type("loss", got, 0.5) is None

    def test_number_expected_array_returned(self):
        msg = failure(check_type, "loss", np.zeros(4), 0.5)
        assert msg == "loss: expected a single number, got an array of shape (4,)."

    def test_number_expected_none_returned(self):
        msg = failure(check_type, "loss", None, 0.5)
        assert "expected a number" in msg and "NoneType" in msg

    def test_list_expected_string_returned(self):
        assert "expected numeric data" in failure(check_type, "f", "abc", [1.0])


# --------------------------------------------------------------------------------------------
# check_close: passing cases across containers and dtypes
# --------------------------------------------------------------------------------------------

class TestCheckClosePasses:
    def test_identical_ndarray(self, expected):
        assert check_close("f", expected.copy(), expected) is None

    def test_within_bar(self, expected):
        check_close("f", expected * (1 + 5e-8), expected)

    def test_python_floats(self):
        check_close("f", 0.1 + 0.2, 0.3)
        check_close("f", 1.0, 1)  # a float where an integer is expected, integral value

    def test_lists(self):
        check_close("f", [[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]])

    def test_tensors(self, expected):
        t = torch.from_numpy(expected)
        check_close("f", t.clone(), t)

    def test_tensor_vs_ndarray_without_container_check(self, expected):
        check_close("f", torch.from_numpy(expected.copy()), expected, check_container=False)

    def test_size_one_shapes_are_interchangeable(self):
        check_close("loss", np.array([2.0]), 2.0)
        check_close("loss", torch.tensor([[2.0]], dtype=torch.float64), 2.0)

    def test_matching_nan_and_inf_are_equal(self):
        check_close("f", np.array([np.nan, np.inf, -np.inf, 1.0]), np.array([np.nan, np.inf, -np.inf, 1.0]))

    def test_integers_expected(self):
        check_close("argmax", np.array([0, 2, 1]), np.array([0, 2, 1]))
        check_close("argmax", np.array([0.0, 2.0, 1.0]), np.array([0, 2, 1]))  # integral floats are fine

    def test_float32_answer_accepted_with_float32_bars(self, expected):
        expected = expected / 7
        got = (expected * (1 + 3e-7)).astype(np.float32)  # float32-sized error: above 1e-7, below 1e-5
        with pytest.raises(CheckFailed):  # the same values in float64 fail the float64 bar
            check_close("f", got.astype(np.float64), expected)
        check_close("f", got, expected)
        check_close("f", torch.from_numpy(got), torch.from_numpy(expected))

    def test_float32_oracle_gets_float32_bars(self):
        # A float32 oracle (torch.nn module, GPU) vs a float32 answer one rounding step away.
        e = torch.linspace(0.5, 3.3, 7, dtype=torch.float32)
        got = torch.nextafter(e, torch.tensor(10.0))
        assert not torch.equal(got, e)
        check_close("f", got, e)
        check_close("f", got.double(), e, check_container=False)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_check_close_cuda_tensors(expected):
    e = torch.from_numpy(expected).cuda()
    check_close("f", e.clone(), e)
    msg = failure(check_close, "f", -e, e)
    assert "sign is flipped" in msg
    msg = failure(check_close, "f", e.cpu(), e)
    assert "expected the result on cuda" in msg and "got it on cpu" in msg


# --------------------------------------------------------------------------------------------
# check_close: the order of questions and the messages
# --------------------------------------------------------------------------------------------

class TestCheckCloseMessages:
    def test_shape_reported_before_values(self, expected):
        got = np.full((4, 2), np.nan)  # wrong shape AND NaN: the shape is what is reported
        msg = failure(check_close, "f", got, expected)
        assert msg.startswith("f: expected shape (4, 3), got shape (4, 2).")
        assert "NaN" not in msg and "differ" not in msg

    def test_shape_before_dtype(self, expected):
        msg = failure(check_close, "f", np.zeros((2, 2), dtype=np.int64), expected)
        assert "expected shape (4, 3), got shape (2, 2)" in msg and "integer" not in msg

    def test_transposed_shape_hint(self, expected):
        msg = failure(check_close, "linear", expected.T.copy(), expected)
        assert "expected shape (4, 3), got shape (3, 4)" in msg
        assert "the shape is transposed" in msg and "X @ W.T + b" in msg

    def test_transposed_square_values_hint(self):
        e = np.arange(1.0, 10.0).reshape(3, 3)
        msg = failure(check_close, "f", e.T.copy(), e)
        assert "hint: the result is transposed: got = expected.T" in msg

    def test_missing_sum_over_batch_axis(self, expected):
        db = expected.sum(axis=0)  # (3,)
        msg = failure(check_close, "affine_backward db", expected, db)
        assert "expected shape (3,), got shape (4, 3)" in msg
        assert "summing your result over axis 0 gives the expected values" in msg
        assert "sum over the batch axis is missing" in msg

    def test_extra_leading_axis_whose_sum_does_not_match(self, expected):
        msg = failure(check_close, "f", expected, np.ones(3))
        assert "extra leading axis" in msg and "summing your result" not in msg

    def test_keepdims_row_is_not_called_a_missing_sum(self):
        db = np.array([1.0, 2.0, 3.0])
        msg = failure(check_close, "db", db[None, :], db)
        assert "expected shape (3,), got shape (1, 3)" in msg
        assert "batch axis is missing" not in msg
        assert "right number of elements in the wrong shape" in msg and "keepdims" in msg

    def test_column_vs_vector_hint(self):
        msg = failure(check_close, "f", np.ones((5, 1)), np.ones(5))
        assert "right number of elements in the wrong shape" in msg and "(N,) vs (N, 1)" in msg

    def test_per_example_losses_instead_of_their_sum(self):
        losses = np.array([0.5, 1.5, 2.0])
        msg = failure(check_close, "loss", losses, float(losses.sum()), check_container=False)
        assert "expected shape (), got shape (3,)" in msg and "batch axis is missing" in msg

    def test_integers_where_floats_expected(self, expected):
        msg = failure(check_close, "f", expected.astype(np.int64), expected)
        assert "expected floating-point values (float64), got integers (int64)" in msg
        assert "integer division" in msg

    def test_python_int_where_float_expected(self):
        assert "got integers" in failure(check_scalar, "loss", 1, 1.0)

    def test_integer_tensor_where_float_expected(self, expected):
        msg = failure(check_close, "f", torch.from_numpy(expected).long(), torch.from_numpy(expected))
        assert "got integers (int64)" in msg

    def test_bool_where_float_expected(self):
        msg = failure(check_close, "f", np.array([True, False]), np.array([1.0, 0.0]))
        assert "expected floating-point values, got dtype bool" in msg

    def test_complex_where_real_expected(self):
        msg = failure(check_close, "f", np.array([1 + 1j, 2 + 0j]), np.array([1.0, 2.0]))
        assert "expected real floating-point values (float64), got complex values (complex128)" in msg

    def test_non_integral_floats_where_integers_expected(self):
        msg = failure(check_close, "argmax", np.array([0.0, 2.5]), np.array([0, 2]))
        assert "expected integers (int64), got dtype float64" in msg

    def test_float16_rejected(self):
        msg = failure(check_close, "f", torch.ones(3, dtype=torch.float16), torch.ones(3))
        assert "float16" in msg and "too imprecise" in msg

    def test_float64_enforced_when_float32_not_allowed(self, expected):
        msg = failure(check_close, "f", expected.astype(np.float32), expected, allow_float32=False)
        assert msg == "f: expected float64, got float32. This part needs float64 precision."

    def test_float32_bars_still_catch_real_errors(self, expected):
        got = (expected * (1 + 1e-3)).astype(np.float32)
        msg = failure(check_close, "f", got, expected)
        # The bar in the message is the float32 bar that was applied.
        assert f"<= {FLOAT32_ATOL:g} + {FLOAT32_RTOL:g} * |expected|" in msg

    def test_nan_reported_before_values(self, expected):
        got = expected * 2  # wrong values everywhere ...
        got[1, 2] = np.nan  # ... and one NaN: the NaN is what is reported
        msg = failure(check_close, "softmax", got, expected)
        assert msg.startswith("softmax: 1 of 12 values are NaN (first at index (1, 2))")
        assert "overflow in exp" in msg
        assert "differ" not in msg and "greatest" not in msg

    def test_inf_reported(self, expected):
        got = expected.copy()
        got[0, 1] = got[3, 0] = np.inf
        msg = failure(check_close, "f", got, expected)
        assert "2 of 12 values are inf (first at index (0, 1))" in msg

    def test_mixed_nan_and_inf(self):
        msg = failure(check_close, "f", np.array([np.nan, np.inf, 1.0]), np.array([1.0, 1.0, 1.0]))
        assert "2 of 3 values are NaN/inf (first at index (0,))" in msg

    def test_nan_in_a_python_float(self):
        assert "1 of 1 values are NaN" in failure(check_scalar, "loss", float("nan"), 1.0)

    def test_value_mismatch_statistics(self, expected):
        got = expected.copy()
        got[2, 1] += 0.5
        msg = failure(check_close, "f", got, expected)
        lines = msg.splitlines()
        assert lines[0] == "f: values differ from the expected result."
        assert "mismatched elements: 1 of 12" in msg
        assert "bar: |got - expected| <= 1e-10 + 1e-07 * |expected|" in msg
        e = expected[2, 1]
        assert f"greatest absolute difference: 0.5 at index (2, 1) (got {e + 0.5:.8g}, expected {e:.8g})" in msg
        assert f"greatest relative difference: {0.5 / e:.6g} at index (2, 1)" in msg

    def test_expected_inf_got_finite_is_not_a_zero_difference(self):
        msg = failure(check_close, "f", np.array([1.0, 2.0]), np.array([np.inf, 2.0]))
        assert "mismatched elements: 1 of 2" in msg
        assert "greatest absolute difference: inf at index (0,) (got 1, expected inf)" in msg

    def test_scalar_mismatch(self):
        msg = failure(check_scalar, "loss", 1.5, 1.0)
        assert "greatest absolute difference: 0.5 at index ()" in msg

    def test_expected_zero_has_no_relative_line(self):
        msg = failure(check_close, "f", np.array([1.0, 2.0]), np.zeros(2))
        assert "greatest absolute difference: 2 at index (1,)" in msg
        assert "relative" not in msg

    def test_sign_flip_hint(self, expected):
        msg = failure(check_close, "f", -expected, expected)
        assert "hint: the sign is flipped: got = -expected" in msg

    def test_scaled_by_n_hint(self, expected):
        msg = failure(check_close, "dW", expected * 4, expected, batch_size=4)
        assert "hint: scaled by N = 4: a sum where the mean was wanted (missing 1/N)" in msg

    def test_scaled_by_one_over_n_hint(self, expected):
        msg = failure(check_close, "dW", expected / 4, expected, batch_size=4)
        assert "hint: scaled by 1/N = 1/4: divided by the batch size once too often" in msg

    def test_constant_factor_hint_without_batch_size(self, expected):
        msg = failure(check_close, "f", expected * 2.5, expected)
        assert "hint: off by a constant factor: got = 2.5 x expected" in msg
        assert "scaled by N" not in msg

    def test_no_hint_for_unstructured_errors(self, expected):
        got = expected + np.arange(12.0).reshape(4, 3) * 0.01
        msg = failure(check_close, "f", got, expected, batch_size=4)
        assert "hint" not in msg

    def test_custom_mistakes_hint_wins(self):
        X = np.linspace(-1, 1, 12).reshape(4, 3)
        w = np.array([0.5, -1.0, 2.0])
        b = 0.75
        expected = X @ w + b
        mistakes = {"the bias b is missing": X @ w, "w is negated": X @ -w + b}
        msg = failure(check_close, "matvec", X @ w, expected, mistakes=mistakes)
        assert "hint: the bias b is missing" in msg and "w is negated" not in msg
        msg = failure(check_close, "matvec", X @ -w + b, expected, mistakes=mistakes)
        assert "hint: w is negated" in msg and "bias" not in msg

    def test_custom_mistakes_hint_single_element_results(self):
        # got and expected of shape (1,) are compared as scalars; the candidates must be too
        expected = np.array([0.8])
        msg = failure(check_close, "scale", np.array([0.4]), expected, mistakes={"clipped per tensor": np.array([0.4])})
        assert "hint: clipped per tensor" in msg

    def test_custom_mistake_replaces_generic_hints(self, expected):
        msg = failure(check_close, "f", -expected, expected, mistakes={"you negated the loss": -expected})
        assert "hint: you negated the loss" in msg and "sign is flipped" not in msg

    def test_custom_mistakes_that_do_not_match_are_silent(self, expected):
        msg = failure(check_close, "f", expected + 1, expected, mistakes={"never": expected * 7, "bad": None})
        assert "never" not in msg and "bad" not in msg

    def test_name_leads_every_message(self, expected):
        name = describe_call("linear", X=expected)
        for got in (expected[:2], expected.astype(int), expected * np.nan, expected + 1):
            assert failure(check_close, name, got, expected).startswith(name + ": ")

    def test_none_returned(self, expected):
        msg = failure(check_close, "f", None, expected, check_container=False)
        assert "expected numeric data" in msg and "NoneType" in msg
        assert "expected a numpy.ndarray, got a NoneType" in failure(check_close, "f", None, expected)

    def test_container_checked_first(self, expected):
        msg = failure(check_close, "f", torch.from_numpy(expected), expected)
        assert msg == "f: expected a numpy.ndarray, got a torch.Tensor on cpu."


# --------------------------------------------------------------------------------------------
# check_scalar, check_shape, check_unchanged, expect_raises
# --------------------------------------------------------------------------------------------

class TestSmallChecks:
    @pytest.mark.parametrize("got", [2.0, np.float64(2.0), np.array(2.0), torch.tensor(2.0, dtype=torch.float64),
                                     np.float32(2.0), torch.tensor(2.0)])
    def test_check_scalar_accepts(self, got):
        check_scalar("loss", got, 2)

    def test_check_scalar_rejects_array(self):
        assert "expected a single number, got an array of shape (3,)" in failure(check_scalar, "loss", np.ones(3), 1.0)

    def test_check_scalar_passes_options(self):
        check_scalar("loss", 1.05, 1.0, rtol=0.1)
        with pytest.raises(CheckFailed):
            check_scalar("loss", 1.05, 1.0)

    def test_check_shape(self):
        check_shape("f", np.zeros((2, 3)), (2, 3))
        check_shape("f", torch.zeros(2, 3), [2, 3])
        assert failure(check_shape, "f", np.zeros((3, 2)), (2, 3)) == "f: expected shape (2, 3), got shape (3, 2)."
        assert "expected an array of shape (2, 3)" in failure(check_shape, "f", None, (2, 3))

    def test_check_unchanged(self):
        W = np.linspace(0, 1, 6).reshape(2, 3)
        check_unchanged("sgd", W.copy(), W)
        check_unchanged("sgd", np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))
        check_unchanged("argmax", np.arange(3), np.arange(3))
        before = W.copy()
        W -= 0.1
        msg = failure(check_unchanged, "sgd", before, W)
        assert "modified its input in place" in msg and "W = W - lr * dW" in msg
        assert "modified" in failure(check_unchanged, "f", np.zeros(3), np.zeros(4))

    def test_expect_raises(self):
        def bad(x):
            raise ValueError(f"bad {x}")

        exc = expect_raises("f", ValueError, bad, 3)
        assert isinstance(exc, ValueError) and str(exc) == "bad 3"
        msg = failure(expect_raises, "f", TypeError, bad, 3)
        assert msg == "f: expected TypeError, but it raised ValueError: bad 3"
        msg = failure(expect_raises, "f", ValueError, lambda: 1)
        assert msg == "f: expected ValueError, but it returned normally."

    def test_checkfailed_is_an_assertionerror(self):
        assert issubclass(CheckFailed, AssertionError)
        # A one-line message must not contain stray newlines; a value message is multi-line.
        assert "\n" not in failure(check_shape, "f", np.zeros(2), (3,))
        assert re.search(r"\n  mismatched", failure(check_close, "f", np.ones(2), np.zeros(2)))
