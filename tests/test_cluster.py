"""Grading on a Dask cluster (grading/cluster.py): the same grades as --jobs, and a worker that
dies mid-batch costs nobody a row or a point."""
from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import signal
import threading
import time

import pytest

from autograder.grading.batch import grade_batch

from .conftest import DEMO_SEED, ROOT, free_port, wait_until_serving

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


KILLED_BATCH = ("correct", "wrong_result", "loop_in_torch", "stub")  # each scores differently


def test_a_worker_killed_mid_batch_costs_no_row_and_no_point(graded_samples, tmp_path):
    assignment, _, _, jobs_out = graded_samples["00_vectorization"]
    for student in KILLED_BATCH:
        shutil.copytree(assignment.samples_dir / student, tmp_path / "subs" / student)
    with cluster_with_a_killer(times=1) as (address, killed):
        grade_batch(assignment, tmp_path / "subs", tmp_path / "out", seed=DEMO_SEED, progress=False, cluster=address)
    assert killed, "no worker was grading when the test looked"
    got = rows(tmp_path / "out")
    assert sorted(r["student"] for r in got) == sorted(KILLED_BATCH)  # one row each
    assert got == [r for r in rows(jobs_out) if r["student"] in KILLED_BATCH]  # the scores each gets alone


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


@pytest.fixture
def dask_gateway(tmp_path):
    """A Dask Gateway server on this machine (the local backend: schedulers and workers as this
    user's processes), and Dask's configuration pointing at it as a JupyterHub would."""
    pytest.importorskip("dask_gateway", reason="gateway:N needs the Dask Gateway client ([cluster] extra)")
    pytest.importorskip("dask_gateway_server", reason="this test needs dask-gateway-server (make test installs it)")
    import subprocess
    import sys

    import dask
    port = free_port()
    python = sys.executable
    (tmp_path / "gateway_config.py").write_text(
        f"c.Proxy.address = '127.0.0.1:{port}'\n"
        "c.DaskGateway.backend_class = 'dask_gateway_server.backends.local.UnsafeLocalBackend'\n"
        f"c.ClusterConfig.scheduler_cmd = [{python!r}, '-m', 'distributed.cli.dask_scheduler']\n"
        f"c.ClusterConfig.worker_cmd = [{python!r}, '-m', 'distributed.cli.dask_worker']\n"
        "c.ClusterConfig.worker_cores = 1\n"
        "c.ClusterConfig.worker_memory = '4 G'\n")
    log = (tmp_path / "gateway.log").open("w")
    server = subprocess.Popen([python, "-m", "dask_gateway_server", "-f", str(tmp_path / "gateway_config.py")],
                              cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/api/health", server, 60, "the Dask Gateway server",
                           lambda: (tmp_path / "gateway.log").read_text()[-2000:])
        with dask.config.set({"gateway.address": f"http://127.0.0.1:{port}", "gateway.auth.type": "basic"}):
            yield server
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_a_dask_gateway_cluster_grades_each_sample_as_its_spec_says_and_is_shut_down(dask_gateway, tmp_path):
    from dask_gateway import Gateway

    from autograder.course import get_assignment
    from autograder.samples import load_specs
    assignment = get_assignment(ROOT, "00_vectorization")
    specs = {s.student: s for s in load_specs(assignment) if s.student in ("correct", "wrong_result")}
    for student in specs:
        shutil.copytree(assignment.samples_dir / student, tmp_path / "subs" / student)
    results = grade_batch(assignment, tmp_path / "subs", tmp_path / "out", seed=DEMO_SEED, progress=False,
                          cluster="gateway:2")
    assert sorted(r.student for r in results) == sorted(specs)
    for result in results:
        assert not result.reason, result.reason
        max_points = {c.grade_id: c.max_score for c in result.cells}
        assert result.cell_scores() == specs[result.student].expected_cell_scores(max_points), result.student
    with Gateway() as gateway:
        assert gateway.list_clusters() == []  # the batch's cluster ended with it


@pytest.mark.parametrize("address, says", [
    ("gateway:2", "DASK_GATEWAY__ADDRESS"),
    ("local:0", "at least one worker"),
    ("scheduler:8786", "expected a scheduler address (tcp://host:8786), gateway:N or local:N"),
    ("gateway://traefik-dask-gateway:80/abc123", "use gateway:N"),
])
def test_an_address_that_cannot_be_used_is_refused_before_anything_is_graded(address, says, tmp_path):
    import dask

    from autograder.course import get_assignment
    from autograder.grading.cluster import ClusterError
    assignment = get_assignment(ROOT, "00_vectorization")
    with dask.config.set({"gateway.address": None}), pytest.raises(ClusterError, match=re.escape(says)):
        grade_batch(assignment, assignment.samples_dir, tmp_path / "out", seed=DEMO_SEED, progress=False,
                    cluster=address)
    assert not (tmp_path / "out").exists()
