"""What a grading kernel sees of the machine: an allow-list, as a bubblewrap (``bwrap``) command.

Inside the sandbox the file system is an empty, read-only root with only these mounted on it:

* read-only: the system's programs and libraries (``/usr`` and the ``/bin``, ``/lib*`` links or
  folders), the few files of ``/etc`` the dynamic loader and the clock read, the Python install
  (the virtual environment, the interpreter it was made from) and the kit's own package folder
  (for an editable install that is ``autograder/`` of the checkout, not the checkout itself), and
  the MNIST folder named by ``MNIST_DIR`` or ``$XDG_CACHE_HOME``, if the grader has one;
* read-write: the kernel's scratch folder (its ``HOME``, its sockets), a small private ``/tmp``
  and ``/dev/shm``;
* a ``/proc`` of its own PID namespace (it sees its own processes only), a minimal ``/dev``.

Everything else of the host is absent: ``/home``, ``/root``, the host's ``/tmp``, the course,
the grading workspace and the output folder, other checkouts. It also gets no network, its own
IPC and UTS namespaces, and dies with the process that started it.

Paths keep their names inside (the grader and the kernel exchange request and reply files by
path), so the scratch folder and the Python install are mounted where they are on the host.
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

# Small on purpose: these live in memory, outside the kernel's address-space limit.
TMPFS_BYTES = 64 * 2**20

# /etc: what the dynamic loader and the clock read; nothing about the machine's users or network.
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives")
SYSTEM_ROOTS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def kit_paths() -> list[Path]:
    """What the kernel must be able to read: the Python install and the kit's own package."""
    import autograder
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix),
             Path(sys.executable).resolve().parent, Path(autograder.__file__).resolve().parent}
    return sorted(paths)


def data_paths() -> list[Path]:
    """Data folders a notebook may load from that lie outside the Python install (autograder.data)."""
    found = []
    if os.environ.get("MNIST_DIR"):
        found.append(Path(os.environ["MNIST_DIR"]).expanduser())
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):  # without it the kernel's cache is under its own HOME, the scratch folder
        found.append(Path(xdg) / "autograder" / "mnist")
    return [p for p in found if p.is_dir()]


def _outermost(paths: list[Path]) -> list[Path]:
    """``paths`` without those inside another one (a later, wider mount would cover them)."""
    kept: list[Path] = []
    for path in sorted({Path(os.path.realpath(p)) for p in paths}, key=lambda p: len(p.parts)):
        if path.exists() and not any(k == path or k in path.parents for k in kept):
            kept.append(path)
    return kept


def readable_paths() -> list[Path]:
    """The host paths mounted read-only, outermost first (a path inside /usr is not mounted twice)."""
    return _outermost([Path("/usr"), *kit_paths(), *data_paths()])


@functools.cache
def bwrap_supports(option: str) -> bool:
    """Whether this bubblewrap knows ``option`` (``--size`` came with 0.5, ``--disable-userns`` with 0.8)."""
    try:
        text = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return option in text


def _tmpfs(target: str) -> list[str]:
    size = ["--size", str(TMPFS_BYTES)] if bwrap_supports("--size") else []
    return ["--perms", "1777", *size, "--tmpfs", target]


def _parent_folders(targets: list[Path]) -> list[str]:
    """``--dir`` for every folder above ``targets``, mode 0755: bwrap would make them 0700, which
    a kernel dropped to a uid of its own could not walk through."""
    made: list[str] = []
    for target in targets:
        for folder in reversed(target.parents[:-1]):  # '/' itself is bwrap's
            if str(folder) not in made:
                made.append(str(folder))
    return [arg for folder in made for arg in ("--perms", "0755", "--dir", folder)]


def bwrap_command(scratch: Path, *, user_namespace: bool, keep_caps: tuple[str, ...] = ()) -> list[str]:
    """``bwrap`` and its options, up to and including ``--``, for a kernel in ``scratch``.

    ``user_namespace``: bwrap runs unprivileged (as the kernel's own uid, or a user that is not
    root) and makes a user namespace; otherwise it runs as root and makes none. ``keep_caps``:
    capabilities the first process keeps (root's launcher needs CAP_SETUID to drop to its uid).
    """
    scratch = Path(scratch)
    readable = readable_paths()
    cmd = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
           "--hostname", "grading", "--die-with-parent"]
    if user_namespace:
        cmd += ["--unshare-user"]
        if bwrap_supports("--disable-userns"):
            cmd += ["--disable-userns"]  # no nested user namespace, with its root, for the student's code
    # The fresh mounts first: a read-only path may lie under /tmp (a checkout in ``mktemp -d``).
    cmd += ["--proc", "/proc", "--dev", "/dev", *_tmpfs("/dev/shm"), *_tmpfs("/tmp")]
    for root in SYSTEM_ROOTS:
        if os.path.islink(root):
            cmd += ["--symlink", os.readlink(root), root]
        elif os.path.isdir(root):
            cmd += ["--ro-bind", root, root]
    cmd += _parent_folders([p for p in readable if p.parent != Path("/")])
    for path in readable:
        cmd += ["--ro-bind", str(path), str(path)]
    for path in ETC_FILES:
        cmd += ["--ro-bind-try", path, path]
    cmd += [*_parent_folders([scratch]),
            "--bind", str(scratch), str(scratch),
            # The grader writes its requests here; the kernel reads them and must not plant files.
            "--ro-bind", str(scratch / "requests"), str(scratch / "requests"),
            "--remount-ro", "/", "--remount-ro", "/dev", "--chdir", str(scratch / "home")]
    for cap in keep_caps:
        cmd += ["--cap-add", cap]
    return cmd + ["--"]
