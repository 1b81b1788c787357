"""GetModelStatus and GetModelMetadata, written for gRPC and REST from plain values.

The REST documents are compared byte for byte with what the server printed when it still
went through a packed ``Any`` (commit adc9e95), which is how TF Serving prints them.
"""

from __future__ import annotations

from pathlib import Path

from tensorflow_serving.apis import get_model_metadata_pb2

from protocol.signatures import Signature, TensorSpec
from protocol.status import Code
from protocol.tf_serving import (
    model_metadata_json,
    model_metadata_response,
    model_status_json,
    model_status_response,
)
from protocol.versions import VersionState, VersionStatus

DATA = Path(__file__).parent / "data"
FLOAT = 1


def spec(alias: str, shape: tuple[int, ...] | None = (-1, 1)) -> TensorSpec:
    return TensorSpec(alias=alias, tensor_name=f"{alias}:0", dtype=FLOAT, shape=shape)


X_TO_Y = Signature(
    name="serving_default",
    method_name="tensorflow/serving/predict",
    inputs={"x": spec("x")},
    outputs={"y": spec("y")},
)


def test_status_json_is_tf_servings_document() -> None:
    status = VersionStatus(version=1, state=VersionState.AVAILABLE)
    assert model_status_json([status]) == (DATA / "half_status.json").read_bytes().rstrip(b"\n")


def test_a_failed_version_reports_its_error_with_the_loaders_code() -> None:
    failed = VersionStatus(
        version=2,
        state=VersionState.END,
        error="garbage saved_model.pb",
        error_code=Code.INVALID_ARGUMENT,
    )
    [proto] = model_status_response([failed]).model_version_status
    assert (proto.version, proto.state, proto.status.error_code, proto.status.error_message) == (
        2,
        VersionState.END.value,
        Code.INVALID_ARGUMENT.value,
        "garbage saved_model.pb",
    )


def test_metadata_json_is_tf_servings_document() -> None:
    expected = (DATA / "half_metadata.json").read_bytes().rstrip(b"\n")
    assert model_metadata_json("half", 1, {"serving_default": X_TO_Y}) == expected


def test_metadata_json_keeps_the_signatures_order_of_signatures_inputs_and_outputs() -> None:
    many = Signature(
        name="many",
        method_name="tensorflow/serving/predict",
        inputs={alias: spec(alias) for alias in ("b", "a", "c")},
        outputs={alias: spec(alias, None) for alias in ("z", "x", "y")},
    )
    text = model_metadata_json("m", 3, {"second": many, "first": X_TO_Y}).decode()
    positions = [text.index(f'"{key}": {{') for key in ("second", "b", "a", "c", "z", "x", "y")]
    assert positions == sorted(positions)
    assert text.index('"second": {') < text.index('"first": {')


def test_metadata_response_packs_the_signature_def_map() -> None:
    response = model_metadata_response("half", 1, {"serving_default": X_TO_Y})
    assert (response.model_spec.name, response.model_spec.version.value) == ("half", 1)
    unpacked = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(unpacked)
    assert unpacked.signature_def["serving_default"].inputs["x"].name == "x:0"
