"""Shadow runs: a sampled share of a model's requests, run again on another version.

The client's answer and latency never depend on a shadow. The data plane:

1. once it knows which version answers a request, asks ``decide(model, version,
   labels)`` (``actors.shadow_policy``; one dict lookup when the model has no rule);
2. on ``Mirror``, keeps its reference to the request's inputs (nothing is copied);
3. after the reply was handed to the transport, calls ``submit(...)`` with the
   primary's outputs and ``run``, a coroutine function that runs the same inputs on the
   shadow version and returns its outputs.

``submit`` never waits: it starts ``run`` in a task owned by this object, unless
``max_in_flight`` shadows are already running, in which case the shadow is dropped and
counted (``busy``). The task yields once before running, so the reply's task finishes
its write first. When it completes, the outputs are compared (``actors.shadow_compare``)
and the observer gets ``shadow_compared(model, primary_version, shadow_version,
agreement, seconds)`` (``seconds``: the shadow's own latency on the monotonic clock); a
failed shadow is reported as ``shadow_failed(..., reason)`` (the error's type name),
never raised, and never reaches the client. ``decide`` reports every skip other than
``no_rule`` and ``not_sampled`` as ``shadow_skipped(model, reason)``.

``configure(rules)`` swaps the rules (a reload). ``start()``/``stop(grace_seconds)`` have
the supervisor's part shape; ``stop`` cancels the shadows still running (they are
best-effort) and waits for them to end.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

import numpy as np

from actors.shadow_compare import Agreement, compare_outputs
from actors.shadow_policy import Mirror, Skip, shadow_decision
from config.shadow_config import ShadowRule

log = logging.getLogger(__name__)

Outputs = Mapping[str, np.ndarray[Any, Any]]
DEFAULT_MAX_IN_FLIGHT = 8
_NO_RULE = Skip("no_rule")
_QUIET_SKIPS = frozenset({"no_rule", "not_sampled"})


class ShadowObserver(Protocol):
    def shadow_skipped(self, model_name: str, reason: str) -> None: ...

    def shadow_compared(
        self,
        model_name: str,
        primary_version: int,
        shadow_version: int,
        agreement: Agreement,
        seconds: float,
    ) -> None: ...

    def shadow_failed(
        self, model_name: str, primary_version: int, shadow_version: int, reason: str
    ) -> None: ...


class ShadowMirror:
    """See the module docstring."""

    name = "shadow_mirror"

    def __init__(
        self,
        rules: Iterable[ShadowRule] = (),
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        observer: ShadowObserver | None = None,
        draw: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._max_in_flight = max_in_flight
        self._observer = observer
        self._draw = draw
        self._clock = clock
        self._rules: dict[str, tuple[ShadowRule, ...]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.configure(rules)

    def configure(self, rules: Iterable[ShadowRule]) -> None:
        by_model: dict[str, list[ShadowRule]] = {}
        for rule in rules:
            by_model.setdefault(rule.model_name, []).append(rule)
        self._rules = {name: tuple(found) for name, found in by_model.items()}

    def covers(self, model_name: str) -> bool:
        """Whether any rule mirrors ``model_name`` (one dict lookup; ``decide`` needs labels)."""
        return model_name in self._rules

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def decide(
        self,
        model_name: str,
        answered_version: int,
        labels: Mapping[str, int],
        *,
        primary_busy: bool = False,
    ) -> Mirror | Skip:
        """Whether this request is to be mirrored, and to which version."""
        rules = self._rules.get(model_name)
        if rules is None:
            return _NO_RULE
        decision = shadow_decision(
            rules,
            answered_version=answered_version,
            labels=labels,
            busy=primary_busy or len(self._tasks) >= self._max_in_flight,
            draw=self._draw,
        )
        if isinstance(decision, Skip) and decision.reason not in _QUIET_SKIPS:
            self._skipped(model_name, decision.reason)
        return decision

    def submit(
        self,
        model_name: str,
        primary_version: int,
        mirror: Mirror,
        primary_outputs: Outputs,
        run: Callable[[], Awaitable[Outputs]],
    ) -> bool:
        """Start the shadow run after the reply; False (and counted) when at the bound."""
        if len(self._tasks) >= self._max_in_flight:
            self._skipped(model_name, "busy")
            return False
        task = asyncio.get_running_loop().create_task(
            self._shadow(model_name, primary_version, mirror.version, primary_outputs, run),
            name=f"shadow:{model_name}:{mirror.version}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _shadow(
        self,
        model_name: str,
        primary_version: int,
        shadow_version: int,
        primary_outputs: Outputs,
        run: Callable[[], Awaitable[Outputs]],
    ) -> None:
        await asyncio.sleep(0)  # let the reply's task finish writing first
        started = self._clock()
        try:
            outputs = await run()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a shadow's failure is measured, never propagated
            log.debug(
                "shadow run of %s version %d failed", model_name, shadow_version, exc_info=True
            )
            if self._observer is not None:
                self._observer.shadow_failed(
                    model_name, primary_version, shadow_version, type(error).__name__
                )
            return
        seconds = self._clock() - started
        agreement = compare_outputs(primary_outputs, outputs)
        if self._observer is not None:
            self._observer.shadow_compared(
                model_name, primary_version, shadow_version, agreement, seconds
            )

    async def start(self) -> None:
        """Nothing to open: shadows start with ``submit`` (the supervisor's part shape)."""

    async def stop(self, grace_seconds: float = 0.0) -> None:
        """Cancel the shadows still running and wait for them to end.

        Shadows are best-effort, so ``grace_seconds`` is not spent waiting for them.
        """
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _skipped(self, model_name: str, reason: str) -> None:
        if self._observer is not None:
            self._observer.shadow_skipped(model_name, reason)
