"""The warm worker server keeps serving whatever order a finished job's events come in.

One round of ``select`` can report both that a child exited (its pidfd) and that its client wrote
``released`` or went away (its connection); the server handles them in either order.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from runner.fastexec.wire import RELEASED
from runner.fastexec.zygote import _Server


def _finished_job(server: _Server) -> tuple[int, socket.socket]:
    """A job as ``_Server._accept`` registers it, whose child has already exited."""
    conn, client = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    pidfd = os.pidfd_open(pid)
    server.jobs[pidfd] = (pid, conn)
    server.conns[conn] = pid
    server.sel.register(pidfd, 1, "pid")
    server.sel.register(conn, 1, "conn")
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped yet
    return pidfd, client


@pytest.mark.parametrize("client_says", ["released", "goes away"])
@pytest.mark.parametrize("first", ["reap", "connection"])
def test_a_finished_job_in_one_round_of_events(tmp_path: Path, client_says: str, first: str) -> None:
    server = _Server("module", str(tmp_path / "z.sock"))
    try:
        pidfd, client = _finished_job(server)
        conn = server.jobs[pidfd][1]
        if client_says == "released":
            client.sendall(RELEASED)
        else:
            client.close()
        steps = [lambda: server._reap(pidfd), lambda: server._conn_event(conn)]
        for step in steps if first == "reap" else reversed(steps):
            step()
        assert not server.jobs and not server.conns
        assert conn.fileno() == -1
        assert len(server.sel.get_map()) == 0
        if client_says == "released" and first == "reap":
            assert client.recv(64) == b"exit 3\n"  # reaped before the word came: the reply was sent
    finally:
        server.sel.close()
        server.listener.close()
