"""The results as Markdown: goals first, then each section's figures with their baselines."""

from __future__ import annotations

from typing import Any

Row = list[str]


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"# Benchmark results ({meta['mode']})",
        "",
        f"Measured {meta['started_at']} in {meta['runtime_s']:.0f} s; every figure is the median "
        f"of {meta['runs']} interleaved runs, ± half the spread between the runs (max − min).",
        "",
        f"- Machine: {_machine(meta['machine'])}",
        f"- Versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}",
        f"- Load: {meta['load_note']}",
    ]
    lines += [f"- Skipped: {note}" for note in meta["skipped"]]
    lines += [f"- Error: {note}" for note in meta["errors"]]
    lines += ["", "## Goals", ""]
    lines += _table(
        ["section", "case", "database", "measured", "goal", "met"],
        [
            [
                g["section"],
                g["case"],
                g["database"],
                _ratio(g["ratio"]),
                g["target"],
                "yes" if g["met"] else "**no**",
            ]
            for g in sorted(results["goals"], key=_goal_order)
        ],
    )
    for database, sections in results["databases"].items():
        lines += ["", f"## {database}", ""]
        lines += _append(sections.get("append", {}))
        lines += _commands(sections.get("commands"))
        lines += _reads(sections.get("reads"))
    for name, extra in results.get("extras", {}).items():
        lines += ["", f"## Extra: {name} (exit {extra['returncode']})", "", "```"]
        lines += [*extra["output"], "```"]
    return "\n".join(lines) + "\n"


SECTIONS = ("append over HTTP", "in-process commands", "state at a moment", "agreement register")


def _goal_order(goal: dict[str, Any]) -> tuple[int, bool]:
    """By section, SQLite first; within that, in the order measured (sorted() is stable)."""
    section = goal["section"]
    rank = SECTIONS.index(section) if section in SECTIONS else len(SECTIONS)
    return rank, goal["database"] != "sqlite"


def _append(by_workers: dict[str, Any]) -> list[str]:
    if not by_workers:
        return []
    lines = [
        "Appends over HTTP (wrk, 16 connections). The ceiling (bench/ceiling_app.py) parses the "
        "body, validates it with the ledger's schema and inserts one row, durably; no token check, "
        "no event sourcing.",
        "",
    ]
    rows = []
    for workers, section in by_workers.items():
        for name, label in (
            ("ceiling", "ceiling"),
            ("ledger_many", "ledger, many collaborations"),
            ("ledger_hot", "ledger, one hot stream"),
        ):
            case = section[name]
            share = section.get(f"ratio_{name}_vs_ceiling")
            rows.append(
                [
                    workers,
                    label,
                    _fig(case["events_per_s"]),
                    _ratio(share) if share else "",
                    _fig(case["p50_ms"]),
                    _fig(case["p99_ms"]),
                    _failures(case),
                ]
            )
    lines += _table(
        [
            "workers",
            "app, load",
            "events/s",
            "× ceiling",
            "p50 ms",
            "p99 ms",
            "non-2xx of requests",
        ],
        rows,
    )
    return [*lines, ""]


def _commands(section: dict[str, Any] | None) -> list[str]:
    if not section:
        return []
    lines = ["In-process commands, one after the other:", ""]
    rows = [
        ["bare eventsourcing save() of one event", _fig(section["bare_save"]), ""],
        ["bare eventsourcing get() + save()", _fig(section["bare_load_save"]), ""],
        [
            "LedgerService.record_event (If-Match, Idempotency-Key)",
            _fig(section["record_event"]),
            _ratio(section["ratio_record_event_vs_bare_save"]),
        ],
    ]
    lines += _table(["command", "commands/s", "× bare save()"], rows)
    return [*lines, ""]


def _reads(section: dict[str, Any] | None) -> list[str]:
    if not section:
        return []
    lines = ["Reads over HTTP, one request at a time, against GET /health on the same server:", ""]
    rows = []
    for name, read in section["reads"].items():
        times = read.get("p50_vs_health")
        rows.append(
            [
                name.replace("@", " @ "),
                _fig(read["p50_ms"]),
                _fig(read["p99_ms"]),
                str(read["requests"]),
                _ratio(times) if times else "baseline",
            ]
        )
    lines += _table(["read (kind @ events)", "p50 ms", "p99 ms", "requests", "p50 × health"], rows)
    setup = ", ".join(f"{name} {seconds} s" for name, seconds in section["setup_s"].items())
    return [*lines, "", f"Setup: {setup}.", ""]


def _table(header: Row, rows: list[Row]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _fig(figure: dict[str, Any]) -> str:
    median = figure["median"]
    text = (
        f"{median:,.0f}" if median >= 100 else f"{median:.2f}" if median < 10 else f"{median:.1f}"
    )
    return f"{text} ±{figure['spread_pct'] / 2:.0f}%"


def _ratio(figure: dict[str, Any]) -> str:
    return f"{figure['median']:.2f}× ±{figure['spread_pct'] / 2:.0f}%"


def _failures(case: dict[str, Any]) -> str:
    failures = case["non_2xx"]
    if not failures:
        return f"0 of {case['requests']:,}"
    counts = ", ".join(f"{status}: {n:,}" for status, n in failures.items())
    return f"{counts} of {case['requests']:,}"


def _machine(machine: dict[str, Any]) -> str:
    return (
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, "
        f"{machine['system']}, Python {machine['python']}"
    )
