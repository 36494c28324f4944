"""Warm process servers ("zygotes") for the fast executor.

A zygote is a long-lived Python process that has already imported what a job needs and forks one
child per request, so neither the interpreter start-up nor the imports are paid again:

* a **controller** zygote imports ansible-core (CLI, executor, templating, the builtin plugins with
  their configuration definitions) in the configuration context of the jobs it serves, and each
  child runs ``ansible-playbook`` in-process with the job's argv, environment, working directory
  and terminal: output, events (ansible-runner's ``awx_display`` callback), exit code and artifacts
  are those of ``ansible-playbook`` itself;
* a **module** zygote imports the Python side of modules (``ansible.module_utils``, the
  ``kubernetes`` client, ...) and each child runs one AnsiballZ module payload as ``__main__``,
  exactly as ``python AnsiballZ_x.py`` would, in the environment and directory of the task.

The executor side is ``runner.fastexec``. Started as::

    python -c 'from runner.fastzygote import main; main()' controller|module SOCKET

Protocol (AF_UNIX stream socket, same user only): the client sends a 4-byte big-endian length and a
JSON request ``{"argv", "env", "cwd", ...}`` with three file descriptors (stdin, stdout, stderr)
attached to the first byte; the server forks and answers ``pid N\\n``, then ``exit CODE\\n`` (or
``signal N\\n``) when the child ends. A client that closes the connection early kills the child's
process group. The zygote writes ``READY`` (or ``NOISY <text>`` when warming up printed something)
on its stdout once it listens, and exits, killing every child, when its stdin reaches EOF.

Nothing here may start a thread in the zygote: children are forked from it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import shlex
import signal
import socket
import struct
import sys
import tempfile
from typing import Any

from runner.fastpayloads import SYNTHESIZED

FALLBACK_EXIT = 117  # a controller child that must not run the job (config drift) exits with this
FALLBACK_MARKER = "fastexec-fallback"  # ... after writing the reason into <artifact dir>/<this>
MAX_REQUEST = 4 * 1024 * 1024
RELEASED = b"released\n"  # a client's word that it has the exit code: the zygote may just reap
ANSIBALLZ_MARK = b"_ANSIBALLZ_WRAPPER = True"

# Environment variables that differ between jobs served by one controller zygote. They must only
# be read at run time by anything the zygote imports before forking (see ``_warm_controller``).
PER_JOB_ENV = frozenset(
    {
        "KUBECONFIG",
        "K8S_AUTH_KUBECONFIG",
        "AWX_ISOLATED_DATA_DIR",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION",
        "JOB_ID",
        "RUNNER_OMIT_EVENTS",
        "RUNNER_ONLY_FAILED_EVENTS",
    }
)
# Ansible settings fed by those variables: recomputed in each child.
PER_JOB_SETTINGS = frozenset({"CACHE_PLUGIN_CONNECTION"})


# --------------------------------------------------------------------------------------------------
# wire protocol (used by both sides; stdlib only)


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


# --------------------------------------------------------------------------------------------------
# the server


def _set_pdeathsig() -> None:
    """Die with the zygote (Linux): a child must never outlive the process that tracks it."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


class _Server:
    def __init__(self, mode: str, path: str) -> None:
        self.mode = mode
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sel = selectors.DefaultSelector()
        self.jobs: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, conn)
        self.conns: dict[socket.socket, int] = {}  # conn -> pid

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
        self.sel.register(pidfd, selectors.EVENT_READ, "pid")
        self.sel.register(conn, selectors.EVENT_READ, "conn")
        with contextlib.suppress(OSError):
            conn.sendall(f"pid {pid}\n".encode())

    def _conn_event(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(4096)
        except OSError:
            data = b""
        if data:
            # RELEASED: the client has the exit code from the child itself and goes; no reply, no
            # kill. Clients send nothing else after the request.
            if data.startswith(RELEASED) and self.conns.pop(conn, None) is not None:
                self.sel.unregister(conn)
                conn.close()
            return
        pid = self.conns.pop(conn, None)
        self.sel.unregister(conn)
        conn.close()
        if pid is not None:  # the client went away first: the job must not outlive it
            pidfd = next((fd for fd, (p, _c) in self.jobs.items() if p == pid), None)
            kill_tree(pid, pidfd)

    def _reap(self, pidfd: int) -> None:
        pid, conn = self.jobs.pop(pidfd)
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
            _set_pdeathsig()
            if status_fd >= 0:
                os.set_inheritable(status_fd, False)
            for target, fd in enumerate(fds[:3]):
                os.dup2(fd, target)
            for fd in set(fds[:3]):
                if fd > 2:
                    os.close(fd)
            conn.close()  # only the zygote may hold the connection: its EOF means "kill"
            self._close_inherited()
            run = _run_controller_job if self.mode == "controller" else _run_module_job
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


def _reset_process(request: dict[str, Any]) -> None:
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # recomputed from the job's TMPDIR
    # A fresh process on a terminal is line buffered.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.reconfigure(line_buffering=os.isatty(stream.fileno()))  # type: ignore[union-attr]


def _python_exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):
        print(code, file=sys.stderr)
    return 1


