"""Containment for a student's code: bubblewrap namespaces and a cgroup per sandbox.

Every process of a submission runs inside ``bwrap`` with

- its own user namespace, an unprivileged uid (1000) and no capabilities, and
  no further user namespaces;
- its own PID, IPC and UTS namespaces: it sees no other process, and when the
  sandbox's first process ends the kernel kills every process left in it
  (double-forked ``setsid`` daemons included);
- a file system made only of read-only system directories, the Python
  interpreter and its virtual environment, the grader's runner files, a
  private writable copy of the submission and a size-limited ``/tmp`` (also
  its ``HOME``). The repository, ``.env``, the services' state and data, the
  grader's own files, other students' folders: none of it exists in there;
- the host's network (the lab services listen on loopback), nothing else shared;
- a cgroup (v2, or v1 ``memory`` + ``pids``) capping memory and the number of
  processes of the whole sandbox together, where the machine lets us create
  one; per-process rlimits (address space, CPU, file size) everywhere.

:func:`unavailable` says why bwrap cannot start here (macOS, containers
without user namespaces); the grader then runs uncontained only where the
caller allows it (a student's own ``grader check``), never for a class.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

SANDBOX_UID = 1000
SUBMISSION_DIR = "/submission"  # the private, writable copy of the student's folder
SOURCE_DIR = "/run/source"  # the student's folder itself, read-only
RUNNER_DIR = "/opt/grader"  # the runner's own files (grader/runner.py, codec.py...)
STATE_DIR = "/state"  # a program's folder that outlives it, when a check gives one
RUNNER_FILES = (
    "__init__.py",
    "runner.py",
    "codec.py",
    "workload.py",
    "notebook.py",
    "node_runner.mjs",
)
PACKAGES_DIR = "/node_modules"  # a JavaScript lab's pinned packages, found from SUBMISSION_DIR

# What a Python process needs from /etc; everything else there stays outside.
_ETC = (
    "hosts",
    "host.conf",
    "nsswitch.conf",
    "resolv.conf",
    "gai.conf",
    "localtime",
    "timezone",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "ssl",
    "ca-certificates",
    "alternatives",
    "mime.types",
    "protocols",
    "services",
)


class Isolation(StrEnum):
    REQUIRED = "required"  # contained or not at all (grader class)
    AUTO = "auto"  # contained where the machine allows, else say so once and run uncontained
    OFF = "off"  # uncontained (grader class --no-isolation)


@dataclass(frozen=True)
class Limits:
    """What one sandbox may use, all its processes together."""

    memory: int = 3 * 1024**3  # bytes (cgroup); each process also has RLIMIT_AS
    processes: int = 256  # tasks, threads included (cgroup pids.max)
    tmp: int = 256 * 1024**2  # bytes of /tmp (and HOME)


LIMITS = Limits()


@functools.cache
def unavailable() -> str:
    """Why a sandbox cannot start on this machine ("" when it can)."""
    bwrap = shutil.which("bwrap")
    if not sys.platform.startswith("linux"):
        return f"process sandboxes need Linux (this is {sys.platform})"
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed: `apt-get install bubblewrap`"
    try:
        probe = subprocess.run(
            [*_namespace_flags(), *_system_binds(), "--", "/bin/true"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not start: {exc}"
    if probe.returncode != 0:
        return f"bwrap cannot create namespaces here: {probe.stderr.strip()[-300:]}"
    return ""


@functools.cache
def _supports(option: str) -> bool:
    try:
        usage = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in usage.stdout + usage.stderr


def _namespace_flags() -> list[str]:
    flags = [
        "bwrap",
        "--unshare-user",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        *(["--disable-userns"] if _supports("--disable-userns") else []),  # bwrap >= 0.8
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        "--die-with-parent",
        "--new-session",
    ]
    if os.geteuid() == 0:  # root keeps its capabilities in the new namespace unless told
        flags += ["--cap-drop", "ALL"]
    return flags


def _system_binds() -> list[str]:
    binds = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        path = Path(top)
        if path.is_symlink():
            binds += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            binds += ["--ro-bind", top, top]
    for name in _ETC:
        binds += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return [*binds, "--proc", "/proc", "--dev", "/dev"]


def _python_binds() -> list[str]:
    """The interpreter and its environment, read-only, with the grader's own packages hidden."""
    binds: list[str] = []
    roots = sorted({Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()})
    for root in roots:
        if not str(root).startswith("/usr"):
            binds += ["--ro-bind", str(root), str(root)]
    # A non-editable install puts the grader (its checks, its plugin) in site-packages.
    for package in ("grader", "influx_labs"):
        here = Path(__file__).resolve().parent.parent / package
        if any(root in here.parents for root in roots):
            binds += ["--tmpfs", str(here)]
    return binds


