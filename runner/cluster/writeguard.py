"""The job proxy's check of every write: no object may come to point at another CR.

Before a write is relayed, ``WriteGuard.before`` reads its body (JSON or YAML only), fetches the
current object with the operator's credentials when the write changes an existing one, works out
what would be stored (``ownerguard``) and refuses (403) an owner reference or primary-resource
annotation naming another CR, or a write to another CR's status. What is relayed is exactly what
was checked, re-encoded as JSON. After the write, ``WriteGuard.after`` checks the API server's
answer too (the object may have changed in between) and backs such owners out again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from runner.cluster import apipath, ownerguard
from runner.cluster.discovery import ResourceInfo
from runner.cluster.ownerguard import Refused
from runner.cluster.ownership import Owner, PrimaryKinds
from runner.cluster.upstream import Upstream

log = logging.getLogger("runner.cluster.proxy")


@dataclass(frozen=True, slots=True)
class Checked:
    body: bytes  # what to relay: the checked body as JSON
    content_type: str
    sent: Any  # the body as data
    stored: Any  # the object before the write; None for a new one


def describe(api: apipath.ApiPath, info: ResourceInfo | None) -> str:
    kind = info.kind if info is not None else api.plural
    where = f"{api.namespace}/" if api.namespace else ""
    name = f" {where}{api.name}" if api.name else f" in {api.namespace}" if api.namespace else ""
    return f"{kind}{name}{'/' + api.subresource if api.subresource else ''}"


class WriteGuard:
    def __init__(self, upstream: Upstream, primaries: PrimaryKinds) -> None:
        self.upstream = upstream
        self.primaries = primaries

    def _other_cr(self, api: apipath.ApiPath, info: ResourceInfo | None, owner: Owner) -> bool:
        if info is None or (api.group, info.kind) not in self.primaries or api.subresource != "status":
            return False
        return (api.group, info.kind, api.namespace, api.name) != (
            owner.group,
            owner.kind,
            owner.namespace,
            owner.name,
        )

    async def _current(self, path: str) -> Any:
        headers = {**self.upstream.auth_headers(), "Accept": "application/json"}
        async with self.upstream.session.get(self.upstream.base + path, headers=headers) as resp:
            if resp.status == 404:
                return None
            if resp.status >= 300:
                raise Refused(
                    403, f"the job proxy could not read the object to check the write: HTTP {resp.status}"
                )
            return await resp.json(content_type=None)

    async def before(
        self,
        method: str,
        path: str,
        api: apipath.ApiPath,
        info: ResourceInfo | None,
        content_type: str,
        body: bytes,
        owner: Owner,
    ) -> Checked:
        what = describe(api, info)
        if self._other_cr(api, info, owner):
            raise Refused(
                403, f"a job may only write the status of its own {owner.kind} {owner.name}, not {what}"
            )
        patching = method == "PATCH"
        sent = ownerguard.read(content_type, body, patch=patching)
        stored = None if method == "POST" else await self._current(path)
        if patching and content_type != ownerguard.APPLY_PATCH and stored is None:
            result = None  # nothing to patch: the API server answers 404 (and ``after`` still checks)
        elif patching:
            result = ownerguard.apply(content_type, stored, sent)
        else:
            result = sent
        reason = ownerguard.refusal(stored, result, owner, self.primaries)
        if reason is not None:
            raise Refused(
                403,
                f"refused {method} of {what}: {reason}; a job may only name its own {owner.kind}"
                f" ({owner.name}) as owner",
            )
        relayed = content_type if patching else ownerguard.JSON
        return Checked(json.dumps(sent).encode(), relayed, sent, stored)

    async def after(
        self, api: apipath.ApiPath, info: ResourceInfo | None, checked: Checked, answer: Any, owner: Owner
    ) -> str | None:
        """None when the stored object is fine; else why not, once the offending owners are removed."""
        if api.subresource not in (None, "status") or not isinstance(answer, dict):
            return None
        reason = ownerguard.refusal(checked.stored, answer, owner, self.primaries)
        if reason is None:
            return None
        ops = ownerguard.repair(checked.stored, answer, owner, self.primaries)
        url = self.upstream.base + apipath.object_path(api, answer)
        headers = {**self.upstream.auth_headers(), "Content-Type": ownerguard.JSON_PATCH}
        async with self.upstream.session.patch(url, data=json.dumps(ops), headers=headers) as resp:
            if resp.status >= 300:
                log.error("could not undo %s on %s: HTTP %s", reason, describe(api, info), resp.status)
        return reason
