"""The path poller: turns what is on disk into the FULL aspired set of each model.

Every ``poll_wait_seconds`` it lists each model's ``base_path``, keeps the numeric folders that hold a complete
SavedModel, applies the model's version policy, and posts one ``AspiredVersionRequest``
per model to the source adapter. It holds no opinion about what is loaded: a version
missing from the request gets unloaded downstream.

With ``poll_wait_seconds`` 0 it keeps polling once a second only until every version
folder it saw is complete, then stops; with a negative value it scans once, at start-up,
and never again.

Folders whose names are not numbers are ignored. ``00000123`` is version 123.

A base path with no numbered folder whose own files are the model (its platform's
artifact directly in it, as KServe's storage initializer lays out ``/mnt/models``) is
served as version 1, from the base path itself, under the same half-copy rule; this is
logged once. As soon as a numbered folder appears, only numbered folders count.

A version folder that is still being copied must never be loaded half-written. The rule:
a folder is *complete* once it holds its platform's artifact (``saved_model.pb`` or
``.pbtxt``, ``model.onnx``, ``model.joblib``/``model.pkl``, ``model.ubj``/``.json``/``.bst``:
``servables.version_folder.PLATFORM_FILES``) and its content
fingerprint (every file's relative path, size and mtime) is unchanged between two
consecutive polls. At start-up, so that existing exports load at once, a folder whose
newest file is older than ``settle_seconds`` counts as complete on first sight. Writers
that rename a finished folder into place (as ``examples.export_digits`` does) are always
safe.

A missing ``base_path`` keeps whatever is loaded (no request is sent, as TF Serving does);
an existing but empty one sends an empty set, which unloads the model. Each situation is
logged once when it begins, not on every poll.

Unloaded by request (the V2 repository extension's unload and load). The poller owns the
set of models an operator unloaded, because it is the one place that says what each
model should serve: the path to the version manager stays a single ordered line
(poller -> source adapter -> manager), so a load, an unload and a config change can never
overtake each other.
- ``UnloadModel``: the model joins the set and its aspired set is sent, empty, at once and
  on every later poll, so all its versions unload (each after its in-flight requests) and
  new folders on disk are not loaded.
- ``LoadModel``: the model leaves the set and is scanned at once, so its versions load
  again (a version that failed to load is retried, having left the aspired set while
  unloaded). On a model that is not unloaded it is a rescan now.
- A config change (``SetModels``) clears the mark of a model whose base path, platform or
  version policy changed, and of a model that left the config; a reload that leaves the
  model's entry as it was (labels aside) keeps it unloaded.
Both commands answer NOT_FOUND for a model that is not in the current config.

Object storage. A ``base_path`` of ``s3://bucket/prefix`` is scanned by the
``ObjectStoreSource`` (``actors.object_store``: its own half-copy rule, downloads into a
local cache, freeing of versions no longer wanted) from a worker thread, since its calls
block; the aspired set then names the cached folders. Its situations (store unreachable,
bucket missing, waiting, empty) are logged once when they begin, as for a local folder.
Without a source (``object_store=None``) such a model is logged as unreadable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import os
import time
from collections.abc import Callable, Mapping

from actors.actor import Actor
from actors.messages import AspiredVersion, AspiredVersionRequest
from actors.object_store import ObjectStoreSource, StoreScan, is_object_store_url
from actors.version_policy import aspired_versions, version_number
from config.model_config import ModelSettings
from protocol.status import not_found
from servables.version_folder import has_artifact

log = logging.getLogger(__name__)


class _Situation(enum.Enum):
    OK = "ok"
    MISSING = "missing"
    UNREADABLE = "unreadable"
    EMPTY = "empty"
    WAITING = "waiting"
    UNVERSIONED = "unversioned"


_INFO_SITUATIONS = frozenset({_Situation.OK, _Situation.UNVERSIONED})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Poll:
    """Command: scan every model's base path now."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SetModels:
    """Command: replace the set of models to watch (start-up and config reload)."""

    models: tuple[ModelSettings, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UnloadModel:
    """Command: serve no version of ``model_name`` until ``LoadModel`` or a config change."""

    model_name: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LoadModel:
    """Command: serve ``model_name``'s versions again (undo ``UnloadModel``) and scan now."""

    model_name: str


PollerMessage = Poll | SetModels | UnloadModel | LoadModel
Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(path: str) -> Fingerprint:
    """Relative path, size and mtime of every file below ``path``, sorted."""
    entries = []
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            try:
                info = os.stat(full)
            except OSError:
                continue  # vanished while we looked: the next poll sees the new state
            entries.append((os.path.relpath(full, path), info.st_size, info.st_mtime_ns))
    entries.sort()
    return tuple(entries)


def _same_source(a: ModelSettings, b: ModelSettings) -> bool:
    """True when a config change leaves what ``a`` serves as it was (labels do not count)."""
    return (a.base_path, a.platform, a.version_policy) == (
        b.base_path,
        b.platform,
        b.version_policy,
    )


class PathPoller(Actor[PollerMessage]):
    """Watches base paths; posts ``AspiredVersionRequest`` to ``send``."""

    name = "path_poller"

    def __init__(
        self,
        *,
        models: tuple[ModelSettings, ...],
        send: Callable[[AspiredVersionRequest], None],
        poll_wait_seconds: float = 1.0,
        settle_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
        object_store: ObjectStoreSource | None = None,
    ) -> None:
        super().__init__()
        self._store = object_store
        self._models: dict[str, ModelSettings] = {m.name: m for m in models}
        self._send = send
        self._poll_wait_seconds = poll_wait_seconds
        self._settle_seconds = settle_seconds
        self._clock = clock  # wall clock: compared with file mtimes
        self._seen: dict[str, Fingerprint] = {}  # version path -> fingerprint at last poll
        self._complete: set[str] = set()  # version paths known to be complete
        self._ignored: set[str] = set()  # version folders already logged as ignored (above int64)
        self._situations: dict[str, _Situation] = {}
        # Replaced, never mutated, so readers on the loop (readiness) see a consistent set.
        self._unloaded: frozenset[str] = frozenset()

    @property
    def models(self) -> Mapping[str, ModelSettings]:
        return self._models

    @property
    def unloaded(self) -> frozenset[str]:
        """Models unloaded by request (see the module docstring)."""
        return self._unloaded

    async def on_start(self) -> None:
        await self._poll()

    async def on_stop(self) -> None:
        if self._store is not None:
            self._store.close()

    async def start(self) -> None:
        await super().start()
        if self._poll_wait_seconds >= 0:
            self.spawn(self._tick(), "ticker")

    async def _tick(self) -> None:
        """Posts ``Poll`` on schedule. With a wait of 0, polls only until nothing is pending."""
        interval = self._poll_wait_seconds or 1.0
        deadline = time.monotonic() + interval
        while self._poll_wait_seconds > 0 or self.pending():
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            deadline += interval
            self.post(Poll())

    async def handle(self, message: PollerMessage) -> None:
        if isinstance(message, (UnloadModel, LoadModel)):
            model = self._models.get(message.model_name)
            if model is None:
                raise not_found(f"model '{message.model_name}' is not in the model config")
            if isinstance(message, UnloadModel):
                self._unloaded |= {model.name}
                log.info("model %s: unloaded by request", model.name)
            elif model.name in self._unloaded:
                self._unloaded -= {model.name}
                log.info("model %s: loaded by request", model.name)
            await self._poll((model,))
            return
        if isinstance(message, SetModels):
            new = {m.name: m for m in message.models}
            self._unloaded = frozenset(
                name
                for name in self._unloaded
                if name in new and _same_source(new[name], self._models[name])
            )
            self._models = new
            for gone in set(self._situations) - set(self._models):
                del self._situations[gone]
            if self._store is not None:
                self._store.retain(m.base_path for m in new.values())
        await self._poll()

    async def _poll(self, models: tuple[ModelSettings, ...] | None = None) -> None:
        """Scan ``models`` (default: all) and send their aspired sets; stores off the loop."""
        for model in self._models.values() if models is None else models:
            if self._store is not None and self._is_store_model(model):
                result = await asyncio.to_thread(self._store.scan, model)
                request = self._store_request(model, result)
            else:
                request = self._scan(model)
            if request is not None:
                self._send(request)

    def poll_once(self) -> list[AspiredVersionRequest]:
        """Scan every model and send its aspired set; returns what was sent."""
        sent = []
        for model in self._models.values():
            request = self._scan(model)
            if request is not None:
                self._send(request)
                sent.append(request)
        return sent

    def pending(self) -> bool:
        """True while some version folder was seen but is not yet known complete."""
        store_pending = self._store is not None and self._store.pending()
        return store_pending or any(path not in self._complete for path in self._seen)

    def _is_store_model(self, model: ModelSettings) -> bool:
        return model.name not in self._unloaded and is_object_store_url(model.base_path)

    def _store_request(
        self, model: ModelSettings, result: StoreScan
    ) -> AspiredVersionRequest | None:
        state = _Situation(result.state)
        self._note(model, state, "%s: " + result.detail.replace("%", "%%"))
        if not result.send:
            return None
        return AspiredVersionRequest(
            model_name=model.name,
            versions=tuple(
                AspiredVersion(version=v, path=path) for v, path in result.versions.items()
            ),
        )

    def _scan(self, model: ModelSettings) -> AspiredVersionRequest | None:
        """One model, synchronously (a store model too: ``poll_once`` is for tests)."""
        if model.name in self._unloaded:
            return AspiredVersionRequest(model_name=model.name, versions=())
        if is_object_store_url(model.base_path):
            if self._store is None:
                self._note(model, _Situation.UNREADABLE, "%s: no object-store source configured")
                return None
            return self._store_request(model, self._store.scan(model))
        try:
            names = os.listdir(model.base_path)
        except FileNotFoundError:
            self._note(
                model, _Situation.MISSING, "base path %s does not exist; keeping loaded versions"
            )
            return None
        except OSError as error:
            self._note(model, _Situation.UNREADABLE, f"base path %s cannot be read ({error})")
            return None
        found: dict[int, str] = {}
        if not any(version_number(n) is not None for n in names) and has_artifact(
            model.platform, model.base_path
        ):
            return self._unversioned_request(model)
        for name in names:
            version = version_number(name)
            path = os.path.join(model.base_path, name)
            if version is None and name.isascii() and name.isdigit() and path not in self._ignored:
                self._ignored.add(path)
                log.warning("ignoring version folder %s: its number does not fit in int64", path)
            if (
                version is not None
                and os.path.isdir(path)
                and self._is_complete(model.platform, path)
            ):
                found[version] = path
        if not found:
            if any(version_number(n) is not None for n in names):
                self._note(model, _Situation.WAITING, "no complete version under %s yet")
                return None
            self._note(model, _Situation.EMPTY, "no versions found under base path %s")
        else:
            self._note(model, _Situation.OK, "found versions under %s")
        wanted = aspired_versions(model.version_policy, found)
        return AspiredVersionRequest(
            model_name=model.name,
            versions=tuple(AspiredVersion(version=v, path=found[v]) for v in wanted),
        )

    def _unversioned_request(self, model: ModelSettings) -> AspiredVersionRequest | None:
        """The model files lie directly in the base path: they are version 1."""
        if not self._is_complete(model.platform, model.base_path):
            self._note(model, _Situation.WAITING, "model files in %s are still being written")
            return None
        self._note(
            model,
            _Situation.UNVERSIONED,
            "base path %s holds the model files directly, with no numbered version folder: "
            "serving them as version 1",
        )
        wanted = aspired_versions(model.version_policy, {1: model.base_path})
        return AspiredVersionRequest(
            model_name=model.name,
            versions=tuple(AspiredVersion(version=v, path=model.base_path) for v in wanted),
        )

    def _is_complete(self, platform: str, path: str) -> bool:
        if path in self._complete:
            if has_artifact(platform, path):
                return True
            self._complete.discard(path)  # replaced or being rewritten: check again
        if not has_artifact(platform, path):
            self._seen.pop(path, None)
            return False
        current = fingerprint(path)
        previous = self._seen.get(path)
        self._seen[path] = current
        newest_mtime = max((mtime for _, _, mtime in current), default=0) / 1e9
        settled = self._clock() - newest_mtime >= self._settle_seconds
        if current == previous or (previous is None and settled):
            self._complete.add(path)
            del self._seen[path]
            return True
        return False

    def _note(self, model: ModelSettings, situation: _Situation, template: str) -> None:
        if self._situations.get(model.name) is situation:
            return
        self._situations[model.name] = situation
        level = logging.INFO if situation in _INFO_SITUATIONS else logging.WARNING
        log.log(level, "model %s: " + template, model.name, model.base_path)
