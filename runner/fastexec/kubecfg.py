"""The job's kubeconfig, parsed once per job by the module zygote instead of once per module run.

Every ``kubernetes.core`` module run loads the job's kubeconfig through the kubernetes client
(``KubeConfigMerger.load_config``: ``yaml.safe_load`` of the open file, pure-Python YAML, a few
milliseconds and about an eighth of a module child's time): a job of N tasks parses the same file N
times. The module zygote parses the files a request's environment names (``K8S_AUTH_KUBECONFIG``,
``KUBECONFIG``) before forking the child, and keeps the text and the result while the text stays the
same. A child that loads one of those files reads it as usual and, when it reads as that very text,
gets a deep copy of the result: the object ``yaml.safe_load`` builds from that text. Anything else
(another file, other text, a file that does not read, a parse error, a file-like object) is parsed
as before.

Nothing here runs a thread, and the zygote never blocks on a file: only regular files up to 256 KiB,
opened non-blocking, are read.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import stat
from typing import Any

# path -> (text, what yaml.safe_load made of it); a few entries (one per distinct kubeconfig path)
_PARSED: dict[str, tuple[str, Any]] = {}
_MAX_FILES = 16
_MAX_BYTES = 256 << 10  # kubeconfigs are a few KB; bounds the time the zygote spends parsing


def _read_regular(path: str) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_BYTES:
            return None
        with open(os.dup(fd)) as fh:  # decoded as the child's ``open(path)`` would
            return fh.read(_MAX_BYTES + 1)
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def prepare(env: Any) -> None:
    """In the zygote, before forking a module child: parse the kubeconfig files ``env`` names."""
    if not isinstance(env, dict):
        return
    import yaml

    for var in ("K8S_AUTH_KUBECONFIG", "KUBECONFIG"):
        value = env.get(var)
        if not isinstance(value, str):
            continue
        for path in value.split(os.pathsep):
            if not os.path.isabs(path):
                continue  # relative to the job's directory or to its ~: the child's own business
            text = _read_regular(path)
            if text is None or len(text) > _MAX_BYTES:
                _PARSED.pop(path, None)
                continue
            known = _PARSED.get(path)
            if known is not None and known[0] == text:
                continue
            _PARSED.pop(path, None)
            try:
                parsed = yaml.safe_load(text)
            except Exception:
                continue
            while len(_PARSED) >= _MAX_FILES:
                del _PARSED[next(iter(_PARSED))]
            _PARSED[path] = (text, parsed)


class _YamlForKubeConfig:
    """Stands for the ``yaml`` module inside ``kubernetes.config.kube_config`` only."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def safe_load(self, stream: Any) -> Any:
        name = getattr(stream, "name", None) if isinstance(stream, io.TextIOWrapper) else None
        known = _PARSED.get(name) if isinstance(name, str) else None
        if known is None:
            return self._real.safe_load(stream)
        try:
            if stream.tell() != 0:
                return self._real.safe_load(stream)
            text = stream.read()
        except (OSError, ValueError):  # a decoding error, say: as it comes without the shortcut
            with contextlib.suppress(OSError, ValueError):
                stream.seek(0)
            return self._real.safe_load(stream)
        if text == known[0]:
            return copy.deepcopy(known[1])
        return self._real.safe_load(text)


def install() -> None:
    """In the module zygote: let ``kubernetes.config.kube_config`` use the parsed files."""
    with contextlib.suppress(Exception):
        from kubernetes.config import kube_config

        real = getattr(kube_config, "yaml", None)
        if real is not None and not isinstance(real, _YamlForKubeConfig) and hasattr(real, "safe_load"):
            setattr(kube_config, "yaml", _YamlForKubeConfig(real))  # noqa: B010 - a module's global
