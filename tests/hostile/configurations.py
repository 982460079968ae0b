"""The machine configurations the hostile corpus is graded under, made from this one (as root).

    root                  as this process is: root with all its capabilities
    no_sys_admin          root without CAP_SYS_ADMIN (capsh --drop), as Docker's default root
    docker                the same, and bwrap refused as Docker's seccomp profile refuses it
    nobody                an unprivileged user (setpriv --reuid 65534)
    no_bwrap              root, bwrap missing (not executable)

Each is a command prefix. The last three (and ``no_sys_admin_reachable``) run in a private mount
namespace, made while still root, in which the Python install and the checkout can be reached by
every user: here Python may live under /root (0700), and CI clones into ``mktemp -d`` (0700); a
normal grading host keeps Python in /usr or /opt. Nothing outside that namespace changes.
"""
from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534
REFUSING_BWRAP = "#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\nexit 1\n"

# name: (what it is, for the table; needs the reachability namespace)
CONFIGURATIONS = {
    "root": ("root, all capabilities", False),
    "no_sys_admin": ("root without CAP_SYS_ADMIN (capsh --drop=cap_sys_admin)", False),
    "no_sys_admin_reachable": ("root without CAP_SYS_ADMIN, Python readable by all users", True),
    "docker": ("root without CAP_SYS_ADMIN, bwrap refused (as Docker's seccomp), Python readable by all", True),
    "nobody": ("unprivileged user (nobody), Python readable by all users", True),
    "no_bwrap": ("root, bwrap missing, Python readable by all users", True),
    "no_bwrap_as_is": ("root, bwrap missing", False),
}


