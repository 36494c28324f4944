#!/usr/bin/python
# Part of ansible-operator-runner's operator_sdk.util collection (a fallback implementation).
from __future__ import annotations

DOCUMENTATION = r"""
module: requeue_after
short_description: Ask the operator to reconcile the object again after some time
version_added: "0.0.1"
author:
  - ansible-operator-runner maintainers
description:
  - Tells the operator running this playbook or role to reconcile the current object again after O(time),
    even when nothing changes in the cluster.
  - The module does not contact the cluster. It checks O(time) and returns it as RV(period); the operator
    reads that value from the task's result once the run has succeeded.
  - When several tasks call it, the last one wins.
options:
  time:
    description:
      - How long to wait, as a Go duration such as V(30s), V(5m), V(1h30m) or V(1.5h)
        (units C(ns), C(us), C(ms), C(s), C(m), C(h)). A plain number counts as seconds.
    type: str
    required: true
notes:
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Poll the external service again in five minutes
  operator_sdk.util.requeue_after:
    time: 5m

- name: Check again soon while the database is starting
  operator_sdk.util.requeue_after:
    time: 1m30s
  when: db_status != "Ready"
"""

RETURN = r"""
period:
  description: The requested delay, exactly as given in O(time).
  returned: success
  type: str
  sample: 30s
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.operator_sdk.util.plugins.module_utils.duration import parse_duration  # noqa: E402


def argument_spec() -> dict:
    return {"time": {"type": "str", "required": True}}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    period = module.params["time"]
    try:
        parse_duration(period)
    except ValueError as exc:
        module.fail_json(msg=f"invalid time input: {exc}", period=period)
    module.exit_json(changed=False, period=period)


if __name__ == "__main__":
    main()
