"""The framework floor: bare grpc.aio and aiohttp servers on uvloop that parse, never infer.

- gRPC ``PredictionService/Predict``: the request is parsed into a ``PredictRequest`` and
  each input becomes an array with ``np.frombuffer`` over its ``tensor_content`` (or
  ``np.asarray`` of ``float_val`` for a one-value tensor), as the server's converter does;
- REST ``POST /v1/models/NAME:predict``: the body is parsed with ``--codec`` (``orjson``,
  which the server uses, or the standard library's ``json``) and ``instances`` becomes a
  float32 array with ``np.asarray``.

Both answer the real server's captured bytes for that model and row count
(``bench.prepare.capture``), so the difference to the server is what its own machinery
costs. ``--model NAME --call inline|executor`` also runs that model (loaded as
``bench.inprocess`` does) on each request's array, on the loop thread or through
``run_in_executor`` on one worker thread, to split that cost further. Binds ephemeral
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
from typing import Any

import grpc
import numpy as np
import orjson
import uvloop
from aiohttp import web
from tensorflow_serving.apis import predict_pb2

from bench.spec import ALL_MODELS, OUT

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
    pool = concurrent.futures.ThreadPoolExecutor(1) if mode == "executor" else None

    async def call(model_name: str, array: np.ndarray) -> None:
        if model_name != model.name:
            return
        if pool is None:
            run(array)
        else:
            await asyncio.get_running_loop().run_in_executor(pool, run, array)

    return call


async def serve(codec: str, call: ModelCall, port_file: Path) -> None:
    grpc_answer, rest_answer, loads = (
        answers("grpc_response"),
        answers("rest_response"),
        CODECS[codec],
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

    handler = grpc.unary_unary_rpc_method_handler(
        grpc_predict, request_deserializer=predict_pb2.PredictRequest.FromString
    )
    grpc_server = grpc.aio.server()
    grpc_server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "tensorflow.serving.PredictionService", {"Predict": handler}
            ),
        )
    )
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    await grpc_server.start()
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_route("POST", "/v1/models/{tail:.*}", rest_predict)
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
    parser.add_argument("--call", choices=("none", "inline", "executor"), default="none")
    args = parser.parse_args(argv)
    call = model_call(args.call, args.model)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(args.codec, call, args.port_file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
