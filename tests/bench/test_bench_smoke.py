"""The benchmark code works end to end (its smallest configuration): the scenarios that time requests
and imports; no timing is asserted here. The streaming scenarios are in ``test_bench_smoke_streams.py``,
a module of their own so that another worker can run them meanwhile. One run of the bench serves the
module's tests (each process start imports the whole service: about 2.5 CPU-seconds)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bench.smoke import run_bench

Run = tuple[dict[str, Any], str]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_bench(
        tmp_path_factory.mktemp("smoke"),
        "build",
        "refresh",
        "resume",
        "signins",
        "import",
        docs_text="# Performance\n\nhand-written text stays\n",
    )


def test_smoke_run_writes_results_and_the_table(smoke: Run) -> None:
    results, page = smoke
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


def test_smoke_signins_measures_health_during_both_bursts(smoke: Run) -> None:
    results, page = smoke
    signins = results["signins"]
    assert signins["idle_health"]["samples"] > 0
    for key, lanes in (("legacy_hash", "p=4"), ("current_hash", "p=1")):
        burst = signins[key]
        assert burst["sign_ins"] == 2 and burst["health"]["samples"] >= 1 and burst["health_max_ms"] > 0
        assert burst["parameters"].startswith("argon2id") and burst["parameters"].endswith(lanes)
    assert "| signins | 2 | **/health max during 2 wrong sign-ins, hashes made today" in page


def test_smoke_import_of_the_seed_systems_people(smoke: Run) -> None:
    """Both stores where PostgreSQL is reachable, both sources where the Cosmos DB server is installed."""
    results, page = smoke
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
