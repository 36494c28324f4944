#!/usr/bin/python
# Part of ansible-operator-runner's operator_sdk.util collection (a fallback implementation).
from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_status
short_description: Set the status of a Kubernetes object from an operator role
version_added: "0.0.1"
author:
  - ansible-operator-runner maintainers
description:
  - Writes the C(status) of one Kubernetes object, normally the custom resource the operator is
    reconciling. Meant for roles and playbooks that implement a controller.
  - Merges by default. Keys of O(status) are merged into the current status (dicts recursively;
    a key set to V(null) is removed). Conditions are merged by C(type).
  - Writes through the C(status) subresource when the resource has one, else through the object itself.
  - Reads the object, computes the new status and writes it guarded by the object's C(resourceVersion).
    When someone else wrote the object in between (HTTP 409 Conflict), it reads it again and
    re-applies the change, so concurrent writers (such as the operator's own conditions) are never lost.
extends_documentation_fragment:
  - operator_sdk.util.osdk_auth_options
  - operator_sdk.util.osdk_name_options
options:
  status:
    description:
      - Keys and values to set in the object's status.
      - May hold a C(conditions) list (merged by C(type) but not validated);
        then O(conditions) must not be used.
    type: dict
  conditions:
    description:
      - Conditions to set in C(status.conditions), checked against the Kubernetes API conventions.
      - A condition whose C(type) is not there yet is added. One that is there is replaced when any field
        other than C(lastTransitionTime) differs, and left alone otherwise.
      - When C(lastTransitionTime) is not given it is set to the current time if the condition is new or its
        C(status) changed, and kept otherwise.
    type: list
    elements: dict
    suboptions:
      type:
        description: Type of the condition; identifies it in the list.
        type: str
        required: true
      status:
        description: Status of the condition.
        type: str
        required: true
        choices: ["True", "False", "Unknown"]
      reason:
        description: Why the condition has this status, as one CamelCase word.
        type: str
      message:
        description: Human-readable details.
        type: str
      lastHeartbeatTime:
        description: RFC 3339 date and time of the last probe.
        type: str
      lastTransitionTime:
        description: RFC 3339 date and time of the last change of C(status).
        type: str
  replace:
    description:
      - Replace the whole status with O(status) and O(conditions) instead of merging into it.
    type: bool
    default: false
    aliases: [force]
  replace_lists:
    description:
      - When merging, replace any list (other than C(conditions)) that differs from the given one.
      - When V(false), a given list whose items are all in the current list leaves the current list as it is;
        any other list replaces the current one.
    type: bool
    default: false
notes:
  - Supports check mode, reporting whether the status would change.
requirements:
  - kubernetes (Python client)
"""

EXAMPLES = r"""
- name: Publish custom fields in the status of the CR being reconciled
  operator_sdk.util.k8s_status:
    api_version: cache.example.com/v1alpha1
    kind: Memcached
    name: "{{ ansible_operator_meta.name }}"
    namespace: "{{ ansible_operator_meta.namespace }}"
    status:
      nodes: "{{ pod_names }}"
      phase: Deployed

- name: Report a custom condition
  operator_sdk.util.k8s_status:
    api_version: cache.example.com/v1alpha1
    kind: Memcached
    name: "{{ ansible_operator_meta.name }}"
    namespace: "{{ ansible_operator_meta.namespace }}"
    conditions:
      - type: Available
        status: "False"
        reason: PingFailed
        message: The service did not answer a ping

- name: Replace the whole status
  operator_sdk.util.k8s_status:
    api_version: cache.example.com/v1alpha1
    kind: Memcached
    name: "{{ ansible_operator_meta.name }}"
    namespace: "{{ ansible_operator_meta.namespace }}"
    force: true
    status:
      phase: Reset
"""

RETURN = r"""
result:
  description:
    - The object after the write, or as read when nothing had to change.
    - In check mode, the object as it would be written.
  returned: success
  type: dict
  contains:
    apiVersion:
      description: API version of the object.
      type: str
      returned: success
    kind:
      description: Kind of the object.
      type: str
      returned: success
    metadata:
      description: Metadata of the object (name, namespace, labels, resourceVersion...).
      type: dict
      returned: success
    spec:
      description: Spec of the object, if it has one.
      type: dict
      returned: when the object has one
    status:
      description: Status of the object.
      type: dict
      returned: success
"""

import copy  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.operator_sdk.util.plugins.module_utils.args_common import (  # noqa: E402
    auth_arg_spec,
    name_arg_spec,
)
from ansible_collections.operator_sdk.util.plugins.module_utils.k8s_client import (  # noqa: E402
    ApiError,
    KubeError,
    backoff,
    connect,
)
from ansible_collections.operator_sdk.util.plugins.module_utils.status_merge import (  # noqa: E402
    merge_status,
    now_rfc3339,
    replace_status,
    validate_conditions,
)

MAX_ATTEMPTS = 10

CONDITION_OPTIONS = {
    "type": {"type": "str", "required": True},
    "status": {"type": "str", "required": True, "choices": ["True", "False", "Unknown"]},
    "reason": {"type": "str"},
    "message": {"type": "str"},
    "lastHeartbeatTime": {"type": "str"},
    "lastTransitionTime": {"type": "str"},
}


def argument_spec() -> dict:
    spec = auth_arg_spec()
    spec.update(name_arg_spec())
    spec.update(
        status={"type": "dict"},
        conditions={"type": "list", "elements": "dict", "options": CONDITION_OPTIONS},
        replace={"type": "bool", "default": False, "aliases": ["force"]},
        replace_lists={"type": "bool", "default": False},
    )
    return spec


def requested_status(module: AnsibleModule) -> dict:
    status = copy.deepcopy(module.params["status"] or {})
    try:
        conditions = validate_conditions(module.params["conditions"])
    except ValueError as exc:
        module.fail_json(msg="The specified conditions failed to validate", error=str(exc))
    if conditions and status.get("conditions"):
        module.fail_json(msg="You cannot specify conditions in both the 'status' and 'conditions' parameters")
    if conditions:
        status["conditions"] = conditions
    return status


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    desired = requested_status(module)
    kube = connect(module)

    try:
        resource = kube.find_resource(params["api_version"], params["kind"])
    except (ApiError, KubeError) as exc:
        module.fail_json(msg=f"Failed to look up {params['api_version']}.{params['kind']}: {exc}")
    if resource is None:
        module.fail_json(
            msg=f"Failed to find exact match for {params['api_version']}.{params['kind']} "
            "by [kind, name, singularName, shortNames]"
        )
    namespace = params["namespace"] if resource.namespaced else None
    if resource.namespaced and not namespace:
        module.fail_json(msg=f"namespace is required: {resource.api_version} {resource.kind} is namespaced")

    object_path = resource.path(params["name"], namespace)
    write_path = resource.path(
        params["name"], namespace, "status" if "status" in resource.subresources else None
    )

    for attempt in range(MAX_ATTEMPTS):
        try:
            instance = kube.request("GET", object_path)
        except ApiError as exc:
            module.fail_json(msg="Failed to retrieve requested object", error=exc.as_dict())
        except KubeError as exc:
            module.fail_json(msg=f"Failed to retrieve requested object: {exc}")

        current = instance.get("status") if isinstance(instance.get("status"), dict) else {}
        if params["replace"]:
            new_status = replace_status(current, desired, now=now_rfc3339())
        else:
            new_status = merge_status(
                current, desired, now=now_rfc3339(), replace_lists=params["replace_lists"]
            )
        if new_status == current:
            module.exit_json(changed=False, result=instance)

        updated = dict(instance, status=new_status)
        if module.check_mode:
            module.exit_json(changed=True, result=updated)
        try:
            result = kube.request("PUT", write_path, updated)
        except ApiError as exc:
            if exc.status == 409 and attempt + 1 < MAX_ATTEMPTS:
                backoff(attempt)
                continue
            module.fail_json(msg=f"Failed to replace status: {exc}", error=exc.as_dict())
        except KubeError as exc:
            module.fail_json(msg=f"Failed to replace status: {exc}")
        module.exit_json(changed=True, result=result)


if __name__ == "__main__":
    main()
