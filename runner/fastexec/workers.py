"""The fast executor's warm workers as the operator sees them: processes to start, hand-shake
with, connect to and stop (``Zygote``); the socket on which a job's first module run asks for
the module worker, which starts only then (``ModuleBroker``); and which jobs may share one
controller worker: those whose environment (but for ``controller.PER_JOB_ENV``), ansible.cfg and
Python are the same (``fingerprint``)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import selectors
import signal
import socket
import stat
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from runner.fastexec import controller, wire

log = logging.getLogger("runner.fastexec.executor")

START_TIMEOUT = 120.0
_RUNNER_PARENT = str(Path(__file__).resolve().parents[2])


# --------------------------------------------------------------------------------------------------
# zygote processes, seen from the executor


class Zygote:
    def __init__(self, mode: str, sock_path: str, env: Mapping[str, str], cwd: str, python: str) -> None:
        self.mode = mode
        self.python = python
        self.sock_path = sock_path
        self.env = dict(env)
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.failure: str | None = None
        self.users = 0
        self.last_used = time.monotonic()
        self.payload_store: str | None = None
        self._lock = threading.Lock()
        self._ready = False
        self.closed = False

    def ensure_started(self, timeout: float = START_TIMEOUT) -> None:
        """Start the process and wait for it to listen (once; concurrent callers wait too)."""
        with self._lock:
            if self._ready or self.failure:
                return
            if self.closed:
                self.failure = "the executor is shutting down"
                return
            code = (
                f"import sys; del sys.path[0]; sys.path.append({_RUNNER_PARENT!r}); "
                "from runner.fastexec.zygote import main; main()"
            )
            try:
                self.proc = subprocess.Popen(
                    [self.python, "-c", code, self.mode, self.sock_path],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                self.failure = f"cannot start the warm {self.mode} worker: {exc}"
                return
            line = self._handshake(timeout)
            if line == "READY":
                self._ready = True
                log.debug("warm %s worker %d ready", self.mode, self.proc.pid)
                return
            if line.startswith("NOISY"):
                self.failure = (
                    "starting Ansible prints warnings in this configuration (they would be missing from "
                    "the jobs' output): " + line[6:]
                )
            elif line:
                self.failure = f"the warm {self.mode} worker failed to start: {line}"
            else:
                self.failure = f"the warm {self.mode} worker did not start"
            self._kill()

    def _handshake(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return ""
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
        return buf.decode(errors="replace").strip()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.sock_path)
        except OSError:
            sock.close()
            raise
        return sock

    def stop(self, grace: float = 2.0) -> None:
        self.closed = True
        with self._lock:  # a start in progress finishes first
            pass
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()  # EOF: the zygote kills its children and exits
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self._kill()
        if self.proc.stdout:
            self.proc.stdout.close()

    def _kill(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if stream:
                    stream.close()


# --------------------------------------------------------------------------------------------------
# the module worker, started when a job's first module run asks for it


class ModuleBroker:
    """The operator's end of ``wire.ask_module_worker``: a controller child about to run a module
    task sends the module's Python; ``provide`` starts the module worker for it (or waits for the
    start in progress) and gives its socket, or None and the reason the module runs the plain way.
    One thread per question: a start takes about a second, an answer to the others none."""

    def __init__(self, path: str, provide: Callable[[str], tuple[str | None, str]]) -> None:
        self.path = path
        self._provide = provide
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self._listener.bind(path)
        finally:
            os.umask(old)
        self._listener.listen(64)
        self._closed = False
        threading.Thread(target=self._serve, name="fastexec-modules", daemon=True).start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                if self._closed:
                    return
                time.sleep(0.1)
                continue
            threading.Thread(target=self._answer, args=(conn,), name="fastexec-modules", daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
                if struct.unpack("3i", creds)[1] != os.getuid():
                    return
                conn.settimeout(10)
                python = wire.read_reply_line(conn, bytearray())
                conn.settimeout(None)
            except OSError:
                return
            if not python:
                return
            try:
                path, reason = self._provide(python)
            except Exception as exc:  # answer anyway: the module then runs the plain way
                log.exception("starting the warm module worker failed")
                path, reason = None, f"{type(exc).__name__}: {exc}"
            answer = f"ok {path}" if path else "no " + reason.replace("\n", " ")
            with contextlib.suppress(OSError):
                conn.sendall(answer.encode() + b"\n")

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
        self._listener.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


# --------------------------------------------------------------------------------------------------
# what must match for jobs to share a controller zygote


def find_ansible_cfg(env: Mapping[str, str], cwd: str) -> str | None:
    """The file ansible-core would read (``ansible.config.manager.find_ini_config_file``)."""
    home = env.get("HOME") or os.path.expanduser("~")
    candidates = []
    if "ANSIBLE_CONFIG" in env:
        path = os.path.join(cwd, os.path.expanduser(env["ANSIBLE_CONFIG"]))
        if os.path.isdir(path):
            path = os.path.join(path, "ansible.cfg")
        candidates.append(path)
    with contextlib.suppress(OSError):
        if not os.stat(cwd).st_mode & stat.S_IWOTH:
            candidates.append(os.path.join(cwd, "ansible.cfg"))
    candidates += [os.path.join(home, ".ansible.cfg"), "/etc/ansible/ansible.cfg"]
    for path in candidates:
        if os.path.exists(path) and os.access(path, os.R_OK):
            return os.path.abspath(path)
    return None


def zygote_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in controller.PER_JOB_ENV}


def fingerprint(env: Mapping[str, str], cwd: str, python: str) -> str:
    """Jobs with the same fingerprint see the same Ansible configuration at start-up."""
    cfg = find_ansible_cfg(env, cwd)
    cfg_id: list[Any] = []
    if cfg:
        st = os.stat(cfg)
        cfg_id = [cfg, st.st_mtime_ns, st.st_size]
    blob = json.dumps([sorted(zygote_env(env).items()), cfg_id, python])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def interpreter_of(script: str) -> str | None:
    try:
        with open(script, "rb") as fh:
            first = fh.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    parts = first[2:].decode(errors="replace").split()
    return parts[0] if parts else None
