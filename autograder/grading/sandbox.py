"""Start a grading kernel: ``python -m autograder.grading.sandbox [options] -- COMMAND``.

:class:`autograder.grading.kernel.SandboxedKernelManager` puts this launcher in front of the
kernel's command; COMMAND is the kernel, or ``bwrap ... -- kernel`` when the namespaces layer is
in force (:mod:`.view` builds that part). The launcher runs between fork and the kernel, sets up
what a process can set up for its children, then ``exec``s COMMAND. Standard library only, so it
starts in milliseconds.

Always:
    * resource limits: address space (memory bomb), processes (fork bomb), largest file written
      (disk filler), no core dumps; and no new privileges through set-user-id programs;
    * its own scratch folder as working directory, ``HOME`` and ``TMPDIR``, and an environment
      reduced to an allow-list (no tokens or paths of the grader's);
    * the kernel's own stdout and stderr go to ``kernel.log`` in that folder.

``--owner UID`` gives the scratch folder to the kernel's user id; ``--become UID`` drops to it
before the exec (``bwrap`` then runs unprivileged, or there is no ``bwrap``). Inside a sandbox
that bwrap started as root, the launcher runs a second time with ``--become`` alone.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import resource
import signal
import sys
from pathlib import Path

PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36

# The environment the kernel keeps from the grader's; HOME, TMPDIR and the rest are set here.
KEEP_ENV = {"PATH", "LANG", "LANGUAGE", "TZ", "USER", "LOGNAME", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "OPENBLAS_NUM_THREADS", "MNIST_DIR", "XDG_CACHE_HOME", "AUTOGRADER_OFFLINE", "PYTHONHASHSEED",
            "PYTHONPATH", "PYTHONWARNINGS", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "JPY_PARENT_PID"}


def become(uid: int) -> None:
    """Drop to ``uid`` (and the same gid) with no supplementary groups."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def tasks_of_user(uid: int) -> int:
    """Threads of ``uid`` now running: RLIMIT_NPROC counts them all, not only the kernel's."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.stat(entry.path).st_uid == uid:
                    count += len(os.listdir(f"{entry.path}/task"))
            except OSError:
                pass
    return count


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


def apply_limits(memory_mb: int, max_processes: int, file_mb: int, uid: int) -> None:
    """Resource limits for the kernel that will run as ``uid``."""
    def set_limit(kind: int, value: int) -> None:
        hard = resource.getrlimit(kind)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))

    set_limit(resource.RLIMIT_AS, memory_mb * 2**20)
    set_limit(resource.RLIMIT_FSIZE, file_mb * 2**20)
    set_limit(resource.RLIMIT_CORE, 0)
    # RLIMIT_NPROC counts every thread of the user: a shared uid (the grader's own) may run what it
    # already runs, plus the kernel's allowance. It never holds uid 0, in any user namespace: a
    # kernel left running as root has no process limit (isolation.py says so).
    if uid != 0:
        set_limit(resource.RLIMIT_NPROC, max_processes + tasks_of_user(uid))


def kernel_environment(home: Path, namespaces: bool) -> dict[str, str]:
    """The kernel's environment: the allow-listed variables of ours, and its folders."""
    env = {k: v for k, v in os.environ.items() if k in KEEP_ENV or k.startswith("LC_")}
    if namespaces:
        # ipykernel exits when its parent is not JPY_PARENT_PID; inside a PID namespace it never is
        # (bwrap's --die-with-parent stops the kernel with its grader instead).
        env.pop("JPY_PARENT_PID", None)
    env.update(HOME=str(home), TMPDIR=str(home), MPLCONFIGDIR=str(home / ".matplotlib"),
               IPYTHONDIR=str(home / ".ipython"))
    return env


