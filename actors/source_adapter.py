"""The source adapter: turns aspired version paths into loaders for the model's platform.

It receives ``AspiredVersionRequest`` from the path poller and posts the matching
``AspiredLoadersRequest`` to the version manager. Creating a loader does no I/O; the
expensive part, ``Loader.load()``, runs later in the executor pool.

Platforms are a registry the composition root fills (``app.supervisor``): ``tensorflow``
maps to the SavedModel loader's factory. A new platform (ONNX, scikit-learn) registers
one more ``LoaderFactory``; configuration parsing rejects platforms it does not know.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from actors.actor import Actor
from actors.messages import AspiredLoader, AspiredLoadersRequest, AspiredVersionRequest
from servables.loader import Loader

log = logging.getLogger(__name__)

LoaderFactory = Callable[[str, int, str], Loader]  # (model name, version, path) -> loader


class SourceAdapter(Actor[AspiredVersionRequest]):
    """Maps each model to its platform's loader factory."""

    name = "source_adapter"

    def __init__(
        self,
        *,
        platform_of: Callable[[str], str],
        factories: Mapping[str, LoaderFactory],
        send: Callable[[AspiredLoadersRequest], None],
    ) -> None:
        super().__init__()
        self._platform_of = platform_of
        self._factories = factories
        self._send = send

    async def handle(self, message: AspiredVersionRequest) -> AspiredLoadersRequest | None:
        return self.adapt(message)

    def adapt(self, message: AspiredVersionRequest) -> AspiredLoadersRequest | None:
        platform = self._platform_of(message.model_name)
        factory = self._factories.get(platform)
        if factory is None:
            log.error("model %s: no loader for platform %r", message.model_name, platform)
            return None
        request = AspiredLoadersRequest(
            model_name=message.model_name,
            loaders=tuple(
                AspiredLoader(
                    version=v.version, loader=factory(message.model_name, v.version, v.path)
                )
                for v in message.versions
            ),
        )
        self._send(request)
        return request
