"""Unit tests of autograder.timing.

The machine running these is shared and noisy (two cores), so every timing assertion uses a
huge margin: a 5 ms sleep against a no-op, a Python loop against one NumPy call. Speedup
thresholds themselves are tested on hand-built tables, where the numbers are exact.
"""
from __future__ import annotations

import gc
import math
import time

import numpy as np
import pytest
import torch

from autograder import timing
from autograder.checks import CheckFailed
from autograder.timing import (
    Implementation,
    TimingRow,
    TimingTable,
    format_seconds,
    judge_speedup,
    time_side_by_side,
)

SLEEP = 5e-3  # seconds: a "slow implementation" that is slow whatever the load


def noop():
    return None


def sleepy():
    time.sleep(SLEEP)


@pytest.fixture
def no_cuda(monkeypatch):
    """Behave as on a CPU-only machine, even where a GPU is present."""
    monkeypatch.setattr(timing, "cuda_available", lambda: False)


def recorder(log, name):
    def fn():
        log.append(name)
    return fn


def table_of(**medians) -> TimingTable:
    """A hand-built table: ``table_of(loop=1.0, numpy=0.01)``; None marks a skipped row."""
    rows = [TimingRow(name, "cpu", m) for name, m in medians.items()]
    return TimingTable(rows, baseline=next(iter(medians)))


# --------------------------------------------------------------------------------------------
# time_side_by_side
# --------------------------------------------------------------------------------------------

