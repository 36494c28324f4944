"""Scaffolding (init, create api), argument_specs -> CRD schema, and `ansible-operator vars` (no cluster)."""

from __future__ import annotations

import argparse
import io
import json
import logging
import random
import string
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.cli import scaffold as cli_scaffold
from runner.cli import varscmd
from runner.config.watches import load_watches
from runner.jobs.extravars import dump_extravars
from runner.jobs.snake import to_snake_case
from runner.scaffold import ScaffoldError, create_api, init_project
from runner.scaffold.blocks import BlockError, replace_blocks
from runner.scaffold.crd import Resource, pluralize
from runner.scaffold.schema import SchemaError, field_name, spec_schema, to_camel_case

REPO = Path(__file__).resolve().parents[3]

ARGUMENT_SPECS = {
    "argument_specs": {
        "main": {
            "short_description": "A cache.",
            "options": {
                "size": {"type": "int", "required": True, "description": ["Number of", "C(pods)."]},
                "ratio": {"type": "float", "default": 0.5},
                "enabled": {"type": "bool", "default": True},
                "image": {"type": "str", "default": "memcached:1.6"},
                "data_dir": {"type": "path"},
                "anything": {"type": "raw"},
                "mode": {"type": "str", "choices": ["fast", "safe"], "default": "safe"},
                "ports": {"type": "list", "elements": "int", "default": [11211]},
                "extra_labels": {"type": "dict", "default": {}},
                "tiers": {"type": "list", "elements": "str", "choices": ["a", "b"]},
                "tls_config": {
                    "type": "dict",
                    "options": {
                        "secret_name": {"type": "str", "required": True},
                        "min_version": {"type": "str", "default": "1.2"},
                    },
                },
                "backends": {
                    "type": "list",
                    "elements": "dict",
                    "options": {"host_name": {"type": "str", "required": True}, "port": {"type": "int"}},
                },
                "templated": {"type": "str", "default": "{{ ansible_operator_meta.name }}-x"},
                "ansible_operator_meta": {"type": "dict", "options": {"name": {"type": "str"}}},
                "ansible_python_interpreter": {"type": "str"},
            },
        }
    }
}


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "memcached-operator"
    init_project(root, domain="example.com")
    return root


def api(root: Path, **kw: Any) -> Any:
    args = {"group": "cache", "version": "v1alpha1", "kind": "Memcached", "generate_role": True, **kw}
    return create_api(root, **args)


def crd(root: Path, name: str = "config/crd/bases/cache.example.com_memcacheds.yaml") -> dict[str, Any]:
    return yaml.safe_load_all((root / name).read_text()).__next__()


# --- init ---


def test_init_creates_the_layout_of_this_repository(project: Path) -> None:
    made = set(files(project))
    for rel in (
        "watches.yaml",
        "Dockerfile",
        "requirements.yml",
        "PROJECT",
        ".gitignore",
        "roles/.placeholder",
        "playbooks/.placeholder",
        "config/crd/kustomization.yaml",
        "config/rbac/role.yaml",
        "config/manager/manager.yaml",
        "config/default/kustomization.yaml",
        "config/namespaced/kustomization.yaml",
        "config/samples/kustomization.yaml",
        "molecule/default/molecule.yml",
        "molecule/default/verify.yml",
    ):
        assert rel in made, rel
    assert yaml.safe_load((project / "PROJECT").read_text())["projectName"] == "memcached-operator"
    assert "%%" not in "".join(p.decode() for p in files(project).values())


def test_init_generic_files_are_this_repositorys(tmp_path: Path) -> None:
    init_project(tmp_path / "p", name="ansible-operator")
    same = [
        *(f"molecule/default/{n}" for n in ("molecule.yml", "vars.yml", "create.yml", "prepare.yml")),
        *(f"molecule/default/{n}" for n in ("converge.yml", "verify.yml", "cleanup.yml", "destroy.yml")),
        "config/manager/manager.yaml",
        "config/manager/kustomization.yaml",
        "config/default/kustomization.yaml",
        "config/namespaced/kustomization.yaml",
        "config/rbac/kustomization.yaml",
        "config/rbac/service_account.yaml",
        "config/rbac/role_binding.yaml",
        "config/rbac/crd_reader_role.yaml",
        "config/rbac/leader_election_role.yaml",
        "config/rbac/leader_election_role_binding.yaml",
        "config/rbac/metrics_auth_role.yaml",
        "config/rbac/metrics_auth_role_binding.yaml",
        "config/rbac/metrics_reader_role.yaml",
    ]
    for rel in same:
        assert (tmp_path / "p" / rel).read_text() == (REPO / rel).read_text(), rel


