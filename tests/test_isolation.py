"""The isolation probe, the layers it reports, course.toml's minimum, and what a kernel sees.

The probe tests run real trials on this machine (bwrap found or hidden from PATH, or replaced by
one that refuses, as Docker's seccomp profile makes it); the kernel tests start real kernels.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.grading import isolation as iso
from autograder.grading.engine import _last_error_line
from autograder.grading.isolation import Isolation, IsolationError, probe, readable_by_others
from autograder.grading.limits import LimitsError, load_isolation_minimum
from autograder.grading.view import bwrap_command, readable_paths

from .conftest import ROOT

IS_ROOT = os.geteuid() == 0
HAS_BWRAP = shutil.which("bwrap") is not None


@pytest.fixture
def fresh_probe():
    """Each test probes anew (the probe is cached per process), and the cache is left clean."""
    probe.cache_clear()
    yield probe
    probe.cache_clear()


@pytest.fixture
def open_tmp():
    """A folder every user can reach (pytest's own tmp_path sits under a folder only its owner enters)."""
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="iso-test-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _path_with(tmp_path: Path, bwrap_script: str | None) -> str:
    """A PATH holding only a fake ``bwrap`` (or none) besides what the interpreter needs."""
    folder = tmp_path / "bin"
    folder.mkdir()
    os.chmod(tmp_path, 0o755)
    if bwrap_script is not None:
        fake = folder / "bwrap"
        fake.write_text(bwrap_script)
        fake.chmod(0o755)
    return str(folder)


# --------------------------------------------------------------------------- the probe

def test_without_bwrap_the_namespaces_layer_is_missing_and_says_how_to_get_it(tmp_path, monkeypatch, fresh_probe):
    monkeypatch.setenv("PATH", _path_with(tmp_path, None))
    found = fresh_probe()
    assert "namespaces" not in found.layers and found.layers[-1] == "limits"
    reasons = dict(found.missing)
    assert "apt-get install bubblewrap" in reasons["namespaces"]
    if not IS_ROOT:
        assert found.layers == ("limits",) and "run the grader as root" in reasons["uid"]


def test_a_bwrap_that_cannot_make_namespaces_falls_to_the_next_layer(tmp_path, monkeypatch, fresh_probe):
    refusing = "#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\nexit 1\n"
    monkeypatch.setenv("PATH", _path_with(tmp_path, refusing))
    found = fresh_probe()
    assert "namespaces" not in found.layers
    why = dict(found.missing)["namespaces"]
    assert "Creating new namespace failed" in why and "seccomp=unconfined" in why and "user namespaces" in why


@pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap is not installed (apt-get install bubblewrap)")
def test_with_bwrap_the_probe_finds_the_namespaces_layer(fresh_probe):
    found = fresh_probe()
    assert found.uses_namespaces, found.describe()
    assert found.level == "namespaces" and found.describe().startswith("isolation: namespaces")
    assert found.uses_uid == (found.launch in ("bwrap-as-uid", "bwrap-as-root"))


def test_the_probe_runs_once_per_process(fresh_probe, monkeypatch):
    first = fresh_probe()
    monkeypatch.setattr(iso, "trial", lambda launch: pytest.fail("probed twice"))
    assert fresh_probe() is first


# --------------------------------------------------------------------------- layers and the minimum

NO_BWRAP = ("namespaces", "bubblewrap (bwrap) is not on PATH: install bubblewrap (apt-get install bubblewrap)")


def test_the_minimum_refuses_with_what_is_missing_and_how_to_get_it():
    limits_only = Isolation("plain", (NO_BWRAP, ("uid", "not root: run the grader as root")))
    limits_only.require("limits")
    with pytest.raises(IsolationError) as info:
        limits_only.require("namespaces", "/course/course.toml")
    message = str(info.value)
    assert message.startswith('/course/course.toml requires isolation = "namespaces"')
    assert "gives limits" in message and "apt-get install bubblewrap" in message
    assert "run the grader as root" in message and message.endswith("Grading did not start.")
    with pytest.raises(IsolationError, match="run the grader as root"):
        limits_only.require("uid")


def test_namespaces_satisfy_every_minimum_and_uid_satisfies_uid():
    for launch in ("bwrap", "bwrap-as-uid", "bwrap-as-root"):
        for minimum in iso.LAYERS:
            Isolation(launch).require(minimum)
    Isolation("uid", (NO_BWRAP,)).require("uid")
    with pytest.raises(IsolationError, match="bubblewrap"):
        Isolation("uid", (NO_BWRAP,)).require("namespaces")


def test_a_uid_that_could_read_private_files_does_not_count_as_the_uid_layer(open_tmp):
    tmp_path = open_tmp
    open_folder = tmp_path / "course" / "source"
    open_folder.mkdir(parents=True)
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    for folder in (tmp_path / "course", open_folder):
        folder.chmod(0o755)
    found = Isolation("uid", (NO_BWRAP,)).with_exposed([open_folder, closed])
    assert found.exposed == (str(open_folder),) and found.level == "limits"
    assert str(open_folder) in found.describe() and "readable by all users" in found.describe()
    with pytest.raises(IsolationError, match="chmod o-rwx"):
        found.require("uid")
    closed_only = Isolation("uid", (NO_BWRAP,)).with_exposed([closed])
    assert closed_only.level == "uid" and not closed_only.exposed
    assert Isolation("bwrap").with_exposed([open_folder]).exposed == ()  # the allow-list hides it anyway


def test_readable_by_others_needs_every_folder_on_the_way_open(open_tmp):
    tmp_path = open_tmp
    inner = tmp_path / "a" / "b.txt"
    inner.parent.mkdir()
    inner.write_text("x")
    assert not readable_by_others(Path("/root/.cache")) or os.stat("/root").st_mode & 0o001
    inner.parent.chmod(0o755)
    inner.chmod(0o644)
    assert readable_by_others(inner)
    inner.parent.chmod(0o711)
    assert readable_by_others(inner)  # found by name through a folder others may enter
    inner.parent.chmod(0o700)
    assert not readable_by_others(inner)
    inner.parent.chmod(0o755)
    inner.chmod(0o600)
    assert not readable_by_others(inner)


def test_as_dict_names_the_layers_for_results_json():
    d = Isolation("uid", (NO_BWRAP,)).as_dict()
    assert d["layers"] == ["uid", "limits"] and d["level"] == "uid" and "namespaces" in d["missing"]
    json.dumps(d)


# --------------------------------------------------------------------------- course.toml

def test_course_toml_isolation_minimum(tmp_path):
    assert load_isolation_minimum(tmp_path) == "limits"
    for value in ("namespaces", "uid", "limits"):
        (tmp_path / "course.toml").write_text(f'isolation = "{value}"\n[limits]\ncell_timeout_s = 60\n')
        assert load_isolation_minimum(tmp_path) == value
    (tmp_path / "course.toml").write_text('isolation = "docker"\n')
    with pytest.raises(LimitsError) as info:
        load_isolation_minimum(tmp_path)
    assert str(tmp_path / "course.toml") in str(info.value)
    assert "'docker' is not a layer" in str(info.value) and '"namespaces", "uid", "limits"' in str(info.value)


def test_isolation_inside_the_limits_table_is_pointed_out(tmp_path):
    from autograder.grading.limits import load_limits
    (tmp_path / "course.toml").write_text('[limits]\nisolation = "uid"\n')
    with pytest.raises(LimitsError, match="isolation is a top-level key"):
        load_limits(tmp_path, "00_vectorization")


# --------------------------------------------------------------------------- the view and the reasons

def test_the_view_is_an_allow_list_without_the_course(tmp_path):
    import autograder
    scratch = tmp_path / "agk"
    cmd = bwrap_command(scratch, user_namespace=True)
    bound = {cmd[i + 1] for i, arg in enumerate(cmd) if arg in ("--ro-bind", "--bind", "--ro-bind-try")}
    package = str(Path(autograder.__file__).resolve().parent)
    assert package in bound and str(scratch) in bound and "/usr" in bound
    for hidden in ("/", "/home", "/root", "/tmp", str(ROOT), str(ROOT / "source"), str(ROOT / ".git")):
        assert hidden not in bound, hidden
    assert {"--unshare-pid", "--unshare-net", "--die-with-parent", "--unshare-user"} <= set(cmd)
    assert cmd[-1] == "--" and cmd[cmd.index("--chdir") + 1] == str(scratch / "home")
    assert all(p.exists() for p in readable_paths())


def test_paths_under_tmp_are_mounted_after_the_private_tmp(tmp_path, monkeypatch):
    """A checkout cloned into ``mktemp -d`` has its Python and kit under /tmp: the fresh /tmp must
    not cover them."""
    from autograder.grading import view
    kit = Path("/tmp") / tmp_path.name / "kit"
    monkeypatch.setattr(view, "readable_paths", lambda: [Path("/usr"), kit])
    cmd = bwrap_command(tmp_path / "agk", user_namespace=True)
    assert cmd.index("/tmp") < cmd.index(str(kit)), "the --tmpfs /tmp must come before the kit's --ro-bind"


def test_the_reason_is_the_exception_not_nbgraders_closing_line():
    log = ("[AutogradeApp | ERROR] There was an error processing assignment: x\n"
           "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
           "autograder.grading.execute.KernelStartError: the grading kernel did not start (RuntimeError: "
           "Kernel died before replying to kernel_info); its log: bwrap: Can't mount proc on /newroot/proc\n"
           "[AutogradeApp | ERROR] There was an error processing assignment 'a' for student 's'\n"
           "[AutogradeApp | ERROR] Please see the the above traceback for details on the specific errors on the above failures.\n")
    line = _last_error_line({"log": log, "error": "NbGraderException: Please see the the above traceback"})
    assert line.startswith("KernelStartError: the grading kernel did not start") and "Can't mount proc" in line


@pytest.mark.slow
def test_a_kernel_that_cannot_start_says_why(tmp_path, monkeypatch):
    """A sandbox that fails at start (here: bwrap gone after the probe) is named, not 'see the traceback'."""
    from autograder.grading import kernel
    from autograder.grading.execute import GuardedExecute, KernelStartError
    monkeypatch.setattr(kernel, "probe", lambda: Isolation("bwrap"))
    monkeypatch.setenv("PATH", _path_with(tmp_path, None))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    with pytest.raises(KernelStartError) as info:
        GuardedExecute(timeout=30, startup_timeout=30).preprocess(nb, {})
    assert "the grading kernel did not start" in str(info.value)
    assert "cannot start bwrap" in str(info.value), str(info.value)


# --------------------------------------------------------------------------- what a real kernel sees

LOOK_AROUND = r'''
import json, os, socket
seen = {"uid": os.getuid(), "root": sorted(os.listdir("/")), "home": os.path.exists("/home"),
        "checkout": sorted(os.listdir(CHECKOUT)) if os.path.isdir(CHECKOUT) else None,
        "tmp": sorted(os.listdir("/tmp")), "env": sorted(os.environ), "cwd": os.getcwd(),
        "procs": {p: open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace").split("\0")[:3]
                  for p in os.listdir("/proc") if p.isdigit()}}
try:
    socket.create_connection(("1.1.1.1", 80), timeout=3)
    seen["network"] = "open"
except OSError as exc:
    seen["network"] = str(exc)
print(json.dumps(seen))
'''


async def _look_around(code: str) -> tuple[dict, Isolation]:
    from autograder.grading.kernel import SandboxedKernelManager
    km = SandboxedKernelManager()
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=120)
        msg_id = kc.execute(code)
        text = []
        while True:
            msg = await kc.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                text.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                raise AssertionError(msg["content"]["traceback"])
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        return json.loads("".join(text)), km.isolation
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap is not installed (apt-get install bubblewrap)")
def test_a_sandboxed_kernel_sees_the_allow_list_only(monkeypatch):
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "do-not-leak")
    seen, found = asyncio.run(_look_around(f"CHECKOUT = {str(ROOT)!r}\n" + LOOK_AROUND))
    assert found.uses_namespaces, found.describe()
    assert not seen["home"] and "home" not in seen["root"]
    assert seen["checkout"] in (["autograder"], [".venv", "autograder"], ["autograder", ".venv"]) or \
        set(seen["checkout"]) <= {"autograder", ".venv"}, seen["checkout"]
    # /tmp holds the kernel's scratch folder, and the checkout's top folder when it was cloned there
    # (mktemp -d), which shows only the kit's package (checked above).
    kit_top = [ROOT.resolve().parts[2]] if ROOT.resolve().parts[1:2] == ("tmp",) else []
    scratch = [entry for entry in seen["tmp"] if entry not in kit_top]
    assert len(scratch) == 1 and seen["cwd"].startswith(f"/tmp/{scratch[0]}/"), seen["tmp"]
    assert "GRADER_SECRET_TOKEN" not in seen["env"] and "AUTOGRADER_SEED" not in seen["env"]
    assert seen["network"] != "open"
    # Its own PID namespace: bwrap's init and the kernel, nothing of the host.
    assert set(seen["procs"]) == {"1", "2"}, seen["procs"]
    assert "ipykernel_launcher" in seen["procs"]["2"]
    assert seen["procs"]["1"][:2] == ["bwrap", "--args"], seen["procs"]["1"]  # the mounted paths are not shown
    if found.uses_uid:
        assert seen["uid"] in iso.PRIVATE_UIDS