class TestTimeSideBySide:
    def test_medians_and_speedups(self, no_cuda):
        table = time_side_by_side([Implementation("slow", sleepy), Implementation("fast", noop)],
                                  baseline="slow", rounds=5, min_sample_s=0)
        slow, fast = table.row("slow"), table.row("fast")
        assert [r.name for r in table.rows] == ["slow", "fast"]
        assert len(slow.samples) == 5 and len(fast.samples) == 5
        assert slow.median_s >= SLEEP * 0.9  # sleep never returns early (0.9: timer rounding)
        assert fast.median_s < SLEEP / 10
        assert slow.median_s == sorted(slow.samples)[2]
        assert slow.speedup == pytest.approx(1.0)
        assert fast.speedup == pytest.approx(slow.median_s / fast.median_s)
        assert fast.speedup > 10
        assert table.speedup("fast", "slow") == pytest.approx(fast.speedup)
        assert table.baseline == "slow"

    def test_rounds_are_interleaved_and_rotated(self, no_cuda):
        log = []
        impls = [Implementation(n, recorder(log, n)) for n in "ABC"]
        time_side_by_side(impls, rounds=4, warmup=1, min_sample_s=0)
        # One warm-up call each, then each round visits every implementation once, starting one
        # further along each time, so no implementation always runs right after another.
        assert log == list("ABC") + list("ABC" "BCA" "CAB" "ABC")

    def test_warmup_calls_are_not_timed(self, no_cuda):
        log = []
        time_side_by_side([Implementation("A", recorder(log, "A"))], rounds=2, warmup=3, min_sample_s=0)
        assert len(log) == 3 + 2

    def test_fast_calls_are_repeated_within_a_sample(self, no_cuda):
        log = []
        table = time_side_by_side([Implementation("A", recorder(log, "A"))], rounds=2, min_sample_s=1e-2)
        row = table.row("A")
        assert row.calls_per_sample > 10  # a list.append takes far less than 1e-2 / 10 s
        assert len(log) == 1 + 2 * row.calls_per_sample
        assert len(row.samples) == 2 and all(s > 0 for s in row.samples)

    def test_slow_calls_are_not_repeated(self, no_cuda):
        table = time_side_by_side([Implementation("slow", sleepy)], rounds=2, min_sample_s=1e-3)
        assert table.row("slow").calls_per_sample == 1

    def test_python_loop_slower_than_numpy(self, no_cuda):
        data = np.linspace(0.0, 1.0, 100_000)
        items = data.tolist()

        def loop_sum():
            total = 0.0
            for v in items:
                total += v
            return total

        table = time_side_by_side([Implementation("loop", loop_sum), Implementation("numpy", data.sum)],
                                  baseline="loop", rounds=3)
        assert table.row("loop").median_s > table.row("numpy").median_s
        # A correct vectorised version is ~100x faster; 3x is a bar no busy machine misses.
        assert judge_speedup("sum", table, fast="numpy", slow="loop", threshold=3) >= 3
        with pytest.raises(CheckFailed, match=r"sum: loop \[cpu\] runs at 0\.\dx the speed of numpy"):
            judge_speedup("sum", table, fast="loop", slow="numpy", threshold=1)

    def test_budget_limits_a_slow_implementation(self, no_cuda):
        budget = 0.2
        calls = []

        def slow():
            calls.append(1)
            time.sleep(0.04)

        t0 = time.perf_counter()
        table = time_side_by_side([Implementation("slow", slow), Implementation("fast", noop)],
                                  baseline="slow", rounds=100, max_seconds_each=budget, min_sample_s=1e-4)
        wall = time.perf_counter() - t0
        row = table.row("slow")
        assert wall < 5 * budget
        assert 1 <= len(row.samples) < 100
        # The budget counts the warm-up too: at most one call goes past it (0.2 s / 0.04 s + 1).
        assert len(calls) <= 6
        assert row.median_s >= 0.035
        assert len(table.row("fast").samples) == 100  # the fast one is not cut short

    def test_a_call_longer_than_the_budget_runs_once(self, no_cuda):
        calls = []

        def very_slow():
            calls.append(1)
            time.sleep(0.1)

        budget = 0.05
        t0 = time.perf_counter()
        table = time_side_by_side([Implementation("loop", very_slow), Implementation("fast", noop)],
                                  baseline="loop", rounds=7, max_seconds_each=budget, min_sample_s=1e-4)
        wall = time.perf_counter() - t0
        row = table.row("loop")
        # The warm-up call already spent the budget: it is the one sample, not repeated.
        assert len(calls) == 1 and len(row.samples) == 1 and row.median_s >= 0.09
        assert wall < 5 * budget
        assert row.speedup == 1.0 and table.row("fast").speedup > 10

    def test_cuda_row_skipped_without_cuda(self, no_cuda):
        calls = []
        table = time_side_by_side(
            [Implementation("loop", noop), Implementation("torch", noop),
             Implementation("torch", lambda: calls.append(1), device="cuda")],
            baseline="loop", rounds=2)
        gpu = table.row("torch", "cuda")
        assert calls == []  # never called
        assert gpu.median_s is None and gpu.speedup is None and gpu.samples == []
        assert "no CUDA" in gpu.note and "skipped" in gpu.note
        assert table.row("torch").median_s is not None  # the CPU row of the same name is timed
        assert table.speedup("torch", "loop", fast_device="cuda") is None
        assert math.isnan(judge_speedup("torch", table, fast="torch", slow="loop", threshold=1e9, device="cuda"))
        text = str(table)
        line = next(l for l in text.splitlines() if "cuda" in l)
        assert "skipped" in line and "no CUDA" in line
        d = table.to_dict()
        assert d["rows"][2] == {"name": "torch", "device": "cuda", "median_s": None, "speedup": None,
                                "note": "skipped: no CUDA device"}

    @pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour of a CPU-only machine")
    def test_real_cuda_check_on_cpu_machine(self):
        assert timing.cuda_available() is False
        table = time_side_by_side([Implementation("t", noop, device="cuda")], rounds=1)
        assert table.row("t", "cuda").median_s is None

    def test_skipped_baseline_gives_no_speedups(self, no_cuda):
        table = time_side_by_side([Implementation("gpu", noop, device="cuda"), Implementation("cpu", noop)],
                                  baseline="gpu", rounds=1)
        assert all(r.speedup is None for r in table.rows)

    def test_no_baseline(self, no_cuda):
        table = time_side_by_side([Implementation("a", noop)], rounds=1)
        assert table.baseline is None and table.row("a").speedup is None
        assert table.row("a").median_s is not None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_row_is_timed_with_cuda():
    x = torch.randn(256, 256, device="cuda")
    table = time_side_by_side([Implementation("loop", lambda: sum(range(20_000))),
                               Implementation("torch", lambda: x @ x, device="cuda")],
                              baseline="loop", rounds=3)
    row = table.row("torch", "cuda")
    assert row.median_s is not None and row.median_s > 0 and row.note == ""
    assert judge_speedup("mm", table, fast="torch", slow="loop", threshold=1, device="cuda") >= 1


