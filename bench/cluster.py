"""The cluster side of the benchmark: kube-lite through ``runner.cluster.devcluster``, the bench CRDs,
namespaces, creating and deleting CRs fast, and a watch that timestamps each CR's first
``Successful=True``."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import yaml
from kubernetes.client.rest import ApiException

from runner.cluster import devcluster

log = logging.getLogger("bench")

BENCH_DIR = Path(__file__).resolve().parent
OPERATOR_DIR = BENCH_DIR / "operator"
GROUP = "bench.runner.example.com"
VERSION = "v1"


def plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith(("s", "x", "ch", "sh")) else "s")


def bench_kinds() -> list[str]:
    watches = yaml.safe_load((OPERATOR_DIR / "watches.yaml").read_text())
    return [w["kind"] for w in watches]


def crd(kind: str) -> dict[str, Any]:
    return devcluster.open_crd(GROUP, VERSION, kind, plural(kind))


def cr(kind: str, name: str, namespace: str, spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": dict(spec or {"message": "benchmark"}),
    }


def condition_true(obj: Mapping[str, Any], ctype: str) -> bool:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c.get("status") == "True"
    return False


def condition_message(obj: Mapping[str, Any], ctype: str) -> str:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return str(c.get("message") or "")
    return ""


class Cluster:
    """A running API server (kube-lite in ``state_dir``, or $KUBECONFIG with RUNNER_USE_KUBECONFIG=1)."""

    def __init__(self, state_dir: Path) -> None:
        self._dev = devcluster.start(str(state_dir))
        self.kubeconfig = self._dev.kubeconfig
        self.kind = self._dev.kind
        self.api_client = kubernetes.config.new_client_from_config(config_file=self.kubeconfig)
        self.api_client.configuration.connection_pool_maxsize = 16
        self.custom = kubernetes.client.CustomObjectsApi(self.api_client)
        self.core = kubernetes.client.CoreV1Api(self.api_client)
        self.ext = kubernetes.client.ApiextensionsV1Api(self.api_client)

    def new_api_client(self) -> kubernetes.client.ApiClient:
        return kubernetes.config.new_client_from_config(config_file=self.kubeconfig)

    def stop(self) -> None:
        try:
            self.api_client.close()
        finally:
            devcluster.stop(self._dev)

    def server_pids(self) -> list[int]:
        """PIDs of kube-lite's apiserver and etcd (none for an external cluster)."""
        if not self._dev.state_dir:
            return []
        pids = []
        for name in ("apiserver.pid", "etcd.pid"):
            with contextlib.suppress(OSError, ValueError):
                pids.append(int((Path(self._dev.state_dir) / name).read_text().strip()))
        return pids

    # ---- setup
    def install_crds(self, kinds: Iterable[str]) -> None:
        names = []
        for kind in kinds:
            body = crd(kind)
            names.append(body["metadata"]["name"])
            try:
                self.ext.create_custom_resource_definition(body)
            except ApiException as exc:
                if exc.status != 409:
                    raise
        deadline = time.monotonic() + 60
        for name in names:
            while True:
                got = self.ext.read_custom_resource_definition(name)
                conds = {c.type: c.status for c in (got.status.conditions or [])}
                if conds.get("Established") == "True":
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"CRD {name} not Established after 60 s")
                time.sleep(0.1)
        # The resources are served a moment after Established: wait until a list works.
        for kind in kinds:
            while True:
                try:
                    self.custom.list_namespaced_custom_object(
                        GROUP, VERSION, "default", plural(kind), limit=1
                    )
                    break
                except ApiException:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

    def create_namespace(self, name: str) -> None:
        try:
            self.core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        except ApiException as exc:
            if exc.status != 409:
                raise

    def delete_namespace(self, name: str) -> None:
        with contextlib.suppress(ApiException):
            self.core.delete_namespace(name)

    # ---- CRs
    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        got: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, meta["namespace"], plural(obj["kind"]), dict(obj)
        )
        return got

    def create_many(self, objs: list[dict[str, Any]], threads: int = 8) -> float:
        """Create all of ``objs`` in parallel; returns the seconds it took."""
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="create") as pool:
            for _ in pool.map(self.create, objs):
                pass
        return time.monotonic() - t0

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        got: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, plural(kind), name
        )
        return got

    def delete_many(self, kind: str, namespace: str, names: Collection[str], threads: int = 8) -> None:
        def delete(name: str) -> None:
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural(kind), name)

        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(delete, names))

    def delete_all(self, kind: str, namespace: str) -> None:
        try:
            self.custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, plural(kind))
        except ApiException as exc:
            if exc.status not in (404, 405):
                raise
            items = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural(kind))
            names = [i["metadata"]["name"] for i in items.get("items", [])]
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(
                    pool.map(
                        lambda n: self.custom.delete_namespaced_custom_object(
                            GROUP, VERSION, namespace, plural(kind), n
                        ),
                        names,
                    )
                )


