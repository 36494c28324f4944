"""watches.yaml loading: every field, error messages, ${ENV} expansion and role resolution."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from runner.config.selector import LabelSelector, Requirement
from runner.config.watches import GVK, Finalizer, Watch, WatchesError, load_watches, parse_watches

HEAD = "- group: cache.example.com\n  version: v1alpha1\n  kind: Memcached\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fake operator project: roles/memcached, playbooks/memcached.yml, a private HOME."""
    (tmp_path / "roles" / "memcached" / "tasks").mkdir(parents=True)
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "memcached.yml").write_text("- hosts: localhost\n")
    (tmp_path / "home").mkdir()
    return tmp_path


def parse(text: str, project: Path, **env: str) -> list[Watch]:
    environ = {"HOME": str(project / "home"), **env}
    return parse_watches(text, path="watches.yaml", environ=environ, cwd=str(project))


def parse_one(extra: str, project: Path, **env: str) -> Watch:
    (watch,) = parse(HEAD + extra, project, **env)
    return watch


def error(text: str, project: Path, **env: str) -> WatchesError:
    with pytest.raises(WatchesError) as info:
        parse(text, project, **env)
    return info.value


def entry_error(extra: str, project: Path, **env: str) -> WatchesError:
    return error(HEAD + extra, project, **env)


# --- GVK ---


def test_gvk_properties() -> None:
    gvk = GVK("cache.example.com", "v1alpha1", "Memcached")
    assert gvk.api_version == "cache.example.com/v1alpha1"
    assert gvk.var_name == "_cache_example_com_memcached"
    assert gvk.env_suffix == "MEMCACHED_CACHE_EXAMPLE_COM"
    assert str(gvk) == "Memcached.v1alpha1.cache.example.com"


def test_gvk_core_group() -> None:
    gvk = GVK("", "v1", "Secret")
    assert gvk.api_version == "v1"
    assert gvk.var_name == "__secret"
    assert gvk.env_suffix == "SECRET_"
    assert str(gvk) == "Secret.v1"


def test_gvk_dashes() -> None:
    gvk = GVK("my-group.io", "v1", "FooBar")
    assert gvk.var_name == "_my_group_io_foobar"
    assert gvk.env_suffix == "FOOBAR_MY_GROUP_IO"


def test_gvk_hashable() -> None:
    assert {GVK("a", "v1", "K"): 1}[GVK("a", "v1", "K")] == 1


# --- a minimal entry and defaults ---


def test_defaults(project: Path) -> None:
    w = parse_one("  role: memcached\n", project)
    assert w.index == 0
    assert w.gvk == GVK("cache.example.com", "v1alpha1", "Memcached")
    assert w.role == str(project / "roles" / "memcached")
    assert w.playbook is None
    assert w.vars == {}
    assert w.max_runner_artifacts == 20
    assert w.reconcile_period is None
    assert w.manage_status is True
    assert w.watch_dependent_resources is True
    assert w.watch_cluster_scoped_resources is False
    assert w.snake_case_parameters is True
    assert w.watch_annotations_changes is False
    assert w.mark_unsafe is True
    assert w.selector == LabelSelector()
    assert w.blacklist == ()
    assert w.finalizer is None
    assert hash(w) == hash(parse_one("  role: memcached\n", project))


def test_every_field(project: Path) -> None:
    w = parse_one(
        """\
  playbook: playbooks/memcached.yml
  vars: {state: present, size: 3}
  maxRunnerArtifacts: 5
  reconcilePeriod: 1m30s
  manageStatus: false
  watchDependentResources: false
  watchClusterScopedResources: true
  snakeCaseParameters: false
  watchAnnotationsChanges: true
  markUnsafe: false
  selector:
    matchLabels: {app: memcached}
    matchExpressions:
      - {key: tier, operator: In, values: [a, b]}
  blacklist:
    - {group: apps, version: v1, kind: Deployment}
    - {version: v1, kind: ConfigMap}
  finalizer:
    name: cache.example.com/finalizer
    vars: {state: absent}
""",
        project,
    )
    assert w.playbook == str(project / "playbooks" / "memcached.yml")
    assert w.role is None
    assert w.vars == {"state": "present", "size": 3}
    assert w.max_runner_artifacts == 5
    assert w.reconcile_period == 90.0
    assert (w.manage_status, w.watch_dependent_resources, w.snake_case_parameters, w.mark_unsafe) == (
        False,
        False,
        False,
        False,
    )
    assert w.watch_cluster_scoped_resources is True
    assert w.watch_annotations_changes is True
    assert w.selector == LabelSelector({"app": "memcached"}, (Requirement("tier", "In", ("a", "b")),))
    assert w.blacklist == (GVK("apps", "v1", "Deployment"), GVK("", "v1", "ConfigMap"))
    assert w.finalizer == Finalizer("cache.example.com/finalizer", None, None, {"state": "absent"})


