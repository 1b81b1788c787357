"""One sampled request and its answer, and the ``PredictionLog`` record it becomes.

A request path that sampled a request (``actors.sampling_policy``) hands the logger a
``Captured`` (the TF Serving request and response protos, as they crossed the API), a
``CapturedExamples`` (a REST classify or regress: its ``Input`` and response) or a
``CapturedTensors`` (named arrays: a REST predict after JSON decoding, or a V2 inference
request on any platform). The caller gives the objects up: it must not change them
afterwards; nothing is copied on the request path.

``prediction_log(captured, ...)`` builds the ``tensorflow.serving.PredictionLog`` that
TF Serving's request logger writes, off the request path:

- ``log_metadata.model_spec``: the model name, the version that answered and the
  signature that ran (the request's own ``model_spec`` stays as the client sent it, with
  a label if it named one); ``log_metadata.sampling_config.sampling_rate``: the rate in
  force; ``saved_model_tags`` (``["serve"]`` for TensorFlow models); ``timestamp_secs``:
  when the request was captured; ``request_origin``: the API it came through, one of
  ``REQUEST_ORIGINS``.
- Predict, Classify, Regress and MultiInference fill ``predict_log``, ``classify_log``,
  ``regress_log`` and ``multi_inference_log``.
- ``CapturedExamples`` (REST's classify and regress) becomes the ``classify_log`` or
  ``regress_log`` of the request TF Serving converts such a call to.
- ``CapturedTensors`` becomes a ``predict_log`` whose ``PredictRequest.inputs`` and
  ``PredictResponse.outputs`` are the arrays as TensorProtos (``protocol.tensors``,
  TF Serving's encoding), which is how TF Serving converts a REST predict. A V2 request
  is recorded the same way, whatever the model's platform (V2 datatypes map to DTypes as
  in ``protocol.dtypes``; BYTES becomes DT_STRING); V2 request parameters are not kept.
  So every record of every platform decodes with the same tool, and a record of a
  TensorFlow model replays as warmup.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from google.protobuf.message import Message
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    input_pb2,
    predict_pb2,
    prediction_log_pb2,
    regression_pb2,
)

from protocol.tensors import ndarray_to_tensor_proto

REQUEST_ORIGINS = ("grpc", "rest", "v2-grpc", "v2-rest")
"""``log_metadata.request_origin``: TF Serving's gRPC or REST API, or V2 over either."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CaptureContext:
    """What every record says besides the request: who answered, why it was logged, when."""

    model_name: str
    version: int
    signature_name: str
    sampling_rate: float
    request_origin: str
    timestamp_secs: int
    saved_model_tags: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Captured:
    """A TF Serving API call: its request and response protos (Predict, Classify, ...)."""

    context: CaptureContext
    request: Message
    response: Message


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CapturedTensors:
    """A call with named arrays (REST predict, V2 infer), recorded as a Predict."""

    context: CaptureContext
    inputs: Mapping[str, np.ndarray[Any, Any]]
    outputs: Mapping[str, np.ndarray[Any, Any]]
    requested_version: int | None = None
    requested_label: str | None = None
    requested_signature: str = ""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CapturedExamples:
    """A Classify or Regress given as its parts (REST's parsed body), not as a request proto.

    The record holds the ``ClassificationRequest`` or ``RegressionRequest`` (chosen by the
    response's type) that TF Serving converts such a REST call to; it is built off the
    request path, so the caller copies nothing.
    """

    context: CaptureContext
    input: input_pb2.Input
    response: classification_pb2.ClassificationResponse | regression_pb2.RegressionResponse
    requested_version: int | None = None
    requested_label: str | None = None
    requested_signature: str = ""


Capture = Captured | CapturedTensors | CapturedExamples


def prediction_log(capture: Capture) -> prediction_log_pb2.PredictionLog:
    """The record TF Serving would log for ``capture``; TypeError for an unknown request type."""
    entry = prediction_log_pb2.PredictionLog()
    context = capture.context
    metadata = entry.log_metadata
    metadata.model_spec.name = context.model_name
    metadata.model_spec.version.value = context.version
    metadata.model_spec.signature_name = context.signature_name
    metadata.sampling_config.sampling_rate = context.sampling_rate
    metadata.saved_model_tags.extend(context.saved_model_tags)
    metadata.timestamp_secs = context.timestamp_secs
    metadata.request_origin = context.request_origin
    if isinstance(capture, CapturedTensors):
        _fill_predict(entry.predict_log, capture)
        return entry
    if isinstance(capture, CapturedExamples):
        _fill_examples(entry, capture)
        return entry
    request, response = capture.request, capture.response
    if isinstance(request, predict_pb2.PredictRequest):
        log: Message = entry.predict_log
    elif isinstance(request, classification_pb2.ClassificationRequest):
        log = entry.classify_log
    elif isinstance(request, regression_pb2.RegressionRequest):
        log = entry.regress_log
    elif isinstance(request, inference_pb2.MultiInferenceRequest):
        log = entry.multi_inference_log
    else:
        raise TypeError(f"cannot log a {type(request).__name__}")
    log.request.CopyFrom(request)  # each *_log message has request and response fields
    log.response.CopyFrom(response)
    return entry


def _fill_predict(log: prediction_log_pb2.PredictLog, capture: CapturedTensors) -> None:
    context = capture.context
    spec = log.request.model_spec
    spec.name = context.model_name
    if capture.requested_version is not None:
        spec.version.value = capture.requested_version
    elif capture.requested_label is not None:
        spec.version_label = capture.requested_label
    spec.signature_name = capture.requested_signature
    for name, array in capture.inputs.items():
        ndarray_to_tensor_proto(array, out=log.request.inputs[name])
    answered = log.response.model_spec
    answered.name = context.model_name
    answered.version.value = context.version
    answered.signature_name = context.signature_name
    for name, array in capture.outputs.items():
        ndarray_to_tensor_proto(array, out=log.response.outputs[name])


def _fill_examples(entry: prediction_log_pb2.PredictionLog, capture: CapturedExamples) -> None:
    log: prediction_log_pb2.ClassifyLog | prediction_log_pb2.RegressLog
    if isinstance(capture.response, classification_pb2.ClassificationResponse):
        log = entry.classify_log
    else:
        log = entry.regress_log
    spec = log.request.model_spec
    spec.name = capture.context.model_name
    if capture.requested_version is not None:
        spec.version.value = capture.requested_version
    elif capture.requested_label is not None:
        spec.version_label = capture.requested_label
    spec.signature_name = capture.requested_signature
    log.request.input.CopyFrom(capture.input)
    log.response.CopyFrom(capture.response)
