"""The /metrics text, compared with the lines the Go ansible-operator serves for the same calls.

The expected lines are client_golang's text format for the Go operator's metrics
(``internal/ansible/metrics/metrics.go`` of ansible-operator-plugins, operator-lib's
``resource_created_at_seconds``) and what the Go test operator's molecule checks grep for
(``counter_inc_test 1``, ``gauge_sub_test -7``, ``histogram_test_sum 2``, ...).
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from runner.config.watches import GVK
from runner.serve import metrics, usermetrics
from runner.serve.endpoints import Endpoints


def scrape() -> str:
    """GET /metrics from a running endpoint, as Prometheus (or curl) would."""

    async def get() -> str:
        endpoints = Endpoints(asyncio.Event())
        await endpoints.start_all("127.0.0.1:0", "127.0.0.1:0")
        host, port = endpoints.bound["probes+metrics"]
        try:
            url = f"http://{host}:{port}/metrics"
            body: bytes = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
            return body.decode()
        finally:
            await endpoints.stop()

    return asyncio.run(get())


def osdk_metric(name: str, kind: str, **ops: Any) -> None:
    """What one ``operator_sdk.util.osdk_metric`` task returns (unset sub-options are null)."""
    usermetrics.apply({"name": name, "description": f"help of {name}", kind: ops})


def family(text: str, name: str) -> list[str]:
    """The lines of one family: its HELP and TYPE lines and its samples."""
    lines = text.splitlines()
    start = lines.index(f"# HELP {name} help of {name}")
    end = start + 2
    while end < len(lines) and not lines[end].startswith("#"):
        end += 1
    return lines[start:end]


def test_counters_are_served_under_their_own_name() -> None:
    osdk_metric("counter_inc_test", "counter")
    osdk_metric("counter_inc_test", "counter", increment=True, add=None)
    osdk_metric("counter_add_test", "counter")
    osdk_metric("counter_add_test", "counter", increment=None, add=2)
    osdk_metric("sanity_counter", "counter")
    text = scrape()
    assert family(text, "counter_inc_test") == [
        "# HELP counter_inc_test help of counter_inc_test",
        "# TYPE counter_inc_test counter",
        "counter_inc_test 1",
    ]
    assert family(text, "counter_add_test")[1:] == ["# TYPE counter_add_test counter", "counter_add_test 2"]
    assert family(text, "sanity_counter")[2:] == ["sanity_counter 0"]
    assert not re.search(r"^(counter_inc_test|counter_add_test|sanity_counter)_(total|created)", text, re.M)


def test_gauge_operations() -> None:
    osdk_metric("gauge_set_test", "gauge", set=5)
    osdk_metric("gauge_add_test", "gauge")
    osdk_metric("gauge_add_test", "gauge", add=7)
    osdk_metric("gauge_sub_test", "gauge")
    osdk_metric("gauge_sub_test", "gauge", subtract=7)
    osdk_metric("gauge_incdec_test", "gauge", increment=True)
    osdk_metric("gauge_incdec_test", "gauge", increment=True)
    osdk_metric("gauge_incdec_test", "gauge", decrement=True)
    osdk_metric("gauge_time_test", "gauge", set_to_current_time=True)
    text = scrape()
    assert family(text, "gauge_set_test")[1:] == ["# TYPE gauge_set_test gauge", "gauge_set_test 5"]
    assert family(text, "gauge_add_test")[2:] == ["gauge_add_test 7"]
    assert family(text, "gauge_sub_test")[2:] == ["gauge_sub_test -7"]
    assert family(text, "gauge_incdec_test")[2:] == ["gauge_incdec_test 1"]
    # Unix time as Go writes a float of that size: 1.712345678123e+09
    assert re.fullmatch(r"gauge_time_test 1\.\d+e\+09", family(text, "gauge_time_test")[2])
    assert not re.search(r"^gauge_\w+_created", text, re.M)


def test_a_gauge_task_does_one_operation_as_in_go() -> None:
    # The Go operator applies the first of increment, decrement, add, subtract, set, set_to_current_time.
    osdk_metric("gauge_precedence_test", "gauge", set=10)
    osdk_metric("gauge_precedence_test", "gauge", add=3, set=100)
    assert family(scrape(), "gauge_precedence_test")[2:] == ["gauge_precedence_test 13"]


def test_histogram_observe() -> None:
    osdk_metric("histogram_test", "histogram")  # as in Go, {} records an observation of 0
    osdk_metric("histogram_test", "histogram", observe=2)
    assert family(scrape(), "histogram_test") == [
        "# HELP histogram_test help of histogram_test",
        "# TYPE histogram_test histogram",
        'histogram_test_bucket{le="0.005"} 1',
        'histogram_test_bucket{le="0.01"} 1',
        'histogram_test_bucket{le="0.025"} 1',
        'histogram_test_bucket{le="0.05"} 1',
        'histogram_test_bucket{le="0.1"} 1',
        'histogram_test_bucket{le="0.25"} 1',
        'histogram_test_bucket{le="0.5"} 1',
        'histogram_test_bucket{le="1"} 1',
        'histogram_test_bucket{le="2.5"} 2',
        'histogram_test_bucket{le="5"} 2',
        'histogram_test_bucket{le="10"} 2',
        'histogram_test_bucket{le="+Inf"} 2',
        "histogram_test_sum 2",
        "histogram_test_count 2",
    ]


def test_summary_observe() -> None:
    osdk_metric("summary_test", "summary")
    osdk_metric("summary_test", "summary", observe=2)
    osdk_metric("summary_test", "summary", observe=0.5)
    assert family(scrape(), "summary_test") == [
        "# HELP summary_test help of summary_test",
        "# TYPE summary_test summary",
        "summary_test_sum 2.5",
        "summary_test_count 3",
    ]


def test_a_metric_keeps_its_type() -> None:
    osdk_metric("typed_test", "counter", increment=True)
    try:
        osdk_metric("typed_test", "gauge", set=5)
    except ValueError as exc:
        assert "counter" in str(exc)
    assert family(scrape(), "typed_test")[1:] == ["# TYPE typed_test counter", "typed_test 1"]


def test_resource_created_at_seconds() -> None:
    gvk = GVK("cache.example.com", "v1alpha1", "Memcached")
    meta = {"name": "sample", "namespace": "ns1", "creationTimestamp": "2024-05-06T07:08:09Z"}
    metrics.resource_seen(gvk, meta)
    line = (
        'resource_created_at_seconds{group="cache.example.com",kind="Memcached",name="sample",'
        'namespace="ns1",version="v1alpha1"} 1.714979289e+09'
    )
    text = scrape()
    assert "# TYPE resource_created_at_seconds gauge" in text.splitlines()
    assert line in text.splitlines()
    metrics.resource_gone(gvk, meta)
    assert 'name="sample",namespace="ns1"' not in scrape()


def test_build_info_and_the_whole_text_parses() -> None:
    osdk_metric("parse_counter_test", "counter", increment=True)
    text = scrape()
    assert re.search(r'^ansible_operator_build_info\{commit="[^"]*",version="[^"]+"\} 1$', text, re.M)
    assert "# TYPE ansible_operator_build_info gauge" in text.splitlines()
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert types["parse_counter_test"] == "counter"
    assert types["ansible_operator_build_info"] == "gauge"
    assert types["process_cpu_seconds"] == "counter"
    assert "process_cpu_seconds_total" in text and not re.search(r"^\w+_created[{ ]", text, re.M)
