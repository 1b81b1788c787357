"""Whether to mirror one answered request to a shadow version: a pure, stateless policy.

``shadow_decision(rules, answered_version=..., labels=..., busy=..., draw=...)`` looks at
the shadow rules of the request's model (``config.shadow_config``), the version that
answered, the model's current version labels and whether shadow work is saturated, and
returns ``Mirror(version)`` or ``Skip(reason)``:

1. The first rule whose primary matches (``*``; the answered version's number; a label
   that now points to the answered version) applies; none: ``Skip("no_rule")``.
2. The rule's sampling rate is decided first (``actors.sampling_policy``), before
   anything is copied: not sampled is ``Skip("not_sampled")``.
3. The shadow is resolved (a label through ``labels``): unknown is
   ``Skip("unresolved")``; the answered version itself is ``Skip("same_version")``.
4. ``busy`` (shadow work at its bound, or the primary under load): ``Skip("busy")``,
   which the caller counts as dropped. Shadows never queue.

The caller runs a ``Mirror`` only after the client's reply was sent.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable, Mapping

from actors.sampling_policy import should_sample
from config.shadow_config import ShadowRule, VersionRef


@dataclasses.dataclass(frozen=True, slots=True)
class Mirror:
    version: int


@dataclasses.dataclass(frozen=True, slots=True)
class Skip:
    reason: str  # no_rule, not_sampled, unresolved, same_version, busy


def _resolve(ref: VersionRef, labels: Mapping[str, int]) -> int | None:
    if ref.version is not None:
        return ref.version
    return labels.get(ref.label or "")


def shadow_decision(
    rules: Iterable[ShadowRule],
    *,
    answered_version: int,
    labels: Mapping[str, int],
    busy: bool,
    draw: Callable[[], float] = random.random,
) -> Mirror | Skip:
    """The decision for one answered request (see the module docstring)."""
    rule = next(
        (
            rule
            for rule in rules
            if rule.primary is None or _resolve(rule.primary, labels) == answered_version
        ),
        None,
    )
    if rule is None:
        return Skip("no_rule")
    if not should_sample(rule.sampling_rate, draw):
        return Skip("not_sampled")
    version = _resolve(rule.shadow, labels)
    if version is None:
        return Skip("unresolved")
    if version == answered_version:
        return Skip("same_version")
    if busy:
        return Skip("busy")
    return Mirror(version)
