"""The processes a kernel started, found in ``/proc``, and a way to stop them all.

A cell that forks (a fork bomb, a ``multiprocessing`` pool it never closes, a CPU hog in the
background) leaves processes that would otherwise run on into the next cells, and, with
``--jobs``, into other students' timing checks. The grader kills them after each cell: every
process of the kernel's *family* that was not there when the kernel became ready.

A kernel's family is every process that descends from the launcher, shares its session (the
launcher is a session leader), or, with the uid layer, runs as the kernel's own user id. A daemon
that leaves the session and forks twice is still a descendant: its orphan is re-parented to the
kernel (a child subreaper, see :func:`.sandbox.adopt_orphans`) or, in a PID namespace, to bwrap's
init.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    session: int
    uid: int
    zombie: bool  # ended, waiting for its parent to reap it: nothing left to kill


def process_table() -> dict[int, Process]:
    """Every process this process can see, by pid (one that ends while being read is skipped)."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{entry.path}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
            uid = os.stat(entry.path).st_uid
        except OSError:
            continue
        # The command name in parentheses may hold spaces or ')': the fields follow its last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        pid = int(entry.name)
        table[pid] = Process(pid=pid, ppid=int(fields[1]), session=int(fields[3]), uid=uid,
                             zombie=fields[0] == "Z")
    return table


def address_space_mb(pid: int) -> float | None:
    """The virtual size of ``pid`` (what RLIMIT_AS limits) in MiB; None once it has ended."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is field 3 of proc(5), so vsize (23) is [20]
    return int(fields[20]) / 2**20


def family(launcher_pid: int, uid: int | None = None, table: dict[int, Process] | None = None) -> set[int]:
    """The pids of ``launcher_pid``, its descendants, its session and, if given, the user ``uid``."""
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for p in table.values():
        children.setdefault(p.ppid, []).append(p.pid)
    found = {p.pid for p in table.values() if p.session == launcher_pid or (uid is not None and p.uid == uid)}
    descendants, stack = set(), [launcher_pid] if launcher_pid in table else []
    while stack:
        pid = stack.pop()
        if pid not in descendants:
            descendants.add(pid)
            stack += children.get(pid, [])
    return {pid for pid in found | descendants if not table[pid].zombie}


def kill_strays(launcher_pid: int, keep: set[int], uid: int | None = None, rounds: int = 200) -> int:
    """SIGKILL every process of the family not in ``keep``, round after round while a fork bomb
    still makes new ones; returns how many were killed."""
    killed = 0
    for _ in range(rounds):
        strays = family(launcher_pid, uid) - keep
        if not strays:
            break
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed
