"""The plain executor's job guard: no process of a job outlives it (stdlib only, Linux).

ansible-runner starts ``python -I guard.py OPERATOR_PID -- ansible-playbook ARGS`` under pexpect
instead of ``ansible-playbook ARGS``. Two processes:

- the **session process** (pexpect's child, the terminal's session leader) dies with the operator
  (``PR_SET_PDEATHSIG`` = SIGKILL), forks the keeper, and exits as the keeper does;
- the **keeper**, in a process group of its own (so ansible-runner's ``killpg`` on a timeout or a
  cancel does not reach it), is a child subreaper: every process of the job, also those that
  called ``setsid`` and whose parents ended (Ansible's workers, daemons a task started), stays its
  descendant. It runs ansible-playbook in the session process's (foreground) group, and when
  ansible-playbook ends, or the session process dies (a timeout, a cancel, the operator's death:
  ``PR_SET_PDEATHSIG`` = SIGTERM), it SIGKILLs every descendant until none is left, and only
  then exits and lets go of the terminal, so ansible-runner sees the job end after its processes.

Both exit as ansible-playbook did (its code, or killed by the same signal). The umask of the job is
0077: every file it writes is private.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
KILL_DEADLINE = 30.0  # seconds to get rid of a job's processes (only D-state ones can take long)


class _Stop(Exception):
    pass


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def descendants(root: int) -> list[int]:
    """Live (not zombie) descendants of ``root``, from the parent links in /proc."""
    children: dict[int, list[int]] = {}
    zombies: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        if fields[0] in ("Z", "X"):
            zombies.add(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return [p for p in found if p not in zombies]


def _reap() -> tuple[bool, bool]:
    """Reap ended children without blocking: (reaped any, children remain)."""
    reaped = False
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped, False
        if pid == 0:
            return reaped, True
        reaped = True


def kill_descendants() -> None:
    """SIGKILL every descendant of this (subreaper) process until none is left, and reap them."""
    me = os.getpid()
    deadline = time.monotonic() + KILL_DEADLINE
    while time.monotonic() < deadline:
        live = descendants(me)
        for pid in live:  # stop them first, so that none forks while the others are killed
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)
        for pid in live:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        reaped, remain = _reap()
        if not live and not remain:
            return
        if not reaped:
            time.sleep(0.01)


def _exit_like(status: int) -> None:
    """Exit as the process whose wait status is ``status`` did."""
    sys.stdout.flush()
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):  # SIGKILL cannot be caught anyway
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _stop(_sig: int, _frame: object) -> None:
    raise _Stop


def keeper(session: int, argv: list[str]) -> None:
    """Run ``argv`` and end with every process it started."""
    status = int(signal.SIGKILL)  # a wait status: killed, in case ansible-playbook never ran
    signal.signal(signal.SIGTERM, _stop)
    try:
        group = os.getpgid(0)  # the session process's group: the terminal's foreground group
        os.setpgid(0, 0)
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != session:  # the session process died before PDEATHSIG was set
            raise _Stop
        child = os.fork()
        if child == 0:
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.setpgid(0, group)  # the foreground group: prompts reach ansible-playbook
                os.execvp(argv[0], argv)
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    os.write(2, f"cannot run {argv[0]}: {exc}\n".encode())
            os._exit(127)
        while True:
            pid, wstatus = os.waitpid(-1, 0)  # orphans of the job come here too
            if pid == child:
                status = wstatus
                break
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        kill_descendants()
    _exit_like(status)


def main(argv: list[str]) -> None:
    os.umask(0o077)
    operator, sep, command = int(argv[0]), argv[1], argv[2:]
    if sep != "--" or not command:
        raise SystemExit("usage: guard.py OPERATOR_PID -- COMMAND...")
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != operator:  # the operator died before PDEATHSIG was set
        os._exit(1)
    session = os.getpid()
    pid = os.fork()
    if pid == 0:
        keeper(session, command)
    # The keeper keeps the terminal until the job's processes are gone; this process only waits.
    os.closerange(0, 3)
    _, status = os.waitpid(pid, 0)
    _exit_like(status)


if __name__ == "__main__":
    main(sys.argv[1:])
