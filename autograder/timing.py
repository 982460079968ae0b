"""Time several implementations of one computation side by side, in one run.

Why this shape: machines that grade are shared and noisy, so absolute times mean little. What
stays stable is the *ratio* between implementations measured in the same run, in interleaved
rounds (a burst of load hits every implementation alike), after a warm-up (first calls pay for
allocation and dispatch), with medians (robust to the odd slow round), and with
``torch.cuda.synchronize`` around GPU work (CUDA calls return before the work is done).

Typical use::

    table = time_side_by_side([
        Implementation("loop", lambda: matvec_loop(Xl, wl, b)),
        Implementation("torch", lambda: matvec_torch(X, w, b)),
        Implementation("torch", lambda: matvec_torch(Xg, wg, b), device="cuda"),
    ], baseline="loop")
    print(table)
    judge_speedup("matvec_torch", table, fast="torch", slow="loop", threshold=20)
"""
from __future__ import annotations

import contextlib
import gc
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .checks import CheckFailed


@dataclass
class Implementation:
    """One contestant: a zero-argument callable (inputs already bound) and where it runs.

    A callable with a ``repeat(n)`` method (a student's function in the grading kernel, see
    :func:`autograder.grading.remote.repeatable`) is timed one request of ``n`` calls at a time.
    """
    name: str
    fn: Callable[[], Any]
    device: str = "cpu"


@dataclass
class TimingRow:
    """The outcome for one implementation. ``median_s`` is ``None`` when it was skipped."""
    name: str
    device: str
    median_s: float | None
    samples: list[float] = field(default_factory=list)
    calls_per_sample: int = 0
    speedup: float | None = None
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} [{self.device}]"


def cuda_available() -> bool:
    """True when torch sees a CUDA device (False when torch is missing)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with torch limited to ``n`` CPU threads, then restore the setting.

    Graded speed checks use one thread: the question is "loop or vectorised?", not "how many
    cores?". It also makes them immune to a busy machine, where torch's worker threads wait for a
    core that another process holds (seen here: a 6 µs dot product took 6 ms with the other core
    busy and 2 threads, a 1000x slowdown that would fail a correct answer).
    """
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch
        torch.cuda.synchronize()


def format_seconds(seconds: float | None) -> str:
    """``'3.08 µs'``, ``'12.2 ms'``, ``'4.35 s'``; ``'skipped'`` for None."""
    if seconds is None:
        return "skipped"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


@dataclass
class TimingTable:
    """Rows in the order given, with speedups over the baseline row."""
    rows: list[TimingRow]
    baseline: str | None

    def row(self, name: str, device: str = "cpu") -> TimingRow:
        for r in self.rows:
            if r.name == name and r.device == device:
                return r
        raise KeyError(f"no timing row {name!r} on {device!r}")

    def speedup(self, fast: str, slow: str, fast_device: str = "cpu", slow_device: str = "cpu") -> float | None:
        """``median(slow) / median(fast)``; ``None`` when either was skipped."""
        f, s = self.row(fast, fast_device), self.row(slow, slow_device)
        if f.median_s is None or s.median_s is None:
            return None
        return s.median_s / f.median_s

    def __str__(self) -> str:
        head = ("implementation", "device", "median time", f"speedup vs {self.baseline}" if self.baseline else "")
        body = [(r.name, r.device, format_seconds(r.median_s),
                 (f"{r.speedup:,.1f}x" if r.speedup is not None else r.note or "-")) for r in self.rows]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)).rstrip(),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in body]
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython display
        printer.text(str(self))

    def to_dict(self) -> dict:
        """Plain data for reports (results.json, feedback pages)."""
        return {"baseline": self.baseline,
                "rows": [{"name": r.name, "device": r.device, "median_s": r.median_s,
                          "speedup": r.speedup, "note": r.note} for r in self.rows]}

    def plot(self, ax=None, title: str | None = None):
        """Horizontal bar chart of the medians on a log scale; returns the matplotlib axes."""
        import matplotlib.pyplot as plt
        ax = ax or plt.subplots(figsize=(6, 0.5 + 0.4 * len(self.rows)))[1]
        shown = [r for r in self.rows if r.median_s is not None]
        ax.barh([r.label for r in shown], [r.median_s for r in shown])
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_xlabel("median time per call (s, log scale)")
        if title:
            ax.set_title(title)
        return ax


