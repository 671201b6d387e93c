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
    rows.append(_judged("refresh", str(r["at_n"]), "overhead p99 over direct", r["overhead_p99_ms"], 5))
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
        if k == 10:
            rows.append(_judged("save_to_confirmed", "K=10", "PUT -> all confirmed, p99", node["p99_ms"], 50))
    return rows


def _bulk(r: dict[str, Any]) -> list[Row]:
    n = str(r["n"])
    return [
        _judged("bulk", n, "all saved at once -> last confirmed", r["last_confirmed_ms"], 2000),
        Row("bulk", n, "sessions refreshed / failed", f"{r['refreshed']} / {r['failed']}"),
    ]


def _relay(r: dict[str, Any]) -> list[Row]:
    rows = []
    for n in r["n"]:
        key = str(n)
        node = r["results"][key]
        kept = node["relayed"].get("kept_real_time", True) and node["direct"].get("kept_real_time", True)
        note = "" if kept else " (clients fell behind real time: overloaded)"
        rows += [
            Row(
                "relay",
                key,
                "probe round trip relayed, p50 / p95 / p99",
                _spread(node["relayed"]["probe_rtt"]),
            ),
            Row(
                "relay", key, "probe round trip direct, p50 / p95 / p99", _spread(node["direct"]["probe_rtt"])
            ),
            Row(
                "relay",
                key,
                "added latency per frame (one way), p50",
                _ms(node["added_one_way_p50_ms"]) + note,
            ),
        ]
        if n == 200:
            rows.append(
                _judged(
                    "relay", key, "added latency per frame (one way), p99", node["added_one_way_p99_ms"], 2
                )
            )
        else:
            rows.append(
                Row("relay", key, "added latency per frame (one way), p99", _ms(node["added_one_way_p99_ms"]))
            )
        rows.append(
            Row(
                "relay",
                key,
                "CPU per session: relay / engine (ms of CPU per s)",
                f"{node['relayed']['service_cpu_ms_per_s_per_session']:.2f} / "
                f"{node['relayed']['engine_cpu_ms_per_s_per_session']:.2f} ms/s",
            )
        )
    return rows


def _memory(r: dict[str, Any]) -> list[Row]:
    n = str(r["n"])
    return [
        _judged("memory", n, "service (relay) RSS per idle session", r["service_kb_per_session"], 150, "KB"),
        Row("memory", n, "engine RSS per idle session", f"{r['engine_kb_per_session']:,.1f} KB"),
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


def _build(r: dict[str, Any]) -> list[Row]:
    return [
        _judged("build", "max profile", "build time, p99", r["p99_ms"], 2),
        Row("build", "max profile", "build time, p50 / p95 / p99", _spread(r)),
        Row("build", "realistic", "build time, p50 / p95 / p99", _spread(r["realistic"])),
    ]


SECTIONS = {
    "refresh": _refresh,
    "save_to_confirmed": _save,
    "bulk": _bulk,
    "relay": _relay,
    "memory": _memory,
    "resume": _resume,
    "build": _build,
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
    return (
        f"Last run: {mode} mode, commit `{results['commit'][:12]}`, {results.get('date', '')}, "
        f"{results.get('duration_s', '?')} s; {machine['cores']} cores, {memory} GiB, "
        f"Python {machine['python']}; store: {results.get('store', 'sqlite')}. "
        "Targets are reported, not asserted."
    )


def write_docs(results: dict[str, Any], path: Path) -> None:
    block = f"{BEGIN}\n\n{header(results)}\n\n{table(results)}\n\n{END}"
    text = path.read_text() if path.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
