"""plan_job: what one reconcile runs, from the watch, the flags and the CR's annotations."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from runner.cli.main import build_config, parser
from runner.config.settings import Config
from runner.config.watches import GVK, Finalizer, Watch
from runner.jobs.plan import (
    ARTIFACTS_ANNOTATION,
    PERIOD_ANNOTATION,
    VERBOSITY_ANNOTATION,
    SpecError,
    job_env,
    plan_job,
)

GVK_ = GVK("cache.example.com", "v1alpha1", "Memcached")
ROLE = "/opt/roles/memcached"
PLAYBOOK = "/opt/playbooks/memcached.yml"
LOG = logging.LoggerAdapter(logging.getLogger("test.plan"), {})


def cfg(*flags: str, **environ: str) -> Config:
    return build_config(parser().parse_args(["run", *flags]), environ)


def watch(**kw: Any) -> Watch:
    opts: dict[str, Any] = {"index": 0, "gvk": GVK_, "role": ROLE, "playbook": None, "vars": {}}
    opts.update(kw)
    return Watch(**opts)


def cr(
    spec: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "mc", "namespace": "ns1", "uid": "u1", "generation": 1}
    if annotations is not None:
        meta["annotations"] = annotations
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        meta["finalizers"] = ["cache.example.com/finalizer"]
    return {
        "apiVersion": "cache.example.com/v1alpha1",
        "kind": "Memcached",
        "metadata": meta,
        "spec": {"size": 1} if spec is None else spec,
    }


def plan(obj: dict[str, Any], w: Watch | None = None, config: Config | None = None) -> Any:
    return plan_job(obj, w or watch(), config or cfg(), LOG)


# --- what runs ---


def test_role_watch() -> None:
    p = plan(cr(spec={"size": 3, "maxMemory": "64m"}))
    assert p.finalizing is False
    assert (p.target, p.is_role) == (ROLE, True)
    assert p.extravars["size"] == 3
    assert p.extravars["max_memory"] == {"__ansible_unsafe": "64m"}  # snake_case + unsafe
    assert p.extravars["ansible_operator_meta"] == {"name": "mc", "namespace": "ns1"}
    assert "_cache_example_com_memcached" in p.extravars


def test_playbook_watch() -> None:
    p = plan(cr(), watch(role=None, playbook=PLAYBOOK))
    assert (p.target, p.is_role) == (PLAYBOOK, False)


def test_watch_vars_are_passed() -> None:
    p = plan(cr(), watch(vars={"state": "present"}))
    assert p.extravars["state"] == "present"


# --- reconcile period ---


def test_resync_defaults_to_the_flag() -> None:
    assert plan(cr()).resync_after == 36000.0
    assert plan(cr(), config=cfg("--reconcile-period=5m")).resync_after == 300.0


def test_watch_reconcile_period_overrides_the_flag() -> None:
    assert plan(cr(), watch(reconcile_period=60.0), cfg("--reconcile-period=5m")).resync_after == 60.0


@pytest.mark.parametrize(("value", "seconds"), [("90s", 90.0), ("1h30m", 5400.0), ("30", 30.0), ("0s", 0.0)])
def test_reconcile_period_annotation_overrides_watch_and_flag(value: str, seconds: float) -> None:
    obj = cr(annotations={PERIOD_ANNOTATION: value})
    p = plan(obj, watch(reconcile_period=60.0), cfg("--reconcile-period=5m"))
    assert p.resync_after == seconds


@pytest.mark.parametrize("value", ["soon", "-5m", "2d", ""])
def test_invalid_reconcile_period_annotation_is_refused(value: str) -> None:
    with pytest.raises(SpecError) as info:
        plan(cr(annotations={PERIOD_ANNOTATION: value}))
    assert str(info.value).startswith("Unable to parse reconcile period annotation")
    assert info.value.reason == "Failed"
    assert info.value.retry is True


def test_old_annotation_prefix_is_not_honoured() -> None:
    p = plan(cr(annotations={"ansible.operator-sdk/reconcile-period": "5s"}))
    assert p.resync_after == 36000.0


def test_deletion_runs_have_no_resync() -> None:
    fin = Finalizer("cache.example.com/finalizer", None, None, {"state": "absent"})
    obj = cr(annotations={PERIOD_ANNOTATION: "5m"}, deleting=True)
    assert plan(obj, watch(finalizer=fin, reconcile_period=60.0)).resync_after is None


# --- artifacts and verbosity ---


def test_max_runner_artifacts() -> None:
    assert plan(cr()).artifacts == 20
    assert plan(cr(), watch(max_runner_artifacts=3)).artifacts == 3
    assert plan(cr(annotations={ARTIFACTS_ANNOTATION: "7"}), watch(max_runner_artifacts=3)).artifacts == 7
    assert plan(cr(annotations={ARTIFACTS_ANNOTATION: "0"})).artifacts == 0  # 0 keeps all
    assert plan(cr(annotations={ARTIFACTS_ANNOTATION: "-4"})).artifacts == 0


@pytest.mark.parametrize("value", ["many", "", "1.5"])
def test_invalid_max_runner_artifacts_annotation_is_ignored(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="test.plan"):
        p = plan(cr(annotations={ARTIFACTS_ANNOTATION: value}), watch(max_runner_artifacts=3))
    assert p.artifacts == 3
    assert any(ARTIFACTS_ANNOTATION in r.getMessage() for r in caplog.records)


def test_verbosity() -> None:
    assert plan(cr()).verbosity == 2
    assert plan(cr(), config=cfg("--ansible-verbosity=4")).verbosity == 4
    env = {"ANSIBLE_VERBOSITY_MEMCACHED_CACHE_EXAMPLE_COM": "6"}
    assert plan(cr(), config=cfg("--ansible-verbosity=4", **env)).verbosity == 6
    assert plan(cr(annotations={VERBOSITY_ANNOTATION: "1"}), config=cfg(**env)).verbosity == 1
    assert plan(cr(annotations={VERBOSITY_ANNOTATION: "12"})).verbosity == 7
    assert plan(cr(annotations={VERBOSITY_ANNOTATION: "-1"})).verbosity == 0


@pytest.mark.parametrize("value", ["loud", "", "2.0"])
def test_invalid_verbosity_annotation_is_ignored(value: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="test.plan"):
        p = plan(cr(annotations={VERBOSITY_ANNOTATION: value}), config=cfg("--ansible-verbosity=3"))
    assert p.verbosity == 3
    assert any(VERBOSITY_ANNOTATION in r.getMessage() for r in caplog.records)


# --- finalizers ---

FIN_NAME = "cache.example.com/finalizer"


def test_finalizer_role() -> None:
    fin = Finalizer(FIN_NAME, "/opt/roles/cleanup", None, {"cleanup": True})
    p = plan(cr(deleting=True), watch(finalizer=fin, vars={"state": "present"}))
    assert p.finalizing is True
    assert (p.target, p.is_role) == ("/opt/roles/cleanup", True)
    assert p.extravars["cleanup"] is True
    assert p.extravars["state"] == "present"


def test_finalizer_playbook() -> None:
    fin = Finalizer(FIN_NAME, None, "/opt/playbooks/cleanup.yml", {})
    p = plan(cr(deleting=True), watch(finalizer=fin))
    assert (p.target, p.is_role) == ("/opt/playbooks/cleanup.yml", False)
    assert p.finalizing is True


@pytest.mark.parametrize(
    ("role", "playbook", "target", "is_role"),
    [(ROLE, None, ROLE, True), (None, PLAYBOOK, PLAYBOOK, False)],
)
def test_finalizer_with_only_vars_runs_the_main_target(
    role: str | None, playbook: str | None, target: str, is_role: bool
) -> None:
    fin = Finalizer(FIN_NAME, None, None, {"state": "absent"})
    w = watch(role=role, playbook=playbook, finalizer=fin, vars={"state": "present", "keep": 1})
    p = plan(cr(deleting=True), w)
    assert (p.target, p.is_role) == (target, is_role)
    assert p.finalizing is True
    assert p.extravars["state"] == "absent"  # finalizer vars win over the watch's
    assert p.extravars["keep"] == 1


def test_normal_run_gets_no_finalizer_vars_and_runs_the_main_target() -> None:
    fin = Finalizer(FIN_NAME, "/opt/roles/cleanup", None, {"state": "absent"})
    p = plan(cr(), watch(finalizer=fin, vars={"state": "present"}))
    assert p.finalizing is False
    assert (p.target, p.is_role) == (ROLE, True)
    assert p.extravars["state"] == "present"
    assert p.resync_after == 36000.0


# --- refused specs ---


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"ansible_python_interpreter": "/bin/sh"}, "ansible_python_interpreter"),
        ({"ansibleShellExecutable": "/bin/sh"}, "ansibleShellExecutable"),
        ({"size": 1, "ansible_operator_meta": {"name": "x"}}, "ansible_operator_meta"),
        ({"hostvars": {}}, "hostvars"),
        ({"state": "absent"}, "state"),  # pinned by the watch's vars
    ],
)
def test_reserved_spec_key_is_refused(spec: dict[str, Any], key: str) -> None:
    with pytest.raises(SpecError) as info:
        plan(cr(spec=spec), watch(vars={"state": "present"}))
    assert info.value.reason == "InvalidSpec"
    assert info.value.retry is False
    assert repr(key) in str(info.value)
    assert "Nothing was run" in str(info.value)


def test_spec_key_pinned_by_finalizer_vars_is_refused_before_deletion() -> None:
    fin = Finalizer(FIN_NAME, None, None, {"cleanup_mode": "full"})
    for obj in (cr(spec={"cleanupMode": "none"}), cr(spec={"cleanupMode": "none"}, deleting=True)):
        with pytest.raises(SpecError) as info:
            plan(obj, watch(finalizer=fin))
        assert info.value.reason == "InvalidSpec"
        assert "'cleanupMode'" in str(info.value)


def test_reserved_key_check_follows_snake_case_setting() -> None:
    # Without snake_case the spec key is the variable name as written.
    with pytest.raises(SpecError):
        plan(cr(spec={"ansible_host": "x"}), watch(snake_case_parameters=False))
    p = plan(cr(spec={"stateName": "x"}), watch(snake_case_parameters=False, vars={"state_name": "y"}))
    assert p.extravars["stateName"] == {"__ansible_unsafe": "x"}


def test_the_bundled_collection_is_where_jobs_are_told_to_look() -> None:
    from runner.jobs.plan import BUNDLED_COLLECTIONS

    assert (BUNDLED_COLLECTIONS / "ansible_collections" / "operator_sdk" / "util" / "galaxy.yml").is_file()


def test_relative_ansible_config_names_the_operators_directorys_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert job_env(cfg(ANSIBLE_CONFIG="ansible.cfg"))["ANSIBLE_CONFIG"] == str(tmp_path / "ansible.cfg")
    assert job_env(cfg(ANSIBLE_CONFIG="conf/ops.cfg"))["ANSIBLE_CONFIG"] == str(tmp_path / "conf" / "ops.cfg")


@pytest.mark.parametrize("value", ["/opt/ansible/ansible.cfg", "~/ansible.cfg"])
def test_absolute_ansible_config_is_left_as_it_is(value: str) -> None:
    assert "ANSIBLE_CONFIG" not in job_env(cfg(ANSIBLE_CONFIG=value))  # the operator's own is passed on
    assert "ANSIBLE_CONFIG" not in job_env(cfg())
