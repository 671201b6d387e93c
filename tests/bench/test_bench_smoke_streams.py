"""The benchmark's streaming scenarios work end to end (relay, cluster, recording; their smallest
configuration); no timing is asserted here. One run of the bench serves the module's tests."""

from __future__ import annotations

from typing import Any

import pytest

from bench.redis_server import RedisServer
from tests.bench.smoke import run_bench
from tests.services import require_service, tcp_unreachable

Run = tuple[dict[str, Any], str]


def cluster_missing() -> tuple[str, str] | None:
    """What the cluster scenario needs and this machine lacks: two service processes on the machine's
    PostgreSQL and a redis-server of the run's own."""
    if RedisServer.binary() is None:
        return "redis-server", "not installed (Debian package redis-server)"
    unreachable = tcp_unreachable("127.0.0.1", 5432)
    return None if unreachable is None else ("PostgreSQL", unreachable)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Run:
    scenarios = ["relay", "recording", *([] if cluster_missing() else ["cluster"])]
    return run_bench(tmp_path_factory.mktemp("smoke"), *scenarios, docs_text="# Performance\n")


def test_smoke_relay_measures_the_bare_forwarder_beside_the_relay(smoke: Run) -> None:
    results, page = smoke
    node = results["relay"]["results"]["2"]
    for run in ("relayed", "forwarded", "direct"):
        assert node[run]["probe_rtt"]["samples"] > 0 and node[run]["errors"] == 0
    assert node["forwarded"]["forwarder_cpu_s"] >= 0 and "cpu_ratio" in node
    assert set(node["kept_real_time"]) == {"relay", "forwarder", "direct"}
    assert "CPU per streaming session: relay / forwarder" in page and "≤ 1.5×" in page


def test_smoke_cluster_measures_a_save_routed_to_another_instance(smoke: Run) -> None:
    """Two service processes on the machine's PostgreSQL and a redis-server of the run's own."""
    missing = cluster_missing()
    if missing is not None:
        require_service(*missing)
    results, page = smoke
    node = results["cluster"]
    assert node["other_instance"]["samples"] == 3 and node["same_instance"]["samples"] == 3
    assert node["ratio_p50"] > 0 and node["catch_up_after_redis_outage"]["samples"] > 0
    assert "| cluster | 3 saves | **save -> confirmed, conversation on another instance**" in page


def test_smoke_recording_measures_transcripts_against_counts_only(smoke: Run) -> None:
    results, page = smoke
    node = results["recording"]
    for level in ("none", "transcript"):
        [phase] = node["phases"][level]
        assert phase["errors"] == 0 and phase["service_cpu_s"] >= 0
    assert node["cpu_ratio"] is None or node["cpu_ratio"] > 0
    assert node["idle"]["m"] == 2 and node["idle"]["service_rss_kb"]["0"] > 0
    assert "| recording | 2 | **service CPU per streaming, talking session: transcript kept / none**" in page
