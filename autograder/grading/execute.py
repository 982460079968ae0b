"""nbgrader's Execute step, hardened: a notebook time limit, a kernel that dies, output without end.

nbgrader's own Execute gives up on the whole notebook when the kernel dies, so a submission
that segfaults in its last cell would score 0 for everything. Here the cells that ran keep
their outputs (and so their points); the cell that killed the kernel, and every cell after it,
get an error output that says why, and score 0.

Test cells do not run in the kernel at all (``checks_outside_kernel``): they run here, in the
grading process, and reach the student's functions through :mod:`.remote`. Student code can
patch anything in its own process; it cannot reach the code that forms the verdict.
"""
from __future__ import annotations

import math
import signal
import textwrap
import time
from typing import Callable

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Int

from .. import seeds
from ..notebooks import is_test_cell
from .channel import Channel, ChannelDead, ChannelTimeout
from .host_cells import error_output, run_test_cell
from .isolation import Isolation, IsolationError
from .kernel import SandboxedKernelManager
from .limits import Limits
from .remote import KernelAbort, RemoteSession

_DEFAULTS = Limits()

# Seconds the last notebook took to run in this process, kernel start to shutdown (the engine
# reads it after nbgrader returns, to tell execution from grading overhead), and the isolation
# its kernel had.
last_execution_seconds = 0.0
last_isolation: Isolation | None = None
# Why the last notebook's kernel never started, when it did not (and not for a refused isolation
# minimum, which another try would not change): nothing of the student's had run, so the engine
# tries once more.
last_start_failure = ""


class KernelStartError(RuntimeError):
    """The student's kernel never started; the message says why (from the launcher's own log)."""


def _start_failure(km, exc: BaseException) -> KernelStartError:
    global last_start_failure
    why = why_the_kernel_did_not_start(km, exc)
    if not isinstance(exc, IsolationError):
        last_start_failure = why
    return KernelStartError(why)


def why_the_kernel_did_not_start(km, exc: BaseException) -> str:
    if isinstance(exc, IsolationError):
        return str(exc)
    log = getattr(km, "start_log", "")
    return f"the grading kernel did not start ({type(exc).__name__}: {exc})" + (f"; its log: {log}" if log else "")


def why_the_kernel_died(status: int | None, memory_mb: int) -> str:
    """A reason a student can act on, from the kernel process's exit status."""
    if status is None:
        return "the kernel stopped responding"
    if status < 0:
        sig = signal.Signals(-status).name if -status in signal.valid_signals() else f"signal {-status}"
        if sig == "SIGKILL":
            return f"the kernel was killed (SIGKILL): most often it ran out of memory (limit {memory_mb} MB)"
        if sig == "SIGSEGV":
            return "the kernel crashed with a segmentation fault (SIGSEGV)"
        if sig == "SIGABRT":
            return "the kernel aborted (SIGABRT)"
        return f"the kernel was stopped by {sig}"
    return f"the kernel exited with status {status} (os._exit or a crash in native code)"


def describe_cell(cell, index: int) -> str:
    """How a note names a cell: its grade_id, or for the student's own cell its first line."""
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    if grade_id:
        return grade_id
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    return f"the cell that begins `{first[:60]}` (cell {index + 1} of the notebook)"


class MemoryState:
    """Which cell left the kernel at its memory limit, so that later failures say so.

    A cell that fills the memory and keeps it (a global that holds it, an error caught) makes
    every later allocation fail: each later ``MemoryError`` is a symptom, and its cell's output
    names the cause, as a crash's does ("in an earlier cell").
    """

    FULL_SHARE = 0.9  # of the limit: a kernel this full fails ordinary allocations

    def __init__(self) -> None:
        self.full_since: str | None = None

    def after(self, cell, index: int, km) -> None:
        used, limit = getattr(km, "address_space_mb", lambda: None)(), getattr(km, "memory_mb", 0)
        if used is None or not limit:
            return
        if used < self.FULL_SHARE * limit:
            self.full_since = None  # freed (or never full): a later MemoryError is its own cell's
            return
        if self.full_since is None:
            self.full_since = describe_cell(cell, index)
            return
        note = (f"This cell ran out of memory because the kernel is still at its memory limit ({used:,.0f} of "
                f"{limit:,} MB) since {self.full_since}: that cell keeps what it allocated. Free it there "
                f"(del the variable) or allocate less there, and this cell can run.")
        for out in cell.outputs:
            if out.get("output_type") == "error" and "MemoryError" in f"{out.get('ename')} {out.get('evalue')}":
                out["evalue"] = f"{out.get('evalue', '')}\n{note}"
                out["traceback"] = list(out.get("traceback", [])) + textwrap.wrap(note, 100)


