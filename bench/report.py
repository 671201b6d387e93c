"""The Markdown table in docs/performance.md, generated from the results file.

Only the block between the two markers is rewritten; the rest of the page is written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

BEGIN = "<!-- BEGIN GENERATED: bench/run.py writes this block from bench/results/latest.json -->"
END = "<!-- END GENERATED -->"


@dataclass(frozen=True)
class Row:
    scenario: str
    n: str
    figure: str
    measured: str
    target: str = ""
    met: str = ""


def _ms(value: float) -> str:
    return f"{value:,.2f} ms"


def _spread(node: dict[str, Any]) -> str:
    return f"{node['p50_ms']:,.2f} / {node['p95_ms']:,.2f} / {node['p99_ms']:,.2f} ms"


def _judged(scenario: str, n: str, figure: str, value: float, limit: float, unit: str = "ms") -> Row:
    shown = f"{value:,.2f} {unit}" if unit != "ms" else _ms(value)
    return Row(
        scenario, n, f"**{figure}**", shown, f"< {limit:g} {unit}", "yes" if value < limit else "**no**"
    )


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _ratio(scenario: str, n: str, figure: str, measured: str, ratio: float | None, limit: float) -> Row:
    """A figure judged as a ratio to its baseline measured in the same run (``≤ limit×``)."""
    if ratio is None:
        return Row(scenario, n, f"**{figure}**", measured + " (no baseline)", f"≤ {limit:g}×", "?")
    return Row(
        scenario, n, f"**{figure}**", f"{measured} (**{ratio:.2f}×**)", f"≤ {limit:g}×", _met(ratio <= limit)
    )


REFRESH_P50_RATIO = 3.0  # POST refresh -> 200 against the direct session.update round trip, at p50
REFRESH_P99_RATIO = 4.0  # ...and at p99
SAVE_K10_RATIO = 1.5  # save -> all confirmed with 10 live sessions against one
BULK_TARGET_MS = 2000.0  # 1,000 saves at once, each confirmed by its person's session
MEMORY_TARGET_KB = 100.0  # per idle live session
BUILD_TARGET_MS = 1.0  # a maximum-size profile's build, p99
SIGNIN_HEALTH_TARGET_MS = 100.0  # /health during a burst of wrong sign-ins: the loop keeps answering
CATCH_UP_TARGET_MS = 10_000.0  # a change saved while Redis is down reaches other instances within 10 s


def _refresh(r: dict[str, Any]) -> list[Row]:
    rows = []
    for n in r["n"]:
        key = str(n)
        rows += [
            Row("refresh", key, "POST refresh -> 200, p50 / p95 / p99", _spread(r["results"][key])),
            Row("refresh", key, "engine round trip, direct, p50 / p95 / p99", _spread(r["direct"][key])),
            Row(
                "refresh",
                key,
                "overhead over direct, p50 / p95 / p99 (ratio at p50)",
                f"{_spread(r['overhead'][key])} ({r['ratio_p50'][key]:.1f}×)",
            ),
        ]
        if key in r.get("section_get", {}):  # results from before the floor was measured have none
            rows += [
                Row(
                    "refresh",
                    key,
                    "authenticated GET of a section, p50 / p95 / p99",
                    _spread(r["section_get"][key]),
                ),
                Row(
                    "refresh",
                    key,
                    "overhead over direct, less that GET, p50 / p95 / p99",
                    _spread(r["overhead_over_get"][key]),
                ),
            ]
    at = str(r["at_n"])
    relayed, direct = r["results"][at], r["direct"][at]
    for q, limit in (("p50", REFRESH_P50_RATIO), ("p99", REFRESH_P99_RATIO)):
        value, base = relayed[f"{q}_ms"], direct[f"{q}_ms"]
        rows.append(
            _ratio(
                "refresh",
                at,
                f"POST refresh -> 200 / direct round trip, {q}",
                f"{_ms(value)} / {_ms(base)}",
                round(value / base, 2) if base else None,
                limit,
            )
        )
    if "max_profile" in r:
        m = r["max_profile"]
        rows.append(
            Row(
                "refresh, max profile",
                str(m["n"]),
                "POST refresh -> 200, p50 / p95 / p99",
                _spread(m["results"]),
            )
        )
    return rows


def _save(r: dict[str, Any]) -> list[Row]:
    rows = []
    for k in r["k"]:
        node = r["results"][str(k)]
        rows.append(
            Row("save_to_confirmed", f"K={k}", "PUT -> all confirmed, p50 / p95 / p99", _spread(node))
        )
    if "1" in r["results"] and "10" in r["results"]:
        one, ten = r["results"]["1"], r["results"]["10"]
        for q in ("p50", "p99"):
            value, base = ten[f"{q}_ms"], one[f"{q}_ms"]
            rows.append(
                _ratio(
                    "save_to_confirmed",
                    "K=10 / K=1",
                    f"PUT -> all confirmed, K=10 / K=1, {q}",
                    f"{_ms(value)} / {_ms(base)}",
                    round(value / base, 2) if base else None,
                    SAVE_K10_RATIO,
                )
            )
    return rows


def _bulk(r: dict[str, Any]) -> list[Row]:
    n = str(r["n"])
    store = r.get("store", "")
    label = f"all saved at once -> last confirmed{f' ({store})' if store else ''}"
    return [
        _judged("bulk", n, label, r["last_confirmed_ms"], BULK_TARGET_MS),
        Row("bulk", n, "sessions refreshed / failed", f"{r['refreshed']} / {r['failed']}"),
        Row("bulk", n, "service CPU for all the saves", f"{r['service_cpu_s']:.2f} s"),
    ]


def _relay_rows(key: str, node: dict[str, Any]) -> list[Row]:
    if "forwarded" not in node:  # results from before the forwarder baseline existed
        figure = "added latency per frame (one way), p99"
        return [Row("relay", key, figure, _ms(node["added_one_way_p99_ms"]))]
    kept = node["kept_real_time"]
    runs = ("relayed", "forwarded", "direct")
    rows = [
        Row(
            "relay",
            key,
            "probe round trip relayed / forwarded / direct, p50",
            " / ".join(_ms(node[run]["probe_rtt"]["p50_ms"]) for run in runs),
        ),
        Row(
            "relay",
            key,
            "probe round trip relayed / forwarded / direct, p99",
            " / ".join(_ms(node[run]["probe_rtt"]["p99_ms"]) for run in runs),
        ),
        Row(
            "relay",
            key,
            "keeps real time: relay / forwarder / direct",
            " / ".join("yes" if kept[name] else "no" for name in ("relay", "forwarder", "direct")),
            "relay wherever the forwarder" if node["latency_target_applies"] else "(forwarder does not)",
            _met(node["real_time_met"]) if node["latency_target_applies"] else "n/a",
        ),
        Row(
            "relay",
            key,
            "added latency per frame (one way) over direct, p50: relay / forwarder",
            f"{_ms(node['added_one_way']['p50_ms'])} / {_ms(node['forwarder_added_one_way']['p50_ms'])}",
        ),
        Row(
            "relay",
            key,
            "**added latency per frame (one way) over direct, p99: relay** / forwarder",
            f"{_ms(node['added_one_way']['p99_ms'])} / {_ms(node['forwarder_added_one_way']['p99_ms'])}",
            f"< {node.get('added_target_ms', 2):g} ms" if node["latency_target_applies"] else "",
            _met(node["latency_met"]) if node["latency_target_applies"] else "n/a (forwarder behind)",
        ),
        Row(
            "relay",
            key,
            "relay minus forwarder, one way, p50 / p99",
            f"{_ms(node['relay_over_forwarder_one_way']['p50_ms'])} / "
            f"{_ms(node['relay_over_forwarder_one_way']['p99_ms'])}",
        ),
        _cpu_row(key, node),
        Row(
            "relay",
            key,
            "engine CPU per session (it serves all three paths)",
            f"{node['relayed']['engine_cpu_ms_per_s_per_session']:.2f} ms/s",
        ),
    ]
    return rows


def _cpu_row(key: str, node: dict[str, Any]) -> Row:
    row = _ratio(
        "relay",
        key,
        "CPU per streaming session: relay / forwarder",
        f"{node['relay_cpu_ms_per_s_per_session']:.2f} / "
        f"{node['forwarder_cpu_ms_per_s_per_session']:.2f} ms/s",
        node["cpu_ratio"],
        1.5,
    )
    if "streaming_cpu_ratio" in node:
        idle = f"{node['relay_idle_cpu_ms_per_s']:.0f} / {node['forwarder_idle_cpu_ms_per_s']:.0f} ms/s"
        net = node["streaming_cpu_ratio"]
        note = f"; idle (all connected, silent): {idle}; without it: {net:.2f}×" if net else ""
        row = Row(row.scenario, row.n, row.figure, row.measured + note, row.target, row.met)
    if node.get("latency_target_applies", True):
        return row
    return Row(row.scenario, row.n, row.figure, row.measured, row.target, "n/a (forwarder behind)")


def _relay(r: dict[str, Any]) -> list[Row]:
    rows = []
    for n in r["n"]:
        rows += _relay_rows(str(n), r["results"][str(n)])
    return rows


def _memory(r: dict[str, Any]) -> list[Row]:
    n = str(r["n"])
    return [
        _judged(
            "memory",
            n,
            "service (relay) RSS per idle session",
            r["service_kb_per_session"],
            MEMORY_TARGET_KB,
            "KB",
        ),
        Row("memory", n, "engine RSS per idle session", f"{r['engine_kb_per_session']:,.1f} KB"),
    ]


RECORDING_CPU_RATIO = 1.05  # transcripts kept against counts only, CPU per streaming session


def _recording(r: dict[str, Any]) -> list[Row]:
    n = str(r["n"])
    cpu = r["cpu_ms_per_s_per_session"]
    phases = " / ".join(
        ", ".join(f"{p['cpu_ms_per_s_per_session']:.2f}" for p in r["phases"][level])
        for level in ("transcript", "none")
    )
    idle = r["idle"]
    return [
        _ratio(
            "recording",
            n,
            "service CPU per streaming, talking session: transcript kept / none",
            f"{cpu['transcript']:.2f} / {cpu['none']:.2f} ms/s (median of {r['rounds']} phases each)",
            r["cpu_ratio"],
            RECORDING_CPU_RATIO,
        ),
        Row("recording", n, "each phase: transcript / none, ms/s", phases),
        _judged(
            "recording",
            str(idle["m"]),
            "service RSS per idle session, transcripts kept",
            idle["kb_per_session"],
            MEMORY_TARGET_KB,
            "KB",
        ),
    ]


def _resume(r: dict[str, Any]) -> list[Row]:
    n = f"{r['runs']} runs"
    rows = [
        Row(
            "resume", n, "fresh start: connect -> session.created, p50 / p95 / p99", _spread(r["fresh_start"])
        ),
        Row(
            "resume",
            n,
            "healthy turn: send -> first audio delta, p50 / p95 / p99",
            _spread(r["healthy_turn_first_audio"]),
        ),
    ]
    for loss in ("expired", "dropped"):
        node = r[loss]
        rows += [
            Row(
                "resume",
                n,
                f"{loss}: loss -> active on the new model session (relay), p50 / p95 / p99",
                _spread(node["resume"]),
            ),
            Row(
                "resume",
                n,
                f"{loss}: loss -> next turn's first audio delta (client), p50 / p95 / p99",
                _spread(node["client_first_audio"]),
            ),
            Row(
                "resume",
                n,
                f"{loss}: resume / fresh start, at p50 / at p95",
                f"{node['ratio_p50']:.2f}× / {node['ratio_p95']:.2f}×",
            ),
        ]
    return rows


def _cluster(r: dict[str, Any]) -> list[Row]:
    other, same = r["other_instance"], r["same_instance"]
    n = f"{other['samples']} saves"
    return [
        Row(
            "cluster",
            n,
            "save -> confirmed, conversation on the same instance, p50 / p95 / p99",
            _spread(same),
        ),
        Row(
            "cluster",
            n,
            "**save -> confirmed, conversation on another instance**, p50 / p95 / p99",
            f"{_spread(other)} (**{r['ratio_p50']:.2f}×**, {r['delta_p50_ms']:+.2f} ms at p50)",
            r["target"],
            _met(bool(r["met"])),
        ),
        _judged(
            "cluster",
            f"{r['catch_up_after_redis_outage']['samples']} saves",
            "Redis stopped: save -> the other instance's conversation follows (change log), p99",
            float(r["catch_up_after_redis_outage"]["p99_ms"]),
            CATCH_UP_TARGET_MS,
        ),
    ]


def _build(r: dict[str, Any]) -> list[Row]:
    return [
        _judged("build", "max profile", "build time, p99", r["p99_ms"], BUILD_TARGET_MS),
        Row("build", "max profile", "build time, p50 / p95 / p99", _spread(r)),
        Row("build", "realistic", "build time, p50 / p95 / p99", _spread(r["realistic"])),
    ]


def _signins(r: dict[str, Any]) -> list[Row]:
    n = str(r["n"])
    rows = [
        Row(
            "signins",
            n,
            "/health on the idle service, p50 / p99",
            f"{_ms(r['idle_health']['p50_ms'])} / {_ms(r['idle_health']['p99_ms'])}",
        )
    ]
    for key, label in (("legacy_hash", "hashes from before"), ("current_hash", "hashes made today")):
        node = r[key]
        figure = f"/health max during {node['sign_ins']} wrong sign-ins, {label} ({node['parameters']})"
        rows.append(_judged("signins", n, figure, node["health_max_ms"], SIGNIN_HEALTH_TARGET_MS))
        rows.append(Row("signins", n, f"the burst's duration, {label}", _ms(node["burst_ms"])))
    return rows


def _import(r: dict[str, Any]) -> list[Row]:
    n = f"{r['people']} people"
    rows = []
    for key, node in r["runs"].items():
        store, source = key.split("/")
        label = f"{store}, from {'an export folder' if source == 'files' else 'the Cosmos DB server'}"
        rows.append(
            _judged("import", n, f"{label}: the whole import", node["first"]["seconds"], r["target_s"], "s")
        )
        rows.append(
            Row(
                "import",
                n,
                f"{label}: people a second; the second run",
                f"{node['people_per_s']:,.0f}/s; "
                f"{node['second']['seconds']:,.2f} s, {node['second']['changes']} changes",
            )
        )
        first = node["first"]
        if "cpu_s" in first:  # here, and the server's: where the time went
            cpu = f"{first['cpu_s']:,.2f} s"
            if "server_cpu_s" in first:
                cpu += f"; the Cosmos DB server's: {first['server_cpu_s']:,.2f} s"
            rows.append(Row("import", n, f"{label}: CPU time of the whole import", cpu))
    for what, why in r.get("left_out", {}).items():
        rows.append(Row("import", n, f"{what}: not measured", why))
    return rows


SECTIONS = {
    "refresh": _refresh,
    "save_to_confirmed": _save,
    "bulk": _bulk,
    "bulk_postgresql": _bulk,
    "relay": _relay,
    "recording": _recording,
    "memory": _memory,
    "resume": _resume,
    "build": _build,
    "cluster": _cluster,
    "signins": _signins,
    "import": _import,
}


def table(results: dict[str, Any]) -> str:
    lines = ["| scenario | N | figure | measured | target | met? |", "|---|---|---|---|---|---|"]
    for name, rows in SECTIONS.items():
        if name in results:
            lines += [
                f"| {r.scenario} | {r.n} | {r.figure} | {r.measured} | {r.target} | {r.met} |"
                for r in rows(results[name])
            ]
    return "\n".join(lines)


def header(results: dict[str, Any]) -> str:
    machine = results["machine"]
    mode = "quick" if results.get("quick") else "full"
    memory = machine.get("memory_gib", "?")
    load = results.get("load_average_1min")
    busy = ""
    if load:
        busy = f" Load average (1 min) {load['start']:.1f} at the start, {load['end']:.1f} at the end."
    return (
        f"Last run: {mode} mode, commit `{results['commit'][:12]}`, {results.get('date', '')}, "
        f"{results.get('duration_s', '?')} s; {machine['cores']} cores, {memory} GiB, "
        f"Python {machine['python']}; store: {results.get('store', 'sqlite')}.{busy} "
        "Targets are reported, not asserted; ratios are within one run."
    )


def runs(results: dict[str, Any]) -> str:
    """Which run each scenario's figures come from (``--only`` runs replace some scenarios only)."""
    by_run: dict[str, list[str]] = {}
    for name in SECTIONS:
        run = results.get(name, {}).get("run") if isinstance(results.get(name), dict) else None
        if run:
            mode = "quick" if run.get("quick") else "full"
            by_run.setdefault(f"{run['date']}, {mode}, `{run['commit'][:12]}`", []).append(name)
    if len(by_run) < 2:
        return ""
    return "Figures by run: " + "; ".join(f"{', '.join(names)}: {run}" for run, names in by_run.items()) + "."


def write_docs(results: dict[str, Any], path: Path) -> None:
    by_run = runs(results)
    block = f"{BEGIN}\n\n{header(results)}\n\n{by_run + chr(10) + chr(10) if by_run else ''}"
    block += f"{table(results)}\n\n{END}"
    text = path.read_text() if path.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