def test_a_kernels_scratch_folder_is_private(tmp_path):
    if not IS_ROOT:
        pytest.skip("a user id of its own needs root")
    scratch = iso.make_scratch(iso.fresh_uid())
    try:
        assert stat.S_IMODE(scratch.stat().st_mode) == 0o711
        assert stat.S_IMODE((scratch / "home").stat().st_mode) == 0o700
        assert stat.S_IMODE((scratch / "requests").stat().st_mode) == 0o750
        assert (scratch / "requests").stat().st_gid in iso.PRIVATE_UIDS
    finally:
        shutil.rmtree(scratch)


def test_sys_executable_is_inside_the_view():
    paths = readable_paths()
    exe = Path(os.path.realpath(sys.executable))
    assert any(p == exe.parent or p in exe.parents for p in paths), (exe, paths)


# --------------------------------------------------------------------------- what a cell leaves running

START_STRAYS = r'''
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
r, w = os.pipe()
if os.fork() == 0:  # a daemon: the middle process exits, the grandchild is re-parented away
    os.setsid()
    if os.fork() == 0:
        os.write(w, str(os.getpid()).encode())
        time.sleep(300)
    os._exit(0)
grandchild = int(os.read(r, 20))
'''

LOOK_FOR_STRAYS = r'''
def alive(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
print(alive(child.pid), alive(grandchild))
'''