# --------------------------------------------------------------------------------------------
# judge_speedup on exact, hand-built tables
# --------------------------------------------------------------------------------------------

class TestJudgeSpeedup:
    def test_returns_the_ratio_above_the_threshold(self):
        table = table_of(loop=1.0, numpy=0.01)
        assert judge_speedup("matvec", table, fast="numpy", slow="loop", threshold=20) == pytest.approx(100)

    def test_exactly_at_threshold_passes(self):
        assert judge_speedup("f", table_of(loop=1.0, numpy=0.5), fast="numpy", slow="loop", threshold=2) == 2

    def test_raises_below_the_threshold(self):
        table = table_of(loop=1.0, numpy=0.2)
        with pytest.raises(CheckFailed) as info:
            judge_speedup("matvec_numpy", table, fast="numpy", slow="loop", threshold=20,
                          hint="is there still a Python loop over the rows?")
        msg = str(info.value)
        assert msg.startswith("matvec_numpy: numpy [cpu] runs at 5.0x the speed of loop; "
                              "it should be at least 20x faster")
        assert str(table) in msg  # the measurements are shown
        assert msg.endswith("  hint: is there still a Python loop over the rows?")

    def test_no_hint_line_without_hint(self):
        with pytest.raises(CheckFailed) as info:
            judge_speedup("f", table_of(loop=1.0, numpy=0.5), fast="numpy", slow="loop", threshold=20)
        assert "hint" not in str(info.value)

    def test_slower_than_baseline_fails(self):
        with pytest.raises(CheckFailed, match="runs at 0.5x the speed of loop"):
            judge_speedup("f", table_of(loop=1.0, numpy=2.0), fast="numpy", slow="loop", threshold=1)

    def test_skipped_row_returns_nan(self):
        table = TimingTable([TimingRow("loop", "cpu", 1.0),
                             TimingRow("torch", "cuda", None, note="skipped: no CUDA device")], "loop")
        assert math.isnan(judge_speedup("f", table, fast="torch", slow="loop", threshold=10, device="cuda"))

    def test_unknown_row_is_a_keyerror(self):
        with pytest.raises(KeyError, match="no timing row 'gpu' on 'cpu'"):
            judge_speedup("f", table_of(loop=1.0), fast="gpu", slow="loop", threshold=1)


# --------------------------------------------------------------------------------------------
# TimingTable and format_seconds
# --------------------------------------------------------------------------------------------

class TestTableAndFormat:
    @pytest.mark.parametrize("seconds, text", [
        (None, "skipped"), (4.35, "4.35 s"), (1.0, "1 s"), (0.0122, "12.2 ms"), (3.08e-6, "3.08 µs"),
        (5e-9, "5 ns"), (123.4, "123 s"),
    ])
    def test_format_seconds(self, seconds, text):
        assert format_seconds(seconds) == text

    def test_str_has_header_separator_and_rows(self):
        table = TimingTable([TimingRow("loop", "cpu", 0.5, speedup=1.0),
                             TimingRow("numpy", "cpu", 0.005, speedup=100.0),
                             TimingRow("torch", "cuda", None, note="skipped: no CUDA device")], "loop")
        lines = str(table).splitlines()
        assert len(lines) == 5
        assert lines[0].split() == ["implementation", "device", "median", "time", "speedup", "vs", "loop"]
        assert set(lines[1].replace(" ", "")) == {"-"}
        assert lines[2].split() == ["loop", "cpu", "500", "ms", "1.0x"]
        assert lines[3].split() == ["numpy", "cpu", "5", "ms", "100.0x"]
        assert lines[4].split() == ["torch", "cuda", "skipped", "skipped:", "no", "CUDA", "device"]
        # Columns line up: every row's device column starts where the header's does.
        col = lines[0].index("device")
        assert all(line[col:].startswith(dev) for line, dev in zip(lines[2:], ["cpu", "cpu", "cuda"]))

    def test_str_large_speedup_has_thousands_separator(self):
        table = TimingTable([TimingRow("loop", "cpu", 1.0, speedup=1.0),
                             TimingRow("numpy", "cpu", 1e-4, speedup=10_000.0)], "loop")
        assert "10,000.0x" in str(table)

    def test_str_without_baseline(self):
        text = str(TimingTable([TimingRow("a", "cpu", 0.002)], None))
        assert "speedup" not in text and "2 ms" in text and text.splitlines()[2].split()[-1] == "-"

    def test_row_and_speedup_lookup(self):
        table = TimingTable([TimingRow("t", "cpu", 0.4), TimingRow("t", "cuda", 0.1)], None)
        assert table.row("t", "cuda").median_s == 0.1
        assert table.speedup("t", "t", fast_device="cuda", slow_device="cpu") == pytest.approx(4.0)
        assert table.row("t").label == "t [cpu]"

    def test_repr_pretty(self):
        table = table_of(loop=1.0, numpy=0.01)
        out = []

        class Printer:
            def text(self, s):
                out.append(s)

        table._repr_pretty_(Printer(), False)
        assert out == [str(table)]

    def test_plot_shows_only_timed_rows(self):
        matplotlib = pytest.importorskip("matplotlib")
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        table = TimingTable([TimingRow("loop", "cpu", 0.5), TimingRow("numpy", "cpu", 0.005),
                             TimingRow("torch", "cuda", None)], "loop")
        ax = table.plot(title="matvec")
        try:
            labels = [t.get_text() for t in ax.get_yticklabels()]
            assert labels == ["loop [cpu]", "numpy [cpu]"]
            assert ax.get_xscale() == "log" and ax.get_title() == "matvec"
            assert sorted(p.get_width() for p in ax.patches) == [0.005, 0.5]
        finally:
            plt.close(ax.figure)


