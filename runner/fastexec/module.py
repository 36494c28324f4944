"""The module zygote: the Python side of modules imported once, one module run per forked child.

``warm_module`` imports ``ansible.module_utils``, the ``kubernetes`` client and kubernetes.core's
module_utils; ``run_module_job`` runs one AnsiballZ payload as ``__main__`` in each child, exactly
as ``python AnsiballZ_x.py`` would, in the environment and directory of the task, keeping the
zygote's imports only where the payload carries the very same files.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from typing import Any

from runner.fastexec import kubecfg
from runner.fastexec.payloads import SYNTHESIZED
from runner.fastexec.wire import ANSIBALLZ_MARK, python_exit_code, reset_process


def warm_module() -> None:
    """Import what module payloads import, without any controller-side state."""
    import base64
    import runpy
    import zipfile  # noqa: F401

    import ansible.module_utils.basic
    import ansible.module_utils.common.arg_spec
    import ansible.module_utils.common.dict_transformations
    import ansible.module_utils.common.text.converters
    import ansible.module_utils.urls

    del base64, runpy, ansible
    for optional in (
        "ansible.module_utils._internal._ansiballz._loader",  # ansible-core 2.19's payload loader
        # the JSON profiles a 2.19 module loads for its arguments and its result
        "ansible.module_utils._internal._json._profiles._module_legacy_c2m",
        "ansible.module_utils._internal._json._profiles._module_legacy_m2c",
        "encodings.cp437",  # zip member names (the payload)
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
    _warm_pattern_cache()
    kubecfg.install()
    _record_imported_sources()


def _warm_pattern_cache() -> None:
    """Compile, once in the zygote, the regular expressions the kubernetes client compiles on every
    request (``re`` caches them per process): a case-insensitive pattern costs ~1-2 ms to compile,
    paid again by every module child. Only the pure functions that compile them are called, with
    dummy values; the cache then holds what they would have compiled anyway."""
    with contextlib.suppress(Exception):
        import importlib

        api_client: Any = importlib.import_module("kubernetes.client.api_client")
        rest: Any = importlib.import_module("kubernetes.client.rest")
        client = api_client.ApiClient.__new__(api_client.ApiClient)  # no configuration, no pool
        client.select_header_accept(["application/json"])
        client.select_header_content_type(["application/json"])
        for maintype, subtype in (
            ("application", "json"),
            ("application", "yaml"),
            ("text", "yaml"),
            ("text", "x-yaml"),
            ("application", "x-www-form-urlencoded"),
            ("multipart", "form-data"),
        ):
            rest.contenttype_matches("application/json", maintype, subtype)
    with contextlib.suppress(Exception):
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s import service

        service.decode_warnings(['299 - "warning"'])


# The payload's zip archive, base64: ``zip_data='...'`` (ansible-core 2.19), ``ZIPDATA = '...'`` (2.18)
_ZIP_DATA = re.compile(rb"(?:zip_data=|ZIPDATA = )'([A-Za-z0-9+/=]*)'")


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


def prepare_module_job(request: dict[str, Any]) -> None:
    """In the zygote, before forking the child of ``request``: what its children share."""
    with contextlib.suppress(Exception):
        kubecfg.prepare(request.get("env"))


def run_module_job(request: dict[str, Any]) -> int:
    import atexit
    import runpy
    import traceback
    import types

    reset_process(request)
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
        code = python_exit_code(exc)
    except BaseException:
        traceback.print_exc()
        code = 1
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    return code