def test_several_entries_and_core_group(project: Path) -> None:
    text = HEAD + "  role: memcached\n- version: v1\n  kind: Secret\n  group: ''\n  role: memcached\n"
    first, second = parse(text, project)
    assert (first.index, second.index) == (0, 1)
    assert second.gvk == GVK("", "v1", "Secret")
    (third,) = parse("- version: v1\n  kind: Secret\n  group:\n  role: memcached\n", project)
    assert third.gvk.group == ""


# --- error message format ---


def test_error_message_names_file_entry_gvk_and_field(project: Path) -> None:
    text = HEAD + "  role: memcached\n" + HEAD + "  role: memcached\n  reconcilePeriod: abc\n"
    text = text.replace("Memcached", "Other", 1)
    err = error(text, project)
    assert str(err) == (
        "watches.yaml: entry 2 (Memcached.v1alpha1.cache.example.com): field 'reconcilePeriod': "
        "invalid duration 'abc': expected a Go duration such as 30s, 5m or 1h30m"
    )
    assert (err.path, err.index, err.gvk, err.field) == (
        "watches.yaml",
        1,
        "Memcached.v1alpha1.cache.example.com",
        "reconcilePeriod",
    )
    assert err.problem.startswith("invalid duration 'abc'")


def test_yaml_syntax_error_gives_line(project: Path) -> None:
    err = error("- group: a\n  version: v1\n  kind: K\n role: x\n", project)
    assert err.line == 4
    assert str(err).startswith("watches.yaml: line 4: ")
    assert err.index is None


def test_duplicate_yaml_key(project: Path) -> None:
    err = entry_error("  role: memcached\n  role: other\n", project)
    assert err.line == 5
    assert "duplicate key 'role'" in str(err)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no watches defined"),
        ("# only a comment\n", "no watches defined"),
        ("[]\n", "no watches defined"),
        ("group: a\nversion: v1\n", "top level must be a list of watch entries, got a mapping"),
        ("just text\n", "top level must be a list of watch entries, got a string"),
    ],
)
def test_top_level_errors(project: Path, text: str, message: str) -> None:
    err = error(text, project)
    assert str(err).startswith(f"watches.yaml: {message}")
    assert err.index is None


def test_entry_not_a_mapping(project: Path) -> None:
    err = error(HEAD + "  role: memcached\n- just a string\n", project)
    assert err.index == 1
    assert str(err).startswith("watches.yaml: entry 2: must be a mapping")


def test_load_watches_reads_file(project: Path) -> None:
    path = project / "watches.yaml"
    path.write_text(HEAD + "  role: memcached\n")
    (w,) = load_watches(path, environ={}, cwd=str(project))
    assert w.role == str(project / "roles" / "memcached")
    path.write_text(HEAD)
    with pytest.raises(WatchesError) as info:
        load_watches(str(path), environ={}, cwd=str(project))
    err = info.value
    assert err.path == str(path)
    assert str(err).startswith(f"{path}: entry 1 (Memcached.v1alpha1.cache.example.com): ")


def test_load_watches_default_cwd(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "watches.yaml").write_text(HEAD + "  role: memcached\n")
    monkeypatch.chdir(project)
    (w,) = load_watches("watches.yaml", environ={"HOME": str(project)})
    assert w.role == str(project / "roles" / "memcached")


