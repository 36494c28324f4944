"""Warm process servers ("zygotes") for the fast executor.

A zygote is a long-lived Python process that has already imported what a job needs and forks one
child per request, so neither the interpreter start-up nor the imports are paid again: a
**controller** zygote runs ``ansible-playbook`` jobs (``runner.fastexec.controller``), a **module**
zygote runs the AnsiballZ payloads of their module tasks (``runner.fastexec.module``). The executor side
is ``runner.fastexec.executor``; the protocol is in ``runner.fastexec.wire``. Started as::

    python -c 'from runner.fastexec.zygote import main; main()' controller|module SOCKET

The zygote writes ``READY`` (or ``NOISY <text>`` when warming up printed something) on its stdout
once it listens, and exits, killing every child, when its stdin reaches EOF.

Nothing here may start a thread in the zygote: children are forked from it.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import struct
import sys
import tempfile
from typing import Any

from runner.fastexec.controller import run_controller_job, warm_controller
from runner.fastexec.module import prepare_module_job, run_module_job, warm_module
from runner.fastexec.wire import (
    JOB_TAG,
    RELEASED,
    kill_tagged,
    kill_tree,
    load_libc,
    recv_request,
    set_pdeathsig,
)


class _Server:
    def __init__(self, mode: str, path: str) -> None:
        self.mode = mode
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sel = selectors.DefaultSelector()
        self.jobs: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, conn)
        self.conns: dict[socket.socket, int] = {}  # conn -> pid
        self.tags: dict[int, str] = {}  # pidfd -> the job's tag (JOB_TAG=token), when it has one

    def listen(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        old = os.umask(0o177)
        try:
            self.listener.bind(self.path)
        finally:
            os.umask(old)
        self.listener.listen(64)
        self.sel.register(self.listener, selectors.EVENT_READ, "accept")
        self.sel.register(0, selectors.EVENT_READ, "stdin")

    def serve(self) -> None:
        while True:
            for key, _ in self.sel.select():
                what = key.data
                if what == "accept":
                    self._accept()
                elif what == "stdin":
                    if not os.read(0, 4096):
                        self.stop()
                        return
                elif what == "conn":
                    self._conn_event(key.fileobj)  # type: ignore[arg-type]
                else:
                    self._reap(key.fd)

    def stop(self) -> None:
        for pidfd, (pid, _conn) in list(self.jobs.items()):
            kill_tree(pid, pidfd)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)
            with contextlib.suppress(OSError):
                os.close(pidfd)
        # What left the trees (a daemon a task started) goes too: the operator may be gone, and
        # with it the job's own clean-up.
        for tag in self.tags.values():
            kill_tagged(tag)
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        fds: list[int] = []
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid != os.getuid():
                raise PermissionError("peer is another user")
            conn.settimeout(10)
            request, fds = recv_request(conn)
            if len(fds) not in (3, 4):
                raise ValueError("expected three or four file descriptors")
            conn.settimeout(None)
            if self.mode == "module":
                prepare_module_job(request)
            pid = os.fork()
        except Exception:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            conn.close()
            return
        if pid == 0:  # the child: never returns
            self._child(request, fds, conn)
        for fd in fds:
            os.close(fd)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # pragma: no cover - kernels without pidfd (< 5.3)
            os.waitpid(pid, 0)
            conn.close()
            return
        self.jobs[pidfd] = (pid, conn)
        self.conns[conn] = pid
        env = request.get("env")
        token = env.get(JOB_TAG) if isinstance(env, dict) else None
        if isinstance(token, str):
            self.tags[pidfd] = f"{JOB_TAG}={token}"
        self.sel.register(pidfd, selectors.EVENT_READ, "pid")
        self.sel.register(conn, selectors.EVENT_READ, "conn")
        with contextlib.suppress(OSError):
            conn.sendall(f"pid {pid}\n".encode())

    def _conn_event(self, conn: socket.socket) -> None:
        if conn not in self.conns:
            return  # reaped or released earlier in the same round of events: closed already
        try:
            data = conn.recv(4096)
        except OSError:
            data = b""
        if data:
            # RELEASED: the client has the exit code from the child itself and goes; no reply, no
            # kill. Clients send nothing else after the request.
            if data.startswith(RELEASED):
                del self.conns[conn]
                self.sel.unregister(conn)
                conn.close()
            return
        pid = self.conns.pop(conn)
        self.sel.unregister(conn)
        conn.close()
        # the client went away first: the job must not outlive it
        pidfd = next((fd for fd, (p, _c) in self.jobs.items() if p == pid), None)
        kill_tree(pid, pidfd)

    def _reap(self, pidfd: int) -> None:
        pid, conn = self.jobs.pop(pidfd)
        self.tags.pop(pidfd, None)
        self.sel.unregister(pidfd)
        os.close(pidfd)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = 0
        # Whatever the job left behind in its process group goes with it (as with a closed pty).
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        reply = f"exit {os.waitstatus_to_exitcode(status)}\n"
        if os.WIFSIGNALED(status):
            reply = f"signal {os.WTERMSIG(status)}\n"
        if self.conns.pop(conn, None) is not None:
            self.sel.unregister(conn)
            with contextlib.suppress(OSError):
                conn.sendall(reply.encode())
            conn.close()

    # -- in the forked child --------------------------------------------------------------------

    def _close_inherited(self) -> None:
        """Close the zygote's own descriptors properly (never by number: Python owns them)."""
        for pidfd in self.jobs:
            with contextlib.suppress(OSError):
                os.close(pidfd)
        for conn in self.conns:
            conn.close()
        self.sel.close()
        self.listener.close()

    def _child(self, request: dict[str, Any], fds: list[int], conn: socket.socket) -> None:
        code = 1
        status_fd = fds[3] if len(fds) > 3 else -1
        try:
            os.setsid()
            set_pdeathsig()
            if status_fd >= 0:
                os.set_inheritable(status_fd, False)
            for target, fd in enumerate(fds[:3]):
                os.dup2(fd, target)
            for fd in set(fds[:3]):
                if fd > 2:
                    os.close(fd)
            conn.close()  # only the zygote may hold the connection: its EOF means "kill"
            self._close_inherited()
            run = run_controller_job if self.mode == "controller" else run_module_job
            code = run(request)
        except BaseException:  # pragma: no cover - last resort: say why on the job's stderr
            with contextlib.suppress(Exception):
                import traceback

                traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            if status_fd >= 0:
                # Tell the client now rather than after this process's teardown: first the end of
                # its output, then the code.
                with contextlib.suppress(OSError):
                    devnull = os.open(os.devnull, os.O_RDWR)
                    for target in (0, 1, 2):
                        os.dup2(devnull, target)
                    os.write(status_fd, f"exit {code}\n".encode())
            os._exit(code)


