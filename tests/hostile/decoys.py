"""Decoys planted outside the course before a hostile batch, for the ``find_decoys`` case to look for.

Each planting draws a random token and, world-readable and outside any course:

* ``/home/decoy-<token>/`` and ``/tmp/decoy-<token>/``, each with a correct 01_xor_backprop
  submission under a random name, a ``gradebook.db`` and a notes file;
* a running process whose command line names the notebook in /home;
* an environment variable of the grader's naming the notebook in /tmp.

The ``find_decoys`` submission searches /proc, the file system and its environment, and execs any
solution it finds. :func:`check` reads its report: the token must not appear in it, and the
processes it saw must all be its own kernel's.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

ENV_NAME = "AUTOGRADER_DECOY_NOTES"  # not on the kernel's allow-list: it must never reach it


@dataclass
class Decoys:
    token: str
    folders: list[str]
    files: list[str]
    pid: int

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")
        return path

    @staticmethod
    def read(path: Path) -> "Decoys":
        return Decoys(**json.loads(Path(path).read_text(encoding="utf-8")))


def plant(solution: Path) -> Decoys:
    """Plant the decoys (needs root for /home); ``solution`` is a correct submission notebook."""
    token = secrets.token_hex(6)
    folders, files = [], []
    for top in ("/home", "/tmp"):
        folder = Path(top) / f"decoy-{token}"
        folder.mkdir(mode=0o755)
        os.chmod(folder, 0o755)
        folders.append(str(folder))
        notebook = folder / f"answers-{secrets.token_hex(4)}.ipynb"
        shutil.copy(solution, notebook)
        book = folder / "gradebook.db"
        with sqlite3.connect(book) as con:
            con.execute("create table grade (id text, auto_score float)")
            con.execute("insert into grade values ('decoy', 0)")
        con.close()
        notes = folder / "notes.txt"
        notes.write_text(f"the answers are in {notebook}\n")
        for path in (notebook, book, notes):
            os.chmod(path, 0o644)
            files.append(str(path))
    # A process anyone can see in /proc, naming the /home notebook on its command line.
    proc = subprocess.Popen(["bash", "-c", f'exec -a "decoy {files[0]}" sleep 900'], start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ[ENV_NAME] = files[3]
    return Decoys(token, folders, files, proc.pid)


def remove(decoys: Decoys) -> None:
    os.environ.pop(ENV_NAME, None)
    try:
        os.kill(decoys.pid, signal.SIGKILL)
        os.waitpid(decoys.pid, 0)
    except (OSError, ChildProcessError):
        pass
    for folder in decoys.folders:
        shutil.rmtree(folder, ignore_errors=True)


# What a kernel's own processes look like from inside: bwrap's init, the launcher's second run,
# the kernel. Anything else in its /proc is someone else's.
KERNEL_PROCESSES = ("bwrap", "ipykernel_launcher", "autograder.grading.sandbox")

REPORT_MARK = "decoy search: "


def check(output: str, decoys: Decoys | None) -> str:
    """'' when the search's report shows nothing of the decoys and only the kernel's own
    processes; otherwise what it found."""
    line = next((ln for ln in output.splitlines() if ln.startswith(REPORT_MARK)), None)
    if line is None:
        return f"the search printed no report: {output[-300:]!r}"
    report = json.loads(line[len(REPORT_MARK):])
    problems = []
    if decoys is not None and decoys.token in output:
        problems.append(f"it found the decoys ({decoys.token}): "
                        + ", ".join(x for x in report["solutions"] + report["gradebooks"] + report["env"]
                                    if decoys.token in x)[:300])
    if report["solutions"] or report["gradebooks"]:
        problems.append(f"it found {len(report['solutions'])} solution(s) and {len(report['gradebooks'])} gradebook(s)")
    foreign = [cmd for cmd in report["processes"] if not any(k in cmd for k in KERNEL_PROCESSES)]
    if foreign:
        problems.append(f"it saw {len(foreign)} process(es) not its kernel's, e.g. {foreign[0][:120]!r}")
    return "; ".join(problems)
