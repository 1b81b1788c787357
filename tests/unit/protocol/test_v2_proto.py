"""V2 gRPC messages <-> our values: ``decode_infer_request`` and the answers' builders."""

from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest
from tritonclient.grpc import service_pb2

from protocol.status import Code, ServingError
from protocol.v2_json import config_json
from protocol.v2_messages import (
    IndexEntry,
    InferOutput,
    InferResult,
    ModelConfig,
    ModelStatistics,
    TensorMetadata,
)
from protocol.v2_proto import (
    config_response,
    decode_infer_request,
    index_response,
    infer_response,
    stats_response,
)

FLOAT = 1


def request_with(*inputs: tuple[str, str, list[int]]) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name="m")
    for name, datatype, shape in inputs:
        request.inputs.add(name=name, datatype=datatype, shape=shape)
    return request


def test_raw_and_typed_contents_decode_to_the_same_arrays() -> None:
    raw = request_with(("x", "FP32", [2]))
    raw.raw_input_contents.append(struct.pack("<2f", 1.5, -2.0))
    raw.outputs.add(name="y")
    raw.parameters["signature_name"].string_param = "s"
    typed = request_with(("x", "FP32", [2]))
    typed.inputs[0].contents.fp32_contents.extend([1.5, -2.0])
    for request in (raw, typed):
        decoded = decode_infer_request(request)
        [tensor] = decoded.inputs
        assert (tensor.name, tensor.datatype) == ("x", "FP32")
        np.testing.assert_array_equal(tensor.array, np.array([1.5, -2.0], np.float32))
    assert [o.name for o in decode_infer_request(raw).outputs] == ["y"]
    assert decode_infer_request(raw).parameters == {"signature_name": "s"}


ONE = struct.pack("<f", 1.0)


@pytest.mark.parametrize(
    ("inputs", "raw", "message"),
    [
        (
            [("x", "FP32", [1]), ("z", "FP32", [1])],
            [ONE],
            "raw_input_contents has 1 entries but the request has 2 inputs",
        ),
        ([("x", "FP32", [1]), ("x", "FP32", [1])], [ONE, ONE], "input 'x' appears more than once"),
        ([("h", "FP16", [1])], [], "input 'h': datatype 'FP16' needs raw_input_contents"),
    ],
)
def test_bad_requests_are_invalid_argument_naming_the_input(
    inputs: list[tuple[str, str, list[int]]], raw: list[bytes], message: str
) -> None:
    request = request_with(*inputs)
    request.raw_input_contents.extend(raw)
    with pytest.raises(ServingError) as caught:
        decode_infer_request(request)
    assert (caught.value.code, caught.value.message) == (Code.INVALID_ARGUMENT, message)


def test_infer_response_sends_raw_output_contents() -> None:
    result = InferResult(
        model_name="m",
        model_version="3",
        outputs=(InferOutput(name="y", array=np.array([[2.5]], np.float32), dtype=FLOAT),),
    )
    response = infer_response(result, "r1")
    assert (response.model_name, response.model_version, response.id) == ("m", "3", "r1")
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("y", "FP32", [1, 1])
    ]
    assert list(response.raw_output_contents) == [struct.pack("<f", 2.5)]


def test_config_stats_and_index_answers() -> None:
    tensor = TensorMetadata(name="s", datatype="BYTES", shape=(-1,))
    config = config_response(
        ModelConfig(name="m", platform="p", max_batch_size=8, inputs=(tensor,), outputs=())
    ).config
    assert (config.max_batch_size, config.input[0].data_type) == (8, 13)  # TYPE_STRING
    stats = stats_response([ModelStatistics(name="m", success_count=2, execution_count=1)])
    [entry] = stats.model_stats
    assert (entry.inference_count, entry.execution_count, entry.version) == (2, 1, "")
    index = index_response([IndexEntry(name="m", version="", state="UNAVAILABLE", reason="r")])
    assert [(e.name, e.version, e.state, e.reason) for e in index.models] == [
        ("m", "", "UNAVAILABLE", "r")
    ]


def test_a_triton_document_is_answered_whole_on_grpc_and_rest() -> None:
    document = {
        "name": "m",
        "backend": "python",
        "max_batch_size": 4,
        "input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [4]}],
        "output": [{"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": [4]}],
        "dynamic_batching": {"max_queue_delay_microseconds": 100},
        "parameters": {"k": {"string_value": "v"}},
    }
    summary = TensorMetadata(name="INPUT0", datatype="FP32", shape=(4,))
    config = ModelConfig(
        name="m",
        platform="python",
        max_batch_size=4,
        inputs=(summary,),
        outputs=(),
        triton_document=document,
    )
    answer = config_response(config).config
    assert (answer.backend, answer.max_batch_size, list(answer.input[0].dims)) == ("python", 4, [4])
    assert answer.dynamic_batching.max_queue_delay_microseconds == 100
    assert answer.parameters["k"].string_value == "v"
    assert orjson.loads(config_json(config)) == document