def main(argv: list[str] | None = None) -> None:
    mode, path = (argv or sys.argv[1:])[:2]
    if mode not in ("controller", "module"):
        raise SystemExit(f"unknown zygote mode {mode!r}")
    handshake = os.fdopen(os.dup(1), "w")
    # Anything printed while warming up (configuration warnings, deprecations) would be missing
    # from the jobs' output: capture it and report it instead of serving.
    capture = tempfile.TemporaryFile()  # noqa: SIM115 - closed below, before serving
    os.dup2(capture.fileno(), 1)
    os.dup2(capture.fileno(), 2)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        warm_controller() if mode == "controller" else warm_module()
    except BaseException as exc:
        handshake.write(f"FAILED {type(exc).__name__}: {exc}\n".replace("\n", " ").strip() + "\n")
        handshake.flush()
        raise SystemExit(1) from None
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    capture.seek(0)
    noise = capture.read().decode(errors="replace").strip()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    capture.close()
    server = _Server(mode, path)
    server.listen()
    load_libc()
    import gc

    gc.collect()
    gc.freeze()  # children share the warm heap copy-on-write
    handshake.write(("NOISY " + " | ".join(noise.splitlines()[:3]) if noise else "READY") + "\n")
    handshake.flush()
    handshake.close()
    try:
        server.serve()
    finally:
        server.stop()
