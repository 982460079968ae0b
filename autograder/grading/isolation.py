"""Which walls this machine can put around a grading kernel, found out once per process.

Three layers, strongest first:

``namespaces``
    bubblewrap (:mod:`.view`): the kernel sees an allow-list of the file system (the Python
    install, the kit's package, its scratch folder), its own processes only, and no network.
    Needs ``bwrap`` and either root with CAP_SYS_ADMIN or unprivileged user namespaces.
``uid``
    a user id of its own (from :data:`PRIVATE_UIDS`): file permissions keep it out of whatever is
    not readable by others, its processes can be counted and killed. Needs root (CAP_SETUID).
    Without namespaces it hides only what file modes hide, so the grader lists the private paths
    (course, workspace, output) that other users could read: those are *exposed*.
``limits``
    resource limits, a scratch HOME, a reduced environment: always.

:func:`probe` tries, on this host, each way of starting a kernel from the strongest down (a real
``bwrap ... python`` as the kernel would run) and keeps the first that works. Grading then uses
it for every kernel; a layer that is missing costs that layer, never a student's points.
"""
from __future__ import annotations

import functools
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .sandbox import kernel_environment
from .view import bwrap_command

LAYERS = ("namespaces", "uid", "limits")  # strongest first

# Each sandboxed kernel gets a user id drawn from here, one no account on the machine uses.
PRIVATE_UIDS = range(100000, 900000)

# How the launcher starts the kernel, and the layers each way puts in force.
LAUNCHES = {
    "bwrap-as-uid": ("namespaces", "uid", "limits"),   # drop to the uid, then bwrap with a user namespace
    "bwrap-as-root": ("namespaces", "uid", "limits"),  # bwrap as root (no user namespace); drop to the uid inside
    "bwrap": ("namespaces", "limits"),                 # bwrap with a user namespace, as the grader's own user
    "uid": ("uid", "limits"),                          # drop to the uid; no bwrap
    "plain": ("limits",),
}

WAYS = {"bwrap-as-uid": "bwrap as a uid of its own", "bwrap-as-root": "bwrap as root",
        "bwrap": "bwrap in a user namespace"}

INSTALL_BWRAP = "install bubblewrap (apt-get install bubblewrap)"
ALLOW_USERNS = ("run the grader as root with CAP_SYS_ADMIN, or allow unprivileged user namespaces "
                "(sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0; in Docker, "
                "--security-opt seccomp=unconfined, or --cap-add SYS_ADMIN)")
RUN_AS_ROOT = "run the grader as root (it needs CAP_SETUID and CAP_SETGID, which Docker's default root keeps)"

# What the trial run does inside: start the interpreter and find what a kernel imports.
TRIAL_CODE = ("import autograder, importlib.util as u, sys; "
              "sys.exit(0 if u.find_spec('ipykernel') and u.find_spec('numpy') else 3)")


class IsolationError(Exception):
    """The isolation in force is below what the course requires; the message says what is missing."""


@dataclass(frozen=True)
class Isolation:
    """The layers in force, how the kernel is started, and why each missing layer is missing."""
    launch: str
    missing: tuple[tuple[str, str], ...] = ()   # (layer, why it is missing and how to get it)
    exposed: tuple[str, ...] = ()               # private paths a uid of its own could still read

    @property
    def layers(self) -> tuple[str, ...]:
        return LAUNCHES[self.launch]

    @property
    def uses_uid(self) -> bool:
        return "uid" in self.layers

    @property
    def uses_namespaces(self) -> bool:
        return "namespaces" in self.layers

    @property
    def level(self) -> str:
        """The strongest layer that holds: ``uid`` counts only when it hides every private path."""
        if self.uses_namespaces:
            return "namespaces"
        if self.uses_uid and not self.exposed:
            return "uid"
        return "limits"

    def with_exposed(self, private_paths) -> "Isolation":
        """This isolation, knowing which of ``private_paths`` the kernel's uid could read."""
        if self.uses_namespaces or not self.uses_uid:
            return self
        return Isolation(self.launch, self.missing, tuple(str(p) for p in private_paths if readable_by_others(p)))

    def describe(self) -> str:
        """One line for the terminal and the reports."""
        text = "isolation: " + " + ".join(self.layers)
        if self.exposed:
            shown = ", ".join(self.exposed[:4]) + (f" and {len(self.exposed) - 4} more" if len(self.exposed) > 4 else "")
            text += f" (the kernel's user id can still read {shown}: readable by all users)"
        if self.missing:
            text += "; missing " + "; ".join(f"{layer}: {why}" for layer, why in self.missing)
        return text

    def as_dict(self) -> dict:
        return {"layers": list(self.layers), "level": self.level, "launch": self.launch,
                "missing": {layer: why for layer, why in self.missing}, "exposed": list(self.exposed)}

    def require(self, minimum: str, where: str = "course.toml") -> None:
        """Raise :class:`IsolationError` unless ``minimum`` (a layer name) holds."""
        if LAYERS.index(self.level) <= LAYERS.index(minimum):
            return
        needed = [layer for layer in LAYERS[LAYERS.index(minimum):-1] if layer not in self.layers]
        reasons = [f"{layer}: {why}" for layer, why in self.missing if layer in needed]
        if minimum == "uid" and self.uses_uid and self.exposed:
            reasons.append(f"uid: its user id could read {', '.join(self.exposed)}; make them unreadable to "
                           f"other users (chmod o-rwx), or get the namespaces layer ({INSTALL_BWRAP})")
        raise IsolationError(f"{where} requires isolation = \"{minimum}\", but this machine gives "
                             f"{' + '.join(self.layers)} (level {self.level}). " + " ".join(reasons)
                             + " Grading did not start.")


