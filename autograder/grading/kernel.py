"""The kernel manager nbgrader uses to run a submission: every kernel starts inside the sandbox.

nbclient builds a kernel manager from the grading config; this one puts
``python -m autograder.grading.sandbox`` (and, with the namespaces layer, ``bwrap``) in front of
the kernel command, gives each kernel a scratch folder, and, after the kernel stops, kills
whatever it left running and removes the folder. Which layers apply is decided once per process
by :func:`.isolation.probe`.

With the namespaces or the uid layer the grader talks to the kernel over Unix sockets in its
scratch folder instead of TCP (inside the sandbox there is no network at all).
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import sys
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Int, Unicode

from ..seeds import SEED_ENV
from .isolation import LIMITS_ONLY, PRIVATE_UIDS, Isolation, command_for, fresh_uid, make_scratch, probe
from .limits import Limits
from .processes import address_space_mb, family, kill_strays
from .sandbox import pids_of_user
from .view import kit_paths

__all__ = ["PRIVATE_UIDS", "SandboxedKernelManager", "kit_paths", "isolation_in_force"]

_DEFAULTS = Limits()


def isolation_in_force() -> Isolation:
    """What kernels started by this process get (the probe, run once per process)."""
    return probe()


def _matplotlib_font_cache() -> list[Path]:
    """matplotlib's font list, so a fresh kernel HOME does not rebuild it (seconds, and a stderr line)."""
    folders = [os.environ.get("MPLCONFIGDIR"), Path.home() / ".cache" / "matplotlib",
               Path.home() / ".matplotlib"]
    found = []
    for folder in filter(None, folders):
        found += [Path(p) for p in glob.glob(str(Path(folder) / "fontlist-*.json"))]
    return found


def _log_tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(kept[-lines:])[:600]


def _signal_only_while_unreaped(provisioner) -> None:
    """jupyter_client signals a kernel's process group by the number it noted at launch (SIGINT at
    every shutdown, SIGTERM and SIGKILL after). Once the launcher has died and been reaped, that
    number is free, and once the machine's pids wrap around it can be the group of another
    student's new kernel, which would die of this one's shutdown. An unreaped launcher holds its
    number, so the signal is sent only while it is."""
    unguarded = getattr(provisioner, "send_signal", None)
    if unguarded is None:
        return

    async def send_signal(signum: int) -> None:
        process = getattr(provisioner, "process", None)
        if process is not None and process.poll() is not None:
            return
        await unguarded(signum)

    provisioner.send_signal = send_signal


