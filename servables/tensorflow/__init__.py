"""The TensorFlow platform: SavedModel loading, warmup, custom ops, and the tf.Example APIs.

``saved_model``, ``warmup``, ``custom_ops`` and ``session_options`` use TensorFlow itself
(its runtime starts on their first use). ``example_apis`` needs only TF Serving's protos:
the data plane runs Classify, Regress and MultiInference through it for every platform.
"""
