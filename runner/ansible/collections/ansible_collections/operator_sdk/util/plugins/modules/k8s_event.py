#!/usr/bin/python
# Part of ansible-operator-runner's operator_sdk.util collection (a fallback implementation).
from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_event
short_description: Record a Kubernetes Event about an object
version_added: "0.0.1"
author:
  - ansible-operator-runner maintainers
description:
  - Creates a core/v1 C(Event) named O(name) in O(namespace), so that C(kubectl describe) and
    C(kubectl get events) show what an operator role did.
  - When an Event of that name already exists with the same O(reason), its C(count) is increased and
    C(lastTimestamp) updated (C(firstTimestamp) is kept). With a different reason it is overwritten
    and its count starts again at 1.
  - With O(appendTimestamp) a new Event is created every time, named after O(name) plus a unique suffix.
extends_documentation_fragment:
  - operator_sdk.util.osdk_auth_options
options:
  state:
    description:
      - V(present) records the Event; V(absent) deletes the Event named O(name) if it exists.
    type: str
    choices: [present, absent]
    default: present
  name:
    description: Name of the Event (a DNS subdomain).
    type: str
    required: true
  namespace:
    description:
      - Namespace of the Event. For a namespaced O(involvedObject) it must be the object's namespace.
    type: str
    required: true
  message:
    description: Human-readable description of what happened.
    type: str
    required: true
  reason:
    description: Short machine-readable reason, usually one CamelCase word such as C(Created).
    type: str
    required: true
  type:
    description: Type of the Event. Left empty when not given.
    type: str
    choices: [Normal, Warning]
  source:
    description: The component that reports the Event.
    type: dict
    suboptions:
      component:
        description: Name of the reporting component, for example the operator's name.
        type: str
        required: true
      host:
        description: Node or host name of the reporting component.
        type: str
  reportingComponent:
    description: Name of the controller that emitted the Event, for example C(example.com/memcached-operator).
    type: str
  reportingInstance:
    description: ID of the controller instance, for example the operator pod's name.
    type: str
  involvedObject:
    description:
      - The object the Event is about. Its C(uid) and C(resourceVersion) are looked up when not given
        (ignored when the object cannot be found).
      - When not given at all, the Event refers to nothing but its namespace.
    type: dict
    suboptions:
      apiVersion:
        description: API version of the object.
        type: str
        required: true
      kind:
        description: Kind of the object.
        type: str
        required: true
      name:
        description: Name of the object.
        type: str
        required: true
      namespace:
        description: Namespace of the object; defaults to O(namespace) for namespaced kinds.
        type: str
      uid:
        description: UID of the object.
        type: str
      resourceVersion:
        description: Resource version of the object.
        type: str
      fieldPath:
        description: Field of the object the Event is about, for example C(spec.containers{app}).
        type: str
  appendTimestamp:
    description:
      - Append a unique, time-based suffix to O(name), creating a new Event each time.
    type: bool
    default: false
  merge_type:
    description:
      - Accepted for compatibility and ignored.
    type: list
    elements: str
    choices: [json, merge, strategic-merge]
notes:
  - Supports check mode, returning the Event that would be written.
requirements:
  - kubernetes (Python client)
"""

EXAMPLES = r"""
- name: Tell users that the backup started
  operator_sdk.util.k8s_event:
    name: "{{ ansible_operator_meta.name }}-backup"
    namespace: "{{ ansible_operator_meta.namespace }}"
    reason: BackupStarted
    message: Backup of {{ ansible_operator_meta.name }} started
    type: Normal
    source:
      component: memcached-operator
    involvedObject:
      apiVersion: cache.example.com/v1alpha1
      kind: Memcached
      name: "{{ ansible_operator_meta.name }}"
      namespace: "{{ ansible_operator_meta.namespace }}"

- name: A new Event every time
  operator_sdk.util.k8s_event:
    name: scale
    namespace: default
    reason: Scaled
    message: Scaled to 3 replicas
    appendTimestamp: true
"""

RETURN = r"""
result:
  description:
    - The Event as written (or as it would be written, in check mode; or as deleted, with O(state=absent)).
  returned: success
  type: dict
  contains:
    metadata:
      description: Metadata of the Event (name, namespace, uid, resourceVersion...).
      type: dict
      returned: success
    kind:
      description: Always C(Event).
      type: str
      returned: success
    message:
      description: The message.
      type: str
      returned: success
    reason:
      description: The reason.
      type: str
      returned: success
    type:
      description: Normal or Warning.
      type: str
      returned: when set
    count:
      description: How many times the Event occurred.
      type: int
      returned: success
    firstTimestamp:
      description: When the Event first occurred.
      type: str
      returned: success
    lastTimestamp:
      description: When the Event last occurred.
      type: str
      returned: success
    source:
      description: The reporting component.
      type: dict
      returned: when set
    reportingComponent:
      description: The reporting controller.
      type: str
      returned: when set
    involvedObject:
      description: The object the Event is about.
      type: dict
      returned: success
