"""Python models with Triton's Python-backend interface (``model.py``, ``TritonPythonModel``)."""
