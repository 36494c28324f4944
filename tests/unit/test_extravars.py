"""build_extravars: layout, precedence and order like the Go operator, plus our reserved-key checks."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from runner.extravars import (
    RESERVED_MAGIC,
    ReservedVariableError,
    build_extravars,
    check_spec_keys,
    operator_var_names,
    wrap_unsafe,
)

GROUP = "cache.example.com"
KIND = "Memcached"
OBJ_VAR = "_cache_example_com_memcached"
SPEC_VAR = "_cache_example_com_memcached_spec"


def U(s: str) -> dict[str, str]:
    return {"__ansible_unsafe": s}


def sample_cr() -> dict[str, Any]:
    return {
        "apiVersion": "cache.example.com/v1alpha1",
        "kind": "Memcached",
        "metadata": {
            "name": "mc",
            "namespace": "ns1",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
            "generation": 2,
        },
        "spec": {
            "size": 3,
            "sizeK8sBuckets": 2,
            "podTemplate": {"nodeSelector": {"diskType": "ssd"}, "egressIPs": ["10.0.0.1"]},
            "enabled": True,
            "nothing": None,
        },
        "status": {"conditions": [{"type": "Running", "status": "True"}]},
    }


def build(obj: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "group": GROUP,
        "kind": KIND,
        "snake_case": True,
        "mark_unsafe": False,
        "watch_vars": {},
    }
    args.update(kw)
    return build_extravars(sample_cr() if obj is None else obj, **args)


def test_operator_var_names() -> None:
    assert operator_var_names("cache.example.com", "Memcached") == (OBJ_VAR, SPEC_VAR)
    assert operator_var_names("", "Secret") == ("__secret", "__secret_spec")
    assert operator_var_names("cert-manager.k8s.io", "Cluster-Issuer") == (
        "_cert_manager_k8s_io_cluster_issuer",
        "_cert_manager_k8s_io_cluster_issuer_spec",
    )


def test_snake_on_unsafe_off_exact() -> None:
    cr = sample_cr()
    got = build(cr, watch_vars={"state": "present"})
    want = {
        "size": 3,
        "size_k8s_buckets": 2,
        "pod_template": {"node_selector": {"disk_type": "ssd"}, "egress_ips": ["10.0.0.1"]},
        "enabled": True,
        "nothing": None,
        "ansible_operator_meta": {"name": "mc", "namespace": "ns1"},
        OBJ_VAR: sample_cr(),
        SPEC_VAR: sample_cr()["spec"],
        "state": "present",
    }
    assert got == want
    assert list(got) == list(want)
    assert cr == sample_cr()  # input not modified
    json.dumps(got)  # JSON-ready


def test_snake_off_unsafe_off_exact() -> None:
    got = build(snake_case=False)
    spec = sample_cr()["spec"]
    want = {
        **spec,
        "ansible_operator_meta": {"name": "mc", "namespace": "ns1"},
        OBJ_VAR: sample_cr(),
        SPEC_VAR: spec,
    }
    assert got == want
    assert list(got) == list(want)


def test_snake_on_unsafe_on_exact() -> None:
    got = build(mark_unsafe=True, watch_vars={"state": "present"}, finalizer_vars={"state": "absent"})
    cr = sample_cr()
    want = {
        "size": 3,
        "size_k8s_buckets": 2,
        "pod_template": {"node_selector": {"disk_type": U("ssd")}, "egress_ips": [U("10.0.0.1")]},
        "enabled": True,
        "nothing": None,
        "ansible_operator_meta": {"name": "mc", "namespace": "ns1"},  # never wrapped
        OBJ_VAR: {
            "apiVersion": U("cache.example.com/v1alpha1"),
            "kind": U("Memcached"),
            "metadata": {
                "name": U("mc"),
                "namespace": U("ns1"),
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": U("{}")},
                "generation": 2,
            },
            "spec": {  # unmodified keys, wrapped values
                "size": 3,
                "sizeK8sBuckets": 2,
                "podTemplate": {"nodeSelector": {"diskType": U("ssd")}, "egressIPs": [U("10.0.0.1")]},
                "enabled": True,
                "nothing": None,
            },
            "status": {"conditions": [{"type": U("Running"), "status": U("True")}]},
        },
        SPEC_VAR: {
            "size": 3,
            "sizeK8sBuckets": 2,
            "podTemplate": {"nodeSelector": {"diskType": U("ssd")}, "egressIPs": [U("10.0.0.1")]},
            "enabled": True,
            "nothing": None,
        },
        "state": "absent",  # finalizer vars win over watch vars, never wrapped
    }
    assert got == want
    assert list(got) == list(want)
    assert cr == sample_cr()


def test_snake_off_unsafe_on() -> None:
    got = build(snake_case=False, mark_unsafe=True)
    assert got["podTemplate"] == {"nodeSelector": {"diskType": U("ssd")}, "egressIPs": [U("10.0.0.1")]}
    assert got["sizeK8sBuckets"] == 2
    assert got[SPEC_VAR]["podTemplate"] == got["podTemplate"]


def test_cluster_scoped_cr() -> None:
    cr = sample_cr()
    del cr["metadata"]["namespace"]
    got = build(cr, mark_unsafe=True)
    assert got["ansible_operator_meta"] == {"name": "mc", "namespace": ""}
    assert "namespace" not in got[OBJ_VAR]["metadata"]


@pytest.mark.parametrize("spec", ["missing", None, "a string", ["a", "list"]])
def test_cr_without_spec(spec: Any) -> None:
    cr = sample_cr()
    if spec == "missing":
        del cr["spec"]
    else:
        cr["spec"] = spec
    got = build(cr, watch_vars={"w": 1})
    want_obj = copy.deepcopy(cr)
    assert got == {
        "ansible_operator_meta": {"name": "mc", "namespace": "ns1"},
        OBJ_VAR: want_obj,
        SPEC_VAR: {},
        "w": 1,
    }
    assert list(got) == ["ansible_operator_meta", OBJ_VAR, SPEC_VAR, "w"]


def test_watch_and_finalizer_vars_precedence_and_presence() -> None:
    watch_vars = {"state": "present", "replicas_default": 1, "extra": {"nested": "x"}}
    fin_vars = {"state": "absent", "cleanup": True}

    normal = build(watch_vars=watch_vars)
    assert normal["state"] == "present"
    assert "cleanup" not in normal
    assert list(normal)[-3:] == ["state", "replicas_default", "extra"]

    fin = build(watch_vars=watch_vars, finalizer_vars=fin_vars)
    assert fin["state"] == "absent"
    assert fin["cleanup"] is True
    assert fin["replicas_default"] == 1
    # "state" keeps its first position (watch vars), "cleanup" comes last.
    assert list(fin)[-4:] == ["state", "replicas_default", "extra", "cleanup"]

    # Watch/finalizer vars are never wrapped unsafe and are copies.
    fin_unsafe = build(mark_unsafe=True, watch_vars=watch_vars, finalizer_vars=fin_vars)
    assert fin_unsafe["extra"] == {"nested": "x"}
    assert fin_unsafe["extra"] is not watch_vars["extra"]
    assert fin_unsafe["state"] == "absent"


def test_watch_vars_may_override_operator_vars_like_go() -> None:
    got = build(watch_vars={"ansible_operator_meta": "pinned", OBJ_VAR: "x"})
    assert got["ansible_operator_meta"] == "pinned"
    assert got[OBJ_VAR] == "x"


def test_result_does_not_share_objects_with_input() -> None:
    cr = sample_cr()
    got = build(cr, snake_case=False)
    got["podTemplate"]["nodeSelector"]["diskType"] = "changed"
    got[OBJ_VAR]["metadata"]["name"] = "changed"
    assert cr == sample_cr()
    assert got[SPEC_VAR]["podTemplate"]["nodeSelector"]["diskType"] == "ssd"


# --- reserved keys -------------------------------------------------------------------------------


def spec_cr(spec: dict[str, Any]) -> dict[str, Any]:
    cr = sample_cr()
    cr["spec"] = spec
    return cr


@pytest.mark.parametrize(
    ("spec_key", "snake_case", "var", "reason"),
    [
        ("ansibleBecome", True, "ansible_become", "names an Ansible variable (ansible_*)"),
        ("ansible_shell_executable", False, "ansible_shell_executable", "names an Ansible variable (ansible_*)"),
        ("ANSIBLE_python_interpreter", False, "ANSIBLE_python_interpreter", "names an Ansible variable (ansible_*)"),
        ("Ansible_host", False, "Ansible_host", "names an Ansible variable (ansible_*)"),
        (
            "ansibleOperatorMeta",
            True,
            "ansible_operator_meta",
            "is set by the operator (ansible_operator_meta)",
        ),
        (OBJ_VAR, False, OBJ_VAR, f"is set by the operator ({OBJ_VAR})"),
        (SPEC_VAR, True, SPEC_VAR, f"is set by the operator ({SPEC_VAR})"),
        ("hostvars", True, "hostvars", "is an Ansible special variable"),
        ("inventoryHostname", True, "inventory_hostname", "is an Ansible special variable"),
        ("playbookDir", True, "playbook_dir", "is an Ansible special variable"),
        ("omit", False, "omit", "is an Ansible special variable"),
        ("vars", True, "vars", "is an Ansible special variable"),
        ("environment", True, "environment", "is an Ansible special variable"),
    ],
)
def test_reserved_keys(spec_key: str, snake_case: bool, var: str, reason: str) -> None:
    with pytest.raises(ReservedVariableError) as exc_info:
        build(spec_cr({"size": 1, spec_key: "x"}), snake_case=snake_case)
    err = exc_info.value
    assert isinstance(err, ValueError)
    assert (err.key, err.var, err.reason) == (spec_key, var, reason)
    assert str(err) == (
        f"spec key '{spec_key}' would set the reserved variable '{var}', which {reason}; rename or remove it"
    )


def test_reserved_message_example() -> None:
    with pytest.raises(ReservedVariableError) as exc_info:
        build(spec_cr({"ansibleBecome": True}))
    assert str(exc_info.value) == (
        "spec key 'ansibleBecome' would set the reserved variable 'ansible_become', "
        "which names an Ansible variable (ansible_*); rename or remove it"
    )


def test_reserved_watch_var() -> None:
    with pytest.raises(ReservedVariableError) as exc_info:
        build(spec_cr({"imageTag": "v1"}), watch_vars={"image_tag": "v0"})
    err = exc_info.value
    assert (err.key, err.var, err.reason) == (
        "imageTag",
        "image_tag",
        "is fixed by the watch's vars in watches.yaml",
    )
    # Without snake_case the raw key is compared.
    assert build(spec_cr({"imageTag": "v1"}), snake_case=False, watch_vars={"image_tag": "v0"})


def test_reserved_finalizer_var_only_on_finalizer_runs() -> None:
    cr = spec_cr({"cleanupMode": "fast"})
    assert build(cr, finalizer_vars=None)["cleanup_mode"] == "fast"
    with pytest.raises(ReservedVariableError) as exc_info:
        build(cr, finalizer_vars={"cleanup_mode": "slow"})
    err = exc_info.value
    assert (err.var, err.reason) == ("cleanup_mode", "is fixed by the finalizer's vars in watches.yaml")
    # A caller can check a normal run against the finalizer's vars too.
    with pytest.raises(ReservedVariableError):
        check_spec_keys(
            cr["spec"],
            group=GROUP,
            kind=KIND,
            snake_case=True,
            watch_vars={},
            finalizer_vars={"cleanup_mode": "slow"},
        )


def test_first_offending_key_in_spec_order() -> None:
    with pytest.raises(ReservedVariableError) as exc_info:
        build(spec_cr({"size": 1, "groups": [], "ansibleUser": "root"}))
    assert exc_info.value.key == "groups"


@pytest.mark.parametrize(
    "key",
    ["name", "state", "item", "ansible", "myAnsibleHost", "x_ansible_host", "Groups", "with-dash", "1abc", ""],
)
def test_not_reserved(key: str) -> None:
    got = build(spec_cr({key: "v"}), snake_case=False)
    assert got[key] == "v"


def test_reserved_magic_contents() -> None:
    assert {
        "hostvars",
        "groups",
        "group_names",
        "inventory_hostname",
        "inventory_hostname_short",
        "inventory_dir",
        "inventory_file",
        "omit",
        "play_hosts",
        "playbook_dir",
        "role_name",
        "role_names",
        "role_path",
        "role_uuid",
        "environment",
        "vars",
    } <= RESERVED_MAGIC
    assert "name" not in RESERVED_MAGIC
    assert not any(v.startswith("ansible_") for v in RESERVED_MAGIC)


def test_reserved_magic_covers_ansible_internal_vars() -> None:
    ansible_constants = pytest.importorskip("ansible.constants")
    internal = {v for v in ansible_constants.INTERNAL_STATIC_VARS if not v.startswith("ansible_")}
    assert internal <= RESERVED_MAGIC


def test_error_is_picklable() -> None:
    import pickle

    err = ReservedVariableError("ansibleUser", "ansible_user", "names an Ansible variable (ansible_*)")
    again = pickle.loads(pickle.dumps(err))
    assert (again.key, again.var, again.reason, str(again)) == (err.key, err.var, err.reason, str(err))


# --- wrap_unsafe -------------------------------------------------------------------------------


def test_wrap_unsafe_nested() -> None:
    given: dict[str, Any] = {
        "s": "{{ x }}",
        "n": 1,
        "f": 1.5,
        "b": False,
        "none": None,
        "list": ["a", 2, ["b", {"c": "d"}], {}],
        "map": {"k": {"k2": "v"}, "empty": []},
        "tuple": ("t",),
    }
    want = {
        "s": U("{{ x }}"),
        "n": 1,
        "f": 1.5,
        "b": False,
        "none": None,
        "list": [U("a"), 2, [U("b"), {"c": U("d")}], {}],
        "map": {"k": {"k2": U("v")}, "empty": []},
        "tuple": [U("t")],
    }
    snapshot = copy.deepcopy(given)
    assert wrap_unsafe(given) == want
    assert given == snapshot  # keys untouched, input not modified


def test_wrap_unsafe_scalars() -> None:
    assert wrap_unsafe("x") == U("x")
    assert wrap_unsafe("") == U("")
    assert wrap_unsafe(3) == 3
    assert wrap_unsafe(None) is None
