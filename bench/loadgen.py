"""The Python load generator (the default; wrk and h2load are optional, ``bench/tools``).

``concurrency`` workers on uvloop, each with one call in flight, send the fixed body of a
payload (``bench.prepare``) until ``--duration_s`` has passed or ``--requests`` are done:

- gRPC (``grpc``, ``v2grpc``): the official ``PredictionService/Predict`` or V2
  ``GRPCInferenceService/ModelInfer`` method over one grpc.aio channel (``--connections
  N``: N channels, each its own connection, the workers spread over them), with the
  pre-serialized request and no deserializer (``--build``, ``grpc`` only: build and
  serialize every request with ``tf.make_tensor_proto`` and the official stub, as the seed
  benchmark's client and a Python application do);
- REST (``rest``, ``v2rest``, ``v2json``): one keep-alive HTTP/1.1 connection per worker,
  the pre-built request bytes (``bench.prepare.rest_target``: path and headers), the answer
  read up to its Content-Length: as little client work as wrk does.

``--rate R`` makes it open-loop (a call starts every 1/R s whatever the answers, at most
``concurrency`` in flight) and ``--log F`` writes "start_epoch_s duration_s" per call.
Any failed call (non-OK status, non-200 answer) counts as an error, never as a latency.
It warms up (one call per worker), prints ``READY``, runs, then prints one JSON line:
``{"requests", "seconds", "p50_ms", "p99_ms", "errors", "first_error"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import numpy as np
import uvloop

from bench.prepare import GRPC_METHODS, predict_request, rest_target
from bench.spec import PAYLOADS, PROTOCOLS, REQUEST_SUFFIX, transport

Call = Callable[[], Awaitable[None]]


class _Http(asyncio.Protocol):
    """One HTTP/1.1 connection: ``call()`` sends the request and waits for one answer."""

    _LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)

    def __init__(self, request: bytes) -> None:
        self._request = request
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0 or self._waiter is None:
            return
        found = self._LENGTH.search(self._buffer, 0, end + 2)
        if found is None:
            self._waiter.set_exception(RuntimeError("an answer without Content-Length"))
            return
        if len(self._buffer) >= end + 4 + int(found.group(1)):
            status = int(self._buffer[9:12])
            del self._buffer[: end + 4 + int(found.group(1))]
            self._waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc or ConnectionError("closed by the server"))

    async def call(self) -> None:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(self._request)
        status = await self._waiter
        if status != 200:
            raise RuntimeError(f"HTTP {status}")


async def _callers(args: argparse.Namespace) -> list[Call]:
    payload = next(p for p in PAYLOADS if p.name == args.payload)
    body = payload.file(REQUEST_SUFFIX[args.protocol]).read_bytes()
    if transport(args.protocol) == "rest":
        path, headers = rest_target(args.protocol, payload)
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        head += f"Content-Length: {len(body)}\r\n\r\n"
        loop = asyncio.get_running_loop()
        callers: list[Call] = []
        for _ in range(args.concurrency):
            _, protocol = await loop.create_connection(
                lambda: _Http(head.encode() + body), "127.0.0.1", args.port
            )
            callers.append(protocol.call)
        return callers
    import grpc

    if args.connections > 1:  # a private subchannel pool each: one connection per channel
        options = [("grpc.use_local_subchannel_pool", 1)]
        channels = [
            grpc.aio.insecure_channel(f"127.0.0.1:{args.port}", options=options)
            for _ in range(args.connections)
        ]
        methods = [c.unary_unary(GRPC_METHODS[args.protocol]) for c in channels]

        def spread(index: int) -> Call:
            async def raw() -> None:
                await methods[index % len(methods)](body, timeout=30)

            return raw

        return [spread(i) for i in range(args.concurrency)]
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{args.port}")
    if args.build:
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        async def built() -> None:
            await stub.Predict(predict_request(payload.model, payload.rows), timeout=30)

        return [built] * args.concurrency
    method = channel.unary_unary(GRPC_METHODS[args.protocol])

    async def raw() -> None:
        await method(body, timeout=30)

    return [raw] * args.concurrency


async def run(args: argparse.Namespace) -> dict[str, object]:
    callers = await _callers(args)
    await asyncio.gather(*(call() for call in callers))  # warm-up
    print("READY", flush=True)
    starts: list[float] = []
    durations: list[float] = []
    errors: list[str] = []
    budget = [args.requests or sys.maxsize]
    started = time.monotonic()
    stop_at = started + (args.duration_s if not args.requests else float("inf"))

    async def timed(call: Call) -> None:
        begun, epoch = time.perf_counter(), time.time()
        try:
            await call()
        except Exception as error:  # noqa: BLE001 - every failure is counted and reported
            errors.append(f"{type(error).__name__}: {error}")
            return
        durations.append(time.perf_counter() - begun)
        starts.append(epoch)

    async def closed_loop(call: Call) -> None:
        while time.monotonic() < stop_at and budget[0] > 0:
            budget[0] -= 1
            await timed(call)

    async def open_loop() -> None:
        free = asyncio.Queue[Call]()
        for call in callers:
            free.put_nowait(call)
        tasks: set[asyncio.Task[None]] = set()
        sent = 0
        while (now := time.monotonic()) < stop_at:
            await asyncio.sleep(max(0.0, started + sent / args.rate - now))
            call = await free.get()
            task = asyncio.create_task(timed(call))
            task.add_done_callback(functools.partial(lambda call, _: free.put_nowait(call), call))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.gather(*tasks)

    if args.rate:
        await open_loop()
    else:
        await asyncio.gather(*(closed_loop(call) for call in callers))
    seconds = time.monotonic() - started
    if args.log:
        Path(args.log).write_text(
            "".join(f"{s:.6f} {d:.6f}\n" for s, d in zip(starts, durations, strict=True))
        )
    latencies_ms = np.asarray(durations) * 1e3 if durations else np.zeros(1)
    return {
        "requests": len(durations),
        "seconds": seconds,
        "p50_ms": float(np.percentile(latencies_ms, 50)),
        "p99_ms": float(np.percentile(latencies_ms, 99)),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--payload", choices=[p.name for p in PAYLOADS], required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration_s", type=float, default=2.0)
    parser.add_argument("--requests", type=int, default=0, help="stop after N calls")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: calls per second")
    parser.add_argument("--log", default="", help="write 'start_s duration_s' per call")
    parser.add_argument("--build", action="store_true", help="gRPC: build every request")
    parser.add_argument("--connections", type=int, default=1, help="gRPC: channels to spread over")
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        print(json.dumps(runner.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