@dataclass
class CrWatcher:
    """One watch on a kind in a namespace; records when each CR is first seen ``Successful=True``
    (``time.monotonic()`` of the event's arrival), and which ones failed."""

    cluster: Cluster
    kind: str
    namespace: str
    success: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _stop: threading.Event = field(default_factory=threading.Event)
    _synced: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _watch: Any = None

    def start(self) -> CrWatcher:
        self._thread = threading.Thread(target=self._loop, name=f"watch-{self.kind}", daemon=True)
        self._thread.start()
        if not self._synced.wait(30):
            raise TimeoutError(f"could not list {self.kind} in {self.namespace}")
        return self

    def stop(self) -> None:
        self._stop.set()
        w = self._watch
        if w is not None:
            w.stop()

    def _apply(self, event_type: str, obj: Mapping[str, Any], now: float) -> None:
        name = obj["metadata"]["name"]
        with self._cond:
            if event_type == "DELETED":
                self.present.discard(name)
            else:
                self.present.add(name)
                if name not in self.success and condition_true(obj, "Successful"):
                    self.success[name] = now
                    self.failed.pop(name, None)
                elif condition_true(obj, "Failure") and name not in self.success:
                    self.failed[name] = condition_message(obj, "Failure")
            self._cond.notify_all()

    def _loop(self) -> None:
        api = kubernetes.client.CustomObjectsApi(self.cluster.new_api_client())
        p = plural(self.kind)
        rv: str | None = None
        while not self._stop.is_set():
            try:
                if rv is None:
                    listed = api.list_namespaced_custom_object(GROUP, VERSION, self.namespace, p)
                    now = time.monotonic()
                    names = {i["metadata"]["name"] for i in listed["items"]}
                    with self._cond:
                        self.present &= names
                    for item in listed["items"]:
                        self._apply("ADDED", item, now)
                    rv = listed["metadata"]["resourceVersion"]
                    self._synced.set()
                self._watch = kubernetes.watch.Watch()
                for ev in self._watch.stream(
                    api.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    p,
                    resource_version=rv,
                    timeout_seconds=60,
                    allow_watch_bookmarks=True,
                ):
                    now = time.monotonic()
                    obj = ev["object"]
                    rv = obj.get("metadata", {}).get("resourceVersion") or rv
                    if ev["type"] != "BOOKMARK":
                        self._apply(ev["type"], obj, now)
                    if self._stop.is_set():
                        break
            except ApiException as exc:
                if exc.status == 410:
                    rv = None
                    continue
                log.debug("watch of %s failed: %s", self.kind, exc)
                time.sleep(0.5)
            except Exception as exc:
                if self._stop.is_set():
                    return
                log.debug("watch of %s failed: %s", self.kind, exc)
                rv = None
                time.sleep(0.5)

    def wait(
        self,
        names: Collection[str],
        timeout: float,
        progress: Callable[[int, int], None] | None = None,
        every: float = 10.0,
        check: Callable[[], None] | None = None,
    ) -> dict[str, float]:
        """Wait until every CR of ``names`` was Successful; returns their times. Fails fast on a
        ``Failure=True`` CR (the bench roles never fail), on timeout, and when ``check`` (called
        about every second) raises."""
        wanted = set(names)
        deadline = time.monotonic() + timeout
        next_report = time.monotonic() + every
        with self._cond:
            while True:
                missing = wanted - self.success.keys()
                if not missing:
                    return {n: self.success[n] for n in wanted}
                failed = {n: self.failed[n] for n in missing if n in self.failed}
                if failed:
                    name, msg = next(iter(failed.items()))
                    raise RuntimeError(f"{self.kind} {self.namespace}/{name} failed: {msg}")
                now = time.monotonic()
                if now > deadline:
                    raise TimeoutError(
                        f"{len(missing)} of {len(wanted)} {self.kind} CRs not Successful "
                        f"after {timeout:.0f} s"
                    )
                if progress and now >= next_report:
                    progress(len(wanted) - len(missing), len(wanted))
                    next_report = now + every
                if check is not None:
                    check()
                self._cond.wait(min(1.0, deadline - now))

    def wait_gone(self, timeout: float, names: Collection[str] | None = None) -> None:
        """Wait until no CR (or none of ``names``) is left."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while left := (self.present if names is None else self.present & set(names)):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(left)} {self.kind} CRs still present after {timeout:.0f} s")
                self._cond.wait(1.0)
