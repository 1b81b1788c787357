"""The supervisor in-process, on the real half_plus_two SavedModel with ports bound to 0."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Protocol

import grpc
import pytest
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from app.supervisor import Supervisor
from config.flags import parse_flags
from config.server_config import load_server_config
from protocol.status import Code, ServingError


class StopMethod(Protocol):
    """A part's ``stop``, keyword included, so that a wrapper can stand in for it."""

    def __call__(self, grace_seconds: float) -> Coroutine[Any, Any, None]: ...


def _testdata() -> Path:
    configured = os.environ.get("AIOSERVING_TESTDATA")
    root = Path(__file__).resolve().parents[3]
    candidates = [Path(configured)] if configured else []
    candidates += [root / "shared" / "testdata", root.parent / "shared" / "testdata"]
    found = next((path for path in candidates if path.is_dir()), None)
    if found is None:
        pytest.skip("shared/testdata not found; set AIOSERVING_TESTDATA to its path")
    return found


def supervisor(tmp_path: Path, *flags: str) -> Supervisor:
    argv = [
        "--model_name=half_plus_two",
        f"--model_base_path={_testdata() / 'saved_model_half_plus_two_cpu'}",
        "--port=0",
        "--rest_api_port=0",
        f"--port_file={tmp_path / 'ports.json'}",
        *flags,
    ]
    return Supervisor(load_server_config(parse_flags(argv)))


def predict_request(*xs: float) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(
        tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[
                    tensor_shape_pb2.TensorShapeProto.Dim(size=len(xs)),
                    tensor_shape_pb2.TensorShapeProto.Dim(size=1),
                ]
            ),
            float_val=list(xs),
        )
    )
    return request


async def test_start_serves_on_bound_ports_and_stop_unwinds_in_reverse(tmp_path: Path) -> None:
    server = supervisor(tmp_path)
    await server.start()
    try:
        assert server.grpc is not None and server.rest is not None
        assert server.grpc.port > 0 and server.rest.port > 0
        ports = json.loads((tmp_path / "ports.json").read_text())
        assert ports == {"grpc": server.grpc.port, "rest": server.rest.port}

        async with grpc.aio.insecure_channel(f"localhost:{server.grpc.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            response = await stub.Predict(predict_request(1.0), timeout=30)
        assert list(response.outputs["y"].float_val) == [2.5]
        assert response.model_spec.name == "half_plus_two"
    except BaseException:
        await server.stop(5)
        raise

    started = list(server._started)
    names = [part.name for part in started]
    assert names[0] == "executor_pool"
    assert names[-2:] == [server.grpc.name, server.rest.name]
    stopped: list[str] = []

    def recording(name: str, stop: StopMethod) -> StopMethod:
        async def stop_and_record(grace_seconds: float) -> None:
            await stop(grace_seconds)
            stopped.append(name)

        return stop_and_record

    for part in started:
        part.stop = recording(part.name, part.stop)  # type: ignore[method-assign]  # record the stop order

    await server.stop(5)

    assert stopped == list(reversed(names))
    assert server._started == []
    with pytest.raises(ServingError) as refused:
        server.executor.run_inference(lambda: None)
    assert refused.value.code is Code.UNAVAILABLE
    for actor in server.actors:
        assert actor.task is not None and actor.task.done()


async def test_wait_crashed_returns_when_an_actor_background_task_dies(tmp_path: Path) -> None:
    server = supervisor(tmp_path, "--file_system_poll_wait_seconds=1")
    ticked = asyncio.Event()

    async def broken_tick() -> None:
        ticked.set()
        raise RuntimeError("the poller's ticker died")

    server.poller._tick = broken_tick  # type: ignore[method-assign]
    await server.start()
    try:
        error = await asyncio.wait_for(server.wait_crashed(), 30)
        assert ticked.is_set()
        assert isinstance(error, RuntimeError) and str(error) == "the poller's ticker died"
    finally:
        await server.stop(5)