REMOTE_SAMPLE_S = 0.01
# A sample lasts at least this many empty requests, so the request's own cost, which is taken off
# every sample, is at most a tenth of it: the bars sit five times or more below a correct answer's
# speedup, and a disguised loop's speedup only drops when a request costs more than it seemed.
# Over the test cell's channel an empty request costs about 1 ms, so samples last about 10 ms.
SAMPLE_OVER_OVERHEAD = 10


@dataclass
class _KernelCalls:
    """How to time a function in the kernel: ``calls`` per request, and the request's own cost."""
    calls: int
    overhead_s: float


def _calibrate_kernel_calls(repeatable, target_s: float = REMOTE_SAMPLE_S) -> _KernelCalls:
    """Find the number of calls per request whose requests last at least ``target_s`` and
    ``SAMPLE_OVER_OVERHEAD`` empty requests, two in a row.

    While a request is mostly its own cost the count grows x4; once the calls' share can be
    measured (twice the request's cost) the count jumps to what that share says reaches the bar,
    with a fifth to spare, so that samples do not overshoot it by up to four times.
    """
    overhead = statistics.median(_request_seconds(repeatable, 0) for _ in range(3))
    bar = max(target_s, SAMPLE_OVER_OVERHEAD * overhead)
    calls = 1
    while calls < 10**6:
        seconds = _request_seconds(repeatable, calls)
        if seconds >= bar:
            # Two requests in a row must reach the bar: one that a pause of this process or the
            # kernel's stretched would stop the growth early, leaving samples of a few calls.
            seconds = _request_seconds(repeatable, calls)
            if seconds >= bar:
                break
        work = seconds - overhead
        if work < 2 * overhead:
            calls *= 4
        else:
            calls = min(16 * calls, max(calls + 1, math.ceil(1.2 * calls * (bar - overhead) / work)))
    return _KernelCalls(calls, overhead)


def _request_seconds(repeatable, calls: int) -> float:
    t0 = time.perf_counter()
    repeatable.repeat(calls)
    return time.perf_counter() - t0


