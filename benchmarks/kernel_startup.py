"""Kernel start-up cost per notebook: today's launcher against the ctypes launcher it replaced.

    .venv/bin/python benchmarks/kernel_startup.py [-n 10]

Times, for each launcher in turn (interleaved, so machine load hits all alike), from the kernel
manager's start request to the kernel answering kernel_info (``wait_for_ready``), and prints the
median, min and max of N starts:

    bwrap      today's launcher with the strongest isolation this host allows (what grading uses)
    limits     today's launcher with resource limits only (no namespaces, no uid)
    ctypes     the previous launcher (mount and network namespaces by hand, own uid), taken from
               git history; needs root with CAP_SYS_ADMIN, as it did

It also prints what the isolation probe costs, once per grading process.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def previous_launcher(folder: Path) -> Path | None:
    """The ctypes sandbox.py from the commit before it was replaced, written into ``folder``."""
    replaced = subprocess.run(["git", "log", "-1", "--format=%H", "-G", "_libc.unshare", "--",
                               "autograder/grading/sandbox.py"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    if not replaced:
        return None
    text = subprocess.run(["git", "show", f"{replaced}^:autograder/grading/sandbox.py"], cwd=ROOT,
                          capture_output=True, text=True).stdout
    if "_libc.unshare" not in text:
        return None
    path = folder / "ctypes_sandbox.py"
    path.write_text(text)
    return path


def managers(old_launcher: Path | None):
    from jupyter_client.manager import AsyncKernelManager

    from autograder.grading.isolation import fresh_uid, make_scratch
    from autograder.grading.kernel import SandboxedKernelManager, _matplotlib_font_cache
    from autograder.grading.sandbox import pids_of_user
    from autograder.grading.view import kit_paths
    from autograder.grading.workspace import course_private_paths

    class CtypesLauncherKernelManager(AsyncKernelManager):
        """The previous kernel manager's start, as it was (root: own uid, namespaces, ipc)."""

        async def _async_pre_start_kernel(self, **kw):
            self.uid = fresh_uid()
            self.scratch = make_scratch(None)
            os.chmod(self.scratch / "home", 0o755)
            (self.scratch / "home" / ".matplotlib").mkdir()
            for cache in _matplotlib_font_cache():
                shutil.copy2(cache, self.scratch / "home" / ".matplotlib" / cache.name)
            self.transport, self.ip = "ipc", str(self.scratch / "home" / "k")
            return await super()._async_pre_start_kernel(**kw)

        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            launcher = [sys.executable, str(old_launcher), "--scratch", str(self.scratch), "--memory-mb", "4096",
                        "--max-processes", "512", "--file-mb", "256", "--uid", str(self.uid),
                        "--connection-file", os.path.realpath(self.connection_file)]
            launcher += [a for p in course_private_paths(ROOT) for a in ("--hide", str(p))]
            launcher += [a for p in kit_paths() for a in ("--reach", str(p))]
            return launcher + ["--"] + cmd

        async def _async_cleanup_resources(self, restart=False):
            for pid in pids_of_user(self.uid):
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            await super()._async_cleanup_resources(restart=restart)
            shutil.rmtree(self.scratch, ignore_errors=True)

        cleanup_resources = _async_cleanup_resources

    found = {"bwrap": lambda: SandboxedKernelManager(), "limits": lambda: SandboxedKernelManager(isolate=False)}
    if old_launcher is not None:
        found["ctypes"] = CtypesLauncherKernelManager
    return found


async def time_start(make) -> float:
    km = make()
    started = time.perf_counter()
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=120)
        return time.perf_counter() - started
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=10, help="starts per launcher (default 10)")
    args = parser.parse_args()
    from autograder.grading.isolation import probe
    started = time.perf_counter()
    isolation = probe()
    print(f"probe: {1000 * (time.perf_counter() - started):.0f} ms once per process; {isolation.describe()}")
    with tempfile.TemporaryDirectory() as tmp:
        old = previous_launcher(Path(tmp)) if os.geteuid() == 0 else None
        found = managers(old)
        if old is None:
            print("ctypes: not measured (needs root and the launcher in git history)")
        times = {name: [] for name in found}
        for _ in range(args.n):
            for name, make in found.items():
                times[name].append(asyncio.run(time_start(make)))
    print(f"\nkernel start request to kernel_info reply, {args.n} starts each, interleaved:")
    print("| launcher | median s | min s | max s |\n|---|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
