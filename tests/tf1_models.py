"""A TF1 graph written as a SavedModel with one Predict signature, for tests that build
their own graphs (custom ops, large graphs, graph import)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def save_predict_model(
    session: Any,
    export_dir: Path,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    **options: Any,
) -> None:
    """Save ``session``'s graph and variables to ``export_dir`` (tag ``serve``) with a
    ``serving_default`` Predict signature of ``inputs`` and ``outputs`` (tensors by alias);
    ``options`` go to ``add_meta_graph_and_variables`` (e.g. ``strip_default_attrs``)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    builder = v1.saved_model.Builder(str(export_dir))
    builder.add_meta_graph_and_variables(
        session,
        [v1.saved_model.tag_constants.SERVING],
        signature_def_map={
            "serving_default": v1.saved_model.predict_signature_def(inputs, outputs)
        },
        **options,
    )
    builder.save()