@contextlib.contextmanager
def _no_garbage_collection():
    """As ``timeit`` does: a collection in a process with a large heap (a long test session, a
    parent holding a batch) pauses it for tens of milliseconds, in whichever sample it falls."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def time_side_by_side(implementations: list[Implementation], *, baseline: str | None = None,
                      rounds: int = 7, warmup: int = 1, min_sample_s: float = 2e-3,
                      max_seconds_each: float = 3.0) -> TimingTable:
    """Time implementations in interleaved rounds and return their medians.

    Args:
        implementations: the contestants. A ``cuda`` one is skipped (not failed) where no CUDA
            device is present.
        baseline: the name of the row speedups are measured against (usually the loop).
        rounds: how many samples per implementation (the median is taken over these).
        warmup: untimed calls before timing.
        min_sample_s: each sample repeats a fast call until it lasts about this long, so that
            the timer's resolution and call overhead do not dominate.
        max_seconds_each: a time budget per implementation; a slow one gets fewer rounds
            (at least one) so that a loop on a big input cannot stall grading.
    """
    with _no_garbage_collection():
        return _timed_side_by_side(implementations, baseline, rounds, warmup, min_sample_s, max_seconds_each)


def _timed_side_by_side(implementations: list[Implementation], baseline: str | None, rounds: int, warmup: int,
                        min_sample_s: float, max_seconds_each: float) -> TimingTable:
    rows: list[TimingRow] = []
    active: list[tuple[Implementation, TimingRow]] = []
    spent: dict[int, float] = {}  # seconds each active implementation has used, warm-up included
    overheads: dict[int, float] = {}  # the cost of one request, for rows timed in the kernel
    has_cuda = cuda_available()
    for impl in implementations:
        row = TimingRow(impl.name, impl.device, None)
        rows.append(row)
        if impl.device.startswith("cuda") and not has_cuda:
            row.note = "skipped: no CUDA device"
            continue
        # Warm-up, and a first estimate of the cost of one call to size the samples.
        t0 = time.perf_counter()
        for _ in range(max(1, warmup)):
            impl.fn()
        _synchronize(impl.device)
        warm_s = time.perf_counter() - t0
        one_call = max(warm_s / max(1, warmup), 1e-9)
        if warm_s > max_seconds_each:
            # The warm-up alone spent the budget: its per-call time is the one sample, rather
            # than calling a slow implementation again (to calibrate, or to time it).
            row.calls_per_sample = 1
            row.samples.append(one_call)
            continue
        if hasattr(impl.fn, "repeat"):
            # Timed around requests to the kernel, by this process's clock.
            plan = _calibrate_kernel_calls(impl.fn)
            row.calls_per_sample, overheads[id(row)] = plan.calls, plan.overhead_s
        else:
            row.calls_per_sample = max(1, int(min_sample_s / one_call))
        spent[id(row)] = warm_s
        active.append((impl, row))

    wanted = {id(row): rounds for _, row in active}
    for r in range(rounds):
        # Rotate the order each round so no implementation always runs right after another.
        order = active[r % len(active):] + active[:r % len(active)] if active else []
        for impl, row in order:
            if len(row.samples) >= wanted[id(row)]:
                continue
            _synchronize(impl.device)
            t0 = time.perf_counter()
            if hasattr(impl.fn, "repeat"):  # a student's function in the kernel: one request, n calls
                impl.fn.repeat(row.calls_per_sample)
            else:
                for _ in range(row.calls_per_sample):
                    impl.fn()
            _synchronize(impl.device)
            elapsed = time.perf_counter() - t0
            # A request's own cost is not the function's; never let the subtraction flip the sign.
            elapsed = max(elapsed - overheads.get(id(row), 0.0), 0.1 * elapsed)
            per_call = elapsed / row.calls_per_sample
            row.samples.append(per_call)
            # Budget (warm-up included): a slow implementation stops early instead of stalling the run.
            if spent[id(row)] + sum(row.samples) * row.calls_per_sample > max_seconds_each:
                wanted[id(row)] = len(row.samples)
    for row in rows:
        if row.samples:
            row.median_s = statistics.median(row.samples)

    base = next((r for r in rows if r.name == baseline and r.median_s is not None), None) if baseline else None
    for row in rows:
        if base is not None and row.median_s is not None:
            row.speedup = base.median_s / row.median_s
    return TimingTable(rows, baseline)


def judge_speedup(name: str, table: TimingTable, *, fast: str, slow: str, threshold: float,
                  device: str = "cpu", hint: str = "") -> float:
    """Fail unless ``fast`` beats ``slow`` by at least ``threshold`` times; return the speedup.

    The threshold is meant to sit far below what a correct vectorised version reaches, so a busy
    machine never fails a correct answer while a disguised loop still cannot pass.
    A skipped row (no GPU on this machine) is not a failure: it returns ``nan``.
    """
    ratio = table.speedup(fast, slow, fast_device=device)
    if ratio is None:
        return float("nan")
    if ratio < threshold:
        msg = (f"{name}: {fast} [{device}] runs at {ratio:.1f}x the speed of {slow}; "
               f"it should be at least {threshold:g}x faster (a vectorised version is usually far more).\n"
               f"{table}")
        if hint:
            msg += f"\n  hint: {hint}"
        raise CheckFailed(msg)
    return ratio
