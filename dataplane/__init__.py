"""The data plane: the one implementation of every API call, shared by both transports.

``dataplane.DataPlane`` resolves a ``ModelRef`` against the routing snapshot, validates
the request against the signature, and runs it (through the batcher, or straight on the
executor); it also answers TF Serving's status and metadata as plain values.
``examples.ExampleAPIs`` does the same for Classify, Regress and MultiInference, and
``v2.V2Plane`` for every Open Inference Protocol (V2) call, over ``health`` and
``repository``. Frontends only translate between the wire and these calls.
"""