# --------------------------------------------------------------------------------------------------
# controller zygote


def _warm_controller() -> None:
    """Import ansible-core and load the builtin plugins (with their config definitions) once."""
    import ansible.cli.playbook
    import ansible.executor.playbook_executor
    import ansible.executor.process.worker
    import ansible.executor.task_executor
    import ansible.executor.task_queue_manager
    import ansible.inventory.manager
    import ansible.parsing.dataloader
    import ansible.playbook
    import ansible.template
    import ansible.vars.manager  # noqa: F401
    from ansible import constants as C
    from ansible.plugins import loader as L
    from ansible.utils.collection_loader import AnsibleCollectionConfig
    from ansible.utils.collection_loader._collection_finder import (
        _AnsibleCollectionFinder,
        _get_collection_metadata,
    )

    L.init_plugin_loader([])
    _get_collection_metadata("ansible.builtin")  # parses ansible_builtin_runtime.yml once
    for name in C.INVENTORY_ENABLED:
        L.inventory_loader.get(name)
    # Only ansible-core's own plugins: others may patch ansible-core or read the job's environment
    # when imported (ansible-runner's awx_display does both), so children import them afresh.
    # These are what PlaybookExecutor.run and TaskQueueManager.load_callbacks load for every run.
    for plugin_loader in (L.connection_loader, L.shell_loader, L.become_loader, L.callback_loader):
        for name in _core_plugin_names(plugin_loader.subdir):
            with contextlib.suppress(Exception):
                plugin_loader.get(name, class_only=True)
    if C.DEFAULT_STRATEGY in _core_plugin_names("strategy_plugins"):
        L.strategy_loader.get(C.DEFAULT_STRATEGY, class_only=True)
    if C.CACHE_PLUGIN in _core_plugin_names("cache_plugins"):  # ansible-runner's jobs use jsonfile
        L.cache_loader.get(C.CACHE_PLUGIN, class_only=True)
    for action in ("normal", "debug", "command", "set_fact", "assert", "fail", "template", "copy"):
        L.action_loader.get(action, class_only=True)
    for module in ("command", "debug", "set_fact", "assert", "fail", "copy", "template", "stat", "file"):
        L.module_loader.find_plugin_with_context(module)
    for name in _core_plugin_names("lookup_plugins"):
        with contextlib.suppress(Exception):
            L.lookup_loader.get(name, class_only=True)
    for plugin_loader in (L.filter_loader, L.test_loader):
        list(plugin_loader.all())
    _forget_non_core_plugins()
    _warm_collection_plugins()
    _remember_config()
    import runner.fastshell  # noqa: F401 - used by _route_local_modules in every child

    # Children configure their own collection finder, with the same paths, in CLI.run.
    _AnsibleCollectionFinder._remove()
    AnsibleCollectionConfig.on_collection_load -= L._on_collection_load_handler


def _core_plugin_names(subdir: str) -> list[str]:
    import ansible.plugins

    kind = subdir.removesuffix("_plugins")
    path = os.path.join(os.path.dirname(ansible.plugins.__file__), kind)
    try:
        files = os.listdir(path)
    except OSError:
        return []
    # "_name" plugins are deprecated aliases that ``loader.all()`` still loads in every run
    return sorted(f[:-3] for f in files if f.endswith(".py") and f != "__init__.py")


