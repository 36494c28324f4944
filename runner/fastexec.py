"""The fast executor: the same jobs, results, events and artifacts as the plain path, without
paying interpreter and import start-up for every job and every module task.

``FastExecutor`` prepares each job with ansible-runner exactly as ``AnsibleRunnerExecutor`` does
(``ansible_runner.interface.init_runner``: same command, environment, working directory, artifact
directory and rotation) and runs it with ansible-runner's own ``Runner`` machinery (status and rc
files, ``OutputEventFilter`` turning the ``awx_display`` output into events, ``job_events/*.json``,
the event handler). Only the process differs: instead of exec'ing ``ansible-playbook`` under
pexpect, a warm **controller zygote** (``runner.fastzygote``) forks a child that runs
``ansible-playbook`` in-process on a fresh pseudo-terminal, and module tasks that the local
connection would run as ``/bin/sh -c 'python AnsiballZ_x.py'`` are forked from a warm **module
zygote** that has already imported ``ansible.module_utils`` and the ``kubernetes`` client.

Also, within the warm workers: AnsiballZ dependency scans are shared between jobs when the files
they carry are byte for byte the installed ones; the local connection pipelines modules when
nothing configures pipelining (not with become, async, kept remote files, or at -vvv and above,
whose output would show the difference); a job over its timeout or cancelled is killed with its
whole process tree (ansible-core's workers call setsid, so its process group is not enough).
Measurements: ``bench/fastexec-notes/MEASUREMENTS.md``.

``AutoExecutor(fast, plain)`` picks per job: a job the fast path cannot run identically
(``FastExecutor.compatible`` gives the reason, or the zygote finds out) runs on the plain path,
and the reason is logged once per watched kind.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import hashlib
import json
import logging
import os
import selectors
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import termios
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from runner import fastzygote
from runner.executor import EventCallback, Executor, JobSpec, _stdout_tail, event_handler, runner_kwargs
from runner.results import JobOutcome

log = logging.getLogger(__name__)

MAX_CONTROLLER_ZYGOTES = 4  # distinct configurations (env + ansible.cfg) served warm at once
IDLE_TIMEOUT = 60.0  # warm workers unused this long are stopped (memory back to the operator's own)
START_TIMEOUT = 120.0
POLL = 0.1  # seconds between checks for timeout and cancellation
DRAIN_TIMEOUT = 5.0  # as ansible-runner's last expect(EOF, timeout=5)
_RUNNER_PARENT = str(Path(__file__).resolve().parent.parent)


class FastUnavailable(Exception):
    """The fast path cannot run this job identically; nothing of the job has run."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------------
# zygote processes, seen from the executor


class _Zygote:
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
                "from runner.fastzygote import main; main()"
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
    return {k: v for k, v in env.items() if k not in fastzygote.PER_JOB_ENV}


def fingerprint(env: Mapping[str, str], cwd: str, python: str) -> str:
    """Jobs with the same fingerprint see the same Ansible configuration at start-up."""
    cfg = find_ansible_cfg(env, cwd)
    cfg_id: list[Any] = []
    if cfg:
        st = os.stat(cfg)
        cfg_id = [cfg, st.st_mtime_ns, st.st_size]
    blob = json.dumps([sorted(zygote_env(env).items()), cfg_id, python])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _interpreter_of(script: str) -> str | None:
    try:
        with open(script, "rb") as fh:
            first = fh.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    parts = first[2:].decode(errors="replace").split()
    return parts[0] if parts else None


# --------------------------------------------------------------------------------------------------
# the job, run by ansible-runner's Runner with the process replaced


def _ansible_runner_classes() -> tuple[Any, Any]:
    from ansible_runner import interface
    from ansible_runner.runner import Runner

    return interface, Runner


