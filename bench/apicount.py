"""Requests the API server served, by verb and resource, from its own ``apiserver_request_total``
counters (``/metrics``): what an operator asks of the API server, counted where it arrives.

A long-running request (a WATCH) is counted when it ends; ``apiserver_longrunning_requests``
(a gauge) shows the watches that are open.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

_SAMPLE = re.compile(r"^(apiserver_request_total|apiserver_longrunning_requests)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Key = tuple[str, str, str]  # (verb, resource, subresource)


def parse(text: str) -> tuple[Counter[Key], Counter[Key]]:
    """(requests served, watches open) from the text of ``/metrics``."""
    total: Counter[Key] = Counter()
    open_: Counter[Key] = Counter()
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = dict(_LABEL.findall(m.group(2)))
        key = (labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))
        value = int(float(m.group(3)))
        (total if m.group(1) == "apiserver_request_total" else open_)[key] += value
    return total, open_


def snapshot(api_client: Any) -> tuple[Counter[Key], Counter[Key]]:
    """Read the API server's counters (an admin client; kube-lite or a cluster that allows it)."""
    method, url, headers, _body, _post = api_client.param_serialize(
        method="GET", resource_path="/metrics", auth_settings=["BearerToken"]
    )
    resp = api_client.call_api(method, url, header_params=headers, _request_timeout=30)
    resp.read()
    return parse(resp.data.decode())


def delta(before: Mapping[Key, int], after: Mapping[Key, int], resources: Iterable[str]) -> Counter[Key]:
    """Requests on ``resources`` between two snapshots."""
    wanted = set(resources)
    out: Counter[Key] = Counter()
    for key, value in after.items():
        if key[1] in wanted and value - before.get(key, 0) > 0:
            out[key] = value - before.get(key, 0)
    return out


def fmt(counts: Mapping[Key, int]) -> str:
    parts = []
    for (verb, resource, sub), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        parts.append(f"{verb} {resource}{'/' + sub if sub else ''} {n}")
    return ", ".join(parts) or "none"
