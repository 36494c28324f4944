"""Compare two artifact directories of the same job (plain vs fast): events, stdout, status, rc.

usage: python compare.py ARTIFACT_DIR_A ARTIFACT_DIR_B
Fields that differ between any two runs (uuids, pids, times, idents) are ignored.
"""

import json
import re
import sys
from pathlib import Path

VOLATILE = {
    "uuid",
    "parent_uuid",
    "pid",
    "created",
    "runner_ident",
    "playbook_uuid",
    "play_uuid",
    "task_uuid",
    "start",
    "end",
    "delta",
    "duration",
    "_ansible_delegated_vars",
}
UUIDISH = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{12}-[0-9a-f]{4}-"
    r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def scrub(o):
    if isinstance(o, dict):
        return {k: scrub(v) for k, v in o.items() if k not in VOLATILE}
    if isinstance(o, list):
        return [scrub(v) for v in o]
    if isinstance(o, str):
        o = re.sub(r"ansible-(tmp|local)-[\w.-]+", "ansible-TMP", UUIDISH.sub("UUID", o))
        return re.sub(r"/tmp[a-z0-9_]{8}\b", "/tmpXXXXXXXX", o)
    return o


def events(d: Path):
    files = sorted(d.glob("job_events/*.json"), key=lambda p: int(p.name.split("-")[0]))
    return [scrub(json.loads(p.read_text())) for p in files]


a, b = Path(sys.argv[1]), Path(sys.argv[2])
ea, eb = events(a), events(b)
problems = []
for name in ("status", "rc"):
    if (a / name).read_text() != (b / name).read_text():
        problems.append(f"{name}: {(a / name).read_text()!r} != {(b / name).read_text()!r}")
if [e.get("event") for e in ea] != [e.get("event") for e in eb]:
    problems.append(
        f"event sequence differs:\n {[e.get('event') for e in ea]}\n {[e.get('event') for e in eb]}"
    )
else:
    for x, y in zip(ea, eb, strict=True):
        if x != y:
            keys = sorted(
                k
                for k in set(x.get("event_data", {})) | set(y.get("event_data", {}))
                if x.get("event_data", {}).get(k) != y.get("event_data", {}).get(k)
            )
            top = sorted(k for k in set(x) | set(y) if k != "event_data" and x.get(k) != y.get(k))
            problems.append(f"{x.get('event')} #{x.get('counter')}: differs in {top} event_data {keys}")
sa, sb = scrub((a / "stdout").read_text()), scrub((b / "stdout").read_text())
if sa != sb:
    problems.append("stdout differs")
print(f"{len(ea)} events; " + ("SAME" if not problems else "DIFFERENT:\n" + "\n".join(problems)))
