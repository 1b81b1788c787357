"""The source adapter, one ``handle`` step at a time: paths in, platform loaders out."""

from __future__ import annotations

from actors.messages import AspiredLoadersRequest, AspiredVersion, AspiredVersionRequest
from actors.source_adapter import LoaderFactory, SourceAdapter
from servables.loader import Loader
from servables.tensorflow.saved_model import SavedModelLoader, SavedModelOptions


def saved_model_factory(options: SavedModelOptions) -> LoaderFactory:
    """What the composition root registers for the "tensorflow" platform."""

    def make(model_name: str, version: int, path: str) -> Loader:
        return SavedModelLoader(model_name=model_name, version=version, path=path, options=options)

    return make


async def test_each_aspired_version_gets_a_loader_of_its_models_platform() -> None:
    sent: list[AspiredLoadersRequest] = []
    adapter = SourceAdapter(
        platform_of=lambda name: "tensorflow",
        factories={"tensorflow": saved_model_factory(SavedModelOptions(tags=("serve", "gpu")))},
        send=sent.append,
    )
    request = AspiredVersionRequest(
        model_name="m",
        versions=(AspiredVersion(version=2, path="/m/2"), AspiredVersion(version=1, path="/m/1")),
    )
    await adapter.handle(request)
    (forwarded,) = sent
    assert forwarded.model_name == "m"
    assert [(a.version, a.loader.path) for a in forwarded.loaders] == [(2, "/m/2"), (1, "/m/1")]
    assert all(isinstance(a.loader, SavedModelLoader) for a in forwarded.loaders)


async def test_an_empty_set_is_forwarded_so_the_model_unloads() -> None:
    sent: list[AspiredLoadersRequest] = []
    adapter = SourceAdapter(
        platform_of=lambda name: "tensorflow",
        factories={"tensorflow": saved_model_factory(SavedModelOptions())},
        send=sent.append,
    )
    await adapter.handle(AspiredVersionRequest(model_name="m", versions=()))
    assert sent == [AspiredLoadersRequest(model_name="m", loaders=())]


async def test_a_platform_without_a_loader_forwards_nothing() -> None:
    sent: list[AspiredLoadersRequest] = []
    adapter = SourceAdapter(platform_of=lambda name: "onnx", factories={}, send=sent.append)
    assert await adapter.handle(AspiredVersionRequest(model_name="m", versions=())) is None
    assert sent == []
