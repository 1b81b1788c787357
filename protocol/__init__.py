"""The vocabulary every layer shares, and the translation to and from the wire formats.

Plain values: ``status`` (the error type and its codes), ``dtypes``, ``signatures``,
``model_ref``, ``versions``. Codecs: ``tensors`` (TensorProto <-> numpy), ``tf_serving``
(TF Serving's API protos <-> our values), ``rest_codec`` and ``example_json`` (the REST
API's JSON). Modules here translate; they hold no serving logic, and they import nothing
from the other packages of this project (a test in ``tests/unit/test_layering.py``
enforces it), so every layer may use them.
"""
