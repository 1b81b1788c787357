"""The immutable routing snapshot that frontends read without locks.

The version manager is the only writer: after every state change it builds a new
``RoutingSnapshot`` and swaps it into the ``RoutingTable`` with one attribute assignment,
which is atomic for readers on the event loop. A reader resolves a request against the
snapshot it got and keeps a reference to the ``Servable``; a version that is unloaded
meanwhile stays alive until its in-flight requests finish (see the in-flight count on
``servables.Servable``).

Resolution follows TF Serving's rules and messages:
- no model name: INVALID_ARGUMENT "ModelSpec has no name specified.";
- no version and no label: the highest AVAILABLE version;
- an unknown model or version: NOT_FOUND "Servable not found for request: ...";
- an unknown label: INVALID_ARGUMENT "Unrecognized servable version label: ...", also
  when the model itself is unknown, because TF Serving resolves a label before it looks the
  servable up (``ServerCore::ServableRequestFromModelSpec``);
- GetModelStatus ignores a label and lists every version, as TF Serving's
  ``GetModelStatusImpl`` looks only at the name and a numeric version.
Each error carries its ``protocol.status.Reason`` (``UNKNOWN_MODEL``,
``NO_AVAILABLE_VERSION``, ``UNKNOWN_VERSION``, ``VERSION_NOT_READY``, ``UNKNOWN_LABEL``)
so that an API with its own wording (V2) can tell them apart without reading the text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from protocol.status import Reason, invalid_argument, not_found
from protocol.versions import VersionStatus
from servables.servable import Servable


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ModelRoute:
    """Everything a frontend needs about one model, frozen at publication time."""

    name: str
    servables: Mapping[int, Servable] = dataclasses.field(default_factory=dict)
    labels: Mapping[str, int] = dataclasses.field(default_factory=dict)
    statuses: Mapping[int, VersionStatus] = dataclasses.field(default_factory=dict)
    latest: Servable | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RoutingSnapshot:
    """model name -> ``ModelRoute``; build a new one for every change."""

    models: Mapping[str, ModelRoute] = dataclasses.field(default_factory=dict)

    def resolve(
        self, model_name: str, version: int | None = None, label: str | None = None
    ) -> Servable:
        """The servable a request names; raises ``ServingError`` as TF Serving would."""
        if not model_name:
            raise invalid_argument("ModelSpec has no name specified.")
        route = self.models.get(model_name)
        if version is None and not label:
            if route is None or route.latest is None:
                raise not_found(
                    f"Servable not found for request: Latest({model_name})",
                    Reason.UNKNOWN_MODEL if route is None else Reason.NO_AVAILABLE_VERSION,
                )
            return route.latest
        if label:
            labelled = route.labels.get(label) if route is not None else None
            if labelled is None:
                raise invalid_argument(
                    f"Unrecognized servable version label: {label}", Reason.UNKNOWN_LABEL
                )
            version = labelled
        assert version is not None
        servable = route.servables.get(version) if route is not None else None
        if servable is None:
            known = route is not None and version in route.statuses
            raise not_found(
                f"Servable not found for request: Specific({model_name}, {version})",
                Reason.VERSION_NOT_READY if known else Reason.UNKNOWN_VERSION,
            )
        return servable

    def statuses(
        self, model_name: str, version: int | None = None, label: str | None = None
    ) -> list[VersionStatus]:
        """Version statuses for GetModelStatus, newest first; errors match TF Serving.

        ``label`` is accepted and ignored: TF Serving's ``GetModelStatusImpl`` answers every
        version of the model when no numeric version is given, whatever the label.
        """
        del label  # deliberately unused, see above
        route = self.models.get(model_name)
        if route is None or not route.statuses:
            raise not_found(
                f"Could not find any versions of model {model_name}", Reason.UNKNOWN_MODEL
            )
        if version is None:
            return [route.statuses[v] for v in sorted(route.statuses, reverse=True)]
        status = route.statuses.get(version)
        if status is None:
            raise not_found(
                f"Could not find version {version} of model {model_name}", Reason.UNKNOWN_VERSION
            )
        return [status]


class RoutingTable:
    """Holds the current snapshot. Readers take ``table.snapshot``; only the manager writes."""

    __slots__ = ("snapshot",)

    def __init__(self) -> None:
        self.snapshot = RoutingSnapshot()

    def publish(self, snapshot: RoutingSnapshot) -> None:
        self.snapshot = snapshot
