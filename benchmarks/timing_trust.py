"""Can the graded speed checks of assignment 00 be trusted on a busy machine?

The claim to prove: a correct torch implementation passes every run while another process keeps
the other core(s) busy, and a Python loop disguised as torch fails every run.

For each speed check (check_dot_speed, check_matvec_speed, check_linear_speed,
check_pairwise_speed) this script calls the real check, exactly as a notebook's test cell does,
``--runs`` times (default 20) with the correct implementation (the notebook's solution) and
``--runs`` times with each disguised loop (a Python loop over rows or elements calling torch).
Runs are interleaved (run 1 of every implementation, then run 2, ...) so a burst of load hits
all of them alike. The speedup each run measured is the one the check itself judged: this script
wraps ``judge_speedup`` inside ``autograder.exercises.vectorization`` to record
``table.speedup(fast, slow)`` and the threshold before passing the call through unchanged.

By default one busy-loop process (``while True: pass``) per other core is started first
(``cpu_count - 1`` of them, at least one), unpinned so the scheduler places them as it would
another student's kernel; ``--pin`` pins them to cores 1.. and this process to core 0. The
busy processes' CPU time is read from /proc afterwards to show that they really spun.
``--quiet-machine`` runs without them.

Usage::

    .venv/bin/python benchmarks/timing_trust.py                 # busy machine (default)
    .venv/bin/python benchmarks/timing_trust.py --pin           # busy, pinned
    .venv/bin/python benchmarks/timing_trust.py --quiet-machine

Exit status: 0 when every correct run passed and every disguised run failed (for the speed
reason), 1 otherwise.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def _spin(cpu: int | None) -> None:
    """The busy process: one core at 100%, forever (until terminated)."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    while True:
        pass


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` from /proc (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _usable_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


# ---------------------------------------------------------------------------------------------
# Implementations: the notebook's solutions and loops disguised as torch
# ---------------------------------------------------------------------------------------------

def implementations():
    import torch

    def dot_torch(x, w, b):
        return b + torch.dot(x, w)

    def dot_per_element(x, w, b):
        return b + sum(x[i] * w[i] for i in range(len(x)))

    def matvec_torch(X, w, b):
        return X @ w + b

    def matvec_dot_per_row(X, w, b):
        return torch.stack([torch.dot(row, w) for row in X]) + b

    def matvec_matmul_per_row(X, w, b):
        return torch.stack([row @ w + b for row in X])

    def linear_torch(X, W, b):
        return X @ W.T + b

    def linear_matvec_per_row(X, W, b):
        return torch.stack([W @ row for row in X]) + b

    def linear_dot_per_output(X, W, b):
        return torch.stack([torch.stack([torch.dot(row, w_row) for w_row in W]) for row in X]) + b

    def pairwise_torch(X, Y):
        squared = (X * X).sum(dim=1)[:, None] + (Y * Y).sum(dim=1)[None, :] - 2 * X @ Y.T
        return torch.sqrt(torch.clamp(squared, min=0.0))

    def pairwise_per_row(X, Y):
        return torch.stack([torch.sqrt(((Y - x) ** 2).sum(dim=1)) for x in X])

    def pairwise_norm_per_row(X, Y):
        return torch.stack([torch.linalg.vector_norm(Y - x, dim=1) for x in X])

    # check name -> [(label, function, should_pass)]
    return {
        "check_dot_speed": [("correct: b + torch.dot(x, w)", dot_torch, True),
                            ("loop: sum of x[i] * w[i]", dot_per_element, False)],
        "check_matvec_speed": [("correct: X @ w + b", matvec_torch, True),
                               ("loop: torch.dot per row", matvec_dot_per_row, False),
                               ("loop: row @ w per row", matvec_matmul_per_row, False)],
        "check_linear_speed": [("correct: X @ W.T + b", linear_torch, True),
                               ("loop: W @ row per row", linear_matvec_per_row, False),
                               ("loop: torch.dot per (row, unit)", linear_dot_per_output, False)],
        "check_pairwise_speed": [("correct: expanded square", pairwise_torch, True),
                                 ("loop: distances per row", pairwise_per_row, False),
                                 ("loop: vector_norm per row", pairwise_norm_per_row, False)],
    }


# ---------------------------------------------------------------------------------------------
# Running the checks and recording what they measured
# ---------------------------------------------------------------------------------------------

@dataclass
class Tally:
    check: str
    label: str
    should_pass: bool
    passes: int = 0
    runs: int = 0
    speedups: list[float] = field(default_factory=list)
    thresholds: set[float] = field(default_factory=set)
    seconds: list[float] = field(default_factory=list)
    surprises: list[str] = field(default_factory=list)  # messages of runs that went the wrong way

    @property
    def ok(self) -> bool:
        return not self.surprises and self.runs > 0


def run_once(check, fn, tally: Tally, grader, recorded: list) -> None:
    from autograder.checks import CheckFailed

    recorded.clear()
    out = io.StringIO()
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out):
            check(fn)
        passed, message = True, out.getvalue()
    except CheckFailed as exc:
        passed, message = False, str(exc)
    tally.seconds.append(time.perf_counter() - t0)
    tally.runs += 1
    tally.passes += passed
    if recorded:
        ratio, threshold = recorded[-1]
        tally.speedups.append(ratio)
        tally.thresholds.add(threshold)
    if passed != tally.should_pass:
        tally.surprises.append(message)
    elif not passed and "torch calls for" not in message:
        # A disguised loop must fail as slow and be named as a loop, not crash.
        tally.surprises.append("failed without the loop hint:\n" + message)


def install_recorder(grader) -> list:
    """Wrap ``judge_speedup`` as the checks see it; record (speedup, threshold) per call."""
    recorded: list = []
    original = grader.judge_speedup

    def recording_judge(name, table, *, fast, slow, threshold, **kwargs):
        recorded.append((table.speedup(fast, slow), threshold))
        return original(name, table, fast=fast, slow=slow, threshold=threshold, **kwargs)

    grader.judge_speedup = recording_judge
    return recorded


def format_table(tallies: list[Tally]) -> str:
    head = ("check", "implementation", "expected", "passes", "min", "median", "max", "threshold", "verdict")
    body = []
    for t in tallies:
        s = t.speedups
        stats = (f"{min(s):,.1f}x", f"{statistics.median(s):,.1f}x", f"{max(s):,.1f}x") if s else ("-", "-", "-")
        body.append((t.check, t.label, "pass" if t.should_pass else "fail", f"{t.passes}/{t.runs}", *stats,
                     ", ".join(f"{x:g}x" for x in sorted(t.thresholds)) or "-", "OK" if t.ok else "WRONG"))
    widths = [max(len(str(row[i])) for row in (head, *body)) for i in range(len(head))]
    right = {3, 4, 5, 6, 7}

    def line(row):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    return "\n".join([line(head), "  ".join("-" * w for w in widths), *map(line, body)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per implementation (default 20)")
    parser.add_argument("--quiet-machine", action="store_true", help="do not start busy processes")
    parser.add_argument("--busy", type=int, default=None,
                        help="number of busy processes (default: usable CPUs - 1, at least 1)")
    parser.add_argument("--pin", action="store_true",
                        help="pin busy process i to CPU i+1 and this process to the first CPU")
    args = parser.parse_args(argv)

    cpus = _usable_cpus()
    n_busy = 0 if args.quiet_machine else (args.busy if args.busy is not None else max(1, len(cpus) - 1))
    busy: list[multiprocessing.Process] = []
    ctx = multiprocessing.get_context("spawn")  # a clean child, no copy of torch's threads
    for i in range(n_busy):
        cpu = cpus[(i + 1) % len(cpus)] if args.pin else None
        proc = ctx.Process(target=_spin, args=(cpu,), daemon=True)
        proc.start()
        busy.append(proc)
    if args.pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpus[0]})
    cpu_before = {p.pid: _cpu_seconds(p.pid) for p in busy}
    t_busy = time.perf_counter()
    if busy:
        time.sleep(1.0)  # let them spin up before measuring anything

    import torch

    from autograder.exercises import vectorization as grader

    print(f"machine: {platform.node()}, {platform.processor() or platform.machine()}; "
          f"os.cpu_count() = {os.cpu_count()}, usable CPUs = {len(cpus)} {cpus}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, "
          f"torch threads outside the checks = {torch.get_num_threads()} (the checks time with 1)")
    if busy:
        where = "pinned to CPU " + ", ".join(str(cpus[(i + 1) % len(cpus)]) for i in range(n_busy)) + \
                f"; this process pinned to CPU {cpus[0]}" if args.pin else "unpinned (placed by the scheduler)"
        print(f"load: {n_busy} busy-loop process(es) running `while True: pass`, {where}; "
              f"pids {[p.pid for p in busy]}")
    else:
        print("load: none (--quiet-machine)")
    print(f"runs: {args.runs} per implementation, interleaved\n")

    recorded = install_recorder(grader)
    plan = implementations()
    tallies = {(c, label): Tally(c, label, should) for c, impls in plan.items() for label, _, should in impls}
    t_start = time.perf_counter()
    for run in range(args.runs):
        for check_name, impls in plan.items():
            check = getattr(grader, check_name)
            for label, fn, _ in impls:
                run_once(check, fn, tallies[(check_name, label)], grader, recorded)
        print(f"  run {run + 1}/{args.runs} done ({time.perf_counter() - t_start:.0f} s)", file=sys.stderr)
    wall = time.perf_counter() - t_busy

    busy_lines = []
    for p in busy:
        after, before = _cpu_seconds(p.pid), cpu_before.get(p.pid)
        if after is not None and before is not None:
            busy_lines.append(f"busy pid {p.pid}: {after - before:.1f} CPU-s over {wall:.1f} s "
                              f"({100 * (after - before) / wall:.0f}% of a core)")
        p.terminate()
    for p in busy:
        p.join(timeout=5)

    print(format_table(list(tallies.values())))
    print()
    per_run = [statistics.median(t.seconds) for t in tallies.values() if t.seconds]
    print(f"total {time.perf_counter() - t_start:.0f} s; median time of one check call "
          f"{min(per_run):.2f}-{max(per_run):.2f} s")
    for line in busy_lines:
        print(line)
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    wrong = [t for t in tallies.values() if not t.ok]
    for t in wrong:
        print(f"\nWRONG: {t.check} / {t.label}: {len(t.surprises)} run(s) went the wrong way; first message:")
        print(t.surprises[0])
    print("\nverdict:", "trustworthy: every correct run passed, every disguised loop failed"
          if not wrong else f"NOT trustworthy: {len(wrong)} implementation(s) went the wrong way")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