def _forget_non_core_plugins() -> None:
    """Drop plugin modules that are not ansible-core's own (they may read the job's environment
    when imported, as ansible-runner's ``awx_display`` does): children import them afresh."""
    import ansible
    from ansible.plugins import loader as L

    core = os.path.dirname(ansible.__file__) + os.sep
    for plugin_loader in vars(L).values():
        cache = getattr(plugin_loader, "_module_cache", None)
        if not isinstance(cache, dict):
            continue
        for path in [p for p in cache if not str(p).startswith(core)]:
            module = cache.pop(path)
            name = getattr(module, "__name__", None)
            if name and sys.modules.get(name) is module:
                del sys.modules[name]


# Collection plugins worth having warm: imported with no side effect on ansible-core and without
# reading the environment. Forgotten again in a child whose playbook brings its own copy.
WARM_COLLECTIONS = ("kubernetes.core",)
WARM_COLLECTION_ACTIONS = ("kubernetes.core.k8s", "kubernetes.core.k8s_info")


def _warm_collection_plugins() -> None:
    from ansible.plugins import loader as L

    for name in WARM_COLLECTION_ACTIONS:
        with contextlib.suppress(Exception):
            L.action_loader.get(name, class_only=True)
            L.module_loader.find_plugin_with_context(name)


def _forget_shadowed_collections(argv: list[str]) -> None:
    """A playbook with its own ``collections/`` directory may bring another copy of a collection
    the zygote imported: then forget the zygote's."""
    shadowed = []
    for arg in argv[1:]:
        if not os.path.isfile(arg):
            continue
        base = os.path.join(os.path.dirname(os.path.abspath(arg)), "collections", "ansible_collections")
        shadowed += [c for c in WARM_COLLECTIONS if os.path.isdir(os.path.join(base, *c.split(".")))]
    if not shadowed:
        return
    _forget_non_core_plugins()
    for collection in shadowed:
        prefix = "ansible_collections." + collection
        for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
            del sys.modules[name]


def _verbosity(argv: list[str], default: int) -> int:
    """The -v level ``ansible-playbook`` will run with (counted as its argument parser does)."""
    level = 0
    for arg in argv[1:]:
        if arg == "--":
            break
        if arg == "--verbose":
            level += 1
        elif arg.startswith("-") and not arg.startswith("--") and set(arg[1:]) == {"v"}:
            level += len(arg) - 1
    return level or int(default or 0)


# The configuration the controller zygote warmed up with: its ansible.cfg (path and identity) and
# the settings that did not come from their defaults (``_remember_config``).
_WARM_CONFIG: dict[str, Any] = {}


def _config_file_identity(path: str | None) -> list[Any] | None:
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return [path]
    return [path, st.st_ino, st.st_mtime_ns, st.st_size]


def _remember_config() -> None:
    from ansible import constants as C

    namespace = vars(C)
    explicit = []
    for name in C.config.get_configuration_definitions():
        with contextlib.suppress(Exception):
            if C.config.get_config_value_and_origin(name, variables=namespace)[1] != "default":
                explicit.append(name)
    _WARM_CONFIG["file"] = _config_file_identity(C.config._config_file)
    _WARM_CONFIG["explicit"] = explicit


def _config_drift() -> list[str]:
    """Settings whose value in this job's environment and directory differs from the zygote's.

    The zygote serves only jobs with its environment (``fastexec.fingerprint``), so a setting can
    differ only when the job finds another ansible.cfg (the job's directory is its own), or when a
    setting set by the environment or the file is a relative path (resolved in the job's
    directory). Then only the explicitly set settings are compared; otherwise all of them.
    """
    from ansible import constants as C
    from ansible.config.manager import find_ini_config_file

    namespace = vars(C)
    names: Any = C.config.get_configuration_definitions()
    if _WARM_CONFIG and _config_file_identity(find_ini_config_file()) == _WARM_CONFIG["file"]:
        names = {name: names[name] for name in _WARM_CONFIG["explicit"] if name in names}
    drift = []
    for name, definition in names.items():
        if definition.get("type") == "tmppath" or name in PER_JOB_SETTINGS:
            continue
        try:
            value = C.config.get_config_value(name, variables=namespace)
        except Exception:
            continue
        if value != namespace.get(name):
            drift.append(name)
    return drift


