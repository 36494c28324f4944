"""ansible-runner's ``Runner``, with the job's process started in a warm controller worker.

``make_fast_runner`` subclasses the ``Runner`` class ansible-runner would use: everything but the
process (status callbacks, the command artifact, rotation, stdout/stderr files, the event filter
and handler, the status and rc files) is ansible-runner's own code, in the order of ``Runner.run``.
The child runs on a fresh pseudo-terminal; its output is pumped into ansible-runner's event
filter; a timeout or cancellation kills its whole process tree."""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import selectors
import socket
import stat
import termios
import time
import uuid
from typing import Any

from runner.fastexec import wire
from runner.fastexec.workers import Zygote

POLL = 0.1  # seconds between checks for timeout and cancellation
DRAIN_TIMEOUT = 5.0  # as ansible-runner's last expect(EOF, timeout=5)


# --------------------------------------------------------------------------------------------------
# the job, run by ansible-runner's Runner with the process replaced


def ansible_runner_classes() -> tuple[Any, Any]:
    from ansible_runner import interface
    from ansible_runner.runner import Runner

    return interface, Runner


def make_fast_runner(base: Any) -> Any:
    """A ``Runner`` whose ``run`` starts the playbook in a zygote child instead of under pexpect.

    Everything else -- status callbacks, the command artifact, rotation, stdout/stderr files,
    ``OutputEventFilter`` and ``event_callback`` (partial-event merge, ``job_events/*.json``, the
    event handler), the ``status`` and ``rc`` files -- is ansible-runner's own code, in the order
    of ``Runner.run`` (ansible-runner 2.4).
    """
    import ansible_runner.plugins
    from ansible_runner.utils import OutputEventFilter, cleanup_artifact_dir

    class FastRunner(base):  # type: ignore[misc]
        zygote: Zygote
        module_zygote: Zygote | None = None  # the module worker, when it is up at the job's start
        module_broker: str | None = None  # the socket on which to ask for it otherwise
        playbook_path: str
        payload_store: str | None = None
        pipelining = False
        on_pgid: Any
        fallback_reason: str | None = None
        started = False
        pidfd: int | None = None

        def run(self) -> tuple[str, int | None]:
            cfg = self.config
            self.status_callback("starting")
            os.makedirs(cfg.artifact_dir, mode=0o700, exist_ok=True)
            job_events_path = os.path.join(cfg.artifact_dir, "job_events")
            if not os.path.exists(job_events_path):
                os.mkdir(job_events_path, 0o700)
            command_filename = os.path.join(cfg.artifact_dir, "command")
            with codecs.open(command_filename, "w", encoding="utf-8") as f:
                os.chmod(command_filename, stat.S_IRUSR | stat.S_IWUSR)
                json.dump({"command": cfg.command, "cwd": cfg.cwd, "env": cfg.env}, f, ensure_ascii=False)
            if cfg.ident is not None:
                cleanup_artifact_dir(os.path.join(cfg.artifact_dir, ".."), cfg.rotate_artifacts)
            suppress = getattr(cfg, "suppress_ansible_output", False)
            stdout_file = os.path.join(cfg.artifact_dir, "stdout")
            stderr_file = os.path.join(cfg.artifact_dir, "stderr")
            os.close(os.open(stdout_file, os.O_CREAT, stat.S_IRUSR | stat.S_IWUSR))
            out = OutputEventFilter(
                codecs.open(stdout_file, "w", encoding="utf-8"),  # noqa: SIM115 - closed by the filter
                self.event_callback,
                suppress,
                output_json=cfg.json_mode,
            )
            err = OutputEventFilter(
                codecs.open(stderr_file, "w", encoding="utf-8"),  # noqa: SIM115 - closed by the filter
                self.event_callback,
                suppress,
                output_json=cfg.json_mode,
            )
            self.status_callback("running")
            self.last_stdout_update = time.time()
            try:
                exit_code = self._run_child(out)
            finally:
                out.close()
                err.close()
            if self.fallback_reason:
                return self.status, None
            self.rc = exit_code if not (self.timed_out or self.canceled) else 254
            if self.canceled:
                self.status_callback("canceled")
            elif self.rc == 0 and not self.timed_out:
                self.status_callback("successful")
            elif self.timed_out:
                self.status_callback("timeout")
            else:
                self.status_callback("failed")
            for filename, data in (("status", self.status), ("rc", self.rc)):
                artifact_path = os.path.join(cfg.artifact_dir, filename)
                if not os.path.exists(artifact_path):
                    os.close(os.open(artifact_path, os.O_CREAT, stat.S_IRUSR | stat.S_IWUSR))
                with open(artifact_path, "w") as f:
                    f.write(str(data))
            if self.artifacts_handler is not None:
                self.artifacts_handler(cfg.artifact_dir)
            if self.finished_callback is not None:
                self.finished_callback(self)
            return self.status, self.rc

        def _run_child(self, out: Any) -> int | None:
            cfg = self.config
            master, slave = os.openpty()
            with contextlib.suppress(termios.error):  # pexpect.spawn(echo=False)
                attrs = termios.tcgetattr(slave)
                attrs[3] &= ~termios.ECHO
                termios.tcsetattr(slave, termios.TCSANOW, attrs)
            marker = os.path.join(cfg.artifact_dir, wire.FALLBACK_MARKER)
            tag = f"{wire.JOB_TAG}={uuid.uuid4().hex}"
            request: dict[str, Any] = {
                "argv": [self.playbook_path, *cfg.command[1:]],
                "env": {**cfg.env, wire.JOB_TAG: tag.split("=", 1)[1]},
                "cwd": cfg.cwd,
                "fallback_marker": marker,
            }
            if self.payload_store:
                request["payload_store"] = self.payload_store
            if self.pipelining:
                request["pipelining"] = True
            mz = self.module_zygote
            if mz is not None and mz.alive():
                request["module_socket"] = mz.sock_path
            if self.module_broker:
                request["module_broker"] = self.module_broker
            if "module_socket" in request or "module_broker" in request:
                request["module_python"] = self.zygote.python
            sock: socket.socket | None = None
            buf = bytearray()
            try:
                sock = self.zygote.connect()
                wire.send_request(sock, request, [slave, slave, slave])
                line = wire.read_reply_line(sock, buf)
            except OSError as exc:
                line = None
                if sock:
                    sock.close()
                self.fallback_reason = f"the warm worker did not take the job ({exc})"
            finally:
                os.close(slave)
            if sock is None or not line or not line.startswith("pid "):
                os.close(master)
                if sock:
                    sock.close()
                self.fallback_reason = self.fallback_reason or "the warm worker did not take the job"
                return None
            self.started = True
            pgid = int(line.split()[1])
            try:
                self.pidfd = os.pidfd_open(pgid)
            except OSError:  # already ended (and reaped): nothing to signal
                self.pidfd = None
            self.on_pgid(pgid, self.pidfd)
            try:
                return self._pump(master, sock, buf, pgid, out, marker)
            finally:
                wire.kill_tagged(tag)  # nothing of the job outlives it, also off its process tree
                self.on_pgid(pgid, None)
                if self.pidfd is not None:
                    os.close(self.pidfd)
                os.close(master)
                sock.close()

        def _pump(
            self, master: int, sock: socket.socket, buf: bytearray, pgid: int, out: Any, marker: str
        ) -> int | None:
            cfg = self.config
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            started = time.time()
            reply: str | None = None
            pty_open, done, killed = True, False, False
            drain_until = 0.0
            with selectors.DefaultSelector() as sel:
                sel.register(master, selectors.EVENT_READ, "pty")
                sel.register(sock, selectors.EVENT_READ, "sock")
                while pty_open or not done:
                    if done:
                        left = drain_until - time.monotonic()
                        if left <= 0:
                            break  # something that escaped the process group still holds the terminal
                    events = sel.select(POLL if not done else left)
                    for key, _ in events:
                        if key.data == "pty":
                            try:
                                data = os.read(master, 65536)
                            except OSError:
                                data = b""
                            if not data:
                                pty_open = False
                                sel.unregister(master)
                                continue
                            text = decoder.decode(data)
                            if text:
                                out.write(text)
                                out.flush()
                                self.last_stdout_update = time.time()
                        else:
                            try:
                                reply = wire.read_reply_line(sock, buf)
                            except OSError:
                                reply = None
                            done = True
                            sel.unregister(sock)
                            drain_until = time.monotonic() + DRAIN_TIMEOUT
                    if done or killed:
                        continue
                    if self.cancel_callback:
                        self.canceled = bool(self.cancel_callback())
                    if cfg.job_timeout and not self.canceled and time.time() - started > cfg.job_timeout:
                        self.timed_out = True
                    if self.canceled or self.timed_out:
                        killed = True  # as Runner.handle_termination: the whole process group
                        self._kill(pgid)
            tail = decoder.decode(b"", final=True)
            if tail:
                out.write(tail)
            if reply is None:  # the zygote went away under the job: make sure nothing is left
                self._kill(pgid)
                if self._stopping_now():
                    self.canceled = True
            code = wire.exit_code_of(reply)
            if code == wire.FALLBACK_EXIT and os.path.exists(marker):
                with open(marker) as fh:
                    self.fallback_reason = fh.read().strip() or "configuration drift"
                os.unlink(marker)
            return code

        def _kill(self, pgid: int) -> None:
            if self.pidfd is not None:
                wire.kill_tree(pgid, self.pidfd)

        def _stopping_now(self) -> bool:
            try:
                return bool(self.cancel_callback and self.cancel_callback())
            except Exception:
                return False

    FastRunner.__name__ = "FastRunner"
    _ = ansible_runner.plugins  # Runner.event_callback notifies them, as in the plain path
    return FastRunner
