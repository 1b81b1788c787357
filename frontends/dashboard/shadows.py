"""The dashboard's "Shadow versions" panel: ``--shadow_config_file``'s rules and, per pair
of versions, what the server's ``aioserving_shadow_*`` series say since start-up.

``shadow_summary(registry, rules)`` reads the registry once (the series that ``/metrics``
exports, never counted a second time) and returns plain JSON-ready dicts:

- ``rules``: each rule as configured (``primary`` ``*`` for every request of the model).
- ``pairs``: one entry per (model, primary version, shadow version) seen in the series,
  sorted: shadow runs ``mirrored`` (``compared`` + ``failed``), the share of classifier
  rows with the same argmax (None when no output was a classifier's), the largest absolute
  difference of any output element (None before the first numeric comparison), the shadow
  run's p50 and mean latency in ms, and the outputs counted as differing, by name.
- ``skipped``: per model, mirrors that were sampled but not run, by reason (``busy``:
  dropped under load; ``unresolved``; ``same_version``). These series carry no version
  pair: a mirror is dropped before its shadow version is resolved.

Pairs exist only once a mirror ran, so a configured rule without traffic has rules but no
pairs. The functions do no I/O; the caller's request handler runs them on the loop.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from config.shadow_config import ShadowRule
from frontends.dashboard.histogram import quantile_ms

_REQUESTS = "aioserving_shadow_requests"
_SKIPPED = "aioserving_shadow_skipped"
_ARGMAX_ROWS = "aioserving_shadow_argmax_rows"
_ARGMAX_EQUAL_ROWS = "aioserving_shadow_argmax_equal_rows"
_MAX_ABS_DIFFERENCE = "aioserving_shadow_max_abs_difference"
_LATENCY = "aioserving_shadow_latency"
_DIFFERING_OUTPUTS = "aioserving_shadow_differing_outputs"
_Pair = tuple[str, str, str]


@dataclasses.dataclass(slots=True)
class _PairCounters:
    outcomes: dict[str, float] = dataclasses.field(default_factory=dict)
    argmax_rows: float = 0.0
    argmax_equal_rows: float = 0.0
    max_abs_difference: float | None = None
    latency_buckets: dict[float, float] = dataclasses.field(default_factory=dict)
    latency_sum_micros: float = 0.0
    latency_count: float = 0.0
    differing_outputs: dict[str, float] = dataclasses.field(default_factory=dict)


def _pair(labels: dict[str, str]) -> _Pair:
    return (labels["model_name"], labels["primary_version"], labels["shadow_version"])


def _read(registry: CollectorRegistry) -> tuple[dict[_Pair, _PairCounters], dict[str, Any]]:
    pairs: dict[_Pair, _PairCounters] = collections.defaultdict(_PairCounters)
    skipped: dict[str, dict[str, float]] = collections.defaultdict(dict)
    for metric in registry.collect():
        if not metric.name.startswith("aioserving_shadow_"):
            continue
        for sample in metric.samples:
            if sample.name.endswith("_created"):
                continue
            labels = sample.labels
            if metric.name == _SKIPPED:
                skipped[labels["model_name"]][labels["reason"]] = sample.value
                continue
            counters = pairs[_pair(labels)]
            if metric.name == _REQUESTS:
                counters.outcomes[labels["outcome"]] = sample.value
            elif metric.name == _ARGMAX_ROWS:
                counters.argmax_rows = sample.value
            elif metric.name == _ARGMAX_EQUAL_ROWS:
                counters.argmax_equal_rows = sample.value
            elif metric.name == _MAX_ABS_DIFFERENCE:
                counters.max_abs_difference = sample.value
            elif metric.name == _LATENCY:
                if sample.name.endswith("_bucket"):
                    counters.latency_buckets[float(labels["le"])] = sample.value
                elif sample.name.endswith("_sum"):
                    counters.latency_sum_micros = sample.value
                elif sample.name.endswith("_count"):
                    counters.latency_count = sample.value
            elif metric.name == _DIFFERING_OUTPUTS:
                counters.differing_outputs[labels["output"]] = sample.value
    return dict(pairs), {model: dict(reasons) for model, reasons in skipped.items()}


def _pair_json(pair: _Pair, counters: _PairCounters) -> dict[str, Any]:
    model, primary, shadow = pair
    compared = counters.outcomes.get("compared", 0.0)
    failed = counters.outcomes.get("failed", 0.0)
    return {
        "model": model,
        "primary_version": primary,
        "shadow_version": shadow,
        "mirrored": compared + failed,
        "compared": compared,
        "failed": failed,
        "argmax_rows": counters.argmax_rows,
        "argmax_agreement": (
            counters.argmax_equal_rows / counters.argmax_rows if counters.argmax_rows else None
        ),
        "max_abs_difference": counters.max_abs_difference,
        "latency_p50_ms": quantile_ms({}, counters.latency_buckets, 0.5),
        "latency_mean_ms": (
            counters.latency_sum_micros / counters.latency_count / 1000
            if counters.latency_count
            else None
        ),
        "differing_outputs": dict(sorted(counters.differing_outputs.items())),
    }


def _rule_json(rule: ShadowRule) -> dict[str, Any]:
    return {
        "model": rule.model_name,
        "primary": "*" if rule.primary is None else str(rule.primary),
        "shadow": str(rule.shadow),
        "sampling_rate": rule.sampling_rate,
    }


def _version_order(pair: _Pair) -> tuple[str, int, str, int, str]:
    model, primary, shadow = pair
    return (
        model,
        int(primary) if primary.isdigit() else -1,
        primary,
        int(shadow) if shadow.isdigit() else -1,
        shadow,
    )


def shadow_summary(registry: CollectorRegistry, rules: Sequence[ShadowRule]) -> dict[str, Any]:
    """Rules, pairs and skipped mirrors, as the module docstring describes."""
    pairs, skipped = _read(registry)
    return {
        "rules": [_rule_json(rule) for rule in rules],
        "pairs": [_pair_json(pair, pairs[pair]) for pair in sorted(pairs, key=_version_order)],
        "skipped": dict(sorted(skipped.items())),
    }
