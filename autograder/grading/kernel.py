"""The kernel manager nbgrader uses to run a submission: every kernel starts inside the sandbox.

nbclient builds a kernel manager from the grading config; this one puts
``python -m autograder.grading.sandbox`` in front of the kernel command (see that module for
the walls), gives each kernel a scratch folder, and, after the kernel stops, kills whatever it
left running and removes the folder.

As root, each kernel also gets a user id of its own and no network, so the grader talks to it
over Unix sockets in its scratch folder instead of TCP.
"""
from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Int, List, Unicode

from ..seeds import SEED_ENV
from .limits import Limits
from .sandbox import pids_of_user

_DEFAULTS = Limits()

# Each sandboxed kernel gets a user id drawn from here, one no account on the machine uses.
PRIVATE_UIDS = range(100000, 900000)


def isolation_available() -> bool:
    """Namespaces and a user id of its own need root (a grading server, a container)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def kit_paths() -> list[Path]:
    """What the kernel must be able to read: the Python install and the kit's own package."""
    import autograder
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent,
             Path(autograder.__file__).resolve().parent}
    return sorted(paths)


def _matplotlib_font_cache() -> list[Path]:
    """matplotlib's font list, so a fresh kernel HOME does not rebuild it (seconds, and a stderr line)."""
    folders = [os.environ.get("MPLCONFIGDIR"), Path.home() / ".cache" / "matplotlib",
               Path.home() / ".matplotlib"]
    found = []
    for folder in filter(None, folders):
        found += [Path(p) for p in glob.glob(str(Path(folder) / "fontlist-*.json"))]
    return found


class SandboxedKernelManager(AsyncKernelManager):
    memory_mb = Int(_DEFAULTS.memory_mb, help="address-space limit of the kernel").tag(config=True)
    max_processes = Int(_DEFAULTS.max_processes, help="processes and threads the kernel may run").tag(config=True)
    file_mb = Int(_DEFAULTS.file_mb, help="largest file the kernel may write").tag(config=True)
    hidden_paths = List(Unicode(), help="folders and files the kernel must not see").tag(config=True)
    isolate = Bool(True, help="use namespaces and a private user id where running as root").tag(config=True)

    scratch: Path | None = None
    sandbox_uid: int | None = None

    async def _async_pre_start_kernel(self, **kw):
        self.scratch = Path(tempfile.mkdtemp(prefix="agk-", dir="/tmp"))
        (self.scratch / "home" / ".matplotlib").mkdir(parents=True)
        for cache in _matplotlib_font_cache():
            shutil.copy2(cache, self.scratch / "home" / ".matplotlib" / cache.name)
        if self.isolate and isolation_available():
            self.sandbox_uid = PRIVATE_UIDS.start + secrets.randbelow(len(PRIVATE_UIDS))
            os.chmod(self.scratch, 0o711)
            # No network inside: the channels are Unix sockets the kernel creates in its folder.
            self.transport = "ipc"
            self.ip = str(self.scratch / "home" / "k")
        # Requests from checks that run outside the kernel: the kernel may read them, not write here.
        (self.scratch / "requests").mkdir(mode=0o755)
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        kw.get("env", {}).pop(SEED_ENV, None)  # the hidden seed stays with the grader
        return kernel_cmd, kw

    def format_kernel_cmd(self, extra_arguments=None):
        kernel_cmd = super().format_kernel_cmd(extra_arguments)
        launcher = [sys.executable, "-m", "autograder.grading.sandbox", "--scratch", str(self.scratch),
                    "--memory-mb", str(self.memory_mb), "--max-processes", str(self.max_processes),
                    "--file-mb", str(self.file_mb)]
        if self.sandbox_uid is not None:
            launcher += ["--uid", str(self.sandbox_uid),
                         "--connection-file", os.path.realpath(self.connection_file)]
            launcher += [arg for p in self.hidden_paths for arg in ("--hide", p)]
            launcher += [arg for p in kit_paths() for arg in ("--reach", str(p))]
        return launcher + ["--"] + kernel_cmd

    def kernel_exit_status(self) -> int | None:
        """The kernel process's exit code (negative: killed by that signal), once it has ended."""
        process = getattr(self.provisioner, "process", None)
        return None if process is None else process.poll()

    def kill_leftovers(self) -> None:
        """Kill everything the kernel started: all processes of its user id, or its process group."""
        if self.sandbox_uid is not None:
            for pid in pids_of_user(self.sandbox_uid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            return
        process = getattr(self.provisioner, "process", None)
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the launcher made the kernel a session leader
            except OSError:
                pass

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        self.kill_leftovers()
        await super()._async_cleanup_resources(restart=restart)
        if self.scratch is not None and not restart:
            shutil.rmtree(self.scratch, ignore_errors=True)
