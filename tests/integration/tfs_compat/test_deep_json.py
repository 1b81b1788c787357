"""Deeply nested JSON bodies, as TF Serving's rapidjson (an iterative parser) reads them.

Source: ``util/json_tensor_test.cc`` (DeeplyNestedWellFormed: 500,000 levels under a key
the server ignores are accepted; the same nesting as ``signature_name`` is "key must be a
string value") and ``model_servers/http_rest_api_handler_test.cc`` (the REST handler reads
only ``signature_name``, ``instances``/``inputs``, ``examples`` and ``context``).
"""

from __future__ import annotations

import pytest

from tests.integration.server_process import ServerProcess

LEVELS = 500_000
DEEP_LIST = "[" * LEVELS + "]" * LEVELS
DEEP_OBJECT = '{"a":' * LEVELS + "1" + "}" * LEVELS


def _post(server: ServerProcess, path: str, body: str) -> tuple[int, object]:
    return server.http("POST", path, body.encode())


@pytest.mark.parametrize("deep", [DEEP_LIST, DEEP_OBJECT], ids=["lists", "objects"])
def test_deep_nesting_under_an_ignored_key_is_accepted(server: ServerProcess, deep: str) -> None:
    code, body = _post(
        server, "/v1/models/half_plus_two:predict", f'{{"instances": [1.0], "ignored": {deep}}}'
    )
    assert (code, body) == (200, {"predictions": [2.5]})


def test_deep_nesting_under_an_ignored_key_of_regress_is_accepted(server: ServerProcess) -> None:
    code, body = _post(
        server,
        "/v1/models/half_plus_two:regress",
        '{"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}], '
        f'"ignored": {DEEP_LIST}}}',
    )
    assert (code, body) == (200, {"results": [2.5]})


@pytest.mark.parametrize("method", ["predict", "regress"])
def test_deep_nesting_as_signature_name_is_key_must_be_a_string_value(
    server: ServerProcess, method: str
) -> None:
    payload = '"instances": [1.0]' if method == "predict" else '"examples": [{"x": 1.0}]'
    code, body = _post(
        server,
        f"/v1/models/half_plus_two:{method}",
        f'{{{payload}, "signature_name": {DEEP_LIST}}}',
    )
    assert code == 400
    assert isinstance(body, dict)
    assert "key must be a string value" in body["error"]


def test_deep_nesting_that_is_not_well_formed_is_a_parse_error(server: ServerProcess) -> None:
    broken = "[" * LEVELS + "]" * (LEVELS - 1)
    code, body = _post(
        server, "/v1/models/half_plus_two:predict", f'{{"instances": [1.0], "ignored": {broken}}}'
    )
    assert code == 400
    assert isinstance(body, dict)
    assert body["error"].startswith("JSON Parse error: Missing a comma or ']'"), body


def test_deep_nesting_where_a_tensor_is_read_names_the_key(server: ServerProcess) -> None:
    code, body = _post(server, "/v1/models/half_plus_two:predict", f'{{"instances": {DEEP_LIST}}}')
    assert code == 400
    assert isinstance(body, dict)
    assert "'instances' is nested deeper than" in body["error"]
