"""The network edges: TF Serving's gRPC services and its REST API.

These are the only modules that see both the wire formats and the data plane. A handler
decodes (with ``protocol``'s codecs), awaits the data plane, encodes, and maps a
``ServingError`` to its wire status once. Each frontend opens its socket in ``start()``
and drains in ``stop(grace_seconds)``.
"""
