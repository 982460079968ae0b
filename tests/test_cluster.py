"""Grading on a Dask cluster (grading/cluster.py): the same grades as --jobs, and a worker that
dies mid-batch costs nobody a row or a point."""
from __future__ import annotations

import csv
import os
import signal
import threading
import time

import pytest

from autograder.grading.batch import grade_batch

from .conftest import DEMO_SEED

pytestmark = pytest.mark.slow
distributed = pytest.importorskip("distributed", reason="cluster grading needs the [cluster] extra")


def rows(out) -> list[dict]:
    with (out / "grades.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_a_local_cluster_gives_the_same_gradebook_as_jobs(graded_samples, tmp_path):
    for name, (assignment, _, _, jobs_out) in graded_samples.items():
        out = tmp_path / name
        grade_batch(assignment, assignment.samples_dir, out, seed=DEMO_SEED, progress=False, cluster="local:2")
        assert rows(out) == rows(jobs_out), name


def _kill_a_busy_worker(client, killed: list) -> None:
    """Once a worker has been grading for a few seconds, SIGKILL its process (its nanny restarts it)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        busy = [worker for worker, keys in client.processing().items() if keys]
        if busy:
            time.sleep(3)
            still = client.processing().get(busy[0], ())
            if still:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                killed.append((busy[0], list(still)))
                os.kill(pid, signal.SIGKILL)
                return
        time.sleep(0.2)


def test_a_worker_killed_mid_batch_costs_no_row_and_no_point(graded_samples, tmp_path):
    import dask
    assignment, _, _, jobs_out = graded_samples["00_vectorization"]
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as watcher:
        killed: list = []
        killer = threading.Thread(target=_kill_a_busy_worker, args=(watcher, killed))
        killer.start()
        results = grade_batch(assignment, assignment.samples_dir, tmp_path / "out", seed=DEMO_SEED,
                              progress=False, cluster=cluster.scheduler_address)
        killer.join()
    assert killed, "no worker was grading when the test looked"
    got = rows(tmp_path / "out")
    assert sorted(r["student"] for r in got) == sorted({r.student for r in results})  # one row each
    assert got == rows(jobs_out)  # the scores each gets alone