class _KernelFunction:
    """Stands in for a student's function timed by requests to the kernel: a request of ``n`` calls
    costs ``REQUEST_S`` plus ``per_call`` seconds a call; the request of ``pause_at`` calls is held
    up once by 150 ms."""

    REQUEST_S = 2e-3

    def __init__(self, pause_at: int | None = None, per_call: float = 1e-5):
        self.pause_at, self.per_call = pause_at, per_call
        self.requests = []

    def __call__(self) -> None:
        self.repeat(1)

    def repeat(self, n: int) -> None:
        self.requests.append(n)
        pause = 0.15 if n == self.pause_at and self.requests.count(n) == 1 else 0.0
        time.sleep(self.REQUEST_S + self.per_call * n + pause)


# What a sample must last with these requests: the target, or ten requests, whichever is longer.
_BAR = max(timing.REMOTE_SAMPLE_S, timing.SAMPLE_OVER_OVERHEAD * _KernelFunction.REQUEST_S)


def test_a_pause_while_calibrating_does_not_leave_samples_of_a_few_calls():
    enough = 0.8 * (_BAR - _KernelFunction.REQUEST_S) / 1e-5  # 10 µs a call
    steady = timing._calibrate_kernel_calls(_KernelFunction())
    assert steady.calls >= enough
    paused = timing._calibrate_kernel_calls(_KernelFunction(pause_at=4))
    assert paused.calls >= enough  # the held-up request of 4 calls did not end the growth


@pytest.mark.parametrize("per_call", [1e-6, 1e-5, 1e-4, 1e-3])
def test_samples_in_the_kernel_reach_the_bar_without_overshooting_it(per_call):
    kernel = _KernelFunction(per_call=per_call)
    plan = timing._calibrate_kernel_calls(kernel)
    sample = kernel.REQUEST_S + per_call * plan.calls
    assert _BAR <= sample < 2 * _BAR, (plan, kernel.requests)
    # The calibration itself costs a few samples, not dozens.
    assert sum(kernel.REQUEST_S + per_call * n for n in kernel.requests) < 6 * _BAR, kernel.requests


def test_a_function_slower_than_the_budget_is_not_calibrated(no_cuda):
    kernel = _KernelFunction(per_call=0.2)
    table = time_side_by_side([Implementation("slow", kernel)], rounds=3, max_seconds_each=0.1)
    assert kernel.requests == [1]  # the warm-up, and nothing more
    assert table.row("slow").median_s == pytest.approx(0.202, abs=0.05)


def test_no_garbage_is_collected_while_timing(no_cuda):
    seen = []
    time_side_by_side([Implementation("A", lambda: seen.append(gc.isenabled()))], rounds=2,
                      min_sample_s=0)
    assert seen and not any(seen)
    assert gc.isenabled()
