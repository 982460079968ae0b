"""What the wire costs one graded notebook: its requests, its kit-part calls and its speed checks.

    .venv/bin/python benchmarks/wire_costs.py [--assignment 01] [--student correct] [--runs 2]

Grades one sample in this process, through the real path (a fresh nbgrader workspace, a sandboxed
kernel, the test cells run here), ``--runs`` times in a row; the first run pays this process's
imports, so the figures printed are the last run's. It wraps, without changing them:

    RemoteSession.request     each request to the kernel (count; median ms, the `repeat`s of the
                              speed checks left out: they last as long as their calls)
    RemoteSession.serve_part  each call of a kit part from the kernel (count; the time between
                              one answer and the next request, which is the kernel's side and the
                              trip back, and the grader's own time answering)
    time_side_by_side         each speed check's table (seconds; calls per sample and samples of
                              the row timed in the kernel)

and prints the notebook's grading time and score beside them. Last, it times one message of a
kit-part call (five small arrays) written and read 2,000 times each way: the wire's frame
against the ``.npz`` that messages were before (``np.savez``, then ``np.load`` with no pickles).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Recorder:
    """Wraps the wire's entry points for the duration of one grading."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests: list[float] = []
        self.part_serves: list[float] = []
        self.part_gaps: list[float] = []
        self.tables: list[tuple[float, int, int]] = []
        self._last_served: float | None = None

    def install(self) -> None:
        from autograder import timing
        from autograder.grading import remote

        request, serve_part, side_by_side = remote.RemoteSession.request, remote.RemoteSession.serve_part, \
            timing._timed_side_by_side
        recorder = self

        def timed_request(session, meta, encoder=None):
            t0 = time.perf_counter()
            try:
                return request(session, meta, encoder)
            finally:
                if meta.get("op") != "repeat" or meta.get("n") == 0:
                    recorder.requests.append(time.perf_counter() - t0)
                recorder._last_served = None

        def timed_serve_part(session, token):
            t0 = time.perf_counter()
            if recorder._last_served is not None:
                recorder.part_gaps.append(t0 - recorder._last_served)
            serve_part(session, token)
            recorder._last_served = time.perf_counter()
            recorder.part_serves.append(recorder._last_served - t0)

        def timed_table(implementations, *args, **kwargs):
            t0 = time.perf_counter()
            table = side_by_side(implementations, *args, **kwargs)
            kernel_rows = [r for r in table.rows if r.calls_per_sample and r.name != "python loop"]
            row = kernel_rows[-1] if kernel_rows else table.rows[-1]
            recorder.tables.append((time.perf_counter() - t0, row.calls_per_sample, len(row.samples)))
            return table

        remote.RemoteSession.request = timed_request
        remote.RemoteSession.serve_part = timed_serve_part
        timing._timed_side_by_side = timed_table


def message_formats(folder: Path, times: int = 2000) -> None:
    """Print the cost of writing and reading one small message in each format."""
    import json

    import numpy as np

    from autograder.grading.wire import read_archive, read_message, write_message

    arrays = [np.random.default_rng(0).standard_normal(shape) for shape in ((4, 2), (2, 3), (3,), (3, 1), (1,))]
    meta = {"part": "forward", "args": {"$tu": [{"$nd": i} for i in range(5)]}, "kwargs": {"$di": []}}

    def write_npz(path: Path) -> None:
        payload = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        payload.update({f"a{i}": a for i, a in enumerate(arrays)})
        with open(path, "wb") as f:
            np.savez(f, **payload)

    ways = {"frame": (lambda p: write_message(p, meta, arrays), lambda p: read_message(p, 1 << 20)),
            "npz": (write_npz, lambda p: read_archive(p, 1 << 20))}  # read as messages were read then
    for name, (write, read) in ways.items():
        path = folder / f"message.{name}"
        t0 = time.perf_counter()
        for _ in range(times):
            write(path)
        t1 = time.perf_counter()
        for _ in range(times):
            read(path)
        t2 = time.perf_counter()
        print(f"  a kit-part call's message as {name}: written in {(t1 - t0) / times * 1e3:.3f} ms, "
              f"read in {(t2 - t1) / times * 1e3:.3f} ms")


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1e3:.2f} ms" if values else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="01")
    parser.add_argument("--student", default="correct")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    from autograder.course import get_assignment
    from autograder.grading.engine import grade_one
    from autograder.grading.intake import find_submissions
    from autograder.grading.workspace import GradingWorkspace
    from autograder.grading_side import use_grading_modules

    use_grading_modules(ROOT)
    assignment = get_assignment(ROOT, args.assignment)
    submission = next(s for s in find_submissions(assignment.samples_dir, assignment) if s.student == args.student)
    folder = Path(tempfile.mkdtemp(prefix="wire-costs-"))
    workspace = GradingWorkspace(assignment, folder / ".nbgrader", fresh=True, hidden=(folder,))
    workspace.generate()
    recorder = Recorder()
    recorder.install()
    for run in range(1, args.runs + 1):
        recorder.reset()
        result = grade_one(workspace, submission, 2024)
        score = sum(c.score for c in result.cells)
        print(f"{assignment.name} {args.student}, run {run}: graded in {result.seconds:.1f} s, "
              f"{score:g}/{result.max_score:g} points")
        print(f"  requests: {len(recorder.requests)}, {_ms(recorder.requests)} (speed checks' timed requests left out)")
        print(f"  kit-part calls: {len(recorder.part_serves)}, from an answer to the next call {_ms(recorder.part_gaps)}, "
              f"answering {_ms(recorder.part_serves)}")
        for seconds, calls, samples in recorder.tables:
            print(f"  speed check: {seconds:.2f} s, {calls} calls per sample, {samples} samples")
    message_formats(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
