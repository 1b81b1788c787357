"""Fuzzed REST and gRPC requests: every answer is a client error or success, never 5xx,
INTERNAL or UNKNOWN, and the error path itself never fails (JSON bodies, UTF-8 text).

The figures (cases tried, answers by status) are printed at the end of each test; run
with ``-s`` to see them. ``AIOSERVING_FUZZ_EXAMPLES`` raises the case count (bench mode).
"""

from __future__ import annotations

import collections
import gzip
import http.client
import json
import os
import urllib.parse
import zlib
from typing import Any

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, predict_pb2

from tests.integration.server_process import ServerProcess

EXAMPLES = int(os.environ.get("AIOSERVING_FUZZ_EXAMPLES", "1200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run: CI failures reproduce
    suppress_health_check=list(HealthCheck),
    database=None,
)

# -- REST -------------------------------------------------------------------------------

any_text = st.text(
    st.characters(codec=None, exclude_categories=()), max_size=12
)  # lone surrogates too
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
    st.builds(lambda s: {"b64": s}, st.one_of(any_text, st.integers())),
)
json_value = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["x", "y", "b64", ""]), inner, max_size=3),
    ),
    max_leaves=20,
)


def _document(kind: str, value: Any, signature: Any) -> bytes:
    document: dict[str, Any] = {kind: value}
    if signature is not None:
        document["signature_name"] = signature
    return json.dumps(document).encode()  # ensure_ascii: lone surrogates become \udXXX


def _nested(depth: int, leaf_text: str) -> bytes:
    return ('{"instances": ' + "[" * depth + leaf_text + "]" * depth + "}").encode()


bodies = st.one_of(
    st.builds(
        _document,
        st.sampled_from(["instances", "inputs", "examples", "context"]),
        json_value,
        st.one_of(
            st.none(),
            st.sampled_from(["serving_default", "__saved_model_init_op", "nope"]),
            st.integers(),
        ),
    ),
    st.builds(
        _nested, st.integers(1, 400), st.sampled_from(['"a"', "1.5", '{"b64": "AA=="}', "true"])
    ),
    st.binary(max_size=64),
    st.just(b""),
)
names = st.one_of(st.just("hpt"), st.text(st.characters(codec="utf-8"), min_size=1, max_size=20))
versions = st.one_of(st.integers(0, 2**64 + 5).map(str), st.just("123"), st.text(max_size=4))
verbs = st.sampled_from([":predict", ":classify", ":regress", ":PREDICT", ":nope", "", "/metadata"])


@st.composite
def rest_requests(draw: st.DrawFn) -> tuple[str, str, bytes, dict[str, str]]:
    name = urllib.parse.quote(draw(names), safe="")
    where = draw(
        st.sampled_from(["", "/versions/{v}", "/labels/{v}"]).map(
            lambda pattern: pattern.format(v=urllib.parse.quote(draw(versions), safe=""))
        )
    )
    verb = draw(verbs)
    method = "GET" if verb in ("", "/metadata") and draw(st.booleans()) else "POST"
    path = f"/v1/models/{name}{where}{verb}"
    body = draw(bodies) if method == "POST" else b""
    headers: dict[str, str] = {}
    encoding = draw(st.sampled_from([None, None, "gzip", "deflate", "gzip-garbage", "br"]))
    if method == "POST" and encoding is not None:
        if encoding == "gzip":
            body = gzip.compress(body)
        elif encoding == "deflate":
            body = zlib.compress(body)
        encoding = encoding.removesuffix("-garbage")
        headers["Content-Encoding"] = encoding
    return method, path, body, headers


def _rest(
    server: ServerProcess, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes, str]:
    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    try:
        connection.request(method, path, body=body if method == "POST" else None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "")
    finally:
        connection.close()


