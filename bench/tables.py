"""Renders RESULTS.md from the table specs (``bench.spec``) and one run's ``Results``.

Every number comes from the run being reported. A row whose scenario was not measured
(not selected, or failed) is left out, and a table left with no rows is left out. Ratios:
*× floor* = server req/s ÷ the floor's req/s measured interleaved with it (same bytes,
same load); *× limit* = server examples/s ÷ in-process tight-loop examples/s of the same
model and TF flags at the batch size the server ran (the request's rows with batching
off, the mean batch from ``/metrics`` with batching on; time per call interpolated);
*CPU µs/req* = the server's CPU time per request; *× TF API* = a V2 scenario's req/s ÷ its
TF Serving API counterpart's (``Scenario.tf_counterpart``), measured interleaved with it;
*× reference* = req/s ÷ the reference config's (``--workers 1`` for ``--workers 2``);
*× in-process* = examples/s ÷ in-process examples/s at the request's rows, same core and TF
flags. The ``study`` table adds the in-process rows of its model and row count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from bench.measure import NOISY_PCT, SERVER_CPU, Summary, format_instructions
from bench.spec import (
    BENCH,
    FLOORS,
    PROTOCOLS,
    SERVERS,
    Check,
    InProcess,
    Scenario,
    Table,
    tf_variant,
)
from bench.spike import SpikeResult


@dataclasses.dataclass(slots=True)
class Results:
    context: dict[str, str]
    summaries: dict[Scenario, Summary]
    failures: list[str]
    in_process: list[tuple[InProcess, dict[str, dict[int, float]], float]]
    spike: SpikeResult | None = None

    def limit(self, s: Scenario, m: Summary) -> tuple[float, float] | None:
        """(batch rows the server ran, in-process examples/s at that size), on the
        server's core with the server's TF flags where measured around that size (else TF's
        defaults); time per call interpolated between the sizes measured."""
        rows = m.batch_mean or float(s.payload.rows)
        same = self._same_core(s.payload.model)
        found = [
            r for r in same
            if r[0].tf == tf_variant(s.server) and min(r[1]["tight"]) <= rows <= max(r[1]["tight"])
        ] or [r for r in same if r[0].tf == "default"]  # fmt: skip
        if not found or s.is_floor:
            return None
        tight = found[0][1]["tight"]
        sizes = sorted(tight)
        return rows, rows / float(np.interp(rows, sizes, [1 / tight[k] for k in sizes]))

    def _same_core(
        self, model: object
    ) -> list[tuple[InProcess, dict[str, dict[int, float]], float]]:
        return [r for r in self.in_process if r[0].model == model and r[0].cpus == SERVER_CPU]

    def best_at(self, s: Scenario) -> tuple[str, float] | None:
        """(TF threads, examples/s): the fastest same-core in-process figure at exactly the
        request's rows, over every TF variant measured."""
        rows = s.payload.rows
        found = [
            (spec.tf, figures["tight"][rows] * rows)
            for spec, figures, _ in self._same_core(s.payload.model)
            if rows in figures["tight"]
        ]
        return max(found, key=lambda f: f[1]) if found else None

    def at(self, model: object, tf: str, rows: int, cpus: str = SERVER_CPU) -> float | None:
        """In-process examples/s of ``model`` with ``tf`` threads at ``rows`` on ``cpus``."""
        for spec, figures, _ in self.in_process:
            if (spec.model, spec.tf, spec.cpus) == (model, tf, cpus) and rows in figures["tight"]:
                return figures["tight"][rows] * rows
        return None


Row = tuple[Scenario, Summary, Summary | None, Results]
# A loaded floor below this CPU % was held back by something else (its generator, the
# machine): it is not the framework's limit, and a ratio to it says too much.
UNSATURATED_PCT = 90.0


