"""stdout and stderr kept in the order they were written, as a kernel sends them.

The grader keeps what a test cell prints this way (:mod:`.host_cells`), and the kernel's agent
what one call of the student's code prints (:mod:`.agent`), which the grader prints again where
the call happened. stderr stays stderr, so StderrToStdout marks it and it never costs points.
"""
from __future__ import annotations

import io


class OrderedStreams:
    """``chunks``: ``[name, text]`` in the order written, at most ``limit`` characters in all
    (then one note that the rest was cut). ``stdout`` and ``stderr`` are the writers."""

    def __init__(self, limit: int | None = None) -> None:
        self.chunks: list[list[str]] = []
        self.room = limit
        self.stdout, self.stderr = self._writer("stdout"), self._writer("stderr")

    def _writer(self, name: str) -> io.TextIOBase:
        streams = self

        class Writer(io.TextIOBase):
            def write(self, text: str) -> int:
                streams.add(name, str(text))
                return len(text)

        return Writer()

    def add(self, name: str, text: str) -> None:
        if self.room is not None:
            if self.room <= 0:
                return
            if len(text) >= self.room:
                text = text[:self.room] + "\n[output cut]\n"
                self.room = 0
            else:
                self.room -= len(text)
        if self.chunks and self.chunks[-1][0] == name:
            self.chunks[-1][1] += text
        elif text:
            self.chunks.append([name, text])
