"""REST error texts in TF Serving's words; clients and dashboards match on these strings.

Sources: ``json_tensor_test.cc`` (FillPredictRequestFromJson cases: "Expecting tensor
size", "Expecting shape", "is not of expected type", "Expecting value/list but got
object", "Expecting object but got list", JSON parse errors), ``json_tensor.cc``
AddValueToFeature ("Only int64_t is supported"), and ``http_rest_api_handler.cc``
GetInfoMap (an unknown signature).
"""

from __future__ import annotations

import pytest

from tests.integration.server_process import ServerProcess

PREDICT = "/v1/models/half_plus_two:predict"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"instances": [[1, 2], [3, 4], [5, 6, 7]]}, "Expecting tensor size: 2 but got: 3"),
        ({"instances": [[1, 2], [3, 4], [[5, 6]]]}, "Expecting shape [2] but got: [1,2]"),
        ({"instances": [["a"]]}, 'JSON Value: "a" Type: String is not of expected type: float'),
        (
            {"instances": [[1.0], {"x": [1.0]}]},
            "Expecting value/list but got object at item 1 of input list",
        ),
        (
            {"instances": [{"x": [1.0]}, [1.0]]},
            "Expecting object but got list at item 1 of input list",
        ),
        (
            {"inputs": [[1.0], [2.0, 3.0]]},
            "Encountered list at unexpected size: 2 at level: 1 expected size: 1",
        ),
        ("nope", "JSON Parse error: Invalid value. at offset: 0"),
        ("{not json", "JSON Parse error: Missing a name for object member. at offset: 1"),
        (
            {"signature_name": "nope", "instances": [[1.0]]},
            'Serving signature name: "nope" not found in signature def',
        ),
    ],
)
def test_predict_errors_use_tf_serving_wording(
    server: ServerProcess, body: object, expected: str
) -> None:
    status, answer = server.http("POST", PREDICT, body)  # type: ignore[arg-type]
    assert status == 400, answer
    assert expected in answer["error"]


def test_uint64_feature_wording(server: ServerProcess) -> None:
    body = '{"signature_name": "regress_x_to_y", "examples": [{"x": 18446744073709551615}]}'
    status, answer = server.http("POST", "/v1/models/half_plus_two:regress", body)
    assert (status, answer) == (
        400,
        {"error": "Feature: x has uint64 element. Only int64_t is supported."},
    )