def bwrap_command(
    source: Path,
    workroot: Path,
    command: list[str],
    *,
    limits: Limits = LIMITS,
    state: Path | None = None,
    packages: Path | None = None,
) -> list[str]:
    """The bwrap command line running ``command`` with the student's folder at SOURCE_DIR.

    The folder is mounted read-only; the runner copies it into the size-limited
    tmpfs at SUBMISSION_DIR, so the code's writes never reach a real disk.
    ``workroot`` is the grader's folder for this sandbox; only its ``etc/``
    files (see :func:`write_identity`) are mounted. ``state``, a folder the grader
    made for one check, is mounted writable at STATE_DIR: what a program keeps
    there outlives it (a forwarder's checkpoint, across a SIGKILL and a restart).
    ``packages``, a JavaScript lab's installed node_modules, is mounted read-only at
    PACKAGES_DIR, where Node.js looks last when the code at SUBMISSION_DIR imports one.
    """
    runner = Path(__file__).resolve().parent
    argv = [*_namespace_flags(), *_system_binds()]
    for name in ("passwd", "group"):
        argv += ["--ro-bind", str(workroot / "etc" / name), f"/etc/{name}"]
    # The tmpfs mounts come first: an interpreter or venv that lives under /tmp (a clone
    # there, say) is then mounted on top of the sandbox's /tmp, not hidden by it.
    argv += [
        "--size",
        str(limits.tmp),
        "--tmpfs",
        "/tmp",
        "--size",
        str(limits.tmp),
        "--tmpfs",
        SUBMISSION_DIR,
        *_python_binds(),
        "--ro-bind",
        str(source),
        SOURCE_DIR,
    ]
    for name in RUNNER_FILES:
        argv += ["--ro-bind", str(runner / name), f"{RUNNER_DIR}/grader/{name}"]
    if state is not None:
        argv += ["--bind", str(state), STATE_DIR]
    if packages is not None:
        argv += ["--ro-bind", str(packages), PACKAGES_DIR]
    # The root bwrap builds is a tmpfs: read-only, so only /tmp and SUBMISSION_DIR take writes.
    return [*argv, "--remount-ro", "/", "--chdir", "/tmp", "--", *command]


def popen(argv: list[str], *, pass_fds: tuple[int, ...] = (), **kwargs) -> subprocess.Popen:
    """Start ``argv``; a bwrap command gets its options through a pipe.

    Inside the sandbox, ``/proc/1/cmdline`` is bwrap's command line: passed
    there, the options would show the student where the grader keeps its
    files and the class folder. Through ``--args`` only the pipe's number shows.
    """
    if argv[0] != "bwrap":
        return subprocess.Popen(argv, pass_fds=pass_fds, **kwargs)
    end = argv.index("--")  # options before it, the sandbox's command after it
    read, write = os.pipe()
    try:
        os.write(write, b"".join(arg.encode() + b"\0" for arg in argv[1:end]))
    finally:
        os.close(write)
    try:
        return subprocess.Popen(
            ["bwrap", "--args", str(read), *argv[end:]], pass_fds=(*pass_fds, read), **kwargs
        )
    finally:
        os.close(read)