def test_load_watches_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WatchesError) as info:
        load_watches(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: file not found"
    with pytest.raises(WatchesError, match="is a directory"):
        load_watches(tmp_path)


def test_load_watches_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_bytes(b"- kind: \xff\n")
    with pytest.raises(WatchesError, match="not valid UTF-8"):
        load_watches(tmp_path / "w.yaml")


# --- ${ENV} expansion ---


def test_env_expansion(project: Path) -> None:
    w = parse_one(
        "  role: ${ROLE}\n  reconcilePeriod: ${PERIOD}\n  vars: {a: '${UNDEFINED}', b: $ROLE}\n",
        project,
        ROLE="memcached",
        PERIOD="5m",
    )
    assert w.role == str(project / "roles" / "memcached")
    assert w.reconcile_period == 300.0
    assert w.vars == {"a": "${UNDEFINED}", "b": "$ROLE"}  # only ${VAR} is expanded


def test_env_undefined_left_literally(project: Path) -> None:
    err = entry_error("  role: ${NO_SUCH_ROLE}\n", project)
    assert err.field == "role"
    assert "role '${NO_SUCH_ROLE}' not found" in err.problem


def test_env_defaults_to_os_environ(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_ROLE", "memcached")
    (w,) = parse_watches(HEAD + "  role: ${MY_ROLE}\n", path="w.yaml", cwd=str(project))
    assert w.role == str(project / "roles" / "memcached")


# --- GVK fields ---


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("- kind: K\n  role: memcached\n", "version", "is required"),
        ("- version: ''\n  kind: K\n  role: memcached\n", "version", "is required"),
        ("- version: 1\n  kind: K\n  role: memcached\n", "version", "is required"),
        ("- version: V1\n  kind: K\n  role: memcached\n", "version", "invalid version 'V1'"),
        ("- version: v1\n  role: memcached\n", "kind", "is required"),
        ("- version: v1\n  kind: 9Lives\n  role: memcached\n", "kind", "invalid kind '9Lives'"),
        ("- version: v1\n  kind: My-Kind\n  role: memcached\n", "kind", "invalid kind"),
        ("- group: 5\n  version: v1\n  kind: K\n  role: memcached\n", "group", "must be a string"),
        (
            "- group: Cache.Example\n  version: v1\n  kind: K\n  role: memcached\n",
            "group",
            "invalid API group",
        ),
    ],
)
def test_gvk_errors(project: Path, text: str, field: str, message: str) -> None:
    err = error(text, project)
    assert err.index == 0
    assert err.field == field
    assert message in err.problem


def test_duplicate_gvk(project: Path) -> None:
    text = HEAD + "  role: memcached\n" + HEAD.replace("Memcached", "Other") + "  role: memcached\n"
    text += HEAD + "  playbook: playbooks/memcached.yml\n"
    err = error(text, project)
    assert err.index == 2
    assert str(err) == (
        "watches.yaml: entry 3 (Memcached.v1alpha1.cache.example.com): duplicate watch: "
        "Memcached.v1alpha1.cache.example.com is already watched by entry 1"
    )


def test_same_kind_other_version_is_not_a_duplicate(project: Path) -> None:
    text = HEAD + "  role: memcached\n" + HEAD.replace("v1alpha1", "v1beta1") + "  role: memcached\n"
    assert len(parse(text, project)) == 2


# --- unknown fields ---


def test_unknown_field_suggests_the_right_one(project: Path) -> None:
    err = entry_error("  role: memcached\n  reconcilePeriode: 5m\n", project)
    assert err.field == "reconcilePeriode"
    assert "unknown field (did you mean 'reconcilePeriod'?)" in err.problem
    assert "valid fields of a watch are: group, version, kind, role, playbook" in err.problem


def test_unknown_field_without_suggestion(project: Path) -> None:
    err = entry_error("  role: memcached\n  zzz: 1\n", project)
    assert err.problem.startswith("unknown field; valid fields")


def test_unknown_field_reported_before_missing_kind(project: Path) -> None:
    err = error("- version: v1\n  kidn: Foo\n  role: memcached\n", project)
    assert err.field == "kidn"
    assert "did you mean 'kind'" in err.problem


# --- role and playbook ---


