"""The benchmark harness's pure helpers (bench/): statistics, /proc parsing, log phases, options."""

from __future__ import annotations

import math
import os

import pytest

from bench import proc
from bench.cluster import crd, plural
from bench.main import parse_only, parser, sizes_from
from bench.opproc import reconcile_phases
from bench.scenarios import max_overlap
from bench.stats import fmt_bytes, fmt_s, median, meets, p95, percentile, ratio, scaled


def test_percentiles() -> None:
    assert median([3, 1, 2]) == 2
    assert median([1, 2, 3, 4]) == 2.5
    assert p95(list(range(1, 21))) == pytest.approx(19.05)
    assert percentile([7], 95) == 7
    assert math.isnan(median([]))


def test_ratio_and_targets() -> None:
    assert ratio(3, 2) == 1.5
    assert math.isnan(ratio(1, 0))
    assert meets(1.1, 1.15, higher_is_better=False) is True
    assert meets(9, 8, higher_is_better=True) is True
    assert meets(math.nan, 8, higher_is_better=True) is None


def test_formatting() -> None:
    assert fmt_s(0.25) == "250 ms"
    assert fmt_s(2.5) == "2.50 s"
    assert fmt_bytes(512) == "512 B"
    assert fmt_bytes(3 * 1024 * 1024) == "3.0 MiB"


def test_scaled_sizes_never_below_minimum() -> None:
    assert scaled(200, 0.1) == 20
    assert scaled(20, 0.01, minimum=3) == 3


def test_parse_stat_with_spaces_and_parentheses_in_the_name() -> None:
    fields = ["S", "42"] + ["0"] * 9 + ["100", "20", "3", "4"] + ["0"] * 30
    st = proc.parse_stat("1234 (weird (name) x) " + " ".join(fields))
    assert (st.pid, st.ppid, st.state, st.ticks, st.self_ticks) == (1234, 42, "S", 127, 120)


def test_parse_stat_of_this_process() -> None:
    st = proc.read_stat(os.getpid())
    assert st is not None and st.pid == os.getpid() and st.ppid == os.getppid()


def test_descendants() -> None:
    parents = {2: 1, 3: 2, 4: 2, 5: 3, 6: 99}
    assert sorted(proc.descendants(1, parents)) == [2, 3, 4, 5]
    assert proc.descendants(5, parents) == []


def test_tree_of_this_process_includes_itself() -> None:
    assert proc.tree(os.getpid())[0] == os.getpid()
    total, n = proc.tree_rss(os.getpid())
    assert total > 0 and n >= 1


def test_max_overlap() -> None:
    assert max_overlap([(0, 2), (1, 3), (2.5, 4), (5, 6)]) == 2
    assert max_overlap([]) == 0


def test_reconcile_phases_from_json_logs() -> None:
    records = [
        {"ts": "2026-01-01T00:00:01.000+00:00", "msg": "reconcile started", "cr": "Trivial ns/a"},
        {"ts": "2026-01-01T00:00:02.500+00:00", "msg": "reconcile succeeded", "cr": "Trivial ns/a"},
        {"ts": "2026-01-01T00:00:03.000+00:00", "msg": "reconcile started", "cr": "Trivial ns/b"},
        {"ts": "2026-01-01T00:00:04.000+00:00", "msg": "reconcile started", "cr": "Trivial ns/a"},
    ]
    phases = reconcile_phases(records)
    assert list(phases) == ["a"]
    start, done = phases["a"]
    assert done - start == pytest.approx(1.5)


def test_crd_and_plural() -> None:
    assert plural("Trivial") == "trivials"
    assert plural("ApiHeavy") == "apiheavies"
    body = crd("Backlog")
    assert body["metadata"]["name"] == "backlogs.bench.runner.example.com"
    version = body["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert version["schema"]["openAPIV3Schema"]["x-kubernetes-preserve-unknown-fields"] is True


def test_options() -> None:
    assert parse_only("b3, B1") == ["B1", "B3"]
    with pytest.raises(Exception, match="B1"):
        parse_only("B9")
    quick = sizes_from(parser().parse_args(["--quick"]))
    full = sizes_from(parser().parse_args([]))
    assert quick.b5_crs < full.b5_crs == 1000 and full.b3_crs == 200 and full.b1_crs == 20
    assert sizes_from(parser().parse_args(["--scale", "0.1", "--crs-b3", "7"])).b3_crs == 7


def test_api_request_counters_from_metrics_text() -> None:
    from bench import apicount

    text = "\n".join(
        [
            "# HELP apiserver_request_total Counter of apiserver requests",
            'apiserver_request_total{code="200",group="x",resource="scales",scope="namespace",'
            'subresource="",verb="LIST",version="v1"} 1',
            'apiserver_request_total{code="200",group="x",resource="scales",scope="resource",'
            'subresource="status",verb="PATCH",version="v1"} 7',
            'apiserver_request_total{code="409",group="x",resource="scales",scope="resource",'
            'subresource="status",verb="PATCH",version="v1"} 2',
            'apiserver_longrunning_requests{component="apiserver",group="x",resource="scales",scope="namespace",'
            'subresource="",verb="WATCH",version="v1"} 1',
        ]
    )
    total, watching = apicount.parse(text)
    assert total[("LIST", "scales", "")] == 1
    assert total[("PATCH", "scales", "status")] == 9
    assert watching[("WATCH", "scales", "")] == 1
    before, _ = apicount.parse(text.replace("} 7", "} 3"))
    assert apicount.delta(before, total, ["scales"]) == {("PATCH", "scales", "status"): 4}
    assert apicount.fmt({("PATCH", "scales", "status"): 4}) == "PATCH scales/status 4"


def test_memory_of_this_process() -> None:
    mem = proc.tree_memory(os.getpid())
    assert mem[0].pid == os.getpid()
    assert 0 < mem[0].pss <= mem[0].rss * 1.01


def test_quick_sizes_include_b7() -> None:
    quick = sizes_from(parser().parse_args(["--quick"]))
    assert 0 < quick.b7_crs < 100
    assert sizes_from(parser().parse_args([])).b7_crs == 10000
    assert sizes_from(parser().parse_args(["--crs-b7", "500"])).b7_crs == 500
