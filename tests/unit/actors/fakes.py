"""Fakes shared by the actor unit tests: servables and loaders that need no TensorFlow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import get_model_metadata_pb2

from protocol.signatures import Signature, TensorSpec
from servables.loader import Loader
from servables.servable import Servable

X_TO_Y = Signature(
    name="serving_default",
    method_name="tensorflow/serving/predict",
    inputs={"x": TensorSpec(alias="x", tensor_name="x:0", dtype=types_pb2.DT_FLOAT, shape=(-1, 1))},
    outputs={
        "y": TensorSpec(alias="y", tensor_name="y:0", dtype=types_pb2.DT_FLOAT, shape=(-1, 1))
    },
)


class HalfPlusTwo(Servable):
    """y = 0.5 x + 2, computed with numpy; records every call's batch."""

    def __init__(self, model_name: str = "m", version: int = 1) -> None:
        self.model_name = model_name
        self.version = version
        self.signatures = {"serving_default": X_TO_Y}
        self.calls: list[Mapping[str, np.ndarray]] = []
        self.unloaded = False

    def signature_def_map(self) -> get_model_metadata_pb2.SignatureDefMap:
        return get_model_metadata_pb2.SignatureDefMap()

    def run(
        self, signature: Signature, inputs: Mapping[str, np.ndarray], output_names: Sequence[str]
    ) -> dict[str, np.ndarray]:
        self.calls.append(dict(inputs))
        return {"y": inputs["x"] * 0.5 + 2}

    def unload(self) -> None:
        self.unloaded = True


class FakeLoader(Loader):
    def __init__(self, model_name: str, version: int, fail: bool = False) -> None:
        self.model_name = model_name
        self.version = version
        self.path = f"/models/{model_name}/{version}"
        self.fail = fail
        self.attempts = 0

    def load(self) -> Servable:
        self.attempts += 1
        if self.fail:
            raise ValueError("garbage saved_model.pb")
        return HalfPlusTwo(self.model_name, self.version)