def write_identity(folder: Path) -> None:
    """/etc/passwd and /etc/group naming the sandbox's one user (some libraries look it up)."""
    etc = folder / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(
        f"student:x:{SANDBOX_UID}:{SANDBOX_UID}:student:/tmp:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    (etc / "group").write_text(f"student:x:{SANDBOX_UID}:\nnogroup:x:65534:\n")


# -- cgroups ---------------------------------------------------------------------

_CGROUP_ROOT = Path("/sys/fs/cgroup")


class Cgroup:
    """One sandbox's cgroup(s): memory and process caps for all of its processes together.

    cgroup v2 where the grader may create a child group with the memory and
    pids controllers; else cgroup v1's ``memory`` and ``pids`` hierarchies
    (root can write those); else none (see :meth:`create`).
    """

    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = dirs

    @classmethod
    def create(cls, limits: Limits = LIMITS) -> Cgroup | None:
        """A new cgroup with the limits set, or None where the machine allows none."""
        name = f"influx-labs-{uuid.uuid4().hex[:12]}"
        for make in (cls._v2, cls._v1):
            with contextlib.suppress(OSError):
                group = make(name, limits)
                if group is not None:
                    return group
        return None

    @classmethod
    def _v2(cls, name: str, limits: Limits) -> Cgroup | None:
        if not (_CGROUP_ROOT / "cgroup.controllers").exists():
            return None
        base = _CGROUP_ROOT / _own_path("") / "influx-labs"
        if not base.exists():
            base.mkdir()
        (base / "cgroup.subtree_control").write_text("+memory +pids")
        group = base / name
        group.mkdir()
        (group / "memory.max").write_text(str(limits.memory))
        (group / "memory.swap.max").write_text("0")
        (group / "pids.max").write_text(str(limits.processes))
        return cls([group])

    @classmethod
    def _v1(cls, name: str, limits: Limits) -> Cgroup | None:
        memory = _CGROUP_ROOT / "memory" / _own_path("memory") / name
        pids = _CGROUP_ROOT / "pids" / _own_path("pids") / name
        if not (memory.parent.is_dir() and pids.parent.is_dir()):
            return None
        memory.mkdir()
        pids.mkdir()
        group = cls([memory, pids])
        try:
            (memory / "memory.limit_in_bytes").write_text(str(limits.memory))
            (pids / "pids.max").write_text(str(limits.processes))
        except OSError:
            group.remove()
            raise
        return group

    def enter(self) -> None:  # pragma: no cover - runs in the child between fork and exec
        """Move the calling process into the group (its children follow)."""
        for folder in self.dirs:
            fd = os.open(folder / "cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def pids(self) -> list[int]:
        found: set[int] = set()
        for folder in self.dirs:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
        return sorted(found)

    def kill(self) -> None:
        """Kill every process in the group, until none is left (a fork storm included)."""
        kill_file = self.dirs[0] / "cgroup.kill"
        if kill_file.exists():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        end = time.monotonic() + 10  # a loaded machine may take seconds to reap a storm
        while time.monotonic() < end:
            left = self.pids()
            if not left:
                return
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill()
        for folder in self.dirs:
            for _ in range(100):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # the last processes are still being reaped
                    time.sleep(0.02)

    def oom_killed(self) -> bool:
        """Whether the memory cap made the kernel kill a process of this sandbox."""
        for folder in self.dirs:
            with contextlib.suppress(OSError):
                if (folder / "memory.events").exists():
                    events = dict(
                        line.split() for line in (folder / "memory.events").read_text().splitlines()
                    )
                    return int(events.get("oom_kill", 0)) > 0
                if (folder / "memory.oom_control").exists():
                    text = (folder / "memory.oom_control").read_text()
                    for line in text.splitlines():
                        if line.startswith("oom_kill "):
                            return int(line.split()[1]) > 0
        return False


def _own_path(controller: str) -> str:
    """This process's cgroup path in a v1 hierarchy (``controller``) or in v2 (``""``)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers.split(",") == [controller]:  # v2's line has no controllers: [""]
            return path.lstrip("/")
    raise OSError(f"no {controller or 'v2'} cgroup for this process")


@functools.cache
def cgroups_available() -> bool:
    group = Cgroup.create()
    if group is None:
        return False
    group.remove()
    return True


def describe(choice: Isolation = Isolation.AUTO) -> str:
    """One line on what contains a submission under ``choice``, for reports and the instructor."""
    if choice == Isolation.OFF:
        return "uncontained (isolation off)"
    if unavailable():
        return f"uncontained ({unavailable()})"
    caps = "cgroup memory + process caps" if cgroups_available() else "no cgroup (rlimits only)"
    return f"bubblewrap sandbox, uid {SANDBOX_UID}, {caps}"