class SandboxedKernelManager(AsyncKernelManager):
    memory_mb = Int(_DEFAULTS.memory_mb, help="address-space limit of the kernel").tag(config=True)
    max_processes = Int(_DEFAULTS.max_processes, help="processes and threads the kernel may run").tag(config=True)
    file_mb = Int(_DEFAULTS.file_mb, help="largest file the kernel may write").tag(config=True)
    isolate = Bool(True, help="use the strongest isolation the host allows (False: resource limits only)").tag(config=True)
    minimum_isolation = Unicode("limits", help="refuse to start a kernel below this layer").tag(config=True)
    minimum_source = Unicode("course.toml", help="where the minimum was set (for the refusal message)").tag(config=True)

    scratch: Path | None = None
    sandbox_uid: int | None = None
    isolation: Isolation | None = None
    start_log: str = ""  # the end of kernel.log, kept when the kernel is cleaned up
    ready_processes: frozenset[int] = frozenset()  # the launcher, bwrap and the kernel, once it answered

    async def _async_pre_start_kernel(self, **kw):
        self.isolation = probe() if self.isolate else LIMITS_ONLY
        self.isolation.require(self.minimum_isolation, self.minimum_source)
        self.sandbox_uid = fresh_uid() if self.isolation.uses_uid else None
        # The launcher gives home/ to the kernel's uid; requests/ stays the grader's.
        self.scratch = make_scratch(self.sandbox_uid)
        (self.scratch / "home" / ".matplotlib").mkdir()
        for cache in _matplotlib_font_cache():
            shutil.copy2(cache, self.scratch / "home" / ".matplotlib" / cache.name)
        if self.isolation.launch != "plain":
            # No network inside: the channels are Unix sockets the kernel creates in its folder.
            self.transport = "ipc"
            self.ip = str(self.scratch / "home" / "k")
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        kw.get("env", {}).pop(SEED_ENV, None)  # the hidden seed stays with the grader
        _signal_only_while_unreaped(self.provisioner)
        return kernel_cmd, kw

    def format_kernel_cmd(self, extra_arguments=None):
        kernel_cmd = super().format_kernel_cmd(extra_arguments)
        launch = self.isolation.launch
        launcher = [sys.executable, "-m", "autograder.grading.sandbox", "--scratch", str(self.scratch),
                    "--memory-mb", str(self.memory_mb), "--max-processes", str(self.max_processes),
                    "--file-mb", str(self.file_mb)]
        command, become = command_for(launch, self.scratch, self.sandbox_uid, kernel_cmd)
        if self.sandbox_uid is not None:
            launcher += ["--owner", str(self.sandbox_uid)]
        if become is not None:
            launcher += ["--become", str(become)]
        if self.isolation.uses_namespaces:
            launcher += ["--namespaces"]
        if launch != "plain":  # the kernel's user, or its view, cannot read the original
            launcher += ["--connection-file", os.path.realpath(self.connection_file)]
        return launcher + ["--"] + command

    def kernel_exit_status(self) -> int | None:
        """The kernel process's exit code (negative: killed by that signal), once it has ended."""
        process = getattr(self.provisioner, "process", None)
        status = None if process is None else process.poll()
        if status is not None and status > 128 and self.isolation is not None and self.isolation.uses_namespaces:
            return 128 - status  # bwrap reports a kernel killed by signal N as 128 + N
        return status

    def _launcher_pid(self) -> int | None:
        process = getattr(self.provisioner, "process", None)
        return None if process is None or process.poll() is not None else process.pid

    def remember_ready_processes(self) -> None:
        """Note the processes that make up the kernel once it is ready; anything later is a cell's."""
        launcher = self._launcher_pid()
        self.ready_processes = frozenset(() if launcher is None else family(launcher, self.sandbox_uid))

    def address_space_mb(self) -> float | None:
        """The largest address space among the kernel's own processes, in MiB (the memory limit
        applies to each); None when none is running."""
        sizes = [size for pid in getattr(self, "ready_processes", ()) if (size := address_space_mb(pid)) is not None]
        return max(sizes, default=None)

    def kill_strays(self) -> int:
        """Kill the processes a cell left running (see :mod:`.processes`); returns how many."""
        launcher = self._launcher_pid()
        if launcher is None or not self.ready_processes:
            return 0
        return kill_strays(launcher, self.ready_processes, self.sandbox_uid)

    def kill_leftovers(self) -> None:
        """Kill everything the kernel started: all processes of its user id, and its process group
        (the launcher made it a session leader; bwrap's --die-with-parent and the end of its PID
        namespace take the rest)."""
        if self.sandbox_uid is not None:
            for pid in pids_of_user(self.sandbox_uid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        launcher = self._launcher_pid()
        if launcher is not None:
            try:
                os.killpg(launcher, signal.SIGKILL)
            except OSError:
                pass

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        self.kill_leftovers()
        await super()._async_cleanup_resources(restart=restart)
        if self.scratch is not None and not restart:
            self.start_log = _log_tail(self.scratch / "home" / "kernel.log") or self.start_log
            shutil.rmtree(self.scratch, ignore_errors=True)

    # jupyter_client binds the public name to its own coroutine; nbclient calls it after a failed start.
    cleanup_resources = _async_cleanup_resources