def test_the_role_scenario_of_this_repository_is_the_scaffolded_one() -> None:
    from runner.scaffold import templates

    res = Resource.make("demo.example.com", "v1alpha1", "WebApp")
    for name in ("molecule.yml", "converge.yml", "vars.yml"):
        scaffolded = templates.api_file(f"role-scenario/{name}", res)
        assert scaffolded == (REPO / "molecule/webapp-role" / name).read_text(), name


def test_init_twice_changes_nothing(project: Path) -> None:
    before = files(project)
    w = init_project(project, domain="example.com")
    assert {a for a, _ in w.actions} == {"kept"}
    assert files(project) == before


@pytest.mark.parametrize(("name", "domain"), [("Bad_Name", "example.com"), ("ok", "nodots")])
def test_init_refuses_bad_names(tmp_path: Path, name: str, domain: str) -> None:
    with pytest.raises(ScaffoldError):
        init_project(tmp_path / "x", name=name, domain=domain)


# --- create api ---


def test_create_api_adds_every_file_and_a_watch(project: Path) -> None:
    api(project)
    made = set(files(project))
    for rel in (
        "config/crd/bases/cache.example.com_memcacheds.yaml",
        "config/samples/cache_v1alpha1_memcached.yaml",
        "roles/memcached/tasks/main.yml",
        "roles/memcached/meta/argument_specs.yml",
        "roles/memcached/defaults/main.yml",
        "molecule/default/tasks/memcached_test.yml",
        "molecule/memcached-role/molecule.yml",
        "molecule/memcached-role/converge.yml",
    ):
        assert rel in made, rel
    watches = load_watches(project / "watches.yaml", environ={}, cwd=str(project))
    assert [(w.gvk.group, w.gvk.version, w.gvk.kind) for w in watches] == [
        ("cache.example.com", "v1alpha1", "Memcached")
    ]
    assert watches[0].role == str(project / "roles" / "memcached")
    assert (
        "bases/cache.example.com_memcacheds.yaml" in (project / "config/crd/kustomization.yaml").read_text()
    )
    assert "cache_v1alpha1_memcached.yaml" in (project / "config/samples/kustomization.yaml").read_text()

    doc = crd(project)
    assert doc["metadata"]["name"] == "memcacheds.cache.example.com"
    version = doc["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert columns["Successful"]["jsonPath"] == '.status.conditions[?(@.type=="Successful")].status'
    assert columns["Failure"]["jsonPath"] == '.status.conditions[?(@.type=="Failure")].status'
    assert columns["Age"]["type"] == "date"
    # The skeleton's argument specs declare only ansible_operator_meta: an open spec.
    assert version["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"]

    rules = yaml.safe_load((project / "config/rbac/role.yaml").read_text())["rules"]
    assert {
        "apiGroups": ["cache.example.com"],
        "resources": ["memcacheds/status"],
        "verbs": ["get", "patch", "update"],
    } in rules
    assert any(r["resources"] == ["memcacheds"] and "watch" in r["verbs"] for r in rules)


def test_create_api_twice_is_byte_identical(project: Path) -> None:
    api(project)
    before = files(project)
    w = api(project)
    assert files(project) == before
    assert {a for a, _ in w.actions} <= {"kept", "unchanged"}


def test_regenerating_keeps_user_edits_outside_generated_blocks(project: Path) -> None:
    api(project)
    crd_path = project / "config/crd/bases/cache.example.com_memcacheds.yaml"
    text = crd_path.read_text()
    end = "              # +ansible-operator:generated:end spec-schema/v1alpha1\n"
    user_rule = "              x-kubernetes-validations:\n                - rule: self.size <= 10\n"
    crd_path.write_text(text.replace(end, end + user_rule))
    tasks = project / "roles/memcached/tasks/main.yml"
    tasks.write_text(tasks.read_text() + "\n- name: My own task\n  ansible.builtin.debug: {msg: mine}\n")
    specs = project / "roles/memcached/meta/argument_specs.yml"
    specs.write_text(yaml.safe_dump(ARGUMENT_SPECS))
    rbac = project / "config/rbac/role.yaml"
    rbac.write_text(
        rbac.read_text().replace(
            "  # +kubebuilder:scaffold:rules",
            "  - {apiGroups: [apps], resources: [deployments], verbs: [get]}\n"
            "  # +kubebuilder:scaffold:rules",
        )
    )

    api(project)
    spec = crd(project)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["x-kubernetes-validations"] == [{"rule": "self.size <= 10"}]  # kept
    assert spec["required"] == ["size"]  # regenerated from the new argument specs
    assert "tlsConfig" in spec["properties"]
    assert crd(project)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["required"] == ["spec"]
    assert "My own task" in tasks.read_text()
    assert "deployments" in rbac.read_text()
    before = files(project)
    api(project)
    assert files(project) == before


def test_create_api_adds_a_version_and_a_playbook(project: Path) -> None:
    api(project)
    api(project, version="v1beta1", generate_role=False, generate_playbook=True)
    versions = crd(project)["spec"]["versions"]
    assert [(v["name"], v["storage"]) for v in versions] == [("v1alpha1", True), ("v1beta1", False)]
    watches = load_watches(project / "watches.yaml", environ={}, cwd=str(project))
    assert [w.gvk.version for w in watches] == ["v1alpha1", "v1beta1"]
    assert watches[1].playbook == str(project / "playbooks" / "memcached.yml")
    play = yaml.safe_load((project / "playbooks/memcached.yml").read_text())
    assert play[0]["tasks"][0]["ansible.builtin.import_role"]["name"] == "memcached"


def test_create_api_errors(tmp_path: Path, project: Path) -> None:
    with pytest.raises(ScaffoldError, match="init"):
        create_api(tmp_path / "empty", group="a.b", version="v1", kind="K")
    with pytest.raises(ScaffoldError, match="kind"):
        api(project, kind="memcached")
    with pytest.raises(ScaffoldError, match="version"):
        api(project, version="1.0")
    (project / "roles/memcached/meta").mkdir(parents=True)
    (project / "roles/memcached/meta/argument_specs.yml").write_text(
        yaml.safe_dump({"argument_specs": {"main": {"options": {"Bad": {"type": "str"}}}}})
    )
    with pytest.raises(ScaffoldError, match="'Bad'"):
        api(project)


@pytest.mark.parametrize(
    ("kind", "plural"), [("backup", "backups"), ("policy", "policies"), ("class", "classes"), ("day", "days")]
)
def test_plural(kind: str, plural: str) -> None:
    assert pluralize(kind) == plural
    assert Resource.make("a.b", "v1", kind.title()).plural == plural


# --- argument_specs -> schema ---


def test_schema_maps_every_argument_spec_feature() -> None:
    s = spec_schema(ARGUMENT_SPECS, group="cache.example.com", kind="Memcached")
    p = s["properties"]
    assert s["required"] == ["size"] and "default" not in s
    assert p["size"] == {"description": "Number of `pods`.", "type": "integer"}
    assert p["ratio"] == {"type": "number", "default": 0.5}
    assert p["enabled"] == {"type": "boolean", "default": True}
    assert p["image"] == {"type": "string", "default": "memcached:1.6"}
    assert p["dataDir"] == {"type": "string"}
    assert p["anything"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert p["mode"] == {"type": "string", "enum": ["fast", "safe"], "default": "safe"}
    assert p["ports"] == {"type": "array", "items": {"type": "integer"}, "default": [11211]}
    assert p["extraLabels"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "default": {}}
    assert p["tiers"] == {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}
    assert p["tlsConfig"] == {
        "type": "object",
        "properties": {
            "secretName": {"type": "string"},
            "minVersion": {"type": "string", "default": "1.2"},
        },
        "required": ["secretName"],
    }
    assert p["backends"]["items"] == {
        "type": "object",
        "properties": {"hostName": {"type": "string"}, "port": {"type": "integer"}},
        "required": ["hostName"],
    }
    assert p["templated"] == {"type": "string"}  # a Jinja default is the role's business
    assert "ansibleOperatorMeta" not in p and "ansiblePythonInterpreter" not in p


def test_schema_without_argument_specs_is_open() -> None:
    s = spec_schema(None, group="a.b", kind="K")
    assert s["type"] == "object" and s["x-kubernetes-preserve-unknown-fields"] is True


def test_schema_leaves_out_watch_vars_and_keeps_names_without_snake_case() -> None:
    specs = {"argument_specs": {"main": {"options": {"state": {"type": "str"}, "my_size": {"type": "int"}}}}}
    s = spec_schema(specs, group="a.b", kind="K", watch_vars=["state"])
    assert list(s["properties"]) == ["mySize"] and s["default"] == {}
    raw = spec_schema(specs, group="a.b", kind="K", snake_case=False)
    assert list(raw["properties"]) == ["state", "my_size"]


@pytest.mark.parametrize(
    ("option", "field"),
    [
        ("extra_labels", "extraLabels"),
        ("size_k8s_buckets", "sizeK8sBuckets"),
        ("pg1_repo_path", "pg1RepoPath"),
        ("egress_ips", "egressIps"),
        ("http_port", "httpPort"),
        ("size", "size"),
    ],
)
def test_field_names(option: str, field: str) -> None:
    assert field_name(option) == field
    assert to_snake_case(field) == option


def test_field_names_round_trip_through_the_runners_snake_case() -> None:
    rng = random.Random(4)
    alphabet = string.ascii_lowercase + string.digits
    for _ in range(3000):
        words = [
            rng.choice(string.ascii_lowercase) + "".join(rng.choices(alphabet, k=rng.randint(0, 6)))
            for _ in range(rng.randint(1, 4))
        ]
        option = "_".join(words)
        try:
            field = field_name(option)
        except SchemaError:
            continue  # refused with a message rather than mapped wrongly
        assert to_snake_case(field) == option, (option, field)
    assert to_camel_case("a_b_c") == "aBC"


@pytest.mark.parametrize("option", ["Name", "aB", "myURL"])
def test_field_names_that_cannot_round_trip_are_refused(option: str) -> None:
    with pytest.raises(SchemaError, match=repr(option)):
        field_name(option)


def test_webapp_argument_specs_give_the_sample_crd_fields() -> None:
    from runner.scaffold.schema import load_argument_specs

    s = spec_schema(load_argument_specs(REPO / "roles/webapp"), group="demo.example.com", kind="WebApp")
    hand_written = yaml.safe_load((REPO / "config/crd/bases/demo.example.com_webapps.yaml").read_text())
    props = hand_written["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]
    assert set(s["properties"]) == set(props)
    for name, prop in s["properties"].items():
        assert prop.get("type") == props[name]["type"], name
        assert props[name].get("default") in (None, prop.get("default")), name


# --- blocks ---


def test_blocks_errors_and_other_blocks_are_kept() -> None:
    text = "a\n  # +ansible-operator:generated:begin x\n  old\n  # +ansible-operator:generated:end x\n"
    text += "# +ansible-operator:generated:begin y\nkeep\n# +ansible-operator:generated:end y\n"
    new, missing = replace_blocks(text, {"x": "new: 1\n", "z": ""})
    assert "  new: 1\n" in new and "old" not in new and "keep" in new and missing == ["z"]
    with pytest.raises(BlockError):
        replace_blocks("# +ansible-operator:generated:begin x\n", {})
    with pytest.raises(BlockError):
        replace_blocks("# +ansible-operator:generated:end x\n", {})


# --- CLI and vars ---


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ansible-operator")
    cli_scaffold.add_parsers(p.add_subparsers(dest="command", required=True))
    return p.parse_args(list(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["create"],
        ["create", "api", "--version", "v1", "--kind", "K"],
        [
            "create",
            "api",
            "--group",
            "g",
            "--version",
            "v1",
            "--kind",
            "K",
            "--generate-role",
            "--generate-playbook",
        ],
        ["vars"],
        ["vars", "x", "--format", "xml"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_cli_init_and_create_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "op"
    assert cli_scaffold.dispatch(parse("init", "--project-dir", str(root), "--domain", "acme.io")) == 0

    def create_api(kind: str, *more: str) -> argparse.Namespace:
        return parse(
            "create",
            "api",
            "--project-dir",
            str(root),
            "--group",
            "web",
            "--version",
            "v1",
            "--kind",
            kind,
            *more,
        )

    assert cli_scaffold.dispatch(create_api("Site", "--generate-role")) == 0
    assert "created  config/crd/bases/web.acme.io_sites.yaml" in capsys.readouterr().out
    assert cli_scaffold.dispatch(create_api("lower")) == 1
    assert "invalid kind" in capsys.readouterr().err
    assert cli_scaffold.dispatch(argparse.Namespace(command="run")) is None


def run_vars(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cr: dict[str, Any], *argv: str
) -> tuple[int, str, str]:
    monkeypatch.chdir(REPO)
    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump(cr, sort_keys=False)))
    rc = varscmd.run(parse("vars", "-", *argv))
    out, err = capsys.readouterr()
    return rc, out, err


WEBAPP = {
    "apiVersion": "demo.example.com/v1alpha1",
    "kind": "WebApp",
    "metadata": {"name": "shop", "namespace": "prod"},
    "spec": {"replicas": 2, "extraLabels": {"team": "web"}, "message": "{{ lookup('pipe', 'id') }}"},
}


def test_vars_is_the_runners_extra_vars_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from runner.cli.main import build_config, parser
    from runner.config.watches import load_watches as load
    from runner.jobs.plan import plan_job

    rc, out, _ = run_vars(monkeypatch, capsys, WEBAPP)
    assert rc == 0
    watch = next(w for w in load(REPO / "watches.yaml") if w.gvk.kind == "WebApp")
    config = build_config(parser().parse_args(["run"]), {})
    expected = plan_job(WEBAPP, watch, config, logging.LoggerAdapter(logging.getLogger(), {}))
    assert out == dump_extravars(expected.extravars)
    assert '!unsafe "{{ lookup' in out

    rc, out, _ = run_vars(monkeypatch, capsys, WEBAPP, "--format", "json")
    data = json.loads(out)
    assert data["extra_labels"] == {"team": "web"} and data["replicas"] == 2
    assert data["ansible_operator_meta"] == {"name": "shop", "namespace": "prod"}
    assert data["_demo_example_com_webapp_spec"]["extraLabels"] == {"team": "web"}


def test_vars_finalizer_namespace_and_refusals(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = {
        "apiVersion": "demo.example.com/v1alpha1",
        "kind": "Backup",
        "metadata": {"name": "b"},
        "spec": {"target": "x"},
    }
    rc, out, _ = run_vars(monkeypatch, capsys, backup, "--finalizer", "--format", "yaml", "-n", "ns1")
    data = yaml.safe_load(out)
    assert rc == 0 and data["ansible_operator_meta"] == {"name": "b", "namespace": "ns1"}
    assert data["_demo_example_com_backup"]["metadata"]["deletionTimestamp"]

    rc, _, err = run_vars(monkeypatch, capsys, WEBAPP, "--finalizer")
    assert rc == 1 and "no finalizer" in err
    bad = {**WEBAPP, "spec": {"ansibleHost": "evil"}}
    rc, out, err = run_vars(monkeypatch, capsys, bad)
    assert rc == 1 and out == "" and "InvalidSpec" not in err and "ansible_host" in err
    rc, _, err = run_vars(monkeypatch, capsys, {**WEBAPP, "kind": "Nope"})
    assert rc == 1 and "no watch for demo.example.com/v1alpha1 Nope" in err
    rc, _, err = run_vars(monkeypatch, capsys, {"kind": "WebApp"})
    assert rc == 1 and "apiVersion" in err


def test_vars_output_file_is_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "vars.yml"
    rc, _, _ = run_vars(monkeypatch, capsys, WEBAPP, "-o", str(out))
    assert rc == 0 and out.stat().st_mode & 0o777 == 0o600
    assert out.read_text().startswith("# Extra vars written by the ansible-operator runner")


def test_a_new_required_option_gets_a_placeholder_in_the_kept_sample(project: Path) -> None:
    api(project)
    sample = project / "config/samples/cache_v1alpha1_memcached.yaml"
    assert yaml.safe_load(sample.read_text())["spec"] == {}
    specs = project / "roles/memcached/meta/argument_specs.yml"
    specs.write_text(yaml.safe_dump(ARGUMENT_SPECS))

    writer = api(project)
    obj = yaml.safe_load(sample.read_text())
    assert obj["spec"] == {"size": 1}  # the new required option, with the scaffold's placeholder
    assert obj["metadata"]["name"] == "memcached-sample"
    assert any("added placeholders for spec.size" in w for w in writer.warnings)
    assert api(project).warnings == []  # nothing more to add

    # A sample with the user's comments is not rewritten: a warning names the missing fields.
    specs.write_text(
        yaml.safe_dump(
            {
                "argument_specs": {
                    "main": {
                        "options": {
                            **ARGUMENT_SPECS["argument_specs"]["main"]["options"],
                            "replicas": {"type": "int", "required": True},
                        }
                    }
                }
            }
        )
    )
    commented = "# my sample\n" + sample.read_text()
    sample.write_text(commented)
    writer = api(project)
    assert sample.read_text() == commented
    assert any("the CRD now requires spec.replicas" in w and "left as it is" in w for w in writer.warnings)
