"""Train softmax regression on the digits and export it as TF Serving model versions.

This is TF Serving's ``mnist_saved_model.py`` tutorial in TF2: a 784 -> 10 softmax regression
(weights ``W``, bias ``b``, cross-entropy, plain mini-batch gradient descent) exported with
``tf.saved_model.save``. By default it writes two versions into one model folder, version 1
after ``100`` training iterations and version 2 after ``2000``, so a server watching the folder
can be seen to move from a poor model (about 23% held-out error) to a good one (about 7%).
The learning rate is kept small on purpose: with a larger one, 100 iterations already suffice
and the two versions would be indistinguishable to a client.

Each version folder holds these signatures (TF2 marks every signature's method_name as
``tensorflow/serving/predict``; only the tensors differ):

- ``serving_default`` and ``predict_images``: input ``images`` float32 [None, 784], output
  ``scores`` float32 [None, 10] (softmax probabilities, column i is digit i);
- ``classify_images``: input ``inputs`` string [None] of serialized ``tf.train.Example``
  protos with a float feature ``x`` of length 784; outputs ``classes`` string [None, 10] and
  ``scores`` float32 [None, 10], each row sorted by descending score, ``classes`` holding the
  digit ("0".."9") that each score belongs to, as in the original tutorial.

Writes are atomic: a version is exported into a hidden sibling folder whose name is not a
number (so a version poller ignores it) and renamed into place only when complete. A version
folder that already exists is never overwritten (FileExistsError, raised before any training),
because a served version is immutable. Training is deterministic: zero-initialised weights and
a seeded mini-batch order, so the same arguments give the same scores.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import time
import types
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from examples.digits_data import IMAGE_PIXELS, NUM_CLASSES, DigitsData, load_digits_28x28
from examples.quiet_tensorflow import VERBOSE_HELP, tensorflow_quiet

with tensorflow_quiet():  # importing TensorFlow (see examples.quiet_tensorflow)
    import tensorflow as tf

# Version -> training iterations; frozen so the default argument can be shared safely.
DEFAULT_VERSIONS: Mapping[int, int] = types.MappingProxyType({1: 100, 2: 2000})

# Signature input keys are the argument names of SoftmaxRegression's tf.functions and output
# keys are the keys of the dicts they return; the constants name them for clients and tests.
PREDICT_SIGNATURES = ("serving_default", "predict_images")
CLASSIFY_SIGNATURE = "classify_images"
PREDICT_INPUT_KEY = "images"
CLASSIFY_INPUT_KEY = "inputs"
SCORES_KEY = "scores"
CLASSES_KEY = "classes"
EXAMPLE_FEATURE = "x"

LEARNING_RATE = 0.002
BATCH_SIZE = 50
SEED = 0


class SoftmaxRegression(tf.Module):
    """scores = softmax(images @ W + b), with the serving entry points as tf.functions."""

    def __init__(self) -> None:
        super().__init__(name="softmax_regression")
        # Zeros, like the tutorial: no random initialisation means nothing to seed here.
        self.W = tf.Variable(tf.zeros([IMAGE_PIXELS, NUM_CLASSES]), name="W")
        self.b = tf.Variable(tf.zeros([NUM_CLASSES]), name="b")
        self._class_labels = tf.constant([str(digit) for digit in range(NUM_CLASSES)])

    def logits(self, images: tf.Tensor) -> tf.Tensor:
        return tf.matmul(images, self.W) + self.b

    @tf.function(input_signature=[tf.TensorSpec([None, IMAGE_PIXELS], tf.float32)])
    def predict(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        return {SCORES_KEY: tf.nn.softmax(self.logits(images))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def classify(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        features = tf.io.parse_example(
            inputs, {EXAMPLE_FEATURE: tf.io.FixedLenFeature([IMAGE_PIXELS], tf.float32)}
        )
        scores = tf.nn.softmax(self.logits(features[EXAMPLE_FEATURE]))
        top_scores, top_indices = tf.math.top_k(scores, k=NUM_CLASSES)
        # tf.gather rather than a lookup table: a table needs an initializer op, one more
        # thing for a TF1 loader to run before the first request.
        return {CLASSES_KEY: tf.gather(self._class_labels, top_indices), SCORES_KEY: top_scores}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ExportedVersion:
    """One version written to disk, with its error rate on the held-out digits."""

    version: int
    training_iterations: int
    path: Path
    test_error_rate: float


def _make_train_step(
    model: SoftmaxRegression, learning_rate: float
) -> tf.types.experimental.PolymorphicFunction:
    """A compiled gradient-descent step; kept off the module so it is not exported with it."""

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, IMAGE_PIXELS], tf.float32),
            tf.TensorSpec([None], tf.int64),
        ]
    )
    def train_step(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=labels, logits=model.logits(images)
            )
            loss = tf.reduce_mean(cross_entropy)
        gradients = tape.gradient(loss, [model.W, model.b])
        for variable, gradient in zip([model.W, model.b], gradients, strict=True):
            variable.assign_sub(learning_rate * gradient)
        return loss

    return train_step


def _batch_indices(
    num_examples: int, batch_size: int, seed: int
) -> Iterator[npt.NDArray[np.int64]]:
    """An endless, seeded stream of mini-batches; each is sampled without replacement."""
    rng = np.random.default_rng(seed)
    while True:
        yield rng.choice(num_examples, size=batch_size, replace=False)


def error_rate(scores: npt.NDArray[np.floating], labels: npt.NDArray[np.integer]) -> float:
    """Fraction of rows whose highest score is not at the label's column."""
    return float(np.mean(np.argmax(scores, axis=1) != labels))


