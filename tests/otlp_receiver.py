"""A small OTLP trace receiver on loopback, for tests: HTTP (``/v1/traces``) and gRPC.

Both accept ``ExportTraceServiceRequest`` (opentelemetry-proto's messages; HTTP bodies
may be gzip-compressed, as the exporters send them when ``OTEL_EXPORTER_OTLP_COMPRESSION``
says so), keep every span with its resource, and answer an empty
``ExportTraceServiceResponse``. Ports are ephemeral (port 0, read back after binding).
``wait_for_spans(count)`` blocks until that many spans arrived or the timeout passed.
"""

from __future__ import annotations

import dataclasses
import gzip
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

TRACES_PATH = "/v1/traces"


def attribute_value(value: common_pb2.AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


@dataclasses.dataclass(frozen=True)
class ReceivedSpan:
    """One span as the receiver got it, with its resource's attributes and the path used."""

    span: trace_pb2.Span
    resource: dict[str, Any]
    path: str

    @property
    def name(self) -> str:
        return str(self.span.name)

    @property
    def attributes(self) -> dict[str, Any]:
        return {item.key: attribute_value(item.value) for item in self.span.attributes}


class OtlpReceiver:
    """Use as a context manager; ``http_endpoint`` and ``grpc_endpoint`` are set inside."""

    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self._arrived = threading.Condition()
        self._http: ThreadingHTTPServer | None = None
        self._grpc: grpc.Server | None = None
        self.http_endpoint = ""
        self.grpc_endpoint = ""
        self.http_paths: list[str] = []

    def __enter__(self) -> OtlpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.http_paths.append(self.path)
                if self.path != TRACES_PATH:
                    self.send_response(404)
                    self.end_headers()
                    return
                receiver.add(
                    trace_service_pb2.ExportTraceServiceRequest.FromString(body), self.path
                )
                answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.http_endpoint = f"http://127.0.0.1:{self._http.server_address[1]}"

        class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(
                self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
            ) -> trace_service_pb2.ExportTraceServiceResponse:
                receiver.add(request, "grpc")
                return trace_service_pb2.ExportTraceServiceResponse()

        self._grpc = grpc.server(futures.ThreadPoolExecutor(2))
        # The generated _grpc module carries no type hints.
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), self._grpc)  # type: ignore[no-untyped-call]
        port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()
        self.grpc_endpoint = f"http://127.0.0.1:{port}"
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._grpc is not None:
            self._grpc.stop(None)

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest, path: str) -> None:
        with self._arrived:
            for resource_spans in request.resource_spans:
                resource = {
                    item.key: attribute_value(item.value)
                    for item in resource_spans.resource.attributes
                }
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self._spans.append(ReceivedSpan(span, resource, path))
            self._arrived.notify_all()

    def spans(self) -> list[ReceivedSpan]:
        with self._arrived:
            return list(self._spans)

    def wait_for_spans(self, count: int, timeout_seconds: float = 30.0) -> list[ReceivedSpan]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self._spans) >= count, timeout_seconds)
            return list(self._spans)
