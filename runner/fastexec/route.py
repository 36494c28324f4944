"""Module tasks of a controller job, handed to the warm module worker.

In a controller child, the local connection's ``/bin/sh -c 'PYTHON AnsiballZ_x.py'`` becomes a
request to the module zygote (``WarmModuleProcess``, the part of ``subprocess.Popen`` the connection
uses), which the operator starts when a job's first module run asks for it; its temporary-directory
housekeeping commands run in-process (``runner.fastexec.shell``); and modules are piped on stdin
(pipelining) when nobody configured it either way. Anything else runs through ``/bin/sh`` as in a
plain run.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shlex
import socket
from typing import Any

from runner.fastexec import shell as housekeeping
from runner.fastexec.wire import RELEASED, ask_module_worker, encode_request, read_reply_line, send_request

_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def parse_module_command(
    cmd: str, python: str, shell: str = "/bin/sh"
) -> tuple[dict[str, str], list[str]] | None:
    """``/bin/sh -c '[K=V ...] PYTHON [.../AnsiballZ_x.py] && sleep 0'`` → (env, args), else None.

    Only the exact shape Ansible's local connection uses for a module run without become, with no
    shell syntax that the shell would interpret differently from this parse.
    """
    body = housekeeping.local_command(cmd, shell)
    if body is None:
        return None
    try:
        tokens = shlex.split(body)
    except ValueError:
        return None
    if not tokens or " ".join(shlex.quote(t) for t in tokens) != body:
        return None
    env: dict[str, str] = {}
    while tokens and _ASSIGNMENT.match(tokens[0]):
        key, _, value = tokens.pop(0).partition("=")
        env[key] = value
    if not tokens or tokens[0] != python:
        return None
    args = tokens[1:]
    if len(args) > 1:
        return None
    if args:
        base = os.path.basename(args[0])
        if not (base.startswith("AnsiballZ_") and base.endswith(".py")):
            return None
    return env, args


class WarmModuleProcess:
    """The part of ``subprocess.Popen`` that Ansible's local connection uses, for a module run by
    the module zygote instead of ``/bin/sh -c 'python AnsiballZ_x.py'``."""

    def __init__(self, sock_path: str, argv: list[str], env: dict[str, str], cwd: str) -> None:
        """Raises OSError when the module was not started (then it may be run the plain way)."""
        self.returncode: int | None = None
        self.stdout = self.stderr = self.stdin = None
        self._buf = bytearray()
        try:
            data = encode_request({"argv": argv, "env": env, "cwd": cwd})
        except (TypeError, ValueError) as exc:
            raise OSError(f"cannot encode the module request: {exc}") from exc
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        pipes: list[int] = []
        try:
            self._sock.connect(sock_path)
            in_r, in_w = os.pipe()
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            st_r, st_w = os.pipe()
            pipes = [in_r, in_w, out_r, out_w, err_r, err_w, st_r, st_w]
            send_request(self._sock, data, [in_r, out_w, err_w, st_w])
        except BaseException:
            for fd in pipes:
                os.close(fd)
            self._sock.close()  # a request cut short is dropped by the zygote: nothing started
            raise
        for fd in (in_r, out_w, err_w, st_w):
            os.close(fd)
        self._in, self._out, self._err, self._status = in_w, out_r, err_r, st_r
        line = read_reply_line(self._sock, self._buf)
        self.pid = int(line.split()[1]) if line and line.startswith("pid ") else -1

    def communicate(self, input: bytes | None = None, timeout: float | None = None) -> tuple[bytes, bytes]:
        out, err = bytearray(), bytearray()
        try:
            pending = bytes(input or b"")
            with selectors.DefaultSelector() as sel:
                if pending:
                    os.set_blocking(self._in, False)
                    sel.register(self._in, selectors.EVENT_WRITE, "in")
                else:
                    os.close(self._in)
                    self._in = -1
                sel.register(self._out, selectors.EVENT_READ, out)
                sel.register(self._err, selectors.EVENT_READ, err)
                while sel.get_map():
                    for key, _ in sel.select():
                        if key.data == "in":
                            try:
                                n = os.write(self._in, pending[:65536])
                            except BrokenPipeError:
                                n = len(pending)
                            pending = pending[n:]
                            if not pending:
                                sel.unregister(self._in)
                                os.close(self._in)
                                self._in = -1
                            continue
                        chunk = os.read(key.fd, 65536)
                        if chunk:
                            key.data.extend(chunk)
                        else:
                            sel.unregister(key.fd)
            self.returncode = self._child_status()
            if self.returncode is None:
                self.returncode = self._wait()
            else:
                with contextlib.suppress(OSError):
                    self._sock.sendall(RELEASED)
        finally:
            self._close()
        return bytes(out), bytes(err)

    def _child_status(self) -> int | None:
        """The exit code the child wrote itself after its output ended, or None when it could not
        (killed): then the zygote's word counts."""
        line = b""
        while not line.endswith(b"\n"):
            try:
                chunk = os.read(self._status, 64)
            except OSError:
                return None
            if not chunk:
                return None
            line += chunk
        if line.startswith(b"exit "):
            with contextlib.suppress(ValueError):
                return int(line.split()[1])
        return None

    def _wait(self) -> int:
        line = read_reply_line(self._sock, self._buf)
        if line and line.startswith("exit "):
            return int(line.split()[1])
        if line and line.startswith("signal "):
            return 128 + int(line.split()[1])  # what /bin/sh reports for a killed command
        return 255

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.communicate()
        assert self.returncode is not None
        return self.returncode

    def poll(self) -> int | None:
        return self.returncode

    def kill(self) -> None:
        self._close()

    terminate = kill

    def _close(self) -> None:
        for fd in (self._in, self._out, self._err, self._status):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._in = self._out = self._err = self._status = -1
        self._sock.close()  # before the module ended: the zygote kills it

    def __enter__(self) -> WarmModuleProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()


