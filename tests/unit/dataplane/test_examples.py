"""Classify, Regress and MultiInference through the data plane (``dataplane.examples``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from dataplane.examples import ExampleAPIs
from protocol.model_ref import ModelRef
from protocol.signatures import CLASSIFY_METHOD, REGRESS_METHOD, Signature
from protocol.status import Code, ServingError
from servables.servable import Servable
from tests.unit.servables.tensorflow.test_example_apis import (
    ExampleModel,
    example,
    examples_input,
    multi_request,
)

# --- the async API goes through the data plane ------------------------------------------------


class FakePlane:
    """Resolves to one model and runs calls inline, recording what went through ``run``."""

    observability = None  # no tracing, request logging or shadows

    def __init__(self, model: Servable) -> None:
        self.model = model
        self.resolved: list[ModelRef] = []
        self.runs: list[tuple[str, tuple[str, ...], float | None]] = []

    def resolve(self, ref: ModelRef) -> Servable:
        self.resolved.append(ref)
        if ref.name != "m":
            raise ServingError(
                Code.NOT_FOUND, f"Servable not found for request: Latest({ref.name})"
            )
        return self.model

    async def run(
        self,
        servable: Servable,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: tuple[str, ...],
        timeout_seconds: float | None = None,
    ) -> dict[str, np.ndarray]:
        self.runs.append((signature.name, output_names, timeout_seconds))
        return servable.run(signature, inputs, output_names)


async def test_async_classify_and_multi_inference_go_through_the_plane() -> None:
    plane = FakePlane(ExampleModel())
    apis = ExampleAPIs(plane)  # type: ignore[arg-type]
    response = await apis.classify(
        ModelRef(name="m"), "scores_only", examples_input(example(x=2.0)), 5.0
    )
    assert round(response.result.classifications[0].classes[0].score, 3) == 0.8
    multi = await apis.multi_inference(
        multi_request(("m", "scores_only", CLASSIFY_METHOD), ("m", "regress", REGRESS_METHOD)), None
    )
    assert len(multi.results) == 2
    assert plane.runs == [
        ("scores_only", ("scores",), 5.0),
        ("scores_only+regress", ("scores_only/scores", "regress/outputs"), None),  # one call
    ]


async def test_async_errors_propagate_as_serving_errors() -> None:
    apis = ExampleAPIs(FakePlane(ExampleModel()))  # type: ignore[arg-type]
    with pytest.raises(ServingError) as raised:
        await apis.regress(ModelRef(name="nope"), "regress", examples_input(example(x=2.0)), None)
    assert raised.value.code is Code.NOT_FOUND
