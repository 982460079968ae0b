"""The wire between the grader and the student's kernel (grading/wire.py, agent.py, remote.py,
host_cells.py), with the kernel's side played in this process: what crosses, what does not, and
how a test cell runs outside the kernel. The real kernel is exercised end to end by the sample
and hostile-submission tests."""
from __future__ import annotations

import functools
import os
import re
import threading
import time
import warnings

import numpy as np
import pytest
import torch

from autograder.checks import CheckFailed
from autograder.exercises import call_student, call_student_each, functions_swapped_in
from autograder.exercises.optimizers import REFERENCE_RULES, ScriptedValidation
from autograder.grading import agent
from autograder.grading.channel import Channel, ChannelTimeout
from autograder.grading.host_cells import names_from_notebook, run_test_cell
from autograder.grading.remote import RemoteHandle, RemoteSession
from autograder.grading.wire import WireError, read_message, write_message

from .conftest import run_cell


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """``(namespace, session)``: the "kernel's" namespace (this process's, via the agent) and a
    session talking to it over a real channel in ``tmp_path``, its line run in a thread."""
    namespace: dict = {}
    monkeypatch.setattr(agent, "_user_namespace", lambda: namespace)
    channel = Channel(tmp_path, tmp_path, deadline=time.monotonic() + 120)
    line = threading.Thread(target=exec, args=(channel.kernel_line(), {}), daemon=True)
    line.start()
    yield namespace, RemoteSession(channel.exchange, tmp_path, tmp_path)
    channel.close()
    line.join(10)
    assert not line.is_alive(), "the kernel's line did not end with the cell"


def handles(kernel, **objects):
    namespace, session = kernel
    namespace.update(objects)
    return session.lookup(list(objects))


def test_plain_values_come_over_as_values_and_functions_as_handles(kernel):
    got = handles(kernel, arr=np.arange(3.0), t=torch.ones(2, requires_grad=True), n=3, fn=len)
    assert isinstance(got["arr"], np.ndarray) and got["arr"].tolist() == [0.0, 1.0, 2.0]
    assert isinstance(got["t"], torch.Tensor) and got["t"].requires_grad
    assert got["n"] == 3
    assert isinstance(got["fn"], RemoteHandle) and callable(got["fn"])


def test_an_object_with_its_own_eq_never_crosses_as_a_value(kernel):
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    got = handles(kernel, cheat=lambda x: AlwaysEqual())
    result = got["cheat"](np.zeros(2))
    assert isinstance(result, RemoteHandle)
    assert result != 0 and not (result == object())  # a handle compares by identity, here in the grader
    with pytest.raises(CheckFailed):
        from autograder.checks import check_close
        check_close("cheat", result, np.zeros(2))


def test_in_place_changes_aliases_and_identity_carry_over(kernel):
    def rule(w, dw, state, lr):
        w -= lr * dw                   # in place: the caller's w changes
        state.setdefault("v", dw)      # keeps the caller's dw itself ...
        state["v"] *= 0.5              # ... and changes it later
        return w, state

    fn = handles(kernel, rule=rule)["rule"]
    w, dw, state = np.ones(3), np.full(3, 2.0), {}
    w_new, state_new = fn(w, dw, state, 0.1)
    assert w_new is w and state_new is state
    np.testing.assert_allclose(w, 0.8)
    np.testing.assert_allclose(dw, 1.0)  # through the alias in state
    fn(w, np.full(3, 4.0), state, 0.1)
    np.testing.assert_allclose(dw, 0.5)  # the first call's dw, changed by the second call


def test_a_generator_is_drawn_and_the_random_state_comes_back(kernel):
    def minibatches(n, b, rng):
        order = rng.permutation(n)
        for i in range(0, n, b):
            yield order[i:i + b]

    fn = handles(kernel, minibatches=minibatches)["minibatches"]
    rng, same = np.random.default_rng(5), np.random.default_rng(5)
    batches = [b.tolist() for b in fn(7, 3, rng)]
    order = same.permutation(7).tolist()
    assert batches == [order[:3], order[3:6], order[6:]]
    assert rng.bit_generator.state == same.bit_generator.state


