"""Per-CR job directories: layout, private modes, inventory, role playbook and clean-up."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from runner.jobs import jobdir
from runner.jobs.jobdir import GENERATED_INVENTORY, ensure_base, job_dir, prepare, remove, role_playbook


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    b = tmp_path / "runner"
    ensure_base(b)
    return b


def cr_dir(base: Path, name: str = "mc", namespace: str | None = "ns1", kind: str = "Memcached") -> Path:
    return job_dir(base, "cache.example.com", "v1alpha1", kind, namespace, name)


def write(path: Path, base: Path, **kw: object) -> Path:
    opts: dict[str, object] = {"extravars": {"size": 1}, "inventory_source": None, "role_playbook": None}
    opts.update(kw)
    return prepare(path, base, **opts)  # type: ignore[arg-type]


# --- layout ---


def test_layout(tmp_path: Path) -> None:
    base = tmp_path / "b"
    assert job_dir(base, "cache.example.com", "v1alpha1", "Memcached", "ns1", "mc") == (
        base / "cache.example.com" / "v1alpha1" / "Memcached" / "ns1" / "mc"
    )
    # Core group and cluster-scoped resources get placeholders instead of empty components.
    assert job_dir(base, "", "v1", "Secret", "ns1", "s") == base / "core" / "v1" / "Secret" / "ns1" / "s"
    assert (
        job_dir(base, "x.io", "v1", "Cluster", None, "c")
        == base / "x.io" / "v1" / "Cluster" / "_cluster" / "c"
    )
    assert (
        job_dir(base, "x.io", "v1", "Cluster", "", "c") == base / "x.io" / "v1" / "Cluster" / "_cluster" / "c"
    )


@pytest.mark.parametrize(
    ("namespace", "name"),
    [("..", ".."), ("ns", "../../../../etc"), (".", "."), ("ns", ""), ("a/../..", "x\x00y"), ("ns", "/abs")],
)
def test_path_components_cannot_escape(tmp_path: Path, namespace: str, name: str) -> None:
    base = tmp_path / "b"
    ensure_base(base)
    path = job_dir(base, "g.io", "v1", "K", namespace, name)
    assert len(path.relative_to(base).parts) == 5
    assert os.path.realpath(path).startswith(os.path.realpath(base) + os.sep)
    for part in path.relative_to(base).parts:
        assert part not in ("", ".", "..")
        assert "/" not in part and "\x00" not in part
    write(path, base)
    assert (path / "env" / "extravars").is_file()
    assert not (tmp_path / "etc").exists()


def test_distinct_crs_get_distinct_directories(tmp_path: Path) -> None:
    dirs = {
        cr_dir(tmp_path, "a"),
        cr_dir(tmp_path, "b"),
        cr_dir(tmp_path, "a", namespace="ns2"),
        cr_dir(tmp_path, "a", kind="Other"),
        cr_dir(tmp_path, "a", namespace=None),
    }
    assert len(dirs) == 5


# --- private modes ---


def test_ensure_base_is_private(tmp_path: Path, umask: int) -> None:
    b = tmp_path / "x" / "runner"
    ensure_base(b)
    assert mode(b) == 0o700
    b.chmod(0o755)
    ensure_base(b)  # existing base is tightened
    assert mode(b) == 0o700


def test_every_created_directory_is_0700_and_inputs_0600(base: Path, umask: int) -> None:
    path = cr_dir(base)
    write(path, base, extravars={"secret": "s3cr3t"}, role_playbook=role_playbook("memcached"))
    created = [path, *path.relative_to(base).parents]
    for rel in created:
        d = base / rel
        if d != base:
            assert mode(d) == 0o700, d
    for sub in ("env", "inventory", "project"):
        assert mode(path / sub) == 0o700, sub
    assert mode(path / "env" / "extravars") == 0o600
    assert mode(path / "inventory" / "hosts") == 0o600
    assert mode(path / "project" / "role.yml") == 0o600
    assert mode(base) == 0o700
    # Rewriting keeps the modes and leaves no temporary files.
    write(path, base, extravars={"secret": "other"}, role_playbook=role_playbook("memcached"))
    assert mode(path / "env" / "extravars") == 0o600
    assert sorted(p.name for p in (path / "env").iterdir()) == ["extravars"]


def test_existing_parents_are_reused(base: Path) -> None:
    first = cr_dir(base, "a")
    write(first, base)
    second = cr_dir(base, "b")
    write(second, base)
    assert (first / "env" / "extravars").exists()
    assert (second / "env" / "extravars").exists()


# --- contents ---


def test_extravars_mapping_and_text(base: Path) -> None:
    path = cr_dir(base)
    write(path, base, extravars={"size": 3, "ansible_operator_meta": {"name": "mc", "namespace": "ns1"}})
    assert json.loads((path / "env" / "extravars").read_text()) == {
        "size": 3,
        "ansible_operator_meta": {"name": "mc", "namespace": "ns1"},
    }
    text = '# header\nsize: !unsafe "{{ x }}"\n'
    write(path, base, extravars=text)
    assert (path / "env" / "extravars").read_text() == text


def test_prepare_returns_the_role_playbook_path(base: Path) -> None:
    path = cr_dir(base)
    playbook = write(path, base, role_playbook=role_playbook("memcached"))
    assert playbook == path / "project" / "role.yml"
    assert playbook.read_text() == role_playbook("memcached")


def test_role_playbook_content() -> None:
    plays = yaml.safe_load(role_playbook("/opt/roles/memcached"))
    assert isinstance(plays, list) and len(plays) == 1
    play = plays[0]
    assert play["hosts"] == "localhost"
    assert play["gather_facts"] is False
    assert play["roles"] == [{"role": "/opt/roles/memcached"}]
    fqcn = yaml.safe_load(role_playbook("cache.example.memcached"))[0]
    assert fqcn["roles"] == [{"role": "cache.example.memcached"}]


# --- inventory ---


def inventory(path: Path) -> dict[str, str]:
    inv = path / "inventory"
    return {str(p.relative_to(inv)): p.read_text() for p in sorted(inv.rglob("*")) if p.is_file()}


def test_generated_inventory(base: Path) -> None:
    """Ansible parses it without a warning: localhost, local connection, the controller's Python."""
    path = cr_dir(base)
    write(path, base)
    assert inventory(path) == {"hosts": GENERATED_INVENTORY}
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(path / "inventory"), "--list"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    assert "WARNING" not in listed.stderr, listed.stderr
    found = json.loads(listed.stdout)
    assert found["ungrouped"]["hosts"] == ["localhost"]
    assert found["_meta"]["hostvars"]["localhost"] == {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
    }


