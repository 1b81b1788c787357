"""The network edges: TF Serving's gRPC and REST APIs, V2's, health and the dashboard.

These are the only modules that see both the wire formats and the data plane. Each
handler decodes (with ``protocol``'s codecs), awaits one data plane call
(``dataplane``), and encodes, inside the one call wrapper of its transport
(``grpc_calls`` or ``rest_calls``), which maps a ``ServingError`` to its wire status and
counts the request. The servers (``grpc_frontend.GrpcFrontend``, ``rest_server.RestServer``)
open their sockets in ``start()`` and drain in ``stop(grace_seconds)``; they are handed
their services and routes (``app.frontend_wing``), so no frontend module imports another
(``tests/unit/test_layering.py`` lists which modules are frontends and which are shared
helpers).
"""
