"""Module payloads shared between the jobs of one warm controller (the fast executor).

ansible-core builds a module's AnsiballZ payload once per run: a dependency scan of every
module_util it imports (``recursive_finder``, ~0.1 s for kubernetes.core) and a deflated zip of them
(~10 ms), kept in the run's own temporary directory. A warm controller runs many short jobs, so it
keeps both in a store shared by its jobs:

* the scan's result (the files it found and the metadata), and
* the finished payload (ansible-core's own ``ansiballz_cache`` entry), copied into the job's cache
  before ansible-core looks for it.

Either is reused only when the module source, its name, the collection search roots and the
compression are the same, no custom module_utils directory or payload extension is configured,
and every file the payload carries is byte for byte the one installed now: then ansible-core would
build the very same payload (but for the zip's timestamps).

Imported by ``runner.fastexec.controller`` in a controller job, after ansible-core: stdlib and ansible only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import time
from typing import Any

# Package markers AnsiballZ writes itself; the installed package's own files differ.
SYNTHESIZED = frozenset({"ansible/__init__.py", "ansible/module_utils/__init__.py"})

Entries = list[tuple[str, bytes]]


class _RecordingZip:
    """Forwards to a ZipFile and remembers what was written."""

    def __init__(self, zf: Any) -> None:
        self._zf = zf
        self.entries: Entries = []

    def writestr(self, zinfo: Any, data: Any, *args: Any, **kwargs: Any) -> None:
        name = zinfo.filename if hasattr(zinfo, "filename") else str(zinfo)
        self.entries.append((name, data if isinstance(data, bytes) else str(data).encode()))
        self._zf.writestr(zinfo, data, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._zf, name)


def _load(path: str) -> Any:
    with contextlib.suppress(Exception), open(path, "rb") as fh:
        return pickle.load(fh)
    return None


def _save(path: str, value: Any) -> None:
    with contextlib.suppress(Exception):
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "wb") as fh:
            pickle.dump(value, fh)
        os.replace(tmp, path)


def share(store: str) -> None:
    """Patch ansible-core's payload building (in this controller job) to use ``store``."""
    import inspect

    import ansible
    from ansible import constants as C
    from ansible.executor import module_common
    from ansible.module_utils.common.text.converters import to_bytes
    from ansible.plugins.loader import module_utils_loader
    from ansible.utils.collection_loader import AnsibleCollectionConfig
    from ansible.utils.collection_loader._collection_finder import _get_collection_path
    from ansible.utils.display import Display

    try:  # ansible-core 2.19: payload extensions (debugger, coverage) take part in the cache key
        from ansible._internal._ansiballz import _builder
    except ImportError:  # ansible-core 2.18: no extensions, the cache key is the module and compression
        _builder = None

    display = Display()
    core = os.path.join(os.path.dirname(ansible.__file__), "module_utils")
    real_finder = module_common.recursive_finder
    real_find_module_utils = module_common._find_module_utils
    # 2.18 passes _find_module_utils's arguments by position, 2.19 by keyword: read them by name
    find_module_utils_signature = inspect.signature(real_find_module_utils)
    scans: dict[str, Entries] = {}  # module fqn -> the files its last scan carried (this job)

    def installed(entry: str) -> str | None:
        parts = entry.split("/")
        if parts[:2] == ["ansible", "module_utils"] and len(parts) > 2:
            return os.path.join(core, *parts[2:])
        if parts[0] == "ansible_collections" and len(parts) > 3:
            try:
                return os.path.join(_get_collection_path(f"{parts[1]}.{parts[2]}"), *parts[3:])
            except ValueError:
                return None
        return None

    def carries_installed_files(entries: Entries) -> bool:
        for name, data in entries:
            if name in SYNTHESIZED:
                continue
            path = installed(name)
            try:
                if path is None:
                    raise OSError
                with open(path, "rb") as fh:
                    if fh.read() != data:
                        return False
            except OSError:
                if name.endswith("/__init__.py") and not data:
                    continue  # a package marker the payload makes for a namespace directory
                return False
        return True

    def shareable() -> bool:
        custom = [
            p
            for p in module_utils_loader._get_paths(subdirs=False)
            if os.path.isdir(p) and os.path.realpath(p) != os.path.realpath(core)
        ]
        return not custom

    def digest(name: str, module_fqn: str, module_data: Any, *more: str) -> str:
        # Only the collection roots that exist take part in the search: the playbook-adjacent
        # ``collections`` of each job's own project directory usually does not.
        roots = [
            os.path.realpath(p) for p in AnsibleCollectionConfig.collection_paths or [] if os.path.isdir(p)
        ]
        scope = json.dumps([name, module_fqn, roots, *more]).encode()
        return hashlib.sha256(scope + b"\0" + to_bytes(module_data)).hexdigest()

    def recursive_finder(
        name: str, module_fqn: str, module_data: Any, zf: Any, date_time: Any = None, *more: Any
    ) -> Any:
        # 2.19 passes an extension manager after date_time; 2.18 nothing (and may omit date_time)
        extensions = more[0].extension_names if more else ()
        if extensions or not shareable():
            return real_finder(name, module_fqn, module_data, zf, date_time, *more)
        if date_time is None:
            date_time = time.gmtime()[:6]  # as 2.18's recursive_finder does
        path = os.path.join(store, digest(name, module_fqn, module_data))
        cached = _load(path)
        if cached is not None and carries_installed_files(cached[0]):
            entries, metadata = cached
            for entry, data in entries:
                zf.writestr(module_common._make_zinfo(entry, date_time, zf=zf), data)
                if entry.endswith(".py") and display.verbosity >= 5:
                    display.vvvvv(f"Including module_utils file {entry}")
            scans[module_fqn] = entries
            return metadata
        recorder = _RecordingZip(zf)
        metadata = real_finder(name, module_fqn, module_data, recorder, date_time, *more)
        if carries_installed_files(recorder.entries):
            _save(path, (recorder.entries, metadata))
            scans[module_fqn] = recorder.entries
        return metadata

    def job_cache_file(kwargs: dict[str, Any]) -> tuple[str, str] | None:
        """Where ansible-core keeps this module's payload for the run, and the module's fqn."""
        try:
            fqn = module_common._get_ansible_module_fqn(kwargs["module_path"])
        except ValueError:  # a module in a role: ansible-core's stand-in name (2.18's differs)
            prefix = "ansible.modules" if _builder is None else "ansible.legacy"
            fqn = f"{prefix}.{kwargs['module_name']}"
        if not shareable():
            return None
        if _builder is None:  # 2.18
            name = "-".join((fqn, kwargs["module_compression"]))
        else:
            extensions = _builder.ExtensionManager.create(task_vars=kwargs["task_vars"])
            if extensions.extension_names:
                return None
            name = "-".join((fqn, kwargs["module_compression"], "none"))
        return os.path.join(C.DEFAULT_LOCAL_TMP, "ansiballz_cache", name), fqn

    def find_module_utils(*args: Any, **kw: Any) -> Any:
        kwargs = find_module_utils_signature.bind(*args, **kw).arguments
        target = job_cache_file(kwargs)
        if target is None or os.path.exists(target[0]):
            return real_find_module_utils(*args, **kw)
        cache_file, fqn = target
        key = digest(
            kwargs["module_name"], fqn, kwargs["b_module_data"], kwargs["module_compression"], "built"
        )
        path = os.path.join(store, key)
        built = _load(path)
        if built is not None and carries_installed_files(built[0]):
            os.makedirs(os.path.dirname(cache_file), exist_ok=True)
            part = f"{cache_file}.{os.getpid()}.part"  # workers of one job may race for it
            with open(part, "wb") as fh:
                fh.write(built[1])
            os.replace(part, cache_file)
            return real_find_module_utils(*args, **kw)
        scans.pop(fqn, None)
        result = real_find_module_utils(*args, **kw)
        entries = scans.get(fqn)
        if entries is not None:
            with contextlib.suppress(OSError), open(cache_file, "rb") as fh:
                _save(path, (entries, fh.read()))
        return result

    module_common.recursive_finder = recursive_finder
    module_common._find_module_utils = find_module_utils
