#!/usr/bin/python
# Part of ansible-operator-runner's operator_sdk.util collection (a fallback implementation).
from __future__ import annotations

DOCUMENTATION = r"""
module: osdk_metric
short_description: Create or update a custom Prometheus metric of the operator
version_added: "0.0.1"
author:
  - ansible-operator-runner maintainers
description:
  - Asks the operator running this playbook or role to create the Prometheus metric O(name) (of the kind
    chosen by exactly one of O(counter), O(gauge), O(histogram) or O(summary)) and to apply the given
    operation to it. The metric is then served on the operator's metrics endpoint.
  - The module does not contact anything. It checks its parameters and returns them; the operator reads
    them from the task's result.
  - See U(https://prometheus.io/docs/concepts/metric_types/) for what each kind of metric means.
options:
  name:
    description:
      - Name of the metric; letters, digits, C(_) and C(:), not starting with a digit.
    type: str
    required: true
  description:
    description: Help text of the metric.
    type: str
    required: true
  address:
    description:
      - Accepted for compatibility with the upstream collection (which posted the metric to this URL of the
        Go operator) and ignored.
    type: str
  counter:
    description: A counter, which only goes up. V({}) just creates it.
    type: dict
    suboptions:
      increment:
        description: Add 1 to the counter.
        type: bool
      add:
        description: Add this (non-negative) value to the counter.
        type: float
  gauge:
    description:
      - A gauge, which goes up and down. V({}) just creates it.
      - One operation per task, as with the Go operator, the first given of O(gauge.increment),
        O(gauge.decrement), O(gauge.add), O(gauge.subtract), O(gauge.set) (0 is ignored),
        O(gauge.set_to_current_time).
    type: dict
    suboptions:
      set:
        description: Set the gauge to this value.
        type: float
      increment:
        description: Add 1 to the gauge.
        type: bool
      decrement:
        description: Subtract 1 from the gauge.
        type: bool
      add:
        description: Add this value to the gauge.
        type: float
      subtract:
        description: Subtract this value from the gauge.
        type: float
      set_to_current_time:
        description: Set the gauge to the current Unix time.
        type: bool
  histogram:
    description:
      - A histogram of observed values, with the Go client's default buckets.
      - As with the Go operator, a task without O(histogram.observe) (V({}) included) observes 0.
    type: dict
    suboptions:
      observe:
        description: Record this observation.
        type: float
  summary:
    description:
      - A summary of observed values, served as C(_sum) and C(_count).
      - As with the Go operator, a task without O(summary.observe) (V({}) included) observes 0.
    type: dict
    suboptions:
      observe:
        description: Record this observation.
        type: float
notes:
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Count the backups taken
  operator_sdk.util.osdk_metric:
    name: memcached_backups_total
    description: Backups taken by the operator
    counter:
      increment: true

- name: Publish the number of ready replicas
  operator_sdk.util.osdk_metric:
    name: memcached_ready_replicas
    description: Ready memcached replicas
    gauge:
      set: "{{ ready | float }}"

- name: Record how long the backup took
  operator_sdk.util.osdk_metric:
    name: memcached_backup_seconds
    description: Duration of backups
    histogram:
      observe: "{{ backup_seconds }}"
"""

RETURN = r"""
name:
  description: Name of the metric.
  returned: success
  type: str
description:
  description: Help text of the metric.
  returned: success
  type: str
address:
  description: The O(address) given, if any.
  returned: success
  type: str
counter:
  description: The counter operation (sub-options not given are null); null when another kind was chosen.
  returned: success
  type: dict
gauge:
  description: The gauge operation (sub-options not given are null); null when another kind was chosen.
  returned: success
  type: dict
histogram:
  description: The histogram operation; null when another kind was chosen.
  returned: success
  type: dict
summary:
  description: The summary operation; null when another kind was chosen.
  returned: success
  type: dict
"""

import re  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
KINDS = ("counter", "gauge", "histogram", "summary")


def argument_spec() -> dict:
    observe = {"observe": {"type": "float"}}
    return {
        "name": {"type": "str", "required": True},
        "description": {"type": "str", "required": True},
        "address": {"type": "str"},
        "counter": {"type": "dict", "options": {"increment": {"type": "bool"}, "add": {"type": "float"}}},
        "gauge": {
            "type": "dict",
            "options": {
                "set": {"type": "float"},
                "increment": {"type": "bool"},
                "decrement": {"type": "bool"},
                "add": {"type": "float"},
                "subtract": {"type": "float"},
                "set_to_current_time": {"type": "bool"},
            },
        },
        "histogram": {"type": "dict", "options": observe},
        "summary": {"type": "dict", "options": dict(observe)},
    }


def problems(params: dict) -> list[str]:
    found = []
    if not METRIC_NAME.fullmatch(params["name"] or ""):
        found.append(
            f"invalid metric name {params['name']!r}: "
            "use letters, digits, '_' and ':' and do not start with a digit"
        )
    kinds = [kind for kind in KINDS if params[kind] is not None]
    if len(kinds) != 1:
        given = ", ".join(kinds) if kinds else "none"
        found.append(f"exactly one of {', '.join(KINDS)} is required (given: {given})")
    add = (params["counter"] or {}).get("add")
    if add is not None and add < 0:
        found.append(f"counter.add must not be negative (got {add}); counters only go up")
    return found


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    errors = problems(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors))
    module.exit_json(changed=False, **module.params)


if __name__ == "__main__":
    main()
