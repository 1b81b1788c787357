"""REST URL forms, as TF Serving's ``http_rest_api_handler_test.cc`` and ``http_rest_api_util.cc`` define them.

Covers: versions that do not fit int64 (400 "Failed to convert version", on every URL
form), percent-encoded model names (``a%2Fb%3Ac`` names ``a/b:c``), the case-insensitive
``/v1/models`` prefix, "Missing model name" for ``GET /v1/models``, a label ignored by
``GET`` status (``get_model_status_impl_test.cc``: status is looked up by version only),
and 400 "Malformed request" for methods other than GET and POST. No bad URL is a 500.
"""

from __future__ import annotations

import urllib.request

import pytest

from tests.integration.server_process import ServerProcess

TOO_BIG = "18446744073709551615"
PREDICT = {"instances": [[1.0]]}
EXAMPLES = {"examples": [{"x": 2.0}]}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", f"/v1/models/half_plus_two/versions/{TOO_BIG}:predict", PREDICT),
        ("POST", f"/v1/models/half_plus_two/versions/{TOO_BIG}:regress", EXAMPLES),
        ("POST", f"/v1/models/half_plus_two/versions/{TOO_BIG}:classify", EXAMPLES),
        ("GET", f"/v1/models/half_plus_two/versions/{TOO_BIG}", None),
        ("GET", f"/v1/models/half_plus_two/versions/{TOO_BIG}/metadata", None),
        ("GET", "/v1/models/half_plus_two/versions/9223372036854775808", None),
    ],
)
def test_version_past_int64_is_failed_to_convert(
    server: ServerProcess, method: str, path: str, body: object
) -> None:
    """http_rest_api_util.cc ParseModelInfo: absl::SimpleAtoi fails -> InvalidArgument."""
    status, answer = server.http(method, path, body)  # type: ignore[arg-type]
    version = path.split("/versions/")[1].split(":")[0].split("/")[0]
    assert (status, answer) == (400, {"error": f"Failed to convert version: {version} to numeric."})


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/models/half_plus_two/versions/9223372036854775807:predict", PREDICT),
        ("POST", "/v1/models/half_plus_two/versions/9223372036854775807:regress", EXAMPLES),
        ("GET", "/v1/models/half_plus_two/versions/9223372036854775807", None),
        ("GET", "/v1/models/half_plus_two/versions/9223372036854775807/metadata", None),
    ],
)
def test_largest_int64_version_is_simply_not_found(
    server: ServerProcess, method: str, path: str, body: object
) -> None:
    status, answer = server.http(method, path, body)  # type: ignore[arg-type]
    assert status == 404, answer
    assert "half_plus_two" in answer["error"]


def test_encoded_slash_and_colon_reach_the_model_they_name(server: ServerProcess) -> None:
    """http_rest_api_util.cc: match the raw path, then DecodeArg the model name."""
    status, answer = server.http("POST", "/v1/models/a%2Fb%3Ac:predict", PREDICT)
    assert (status, answer) == (200, {"predictions": [[2.5]]})
    status, answer = server.http("GET", "/v1/models/a%2Fb%3Ac")
    assert status == 200 and answer["model_version_status"][0]["version"] == "123"
    status, answer = server.http("POST", "/v1/models/half%5Fplus%5Ftwo:predict", PREDICT)
    assert (status, answer) == (200, {"predictions": [[2.5]]})


def test_encoded_label_is_decoded(server: ServerProcess) -> None:
    status, answer = server.http("POST", "/v1/models/two_versions/labels/c%61nary:predict", PREDICT)
    assert status == 200, answer


@pytest.mark.parametrize(
    "path", ["/V1/MODELS/half_plus_two:predict", "/v1/Models/half_plus_two/Versions/123:predict"]
)
def test_the_url_matches_case_insensitively(server: ServerProcess, path: str) -> None:
    """The patterns in http_rest_api_util.cc are ``(?i)``."""
    assert server.http("POST", path, PREDICT) == (200, {"predictions": [[2.5]]})


def test_the_verb_is_compared_exactly(server: ServerProcess) -> None:
    """http_rest_api_handler.cc compares ``method == "predict"`` after the ``(?i)`` match."""
    path = "/v1/models/half_plus_two:PREDICT"
    assert server.http("POST", path, PREDICT) == (
        400,
        {"error": f"Malformed request: POST {path}"},
    )


def test_status_with_upper_case_prefix(server: ServerProcess) -> None:
    status, answer = server.http("GET", "/V1/MODELS/half_plus_two")
    assert status == 200 and answer["model_version_status"][0]["state"] == "AVAILABLE"


def test_get_models_without_a_name_is_missing_model_name(server: ServerProcess) -> None:
    """http_rest_api_handler_test.cc: ``GET /v1/models`` -> "Missing model name in request."."""
    assert server.http("GET", "/v1/models") == (400, {"error": "Missing model name in request."})


def test_status_ignores_the_label_and_lists_every_version(server: ServerProcess) -> None:
    """get_model_status_impl.cc looks at ``model_spec.version`` only."""
    for path in ("/v1/models/two_versions/labels/canary", "/v1/models/two_versions/labels/nope"):
        status, answer = server.http("GET", path)
        assert status == 200, answer
        assert sorted(s["version"] for s in answer["model_version_status"]) == ["123", "124"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_malformed_requests(server: ServerProcess, method: str) -> None:
    """The handler takes every method under /v1; only GET and POST match a pattern."""
    status, answer = server.http(method, "/v1/models/half_plus_two", "{}")
    assert status == 400
    assert answer == {"error": f"Malformed request: {method} /v1/models/half_plus_two"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/models/half_plus_two/versions/-1:predict"),
        ("POST", "/v1/models/half_plus_two/versions/:predict"),
        ("POST", "/v1/models/half_plus_two/labels/:predict"),
        ("POST", "/v1/models/half_plus_two/versions/1/labels/x:predict"),
        ("POST", "/v1/models/:predict"),
        ("POST", "/v1/models/half_plus_two:explain"),
        ("GET", "/v1/models/half_plus_two/versions/1.5"),
        ("GET", "/v1/models/half_plus_two/"),
        ("GET", "/v1/models/half_plus_two/metadata/x"),
    ],
)
def test_url_sweep_never_answers_500(server: ServerProcess, method: str, path: str) -> None:
    status, answer = server.http(method, path, PREDICT if method == "POST" else None)
    assert status == 400, answer
    assert answer["error"].startswith("Malformed request")


def test_invalid_utf8_in_an_encoded_name_is_a_clear_400(server: ServerProcess) -> None:
    status, answer = server.http("POST", "/v1/models/%FF%FE:predict", PREDICT)
    assert status == 400 and "Failed to decode model name" in answer["error"]


def test_the_server_still_serves_after_the_sweep(server: ServerProcess) -> None:
    request = urllib.request.Request(server.rest_url + "/v1/models/half_plus_two", method="GET")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
