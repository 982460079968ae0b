"""The grader's end of a test cell's channel to the kernel: two FIFOs in the kernel's scratch folder.

A request used to be one line run in the kernel, a Jupyter execute request of about 5 ms; the
speed checks' samples had to last ten of them. While a test cell runs, the kernel now runs one
line, :func:`.agent.serve_channel`, which answers requests until the cell ends:

* the grader writes ``request TOKEN`` on the inbox (in ``requests/``, which the kernel only reads);
* the kernel reads the request's message file, answers it in ``reply-TOKEN.msg`` (in ``home/``)
  and writes ``done TOKEN`` on the outbox;
* a kit part the student's code calls meanwhile (:class:`.agent.GraderPart`) writes ``part TOKEN``
  on the outbox; the grader runs the part and writes ``answered TOKEN`` on the inbox;
* ``end`` on the inbox ends the line.

The messages stay files (:mod:`.wire`), read as hostile as before. The outbox is only lines of a
few known words; anything else, a line without end, or the kernel's end of it closing is the
kernel's failure, never the check's. A round trip costs tens of microseconds, so what a request
costs is the message files and the call itself.
"""
from __future__ import annotations

import os
import secrets
import select
import stat
import time
from pathlib import Path
from typing import Callable

from .wire import TOKEN, WireError

_MAX_LINE = 200
_ALIVE_EVERY_S = 0.5


class ChannelTimeout(Exception):
    """The kernel did not answer before the cell's deadline."""


class ChannelDead(Exception):
    """The kernel died while the grader waited on it."""


class Channel:
    """One test cell's FIFOs; ``exchange(token, serve_part)`` is one request's round trip.

    ``deadline`` (``time.monotonic()``) is the cell's; ``alive()`` says whether the kernel
    process still runs (checked while waiting, as a forked child may hold the outbox open).
    """

    def __init__(self, request_folder: Path, reply_folder: Path, deadline: float,
                 alive: Callable[[], bool] = lambda: True):
        name = secrets.token_hex(8)
        self.inbox = Path(request_folder) / f"channel-{name}.in"
        self.outbox = Path(reply_folder) / f"channel-{name}.out"
        self.deadline, self.alive = deadline, alive
        self._buffer = b""
        self._broken = ""
        os.mkfifo(self.inbox)
        os.chmod(self.inbox, 0o644)  # the kernel's user only reads it
        os.mkfifo(self.outbox)
        os.chmod(self.outbox, 0o622)  # and only writes this one
        # Read and write: our writes never block on a kernel that has not opened it yet, nor fail.
        # Never blocking: a kernel that stops reading it breaks the channel, it cannot stall the grader.
        self._to_kernel = os.open(self.inbox, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self._from_kernel = os.open(self.outbox, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        if not stat.S_ISFIFO(os.fstat(self._from_kernel).st_mode):
            self.close()
            raise WireError("the grading channel's outbox is not a FIFO")

    def kernel_line(self) -> str:
        """The code the kernel runs for the whole test cell. It opens the outbox first, so that an
        agent that cannot even be imported still closes it, and the grader hears so at once. Both
        ends open without waiting: a cell that ended before the line ran leaves nothing to wait for."""
        return (f"import os as _ago\n"
                "try:\n"
                f"    _agf = _ago.open({str(self.outbox)!r}, _ago.O_WRONLY | _ago.O_NONBLOCK)\n"
                "except OSError:\n"
                "    _agf = None\n"
                "if _agf is not None:\n"
                "    try:\n"
                "        _ago.set_blocking(_agf, True)\n"
                "        import autograder.grading.agent as _agk\n"
                f"        _agk.serve_channel({str(self.inbox)!r}, _agf, {str(self.outbox)!r})\n"
                "    finally:\n"
                "        _ago.close(_agf)\n"
                "del _ago, _agf\n")

    def exchange(self, token: str, serve_part: Callable[[str], None]) -> None:
        """Have the kernel answer the request ``token`` (its message file is written); serve the
        kit-part calls the student's code makes meanwhile. Raises :class:`ChannelTimeout`,
        :class:`ChannelDead`, or ``WireError`` when the kernel broke the channel."""
        if self._broken:
            raise WireError(self._broken)
        self._send(f"request {token}")
        while True:
            kind, _, arg = self._receive().partition(" ")
            if kind == "done" and arg == token:
                return
            if kind == "part" and TOKEN.fullmatch(arg):
                serve_part(arg)
                self._send(f"answered {arg}")
                continue
            self._broken = f"the kernel wrote {kind[:40]!r} on the grading channel, where the grader expected an answer"
            raise WireError(self._broken)

    def answered_after_interrupt(self, token: str, grace_s: float) -> bool:
        """After the kernel was interrupted at the deadline: True once it answers ``token`` (the
        agent reports the interrupt as the call's error) or ends its line, within ``grace_s``."""
        self.deadline = time.monotonic() + grace_s
        try:
            while True:
                kind, _, arg = self._receive().partition(" ")
                if kind == "done" and arg == token:
                    return True
        except WireError:  # its line ended, or it broke the channel: either way it is no longer stuck
            return True
        except (ChannelTimeout, ChannelDead):
            return False

    def close(self) -> None:
        """End the kernel's line (if it still listens) and remove the FIFOs."""
        try:
            os.write(self._to_kernel, b"end\n")
        except OSError:
            pass
        for fd in (self._to_kernel, self._from_kernel):
            try:
                os.close(fd)
            except OSError:
                pass
        for path in (self.inbox, self.outbox):
            path.unlink(missing_ok=True)

    def _send(self, line: str) -> None:
        try:
            os.write(self._to_kernel, f"{line}\n".encode("ascii"))
        except BlockingIOError:  # the kernel's end is full of lines it never read
            self._broken = "the kernel stopped reading the grading channel"
            raise WireError(self._broken) from None

    def _receive(self) -> str:
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:  # checked first: a kernel writing without end must not hold the grader
                raise ChannelTimeout("the kernel did not answer before the cell's time limit")
            if b"\n" in self._buffer:
                break
            if len(self._buffer) > _MAX_LINE:
                self._broken = "the kernel wrote a line without end on the grading channel"
                raise WireError(self._broken)
            ready, _, _ = select.select([self._from_kernel], [], [], min(remaining, _ALIVE_EVERY_S))
            if not ready:
                if not self.alive():
                    raise ChannelDead("the kernel died")
                continue
            chunk = os.read(self._from_kernel, 4096)
            if not chunk:  # every writer closed it: the kernel died, or its line ended
                if self._died_soon():
                    raise ChannelDead("the kernel died")
                self._broken = "the kernel's end of the grading channel closed (its agent stopped answering)"
                raise WireError(self._broken)
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("ascii", "replace")

    def _died_soon(self, within_s: float = 0.5) -> bool:
        """A process's files close as it dies, a moment before it can be seen dead."""
        until = time.monotonic() + within_s
        while time.monotonic() < until:
            if not self.alive():
                return True
            time.sleep(0.01)
        return False
