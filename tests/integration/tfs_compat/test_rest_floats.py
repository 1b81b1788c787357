"""Floats in REST responses, written as TF Serving writes them.

Source: ``util/json_tensor.cc`` ``WriteDecimal`` and ``json_tensor_test.cc`` (six significant
digits when they read back as the same float, else ``max_digits10``; ``.0`` after a whole
number not in exponent notation). half_plus_two computes ``x / 2 + 2`` in float32.
"""

from __future__ import annotations

import json
import urllib.request

from tests.integration.server_process import ServerProcess


def _raw_predict(server: ServerProcess, body: dict[str, object]) -> bytes:
    request = urllib.request.Request(
        server.rest_url + "/v1/models/half_plus_two:predict",
        data=json.dumps(body).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        raw: bytes = response.read()
    return raw


def test_floats_are_written_with_tf_servings_digits(server: ServerProcess) -> None:
    inputs = [1.0, 2.0, 17999996.0, 1435774336.0, 4.76837158203125e-07]
    raw = _raw_predict(server, {"instances": inputs})
    assert raw == b'{"predictions":[2.5,3.0,9e+06,717887168.0,2.00000024]}', raw


def test_the_columnar_format_writes_them_the_same(server: ServerProcess) -> None:
    raw = _raw_predict(server, {"inputs": [[17999996.0], [4.76837158203125e-07]]})
    assert raw == b'{"outputs":[[9e+06],[2.00000024]]}', raw