def test_the_students_exceptions_keep_their_type_and_message(kernel):
    def stub(x):
        raise NotImplementedError()

    cell = run_cell('class Custom(Exception):\n    pass\n\n\ndef custom(x):\n    raise Custom("deep inside")\n')
    got = handles(kernel, stub=stub, bad=lambda x: 1 / 0, custom=cell["custom"])
    with pytest.raises(CheckFailed, match="not implemented yet"):
        call_student("stub", got["stub"], 1)
    with pytest.raises(CheckFailed, match=r"bad\(x scalar\) raised ZeroDivisionError: division by zero"):
        call_student("bad", got["bad"], 1)
    with pytest.raises(CheckFailed) as raised:
        call_student("custom", got["custom"], np.zeros((2, 3)))
    # the kernel sends the student's line with the error
    assert str(raised.value).splitlines() == ["custom(x (2, 3)) raised Custom: deep inside",
                                              '  in your custom, line 6 of its cell: raise Custom("deep inside")']


def test_many_calls_go_in_one_request_and_a_crash_is_raised_where_a_loop_would_meet_it(kernel):
    cell = run_cell("def halve(x, by=2.0):\n    if x < 0:\n        raise ValueError('negative')\n    return x / by\n")
    namespace, session = kernel
    got = handles(kernel, halve=cell["halve"])["halve"]
    before = session.requests
    assert list(call_student_each("halve", got, [((4.0,), {}), ((9.0,), {"by": 3.0})])) == [2.0, 3.0]
    assert session.requests == before + 1
    seen = []
    with pytest.raises(CheckFailed) as raised:
        for value in call_student_each("halve", got, [((4.0,), {}), ((-1.0,), {}), ((8.0,), {})]):
            seen.append(value)
    assert seen == [2.0]  # the results before the crash reach the check first
    assert str(raised.value).splitlines() == ["halve(x scalar) raised ValueError: negative",
                                              "  in your halve, line 3 of its cell: raise ValueError('negative')"]


def test_kit_objects_partials_and_swapped_parts_reach_the_kernel_and_come_back(kernel):
    def fit(val_loss, rule):
        losses = [val_loss(np.zeros(2)), val_loss(np.ones(2))]
        return losses, rule(np.ones(2), np.ones(2), {}, 0.1)[0]

    namespace, _ = kernel
    exec("def uses_helper(*args):\n    return helper(*args)", namespace)  # noqa: S102 - a notebook's function
    got = handles(kernel, fit=fit, uses_helper=namespace["uses_helper"])
    scripted = ScriptedValidation([3.0, 2.0], np.zeros(2))
    losses, w = got["fit"](scripted, functools.partial(REFERENCE_RULES["momentum"], beta=0.5))
    assert losses == [3.0, 2.0] and scripted.called_at_w0 and len(scripted.seen) == 2
    np.testing.assert_allclose(w, 0.95)
    with functions_swapped_in(got["uses_helper"], {"helper": REFERENCE_RULES["sgd"]}):
        # The kit's part runs here, in the grader; the kernel only gets what it returns.
        new_w, state = got["uses_helper"](np.ones(2), np.ones(2), {}, 0.5)
        assert new_w.tolist() == [0.5, 0.5] and state == {}
    assert "helper" not in namespace  # put back after the call