END_STRAYS = r'''
import signal
for pid in (child.pid, grandchild):  # the control's, which would otherwise sleep on after the test
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
'''


@pytest.mark.slow
@pytest.mark.parametrize("isolate", [True, False], ids=["strongest_layer", "limits_only"])
@pytest.mark.parametrize("cleanup", [True, False], ids=["killed", "control"])
def test_a_process_a_cell_starts_does_not_outlive_the_cell(isolate, cleanup, monkeypatch):
    """A child in a session of its own and a re-parented daemon are both gone by the next cell
    (the control, without the clean-up, shows that the check sees them alive)."""
    from autograder.grading.execute import GuardedExecute
    from autograder.grading.kernel import SandboxedKernelManager
    if not cleanup:
        monkeypatch.setattr(SandboxedKernelManager, "kill_strays", lambda self: 0)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(START_STRAYS),
                                         nbformat.v4.new_code_cell(LOOK_FOR_STRAYS),
                                         nbformat.v4.new_code_cell(END_STRAYS)])
    executor = GuardedExecute(timeout=60, startup_timeout=60)
    executor.config.SandboxedKernelManager.isolate = isolate
    executor.preprocess(nb, {})
    printed = "".join(o.get("text", "") for o in nb.cells[1].outputs).split()
    assert printed == (["False", "False"] if cleanup else ["True", "True"]), nb.cells[1].outputs


async def _shut_down_after_the_kernel_died(monkeypatch) -> tuple[int, list[tuple[int, int]]]:
    """Start a kernel, SIGKILL it and reap it, then shut it down as nbclient does; returns its
    group's number and every killpg the shutdown sent."""
    from autograder.grading.kernel import SandboxedKernelManager
    km = SandboxedKernelManager(isolate=False)
    await km.start_kernel()
    process = km.provisioner.process
    pgid = km.provisioner.pgid
    process.kill()
    process.wait()  # reaped: from now on the number pgid may be handed to any new process
    sent = []
    real_killpg = os.killpg
    monkeypatch.setattr(os, "killpg", lambda group, signum: (sent.append((group, signum)),
                                                              real_killpg(group, signum))[1])
    await km.interrupt_kernel()
    await km.shutdown_kernel(now=True)
    return pgid, sent


def test_a_dead_kernels_shutdown_signals_no_group_that_may_be_someone_elses_now(monkeypatch):
    pgid, sent = asyncio.run(_shut_down_after_the_kernel_died(monkeypatch))
    assert pgid and not [s for s in sent if s[0] == pgid], sent