def _run_controller_job(request: dict[str, Any]) -> int:
    import atexit

    from ansible import constants as C
    from ansible.utils.path import cleanup_tmp_file

    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as pexpect's ignore_sighup=True does
    with contextlib.suppress(OSError):
        import fcntl
        import termios

        if os.isatty(0):
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    _reset_process(request)
    # Colour support is decided when ansible.utils.color is imported, from stdout and TERM: decide
    # again on the job's terminal (functions keep reading the module's globals).
    import importlib

    import ansible.utils.color

    importlib.reload(ansible.utils.color)

    reason = None
    drift = _config_drift()
    if drift:
        reason = "the job's Ansible configuration differs from the warm worker's: " + ", ".join(drift)
    elif _verbosity(request["argv"], C.DEFAULT_VERBOSITY) >= 4:
        # -vvvv also prints "Loading collection ..." for what the warm worker loaded at start-up
        reason = "verbosity 4 and above shows the warm worker's own start-up"
    if reason:
        marker = request.get("fallback_marker")
        if marker:
            with open(marker, "w") as fh:
                fh.write(reason)
        return FALLBACK_EXIT

    # Per-job settings, and a private local temporary directory as a fresh process gets.
    namespace = vars(C)
    for name in PER_JOB_SETTINGS:
        with contextlib.suppress(Exception):
            setattr(C, name, C.config.get_config_value(name, variables=namespace))
    atexit.unregister(cleanup_tmp_file)  # the zygote's own directory is not ours to remove
    C.DEFAULT_LOCAL_TMP = C.config.get_config_value("DEFAULT_LOCAL_TMP", variables=namespace)

    _forget_shadowed_collections(list(request["argv"]))
    store = request.get("payload_store")
    if store:
        from runner import fastpayloads

        fastpayloads.share(store)

    if request.get("pipelining") and _verbosity(request["argv"], C.DEFAULT_VERBOSITY) < 3:
        _pipeline_local_modules()

    module_socket = request.get("module_socket")
    module_python = request.get("module_python")
    if module_socket and module_python:
        _route_local_modules(module_socket, module_python)

    from ansible.cli.playbook import PlaybookCLI

    sys.argv = list(request["argv"])
    try:
        PlaybookCLI.cli_executor(list(request["argv"]))
        code = 0
    except SystemExit as exc:
        code = _python_exit_code(exc)
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    return code


# -- warm modules, controller side ----------------------------------------------------------------

_SLEEP_SUFFIX = " && sleep 0"
_ASSIGNMENT = __import__("re").compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def parse_module_command(
    cmd: str, python: str, shell: str = "/bin/sh"
) -> tuple[dict[str, str], list[str]] | None:
    """``/bin/sh -c '[K=V ...] PYTHON [.../AnsiballZ_x.py] && sleep 0'`` → (env, args), else None.

    Only the exact shape Ansible's local connection uses for a module run without become, with no
    shell syntax that the shell would interpret differently from this parse.
    """
    try:
        outer = shlex.split(cmd)
    except ValueError:
        return None
    if len(outer) != 3 or outer[0] != shell or outer[1] != "-c" or not outer[2].endswith(_SLEEP_SUFFIX):
        return None
    body = outer[2][: -len(_SLEEP_SUFFIX)]
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


def _pipeline_local_modules() -> None:
    """Pipelining for the local connection when nobody configured it either way: the module is fed
    on stdin instead of being written to ~/.ansible/tmp first, which saves four shell commands per
    module task. Not with become, async, ANSIBLE_KEEP_REMOTE_FILES, nor at -vvv and above (whose
    output lists those commands): then the plain path's behaviour is kept."""
    from ansible import constants as C
    from ansible.plugins.connection import local

    plain = local.Connection.is_pipelining_enabled

    def is_pipelining_enabled(self: Any, wrap_async: bool = False) -> bool:
        if plain(self, wrap_async):
            return True
        if self.become or wrap_async or C.DEFAULT_KEEP_REMOTE_FILES:
            return False
        try:
            _value, origin = self.get_option_and_origin("pipelining")
        except Exception:
            return False
        return origin == "default"

    local.Connection.is_pipelining_enabled = is_pipelining_enabled  # type: ignore[method-assign]


