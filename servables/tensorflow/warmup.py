"""Model warmup: replay ``assets.extra/tf_serving_warmup_requests`` on a fresh version.

Contract (TF Serving's ``saved_model_warmup``):

* The file is a TFRecord file of ``PredictionLog`` protos. Each record's ``predict_log``,
  ``classify_log``, ``regress_log`` or ``multi_inference_log`` request (a
  ``predict_streamed_log`` must hold exactly one request, replayed as a Predict) runs
  ``iterations`` times, in file order, directly on the servable in the calling thread:
  the loader calls ``run_warmup`` before ``load()`` returns, so a version never becomes
  AVAILABLE, and no client request reaches it, before its warmup finished. A record with
  no request is skipped; a ``session_run_log`` is unsupported. The model name in a
  request's ``model_spec`` is ignored (the version being loaded is what runs).
* No file, or warmup disabled: nothing happens. A file with more than
  ``MAX_WARMUP_RECORDS`` records, a file that is not TFRecord, a record that is not a
  ``PredictionLog``, and a request that fails all raise ``WarmupError`` naming the file
  and the record index, which fails the load (and the version ends in the error state).
  ``WarmupError`` is a ``ServingError`` with TF Serving's code (``saved_model_warmup_util``):
  INVALID_ARGUMENT for too many records or a record that is not a ``PredictionLog``,
  DATA_LOSS (". Please verify your warmup data is in TFRecord format.") for a file that is
  not TFRecord, UNIMPLEMENTED for an unsupported log type, and a failed request's own code
  (UNKNOWN when it had none).
  Records are all read and parsed before the first one is replayed, so a bad file fails
  before the model ran anything.
* Success logs one info line (model, version, records, milliseconds) and reports the
  duration to ``WarmupOptions.observer(model_name, seconds)`` when one is set.
"""

from __future__ import annotations

import logging
import re
import time

import tensorflow as tf
from google.protobuf import message
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from protocol.status import Code, ServingError
from protocol.tensors import tensor_proto_to_ndarray
from servables.servable import Servable
from servables.tensorflow.example_apis import classify_now, multi_inference_now, regress_now
from servables.validation import check_inputs, check_outputs
from servables.warmup_options import WarmupOptions, wants_warmup, warmup_file

log = logging.getLogger(__name__)

MAX_WARMUP_RECORDS = 1000
"""TF Serving's limit (``WarmupConsts::kMaxNumRecords``)."""


class WarmupError(ServingError):
    """The warmup file could not be read or one of its requests failed; fails the load."""

    def __init__(self, message: str, code: Code = Code.INVALID_ARGUMENT) -> None:
        super().__init__(code, message)


def read_warmup_records(path: str) -> list[prediction_log_pb2.PredictionLog]:
    """Every ``PredictionLog`` in ``path``; WarmupError past the limit or on bad data."""
    records: list[prediction_log_pb2.PredictionLog] = []
    try:
        # tf.data runs eagerly (TF2's default) in whichever thread iterates; the loader has
        # left its graph context by the time warmup runs.
        for index, tensor in enumerate(tf.data.TFRecordDataset(path)):
            if index >= MAX_WARMUP_RECORDS:
                raise WarmupError(
                    f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}"
                )
            entry = prediction_log_pb2.PredictionLog()
            try:
                entry.ParseFromString(tensor.numpy())
            except message.DecodeError as error:
                raise WarmupError(
                    f"Failed to parse warmup record {index} from {path} as a PredictionLog: {error}"
                ) from error
            records.append(entry)
    except tf.errors.OpError as error:
        raise WarmupError(
            f"cannot read warmup record {len(records)} from {path}: {_op_error_text(error)}. "
            "Please verify your warmup data is in TFRecord format.",
            _op_error_code(error),
        ) from error
    return records


def replay(
    servable: Servable, entry: prediction_log_pb2.PredictionLog, *, check_method_names: bool
) -> None:
    """Run the request in one warmup record on ``servable``; raises what the request raises."""
    kind = entry.WhichOneof("log_type")
    if kind == "predict_log":
        predict_now(servable, entry.predict_log.request)
    elif kind == "predict_streamed_log":
        requests = entry.predict_streamed_log.request
        if len(requests) != 1:
            raise WarmupError(
                f"predict_streamed_log must hold exactly one request, it holds {len(requests)}"
            )
        predict_now(servable, requests[0])
    elif kind == "classify_log":
        classify_now(servable, entry.classify_log.request, check_method_names=check_method_names)
    elif kind == "regress_log":
        regress_now(servable, entry.regress_log.request, check_method_names=check_method_names)
    elif kind == "multi_inference_log":
        multi_inference_now(
            servable, entry.multi_inference_log.request, check_method_names=check_method_names
        )
    elif kind is not None:
        raise WarmupError(f"Unsupported log_type for warmup: {kind}", Code.UNIMPLEMENTED)


def predict_now(servable: Servable, request: predict_pb2.PredictRequest) -> None:
    """Predict on ``servable`` in this thread, validated as the data plane validates a Predict."""
    signature = servable.signature(request.model_spec.signature_name)
    inputs = {alias: tensor_proto_to_ndarray(proto) for alias, proto in request.inputs.items()}
    check_inputs(signature, inputs)
    servable.run(signature, inputs, check_outputs(signature, tuple(request.output_filter)))


def run_warmup(servable: Servable, version_path: str, options: WarmupOptions) -> int | None:
    """Replay the version's warmup file (contract in the module doc).

    Returns the number of records replayed, or None when there was nothing to do.
    """
    if not wants_warmup(version_path, options):
        return None
    path = warmup_file(version_path)
    started = time.monotonic()
    records = read_warmup_records(path)
    for index, entry in enumerate(records):
        for _ in range(options.iterations):
            try:
                replay(servable, entry, check_method_names=options.check_method_names)
            except Exception as error:  # any failure fails the load, named
                if isinstance(error, ServingError):
                    reason, code = error.message, error.code
                else:
                    reason, code = f"{type(error).__name__}: {error}", Code.UNKNOWN
                    if isinstance(error, tf.errors.OpError):
                        code = _op_error_code(error)
                raise WarmupError(
                    f"warmup request {index} in {path} failed: {_first_line(reason)}", code
                ) from error
    seconds = time.monotonic() - started
    log.info(
        "warmup of %s version %d finished: %d records, %d iterations each, %.1f ms",
        servable.model_name,
        servable.version,
        len(records),
        options.iterations,
        seconds * 1000,
    )
    if options.observer is not None:
        options.observer(servable.model_name, seconds)
    return len(records)


def _op_error_text(error: tf.errors.OpError) -> str:
    """The reader's own words, without tf.data's ``{{function_node ...}}`` and ``[Op:...]`` wrapping."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", _first_line(error.message))
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", text)


def _op_error_code(error: tf.errors.OpError) -> Code:
    try:
        return Code(error.error_code)
    except ValueError:
        return Code.UNKNOWN


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]
