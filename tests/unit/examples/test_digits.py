"""The digits data set and the exported model versions, as the server will load them.

The server loads SavedModels with the TF1-compat loader and runs signatures by tensor name, so
the checks go through that loader rather than through TF2's tf.saved_model.load alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

from examples.digits_data import (
    IMAGE_PIXELS,
    NUM_CLASSES,
    load_digits_28x28,
    upscale_images,
)
from examples.export_digits import (
    CLASSIFY_SIGNATURE,
    PREDICT_SIGNATURES,
    ExportedVersion,
    error_rate,
    export_digits_model,
    main,
)

# Above this a 100-iteration model is "clearly worse"; below that a 2000-iteration one is good.
V1_MIN_ERROR_RATE = 0.15
V2_MAX_ERROR_RATE = 0.10


class Tf1Model:
    """A version loaded the way the server loads it: graph, session, signature tensor names."""

    def __init__(self, path: Path) -> None:
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            self.meta_graph: meta_graph_pb2.MetaGraphDef = tf.compat.v1.saved_model.loader.load(
                self.session, ["serve"], str(path)
            )

    def run(self, signature_name: str, output_key: str, **inputs: object) -> np.ndarray:
        signature = self.meta_graph.signature_def[signature_name]
        feed = {signature.inputs[key].name: value for key, value in inputs.items()}
        outputs: np.ndarray = self.session.run(signature.outputs[output_key].name, feed)
        return outputs

    def close(self) -> None:
        self.session.close()


@pytest.fixture(scope="module")
def tf1_models(exported: dict[int, ExportedVersion]) -> Iterator[dict[int, Tf1Model]]:
    models = {version: Tf1Model(item.path) for version, item in exported.items()}
    yield models
    for model in models.values():
        model.close()


def _example(image: np.ndarray) -> bytes:
    feature = tf.train.Feature(float_list=tf.train.FloatList(value=image))
    example = tf.train.Example(features=tf.train.Features(feature={"x": feature}))
    serialized: bytes = example.SerializeToString()
    return serialized


def _tf2_scores(path: Path, images: np.ndarray) -> np.ndarray:
    """Scores from the TF2 function restored from ``path``."""
    # Bound to a name: the restored function only weakly references the loaded variables, so
    # calling it on a temporary would fail once the temporary is collected.
    loaded = tf.saved_model.load(str(path))
    scores: np.ndarray = loaded.predict(images)["scores"].numpy()
    return scores


def _dims(tensor_info: meta_graph_pb2.TensorSpec) -> list[int]:
    return [dim.size for dim in tensor_info.tensor_shape.dim]


# --- data ---------------------------------------------------------------------------------


def test_data_shapes_dtypes_and_ranges() -> None:
    data = load_digits_28x28()
    assert data.train_images.shape == (1437, IMAGE_PIXELS)
    assert data.test_images.shape == (360, IMAGE_PIXELS)
    assert data.train_labels.shape == (1437,) and data.test_labels.shape == (360,)
    for images in (data.train_images, data.test_images):
        assert images.dtype == np.float32
        assert images.min() == 0.0 and images.max() == 1.0
    for labels in (data.train_labels, data.test_labels):
        assert labels.dtype == np.int64
        assert set(labels.tolist()) == set(range(NUM_CLASSES))


def test_data_is_deterministic_and_read_only() -> None:
    data = load_digits_28x28()
    load_digits_28x28.cache_clear()
    reloaded = load_digits_28x28()
    assert reloaded is not data
    np.testing.assert_array_equal(reloaded.test_images, data.test_images)
    np.testing.assert_array_equal(reloaded.train_labels, data.train_labels)
    with pytest.raises(ValueError):
        data.test_images[0, 0] = 1.0


def test_upscale_keeps_constant_images_and_range() -> None:
    constant = np.full((1, 8, 8), 0.25)
    np.testing.assert_allclose(upscale_images(constant), np.full((1, 28, 28), 0.25), rtol=1e-6)
    checkerboard = np.indices((8, 8)).sum(axis=0)[None] % 2.0
    scaled = upscale_images(checkerboard)
    assert scaled.shape == (1, 28, 28) and scaled.dtype == np.float32
    assert scaled.min() >= 0.0 and scaled.max() <= 1.0


# --- export -------------------------------------------------------------------------------


def test_export_writes_complete_versions_only(exported: dict[int, ExportedVersion]) -> None:
    assert sorted(exported) == [1, 2]
    assert [exported[1].training_iterations, exported[2].training_iterations] == [100, 2000]
    model_dir = exported[1].path.parent
    # No staging folder is left behind once the export returns.
    assert sorted(child.name for child in model_dir.iterdir()) == ["1", "2"]
    for item in exported.values():
        assert (item.path / "saved_model.pb").is_file()
        assert (item.path / "variables").is_dir()


def test_tf1_loader_sees_the_signatures(tf1_models: dict[int, Tf1Model]) -> None:
    for model in tf1_models.values():
        signatures = model.meta_graph.signature_def
        # TF2 adds its init op as a pseudo-signature; the server must not offer it to clients.
        assert set(signatures) == {*PREDICT_SIGNATURES, CLASSIFY_SIGNATURE, "__saved_model_init_op"}
        for name in PREDICT_SIGNATURES:
            signature = signatures[name]
            assert signature.method_name == "tensorflow/serving/predict"
            assert set(signature.inputs) == {"images"} and set(signature.outputs) == {"scores"}
            assert signature.inputs["images"].name == f"{name}_images:0"
            assert signature.inputs["images"].dtype == tf.float32.as_datatype_enum
            assert _dims(signature.inputs["images"]) == [-1, IMAGE_PIXELS]
            assert signature.outputs["scores"].dtype == tf.float32.as_datatype_enum
            assert _dims(signature.outputs["scores"]) == [-1, NUM_CLASSES]
        classify = signatures[CLASSIFY_SIGNATURE]
        assert classify.inputs["inputs"].name == f"{CLASSIFY_SIGNATURE}_inputs:0"
        assert classify.inputs["inputs"].dtype == tf.string.as_datatype_enum
        assert _dims(classify.inputs["inputs"]) == [-1]
        assert set(classify.outputs) == {"classes", "scores"}
        assert classify.outputs["classes"].dtype == tf.string.as_datatype_enum
        assert _dims(classify.outputs["classes"]) == [-1, NUM_CLASSES]
        assert classify.outputs["scores"].dtype == tf.float32.as_datatype_enum
        assert _dims(classify.outputs["scores"]) == [-1, NUM_CLASSES]


def test_tf1_scores_match_tf2_function(
    exported: dict[int, ExportedVersion], tf1_models: dict[int, Tf1Model]
) -> None:
    images = load_digits_28x28().test_images
    for version, model in tf1_models.items():
        tf2_scores = _tf2_scores(exported[version].path, images)
        for name in PREDICT_SIGNATURES:
            tf1_scores = model.run(name, "scores", images=images)
            np.testing.assert_allclose(tf1_scores, tf2_scores, atol=1e-6)


def test_classify_orders_classes_by_score(tf1_models: dict[int, Tf1Model]) -> None:
    images = load_digits_28x28().test_images[:5]
    model = tf1_models[2]
    examples = [_example(image) for image in images]
    classes = model.run(CLASSIFY_SIGNATURE, "classes", inputs=examples)
    scores = model.run(CLASSIFY_SIGNATURE, "scores", inputs=examples)
    predicted = model.run("serving_default", "scores", images=images)
    assert classes.shape == scores.shape == (5, NUM_CLASSES)
    for row_classes, row_scores, row_predicted in zip(classes, scores, predicted, strict=True):
        assert sorted(row_classes.tolist()) == [str(digit).encode() for digit in range(NUM_CLASSES)]
        assert np.all(np.diff(row_scores) <= 0)
        # Each class string is paired with the predict signature's score for that digit.
        digits = [int(label) for label in row_classes]
        np.testing.assert_allclose(row_scores, row_predicted[digits], atol=1e-6)


def test_version_2_is_clearly_better(
    exported: dict[int, ExportedVersion], tf1_models: dict[int, Tf1Model]
) -> None:
    data = load_digits_28x28()
    rates = {
        version: error_rate(
            model.run("serving_default", "scores", images=data.test_images), data.test_labels
        )
        for version, model in tf1_models.items()
    }
    assert rates[1] > V1_MIN_ERROR_RATE
    assert rates[2] < V2_MAX_ERROR_RATE
    assert rates == {version: item.test_error_rate for version, item in exported.items()}


def test_export_is_deterministic(tmp_path: Path, exported: dict[int, ExportedVersion]) -> None:
    (again,) = export_digits_model(tmp_path, {1: 100})
    images = load_digits_28x28().test_images
    np.testing.assert_array_equal(
        _tf2_scores(again.path, images), _tf2_scores(exported[1].path, images)
    )


def test_existing_version_is_never_overwritten(exported: dict[int, ExportedVersion]) -> None:
    model_dir = exported[1].path.parent
    before = (exported[2].path / "saved_model.pb").read_bytes()
    with pytest.raises(FileExistsError, match="immutable"):
        export_digits_model(model_dir, {3: 10, 2: 10})
    assert sorted(child.name for child in model_dir.iterdir()) == ["1", "2"]
    assert (exported[2].path / "saved_model.pb").read_bytes() == before


def test_command_line_exports_one_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--output_dir", str(tmp_path), "--model_version", "7", "--training_iterations", "10"]
    assert main(args) == 0
    assert sorted(child.name for child in tmp_path.iterdir()) == ["7"]
    assert "Exported version 7 (10 iterations" in capsys.readouterr().out
    # Exporting the same version again is refused with a message, not a traceback.
    assert main(args) == 1
    assert "immutable" in capsys.readouterr().err