class GuardedExecute(Execute):
    notebook_timeout = Int(_DEFAULTS.notebook_timeout_s, help="seconds for the whole notebook").tag(config=True)
    max_output_bytes = Int(_DEFAULTS.output_kb * 1024, help="output one cell may keep").tag(config=True)
    checks_outside_kernel = Bool(True, help="run test cells in the grading process, calling into the kernel "
                                            "only for the student's functions").tag(config=True)
    max_reply_mb = Int(_DEFAULTS.file_mb, help="largest reply the kernel may send a check").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = time.monotonic() + self.notebook_timeout
        self._stopped_because = ""
        self._cell_timeout = self.timeout
        self._output_bytes = {}
        self._memory = MemoryState()
        global last_execution_seconds, last_isolation, last_start_failure
        seeds.forget_announcement()  # a worker grades many notebooks: each one's feedback names the seed
        started = time.perf_counter()
        last_isolation, last_start_failure = None, ""
        try:
            return super().preprocess(nb, resources, km)
        finally:
            last_execution_seconds = time.perf_counter() - started

    async def async_start_new_kernel(self, **kwargs):
        km = self.km
        try:
            await super().async_start_new_kernel(**kwargs)
        except Exception as exc:  # noqa: BLE001 - the row must say why, not "see the traceback"
            raise _start_failure(km, exc) from exc
        global last_isolation
        last_isolation = getattr(km, "isolation", None)

    start_new_kernel = run_sync(async_start_new_kernel)

    async def async_start_new_kernel_client(self):
        km = self.km
        try:
            client = await super().async_start_new_kernel_client()
        except Exception as exc:  # noqa: BLE001
            raise _start_failure(km, exc) from exc
        if hasattr(km, "remember_ready_processes"):
            km.remember_ready_processes()
        return client

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        try:
            return self._run_cell(cell, resources, index)
        finally:
            self._memory.after(cell, index, self.km)

    def _run_cell(self, cell, resources, index):
        if self._stopped_because:
            cell.outputs = [error_output("NotRun", f"this cell did not run: {self._stopped_because}")]
            return cell, resources
        remaining = self._deadline - time.monotonic()
        if remaining <= 1:
            self._stopped_because = f"the notebook ran past its time limit of {self.notebook_timeout} s"
            return self._run_cell(cell, resources, index)
        self.timeout = max(1, min(self._cell_timeout, math.floor(remaining)))
        try:
            try:
                if self.checks_outside_kernel and is_test_cell(cell) and getattr(self.km, "scratch", None):
                    return self._run_test_cell_here(cell, index), resources
                return super().preprocess_cell(cell, resources, index)
            finally:
                # A process a cell starts does not outlive it (a fork bomb would starve later cells).
                if hasattr(self.km, "kill_strays"):
                    self.km.kill_strays()
        except DeadKernelError:
            reason = why_the_kernel_died(self.km.kernel_exit_status() if hasattr(self.km, "kernel_exit_status")
                                         else None, getattr(self.km, "memory_mb", 0))
            cell.outputs.append(error_output("KernelDied", f"{reason}, while running this cell"))
            self._stopped_because = f"{reason} in an earlier cell"
            return cell, resources
        except CellTimeoutError:
            # It ran past the limit and ignored the interrupt: later cells would only wait on it.
            if hasattr(self.km, "kill_leftovers"):
                self.km.kill_leftovers()
            cell.outputs.append(error_output(
                "CellTimeoutError", f"this cell ran past {self.timeout} s and ignored the interrupt; the kernel was stopped"))
            self._stopped_because = "an earlier cell ran past its time limit and could not be interrupted"
            return cell, resources

    def _run_test_cell_here(self, cell, index):
        """Run a test cell in this process while the kernel serves the cell's channel: the check
        runs once the kernel has been sent that line (nbclient's ``on_cell_complete`` hook), and
        nbclient then collects the line's end as for any cell."""
        limit = self.timeout
        scratch = self.km.scratch
        alive = getattr(self.km, "kernel_exit_status", lambda: None)
        channel = Channel(scratch / "requests", scratch / "home", deadline=time.monotonic() + limit,
                          alive=lambda: alive() is None)
        exchange = _exchange_or_abort(channel, limit, _interrupter(self.km), grace_s=self.iopub_timeout)
        session = RemoteSession(exchange, scratch / "requests", scratch / "home",
                                max_reply_bytes=self.max_reply_mb * 1024 * 1024, max_printed_chars=self.max_output_bytes)
        line = NotebookNode(cell_type="code", source=channel.kernel_line(), metadata={}, outputs=[],
                            execution_count=None)

        def run_check(**_):
            try:
                cell.outputs = run_test_cell(cell.source, session, execution_count=index)
            except KernelAbort as abort:
                cell.outputs = getattr(abort, "outputs", [])
                if abort.original is not None:
                    raise abort.original  # the kernel is stuck or gone: nbclient must not wait on it
                cell.outputs.append(error_output(abort.ename, abort.evalue))
            finally:
                channel.close()

        self.on_cell_complete = run_check
        try:
            self.execute_cell(line, index, store_history=False)
        finally:
            self.on_cell_complete = None
            self.nb.cells[index] = cell  # nbclient stored the line in this cell's place
        # What reached the kernel's output other than by print (a thread's, a display) comes last.
        at = _before_the_verdict(cell.outputs)
        cell.outputs[at:at] = [o for o in line.outputs if o.output_type == "stream"]
        return cell

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most ``max_output_bytes`` of one cell's output; say where it was cut."""
        used = self._output_bytes.get(cell_index, 0)
        if used > self.max_output_bytes:
            return None
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + sum(len(str(v)) for v in content.get("data", {}).values())
        self._output_bytes[cell_index] = used + size
        if used + size > self.max_output_bytes:
            outs.append(NotebookNode(output_type="stream", name="stdout",
                                     text=f"\n[output cut: this cell printed more than {self.max_output_bytes // 1024} KB]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


def _exchange_or_abort(channel: Channel, limit: int, interrupt: Callable[[], None], grace_s: float):
    """The channel's exchange, its kernel failures turned into :class:`KernelAbort`. At the cell's
    deadline the kernel is interrupted, as nbclient does with a cell: if it answers within
    ``grace_s`` the cell fails and grading goes on; if not, it is stopped."""
    def exchange(token: str, serve_part) -> None:
        try:
            channel.exchange(token, serve_part)
        except ChannelTimeout:
            message = f"this cell ran past its time limit of {limit} s"
            interrupt()
            if channel.answered_after_interrupt(token, grace_s):
                raise KernelAbort("CellTimeoutError", message) from None
            raise KernelAbort("CellTimeoutError", message, CellTimeoutError(message)) from None
        except ChannelDead:
            raise KernelAbort("DeadKernelError", "Kernel died", DeadKernelError("Kernel died")) from None
    return exchange


def _interrupter(km) -> Callable[[], None]:
    """``km.interrupt_kernel()``, callable from nbclient's hook (inside its running event loop)."""
    async def interrupt() -> None:
        await ensure_async(km.interrupt_kernel())
    return run_sync(interrupt)


def _before_the_verdict(outputs: list) -> int:
    """Where streams go in a test cell's outputs: before its trailing result and error."""
    at = len(outputs)
    while at and outputs[at - 1].get("output_type") in ("error", "execute_result"):
        at -= 1
    return at
