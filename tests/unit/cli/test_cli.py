"""The ``ansible-operator`` command line and the Config it builds (flags and environment)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import __version__
from runner.cli.main import build_config, main, parser
from runner.config.settings import Config, default_runner_dir, parse_namespaces


def config(*flags: str, **environ: str) -> Config:
    return build_config(parser().parse_args(["run", *flags]), environ)


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        parser().parse_args(list(argv))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: ansible-operator" in err
    assert "Traceback" not in err
    return err


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``run`` configures the root logger; put it back for the other tests."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    levels = {name: logging.getLogger(name).level for name in ("kopf", "kubernetes", "urllib3")}
    yield
    root.handlers[:], level = saved
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


# --- version ---


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    out = capsys.readouterr().out
    assert out == f"ansible-operator-runner {__version__}\n"


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(capsys)
    assert "COMMAND" in err or "required" in err


# --- defaults ---


def test_defaults_match_the_go_operator() -> None:
    cfg = config(TMPDIR="/scratch")
    assert cfg.watches_file == Path("./watches.yaml")
    assert cfg.reconcile_period == 36000.0  # 10h
    assert cfg.ansible_verbosity == 2
    assert cfg.inject_owner_ref is True
    assert cfg.ansible_args == ""
    assert cfg.max_concurrent_reconciles == (os.cpu_count() or 1)
    assert cfg.max_concurrent_jobs == max(2 * (os.cpu_count() or 1), cfg.max_concurrent_reconciles)
    assert cfg.namespaces == ()
    assert cfg.kubeconfig is None
    assert cfg.log_events == "tasks"
    assert cfg.job_timeout == 3600.0
    assert cfg.health_probe_bind_address == ":6789"
    assert cfg.metrics_bind_address == ":8080"
    assert cfg.runner_dir == Path("/scratch") / f"ansible-operator-runner-{os.getuid()}"
    assert cfg.environ == {"TMPDIR": "/scratch"}


def test_global_job_limit_is_at_least_the_per_kind_limit() -> None:
    cfg = config("--max-concurrent-reconciles=1000")
    assert cfg.max_concurrent_reconciles == 1000
    assert cfg.max_concurrent_jobs == 1000
    cfg = config("--max-concurrent-reconciles", "3", "--max-concurrent-jobs", "7")
    assert (cfg.max_concurrent_reconciles, cfg.max_concurrent_jobs) == (3, 7)


# --- flags ---


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--inject-owner-ref=false"], False),
        (["--inject-owner-ref=False"], False),
        (["--inject-owner-ref=0"], False),
        (["--inject-owner-ref", "false"], False),
        (["--inject-owner-ref"], True),
        (["--inject-owner-ref=true"], True),
        (["--inject-owner-ref=1"], True),
        ([], True),
    ],
)
def test_inject_owner_ref(flags: list[str], expected: bool) -> None:
    assert config(*flags).inject_owner_ref is expected


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1m30s", 90.0), ("10h", 36000.0), ("500ms", 0.5), ("0", 0.0), ("45", 45.0)],
)
def test_reconcile_period(value: str, seconds: float) -> None:
    assert config(f"--reconcile-period={value}").reconcile_period == seconds


def test_job_timeout() -> None:
    assert config("--job-timeout", "2m").job_timeout == 120.0


def test_warm_worker_idle_timeout() -> None:
    assert config().warm_idle_timeout == 60.0
    assert config("--warm-worker-idle-timeout=5m").warm_idle_timeout == 300.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("'--foo bar'", "--foo bar"),
        ("--vault-password-file /etc/vault", "--vault-password-file /etc/vault"),
        ("  '--check'  ", "--check"),
        ("", ""),
    ],
)
def test_ansible_args_strips_surrounding_quotes(value: str, expected: str) -> None:
    assert config("--ansible-args", value).ansible_args == expected
    assert config(f"--ansible-args={value}").ansible_args == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("--extra-vars 'a=b'", "--extra-vars 'a=b'"),
        ("'--extra-vars 'a=b''", "--extra-vars 'a=b'"),
    ],
)
def test_ansible_args_keeps_inner_quotes(value: str, expected: str) -> None:
    assert config("--ansible-args", value).ansible_args == expected


def test_metrics_addr_is_an_alias() -> None:
    assert config("--metrics-addr=:9090").metrics_bind_address == ":9090"
    assert config("--metrics-bind-address", "0").metrics_bind_address == "0"


def test_other_flags() -> None:
    cfg = config(
        "--watches-file=/opt/watches.yaml",
        "--ansible-verbosity=0",
        "--ansible-log-events=Everything",
        "--ansible-roles-path=/roles:/more",
        "--ansible-collections-path=/colls",
        "--health-probe-bind-address=:1234",
        "--runner-dir=/var/run/jobs",
        "--kubeconfig=/etc/kube.conf",
    )
    assert cfg.watches_file == Path("/opt/watches.yaml")
    assert cfg.ansible_verbosity == 0
    assert cfg.log_events == "everything"
    assert cfg.roles_path == "/roles:/more"
    assert cfg.collections_path == "/colls"
    assert cfg.health_probe_bind_address == ":1234"
    assert cfg.runner_dir == Path("/var/run/jobs")
    assert cfg.kubeconfig == "/etc/kube.conf"


def test_log_events_are_case_insensitive() -> None:
    assert config("--ansible-log-events=NOTHING").log_events == "nothing"
    assert config("--ansible-log-events", "Tasks").log_events == "tasks"


def test_kubeconfig_from_environment_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert config(KUBECONFIG="kc").kubeconfig == str(tmp_path / "kc")
    assert config("--kubeconfig=/flag/wins", KUBECONFIG="/env").kubeconfig == "/flag/wins"
    assert config(KUBECONFIG="").kubeconfig is None


def test_runner_dir_from_environment() -> None:
    assert config(ANSIBLE_OPERATOR_RUNNER_DIR="/jobs").runner_dir == Path("/jobs")
    assert config("--runner-dir=/flag", ANSIBLE_OPERATOR_RUNNER_DIR="/jobs").runner_dir == Path("/flag")
    assert default_runner_dir({}) == Path("/tmp") / f"ansible-operator-runner-{os.getuid()}"


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        (["run", "--inject-owner-ref=maybe"], "--inject-owner-ref"),
        (["run", "--reconcile-period=soon"], "--reconcile-period"),
        (["run", "--reconcile-period=-5m"], "--reconcile-period"),
        (["run", "--job-timeout=2d"], "--job-timeout"),
        (["run", "--warm-worker-idle-timeout=0"], "--warm-worker-idle-timeout"),
        (["run", "--max-concurrent-reconciles=0"], "--max-concurrent-reconciles"),
        (["run", "--max-concurrent-reconciles=many"], "--max-concurrent-reconciles"),
        (["run", "--max-concurrent-jobs=-1"], "--max-concurrent-jobs"),
        (["run", "--ansible-verbosity=8"], "--ansible-verbosity"),
        (["run", "--ansible-verbosity=high"], "--ansible-verbosity"),
        (["run", "--ansible-log-events=loud"], "--ansible-log-events"),
        (["run", "--log-format=xml"], "--log-format"),
        (["run", "--no-such-flag"], "--no-such-flag"),
        (["run", "--watches-file="], "--watches-file: the path is empty"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_invalid_flags_exit_2_with_usage(
    capsys: pytest.CaptureFixture[str], argv: list[str], mentions: str
) -> None:
    err = usage_error(capsys, *argv)
    assert "error:" in err
    assert mentions in err


def test_invalid_flag_through_main(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--reconcile-period=soon"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid duration 'soon'" in err
    assert "Traceback" not in err


# --- environment ---


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a, b", ("a", "b")),
        ("ns1", ("ns1",)),
        ("a,,b,", ("a", "b")),
        ("", ()),
        (" ", ()),
        (None, ()),
    ],
)
def test_watch_namespace(value: str | None, expected: tuple[str, ...]) -> None:
    assert parse_namespaces(value) == expected
    env = {} if value is None else {"WATCH_NAMESPACE": value}
    assert config(**env).namespaces == expected


SUFFIX = "MEMCACHED_CACHE_EXAMPLE_COM"


def test_verbosity_for_kind() -> None:
    cfg = config("--ansible-verbosity=3", **{f"ANSIBLE_VERBOSITY_{SUFFIX}": "5"})
    assert cfg.verbosity_for(SUFFIX) == 5
    assert cfg.verbosity_for("OTHER_EXAMPLE_COM") == 3


@pytest.mark.parametrize(("raw", "expected"), [("9", 7), ("-1", 0), ("lots", 3), ("", 3), ("0", 0)])
def test_verbosity_for_kind_is_clamped_or_ignored(raw: str, expected: int) -> None:
    cfg = config("--ansible-verbosity=3", **{f"ANSIBLE_VERBOSITY_{SUFFIX}": raw})
    assert cfg.verbosity_for(SUFFIX) == expected


def test_workers_for_kind() -> None:
    base = config("--max-concurrent-reconciles=2")
    assert base.workers_for(SUFFIX) == 2
    cfg = config("--max-concurrent-reconciles=2", **{f"MAX_CONCURRENT_RECONCILES_{SUFFIX}": "6"})
    assert cfg.workers_for(SUFFIX) == 6
    assert cfg.workers_for("OTHER_EXAMPLE_COM") == 2
    legacy = config("--max-concurrent-reconciles=2", **{f"WORKER_{SUFFIX}": "4"})
    assert legacy.workers_for(SUFFIX) == 4
    both = config(**{f"MAX_CONCURRENT_RECONCILES_{SUFFIX}": "6", f"WORKER_{SUFFIX}": "4"})
    assert both.workers_for(SUFFIX) == 6


@pytest.mark.parametrize("raw", ["0", "-3", "many", ""])
def test_workers_for_kind_ignores_invalid_values(raw: str) -> None:
    cfg = config("--max-concurrent-reconciles=2", **{f"MAX_CONCURRENT_RECONCILES_{SUFFIX}": raw})
    assert cfg.workers_for(SUFFIX) == 2
    fallback = config(
        "--max-concurrent-reconciles=2",
        **{f"MAX_CONCURRENT_RECONCILES_{SUFFIX}": raw, f"WORKER_{SUFFIX}": "5"},
    )
    assert fallback.workers_for(SUFFIX) == 5


# --- a bad watches file stops the operator before any cluster access ---


def test_bad_watches_file_exits_2_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    (tmp_path / "roles" / "memcached" / "tasks").mkdir(parents=True)
    watches = tmp_path / "watches.yaml"
    watches.write_text(
        "- group: cache.example.com\n"
        "  version: v1alpha1\n"
        "  kind: Memcached\n"
        "  role: memcached\n"
        "  reconcilePeriod: soon\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANSIBLE_ROLES_PATH", raising=False)

    def no_cluster(*_: object, **__: object) -> None:
        raise AssertionError("tried to reach the cluster")

    monkeypatch.setattr("runner.control.app.serve", no_cluster)
    code = main(["run", "--watches-file", str(watches), "--runner-dir", str(tmp_path / "jobs")])
    assert code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    line = lines[0]
    assert str(watches) in line
    assert "entry 1" in line
    assert "reconcilePeriod" in line
    assert "soon" in line
    assert "Traceback" not in captured.err
    assert not (tmp_path / "jobs").exists()


def test_missing_watches_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["run", f"--watches-file={missing}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"ansible-operator: {missing}: file not found"


# --- --sharding ---


def test_sharding_flags_and_defaults() -> None:
    c = config("--sharding", "--shard-by=namespace", "--shard-lease-duration=5s", POD_NAME="op-abc")
    assert (c.sharding, c.shard_identity, c.shard_by, c.shard_lease_duration) == (
        True,
        "op-abc",
        "namespace",
        5,
    )
    assert c.shard_ring == "ansible-operator-runner"
    assert config(OPERATOR_NAME="memcached-operator").shard_ring == "memcached-operator"
    assert config(ANSIBLE_OPERATOR_SHARDING="true").sharding
    assert not config().sharding


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--sharding", "--leader-elect"], {}, "--sharding and --leader-elect cannot be used together"),
        (["--sharding"], {}, "--sharding needs --leader-election-namespace"),
        (
            ["--sharding", "--leader-election-namespace=ops", "--shard-identity=Bad_Name"],
            {},
            "--shard-identity",
        ),
        (["--sharding", "--leader-election-namespace=ops", "--shard-ring=a/b"], {}, "--shard-ring 'a/b'"),
        ([], {"ANSIBLE_OPERATOR_SHARDING": "maybe"}, "ANSIBLE_OPERATOR_SHARDING='maybe'"),
    ],
)
def test_bad_sharding_settings_exit_2_with_one_line(
    argv: list[str],
    environ: dict[str, str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("POD_NAME", raising=False)
    watches = tmp_path / "watches.yaml"
    watches.write_text("- {version: v1, group: x.example.com, kind: X, role: r}\n")
    (tmp_path / "r").mkdir()
    assert main(["run", f"--watches-file={watches}", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ansible-operator: ") and message in err, err
    assert "Traceback" not in err and len(err.splitlines()) == 1
