"""A Python model (Triton's interface) that answers each request's parameters: PARAMETERS
is ``request.parameters()``, the JSON string Triton gives, once per row of IN."""

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            rows = pb_utils.get_input_tensor_by_name(request, "IN").as_numpy().shape[0]
            text = request.parameters().encode("utf-8")
            answer = np.array([[text]] * rows, dtype=object)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("PARAMETERS", answer)]))
        return responses