def pipeline_local_modules() -> None:
    """Pipelining for the local connection when nobody configured it either way: the module is fed
    on stdin instead of being written to ~/.ansible/tmp first, which saves four shell commands per
    module task. Not with become, async, ANSIBLE_KEEP_REMOTE_FILES, nor at -vvv and above (whose
    output lists those commands): then the plain path's behaviour is kept."""
    from ansible import constants as C
    from ansible.plugins.connection import local

    def unconfigured(connection: Any, wrap_async: bool) -> bool:
        if connection.become or wrap_async or C.DEFAULT_KEEP_REMOTE_FILES:
            return False
        try:
            _value, origin = connection.get_option_and_origin("pipelining")
        except Exception:
            return False
        return bool(origin == "default")

    if hasattr(local.Connection, "is_pipelining_enabled"):  # ansible-core 2.19: the connection decides
        plain = local.Connection.is_pipelining_enabled

        def is_pipelining_enabled(self: Any, wrap_async: bool = False) -> bool:
            return bool(plain(self, wrap_async)) or unconfigured(self, wrap_async)

        local.Connection.is_pipelining_enabled = is_pipelining_enabled
        return

    # ansible-core 2.18: the action plugin decides, for any connection and module style
    from ansible.plugins.action import ActionBase

    plain_action = ActionBase._is_pipelining_enabled

    def _is_pipelining_enabled(self: Any, module_style: str, wrap_async: bool = False) -> bool:
        if plain_action(self, module_style, wrap_async):
            return True
        connection = self._connection
        return (
            isinstance(connection, local.Connection)
            and module_style == "new"
            and unconfigured(connection, wrap_async)
        )

    ActionBase._is_pipelining_enabled = _is_pipelining_enabled


def warm_module_process(
    sock_path: str | None, broker: str | None, argv: list[str], env: dict[str, str], cwd: str
) -> WarmModuleProcess | None:
    """The module run by the module zygote at ``sock_path`` (the one up when the job started), else
    by the one the operator starts or restarts when asked on ``broker``; None: run it the plain way."""
    if sock_path:
        with contextlib.suppress(OSError):
            return WarmModuleProcess(sock_path, argv, env, cwd)
    started = ask_module_worker(broker, argv[0]) if broker else None
    if started:
        with contextlib.suppress(OSError):
            return WarmModuleProcess(started, argv, env, cwd)
    return None


def route_local_modules(sock_path: str | None, python: str, broker: str | None = None) -> None:
    """Make the local connection hand AnsiballZ runs of ``python`` to the module zygote (at
    ``sock_path``, or started on request through ``broker``), and do its temporary directory
    housekeeping in-process."""
    import subprocess
    import types

    from ansible import constants as C
    from ansible.plugins.connection import local

    real_popen = subprocess.Popen
    shell = (C.DEFAULT_EXECUTABLE or "/bin/sh").split()[0]

    def popen(cmd: Any, *args: Any, **kwargs: Any) -> Any:
        if (
            not args
            and isinstance(cmd, str | bytes)  # ansible-core 2.19 passes text, 2.18 bytes
            and kwargs.get("shell") is True
            and kwargs.get("executable") == shell
            and kwargs.get("stdin") is subprocess.PIPE
            and kwargs.get("stdout") is subprocess.PIPE
            and kwargs.get("stderr") is subprocess.PIPE
            and kwargs.get("env") is None  # the shell would see this process's environment
        ):
            text = os.fsdecode(cmd)
            command = housekeeping.parse(text, shell)
            if command is not None:
                return housekeeping.FinishedProcess(housekeeping.run(command))
            parsed = parse_module_command(text, python, shell)
            if parsed is not None:
                extra_env, module_args = parsed
                env = {**os.environ, **extra_env}
                cwd = os.fsdecode(kwargs.get("cwd") or os.getcwd())
                warm = warm_module_process(sock_path, broker, [python, *module_args], env, cwd)
                if warm is not None:
                    return warm
        return real_popen(cmd, *args, **kwargs)

    shim = types.ModuleType("subprocess")
    shim.__dict__.update(subprocess.__dict__)
    shim.Popen = popen  # type: ignore[attr-defined]
    local.subprocess = shim