def _route_local_modules(sock_path: str, python: str) -> None:
    """Make the local connection hand AnsiballZ runs of ``python`` to the module zygote, and do its
    temporary directory housekeeping in-process."""
    import subprocess
    import types

    from ansible import constants as C
    from ansible.plugins.connection import local

    from runner import fastshell

    real_popen = subprocess.Popen
    shell = (C.DEFAULT_EXECUTABLE or "/bin/sh").split()[0]

    def popen(cmd: Any, *args: Any, **kwargs: Any) -> Any:
        if (
            not args
            and isinstance(cmd, str)
            and kwargs.get("shell") is True
            and kwargs.get("executable") == shell
            and kwargs.get("stdin") is subprocess.PIPE
            and kwargs.get("stdout") is subprocess.PIPE
            and kwargs.get("stderr") is subprocess.PIPE
        ):
            housekeeping = fastshell.parse(cmd, shell)
            if housekeeping is not None:
                return fastshell.FinishedProcess(fastshell.run(housekeeping))
            parsed = parse_module_command(cmd, python, shell)
            if parsed is not None:
                extra_env, module_args = parsed
                env = {**os.environ, **extra_env}
                cwd = os.fsdecode(kwargs.get("cwd") or os.getcwd())
                with contextlib.suppress(OSError):  # not started: run it the plain way
                    return WarmModuleProcess(sock_path, [python, *module_args], env, cwd)
        return real_popen(cmd, *args, **kwargs)

    shim = types.ModuleType("subprocess")
    shim.__dict__.update(subprocess.__dict__)
    shim.Popen = popen  # type: ignore[attr-defined]
    local.subprocess = shim  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------------
# module zygote


def _warm_module() -> None:
    """Import what module payloads import, without any controller-side state."""
    import base64
    import runpy
    import zipfile  # noqa: F401

    import ansible.module_utils.basic
    import ansible.module_utils.common.arg_spec
    import ansible.module_utils.common.dict_transformations
    import ansible.module_utils.common.text.converters
    import ansible.module_utils.urls
    from ansible.module_utils._internal._ansiballz import _loader  # noqa: F401

    del base64, runpy, ansible
    for optional in (
        "yaml",
        "jsonpatch",
        "requests",
        "urllib3",
        "cryptography.x509",
        "kubernetes",
        "kubernetes.client",
        "kubernetes.config",
        "kubernetes.dynamic",
        "kubernetes.watch",
        "kubernetes.stream",
        # kubernetes.core's module side (kept per job only when the payload carries the same files)
        "ansible_collections.kubernetes.core.plugins.module_utils.common",
        "ansible_collections.kubernetes.core.plugins.module_utils.args_common",
        "ansible_collections.kubernetes.core.plugins.module_utils.k8s.client",
        "ansible_collections.kubernetes.core.plugins.module_utils.k8s.core",
        "ansible_collections.kubernetes.core.plugins.module_utils.k8s.service",
        "ansible_collections.kubernetes.core.plugins.module_utils.k8s.runner",
        "ansible_collections.kubernetes.core.plugins.module_utils.k8s.resource",
        "ansible_collections.kubernetes.core.plugins.module_utils.k8s.waiter",
    ):
        with contextlib.suppress(Exception):
            __import__(optional)
    _record_imported_sources()


_ZIP_DATA = __import__("re").compile(rb"zip_data='([A-Za-z0-9+/=]*)'")


def _site_roots(top: str) -> list[str]:
    module = sys.modules.get(top)
    if module is None:
        return []
    return [os.path.dirname(p) for p in getattr(module, "__path__", [])]


# What the module zygote imported, as it was then: payload path -> (CRC-32, size) of the source,
# the figures a zip archive keeps for each member (compared without decompressing it).
_IMPORTED: dict[str, tuple[int, int]] = {}


