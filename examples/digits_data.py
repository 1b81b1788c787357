"""The MNIST-shaped data set of the built-in example, made from scikit-learn's bundled digits.

TF Serving's tutorial downloads MNIST; this example must run offline, so it uses the 1,797 8x8
images that ship inside scikit-learn and scales them up bilinearly to MNIST's 28x28. The
contract that the exporter, the client and the tests rely on:

- images are float32 in [0, 1], one flattened row of ``IMAGE_PIXELS`` (784) per image;
- labels are int64 digits 0..9;
- the train/test split is deterministic (fixed seed, stratified, ``TEST_FRACTION`` held out),
  so a model exported on one machine and a client run on another agree on the held-out set;
- the arrays are read-only and shared between callers (the result is cached), so nobody can
  corrupt another caller's copy.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

IMAGE_SIDE = 28
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE
NUM_CLASSES = 10
TEST_FRACTION = 0.2
SPLIT_SEED = 0

# load_digits() pixels are counts of set pixels in 4x4 blocks of a 32x32 bitmap: 0..16.
_SOURCE_MAX_VALUE = 16.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class DigitsData:
    """Train and held-out images (float32, [n, 784]) with their int64 labels ([n])."""

    train_images: npt.NDArray[np.float32]
    train_labels: npt.NDArray[np.int64]
    test_images: npt.NDArray[np.float32]
    test_labels: npt.NDArray[np.int64]


def _bilinear_matrix(source_side: int, target_side: int) -> npt.NDArray[np.float64]:
    """A [target, source] matrix whose rows interpolate one output row from the input rows.

    Pixel centres are aligned (as in tf.image.resize), and the source coordinate is clipped at
    the border, so every row is a convex combination: values stay within the input's range.
    """
    scale = source_side / target_side
    coords = np.clip((np.arange(target_side) + 0.5) * scale - 0.5, 0.0, source_side - 1.0)
    low = np.floor(coords).astype(np.int64)
    high = np.minimum(low + 1, source_side - 1)
    frac = coords - low
    matrix = np.zeros((target_side, source_side))
    rows = np.arange(target_side)
    # np.add.at, not fancy assignment: at the border low == high and both weights must add up.
    np.add.at(matrix, (rows, low), 1.0 - frac)
    np.add.at(matrix, (rows, high), frac)
    return matrix


def upscale_images(
    images: npt.NDArray[np.floating], target_side: int = IMAGE_SIDE
) -> npt.NDArray[np.float32]:
    """Bilinearly resize square images [n, s, s] to [n, target_side, target_side]."""
    matrix = _bilinear_matrix(images.shape[-1], target_side)
    # Separable resize: interpolate the rows, then the columns, for every image at once.
    resized: npt.NDArray[np.float32] = np.einsum("ij,njk,lk->nil", matrix, images, matrix).astype(
        np.float32
    )
    return resized


ArrayT = TypeVar("ArrayT", bound=npt.NDArray[Any])


def _read_only(array: ArrayT) -> ArrayT:
    array.setflags(write=False)
    return array


@functools.cache
def load_digits_28x28() -> DigitsData:
    """The digits as 28x28 MNIST-like rows in [0, 1], split deterministically into train/test."""
    digits = load_digits()
    images = upscale_images(digits.images / _SOURCE_MAX_VALUE).reshape(-1, IMAGE_PIXELS)
    labels = digits.target.astype(np.int64)
    train_images, test_images, train_labels, test_labels = train_test_split(
        images, labels, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels
    )
    return DigitsData(
        train_images=_read_only(np.ascontiguousarray(train_images, dtype=np.float32)),
        train_labels=_read_only(np.ascontiguousarray(train_labels, dtype=np.int64)),
        test_images=_read_only(np.ascontiguousarray(test_images, dtype=np.float32)),
        test_labels=_read_only(np.ascontiguousarray(test_labels, dtype=np.int64)),
    )
