"""The framework floor: bare grpc.aio and aiohttp servers on uvloop that parse, never infer.

- gRPC ``PredictionService/Predict``: the request is parsed into a ``PredictRequest`` and
  each input becomes an array with ``np.frombuffer`` over its ``tensor_content`` (or
  ``np.asarray`` of ``float_val`` for a one-value tensor), as the server's converter does;
- REST ``POST /v1/models/NAME:predict``: the body is parsed with ``--codec`` (``orjson``,
  which the server uses, or the standard library's ``json``) and ``instances`` becomes a
  float32 array with ``np.asarray``;
- V2 gRPC ``GRPCInferenceService/ModelInfer``: the request is parsed into a
  ``ModelInferRequest`` (tritonclient's generated module, as the server uses) and each
  input becomes an array with ``np.frombuffer`` over its ``raw_input_contents``;
- V2 REST ``POST /v2/models/NAME/infer``: with an ``Inference-Header-Content-Length``
  header, that many bytes are parsed with ``--codec`` and each input's
  ``binary_data_size`` bytes that follow become an array with ``np.frombuffer`` (the
  captured binary answer, with its header, is returned); without it the body is JSON and
  each input's ``data`` becomes an array with ``np.asarray`` (the captured JSON answer).

Each answers the real server's captured bytes for that protocol, model and row count
(``bench.prepare.capture``), so the difference to the server is what its own machinery
costs. ``--model NAME --call inline|executor|batched`` also runs that model (loaded as
``bench.inprocess`` does) on each request's array, on the loop thread, through
``run_in_executor`` on one worker thread, or gathered with the other calls that reach
the loop in the same turn into one batch on the loop thread, to split that cost further.
(grpc.aio hands the loop one new call per turn, so that last batch is nearly always one
call: batching needs a wait or a model running elsewhere.) Binds ephemeral
ports, writes ``{"grpc": p, "rest": p}`` to ``--port_file`` once both listen; SIGTERM
stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np
import orjson
import uvloop
from aiohttp import web

from bench.prepare import INFERENCE_HEADER
from bench.spec import ALL_MODELS, OUT

if TYPE_CHECKING:
    from tensorflow_serving.apis import predict_pb2
    from tritonclient.grpc import service_pb2

CODECS: dict[str, Callable[[bytes], Any]] = {"orjson": orjson.loads, "json": json.loads}
ModelCall = Callable[[str, np.ndarray], Awaitable[None]]


def answers(suffix: str) -> Callable[[str, int], bytes]:
    """The captured answer for (model, rows), read on first use (captured after start-up)."""
    cache: dict[tuple[str, int], bytes] = {}

    def answer(model: str, rows: int) -> bytes:
        if (model, rows) not in cache:
            cache[model, rows] = (OUT / "payloads" / f"{model}-{rows}.{suffix}").read_bytes()
        return cache[model, rows]

    return answer


def model_call(mode: str, name: str | None) -> ModelCall:
    """Runs model ``name`` on the requests for it: not at all, on the loop, or in a thread."""
    model = next((m for m in ALL_MODELS if m.name == name), None)
    if mode == "none" or model is None:

        async def nothing(model_name: str, array: np.ndarray) -> None:
            return None

        return nothing
    from bench.inprocess import load  # imports TensorFlow's runtime: only when asked

    run = load(model, ())
    if mode == "batched":
        return batched_call(model.name, run)
    pool = concurrent.futures.ThreadPoolExecutor(1) if mode == "executor" else None

    async def call(model_name: str, array: np.ndarray) -> None:
        if model_name != model.name:
            return
        if pool is None:
            run(array)
        else:
            await asyncio.get_running_loop().run_in_executor(pool, run, array)

    return call


def batched_call(name: str, run: Callable[[np.ndarray], object]) -> ModelCall:
    """Gathers the calls that arrive in one turn of the loop into one model call on the loop.

    The least a batching server can do: no thread, no queue, no timeout; each caller
    awaits a future that the batch's callback resolves with its rows of the output.
    """
    waiting: list[tuple[np.ndarray, asyncio.Future[object]]] = []

    def flush() -> None:
        batch = waiting[:]
        waiting.clear()
        outputs = run(np.concatenate([array for array, _ in batch]))
        start = 0
        for array, future in batch:
            rows = len(array)
            future.set_result([output[start : start + rows] for output in outputs])  # type: ignore[attr-defined]
            start += rows

    async def call(model_name: str, array: np.ndarray) -> None:
        if model_name != name:
            return
        future = asyncio.get_running_loop().create_future()
        if not waiting:
            asyncio.get_running_loop().call_soon(flush)
        waiting.append((array, future))
        await future

    return call


async def serve(codec: str, call: ModelCall, port_file: Path) -> None:
    # TF Serving's protos import TensorFlow: here, after ``main`` set its environment.
    from tensorflow_serving.apis import predict_pb2
    from tritonclient.grpc import service_pb2

    grpc_answer, rest_answer, loads = (
        answers("grpc_response"),
        answers("rest_response"),
        CODECS[codec],
    )
    v2grpc_answer, v2rest_answer, v2json_answer, v2rest_length = (
        answers("v2grpc_response"),
        answers("v2rest_response"),
        answers("v2json_response"),
        answers("v2rest_response_length"),
    )

    async def grpc_predict(request: predict_pb2.PredictRequest, context: object) -> bytes:
        rows, name = 0, request.model_spec.name
        for proto in request.inputs.values():
            shape = [d.size for d in proto.tensor_shape.dim]
            content = proto.tensor_content  # make_tensor_proto packs all but 1-value tensors
            values = np.frombuffer(content, np.float32) if content else np.asarray(proto.float_val)
            array = values.astype(np.float32, copy=False).reshape(shape)
            rows = shape[0] if shape else 1
            await call(name, array)
        return grpc_answer(name, rows)

    async def rest_predict(request: web.Request) -> web.Response:
        instances = np.asarray(loads(await request.read())["instances"], dtype=np.float32)
        model = request.match_info["tail"].rpartition(":")[0].rpartition("/")[2]
        await call(model, instances)
        body = rest_answer(model, int(instances.shape[0]))
        return web.Response(body=body, content_type="application/json")

    async def v2_grpc_infer(request: service_pb2.ModelInferRequest, context: object) -> bytes:
        rows = 0
        for tensor, raw in zip(request.inputs, request.raw_input_contents, strict=True):
            shape = list(tensor.shape)
            array = np.frombuffer(raw, np.float32).reshape(shape)
            rows = shape[0] if shape else 1
            await call(request.model_name, array)
        return v2grpc_answer(request.model_name, rows)

    async def v2_rest_infer(request: web.Request) -> web.Response:
        body, model = await request.read(), request.match_info["model"]
        length = request.headers.get(INFERENCE_HEADER)
        offset = int(length) if length is not None else len(body)
        rows = 0
        for entry in loads(body[:offset])["inputs"]:
            shape = entry["shape"]
            size = entry.get("parameters", {}).get("binary_data_size")
            if size is None:
                array = np.asarray(entry["data"], dtype=np.float32).reshape(shape)
            else:
                array = np.frombuffer(body, np.float32, size // 4, offset).reshape(shape)
                offset += size
            rows = shape[0] if shape else 1
            await call(model, array)
        if length is None:
            return web.Response(body=v2json_answer(model, rows), content_type="application/json")
        return web.Response(
            body=v2rest_answer(model, rows),
            content_type="application/octet-stream",
            headers={INFERENCE_HEADER: v2rest_length(model, rows).decode()},
        )

    def unary(behaviour: Callable[..., Any], request_type: Any) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(
            behaviour, request_deserializer=request_type.FromString
        )

    grpc_server = grpc.aio.server()
    grpc_server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "tensorflow.serving.PredictionService",
                {"Predict": unary(grpc_predict, predict_pb2.PredictRequest)},
            ),
            grpc.method_handlers_generic_handler(
                "inference.GRPCInferenceService",
                {"ModelInfer": unary(v2_grpc_infer, service_pb2.ModelInferRequest)},
            ),
        )
    )
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    await grpc_server.start()
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_route("POST", "/v1/models/{tail:.*}", rest_predict)
    app.router.add_route("POST", "/v2/models/{model}/infer", v2_rest_infer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    rest_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001 - the bound ephemeral port
    port_file.with_suffix(".tmp").write_text(json.dumps({"grpc": grpc_port, "rest": rest_port}))
    os.replace(port_file.with_suffix(".tmp"), port_file)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    await grpc_server.stop(1.0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", choices=sorted(CODECS), default="orjson")
    parser.add_argument("--port_file", type=Path, required=True)
    parser.add_argument("--model", default=None, help="run this model on its requests")
    parser.add_argument("--call", choices=("none", "inline", "executor", "batched"), default="none")
    args = parser.parse_args(argv)
    # TensorFlow as the server runs it (its kernels, not oneDNN's), set before anything
    # imports it: TF Serving's protos do, and a model call's cost depends on it.
    from server import use_tensorflow_defaults

    use_tensorflow_defaults()
    call = model_call(args.call, args.model)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(args.codec, call, args.port_file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
