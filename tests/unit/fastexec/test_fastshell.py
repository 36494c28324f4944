"""The fast executor's in-process housekeeping commands do what /bin/sh does with the same command.

The commands are written by ansible-core's own ``sh`` shell plugin and wrapped as the action
plugin's ``_low_level_execute_command`` does, so an ansible-core upgrade that changes them shows
up here (they then simply run through /bin/sh again).
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from runner.fastexec import shell as fastshell


def _shell_plugin():  # type: ignore[no-untyped-def]
    from ansible.plugins.shell.sh import ShellModule

    return ShellModule()


def _wrapped(cmd: str) -> str:
    """As ``ActionBase._low_level_execute_command`` hands it to the local connection."""
    return "/bin/sh -c " + shlex.quote(f"{cmd} && sleep 0")


def _sh(cmd: str) -> tuple[int, bytes, bytes]:
    done = subprocess.run(cmd, shell=True, executable="/bin/sh", capture_output=True, check=False)
    return done.returncode, done.stdout, done.stderr


def _tree(root: Path) -> dict[str, int]:
    """Every path under root (temporary directory names made alike) and its mode."""
    return {
        re.sub(r"ansible-tmp-[0-9.-]+", "ansible-tmp-N", str(p.relative_to(root))): stat.S_IMODE(
            p.stat().st_mode
        )
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("user", ["", getpass.getuser(), "root", "no-such-user_x"])
def test_home(user: str) -> None:
    """``echo ~user``, as ``_remote_expand_user`` asks with the local connection's user."""
    cmd = _wrapped(_shell_plugin().expand_user("~" + user))
    command = fastshell.parse(cmd)
    assert command == fastshell.Home(user=user)
    assert fastshell.run(command) == _sh(cmd)


@pytest.mark.parametrize("existing_base", [True, False])
def test_make_temp_matches_the_shell(tmp_path: Path, existing_base: bool) -> None:
    shell = _shell_plugin()
    results = {}
    for how in ("sh", "fast"):
        base = tmp_path / how / "home" / ".ansible" / "tmp"
        if existing_base:
            base.mkdir(parents=True)
        name = shell._generate_temp_dir_name()
        if hasattr(shell, "_mkdtemp2"):  # ansible-core 2.19
            cmd = _wrapped(shell._mkdtemp2(basefile=name, tmpdir=str(base)).command)
        else:  # 2.18
            cmd = _wrapped(shell.mkdtemp(basefile=name, tmpdir=str(base)))
        command = fastshell.parse(cmd)
        assert command == fastshell.MakeTemp(umask=0o077, base=str(base), name=name)
        rc, out, err = _sh(cmd) if how == "sh" else fastshell.run(command)
        assert (rc, out, err) == (0, f"{name}={base / name}\n".encode(), b"")
        results[how] = _tree(tmp_path / how)
        # made twice: mkdir of the last directory fails, as the shell's does
        again = _sh(cmd) if how == "sh" else fastshell.run(command)
        assert again[0] == 1 and b"File exists" in again[2]
    assert results["fast"] == results["sh"]
    assert results["fast"]["home/.ansible/tmp/ansible-tmp-N"] == 0o700


def test_remove_matches_the_shell(tmp_path: Path) -> None:
    shell = _shell_plugin()
    for how in ("sh", "fast"):
        target = tmp_path / how / "ansible-tmp-1764000000.1-123-456"
        (target / "sub").mkdir(parents=True)
        (target / "sub" / "AnsiballZ_x.py").write_text("x")
        cmd = _wrapped(shell.remove(f"{target}/", recurse=True))
        command = fastshell.parse(cmd)
        assert command == fastshell.Remove(path=f"{target}/")
        result = _sh(cmd) if how == "sh" else fastshell.run(command)
        assert result == (0, b"", b"")
        assert not target.exists()
        # already gone: still fine, as rm -f says
        assert (_sh(cmd) if how == "sh" else fastshell.run(command)) == (0, b"", b"")


def _mkdtemp(base: str, path: str) -> str:
    name = os.path.basename(path)
    made = f'mkdir -p "` echo {base} `"&& mkdir "` echo {path} `" && echo {name}="` echo {path} `"'
    return _wrapped(f"( umask 77 && {made} )")


@pytest.mark.parametrize(
    "cmd",
    [
        "/bin/sh -c 'echo ~$USER && sleep 0'",
        "/bin/sh -c 'echo ~/x && sleep 0'",
        "/bin/sh -c 'echo ~ && sleep 0; id'",
        "/bin/sh -c 'echo ~'",  # not the local connection's wrapping
        "/bin/bash -c 'echo ~ && sleep 0'",  # another shell
        # paths the shell would expand or split, or a directory elsewhere than the base
        _mkdtemp("$HOME/t", "$HOME/t/ansible-tmp-1.2-3-4"),
        _mkdtemp("/t", "/other/ansible-tmp-1.2-3-4"),
        _mkdtemp("/t/../etc", "/t/../etc/ansible-tmp-1.2-3-4"),
        # rm of anything but an Ansible temporary directory, or with shell syntax
        "/bin/sh -c 'rm -f -r /home/u > /dev/null 2>&1 && sleep 0'",
        "/bin/sh -c 'rm -f -r /t/ansible-tmp-1.2-3-4/../.. > /dev/null 2>&1 && sleep 0'",
        "/bin/sh -c 'rm -f -r /t/ansible-tmp-1.2-3-4/ /etc > /dev/null 2>&1 && sleep 0'",
        "/bin/sh -c 'rm -f -r ~/ansible-tmp-1.2-3-4/ > /dev/null 2>&1 && sleep 0'",
    ],
)
def test_anything_else_is_left_to_the_shell(cmd: str) -> None:
    assert fastshell.parse(cmd) is None


def test_finished_process_is_what_the_local_connection_reads() -> None:
    proc = fastshell.FinishedProcess((3, b"out", b"err"))
    with proc:
        assert proc.communicate(b"ignored") == (b"out", b"err")
    assert proc.returncode == proc.wait() == proc.poll() == 3
    assert proc.pid == os.getpid()