def test_numpy_warnings_in_the_kernel_are_warned_again_in_the_grader(kernel):
    fn = handles(kernel, naive=lambda z: 1.0 / (1.0 + np.exp(-z)))["naive"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn(np.array([-1000.0]))
    assert any("overflow" in str(w.message) for w in caught)


def test_repeat_runs_the_calls_in_one_request(kernel):
    calls = []
    fn = handles(kernel, f=lambda: calls.append(1))["f"]
    _, session = kernel
    before = session.requests
    session.call(fn, (), {}, op="repeat", n=25)
    assert len(calls) == 25 and session.requests == before + 1


def test_a_reply_that_is_a_link_or_too_big_or_pickled_is_refused(tmp_path):
    os.symlink("/etc/passwd", tmp_path / "link.msg")
    with pytest.raises(WireError, match="symbolic link"):
        read_message(tmp_path / "link.msg", 1 << 20)
    write_message(tmp_path / "big.msg", {"ok": True}, [np.zeros(1000)])
    with pytest.raises(WireError, match="more than"):
        read_message(tmp_path / "big.msg", 100)
    np.savez(tmp_path / "pickled.npz", meta=np.frombuffer(b'{"ok": true}', dtype=np.uint8),
             a0=np.array([object()], dtype=object))
    with pytest.raises(WireError, match="malformed"):
        read_message(tmp_path / "pickled.npz", 1 << 20)
    with pytest.raises(WireError, match="no reply"):
        read_message(tmp_path / "missing.msg", 1 << 20)


def _frame(header: bytes, body: bytes = b"", length: int | None = None) -> bytes:
    from autograder.grading.wire import FRAME_MAGIC
    return FRAME_MAGIC + (len(header) if length is None else length).to_bytes(8, "little") + header + body


# Messages a hostile kernel could write instead of a reply, and what the grader says of each.
MALFORMED_FRAMES = {
    "not a frame": (b"PK\x03\x04 a zip", "does not start"),
    "a header longer than the file": (_frame(b'{"meta": {}, "arrays": []}', length=1 << 40), "cut short"),
    "a header that is not JSON": (_frame(b"{meta"), "JSONDecodeError"),
    "a header that is a list": (_frame(b"[]"), "not an object"),
    "an object array": (_frame(b'{"meta": {}, "arrays": [["|O", [1]]]}', bytes(8)), "not a number"),
    "a structured array": (_frame(b'{"meta": {}, "arrays": [[[["a", "<f8"]], [1]]]}', bytes(8)), "not [dtype, shape]"),
    "an unknown dtype": (_frame(b'{"meta": {}, "arrays": [["<q9", [1]]]}', bytes(8)), "unknown dtype"),
    "a negative shape": (_frame(b'{"meta": {}, "arrays": [["<f8", [-1]]]}'), "not [dtype, shape]"),
    "an array past the end": (_frame(b'{"meta": {}, "arrays": [["<f8", [1000000000, 1000000000]]]}', bytes(8)),
                              "runs past its end"),
    "bytes after the last array": (_frame(b'{"meta": {}, "arrays": [["<f8", [1]]]}', bytes(16)), "bytes after"),
}


@pytest.mark.parametrize("name", MALFORMED_FRAMES)
def test_a_malformed_message_is_refused_with_what_is_wrong(tmp_path, name):
    data, says = MALFORMED_FRAMES[name]
    (tmp_path / "reply.msg").write_bytes(data)
    with pytest.raises(WireError, match=f"malformed.*{re.escape(says)}"):
        read_message(tmp_path / "reply.msg", 1 << 20)


def _flood_part_calls(inbox: int, outbox: int) -> None:
    os.set_blocking(outbox, False)
    until = time.monotonic() + 3
    while time.monotonic() < until:
        try:
            os.write(outbox, b"part 0123456789abcdef\n")
        except OSError:  # full, or the grader's end closed
            time.sleep(0.01)


# What a hostile kernel could do on the test cell's channel instead of answering a request, and
# what the grader raises: the check fails (or the cell times out), and the grader never hangs.
MISBEHAVING_CHANNELS = {
    "a line that is not an answer": (lambda i, o: os.write(o, b"rm -rf /\n"), WireError, "wrote 'rm'"),
    "the answer to another request": (lambda i, o: os.write(o, b"done 0-ffffffffffff\n"), WireError, "wrote 'done'"),
    "a line without end": (lambda i, o: os.write(o, b"x" * 300), WireError, "line without end"),
    "its end closed": (lambda i, o: "close", WireError, "closed"),
    "no answer": (lambda i, o: None, ChannelTimeout, "time limit"),
    "part calls without end, its inbox unread": (_flood_part_calls, (WireError, ChannelTimeout),
                                                  "stopped reading|time limit"),
}


@pytest.mark.parametrize("name", MISBEHAVING_CHANNELS)
def test_a_kernel_that_misbehaves_on_the_channel_fails_the_check_and_never_holds_the_grader(tmp_path, name):
    behave, raised, says = MISBEHAVING_CHANNELS[name]
    channel = Channel(tmp_path, tmp_path, deadline=time.monotonic() + 1.5)
    answered = threading.Event()

    def kernel() -> None:
        outbox = os.open(channel.outbox, os.O_WRONLY)
        inbox = os.open(channel.inbox, os.O_RDONLY | os.O_NONBLOCK)
        if behave(inbox, outbox) != "close":
            answered.wait(2.5)  # its end held open, past the cell's deadline
        os.close(outbox)
        os.close(inbox)

    thread = threading.Thread(target=kernel, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(raised, match=says):
            channel.exchange("0-0123456789ab", serve_part=lambda token: None)
    finally:
        answered.set()
        channel.close()
    assert time.monotonic() - started < 3
    thread.join(5)


def test_a_message_keeps_dtypes_shapes_and_values_and_its_arrays_are_writable(tmp_path):
    arrays = [np.arange(6, dtype=np.int16).reshape(2, 3), np.array(2.5), np.zeros((0, 4)), np.array([True, False]),
              np.array([1 + 2j], dtype=np.complex64), np.asfortranarray(np.arange(6.0).reshape(2, 3)),
              np.arange(10.0)[::3]]
    write_message(tmp_path / "m.msg", {"x": [1, "two", float("nan")]}, arrays)
    meta, got = read_message(tmp_path / "m.msg", 1 << 20)
    assert meta["x"][:2] == [1, "two"] and np.isnan(meta["x"][2])
    for a, b in zip(arrays, got, strict=True):
        assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b)
        assert b.flags.writeable and b.flags.aligned


def test_the_kernel_cannot_send_callables_or_objects_it_was_not_given(kernel):
    from autograder.grading.wire import Decoder, Mirror
    host = Decoder(Mirror(), [], lambda node: None, pair_new=False)
    with pytest.raises(WireError, match="may not send callables"):
        host.decode({"$pa": [{"$fn": "autograder.grading.wire:read_message"}, {"$tu": []}, {"$di": []}]})
    with pytest.raises(WireError, match="never sent"):
        host.decode({"$ob": "autograder.exercises.optimizers:ScriptedValidation", "st": {"$di": []}})


def test_names_a_test_cell_takes_from_the_notebook():
    import ast
    tree = ast.parse("from autograder.exercises import lstm as grader\n"
                     "grader.check_char_lm(globals().get('char_model'))\nx = 1\ngrader.check(sgd, x, len)")
    assert names_from_notebook(tree) == ["char_model", "sgd"]


def test_a_test_cell_run_here_reports_passes_failures_and_float_results(kernel):
    namespace, session = kernel
    namespace["square"] = lambda x: x * x
    out = run_test_cell("from autograder.exercises import call_student\nprint('ok', call_student('square', square, 3))\n"
                        "0.5", session)
    assert [o.output_type for o in out] == ["stream", "execute_result"]
    assert out[0].text == "ok 9\n" and out[1].data["text/plain"] == "0.5"
    out = run_test_cell("from autograder.checks import check_close\ncheck_close('square', square(3), 10)", session)
    assert out[-1].output_type == "error" and out[-1].ename == "CheckFailed"
    out = run_test_cell("undefined_name(1)", session)
    assert out[-1].ename == "NameError"


def test_the_kits_parts_run_in_the_grader_and_answer_only_during_the_call(kernel, monkeypatch):
    """A swapped-in part is a stand-in that calls back: the kernel never holds the kit's code, and a
    stand-in kept past the call gets no more answers."""
    namespace, _ = kernel
    exec("def keep(*args):\n    global kept\n    kept = helper\n    return helper(*args)\n"  # noqa: S102
         "def call_kept(*args):\n    return kept(*args)", namespace)
    got = handles(kernel, keep=namespace["keep"], call_kept=namespace["call_kept"])
    with functions_swapped_in(got["keep"], {"helper": REFERENCE_RULES["sgd"]}):
        new_w, _ = got["keep"](np.ones(2), np.ones(2), {}, 0.5)
    assert new_w.tolist() == [0.5, 0.5]
    assert isinstance(namespace["kept"], agent.GraderPart) and not hasattr(namespace["kept"], "__code__")
    with pytest.raises(RuntimeError, match="not one of the kit's parts in this call"):
        got["call_kept"](np.ones(2), np.ones(2), {}, 0.5)  # a later check's call
    monkeypatch.setattr(agent, "_channel", {})  # as in a later cell of the student's, with no check running
    with pytest.raises(RuntimeError, match="only runs while a check calls your code"):
        agent.GraderPart("sgd")(np.ones(2), np.ones(2), {}, 0.5)  


def test_numpy_scalars_keep_their_type_and_shape(kernel):
    got = handles(kernel, scalar=lambda: np.float64(2.5), small=lambda: np.float32(1.5))
    value, single = got["scalar"](), got["small"]()
    assert type(value) is np.float64 and np.shape(value) == () and value == 2.5
    assert type(single) is np.float32 and np.shape(single) == ()
