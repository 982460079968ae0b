"""Start a grading kernel inside a sandbox: ``python -m autograder.grading.sandbox [options] -- KERNEL_CMD``.

:class:`autograder.grading.kernel.SandboxedKernelManager` puts this launcher in front of the
kernel's command. It runs between fork and the kernel, sets the walls up, then ``exec``s the
kernel. Standard library only, so it starts in milliseconds.

Always (any Linux, any user):
    * a new session, so the grader can kill every process the kernel started;
    * resource limits: address space (memory bomb), processes (fork bomb), largest file written
      (disk filler), no core dumps;
    * its own scratch folder as working directory and ``HOME``.

When started as root (a grading server, a container, Gradescope), also:
    * a private mount namespace in which the course's instructor files (``source/``,
      ``solutions/``, tests, git history), the grading workspace (gradebook, other students'
      submissions) and the output folder are hidden under empty read-only mounts;
    * a private network namespace with no interfaces up: no network at all (the grader talks to
      the kernel over Unix sockets in the scratch folder);
    * an unprivileged user id of its own, so that file permissions, the process limit and the
      grader's clean-up all apply to the kernel and everything it starts.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import resource
import stat
import sys
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 0x4000, 1 << 18
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                       ctypes.c_ulong(flags), data and data.encode()), f"mount {target}")


def _others_can_enter(folder: Path) -> bool:
    return bool(folder.stat().st_mode & stat.S_IXOTH)


def _bind_back(fd: int, target: Path) -> None:
    """Mount the file or folder held open as ``fd`` (taken before a tmpfs covered it) at ``target``."""
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        target.mkdir()
    else:
        target.touch()
    _mount(f"/proc/self/fd/{fd}", str(target), None, MS_BIND | MS_REC)


def make_reachable(path: Path) -> None:
    """Let an unprivileged user walk down to ``path`` (the Python install, the kit's package).

    A course cloned into ``mktemp -d`` sits under a folder only root may enter. Rather than
    change that folder, cover it (in this mount namespace only) with an open tmpfs that holds
    nothing but a bind mount of the one entry on the way to ``path``.
    """
    parts = Path(path).resolve().parts
    for depth in range(1, len(parts)):
        folder, child = Path(*parts[:depth]), parts[depth]
        if _others_can_enter(folder):
            continue
        fd = os.open(folder / child, os.O_PATH)
        try:
            _mount("tmpfs", str(folder), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
            target = folder / child
            _bind_back(fd, target)
        finally:
            os.close(fd)


def hide(path: Path) -> None:
    """Cover ``path`` with an empty read-only folder (or ``/dev/null`` for a file)."""
    if path.is_dir():
        _mount("tmpfs", str(path), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0555")
    elif path.exists():
        _mount("/dev/null", str(path), None, MS_BIND)


def private_tmp(keep: list[Path]) -> None:
    """Give the kernel fresh, empty /tmp, /var/tmp and /dev/shm, keeping only the entries of /tmp
    that ``keep`` lies in (its scratch folder; the course itself when it was cloned into /tmp).
    Other users' files in /tmp (other graders' copies, anyone's downloads) are gone from view."""
    kept = {}
    for path in keep:
        path = path.resolve()
        if path.parts[:2] == ("/", "tmp") and len(path.parts) > 2:
            top = Path("/tmp", path.parts[2])
            if top not in kept:
                kept[top] = os.open(top, os.O_PATH)
    try:
        for shared in ("/var/tmp", "/dev/shm"):
            if os.path.isdir(shared):
                _mount("tmpfs", shared, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
        _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
        for top, fd in kept.items():
            _bind_back(fd, top)
    finally:
        for fd in kept.values():
            os.close(fd)


def isolate(hidden: list[Path], reachable: list[Path], scratch: Path) -> None:
    """New mount and network namespaces; a private /tmp; the reachable paths opened up, the hidden
    ones covered."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below leaks back to the grader
    private_tmp([*reachable, scratch])
    for path in reachable:
        make_reachable(path)
    keep = [p.resolve() for p in reachable]
    for path in hidden:
        path = path.resolve()
        if any(k == path or path in k.parents for k in keep):
            continue  # never hide the Python install or the kit itself
        hide(path)


def become(uid: int) -> None:
    """Drop to ``uid`` (and the same gid) with no supplementary groups."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def pids_of_user(uid: int) -> list[int]:
    """Every running process of ``uid`` (the grader kills a kernel's leftovers with it)."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.stat(entry.path).st_uid == uid:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def apply_limits(memory_mb: int, max_processes: int, file_mb: int) -> None:
    def set_limit(kind: int, value: int) -> None:
        hard = resource.getrlimit(kind)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))

    set_limit(resource.RLIMIT_AS, memory_mb * 2**20)
    set_limit(resource.RLIMIT_FSIZE, file_mb * 2**20)
    set_limit(resource.RLIMIT_CORE, 0)
    # RLIMIT_NPROC counts every process of the user; for a shared uid, allow what already runs.
    uid = os.getuid()
    if uid != 0:
        set_limit(resource.RLIMIT_NPROC, max_processes + (len(pids_of_user(uid)) if uid < 60000 else 0))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m autograder.grading.sandbox")
    parser.add_argument("--scratch", type=Path, required=True)
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--max-processes", type=int, required=True)
    parser.add_argument("--file-mb", type=int, required=True)
    parser.add_argument("--uid", type=int, default=None, help="run as this user id (needs root)")
    parser.add_argument("--hide", type=Path, action="append", default=[])
    parser.add_argument("--reach", type=Path, action="append", default=[])
    parser.add_argument("--connection-file", type=Path, default=None,
                        help="copy this connection file into the scratch folder (the kernel's user cannot read the original)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no kernel command after --")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if os.getsid(0) != os.getpid():  # jupyter_client usually started us as a session leader already
        os.setsid()
    home = args.scratch / "home"
    command = list(args.command)
    if args.connection_file is not None:
        private = args.scratch / "connection.json"
        private.write_bytes(args.connection_file.read_bytes())
        command = [str(private) if part == str(args.connection_file) else part for part in command]
    if args.uid is not None:
        isolate(args.hide, args.reach, args.scratch)
        for folder in (args.scratch, home):
            os.chown(folder, args.uid, args.uid)
        if args.connection_file is not None:
            os.chown(private, args.uid, args.uid)
        become(args.uid)
    # The kernel's own stdout/stderr (not cell output) go to a log in its folder, never to the
    # TA's terminal: a flood of os.write(2, ...) must not bury the progress bar.
    log = os.open(home / "kernel.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    apply_limits(args.memory_mb, args.max_processes, args.file_mb)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    os.environ.update(HOME=str(home), TMPDIR=str(home), MPLCONFIGDIR=str(home / ".matplotlib"),
                      IPYTHONDIR=str(home / ".ipython"))
    os.chdir(home)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
