"""Prometheus series of shadow versions (``actors.shadow_mirror``'s observer).

Per model and pair of versions (``primary_version``, ``shadow_version``):

- ``aioserving_shadow_requests{model_name,primary_version,shadow_version,outcome}`` —
  shadow runs by outcome: ``compared`` or ``failed``.
- ``aioserving_shadow_skipped{model_name,reason}`` — mirrors not run: ``busy`` (dropped
  under load), ``unresolved`` (the shadow label points nowhere), ``same_version``.
- ``aioserving_shadow_argmax_rows`` and ``aioserving_shadow_argmax_equal_rows`` —
  classifier rows compared and rows with the same argmax; their rates' ratio is the
  share of identical argmax over a window.
- ``aioserving_shadow_argmax_agreement`` — gauge: that share since start-up.
- ``aioserving_shadow_max_abs_difference`` — gauge: the largest absolute difference
  of any output element since start-up.
- ``aioserving_shadow_abs_difference`` — histogram of each request's largest difference.
- ``aioserving_shadow_latency`` — histogram, µs, of the shadow's own run.
- ``aioserving_shadow_differing_outputs`` — outputs that could not be compared or were
  not equal (strings), by output name.

prometheus-client adds ``_total`` to counters. Registered on the server's one registry;
``model_label`` bounds the model label (``ServerMetrics.model_label``). Version labels
take only configured versions' numbers.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from actors.shadow_compare import Agreement

_LATENCY_BUCKETS_MICROS = tuple(float(10 * 2.5**i) for i in range(18))
_DIFFERENCE_BUCKETS = (0.0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0)
_PAIR = ("model_name", "primary_version", "shadow_version")


class ShadowMetrics:
    """Implements ``actors.shadow_mirror.ShadowObserver``."""

    def __init__(
        self, registry: CollectorRegistry, *, model_label: Callable[[str], str] = str
    ) -> None:
        self._model_label = model_label
        self._largest: dict[tuple[str, str, str], float] = {}
        self._argmax: dict[tuple[str, str, str], list[int]] = {}
        self.requests = Counter(
            "aioserving_shadow_requests",
            "Shadow runs, by outcome (compared or failed).",
            (*_PAIR, "outcome"),
            registry=registry,
        )
        self.skipped = Counter(
            "aioserving_shadow_skipped",
            "Sampled shadow runs that were not started, by reason.",
            ("model_name", "reason"),
            registry=registry,
        )
        self.argmax_rows = Counter(
            "aioserving_shadow_argmax_rows",
            "Classifier rows compared between primary and shadow.",
            _PAIR,
            registry=registry,
        )
        self.argmax_equal_rows = Counter(
            "aioserving_shadow_argmax_equal_rows",
            "Classifier rows whose argmax was the same on primary and shadow.",
            _PAIR,
            registry=registry,
        )
        self.argmax_agreement = Gauge(
            "aioserving_shadow_argmax_agreement",
            "Share of classifier rows with the same argmax, since start-up.",
            _PAIR,
            registry=registry,
        )
        self.max_abs_difference = Gauge(
            "aioserving_shadow_max_abs_difference",
            "Largest absolute difference of any output element, since start-up.",
            _PAIR,
            registry=registry,
        )
        self.abs_difference = Histogram(
            "aioserving_shadow_abs_difference",
            "Each shadowed request's largest absolute output difference.",
            _PAIR,
            registry=registry,
            buckets=_DIFFERENCE_BUCKETS,
        )
        self.latency = Histogram(
            "aioserving_shadow_latency",
            "Wall time (in microseconds) of the shadow version's run.",
            _PAIR,
            registry=registry,
            buckets=_LATENCY_BUCKETS_MICROS,
        )
        self.differing_outputs = Counter(
            "aioserving_shadow_differing_outputs",
            "Outputs missing, of another shape, or (strings) not equal on the shadow.",
            (*_PAIR, "output"),
            registry=registry,
        )

    def _pair(self, model_name: str, primary: int, shadow: int) -> tuple[str, str, str]:
        return (self._model_label(model_name), str(primary), str(shadow))

    def shadow_skipped(self, model_name: str, reason: str) -> None:
        self.skipped.labels(self._model_label(model_name), reason).inc()

    def shadow_failed(
        self, model_name: str, primary_version: int, shadow_version: int, reason: str
    ) -> None:
        self.requests.labels(
            *self._pair(model_name, primary_version, shadow_version), "failed"
        ).inc()

    def shadow_compared(
        self,
        model_name: str,
        primary_version: int,
        shadow_version: int,
        agreement: Agreement,
        seconds: float,
    ) -> None:
        pair = self._pair(model_name, primary_version, shadow_version)
        self.requests.labels(*pair, "compared").inc()
        self.latency.labels(*pair).observe(seconds * 1e6)
        if agreement.max_abs_difference is not None:
            difference = agreement.max_abs_difference
            self.abs_difference.labels(*pair).observe(difference)
            largest = max(difference, self._largest.get(pair, 0.0))
            self._largest[pair] = largest
            self.max_abs_difference.labels(*pair).set(largest)
        if agreement.argmax_rows:
            self.argmax_rows.labels(*pair).inc(agreement.argmax_rows)
            self.argmax_equal_rows.labels(*pair).inc(agreement.argmax_equal_rows)
            tally = self._argmax.setdefault(pair, [0, 0])
            tally[0] += agreement.argmax_rows
            tally[1] += agreement.argmax_equal_rows
            self.argmax_agreement.labels(*pair).set(tally[1] / tally[0])
        for output in agreement.differing_outputs:
            self.differing_outputs.labels(*pair, output[:128]).inc()
