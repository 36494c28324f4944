"""The fast executor's wire protocol and process helpers, shared by the executor side
(``executor``, ``route``) and the warm workers (``zygote``); stdlib only.

Protocol (AF_UNIX stream socket, same user only): the client sends a 4-byte big-endian length and a
JSON request ``{"argv", "env", "cwd", ...}`` with three file descriptors (stdin, stdout, stderr),
and for a module run a fourth (a status pipe), attached to the first byte; the server forks and
answers ``pid N\\n``, then ``exit CODE\\n`` (or ``signal N\\n``) when the child ends. A module child
writes ``exit CODE\\n`` on its status pipe itself once its output ended; the client then says
``released\\n`` and goes without waiting for the server's word. A client that closes the connection
early kills the child's process group.

The module worker starts when a job's first module run needs it: the controller child sends the
module's Python and a newline to the operator's broker socket, which answers ``ok SOCKET\\n`` once
the worker listens, or ``no REASON\\n`` (then the module runs the plain way).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import struct
import sys
import tempfile
from typing import Any

FALLBACK_EXIT = 117  # a controller child that must not run the job (config drift) exits with this
FALLBACK_MARKER = "fastexec-fallback"  # ... after writing the reason into <artifact dir>/<this>
MAX_REQUEST = 4 * 1024 * 1024
RELEASED = b"released\n"  # a client's word that it has the exit code: the zygote may just reap
ANSIBALLZ_MARK = b"_ANSIBALLZ_WRAPPER = True"


def encode_request(request: dict[str, Any]) -> bytes:
    body = json.dumps(request).encode()
    return struct.pack(">I", len(body)) + body


def send_request(sock: socket.socket, request: dict[str, Any] | bytes, fds: list[int]) -> None:
    data = request if isinstance(request, bytes) else encode_request(request)
    sent = socket.send_fds(sock, [data[:1]], fds)
    if sent != 1:
        raise OSError("short send")
    sock.sendall(data[1:])


def _recv_exact(sock: socket.socket, n: int, first: bytes = b"") -> bytes:
    buf = bytearray(first)
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return bytes(buf)


def recv_request(sock: socket.socket) -> tuple[dict[str, Any], list[int]]:
    msg, fds, _flags, _addr = socket.recv_fds(sock, 1, 8)
    if not msg:
        for fd in fds:
            os.close(fd)
        raise EOFError("connection closed")
    try:
        head = _recv_exact(sock, 4, msg)
        (length,) = struct.unpack(">I", head)
        if length > MAX_REQUEST:
            raise ValueError("request too large")
        return json.loads(_recv_exact(sock, length)), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def read_reply_line(sock: socket.socket, buf: bytearray) -> str | None:
    """One line of the server's reply (``None`` at EOF); ``buf`` keeps what was read past it."""
    while b"\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line.decode()


def ask_module_worker(broker: str, python: str) -> str | None:
    """The socket of the warm module worker for ``python``, which the operator (``ModuleBroker`` on
    ``broker``) starts on the first question; None when the module must run the plain way (the
    operator logs why). Blocks while the worker starts (about a second)."""
    if "\n" in python:
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(broker)
            sock.sendall(python.encode() + b"\n")
            answer = read_reply_line(sock, bytearray())
        except OSError:
            return None
    if answer and answer.startswith("ok "):
        return answer[3:]
    return None


def exit_code_of(reply: str | None) -> int | None:
    """``exit N`` → N; ``signal N`` → None (like a process killed by a signal); EOF → None."""
    if reply and reply.startswith("exit "):
        return int(reply.split()[1])
    return None


def process_tree(root: int) -> list[int]:
    """Every descendant of ``root`` (from /proc), whatever session or group it moved to."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(root: int, pidfd: int | None = None) -> None:
    """SIGKILL a job: its process group and every descendant, also those that called setsid()
    (Ansible's workers do, so killing the group alone leaves the running task behind). The tree is
    stopped first so that nothing forks out of it while it is walked. With ``pidfd`` nothing is
    done once ``root`` has ended (its pid may belong to another process by then)."""
    if pidfd is not None:
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGSTOP)
        except OSError:
            return
    stopped: set[int] = set()
    for _ in range(10):
        new = [p for p in (root, *process_tree(root)) if p not in stopped]
        if not new:
            break
        for pid in new:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)
        stopped.update(new)
    with contextlib.suppress(OSError):
        os.killpg(root, signal.SIGKILL)
    for pid in stopped:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


JOB_TAG = "RUNNER_FASTEXEC_JOB"  # in the environment of every process of a fast job: JOB_TAG=<token>


def tagged(tag: bytes) -> list[int]:
    """Live processes with ``tag`` (``NAME=VALUE``) in their environment."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if tag in fh.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def kill_tagged(tag: str) -> None:
    """SIGKILL what is left of a job that its process tree no longer reaches: processes that
    outlived their parents (a daemon a task started, the workers of a killed ansible-playbook, the
    module runs of the warm module worker), found by the job's tag in their environment."""
    want = tag.encode()
    for _ in range(50):
        pids = [p for p in tagged(want) if p != os.getpid()]
        if not pids:
            return
        for sig in (signal.SIGSTOP, signal.SIGKILL):  # stopped first: none forks in between
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)


_libc: list[Any] = []  # loaded once in the zygote (load_libc), so a forked child only calls prctl


def load_libc() -> None:
    """Load the C library handle ``set_pdeathsig`` uses (each new ``CDLL`` builds ctypes classes)."""
    with contextlib.suppress(Exception):
        if not _libc:
            _libc.append(ctypes.CDLL(None, use_errno=True))


def set_pdeathsig() -> None:
    """Die with the zygote (Linux): a child must never outlive the process that tracks it."""
    load_libc()
    with contextlib.suppress(Exception):
        _libc[0].prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def reset_process(request: dict[str, Any]) -> None:
    os.umask(0o077)  # as the plain path's job guard: every file a job writes is private
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # recomputed from the job's TMPDIR
    # A fresh process on a terminal is line buffered.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.reconfigure(line_buffering=os.isatty(stream.fileno()))  # type: ignore[union-attr]


def python_exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):
        print(code, file=sys.stderr)
    return 1
