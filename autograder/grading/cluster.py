"""``autograder grade ... --cluster ADDRESS``: the same grading, on the workers of a Dask cluster.

``ADDRESS`` is one of:

- a scheduler's address (``tcp://host:8786``), for a cluster started with dask-jobqueue,
  dask-kubernetes or ``dask scheduler`` by hand;
- ``gateway:N``, a new cluster of N workers from Dask Gateway, found and authenticated as Dask's
  configuration says (on a JupyterHub with Dask Gateway, the hub sets it), shut down at the end;
- ``local:N``, a ``LocalCluster`` of N worker processes on this machine.

What crosses to the workers, and what comes back:

- once per worker, a plugin (:class:`CourseOnWorker`) carrying one archive: the course's
  ``course.toml``, the assignment's ``source/<a>/`` (instructor notebook, grading module,
  catalogue) and the generated nbgrader workspace (released notebook, gradebook copy of the
  tests). Workers need no shared filesystem; the scheduler hands the plugin to workers that join
  (or are restarted) later too;
- per submission, its bytes; back come the result as plain data and the autograded notebook.

On the worker, :func:`.engine.grade_one` grades it exactly as ``--jobs`` does, in a sandboxed
kernel on the worker's host. The parent alone writes the gradebook and the reports. A worker that
dies takes its submission with it; the scheduler grades it again elsewhere, and a submission whose
grading killed as many workers as the scheduler allows (:data:`WORKER_DEATHS_ALLOWED` on ``local:N``)
gets its row with that reason.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
import tarfile
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

from ..course import Assignment
from .engine import grade_one, ungraded
from .intake import Submission
from .limits import COURSE_FILE
from .results import CellResult, StudentResult
from .workspace import GradingWorkspace, quiet_gradebook_warnings

# On the kit's own schedulers, a submission may take down this many workers before it gets a row saying so.
WORKER_DEATHS_ALLOWED = 2
_LOCAL = re.compile(r"local:(\d+)")
_GATEWAY = re.compile(r"gateway:(\d+)")
FORMS = "a scheduler address (tcp://host:8786), gateway:N or local:N"


class ClusterError(RuntimeError):
    """The cluster address is not one we can use (the message says which forms are)."""


def check_address(address: str) -> None:
    """Refuse, before anything is graded, an ``address`` that :func:`connect` could not use.

    Raises:
        ClusterError: the message names the address, what is wrong and the way out.
    """
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ClusterError("grading on a cluster needs Dask: pip install 'distributed'") from exc
    gateway = _GATEWAY.fullmatch(address)
    size = _LOCAL.fullmatch(address) or gateway
    if size and int(size.group(1)) < 1:
        raise ClusterError(f"--cluster {address}: a cluster needs at least one worker")
    if not size and "://" not in address:
        raise ClusterError(f"--cluster {address!r}: expected {FORMS}")
    if address.startswith("gateway://"):
        raise ClusterError(f"--cluster {address}: a Dask Gateway cluster's own address needs that cluster's TLS "
                           "credentials; use gateway:N, which asks the gateway for a cluster of N workers")
    if gateway:
        try:
            import dask_gateway  # noqa: F401
        except ImportError as exc:
            raise ClusterError(f"--cluster {address} needs the Dask Gateway client: pip install dask-gateway") from exc
        import dask
        if not dask.config.get("gateway.address", None):
            raise ClusterError(f"--cluster {address}: Dask's configuration names no gateway (gateway.address); on a "
                               "JupyterHub with Dask Gateway the hub sets it, elsewhere set DASK_GATEWAY__ADDRESS")


@contextlib.contextmanager
def connect(address: str):
    """A ``distributed.Client`` for ``address``; a ``local:N`` or ``gateway:N`` cluster ends with the block."""
    check_address(address)
    import dask
    from distributed import Client, LocalCluster
    # allowed-failures counts the deaths after the first (a scheduler started elsewhere has its own).
    with dask.config.set({"distributed.scheduler.allowed-failures": WORKER_DEATHS_ALLOWED - 1}):
        if local := _LOCAL.fullmatch(address):
            with LocalCluster(n_workers=int(local.group(1)), threads_per_worker=1, processes=True,
                              dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
                    Client(cluster) as client:
                yield client
        elif gateway := _GATEWAY.fullmatch(address):
            with gateway_cluster(int(gateway.group(1))) as cluster, cluster.get_client(set_as_default=False) as client:
                yield client
        else:
            with Client(address) as client:
                yield client


@contextlib.contextmanager
def gateway_cluster(workers: int):
    """A new Dask Gateway cluster of ``workers`` workers, shut down when the block ends (even on
    Ctrl-C: a cluster left running holds the course's allocation)."""
    from dask_gateway import GatewayCluster
    with GatewayCluster(shutdown_on_close=True) as cluster:
        cluster.scale(workers)
        yield cluster


def deaths_allowed(client) -> int | None:
    """How many workers may die grading one task before the scheduler gives it up: its
    ``allowed-failures`` plus the first death (a scheduler started elsewhere has its own
    setting); None if the scheduler will not say."""
    def allowed(dask_scheduler=None) -> int:
        return int(dask_scheduler.allowed_failures)
    try:
        return client.run_on_scheduler(allowed) + 1
    except Exception:  # noqa: BLE001 - a scheduler that runs no code of ours: the reason gives no number
        return None


def course_archive(base: GradingWorkspace) -> bytes:
    """What a worker needs to grade ``base``'s assignment, as one ``.tar.gz``."""
    assignment = base.assignment
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        course_file = Path(assignment.root) / COURSE_FILE
        if course_file.is_file():
            tar.add(course_file, arcname=f"course/{COURSE_FILE}")
        tar.add(assignment.source_notebook.parent, arcname=f"course/source/{assignment.name}",
                filter=lambda info: None if "__pycache__" in info.name or ".ipynb_checkpoints" in info.name else info)
        for part in ("source", "release", "gradebook.db"):
            tar.add(base.path / part, arcname=f"workspace/{part}")
    return buffer.getvalue()


_workspaces: dict[str, GradingWorkspace] = {}
_one_at_a_time = threading.Lock()  # nbgrader and the kernel environment are per process


def _plugin_class():
    from distributed.diagnostics.plugin import WorkerPlugin

    class CourseOnWorker(WorkerPlugin):
        """Carries the course archive to each worker (defined here, so that Dask is imported only
        for cluster grading; its ``setup`` calls :func:`open_course` by reference)."""

        def __init__(self, archive: bytes, assignment: str, notebook: str):
            self.archive, self.assignment, self.notebook = archive, assignment, notebook
            self.digest = hashlib.sha256(archive).hexdigest()[:16]
            self.name = f"autograder-course-{self.digest}"

        def setup(self, worker) -> None:
            open_course(self.archive, self.digest, self.assignment, self.notebook, Path(worker.local_directory))

    return CourseOnWorker


def open_course(archive: bytes, digest: str, assignment: str, notebook: str, local_directory: Path) -> None:
    """Unpack ``archive`` into a folder of ``local_directory`` and open its workspace for grading."""
    quiet_gradebook_warnings()
    folder = Path(tempfile.mkdtemp(prefix=f"course-{digest}-", dir=local_directory))
    folder.chmod(0o700)  # the instructor's files: no other user on the worker's host
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")
    _workspaces[digest] = GradingWorkspace(Assignment(folder / "course", assignment, notebook),
                                           folder / "workspace", fresh=False)


def grade_on_worker(digest: str, student: str, data: bytes | None, filename: str, problem: str, note: str,
                    seed: int) -> tuple[dict, bytes | None]:
    """Grade one submission, given as bytes, on this worker: ``(result as a dict, autograded notebook)``."""
    with _one_at_a_time:
        ws = _workspaces[digest]
        path = None
        if data is not None:
            path = ws.path / "incoming" / student / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        result = grade_one(ws, Submission(student, path, problem, note), seed)
        autograded = ws.autograded_notebook(student)
        return asdict(result), (autograded.read_bytes() if autograded.is_file() else None)


def _result_from(data: dict, worker_path: str, original: str) -> StudentResult:
    """The worker's result, with the path the TA knows in place of the worker's copy."""
    def here(text: str) -> str:
        return text.replace(worker_path, original) if worker_path else text
    cells = [CellResult(**cell) for cell in data.pop("cells")]
    result = StudentResult(**data, cells=cells)
    result.reason, result.submission = here(result.reason), here(result.submission)
    result.notes = [here(n) for n in result.notes]
    return result


def graded_on_cluster(base: GradingWorkspace, found: list[Submission], seed: int, address: str
                      ) -> Iterator[tuple[StudentResult, Path]]:
    """Yield ``(result, autograded_notebook)`` as the cluster finishes each submission."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    landing = base.path / "workers" / "cluster"
    with connect(address) as client:
        plugin = _plugin_class()(course_archive(base), base.assignment.name, base.assignment.notebook)
        client.register_plugin(plugin)
        deaths = deaths_allowed(client)
        futures = {}
        for submission in found:
            data = submission.path.read_bytes() if submission.path is not None else None
            name = submission.path.name if submission.path is not None else ""
            future = client.submit(grade_on_worker, plugin.digest, submission.student, data, name,
                                   submission.problem, submission.note, seed, pure=False,
                                   key=f"grade-{submission.student}-{plugin.digest}-{seed}")
            futures[future] = submission
        for future in as_completed(futures, loop=client.loop):
            submission = futures[future]
            original = str(submission.path or "")
            try:
                data, autograded = future.result()
            except KilledWorker:
                how_many = f"{deaths} grading workers" if deaths else "grading workers, as many as the scheduler allows,"
                yield ungraded(base, submission, seed, f"{how_many} died while grading it (each time it was given "
                               "to a fresh one), so it was not graded"), Path("/nonexistent")
                continue
            except Exception as exc:  # noqa: BLE001 - one broken worker must not stop the batch
                yield ungraded(base, submission, seed,
                               f"the grading worker failed: {type(exc).__name__}: {exc}"), Path("/nonexistent")
                continue
            worker_path = data.get("submission", "") if submission.path is not None else ""
            result = _result_from(data, worker_path, original)
            target = landing / submission.student / f"{base.assignment.notebook}.ipynb"
            if autograded is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(autograded)
            yield result, (target if autograded is not None else Path("/nonexistent"))