def _save_atomically(model: SoftmaxRegression, target: Path) -> None:
    """Export into a hidden sibling folder and rename it to ``target`` once complete."""
    # Same parent folder, so the rename stays on one filesystem and is atomic; the leading dot
    # and the non-numeric name keep version pollers from treating it as a version.
    staging = target.parent / f".{target.name}.incomplete-{uuid.uuid4().hex}"
    # os.mkdir honours the umask; tempfile.mkdtemp would leave the version readable only by us,
    # and a server running as another user could not load it.
    staging.mkdir()
    try:
        predict = model.predict.get_concrete_function()
        signatures = {name: predict for name in PREDICT_SIGNATURES}
        signatures[CLASSIFY_SIGNATURE] = model.classify.get_concrete_function()
        tf.saved_model.save(model, str(staging), signatures=signatures)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _check_targets_free(output_dir: Path, versions: Mapping[int, int]) -> None:
    for version, iterations in versions.items():
        if version < 0 or iterations < 0:
            raise ValueError(f"version {version} and iterations {iterations} must be >= 0")
        if (output_dir / str(version)).exists():
            raise FileExistsError(
                f"{output_dir / str(version)} already exists; a served version is immutable, "
                "so export under a new version number or delete that folder first"
            )


def export_digits_model(
    output_dir: str | os.PathLike[str],
    versions: Mapping[int, int] = DEFAULT_VERSIONS,
    *,
    data: DigitsData | None = None,
    learning_rate: float = LEARNING_RATE,
    batch_size: int = BATCH_SIZE,
    seed: int = SEED,
) -> list[ExportedVersion]:
    """Train once and export each ``version`` after its number of training ``iterations``.

    Versions are exported in order of their iteration counts from a single training run; since
    the mini-batch stream is seeded, that equals training each version from scratch. Returns
    the exported versions sorted by version number. Raises FileExistsError if any target
    version folder exists, before doing any work.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    _check_targets_free(output_dir, versions)
    data = data if data is not None else load_digits_28x28()
    # Nothing here draws from TF's RNG today (zero init, numpy batches); seeding anyway keeps a
    # future random initialiser from silently making exports differ run to run.
    tf.random.set_seed(seed)

    model = SoftmaxRegression()
    train_step = _make_train_step(model, learning_rate)
    batches = _batch_indices(len(data.train_images), batch_size, seed)
    test_images = tf.constant(data.test_images)
    exported: list[ExportedVersion] = []
    iterations_done = 0
    for version, iterations in sorted(versions.items(), key=lambda item: (item[1], item[0])):
        for _ in range(iterations - iterations_done):
            batch = next(batches)
            train_step(data.train_images[batch], data.train_labels[batch])
        iterations_done = iterations
        target = output_dir / str(version)
        _save_atomically(model, target)
        scores = model.predict(test_images)[SCORES_KEY].numpy()
        exported.append(
            ExportedVersion(
                version=version,
                training_iterations=iterations,
                path=target,
                test_error_rate=error_rate(scores, data.test_labels),
            )
        )
    return sorted(exported, key=lambda item: item.version)


def _versions_from_args(args: argparse.Namespace) -> Mapping[int, int]:
    """Both default versions unless a single one is asked for (the tutorial's flags)."""
    if args.model_version is None and args.training_iterations is None:
        return DEFAULT_VERSIONS
    version = 1 if args.model_version is None else args.model_version
    iterations = args.training_iterations
    if iterations is None:
        iterations = DEFAULT_VERSIONS.get(version, max(DEFAULT_VERSIONS.values()))
    return {version: iterations}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output_dir", required=True, help="model folder; versions go in DIR/<version>"
    )
    parser.add_argument(
        "--training_iterations",
        type=int,
        default=None,
        help="export one version after this many iterations (default: v1 after 100, v2 after 2000)",
    )
    parser.add_argument(
        "--model_version",
        type=int,
        default=None,
        help="export only this version (default: 1 and 2)",
    )
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    args = parser.parse_args(argv)
    started_s = time.monotonic()
    try:
        with tensorflow_quiet():  # the first use of a device probes CUDA
            exported = export_digits_model(args.output_dir, _versions_from_args(args))
    except (FileExistsError, ValueError) as error:
        print(f"Export failed: {error}", file=sys.stderr)
        return 1
    for item in exported:
        print(
            f"Exported version {item.version} ({item.training_iterations} iterations, "
            f"held-out error rate {item.test_error_rate:.1%}) to {item.path}"
        )
    print(f"Done in {time.monotonic() - started_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