def _prctl(option: int, name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({name}): {os.strerror(err)}")


def no_new_privileges() -> None:
    _prctl(PR_SET_NO_NEW_PRIVS, "NO_NEW_PRIVS")


def adopt_orphans() -> None:
    """Orphaned descendants (a daemon that forked twice) become the kernel's children, not init's,
    so the grader still finds them among the kernel's descendants. It survives the exec."""
    _prctl(PR_SET_CHILD_SUBREAPER, "CHILD_SUBREAPER")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m autograder.grading.sandbox")
    parser.add_argument("--scratch", type=Path, help="the kernel's folder (its home is SCRATCH/home)")
    parser.add_argument("--memory-mb", type=int)
    parser.add_argument("--max-processes", type=int)
    parser.add_argument("--file-mb", type=int)
    parser.add_argument("--owner", type=int, help="give the scratch folder to this user id (needs root)")
    parser.add_argument("--become", type=int, help="run COMMAND as this user id (needs root)")
    parser.add_argument("--namespaces", action="store_true", help="COMMAND is bwrap: a PID namespace of its own")
    parser.add_argument("--connection-file", type=Path, default=None,
                        help="copy this connection file into the scratch folder (the kernel cannot read the original)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command after --")
    if args.scratch is not None and None in (args.memory_mb, args.max_processes, args.file_mb):
        parser.error("--scratch needs --memory-mb, --max-processes and --file-mb")
    return args


def prepare(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """Everything before the exec for a kernel in ``args.scratch``: the command and environment."""
    if os.getsid(0) != os.getpid():  # jupyter_client usually started us as a session leader already
        os.setsid()
    home = args.scratch / "home"
    command = list(args.command)
    if args.connection_file is not None:
        private = args.scratch / "connection.json"
        private.write_bytes(args.connection_file.read_bytes())
        command = [str(private) if part == str(args.connection_file) else part for part in command]
        if args.owner is not None:
            os.chown(private, args.owner, args.owner)
    if args.owner is not None:
        for folder, _, files in os.walk(home):  # home/ and what the grader put in it (matplotlib's font list)
            for path in (folder, *(os.path.join(folder, f) for f in files)):
                os.chown(path, args.owner, args.owner)
        os.chmod(home, 0o700)  # other kernels' users may enter the scratch folder, not this one
    # The kernel's own stdout/stderr (not cell output) go to a log in its folder, never to the
    # TA's terminal: a flood of os.write(2, ...) must not bury the progress bar.
    log = os.open(home / "kernel.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    if args.owner is not None:
        os.fchown(log, args.owner, args.owner)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    uid = args.become if args.become is not None else (args.owner if args.owner is not None else os.getuid())
    apply_limits(args.memory_mb, args.max_processes, args.file_mb, uid)
    if args.namespaces:
        # The interrupt (SIGINT to the process group) is for the kernel, not for bwrap, which would
        # die of it and take the sandbox along. ipykernel sets its own handler while a cell runs.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.chdir(home)
    return command, kernel_environment(home, args.namespaces)


def options_through_a_file(command: list[str], scratch: Path) -> list[str]:
    """``bwrap OPTIONS -- KERNEL`` as ``bwrap --args FD KERNEL``: the options (every path mounted in)
    are read from a file, so the sandbox's PID 1 does not show them on its command line."""
    end = command.index("--")
    path = scratch / "bwrap-options"
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        fh.write(b"".join(arg.encode() + b"\0" for arg in command[1:end]))
    fd = os.open(path, os.O_RDONLY)  # inherited by bwrap, which reads it before anything starts
    os.set_inheritable(fd, True)
    return [command[0], "--args", str(fd), "--", *command[end + 1:]]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    command, env = (args.command, dict(os.environ)) if args.scratch is None else prepare(args)
    if args.namespaces and args.scratch is not None:
        command = options_through_a_file(command, args.scratch)
    try:
        if args.become is not None:
            become(args.become)
        no_new_privileges()
        if not args.namespaces:  # in a PID namespace bwrap's init adopts them
            adopt_orphans()
        os.execvpe(command[0], command, env)
    except OSError as exc:
        # Into kernel.log (stderr is there by now): the grader quotes it when the kernel never starts.
        print(f"autograder sandbox: cannot start {command[0]}: {exc}", file=sys.stderr, flush=True)
        os._exit(127)


if __name__ == "__main__":
    main()
