"""How a model moves from one set of versions to the next: a pure, stateless policy.

``next_action(versions, resource_preserving=...)`` looks at one model's versions (their
state and whether they are aspired) and returns the ONE next thing to do, ``Load`` or
``Unload``, or ``None`` when nothing can be done now. The version manager applies the
action, updates the states, and asks again until the answer is ``None``; so the policy
never sees a half-applied decision, and tests can check it on plain tuples.

- Availability-preserving (TF Serving's default): a version that is no longer aspired is
  unloaded only once some aspired version is AVAILABLE, or when nothing is aspired any
  more (the operator removed every version). New aspired versions load at once. A new
  version that fails to load therefore leaves the previous one serving.
- Resource-preserving: versions that are no longer aspired are unloaded first; new
  versions load only once nothing of the model is AVAILABLE-but-unwanted or UNLOADING.

Only versions in START (aspired, load not begun) are loaded; the manager puts a version
in START when it becomes aspired, and never puts a version whose load failed while it
stayed aspired back there (it is not retried until it leaves the aspired set).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from protocol.versions import VersionState


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VersionView:
    """What the policy sees of one version."""

    version: int
    state: VersionState
    aspired: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Load:
    version: int


@dataclasses.dataclass(frozen=True, slots=True)
class Unload:
    version: int


Action = Load | Unload


def next_action(versions: Iterable[VersionView], *, resource_preserving: bool) -> Action | None:
    """The next action for one model, or None (see the module docstring)."""
    views = sorted(versions, key=lambda view: view.version)
    aspired = [v for v in views if v.aspired]
    unwanted = [v for v in views if not v.aspired]
    may_unload = (
        resource_preserving
        or not aspired
        or any(v.state is VersionState.AVAILABLE for v in aspired)
    )
    for view in unwanted:
        if view.state is VersionState.AVAILABLE and may_unload:
            return Unload(view.version)
    if resource_preserving and any(
        v.state in (VersionState.AVAILABLE, VersionState.UNLOADING) for v in unwanted
    ):
        return None  # load new versions only once the old ones are gone
    for view in aspired:
        if view.state is VersionState.START:
            return Load(view.version)
    return None