"""

import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.operator_sdk.util.plugins.module_utils.args_common import auth_arg_spec  # noqa: E402
from ansible_collections.operator_sdk.util.plugins.module_utils.k8s_client import (  # noqa: E402
    ApiError,
    KubeError,
    Resource,
    backoff,
    connect,
)
from ansible_collections.operator_sdk.util.plugins.module_utils.status_merge import now_rfc3339  # noqa: E402

MAX_ATTEMPTS = 5
EVENTS = Resource("v1", "Event", "events", True)


def argument_spec() -> dict:
    spec = auth_arg_spec()
    spec.update(
        state={"type": "str", "default": "present", "choices": ["present", "absent"]},
        name={"type": "str", "required": True},
        namespace={"type": "str", "required": True},
        message={"type": "str", "required": True},
        reason={"type": "str", "required": True},
        type={"type": "str", "choices": ["Normal", "Warning"]},
        source={
            "type": "dict",
            "options": {"component": {"type": "str", "required": True}, "host": {"type": "str"}},
        },
        reportingComponent={"type": "str"},
        reportingInstance={"type": "str"},
        involvedObject={
            "type": "dict",
            "options": {
                "apiVersion": {"type": "str", "required": True},
                "kind": {"type": "str", "required": True},
                "name": {"type": "str", "required": True},
                "namespace": {"type": "str"},
                "uid": {"type": "str"},
                "resourceVersion": {"type": "str"},
                "fieldPath": {"type": "str"},
            },
        },
        appendTimestamp={"type": "bool", "default": False},
        merge_type={"type": "list", "elements": "str", "choices": ["json", "merge", "strategic-merge"]},
    )
    return spec


def _without_none(value: dict | None) -> dict:
    return {key: item for key, item in (value or {}).items() if item is not None}


def involved_object(kube, params: dict) -> dict:
    """The involvedObject reference, completed with the object's uid and resourceVersion when found."""
    ref = _without_none(params["involvedObject"])
    if not ref:
        return {"namespace": params["namespace"]}
    try:
        resource = kube.find_resource(ref["apiVersion"], ref["kind"])
    except (ApiError, KubeError):
        resource = None
    if resource is None:
        ref.setdefault("namespace", params["namespace"])
        return ref
    if resource.namespaced:
        ref.setdefault("namespace", params["namespace"])
    if ref.get("uid") and ref.get("resourceVersion"):
        return ref
    try:
        found = kube.request("GET", resource.path(ref["name"], ref.get("namespace")))
    except (ApiError, KubeError):
        return ref  # like upstream: an object that cannot be read is referenced by name only
    metadata = (found or {}).get("metadata") or {}
    if not ref.get("uid") and metadata.get("uid"):
        ref["uid"] = metadata["uid"]
    if not ref.get("resourceVersion") and metadata.get("resourceVersion"):
        ref["resourceVersion"] = metadata["resourceVersion"]
    return ref


def event_body(params: dict, name: str, reference: dict, previous: dict | None, now: str) -> dict:
    body = dict(previous or {})
    body.update(apiVersion="v1", kind="Event")
    metadata = dict(body.get("metadata") or {})
    metadata.update(name=name, namespace=params["namespace"])
    body["metadata"] = metadata
    for key in ("message", "reason", "type", "reportingComponent", "reportingInstance"):
        if params[key] is not None:
            body[key] = params[key]
    if params["source"] is not None:
        body["source"] = _without_none(params["source"])
    body["involvedObject"] = reference
    if previous and previous.get("reason") == params["reason"]:
        body["count"] = int(previous.get("count") or 1) + 1
        body["firstTimestamp"] = previous.get("firstTimestamp") or now
    else:
        body["count"] = 1
        body["firstTimestamp"] = now
    body["lastTimestamp"] = now
    return body


def absent(module: AnsibleModule, kube, path: str) -> None:
    try:
        existing = kube.request("GET", path)
    except ApiError as exc:
        if exc.status == 404:
            module.exit_json(changed=False, result={})
        module.fail_json(msg=f"Unable to read event: {exc}", error=exc.as_dict())
    except KubeError as exc:
        module.fail_json(msg=f"Unable to read event: {exc}")
    if not module.check_mode:
        try:
            kube.request("DELETE", path)
        except ApiError as exc:
            if exc.status != 404:
                module.fail_json(msg=f"Unable to delete event: {exc}", error=exc.as_dict())
        except KubeError as exc:
            module.fail_json(msg=f"Unable to delete event: {exc}")
    module.exit_json(changed=True, result=existing)


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    kube = connect(module)
    namespace = params["namespace"]
    name = params["name"]
    if params["appendTimestamp"] and params["state"] == "present":
        name = f"{name}.{time.time_ns():x}"  # the suffix client-go's event recorder uses
    path = EVENTS.path(name, namespace)
    if params["state"] == "absent":
        absent(module, kube, path)

    reference = involved_object(kube, params)
    for attempt in range(MAX_ATTEMPTS):
        previous = None
        if not params["appendTimestamp"]:
            try:
                previous = kube.request("GET", path)
            except ApiError as exc:
                if exc.status != 404:
                    module.fail_json(msg=f"Unable to read event: {exc}", error=exc.as_dict())
            except KubeError as exc:
                module.fail_json(msg=f"Unable to read event: {exc}")
        body = event_body(params, name, reference, previous, now_rfc3339())
        if module.check_mode:
            module.exit_json(changed=True, result=body)
        try:
            if previous is None:
                result = kube.request("POST", EVENTS.path(namespace=namespace), body)
            else:
                result = kube.request("PUT", path, body)
        except ApiError as exc:
            if exc.status == 409 and attempt + 1 < MAX_ATTEMPTS:  # created or updated meanwhile
                backoff(attempt)
                continue
            module.fail_json(msg=f"Unable to create event: {exc}", error=exc.as_dict())
        except KubeError as exc:
            module.fail_json(msg=f"Unable to create event: {exc}")
        module.exit_json(changed=True, result=result)


if __name__ == "__main__":
    main()
