"""The controller zygote: ansible-core warmed up once, one ``ansible-playbook`` per forked child.

``warm_controller`` imports ansible-core (CLI, executor, templating, the builtin plugins with their
configuration definitions) in the configuration context of the jobs the zygote serves, and
remembers that configuration; ``run_controller_job`` runs in each child: it checks that the job's
configuration is the zygote's (or exits with ``FALLBACK_EXIT`` and the reason, and the job runs on
the plain path), recomputes the per-job settings, shares module payloads between jobs
(``runner.fastexec.payloads``), routes module tasks to the module zygote (``runner.fastexec.route``) and runs
``ansible-playbook`` in-process with the job's argv, environment, working directory and terminal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any

from runner.fastexec.polling import back_off_polling
from runner.fastexec.route import pipeline_local_modules, route_local_modules
from runner.fastexec.wire import FALLBACK_EXIT, python_exit_code, reset_process

# Environment variables that differ between jobs served by one controller zygote. They must only
# be read at run time by anything the zygote imports before forking (see ``warm_controller``).
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


def warm_controller() -> None:
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
    # Every action plugin of ansible-core's (pause, include_vars, ...): a job child that imports
    # one itself spends tens of milliseconds building its class.
    for action in _core_plugin_names("action_plugins"):
        with contextlib.suppress(Exception):
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
    import runner.fastexec.shell  # noqa: F401 - used by route_local_modules in every child

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

    The zygote serves only jobs with its environment (``fastworkers.fingerprint``), so a setting can
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


def run_controller_job(request: dict[str, Any]) -> int:
    import atexit

    from ansible import constants as C
    from ansible.utils.path import cleanup_tmp_file

    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as pexpect's ignore_sighup=True does
    with contextlib.suppress(OSError):
        import fcntl
        import termios

        if os.isatty(0):
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    reset_process(request)
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
    back_off_polling()
    store = request.get("payload_store")
    if store:
        from runner.fastexec import payloads

        payloads.share(store)

    if request.get("pipelining") and _verbosity(request["argv"], C.DEFAULT_VERBOSITY) < 3:
        pipeline_local_modules()

    module_socket = request.get("module_socket")  # the module worker, when it was up already
    module_broker = request.get("module_broker")  # where to ask the operator to start it
    module_python = request.get("module_python")
    if module_python and (module_socket or module_broker):
        route_local_modules(module_socket, module_python, module_broker)

    from ansible.cli.playbook import PlaybookCLI

    sys.argv = list(request["argv"])
    try:
        PlaybookCLI.cli_executor(list(request["argv"]))
        code = 0
    except SystemExit as exc:
        code = python_exit_code(exc)
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    return code