def _make_fast_runner(base: Any) -> Any:
    """A ``Runner`` whose ``run`` starts the playbook in a zygote child instead of under pexpect.

    Everything else -- status callbacks, the command artifact, rotation, stdout/stderr files,
    ``OutputEventFilter`` and ``event_callback`` (partial-event merge, ``job_events/*.json``, the
    event handler), the ``status`` and ``rc`` files -- is ansible-runner's own code, in the order
    of ``Runner.run`` (ansible-runner 2.4).
    """
    import ansible_runner.plugins
    from ansible_runner.utils import OutputEventFilter, cleanup_artifact_dir

    class FastRunner(base):  # type: ignore[misc, valid-type]
        zygote: _Zygote
        module_zygote: _Zygote | None
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
            marker = os.path.join(cfg.artifact_dir, fastzygote.FALLBACK_MARKER)
            request: dict[str, Any] = {
                "argv": [self.playbook_path, *cfg.command[1:]],
                "env": cfg.env,
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
                request["module_python"] = self.zygote.python
            sock: socket.socket | None = None
            buf = bytearray()
            try:
                sock = self.zygote.connect()
                fastzygote.send_request(sock, request, [slave, slave, slave])
                line = fastzygote.read_reply_line(sock, buf)
            except OSError as exc:
                line = None
                if sock:
                    sock.close()
                self.fallback_reason = f"the warm worker did not take the job ({exc})"
            finally:
                os.close(slave)
            if not line or not line.startswith("pid "):
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
                                reply = fastzygote.read_reply_line(sock, buf)
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
            code = fastzygote.exit_code_of(reply)
            if code == fastzygote.FALLBACK_EXIT and os.path.exists(marker):
                with open(marker) as fh:
                    self.fallback_reason = fh.read().strip() or "configuration drift"
                os.unlink(marker)
            return code

        def _kill(self, pgid: int) -> None:
            if self.pidfd is not None:
                fastzygote.kill_tree(pgid, self.pidfd)

        def _stopping_now(self) -> bool:
            try:
                return bool(self.cancel_callback and self.cancel_callback())
            except Exception:
                return False

    FastRunner.__name__ = "FastRunner"
    _ = ansible_runner.plugins  # Runner.event_callback notifies them, as in the plain path
    return FastRunner


# --------------------------------------------------------------------------------------------------


class FastExecutor:
    """Jobs forked from warm Ansible processes; same interface and results as the plain path."""

    name = "fast"

    def __init__(
        self,
        max_workers: int,
        *,
        warm_modules: bool = True,
        pipelining: bool = True,
        start_timeout: float = START_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
    ):
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fastjob")
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._zygotes: OrderedDict[str, _Zygote] = OrderedDict()
        self._module_zygote: _Zygote | None = None
        self._warm_modules = warm_modules
        self._pipelining = pipelining
        self._start_timeout = start_timeout
        self._dir = tempfile.mkdtemp(prefix="aor-fx-")
        os.chmod(self._dir, 0o700)
        self._counter = 0
        self._active: dict[int, int | None] = {}  # running jobs: pid -> pidfd
        self._playbook_paths: dict[str, tuple[str | None, str | None]] = {}
        self._runner_class: Any = None
        if idle_timeout <= 0:
            raise ValueError("the idle timeout of warm workers must be positive")
        self._idle_timeout = idle_timeout
        threading.Thread(target=self._reaper, name="fastexec-reaper", daemon=True).start()

    # -- compatibility -----------------------------------------------------------------------------

    def compatible(self, spec: JobSpec) -> str | None:
        """Why this job must run on the plain path, or None when the fast path runs it identically."""
        if self._stopping.is_set():
            return "the executor is shutting down"
        env_dir = spec.private_data_dir / "env"
        for name, why in (
            ("passwords", "answers password prompts (env/passwords)"),
            ("ssh_key", "uses an SSH key through ssh-agent (env/ssh_key)"),
            ("settings", "has ansible-runner settings (env/settings)"),
        ):
            if (env_dir / name).exists():
                return f"the job {why}, which only the plain path honours"
        if spec.verbosity >= 4:
            return "verbosity 4 and above would show the warm worker's own start-up"
        if (spec.private_data_dir / "args").exists():
            return "the job runs a raw command (args file)"
        if spec.cmdline:
            try:
                shlex.split(spec.cmdline)
            except ValueError as exc:
                return f"--ansible-args cannot be parsed: {exc}"
        path = spec.envvars.get("PATH") or os.environ.get("PATH", os.defpath)
        _playbook, problem = self._ansible_playbook(path)
        if problem:
            return problem
        return None

    def _ansible_playbook(self, path: str) -> tuple[str | None, str | None]:
        cached = self._playbook_paths.get(path)
        if cached:
            return cached
        found = shutil.which("ansible-playbook", path=path)
        if not found:
            result: tuple[str | None, str | None] = (None, "ansible-playbook is not on the job's PATH")
        else:
            found = os.path.abspath(found)
            interp = _interpreter_of(found)
            # The warm workers run with the interpreter of ansible-playbook's own #! line, so that
            # ansible_playbook_python (and the packages) are those of the plain path.
            result = (
                (found, None)
                if interp and os.path.isabs(interp) and os.access(interp, os.X_OK)
                else (None, f"{found} does not start with the #! line of a Python interpreter")
            )
        if result[0]:  # a missing or foreign ansible-playbook may be fixed by an install: look again
            self._playbook_paths[path] = result
        return result

    # -- running -----------------------------------------------------------------------------------

    async def run(self, spec: JobSpec, on_event: EventCallback) -> JobOutcome:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run_blocking, spec, on_event)

    def _run_blocking(self, spec: JobSpec, on_event: EventCallback) -> JobOutcome:
        reason = self.compatible(spec)
        if reason:
            raise FastUnavailable(reason)
        interface, base = _ansible_runner_classes()
        if self._runner_class is None:
            self._runner_class = _make_fast_runner(base)
        kept: list[Mapping[str, Any]] = []

        handle = event_handler(kept, on_event)
        try:
            prepared = interface.init_runner(**runner_kwargs(spec, handle, self._stopping.is_set))
        except Exception as exc:
            log.exception("ansible-runner failed to prepare the job")
            return JobOutcome(status="error", rc=None, events=(), error=f"{type(exc).__name__}: {exc}")
        cfg = prepared.config
        if not cfg.command or cfg.command[0] != "ansible-playbook":
            raise FastUnavailable("ansible-runner prepared a command other than ansible-playbook")
        if getattr(cfg, "containerized", False) or getattr(cfg, "sandboxed", False):
            raise FastUnavailable("the job uses process isolation")
        playbook_path, problem = self._ansible_playbook(cfg.env.get("PATH", os.defpath))
        python = _interpreter_of(playbook_path) if playbook_path else None
        if problem or not playbook_path or not python:
            raise FastUnavailable(problem or "ansible-playbook not found")

        if self._warm_modules and self._module_zygote is None:
            threading.Thread(
                target=self._modules, args=(python,), name="fastexec-modules", daemon=True
            ).start()
        zygote = self._controller_for(cfg.env, cfg.cwd, python)
        runner = self._runner_class(cfg, event_handler=handle, cancel_callback=self._stopping.is_set)
        try:
            runner.zygote = zygote
            runner.module_zygote = self._modules(python)
            runner.playbook_path = playbook_path
            runner.payload_store = zygote.payload_store
            runner.pipelining = self._pipelining
            runner.on_pgid = self._track
            status, rc = runner.run()
        except Exception as exc:
            log.exception("the fast path failed to run the job")
            if not runner.started:
                raise FastUnavailable(f"the fast path failed before the job started: {exc}") from exc
            return JobOutcome(
                status="error", rc=None, events=tuple(kept), error=f"{type(exc).__name__}: {exc}"
            )
        finally:
            with self._lock:
                zygote.users -= 1
        if runner.fallback_reason:
            # Nothing of the job ran: its artifacts are ansible-runner's bookkeeping only.
            shutil.rmtree(cfg.artifact_dir, ignore_errors=True)
            raise FastUnavailable(runner.fallback_reason)
        return JobOutcome(status=status, rc=rc, events=tuple(kept), stdout_tail=_stdout_tail(spec))

    def _track(self, pid: int, pidfd: int | None) -> None:
        with self._lock:
            if pidfd is None:
                self._active.pop(pid, None)
            else:
                self._active[pid] = pidfd

    def _sock_path(self, kind: str) -> str:
        self._counter += 1
        return os.path.join(self._dir, f"{kind}{self._counter}.sock")

    def _controller_for(self, env: Mapping[str, str], cwd: str, python: str) -> _Zygote:
        key = fingerprint(env, cwd, python)
        with self._lock:
            if self._stopping.is_set():
                raise FastUnavailable("the executor is shutting down")
            zygote = self._zygotes.get(key)
            if zygote is not None and zygote.proc is not None and not zygote.alive() and not zygote.failure:
                log.warning(
                    "the warm Ansible worker exited (code %s); starting a new one", zygote.proc.returncode
                )
                del self._zygotes[key]
                zygote = None
            if zygote is None:
                zygote = _Zygote("controller", self._sock_path("c"), zygote_env(env), cwd, python)
                zygote.payload_store = zygote.sock_path[: -len(".sock")] + "-payloads"
                os.mkdir(zygote.payload_store, 0o700)
                self._zygotes[key] = zygote
                self._evict_idle()
            self._zygotes.move_to_end(key)
            zygote.users += 1
            zygote.last_used = time.monotonic()
        try:
            zygote.ensure_started(self._start_timeout)
        except BaseException:
            with self._lock:
                zygote.users -= 1
            raise
        if zygote.failure:
            with self._lock:
                zygote.users -= 1
            raise FastUnavailable(zygote.failure)
        return zygote

    def _reaper(self) -> None:
        """Stop warm workers nobody used for IDLE_TIMEOUT; the next job starts them again (~0.7 s)."""
        while not self._stopping.wait(min(10.0, self._idle_timeout / 2)):
            self.reap_idle()

    def reap_idle(self) -> int:
        now = time.monotonic()
        idle: list[_Zygote] = []
        with self._lock:
            for key, zygote in list(self._zygotes.items()):
                if zygote.users == 0 and now - zygote.last_used > self._idle_timeout:
                    idle.append(self._zygotes.pop(key))
            module = self._module_zygote
            if (
                module is not None
                and not self._zygotes
                and not self._active
                and now - module.last_used > self._idle_timeout
            ):
                idle.append(module)
                self._module_zygote = None
        for zygote in idle:
            zygote.stop()
        if idle:
            log.info("stopped %d idle warm Ansible worker(s)", len(idle))
        return len(idle)

    def _evict_idle(self) -> None:
        while len(self._zygotes) > MAX_CONTROLLER_ZYGOTES:
            for key, zygote in self._zygotes.items():
                if zygote.users == 0:
                    del self._zygotes[key]
                    threading.Thread(target=zygote.stop, daemon=True).start()
                    break
            else:
                return

    def _modules(self, python: str) -> _Zygote | None:
        """The warm module worker for ``python`` (one interpreter: the first job's)."""
        if not self._warm_modules:
            return None
        with self._lock:
            if self._stopping.is_set():
                return None
            zygote = self._module_zygote
            if zygote is not None and zygote.python != python:
                return None
            if zygote is not None and zygote.proc is not None and not zygote.alive() and not zygote.failure:
                log.warning("the warm module worker exited; starting a new one")
                zygote = None
            if zygote is None:
                env = zygote_env(os.environ)
                zygote = self._module_zygote = _Zygote("module", self._sock_path("m"), env, "/", python)
            zygote.last_used = time.monotonic()
        zygote.ensure_started(self._start_timeout)
        if zygote.failure:
            if not getattr(zygote, "_reported", False):
                zygote._reported = True  # type: ignore[attr-defined]
                log.warning("module tasks run the plain way: %s", zygote.failure)
            return None
        return zygote

    def prestart(self, path: str | None = None) -> None:
        """Start the module worker ahead of the first job (optional; the first job does it too)."""
        playbook, _problem = self._ansible_playbook(path or os.environ.get("PATH", os.defpath))
        python = _interpreter_of(playbook) if playbook else None
        if python:
            threading.Thread(
                target=self._modules, args=(python,), name="fastexec-modules", daemon=True
            ).start()

    def shutdown(self) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        # Running jobs notice the flag within POLL seconds and stop as "canceled"; give them that.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            with self._lock:
                if not self._active:
                    break
            time.sleep(0.05)
        with self._lock:
            active = list(self._active.items())
            zygotes = list(self._zygotes.values())
            self._zygotes.clear()
            if self._module_zygote is not None:
                zygotes.append(self._module_zygote)
                self._module_zygote = None
        for pid, pidfd in active:
            fastzygote.kill_tree(pid, pidfd)
        for zygote in zygotes:
            zygote.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


class AutoExecutor:
    """The fast path for every job it can run identically, the plain path for the others."""

    name = "auto"

    def __init__(self, fast: FastExecutor, plain: Executor) -> None:
        self.fast = fast
        self.plain = plain
        self._reported: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    async def run(self, spec: JobSpec, on_event: EventCallback) -> JobOutcome:
        reason = self.fast.compatible(spec)
        if reason is None:
            try:
                return await self.fast.run(spec, on_event)
            except FastUnavailable as exc:
                reason = exc.reason
        self._report(spec, reason)
        return await self.plain.run(spec, on_event)

    def _report(self, spec: JobSpec, reason: str) -> None:
        # Job directories are <runner-dir>/<group>/<version>/<kind>/<namespace>/<name>.
        watch = str(spec.private_data_dir.parent.parent)
        key = (watch, reason)
        with self._lock:
            if key in self._reported:
                return
            self._reported.add(key)
        log.warning("running on the plain path: %s", reason, extra={"watch": watch})

    def shutdown(self) -> None:
        self.fast.shutdown()
        self.plain.shutdown()
