"""``encode_predict_response`` with numpy's platform-named integer types.

onnxruntime returns int64 outputs as ``numpy.longlong``, a type distinct from (though
equal in size to) ``numpy.int64`` on Linux; orjson accepts only the latter. Found when
KServe's SDK asked an ONNX classifier for a V1 predict in the row format.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from protocol.rest_codec import encode_predict_response


@pytest.mark.parametrize("dtype", [np.longlong, np.ulonglong, np.intc, np.int64])
@pytest.mark.parametrize("row_format", [True, False])
def test_every_integer_type_is_written(dtype: type, row_format: bool) -> None:
    label: np.ndarray = np.array([0, 2], dtype=dtype)
    probabilities = np.array([[0.75, 0.25], [0.5, 0.5]], dtype=np.float32)
    body = json.loads(
        encode_predict_response({"label": label, "probabilities": probabilities}, row_format)
    )
    if row_format:
        assert body["predictions"] == [
            {"label": 0, "probabilities": [0.75, 0.25]},
            {"label": 2, "probabilities": [0.5, 0.5]},
        ]
    else:
        assert body["outputs"]["label"] == [0, 2]
