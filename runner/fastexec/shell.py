"""In-process stand-ins for the housekeeping shell commands of a local module task.

Around every task whose action plugin may transfer files (``kubernetes.core.k8s`` is one), Ansible
runs three shell commands through the local connection: ``echo ~user`` (where is home), a ``mkdir`` of
a private ``ansible-tmp-*`` directory and, after the module, an ``rm -f -r`` of it. Each costs a
fork and exec of ``/bin/sh`` (about 4 ms); the fast executor's controller does the same work in the
task's own process instead.

Only the exact commands that ansible-core's ``sh`` shell plugin writes for the local connection
without become are recognized, and only over plain absolute paths (nothing the shell would expand
differently); anything else runs through ``/bin/sh`` as before. The results (exit code, stdout,
stderr, directory modes) are those of the shell commands.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass

_SLEEP_SUFFIX = " && sleep 0"
_PLAIN_PATH = r"/[A-Za-z0-9_.@%+:,/-]*"  # nothing a shell would expand, quote or split
_TMP_NAME = r"ansible-tmp-[0-9.]+-[0-9]+-[0-9]+"
_MKDTEMP = re.compile(
    rf'\( umask (?P<umask>[0-7]{{1,4}}) && mkdir -p "` echo (?P<base>{_PLAIN_PATH}) `"'
    rf'&& mkdir "` echo (?P<path>{_PLAIN_PATH}) `"'
    rf' && echo (?P<name>{_TMP_NAME})="` echo (?P<echoed>{_PLAIN_PATH}) `" \)'
)
_ECHO_HOME = re.compile(r"echo ~(?P<user>[A-Za-z0-9_][A-Za-z0-9_.-]*)?")  # POSIX user names
_REMOVE = re.compile(rf"rm -f -r (?P<path>{_PLAIN_PATH}) > /dev/null 2>&1")


@dataclass(frozen=True)
class Home:
    """``echo ~`` or ``echo ~user``"""

    user: str = ""


@dataclass(frozen=True)
class MakeTemp:
    """``( umask U && mkdir -p BASE && mkdir BASE/NAME && echo NAME=BASE/NAME )``"""

    umask: int
    base: str
    name: str


@dataclass(frozen=True)
class Remove:
    """``rm -f -r BASE/ansible-tmp-.../``"""

    path: str


Command = Home | MakeTemp | Remove


def local_command(cmd: str, shell: str = "/bin/sh") -> str | None:
    """``BODY`` of ``/bin/sh -c 'BODY && sleep 0'``, the shape in which ansible-core's action
    plugins hand a command to the local connection; None for any other shape."""
    try:
        outer = shlex.split(cmd)
    except ValueError:
        return None
    if len(outer) != 3 or outer[0] != shell or outer[1] != "-c" or not outer[2].endswith(_SLEEP_SUFFIX):
        return None
    return outer[2][: -len(_SLEEP_SUFFIX)]


def parse(cmd: str, shell: str = "/bin/sh") -> Command | None:
    """The housekeeping command ``cmd`` is, or None for anything else."""
    body = local_command(cmd, shell)
    if body is None:
        return None
    found = _ECHO_HOME.fullmatch(body)
    if found:
        return Home(user=found["user"] or "")
    found = _MKDTEMP.fullmatch(body)
    if found:
        base, path, name = found["base"], found["path"], found["name"]
        if path != found["echoed"] or path != os.path.join(base, name) or ".." in base.split("/"):
            return None
        return MakeTemp(umask=int(found["umask"], 8), base=base, name=name)
    found = _REMOVE.fullmatch(body)
    if found:
        path = found["path"]
        if not re.fullmatch(_TMP_NAME, os.path.basename(path.rstrip("/"))) or ".." in path.split("/"):
            return None
        return Remove(path=path)
    return None


def run(command: Command) -> tuple[int, bytes, bytes]:
    """Do what the shell command would: (exit code, stdout, stderr)."""
    if isinstance(command, Home):
        # the shell's tilde expansion: $HOME for "~", the password database for "~user"; an
        # unknown user's stays as it is
        return 0, os.path.expanduser("~" + command.user).encode() + b"\n", b""
    if isinstance(command, MakeTemp):
        return _make_temp(command)
    return _remove(command.path)


def _make_temp(command: MakeTemp) -> tuple[int, bytes, bytes]:
    mode = 0o777 & ~command.umask
    missing = []
    parent = os.path.normpath(command.base)
    while not os.path.isdir(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    path = os.path.join(command.base, command.name)
    for directory in [*reversed(missing), path]:
        try:
            os.mkdir(directory, mode)
            os.chmod(directory, mode)  # as under the umask, whatever this process's umask is
        except OSError as exc:
            return 1, b"", f"mkdir: cannot create directory '{directory}': {exc.strerror}\n".encode()
    return 0, f"{command.name}={path}\n".encode(), b""


def _remove(path: str) -> tuple[int, bytes, bytes]:
    target = path.rstrip("/")
    try:
        if os.path.islink(target) and not path.endswith("/"):
            os.unlink(target)
        elif os.path.isdir(target):
            shutil.rmtree(target)
        elif os.path.lexists(target):
            os.unlink(target)
    except OSError:
        return 1, b"", b""  # rm's own message went to /dev/null
    return 0, b"", b""


class FinishedProcess:
    """The part of ``subprocess.Popen`` that Ansible's local connection uses, for a command that
    already ran in-process."""

    def __init__(self, result: tuple[int, bytes, bytes]) -> None:
        self.returncode, self._stdout, self._stderr = result
        self.stdin = self.stdout = self.stderr = None
        self.pid = os.getpid()

    def communicate(self, input: bytes | None = None, timeout: float | None = None) -> tuple[bytes, bytes]:
        return self._stdout, self._stderr

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode

    def poll(self) -> int:
        return self.returncode

    def kill(self) -> None:
        pass

    terminate = kill

    def __enter__(self) -> FinishedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