def make_role(base: Path, *parts: str) -> Path:
    path = base.joinpath(*parts)
    (path / "tasks").mkdir(parents=True)
    return path


def test_role_from_roles_path_env(project: Path, tmp_path: Path) -> None:
    direct = make_role(tmp_path, "rp1", "memcached")
    nested = make_role(tmp_path, "rp2", "roles", "other")
    env = {"ANSIBLE_ROLES_PATH": f"{tmp_path / 'missing'}::{tmp_path / 'rp1'}:{tmp_path / 'rp2'}"}
    assert parse_one("  role: memcached\n", project, **env).role == str(direct)  # beats cwd/roles
    assert parse_one("  role: other\n", project, **env).role == str(nested)


def test_role_in_cwd_roles_and_relative_path(project: Path) -> None:
    assert parse_one("  role: memcached\n", project).role == str(project / "roles" / "memcached")
    assert parse_one("  role: roles/memcached\n", project).role == str(project / "roles" / "memcached")
    assert parse_one("  role: ./roles/memcached/\n", project).role == str(project / "roles" / "memcached")


def test_role_absolute(project: Path, tmp_path: Path) -> None:
    elsewhere = make_role(tmp_path, "elsewhere", "myrole")
    assert parse_one(f"  role: {elsewhere}\n", project).role == str(elsewhere)
    err = entry_error(f"  role: {tmp_path / 'nope'}\n", project)
    assert err.problem == f"role '{tmp_path / 'nope'}' not found; looked in: {tmp_path / 'nope'}"


def test_role_fqcn_in_collections_path(project: Path, tmp_path: Path) -> None:
    make_role(tmp_path, "colls", "ansible_collections", "acme", "tools", "roles", "deploy")
    for var in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS"):
        env = {var: f"{tmp_path / 'missing'}:{tmp_path / 'colls'}"}
        assert parse_one("  role: acme.tools.deploy\n", project, **env).role == "acme.tools.deploy"
    # an entry that already ends in ansible_collections works too
    env = {"ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "colls" / "ansible_collections")}
    assert parse_one("  role: acme.tools.deploy\n", project, **env).role == "acme.tools.deploy"


def test_role_fqcn_in_home_default(project: Path) -> None:
    make_role(
        project, "home", ".ansible", "collections", "ansible_collections", "acme", "tools", "roles", "x"
    )
    assert parse_one("  role: acme.tools.x\n", project).role == "acme.tools.x"


def test_role_fqcn_in_python_path(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_role(tmp_path, "site", "ansible_collections", "pip", "installed", "roles", "r")
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path / "site")])
    assert parse_one("  role: pip.installed.r\n", project).role == "pip.installed.r"


def test_role_dotted_name_falls_back_to_directories(project: Path) -> None:
    make_role(project, "roles", "my.dotted.role")
    assert parse_one("  role: my.dotted.role\n", project).role == str(project / "roles" / "my.dotted.role")


