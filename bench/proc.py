"""Process-tree CPU and memory, and disk usage, read from /proc and the file system (no psutil).

CPU of a tree = the root's utime+stime+cutime+cstime (``cutime``/``cstime`` hold every descendant
that has exited and was waited for) plus the same four fields of every live descendant. Nothing is
counted twice: a process's times reach its parent's ``cutime`` only once it is reaped, and then
it is no longer alive.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Stat:
    pid: int
    ppid: int
    state: str
    ticks: int  # utime + stime + cutime + cstime, clock ticks
    self_ticks: int  # utime + stime: the process alone


def parse_stat(line: str) -> Stat:
    """Parse one ``/proc/<pid>/stat`` line (the command name may hold spaces and parentheses)."""
    pid_part, _, rest = line.partition(" (")
    fields = rest[rest.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime..cstime are fields 14..17.
    own = int(fields[11]) + int(fields[12])
    ticks = own + int(fields[13]) + int(fields[14])
    return Stat(pid=int(pid_part), ppid=int(fields[1]), state=fields[0], ticks=ticks, self_ticks=own)


def read_stat(pid: int) -> Stat | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return parse_stat(fh.read())
    except (OSError, ValueError):
        return None


def all_stats() -> dict[int, Stat]:
    out: dict[int, Stat] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = read_stat(int(entry))
            if st is not None:
                out[st.pid] = st
    return out


def descendants(root: int, parents: Mapping[int, int]) -> list[int]:
    """Every pid below ``root`` in a {pid: ppid} map (not ``root`` itself)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    out: list[int] = []
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def tree(root: int) -> list[int]:
    """``root`` and its live descendants (empty when ``root`` is gone)."""
    stats = all_stats()
    if root not in stats:
        return []
    return [root, *descendants(root, {p: s.ppid for p, s in stats.items()})]


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user+system) used so far by ``root`` and all its descendants, live or reaped."""
    stats = all_stats()
    if root not in stats:
        return 0.0
    pids = [root, *descendants(root, {p: s.ppid for p, s in stats.items()})]
    return sum(stats[p].ticks for p in pids) / CLOCK_TICKS


def self_cpu_seconds(pid: int) -> float:
    """CPU seconds of the process alone (its threads, none of its children)."""
    st = read_stat(pid)
    return st.self_ticks / CLOCK_TICKS if st else 0.0


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


def tree_rss(root: int) -> tuple[int, int]:
    """(sum of RSS over ``root`` and its live descendants, number of processes)."""
    pids = tree(root)
    return sum(rss_bytes(p) for p in pids), len(pids)


@dataclass
class RssSampler:
    """Samples the summed RSS of a process tree every ``interval`` seconds in a thread."""

    root: int
    interval: float = 0.2
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, bytes, processes)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RssSampler:
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            total, n = tree_rss(self.root)
            if n:
                self.samples.append((time.monotonic(), total, n))
            self._stop.wait(self.interval)

    def stop(self) -> RssSampler:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return self

    def since(self, t0: float) -> list[int]:
        return [b for t, b, _ in self.samples if t >= t0]

    @property
    def peak(self) -> int:
        return max((b for _, b, _ in self.samples), default=0)

    @property
    def max_processes(self) -> int:
        return max((n for _, _, n in self.samples), default=0)


def disk_usage(path: str) -> tuple[int, int]:
    """(bytes allocated on disk, as ``du`` counts them, and number of files) under ``path``."""
    total = files = 0
    for root, dirs, names in os.walk(path):
        for name in (*names, *dirs):
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            total += st.st_blocks * 512
            files += name in names
    return total, files


def wait4_child(pid: int) -> tuple[int, float, int]:
    """Wait for a child: (exit status, CPU seconds of it and its reaped descendants, max RSS bytes)."""
    _, status, ru = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024


def pids_cpu_seconds(pids: Iterable[int]) -> float:
    """CPU seconds of each given process and its reaped children (for the API server, etcd)."""
    total = 0
    for pid in pids:
        st = read_stat(pid)
        if st is not None:
            total += st.ticks
    return total / CLOCK_TICKS


def pss_bytes(pid: int) -> int:
    """Proportional set size: pages shared with other processes (forked workers, the same shared
    libraries) count as their share only, so a tree's PSS does not count a page twice."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def process_name(pid: int) -> str:
    """A short name for a process of the operator tree: the operator, a warm worker, ansible."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return "?"
    text = " ".join(argv)
    if "fastexec.zygote" in text:
        return f"warm {argv[-2] if len(argv) >= 2 else 'worker'} worker"
    if "-m runner run" in text or text.endswith(" run") or " runner run" in text:
        return "operator"
    return os.path.basename(argv[0]) if argv else "?"


@dataclass(frozen=True, slots=True)
class Memory:
    pid: int
    name: str
    rss: int
    pss: int


def tree_memory(root: int) -> list[Memory]:
    """RSS and PSS of ``root`` and each live descendant."""
    return [Memory(p, process_name(p), rss_bytes(p), pss_bytes(p)) for p in tree(root)]
