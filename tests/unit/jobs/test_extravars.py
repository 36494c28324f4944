"""build_extravars: layout, precedence and order like the Go operator, plus our reserved-key checks."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from runner.jobs.extravars import (
    RESERVED_MAGIC,
    ReservedVariableError,
    UnsafeStr,
    build_extravars,
    check_spec_keys,
    dump_extravars,
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
        (
            "ansible_shell_executable",
            False,
            "ansible_shell_executable",
            "names an Ansible variable (ansible_*)",
        ),
        (
            "ANSIBLE_python_interpreter",
            False,
            "ANSIBLE_python_interpreter",
            "names an Ansible variable (ansible_*)",
        ),
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
    [
        "name",
        "state",
        "item",
        "ansible",
        "myAnsibleHost",
        "x_ansible_host",
        "Groups",
        "with-dash",
        "1abc",
        "",
    ],
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


def test_wrap_unsafe_marks_keys() -> None:
    got = wrap_unsafe({"outer": {"inner": ["x", {"deep": 1}]}})
    assert got == {"outer": {"inner": [U("x"), {"deep": 1}]}}
    assert all(isinstance(k, UnsafeStr) for k in got)
    assert all(isinstance(k, UnsafeStr) for k in got["outer"])
    assert all(isinstance(k, UnsafeStr) for k in got["outer"]["inner"][1])
    # The marker's own key and value are plain strings.
    assert type(next(iter(got["outer"]["inner"][0]))) is str
    assert type(got["outer"]["inner"][0]["__ansible_unsafe"]) is str
    assert json.loads(json.dumps(got)) == got


def test_build_extravars_unsafe_keys_only_inside_values() -> None:
    got = build(mark_unsafe=True)
    assert not any(isinstance(k, UnsafeStr) for k in got)  # variable names stay plain
    assert all(isinstance(k, UnsafeStr) for k in got["pod_template"])
    assert all(isinstance(k, UnsafeStr) for k in got[OBJ_VAR]["metadata"]["annotations"])
    assert not any(isinstance(k, UnsafeStr) for k in got["ansible_operator_meta"])
    plain = build(mark_unsafe=False)
    assert not any(isinstance(k, UnsafeStr) for k in plain["pod_template"])


# --- dump_extravars ----------------------------------------------------------------------------


def test_dump_extravars_exact() -> None:
    text = dump_extravars(
        {
            "size": 3,
            "pod_template": wrap_unsafe({"image": "{{ x }}", "tags": ["a", 1.5, None, True]}),
            "ansible_operator_meta": {"name": "mc", "namespace": ""},
            "state": "present",
        }
    )
    assert text == (
        "# Extra vars written by the ansible-operator runner. YAML, not JSON: strings tagged !unsafe\n"
        "# are never templated by Ansible.\n"
        "size: 3\n"
        "pod_template:\n"
        '  !unsafe "image": !unsafe "{{ x }}"\n'
        '  !unsafe "tags":\n'
        '  - !unsafe "a"\n'
        "  - 1.5\n"
        "  - null\n"
        "  - true\n"
        "ansible_operator_meta:\n"
        "  name: mc\n"
        "  namespace: ''\n"
        "state: present\n"
    )


def test_dump_extravars_is_never_json() -> None:
    text = dump_extravars({"a": 1})
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def ansible_load(tmp_path: Any, text: str) -> Any:
    """Load the text the way ansible-playbook loads ``-e @file`` (ansible-core 2.19 or 2.18)."""
    dataloader = pytest.importorskip("ansible.parsing.dataloader")
    path = tmp_path / "extravars"
    path.write_text(text)
    loader = dataloader.DataLoader()
    try:
        return loader.load_from_file(str(path), trusted_as_template=True)
    except TypeError:  # 2.18: no trust tags; every loaded string may be templated unless unsafe
        return loader.load_from_file(str(path))


def is_trusted(value: str) -> bool:
    """Whether Ansible would template this loaded string: 2.19's TrustedAsTemplate tag, or on 2.18
    not being an AnsibleUnsafe string."""
    try:
        from ansible._internal._datatag._tags import TrustedAsTemplate
    except ImportError:
        unsafe = pytest.importorskip("ansible.utils.unsafe_proxy")
        return not isinstance(value, unsafe.AnsibleUnsafe)
    return bool(TrustedAsTemplate.is_tagged_on(value))


TRICKY_STRINGS = [
    *("123", "1.10", "", "true", "yes", "null", "~", "=", "<<", "!", "&", "*", "!x", "2020-01-01"),
    *("0x1F", ".inf", "a: b", "- x", "#c", "'q'", '"d"', "l1\nl2\n", " pad ", "\u2028", "\x00\x1b"),
    *("é😀", "{{ x }}", "{% if %}", "{# c #}", "%"),
]


@pytest.mark.parametrize("mark_unsafe", [True, False])
def test_dump_extravars_round_trip_through_ansible(tmp_path: Any, mark_unsafe: bool) -> None:
    cr = sample_cr()
    cr["spec"]["tricky"] = {s: s for s in TRICKY_STRINGS}
    cr["spec"]["trickyList"] = list(TRICKY_STRINGS)
    cr["spec"]["markers"] = {"__ansible_unsafe": ["{{ a }}"], "v": {"__ansible_vault": "x"}, "n": 7}
    extravars = build(cr, mark_unsafe=mark_unsafe, watch_vars={"w": "{{ trusted_watch_var }}"})
    loaded = ansible_load(tmp_path, dump_extravars(extravars))
    want = build(cr, mark_unsafe=False, watch_vars={"w": "{{ trusted_watch_var }}"})
    assert json.dumps(loaded) == json.dumps(want)  # same data, types and order

    def walk(value: Any, trusted_expected: bool) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(k, str) and any(c in k for c in "{%#"):
                    assert is_trusted(k) is trusted_expected, k
                walk(v, trusted_expected)
        elif isinstance(value, list):
            for v in value:
                walk(v, trusted_expected)
        elif isinstance(value, str) and any(c in value for c in "{%#"):
            assert is_trusted(value) is trusted_expected, value

    for var in ("tricky", "tricky_list", "markers", OBJ_VAR, SPEC_VAR):
        walk(loaded[var], trusted_expected=not mark_unsafe)
    assert is_trusted(loaded["w"])  # watch vars are never wrapped


def test_dump_extravars_plain_unsafe_marker_becomes_unsafe_string(tmp_path: Any) -> None:
    # Like Ansible's JSON decoder: a one-key {"__ansible_unsafe": str} mapping is an unsafe string.
    loaded = ansible_load(tmp_path, dump_extravars({"a": {"__ansible_unsafe": "{{ x }}"}, "b": "{{ y }}"}))
    assert loaded == {"a": "{{ x }}", "b": "{{ y }}"}
    assert not is_trusted(loaded["a"])
    assert is_trusted(loaded["b"])


def test_dump_extravars_str_subclasses() -> None:
    class Name(str):
        pass

    text = dump_extravars({Name("k"): Name("v"), "u": {UnsafeStr("k2"): [UnsafeStr("v2")]}})
    assert text.endswith('k: v\nu:\n  !unsafe "k2":\n  - !unsafe "v2"\n')