def test_fuzzed_rest_requests_never_get_a_server_error(server: ServerProcess) -> None:
    answers: collections.Counter[int] = collections.Counter()

    @FUZZ
    @given(rest_requests())
    def case(request: tuple[str, str, bytes, dict[str, str]]) -> None:
        method, path, body, headers = request
        status, raw, content_type = _rest(server, method, path, body, headers)
        answers[status] += 1
        assert status < 500, (method, path, body[:200], headers, status, raw[:300])
        if content_type.startswith("application/json"):
            document = json.loads(raw)  # the error path wrote valid JSON
            if status >= 400:
                assert isinstance(document["error"], str) and len(document["error"]) < 5000

    case()
    print(
        f"\nREST fuzz: {sum(answers.values())} cases, answers by status {dict(sorted(answers.items()))}"
    )
    assert sum(answers.values()) >= EXAMPLES // 2


# -- gRPC -------------------------------------------------------------------------------

dims = st.one_of(
    st.lists(st.integers(-2, 4), max_size=4),
    st.lists(st.integers(0, 2**63 - 1), max_size=4),
    st.lists(st.just(1), min_size=60, max_size=260),
)


@st.composite
def predict_requests(draw: st.DrawFn) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = draw(st.one_of(st.just("hpt"), st.text(max_size=10)))
    if draw(st.booleans()):
        request.model_spec.signature_name = draw(
            st.sampled_from(["serving_default", "__saved_model_init_op", "regress_x_to_y", "bad"])
        )
    choice = draw(st.integers(0, 3))
    if choice == 1:
        request.model_spec.version.value = draw(st.integers(-(2**63), 2**63 - 1))
    elif choice == 2:
        request.model_spec.version_label = draw(st.text(max_size=8))
    for alias in draw(st.lists(st.sampled_from(["x", "y", "", "z"]), max_size=2, unique=True)):
        tensor = request.inputs[alias]
        tensor.dtype = draw(st.integers(0, 30))
        if draw(st.integers(0, 9)) == 0:
            tensor.tensor_shape.unknown_rank = True
        for size in draw(dims):
            tensor.tensor_shape.dim.add(size=size)
        values = draw(st.integers(0, 4))
        if values == 1:
            tensor.float_val.extend(draw(st.lists(st.floats(width=32), max_size=5)))
        elif values == 2:
            tensor.int_val.extend(draw(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=5)))
        elif values == 3:
            tensor.string_val.extend(draw(st.lists(st.binary(max_size=8), max_size=5)))
        elif values == 4:
            tensor.tensor_content = draw(st.binary(max_size=64))
    return request


@st.composite
def model_calls(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(st.one_of(st.just("hpt"), st.text(max_size=10)))
    if draw(st.booleans()):
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = name
        if draw(st.booleans()):
            request.model_spec.version.value = draw(st.integers(-(2**63), 2**63 - 1))
        return "status", request
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = name
    request.metadata_field.extend(
        draw(st.lists(st.sampled_from(["signature_def", "", "x"]), max_size=2))
    )
    return "metadata", request


def test_fuzzed_grpc_requests_never_get_internal_or_unknown(server: ServerProcess) -> None:
    answers: collections.Counter[str] = collections.Counter()

    def check(call: Any, request: Any) -> None:
        try:
            call(request, timeout=30)
            answers["OK"] += 1
        except grpc.RpcError as error:
            code = error.code()
            answers[code.name] += 1
            assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (
                request,
                error.details(),
            )

    @FUZZ
    @given(st.one_of(predict_requests().map(lambda r: ("predict", r)), model_calls()))
    def case(kind_request: tuple[str, Any]) -> None:
        kind, request = kind_request
        call = {
            "predict": server.prediction.Predict,
            "status": server.models.GetModelStatus,
            "metadata": server.prediction.GetModelMetadata,
        }[kind]
        check(call, request)

    case()
    print(
        f"\ngRPC fuzz: {sum(answers.values())} cases, answers by status {dict(sorted(answers.items()))}"
    )
    assert sum(answers.values()) >= EXAMPLES // 2