def readable_by_others(path) -> bool:
    """Whether a user who owns nothing here could reach ``path`` and read it (or, for a folder,
    open files in it by name)."""
    path = Path(os.path.abspath(path))
    try:
        for folder in reversed(path.parents):
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return False
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)))


def fresh_uid() -> int:
    return PRIVATE_UIDS.start + secrets.randbelow(len(PRIVATE_UIDS))


def make_scratch(owner: int | None) -> Path:
    """A kernel's scratch folder, as the kernel manager lays it out: ``home/`` (the kernel's, and
    ``owner``'s when it has a uid of its own) and ``requests/`` (the grader's; the kernel reads it)."""
    scratch = Path(tempfile.mkdtemp(prefix="agk-", dir="/tmp"))
    os.chmod(scratch, 0o711)
    (scratch / "home").mkdir(mode=0o700)
    (scratch / "requests").mkdir(mode=0o750 if owner is not None else 0o755)
    if owner is not None:
        os.chown(scratch / "home", owner, owner)
        os.chown(scratch / "requests", os.getuid(), owner)
    return scratch


def command_for(launch: str, scratch: Path, uid: int | None, kernel: list[str]) -> tuple[list[str], int | None]:
    """The command after the launcher's ``--`` for ``kernel``, and the uid the launcher drops to first."""
    if launch == "bwrap-as-uid":
        return bwrap_command(scratch, user_namespace=True) + kernel, uid
    if launch == "bwrap-as-root":
        hop = [sys.executable, "-m", "autograder.grading.sandbox", "--become", str(uid), "--"]
        return bwrap_command(scratch, user_namespace=False, keep_caps=("CAP_SETUID", "CAP_SETGID")) + hop + kernel, None
    if launch == "bwrap":
        return bwrap_command(scratch, user_namespace=True) + kernel, None
    return kernel, uid if launch == "uid" else None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no message"


def trial(launch: str) -> str:
    """Start the interpreter the way ``launch`` starts a kernel; '' when it works, else why not."""
    uid = fresh_uid() if "uid" in LAUNCHES[launch] else None
    scratch = make_scratch(uid)
    try:
        command, become = command_for(launch, scratch, uid, [sys.executable, "-c", TRIAL_CODE])
        user = {} if become is None else {"user": become, "group": become, "extra_groups": []}
        # The environment a kernel gets (PYTHONPATH included: the kit may be found through it).
        env = kernel_environment(scratch / "home", namespaces=launch.startswith("bwrap"))
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=scratch / "home", env=env,
                              **user)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if proc.returncode == 0:
        return ""
    return _last_line(proc.stderr) if proc.returncode != 3 else "the kernel's packages are not importable there"


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@functools.cache
def probe() -> Isolation:
    """The strongest isolation this host allows (tried once per process)."""
    root = _is_root()
    missing: list[tuple[str, str]] = []
    if shutil.which("bwrap") is None:
        missing.append(("namespaces", f"bubblewrap (bwrap) is not on PATH: {INSTALL_BWRAP}"))
    else:
        failures = []
        for launch in (("bwrap-as-uid", "bwrap-as-root", "bwrap") if root else ("bwrap",)):
            why = trial(launch)
            if not why:
                if "uid" not in LAUNCHES[launch]:
                    missing.append(("uid", f"{'; '.join(failures)}; so the kernel runs as root in its user namespace, "
                                           f"and root is not held by the process limit (a fork bomb runs until the "
                                           f"cell's time limit): make the Python install readable by other users, "
                                           f"or give the grader CAP_SYS_ADMIN" if root else f"not root: {RUN_AS_ROOT}"))
                return Isolation(launch, tuple(missing))
            failures.append(f"{WAYS[launch]}: {why}")
        missing.append(("namespaces", f"bubblewrap cannot create the sandbox here ({'; '.join(failures)}): "
                                      + ALLOW_USERNS))
    if not root:
        missing.append(("uid", f"not root: {RUN_AS_ROOT}"))
        return Isolation("plain", tuple(missing))
    why = trial("uid")
    if not why:
        return Isolation("uid", tuple(missing))
    missing.append(("uid", f"a user id of its own cannot run this Python ({why}): install Python and the "
                           f"virtual environment where other users can read them (e.g. /usr, /opt)"))
    return Isolation("plain", tuple(missing))


LIMITS_ONLY = Isolation("plain", (("namespaces", "switched off"), ("uid", "switched off")))
