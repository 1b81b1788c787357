"""The data plane: the one implementation of every API call, shared by both frontends.

``dataplane.DataPlane`` resolves a ``ModelRef`` against the routing snapshot, validates
the request against the signature, and runs it (through the batcher, or straight on the
executor); it also answers status and metadata. ``examples.ExampleAPIs`` does the same for
Classify, Regress and MultiInference. Frontends only translate between the wire and these
calls.
"""
