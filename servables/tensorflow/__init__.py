"""The TensorFlow edge: the only place that turns plain configuration into TensorFlow objects."""
