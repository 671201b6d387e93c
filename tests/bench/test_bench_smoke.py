"""The benchmark code works end to end (its smallest configuration); no timing is asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.redis_server import RedisServer
from tests.services import require_service, tcp_unreachable

ROOT = Path(__file__).resolve().parent.parent.parent
SMOKE_TIMEOUT_S = 180  # the smoke run takes a few seconds; a stuck child is killed by this bound


def run_bench(tmp_path: Path, *only: str, docs_text: str | None = None) -> tuple[dict[str, Any], str]:
    """``bench.run --smoke`` for ``only``: its results file and the docs page it rewrote."""
    out, docs = tmp_path / "latest.json", tmp_path / "performance.md"
    if docs_text is not None:
        docs.write_text(docs_text)
    command = [sys.executable, "-m", "bench.run", "--smoke"]
    for name in only:
        command += ["--only", name]
    result = subprocess.run(
        [*command, "--out", str(out), "--docs", str(docs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results: dict[str, Any] = json.loads(out.read_text())
    return results, docs.read_text()


def test_smoke_run_writes_results_and_the_table(tmp_path: Path) -> None:
    results, page = run_bench(
        tmp_path, "build", "refresh", "resume", docs_text="# Performance\n\nhand-written text stays\n"
    )
    assert results["machine"]["cores"] >= 1 and results["machine"]["python"]
    assert len(results["commit"]) >= 7
    assert results["build"]["p50_ms"] > 0 and results["build"]["chars"] > 0
    refresh = results["refresh"]
    assert refresh["n"] == [2]
    assert refresh["results"]["2"]["samples"] == 3 and refresh["results"]["2"]["p99_ms"] > 0
    assert refresh["direct"]["2"]["p50_ms"] > 0
    assert refresh["section_get"]["2"]["samples"] == 3 and refresh["section_get"]["2"]["p50_ms"] > 0
    assert set(refresh["overhead_over_get"]["2"]) == {"p50_ms", "p95_ms", "p99_ms"}
    resume = results["resume"]
    assert resume["runs"] == 2 and resume["fresh_start"]["samples"] == 2
    for loss in ("expired", "dropped"):
        assert resume[loss]["resume"]["samples"] == 2 and resume[loss]["resume"]["p50_ms"] > 0
        assert resume[loss]["client_first_audio"]["p50_ms"] > resume[loss]["resume"]["p50_ms"]
        assert resume[loss]["ratio_p50"] > 0
    assert "hand-written text stays" in page
    assert "| refresh | 2 |" in page and "| build | max profile |" in page
    assert "| refresh | 2 | authenticated GET of a section, p50 / p95 / p99 |" in page
    assert "| resume | 2 runs | dropped: resume / fresh start" in page


def test_smoke_relay_measures_the_bare_forwarder_beside_the_relay(tmp_path: Path) -> None:
    results, page = run_bench(tmp_path, "relay")
    node = results["relay"]["results"]["2"]
    for run in ("relayed", "forwarded", "direct"):
        assert node[run]["probe_rtt"]["samples"] > 0 and node[run]["errors"] == 0
    assert node["forwarded"]["forwarder_cpu_s"] >= 0 and "cpu_ratio" in node
    assert set(node["kept_real_time"]) == {"relay", "forwarder", "direct"}
    assert "CPU per streaming session: relay / forwarder" in page and "≤ 1.5×" in page


def test_smoke_cluster_measures_a_save_routed_to_another_instance(tmp_path: Path) -> None:
    """Two service processes on the machine's PostgreSQL and a redis-server of the run's own."""
    if RedisServer.binary() is None:
        require_service("redis-server", "not installed (Debian package redis-server)")
    unreachable = tcp_unreachable("127.0.0.1", 5432)
    if unreachable is not None:
        require_service("PostgreSQL", unreachable)
    results, page = run_bench(tmp_path, "cluster")
    node = results["cluster"]
    assert node["other_instance"]["samples"] == 3 and node["same_instance"]["samples"] == 3
    assert node["ratio_p50"] > 0 and node["catch_up_after_redis_outage"]["samples"] > 0
    assert "| cluster | 3 saves | **save -> confirmed, conversation on another instance**" in page


def test_smoke_signins_measures_health_during_both_bursts(tmp_path: Path) -> None:
    results, page = run_bench(tmp_path, "signins", docs_text="# Performance\n")
    signins = results["signins"]
    assert signins["idle_health"]["samples"] > 0
    for key, lanes in (("legacy_hash", "p=4"), ("current_hash", "p=1")):
        burst = signins[key]
        assert burst["sign_ins"] == 2 and burst["health"]["samples"] >= 1 and burst["health_max_ms"] > 0
        assert burst["parameters"].startswith("argon2id") and burst["parameters"].endswith(lanes)
    assert "| signins | 2 | **/health max during 2 wrong sign-ins, hashes made today" in page


def test_smoke_import_of_the_seed_systems_people(tmp_path: Path) -> None:
    """Both stores where PostgreSQL is reachable, both sources where the Cosmos DB server is installed."""
    results, page = run_bench(tmp_path, "import")
    node = results["import"]
    assert node["people"] == 3 and node["documents"] == 3 * 30
    runs = node["runs"]
    assert "sqlite/files" in runs
    for key, figures in runs.items():
        assert figures["first"]["changes"] > 0 and figures["first"]["seconds"] > 0
        assert figures["second"]["changes"] == 0
        assert figures["first"]["cpu_s"] > 0
        assert ("server_cpu_s" in figures["first"]) is key.endswith("/cosmos")
    assert set(runs) | set(node["left_out"]) >= {"sqlite/files"}
    assert "| import | 3 people | **sqlite, from an export folder: the whole import** |" in page
    assert "| import | 3 people | sqlite, from an export folder: CPU time of the whole import |" in page


def test_smoke_recording_measures_transcripts_against_counts_only(tmp_path: Path) -> None:
    results, page = run_bench(tmp_path, "recording", docs_text="# Performance\n")
    node = results["recording"]
    for level in ("none", "transcript"):
        [phase] = node["phases"][level]
        assert phase["errors"] == 0 and phase["service_cpu_s"] >= 0
    assert node["cpu_ratio"] is None or node["cpu_ratio"] > 0
    assert node["idle"]["m"] == 2 and node["idle"]["service_rss_kb"]["0"] > 0
    assert "| recording | 2 | **service CPU per streaming, talking session: transcript kept / none**" in page