def _f(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _cpu_us(m: Summary) -> float:
    return m.cpu_us_per_request


def _ratio(r: Row, field: str, digits: int = 2, suffix: str = "") -> str:
    _, m, floor, _ = r
    return f"{m.median(field) / floor.median(field):.{digits}f}{suffix}" if floor else "–"


def _tf(r: Row) -> Summary | None:
    counterpart = r[0].tf_counterpart()
    return r[3].summaries.get(counterpart) if counterpart else None


def _tf_ratio(r: Row) -> str:
    tf = _tf(r)
    return f"{r[1].median('requests_per_s') / tf.median('requests_per_s'):.2f}×" if tf else "–"


def _tf_p50(r: Row) -> str:
    tf = _tf(r)
    return f"{r[1].median('p50_ms') - tf.median('p50_ms'):+.3f}" if tf else "–"


def _limit(r: Row, pick: int) -> str:
    limit = r[3].limit(r[0], r[1])
    if limit is None:
        return "–"
    return (
        _f(limit[1])
        if pick == 1
        else f"{r[1].median('requests_per_s') * r[0].payload.rows / limit[1]:.2f}×"
    )


def _connections(r: Row) -> int:
    s = r[0]
    if s.protocol not in ("grpc", "v2grpc"):
        return s.concurrency
    if r[1].generator == "python":
        return s.connections or 1
    return s.grpc_connections


def _x_in_process(r: Row) -> str:
    s, m = r[0], r[1]
    reference = r[3].at(s.payload.model, tf_variant(s.server), s.payload.rows)
    if reference is None:
        return "–"
    return f"{m.median('requests_per_s') * s.payload.rows / reference:.2f}×"


STAGES = {
    "floor-orjson": "bare framework (floor)",
    "floor+model-inline": "floor + model call on the loop thread",
    "floor+model-executor": "floor + model call via run_in_executor",
    "floor+model-batched": "floor + the calls of one loop turn as one batch on the loop",
    "off": "server, batching off",
    "on": "server, batching on",
}


COLUMNS: dict[str, Callable[[Row], str]] = {
    "config": lambda r: r[0].server,
    "API": lambda r: PROTOCOLS[r[0].protocol][1],
    "payload": lambda r: r[0].payload.name,
    "c": lambda r: str(r[0].concurrency),
    "runs": lambda r: str(len(r[1].runs)),
    "examples/s": lambda r: _f(r[1].median("requests_per_s") * r[0].payload.rows),
    "req/s": lambda r: _f(r[1].median("requests_per_s")),
    "p50 ms": lambda r: _f(r[1].median("p50_ms"), 3),
    "p99 ms": lambda r: _f(r[1].median("p99_ms"), 2),
    "× TF API": _tf_ratio,
    "p50 − TF API ms": _tf_p50,
    "floor req/s": lambda r: _f(r[2].median("requests_per_s")) if r[2] else "–",
    "floor p50 ms": lambda r: _f(r[2].median("p50_ms"), 3) if r[2] else "–",
    "× floor": lambda r: _ratio(r, "requests_per_s", suffix="×"),
    "p50 − floor ms": lambda r: (
        f"{r[1].median('p50_ms') - r[2].median('p50_ms'):+.3f}" if r[2] else "–"
    ),
    "p99 ÷ floor": lambda r: _ratio(r, "p99_ms"),
    "batch mean/max": lambda r: (
        f"{r[1].batch_mean:.1f}/≤{r[1].batch_max:g}" if r[1].batch_mean else "–"
    ),
    "limit ex/s": lambda r: _limit(r, 1),
    "× limit": lambda r: _limit(r, 2),
    "CPU µs/req": lambda r: _f(_cpu_us(r[1])),
    "instr/req": lambda r: format_instructions(r[1].instructions_per_request),
    "server CPU %": lambda r: _f(r[1].median("server_pct")),
    "gen CPU %": lambda r: _f(r[1].median("generator_pct")),
    "noise %": lambda r: _f(r[1].median("noise_pct")) + ("*" if r[1].retried else ""),
    "generator": lambda r: r[1].generator,
    "connections": lambda r: str(_connections(r)),
    "reference": lambda r: r[0].floor().server if r[2] and r[0].floor() else "–",  # type: ignore[union-attr]
    "× reference": lambda r: _ratio(r, "requests_per_s", suffix="×"),
    "TF threads": lambda r: tf_variant(r[0].server),
    "CPUs": lambda r: SERVER_CPU if r[0].pinned else "any",
    "× in-process": lambda r: _x_in_process(r),
    "CPU µs/example": lambda r: _f(_cpu_us(r[1]) / r[0].payload.rows, 1),
    "stage": lambda r: STAGES[r[0].server],
    "+CPU µs/req": lambda r: f"{_cpu_us(r[1]) - _cpu_us(r[2]):+.0f}" if r[2] else "–",
}


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return [*lines, *("| " + " | ".join(row) + " |" for row in rows), ""]


def _rows(results: Results, scenarios: Sequence[Scenario]) -> list[Row]:
    floors = [s.floor() for s in scenarios]
    return [
        (s, results.summaries[s], results.summaries.get(f) if f else None, results)
        for s, f in zip(scenarios, floors, strict=True)
        if s in results.summaries
    ]


def _scenarios(table: Table, results: Results) -> list[str]:
    scenarios: Sequence[Scenario] = table.rows
    if table.kind == "floors":  # every floor this run measured, plus the table's own
        bare = {s for s in results.summaries if s.is_floor and "+model" not in s.server}
        scenarios = sorted(
            bare | set(table.rows),
            key=lambda s: (s.server != "floor-orjson", s.protocol, s.payload.name, s.concurrency),
        )
    rows = [[COLUMNS[c](r) for c in table.columns] for r in _rows(results, scenarios)]
    return markdown(table.columns, rows) if rows else []


def _check(check: Check, results: Results) -> list[str] | None:
    s = check.scenario
    m, f = results.summaries.get(s), s.floor()
    floor = results.summaries.get(f) if f else None
    if m is None:
        return None
    rps, bound = m.median("requests_per_s"), check.bound
    if check.measure == "images":
        value = rps * s.payload.rows
        shown, ok, needed = (
            f"{value:,.0f} images/s ({value / bound:.2f}×)",
            value >= bound,
            f"≥ {bound:,.0f}",
        )
    elif check.measure == "x_limit":
        if (limit := results.limit(s, m)) is None:
            return None
        value = rps * s.payload.rows / limit[1]
        shown = (
            f"{value:.2f}× ({rps:,.0f} vs {limit[1]:,.0f} images/s at mean batch {limit[0]:.1f})"
        )
        ok, needed = value >= bound, f"≥ {bound:.2f}×"
    elif check.measure == "x_batch":
        if (best := results.best_at(s)) is None:
            return None
        value = rps * s.payload.rows / best[1]
        shown = (
            f"{value:.2f}× ({rps * s.payload.rows:,.0f} vs {best[1]:,.0f} images/s in-process "
            f"at batch {s.payload.rows}, TF threads {best[0]})"
        )
        ok, needed = value >= bound, f"≥ {bound:.2f}×"
    elif floor is None:
        return None
    elif check.measure == "p50_floor":
        a, b = m.median("p50_ms"), floor.median("p50_ms")
        shown, ok, needed = (
            f"+{a - b:.3f} ms ({a:.3f} vs {b:.3f} ms)",
            a - b <= bound,
            f"≤ +{bound:.3f} ms",
        )
    elif check.measure == "p99_floor":
        a, b = m.median("p99_ms"), floor.median("p99_ms")
        shown, ok, needed = (
            f"{a / b:.2f}× ({a:.2f} vs {b:.2f} ms)",
            a / b <= bound,
            f"≤ {bound:.2f}×",
        )
    else:
        a, b = rps, floor.median("requests_per_s")
        reference = "" if f is None or f.is_floor else f" of {f.server}"
        shown, ok, needed = (
            f"{a / b:.2f}× ({a:,.0f} vs {b:,.0f} req/s{reference})",
            a / b >= bound,
            f"≥ {bound:.2f}×",
        )
        cpu = floor.median("server_pct")
        if f is not None and f.is_floor and s.concurrency > 1 and cpu < UNSATURATED_PCT:
            shown += f"; the floor used only {cpu:.0f}% of its core: ratio overstated"
    label = f"{s.server} · {COLUMNS['API']((s, m, None, results))} · {s.payload.name} · c{s.concurrency}"
    label += f" · {s.connections} conn." if s.connections else ""
    label += " · unpinned" if not s.pinned else ""
    return [check.text, label, shown, needed, "**PASS**" if ok else "**MISS**"]


def _targets(table: Table, results: Results) -> list[str]:
    best: dict[tuple[str, int], tuple[float, Check]] = {}
    for check in table.checks:  # 100-image checks: the better of batching off and on
        if check.measure == "images" and (m := results.summaries.get(check.scenario)):
            key, rps = (
                (check.scenario.protocol, check.scenario.concurrency),
                m.median("requests_per_s"),
            )
            if rps > best.get(key, (0.0, check))[0]:
                best[key] = (rps, check)
    chosen = [
        c for c in table.checks if c.measure != "images" or c in (b[1] for b in best.values())
    ]
    rows = [row for c in chosen if (row := _check(c, results)) is not None]
    header = ("target", "scenario (config · API · payload · c)", "measured", "needed", "verdict")
    passed = sum("PASS" in r[-1] for r in rows)
    return [f"{passed} of {len(rows)} checks pass.", "", *markdown(header, rows)] if rows else []


def _in_process(table: Table, results: Results) -> list[str]:
    rows = []
    for spec, figures, noise in results.in_process:
        for size, rate in figures["tight"].items():
            hop = figures["hop"].get(size)
            rows.append([
                spec.model.name, spec.tf, spec.cpus, str(size), _f(rate), _f(rate * size),
                _f(1e6 / rate, 1), _f(hop), _f(1e6 / hop, 1) if hop else "–",
                _f(1e6 / hop - 1e6 / rate, 1) if hop else "–", _f(noise),
            ])  # fmt: skip
    header = ("model", "TF threads", "CPUs", "rows", "tight calls/s", "tight ex/s", "tight µs/call",
              "hop calls/s", "hop µs/call", "hop cost µs", "noise %")  # fmt: skip
    return markdown(header, rows) if rows else []


def _spike(table: Table, results: Results) -> list[str]:
    r = results.spike
    if r is None:
        return []
    m = r.median
    return [
        f"An open-loop stream of single-example gRPC calls to `half_plus_two` (400 calls/s) "
        f"while a new version of the CNN is copied into its base path; medians of "
        f"{len(r.repeats)} repeats; the load window runs from the copy until 1 s after the new "
        f"version was AVAILABLE (median {m('load_s'):.2f} s after the copy). Flags: `{r.flags}`.",
        "",
        *markdown(("stream", "p50 ms", "p99 ms", "max ms", "req/s"), [
            ["without a load", f"{m('quiet_p50'):.2f}", f"{m('quiet_p99'):.2f}",
             f"{m('quiet_max'):.1f}", f"{m('quiet_rps'):.0f}"],
            ["with a load, whole stream", "–", f"{m('loading_p99'):.2f}",
             f"{m('loading_max'):.1f}", f"{m('loading_rps'):.0f}"],
            ["with a load, load window only", "–", f"{m('window_p99'):.2f}",
             f"{m('window_max'):.1f}", "–"],
        ]),
    ]  # fmt: skip


def _flags(table: Table, results: Results) -> list[str]:
    used = {s.server for s in results.summaries}
    rows = [
        [name, "`server.py " + " ".join(flags) + "`"]
        for name, flags in SERVERS.items()
        if name in used
    ]
    rows += [
        [name, f"`bench/floor_server.py {' '.join(f)}`"]
        for name, f in FLOORS.items()
        if name in used
    ]
    note = "Besides `--port=0 --rest_api_port=0 --port_file=F`; `server.py` also gets "
    note += "`--model_config_file=bench/out/models.config --monitoring_config_file=bench/monitoring.pbtxt`."
    return [note, "", *markdown(("config", "command line"), rows)]


def _analysis(table: Table, results: Results) -> list[str]:
    return [(BENCH / "analysis.md").read_text().split("\n", 2)[2]]


def _study(table: Table, results: Results) -> list[str]:
    """The table's server rows, then the in-process rows of the same model and rows."""
    lines = _scenarios(table, results)
    if not table.rows:
        return lines
    model, rows = table.rows[0].payload.model, table.rows[0].payload.rows
    blank = dict.fromkeys(table.columns, "–")
    found = []
    for spec, figures, noise in results.in_process:
        rate = figures["tight"].get(rows)
        if spec.model != model or rate is None:
            continue
        cells = {**blank, "config": "in-process", "TF threads": spec.tf, "CPUs": spec.cpus}
        cells |= {"examples/s": _f(rate * rows), "req/s": _f(rate), "noise %": _f(noise)}
        found.append([cells[c] for c in table.columns])
    if not found:
        return lines
    if not lines:
        return markdown(table.columns, found)
    return [*lines[:-1], *("| " + " | ".join(row) + " |" for row in found), ""]


RENDERERS = {
    "study": _study,
    "scenarios": _scenarios,
    "floors": _scenarios,
    "targets": _targets,
    "in_process": _in_process,
    "spike": _spike,
    "flags": _flags,
    "analysis": _analysis,
}


def render(tables: Sequence[Table], results: Results) -> str:
    c = results.context
    lines = [
        "# aioserving benchmark results",
        "",
        *(f"- **{key}**: {value}" for key, value in c.items()),
        f"- **Method**: the server under test (`server.py` with flags, a floor, or the "
        f"in-process reference) runs pinned to CPU 0, the load generator to CPU 1 "
        f"(`taskset`), except the `--workers` rows (both unpinned). Each figure is the "
        f"median of the runs (after one warm-up run per server and load; runs and warm-up "
        f"of at least 3 s for 100 images at c64 and for multi-image CNN requests); a server "
        f"is measured interleaved with its floor (floor run, server run, ...), so machine "
        f"noise hits both sides of a ratio alike. CPU % is of one core, from "
        f"`/proc/PID/stat` (summed over the process tree); *noise* is what the rest of the machine used "
        f"meanwhile; a run above {NOISY_PCT:.0f}% noise is measured again once (`*`). Batch "
        f"sizes come from the server's `/metrics` (`input_batch_size` count and sum; max = "
        f"the upper bound of the largest bucket hit).",
        "",
    ]
    for table in tables:
        body = RENDERERS[table.kind](table, results)
        if body:
            lines += [f"## {table.title}", "", *([table.note, ""] if table.note else []), *body]
    if results.failures:
        lines += ["## Failed scenarios", "", *(f"- {f}" for f in results.failures), ""]
    return "\n".join(lines)
