"""The TensorFlow platform: SavedModel loading, warmup, custom ops, and the tf.Example APIs.

Importing any module here imports TensorFlow.
"""
