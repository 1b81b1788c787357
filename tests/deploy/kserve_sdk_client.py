"""Calls one model the way KServe's users do: with KServe's own Python SDK.

Run by ``test_kserve_pod.py`` with the Python of a virtualenv that holds ``kserve`` (its
pins, protobuf<7 among them, cannot live beside the server's), so this file imports
nothing of ours. Reads a JSON list of requests on stdin, one per server, each::

    {"rest": "http://127.0.0.1:PORT", "grpc": "127.0.0.1:PORT", "model": NAME,
     "input": {"name": ..., "datatype": "FP32", "shape": [...], "data": [...]},
     "v1": {"instances": [...]}}

and prints a JSON list of answers in the same order, each: readiness over V2 REST and
gRPC, the outputs of a V2 infer over REST (``InferenceRESTClient``, protocol v2) and gRPC
(``InferenceGRPCClient``), each ``{name: {"shape": [...], "data": [...]}}``, and the body
of a V1 predict over REST (``InferenceRESTClient``, protocol v1); or, where a call
raised, ``{"error": TRACEBACK}``, so that one server's failure is reported by the test
that asked it. One process asks every server: importing kserve takes a second.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from typing import Any

import numpy as np
from kserve import (
    InferenceGRPCClient,
    InferenceRESTClient,
    InferInput,
    InferRequest,
    RESTConfig,
)


def outputs(response: Any) -> dict[str, dict[str, Any]]:
    return {
        output.name: {"shape": list(output.shape), "data": output.as_numpy().ravel().tolist()}
        for output in response.outputs
    }


def infer_request(model: str, spec: dict[str, Any]) -> InferRequest:
    tensor = InferInput(name=spec["name"], shape=spec["shape"], datatype=spec["datatype"])
    dtype = {"FP32": np.float32, "FP64": np.float64}[spec["datatype"]]
    tensor.set_data_from_numpy(np.array(spec["data"], dtype=dtype).reshape(spec["shape"]))
    return InferRequest(model_name=model, infer_inputs=[tensor])


async def ask(request: dict[str, Any]) -> dict[str, Any]:
    model, rest = request["model"], request["rest"]
    answer: dict[str, Any] = {}
    async with InferenceRESTClient(RESTConfig(protocol="v2", retries=1)) as client:
        answer["v2_rest_ready"] = await client.is_model_ready(rest, model)
        response = await client.infer(rest, infer_request(model, request["input"]), model)
        answer["v2_rest"] = outputs(response)
    async with InferenceGRPCClient(request["grpc"]) as client:
        answer["v2_grpc_ready"] = await client.is_model_ready(model)
        answer["v2_grpc"] = outputs(await client.infer(infer_request(model, request["input"])))
    async with InferenceRESTClient(RESTConfig(protocol="v1", retries=1)) as client:
        answer["v1"] = await client.infer(rest, request["v1"], model)
    return answer


async def main(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = []
    for request in requests:
        try:
            answers.append(await ask(request))
        except Exception:  # noqa: BLE001 - the test that sent it reports it, with the server's log
            answers.append({"error": traceback.format_exc()})
    return answers


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.load(sys.stdin)))))