def test_role_not_found_lists_where_it_looked(project: Path, tmp_path: Path) -> None:
    env = {"ANSIBLE_ROLES_PATH": str(tmp_path / "rp"), "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "c")}
    err = entry_error("  role: acme.tools.nope\n", project, **env)
    assert err.field == "role"
    assert err.problem.startswith("role 'acme.tools.nope' not found; looked in: ")
    for place in (
        tmp_path / "c" / "ansible_collections" / "acme" / "tools" / "roles" / "nope",
        tmp_path / "rp" / "acme.tools.nope",
        tmp_path / "rp" / "roles" / "acme.tools.nope",
        project / "roles" / "acme.tools.nope",
        project / "acme.tools.nope",
    ):
        assert str(place) in err.problem


def test_role_must_be_a_directory(project: Path) -> None:
    (project / "roles" / "afile").write_text("")
    assert entry_error("  role: afile\n", project).field == "role"


def test_playbook(project: Path, tmp_path: Path) -> None:
    assert parse_one("  playbook: playbooks/memcached.yml\n", project).playbook == str(
        project / "playbooks" / "memcached.yml"
    )
    absolute = tmp_path / "abs.yml"
    absolute.write_text("[]\n")
    assert parse_one(f"  playbook: {absolute}\n", project).playbook == str(absolute)
    err = entry_error("  playbook: playbooks/nope.yml\n", project)
    assert err.field == "playbook"
    assert f"playbook 'playbooks/nope.yml' not found (looked for {project / 'playbooks' / 'nope.yml'})" == (
        err.problem
    )
    assert entry_error("  playbook: playbooks\n", project).field == "playbook"  # a directory


def test_playbook_wins_over_role(project: Path) -> None:
    w = parse_one("  role: does-not-exist\n  playbook: playbooks/memcached.yml\n", project)
    assert w.playbook == str(project / "playbooks" / "memcached.yml")
    assert w.role is None


@pytest.mark.parametrize("extra", ["", "  role: ''\n", "  role:\n  playbook: ''\n"])
def test_role_or_playbook_required(project: Path, extra: str) -> None:
    err = entry_error(extra, project)
    assert err.field is None
    assert err.problem == "either 'role' or 'playbook' is required"


@pytest.mark.parametrize("extra", ["  role: [a]\n", "  playbook: 5\n"])
def test_role_and_playbook_must_be_strings(project: Path, extra: str) -> None:
    assert "must be a string" in entry_error(extra, project).problem


# --- scalar fields ---


def test_vars(project: Path) -> None:
    w = parse_one("  role: memcached\n  vars:\n    when: 2024-01-01\n    nested: {a: [1, 2]}\n", project)
    assert w.vars == {"when": "2024-01-01", "nested": {"a": [1, 2]}}  # dates stay strings
    err = entry_error("  role: memcached\n  vars: [a]\n", project)
    assert (err.field, err.problem) == ("vars", "must be a mapping of variable names to values, got a list")
    assert (
        "variable names must be strings"
        in entry_error("  role: memcached\n  vars: {1: a}\n", project).problem
    )


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("5", 5), ("100", 100)])
def test_max_runner_artifacts(project: Path, value: str, expected: int) -> None:
    assert (
        parse_one(f"  role: memcached\n  maxRunnerArtifacts: {value}\n", project).max_runner_artifacts
        == expected
    )


@pytest.mark.parametrize("value", ["-1", "'5'", "true", "1.5", "[1]"])
def test_max_runner_artifacts_invalid(project: Path, value: str) -> None:
    err = entry_error(f"  role: memcached\n  maxRunnerArtifacts: {value}\n", project)
    assert err.field == "maxRunnerArtifacts"
    assert "must be a whole number >= 0" in err.problem


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1m30s", 90.0), ("10h", 36000.0), ("30", 30.0), ("'45'", 45.0), ("0", None), ("0s", None), ("", None)],
)
def test_reconcile_period(project: Path, value: str, expected: float | None) -> None:
    assert parse_one(f"  role: memcached\n  reconcilePeriod: {value}\n", project).reconcile_period == expected


@pytest.mark.parametrize(
    ("value", "message"), [("abc", "invalid duration 'abc'"), ("-5m", "must not be negative")]
)
def test_reconcile_period_invalid(project: Path, value: str, message: str) -> None:
    err = entry_error(f"  role: memcached\n  reconcilePeriod: {value}\n", project)
    assert err.field == "reconcilePeriod"
    assert message in err.problem


BOOLS = {
    "manageStatus": "manage_status",
    "watchDependentResources": "watch_dependent_resources",
    "watchClusterScopedResources": "watch_cluster_scoped_resources",
    "snakeCaseParameters": "snake_case_parameters",
    "watchAnnotationsChanges": "watch_annotations_changes",
    "markUnsafe": "mark_unsafe",
}


@pytest.mark.parametrize("name", BOOLS)
@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("false", False), ("True", True), ("no", False)]
)
def test_booleans(project: Path, name: str, value: str, expected: bool) -> None:
    w = parse_one(f"  role: memcached\n  {name}: {value}\n", project)
    assert getattr(w, BOOLS[name]) is expected


