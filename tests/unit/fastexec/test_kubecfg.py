"""The module zygote's parsed kubeconfig: a module child loads exactly what it would have parsed.

The cache lives in the zygote and is read by forked children; here both sides run in one process
(``prepare`` is the zygote's step, ``KubeConfigMerger`` the child's), each case in a forked child so
that the patched ``kubernetes.config.kube_config`` and the cache do not outlive it.
"""

from __future__ import annotations

import copy
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: job
clusters:
- name: proxy
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
contexts:
- name: job
  context: {cluster: proxy, user: job, namespace: ns1}
users:
- name: job
  user: {token: TOKEN}
"""


def _in_child(fn: Callable[[], Any]) -> Any:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out: Any = ("ok", fn())
        except BaseException as exc:
            out = ("error", repr(exc))
        os.write(w, pickle.dumps(out))
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    status, value = pickle.loads(data)
    assert status == "ok", value
    return value


def _load(path: Path) -> tuple[Any, Any]:
    from kubernetes.config import kube_config

    merger = kube_config.KubeConfigMerger(str(path))
    merged = {
        key: [node.value for node in value] if isinstance(value, list) else value
        for key, value in merger.config.value.items()
    }
    return copy.deepcopy(merged), merger.config_files[str(path)]


def _calls_of_safe_load() -> list[int]:
    calls = [0]
    real = yaml.safe_load

    def counting(stream: Any) -> Any:
        calls[0] += 1
        return real(stream)

    yaml.safe_load = counting
    return calls


def test_the_client_loads_what_it_would_parse_and_the_zygote_parsed_once(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    expected = _in_child(lambda: _load(path))

    def cached() -> tuple[Any, int, bool]:
        from runner.fastexec import kubecfg

        kubecfg.install()
        kubecfg.prepare({"KUBECONFIG": str(path), "K8S_AUTH_KUBECONFIG": str(path)})
        calls = _calls_of_safe_load()
        first, second = _load(path), _load(path)
        # each load gets its own objects, as a fresh parse gives
        return first, calls[0], first[1] is not second[1] and first == second

    loaded, parses, fresh = _in_child(cached)
    assert loaded == expected
    assert parses == 0
    assert fresh


def test_an_edited_file_is_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)

    def edited() -> tuple[Any, int]:
        from runner.fastexec import kubecfg

        kubecfg.install()
        kubecfg.prepare({"KUBECONFIG": str(path)})
        path.write_text(KUBECONFIG.replace("TOKEN", "OTHER"))  # after the zygote read it
        calls = _calls_of_safe_load()
        return _load(path)[1]["users"][0]["user"]["token"], calls[0]

    token, parses = _in_child(edited)
    assert token == "OTHER"
    assert parses == 1


def test_broken_fifo_and_relative_kubeconfigs_are_left_to_the_client(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.write_text("clusters: [\n")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for reading would block the zygote: never read
    missing = tmp_path / "missing"

    def prepare() -> list[str]:
        from runner.fastexec import kubecfg

        kubecfg.prepare({"KUBECONFIG": os.pathsep.join([str(broken), str(fifo), str(missing), "rel/kc"])})
        return sorted(kubecfg._PARSED)

    assert _in_child(prepare) == []

    def load_broken() -> str:
        from kubernetes.config import kube_config

        from runner.fastexec import kubecfg

        kubecfg.install()
        kubecfg.prepare({"KUBECONFIG": str(broken)})
        try:
            kube_config.KubeConfigMerger(str(broken))
        except yaml.YAMLError as exc:
            return type(exc).__name__
        return "no error"

    assert _in_child(load_broken) == "ParserError"