def available(name: str) -> str:
    """'' when this machine can make configuration ``name``, else why not."""
    if os.geteuid() != 0:
        return "making the configurations needs root"
    tools = {"no_sys_admin": "capsh", "no_sys_admin_reachable": "capsh", "docker": "capsh", "nobody": "setpriv"}
    needs = [t for t in (tools.get(name), "unshare" if CONFIGURATIONS[name][1] else None) if t]
    missing = [t for t in needs if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not installed"
    if name in ("no_bwrap", "no_bwrap_as_is") and shutil.which("unshare") is None:
        return "unshare not installed"
    return ""


def _others_may_enter(folder: Path) -> bool:
    return bool(os.stat(folder).st_mode & stat.S_IXOTH)


def reachability_script(targets: list[Path], hide_bwrap: bool, stash: Path) -> list[str]:
    """Shell lines, run as root in a private mount namespace, that let every user reach ``targets``:
    each folder on the way that others may not enter is covered by an open tmpfs holding bind
    mounts of what was in it (the entry on the way; every entry, for a target itself)."""
    lines = ["set -e", f"stash={shlex.quote(str(stash))}", "mkdir -p \"$stash\"",
             "mount -t tmpfs -o size=1m tmpfs \"$stash\""]
    covered: set[Path] = set()
    n = 0
    for target in targets:
        target = Path(os.path.realpath(target))
        for folder in [*reversed(target.parents), target]:
            if folder in covered or _others_may_enter(folder) or not folder.is_dir():
                continue
            covered.add(folder)
            keep = sorted(folder.iterdir()) if folder == target else \
                [folder / target.relative_to(folder).parts[0]]
            lines.append(f"# {folder} (mode {stat.S_IMODE(os.stat(folder).st_mode):o})")
            moves = []
            for entry in keep:
                q = shlex.quote(str(entry))
                if entry.is_symlink():
                    moves.append(f"ln -s {shlex.quote(os.readlink(entry))} {q}")
                    continue
                n += 1
                kind = "mkdir" if entry.is_dir() else "touch"
                lines.append(f"{kind} \"$stash/{n}\" && mount --rbind {q} \"$stash/{n}\"")
                moves.append(f"{kind} {q} && mount --move \"$stash/{n}\" {q}")
            lines.append(f"mount -t tmpfs -o mode=0755,size=1m tmpfs {shlex.quote(str(folder))}")
            lines += moves
    if hide_bwrap and shutil.which("bwrap"):
        lines.append(f"mount --bind /dev/null {shlex.quote(shutil.which('bwrap'))}")  # there, not executable
    return lines


def _targets() -> list[Path]:
    return [Path(sys.base_prefix), Path(sys.prefix), Path(os.path.realpath(sys.executable)).parent, ROOT]


def wrap(name: str, command: list[str], scratch: Path) -> tuple[list[str], dict[str, str]]:
    """``(argv, environment)`` that run ``command`` under configuration ``name``; ``scratch`` is
    a folder for its HOME and helper files (world-readable; made here)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    scratch.mkdir(parents=True, exist_ok=True)
    os.chmod(scratch, 0o755)
    inner = list(command)
    if name in ("no_sys_admin", "no_sys_admin_reachable", "docker"):
        inner = ["capsh", "--drop=cap_sys_admin", "--", "-c", 'exec "$0" "$@"', *inner]
    if name == "docker":
        shim = scratch / "refusing-bin"
        shim.mkdir(exist_ok=True)
        (shim / "bwrap").write_text(REFUSING_BWRAP)
        (shim / "bwrap").chmod(0o755)
        os.chmod(shim, 0o755)
        env["PATH"] = f"{shim}:{env.get('PATH', '')}"
    if name == "nobody":
        home = scratch / "home"
        (home / ".cache" / "matplotlib").mkdir(parents=True, exist_ok=True)
        for cache in (Path.home() / ".cache" / "matplotlib").glob("fontlist-*.json"):
            shutil.copy(cache, home / ".cache" / "matplotlib" / cache.name)
        for path in (home, *home.rglob("*")):
            os.chown(path, NOBODY, NOBODY)
        env.update(HOME=str(home), USER="nobody", LOGNAME="nobody")
        inner = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", *inner]
    if CONFIGURATIONS[name][1] or name == "no_bwrap_as_is":
        lines = reachability_script(_targets(), name.startswith("no_bwrap"), scratch / "stash") if CONFIGURATIONS[name][1] \
            else ["set -e", f"mount --bind /dev/null {shlex.quote(shutil.which('bwrap') or '/nonexistent')}"]
        if name == "docker" and shutil.which("bwrap"):
            # Docker's seccomp refuses every bwrap, also one found by its full path (not through PATH)
            lines.append(f"mount --bind {shlex.quote(str(shim / 'bwrap'))} {shlex.quote(shutil.which('bwrap'))}")
        script = scratch / "reach.sh"
        script.write_text("\n".join([*lines, 'exec "$@"']) + "\n")
        inner = ["unshare", "--mount", "--propagation", "private", "--", "sh", str(script), *inner]
    return inner, env


class SubsetRuns:
    """Part of the corpus graded under several configurations, each in a child process, all at the
    same time (a hostile grading mostly waits on its kernels). The decoys are planted once, for
    all of them, and removed when they have finished."""

    def __init__(self, names: list[str], cases: list[str], decoy_solution: Path, jobs: int = 2):
        """Start the runs; :meth:`reports` waits for them, and stops them whatever happens."""
        import tempfile
        from . import decoys as planted
        self.found: dict = {name: available(name) for name in names}  # why not, where it cannot be made
        self.running: dict = {}
        self.planted = None
        wanted = [name for name in names if not self.found[name]]
        if not wanted:
            return
        self.folder = Path(tempfile.mkdtemp(prefix="iso-config-", dir="/tmp"))  # pytest's own is 0700
        self.folder.chmod(0o755)
        self.planted = planted.plant(decoy_solution)
        try:
            self._start(wanted, cases, jobs)
        except BaseException:
            self.stop()  # no decoy, folder or child outlives a start that failed
            raise

    def _start(self, wanted: list[str], cases: list[str], jobs: int) -> None:
        decoy_file = self.planted.write(self.folder / "decoys.json")
        decoy_file.chmod(0o644)
        for name in wanted:
            report_dir = self.folder / name / "report"
            report_dir.mkdir(parents=True)
            report_dir.chmod(0o777)  # nobody writes its report here
            argv, env = wrap(name, [sys.executable, "-m", "tests.hostile.corpus", "--json", str(report_dir / "r.json"),
                                    "--cases", ",".join(cases), "--decoys", str(decoy_file), "--jobs", str(jobs)],
                             self.folder / name / "config")
            log = self.folder / name / "output.log"  # a file, not a pipe: no child waits on a full pipe
            with log.open("w") as out:
                proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
            self.running[name] = (proc, report_dir / "r.json", log)

    def reports(self) -> dict:
        """Wait for every run: ``{configuration: its report}``, or why it could not be made (a
        string), or how its run failed (an ``AssertionError``)."""
        import json
        try:
            for name, (proc, report_file, log) in list(self.running.items()):
                proc.wait(timeout=1800)
                self.found[name] = json.loads(report_file.read_text()) if proc.returncode == 0 else \
                    AssertionError(f"grading under {name} exited {proc.returncode}:\n{log.read_text()[-6000:]}")
                del self.running[name]
        finally:
            self.stop()
        return self.found

    def stop(self) -> None:
        from . import decoys as planted
        for proc, *_ in self.running.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.running.clear()
        if self.planted is not None:
            planted.remove(self.planted)
            shutil.rmtree(self.folder, ignore_errors=True)
            self.planted = None