def test_inventory_file_is_copied(base: Path, tmp_path: Path) -> None:
    src = tmp_path / "my-inventory.ini"
    src.write_text("[all]\nlocalhost ansible_connection=local\n")
    path = cr_dir(base)
    write(path, base)  # a previous run had the generated inventory
    write(path, base, inventory_source=str(src))
    assert inventory(path) == {"my-inventory.ini": "[all]\nlocalhost ansible_connection=local\n"}


def test_inventory_directory_is_copied(base: Path, tmp_path: Path) -> None:
    src = tmp_path / "inv"
    (src / "group_vars").mkdir(parents=True)
    (src / "hosts.yml").write_text("all:\n  hosts:\n    localhost: {}\n")
    (src / "group_vars" / "all.yml").write_text("x: 1\n")
    path = cr_dir(base)
    other = tmp_path / "single"
    other.write_text("old\n")
    write(path, base, inventory_source=str(other))
    write(path, base, inventory_source=str(src))
    assert inventory(path) == {
        "group_vars/all.yml": "x: 1\n",
        "hosts.yml": "all:\n  hosts:\n    localhost: {}\n",
    }
    assert (src / "hosts.yml").exists()  # the source is left alone


def test_back_to_generated_inventory_removes_copied_files(base: Path, tmp_path: Path) -> None:
    src = tmp_path / "inv"
    (src / "group_vars").mkdir(parents=True)
    (src / "group_vars" / "all.yml").write_text("x: 1\n")
    (src / "hosts").write_text("custom\n")
    path = cr_dir(base)
    write(path, base, inventory_source=str(src))
    write(path, base, inventory_source=None)
    assert inventory(path) == {"hosts": GENERATED_INVENTORY}
    assert sorted(p.name for p in (path / "inventory").iterdir()) == ["hosts"]