@pytest.mark.parametrize("name", BOOLS)
@pytest.mark.parametrize("value", ["'true'", '"yes"', "1", "[true]"])
def test_booleans_must_be_real_booleans(project: Path, name: str, value: str) -> None:
    err = entry_error(f"  role: memcached\n  {name}: {value}\n", project)
    assert err.field == name
    assert err.problem.startswith("must be true or false, got ")
    if value.startswith(("'", '"')):
        assert err.problem.endswith("(write true or false without quotes)")


# --- selector, blacklist ---


def test_selector_error_names_the_sub_field(project: Path) -> None:
    extra = (
        "  role: memcached\n  selector:\n    matchExpressions:\n      - {key: a, operator: in, values: [x]}\n"
    )
    err = entry_error(extra, project)
    assert err.field == "selector.matchExpressions[0].operator"
    assert "invalid operator 'in'" in err.problem
    err = entry_error("  role: memcached\n  selector: app=x\n", project)
    assert err.field == "selector"
    err = entry_error("  role: memcached\n  selector: {matchLabel: {a: b}}\n", project)
    assert err.field == "selector.matchLabel"


@pytest.mark.parametrize(
    ("blacklist", "field", "message"),
    [
        ("{group: apps}", "blacklist", "must be a list"),
        ("[Deployment]", "blacklist[0]", "must be a mapping"),
        ("[{version: v1, kind: A}, {version: v1}]", "blacklist[1].kind", "is required"),
        ("[{kind: A}]", "blacklist[0].version", "is required"),
        ("[{version: v1, kind: A, knd: B}]", "blacklist[0].knd", "unknown field (did you mean 'kind'?)"),
    ],
)
def test_blacklist_errors(project: Path, blacklist: str, field: str, message: str) -> None:
    err = entry_error(f"  role: memcached\n  blacklist: {blacklist}\n", project)
    assert err.field == field
    assert message in err.problem
    assert f"field '{field}'" in str(err)


# --- finalizer ---


def test_finalizer_with_role_and_playbook(project: Path) -> None:
    make_role(project, "roles", "cleanup")
    w = parse_one("  role: memcached\n  finalizer:\n    name: a.io/f\n    role: cleanup\n", project)
    assert w.finalizer == Finalizer("a.io/f", str(project / "roles" / "cleanup"), None, {})
    w = parse_one(
        "  role: memcached\n  finalizer:\n    name: a.io/f\n    playbook: playbooks/memcached.yml\n"
        "    vars: {x: 1}\n",
        project,
    )
    assert w.finalizer == Finalizer("a.io/f", None, str(project / "playbooks" / "memcached.yml"), {"x": 1})


@pytest.mark.parametrize(
    ("finalizer", "field", "message"),
    [
        ("a.io/f", "finalizer", "must be a mapping"),
        ("{role: memcached}", "finalizer.name", "is required"),
        ("{name: '', role: memcached}", "finalizer.name", "is required"),
        ("{name: 'a b', role: memcached}", "finalizer.name", "must not contain whitespace"),
        ("{name: a.io/f}", "finalizer", "needs a role, playbook or vars"),
        ("{name: a.io/f, role: nope}", "finalizer.role", "role 'nope' not found"),
        ("{name: a.io/f, playbook: nope.yml}", "finalizer.playbook", "playbook 'nope.yml' not found"),
        ("{name: a.io/f, vars: [1]}", "finalizer.vars", "must be a mapping"),
        ("{name: a.io/f, vars: {}, roles: x}", "finalizer.roles", "unknown field (did you mean 'role'?)"),
    ],
)
def test_finalizer_errors(project: Path, finalizer: str, field: str, message: str) -> None:
    err = entry_error(f"  role: memcached\n  finalizer: {finalizer}\n", project)
    assert err.field == field
    assert message in err.problem


def test_error_is_an_exception_with_attributes() -> None:
    err = WatchesError("w.yaml", "bad", index=0, gvk=None, field="kind")
    assert str(err) == "w.yaml: entry 1: field 'kind': bad"
    assert isinstance(err, Exception)
    assert WatchesError("w.yaml", "bad").line is None


def test_os_pathlike_and_relative_cwd(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project.parent)
    (w,) = parse_watches(HEAD + "  role: memcached\n", path="w", environ={}, cwd=os.path.basename(project))
    assert w.role == str(project / "roles" / "memcached")
