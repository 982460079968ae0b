"""Grading on a Dask cluster (grading/cluster.py): the same grades as --jobs, and a worker that
dies mid-batch costs nobody a row or a point."""
from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import threading
import time

import pytest

from autograder.grading.batch import grade_batch

from .conftest import DEMO_SEED, ROOT

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


def _kill_busy_workers(client, killed: list, times: int = 1) -> None:
    """``times`` over: once a worker has been grading for a few seconds, SIGKILL its process (its
    nanny starts a fresh one); ``killed`` gets ``(worker, keys it was grading)`` for each."""
    deadline = time.monotonic() + 300
    while len(killed) < times and time.monotonic() < deadline:
        busy = [worker for worker, keys in client.processing().items() if keys]
        if busy:
            time.sleep(3)
            still = client.processing().get(busy[0], ())
            if still:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                killed.append((busy[0], list(still)))
                os.kill(pid, signal.SIGKILL)
                time.sleep(1)
                continue
        time.sleep(0.2)


@contextlib.contextmanager
def cluster_with_a_killer(times: int):
    """A 2-worker cluster (a submission gets a row saying so after 2 worker deaths), and a thread
    that kills busy workers ``times`` times: ``(scheduler address, the list of kills)``."""
    import dask
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as watcher:
        killed: list = []
        killer = threading.Thread(target=_kill_busy_workers, args=(watcher, killed, times))
        killer.start()
        try:
            yield cluster.scheduler_address, killed
        finally:
            killer.join()


def test_a_worker_killed_mid_batch_costs_no_row_and_no_point(graded_samples, tmp_path):
    assignment, _, _, jobs_out = graded_samples["00_vectorization"]
    with cluster_with_a_killer(times=1) as (address, killed):
        results = grade_batch(assignment, assignment.samples_dir, tmp_path / "out", seed=DEMO_SEED,
                              progress=False, cluster=address)
    assert killed, "no worker was grading when the test looked"
    got = rows(tmp_path / "out")
    assert sorted(r["student"] for r in got) == sorted({r.student for r in results})  # one row each
    assert got == rows(jobs_out)  # the scores each gets alone


def test_a_submission_whose_grading_two_workers_died_on_gets_a_row_saying_so(tmp_path):
    from autograder.course import get_assignment
    assignment = get_assignment(ROOT, "00_vectorization")
    subs = tmp_path / "subs" / "correct"
    shutil.copytree(assignment.samples_dir / "correct", subs)
    with cluster_with_a_killer(times=2) as (address, killed):
        grade_batch(assignment, tmp_path / "subs", tmp_path / "out", seed=DEMO_SEED, progress=False, cluster=address)
    assert len(killed) == 2 and all(keys for _, keys in killed)
    (row,) = rows(tmp_path / "out")
    assert row["score"] == "0" and row["status"] == "error"
    assert "2 grading workers died while grading it" in row["reason"], row["reason"]
    assert all(row[gid] == "0" for gid in row if gid.startswith("test_"))