# --- removal ---


def test_remove_deletes_the_cr_and_empty_parents_only(base: Path) -> None:
    a = cr_dir(base, "a")
    b = cr_dir(base, "b")
    other_kind = cr_dir(base, "c", kind="Other")
    for p in (a, b, other_kind):
        write(p, base)
    (a / "artifacts" / "123").mkdir(parents=True)
    (a / "artifacts" / "123" / "stdout").write_text("log")

    remove(a, base)
    assert not a.exists()
    assert b.exists() and (b / "env" / "extravars").exists()  # sibling untouched

    remove(b, base)
    assert not b.exists()
    assert not b.parent.exists()  # empty namespace dir
    assert not (base / "cache.example.com" / "v1alpha1" / "Memcached").exists()  # empty kind dir
    assert other_kind.exists()  # another kind of the same group stays
    assert (base / "cache.example.com" / "v1alpha1").exists()

    remove(other_kind, base)
    assert list(base.iterdir()) == []
    assert base.is_dir()  # never the base itself
    assert mode(base) == 0o700


def test_remove_missing_directory_is_harmless(base: Path) -> None:
    keep = cr_dir(base, "keep")
    write(keep, base)
    remove(cr_dir(base, "never-created"), base)
    assert keep.exists()
    assert base.is_dir()


def test_remove_keeps_base_when_it_is_the_only_parent(base: Path) -> None:
    path = base / "solo"
    path.mkdir()
    remove(path, base)
    assert not path.exists()
    assert base.is_dir()


def test_discard_moves_the_cr_aside_and_a_new_run_can_start_at_once(base: Path) -> None:
    a = cr_dir(base, "a")
    write(a, base)
    (a / "artifacts" / "1").mkdir(parents=True)
    (a / "artifacts" / "1" / "stdout").write_text("old run")

    trashed = jobdir.discard(a, base)
    assert trashed is not None and (trashed / "artifacts" / "1" / "stdout").read_text() == "old run"
    assert not a.exists() and not a.parent.exists()  # gone from its place, empty parents too
    write(a, base)  # a CR of the same name, right away
    shutil.rmtree(trashed)  # deleting what was moved aside leaves the new run alone
    assert (a / "env" / "extravars").exists()
    assert jobdir.discard(cr_dir(base, "never-created"), base) is None

    jobdir.discard(a, base)
    jobdir.empty_trash(base)  # also what a stopped operator left there
    assert list(base.iterdir()) == []


def test_disk_usage(base: Path) -> None:
    path = cr_dir(base)
    write(path, base, extravars="x" * 1000)
    assert jobdir.disk_usage(path) >= 1000 + len(GENERATED_INVENTORY)
    assert jobdir.disk_usage(base / "missing") == 0


def test_copied_inventory_directory_stays_private(base: Path, tmp_path: Path) -> None:
    src = tmp_path / "inv"
    src.mkdir()
    src.chmod(0o755)
    (src / "hosts").write_text("localhost\n")
    path = cr_dir(base)
    write(path, base, inventory_source=str(src))
    assert mode(path / "inventory") == 0o700


def test_orphans_are_the_dirs_of_crs_that_are_gone(tmp_path) -> None:
    from runner.jobs import jobdir as jd

    base = tmp_path
    for ns, name in (("a", "kept"), ("a", "gone"), (None, "cluster-gone")):
        jd.job_dir(base, "g.io", "v1", "Thing", ns, name).mkdir(parents=True)
    jd.job_dir(base, "other.io", "v1", "Else", "a", "unrelated").mkdir(parents=True)
    found = jd.orphans(base, [("g.io", "v1", "Thing")], {("g.io", "v1", "Thing", "a", "kept")})
    assert sorted(p.name for p in found) == ["cluster-gone", "gone"]