def _crc_and_size(data: bytes) -> tuple[int, int]:
    import zlib

    return zlib.crc32(data), len(data)


def _record_imported_sources() -> None:
    for name, module in list(sys.modules.items()):
        top = name.split(".", 1)[0]
        path = getattr(module, "__file__", None)
        if top not in ("ansible", "ansible_collections") or not path or not path.endswith(".py"):
            continue
        for root in _site_roots(top):
            rel = os.path.relpath(path, root)
            if not rel.startswith(".."):
                with contextlib.suppress(OSError), open(path, "rb") as fh:
                    _IMPORTED[rel.replace(os.sep, "/")] = _crc_and_size(fh.read())
                break


def _tree_matches(archive: Any, top: str) -> bool:
    """Whether every file the payload carries under ``top/`` is the one the zygote imported (or,
    for what it did not import, the installed one): then the zygote's modules are the payload's own.

    Files are compared by the CRC-32 and size the archive records, without decompressing: a
    different file that matches both is a one in four billion accident, and nothing to gain for
    anyone on purpose (the payload is built from the role's own collections, whose code runs
    anyway).
    """
    roots = _site_roots(top)
    if not roots:
        return False
    for info in archive.infolist():
        name = info.filename
        if not name.startswith(top + "/") or name.endswith("/") or name in SYNTHESIZED:
            continue
        carried = (info.CRC, info.file_size)
        if name in _IMPORTED:
            if carried != _IMPORTED[name]:
                return False
            continue
        if name.endswith("/__init__.py") and info.file_size < 256 and not archive.read(info).strip():
            continue  # an empty package marker: the installed package is a namespace or the same
        for root in roots:
            try:
                with open(os.path.join(root, name), "rb") as fh:
                    if _crc_and_size(fh.read()) == carried:
                        break
            except OSError:
                continue
        else:
            return False
    return True


def _align_with_payload(head: bytes) -> None:
    """Keep the zygote's imports of ``ansible`` and ``ansible_collections`` only where the payload
    carries the very same files; otherwise forget them so that they come from the payload, as in a
    fresh interpreter."""
    import base64
    import io
    import zipfile

    keep: dict[str, bool] = {"ansible": False, "ansible_collections": False}
    match = _ZIP_DATA.search(head)
    if match:
        with contextlib.suppress(Exception):
            archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(match.group(1))))
            for top in keep:
                keep[top] = _tree_matches(archive, top)
    for top, ok in keep.items():
        if ok:
            continue
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]


def _fresh_module_state() -> None:
    """Undo what the zygote's imports captured from its own environment."""
    kube_config = sys.modules.get("kubernetes.config.kube_config")
    if kube_config is not None:
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = os.environ.get("KUBECONFIG", "~/.kube/config")  # type: ignore[attr-defined]


def _run_module_job(request: dict[str, Any]) -> int:
    import atexit
    import runpy
    import traceback
    import types

    _reset_process(request)
    _fresh_module_state()
    argv = list(request["argv"])
    python, args = argv[0], argv[1:]
    if args:
        with open(args[0], "rb") as fh:
            payload = fh.read()
        source = None
    else:
        source = payload = sys.stdin.buffer.read()
    if ANSIBALLZ_MARK not in payload[:8192]:  # not a module payload: be the plain interpreter
        if source is not None:
            r, w = os.pipe()
            if os.fork() == 0:
                os.close(r)
                os.write(w, source)
                os._exit(0)
            os.close(w)
            os.dup2(r, 0)
        os.execv(python, [python, *args])
    _align_with_payload(payload)
    code = 0
    try:
        if args:
            sys.argv = [args[0]]
            runpy.run_path(args[0], run_name="__main__")
        else:
            sys.argv = [""]
            main = types.ModuleType("__main__")
            main.__builtins__ = __builtins__  # type: ignore[attr-defined]
            sys.modules["__main__"] = main
            exec(compile(source or b"", "<stdin>", "exec"), main.__dict__)
    except SystemExit as exc:
        code = _python_exit_code(exc)
    except BaseException:
        traceback.print_exc()
        code = 1
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    return code


# --------------------------------------------------------------------------------------------------


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
        _warm_controller() if mode == "controller" else _warm_module()
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
