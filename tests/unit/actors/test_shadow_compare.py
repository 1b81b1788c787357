"""Agreement between a primary's and a shadow's outputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from actors.shadow_compare import Agreement, compare_outputs


def test_identical_outputs_agree_fully() -> None:
    scores = np.array([[0.1, 0.9], [0.8, 0.2]], np.float32)
    assert compare_outputs({"s": scores}, {"s": scores.copy()}) == Agreement(
        max_abs_difference=0.0, argmax_rows=2, argmax_equal_rows=2, differing_outputs=()
    )


def test_argmax_share_and_largest_difference() -> None:
    primary: dict[str, np.ndarray[Any, Any]] = {
        "scores": np.array([[0.1, 0.9], [0.6, 0.4], [0.3, 0.7]], np.float32),
        "count": np.array([3, 5], np.int64),
    }
    shadow: dict[str, np.ndarray[Any, Any]] = {
        "scores": np.array([[0.2, 0.8], [0.4, 0.6], [0.3, 0.7]], np.float32),
        "count": np.array([3, 9], np.int64),
        "extra": np.array([1.0]),
    }
    agreement = compare_outputs(primary, shadow)
    assert agreement.argmax_rows == 3
    assert agreement.argmax_equal_rows == 2
    assert agreement.max_abs_difference == 4.0
    assert agreement.differing_outputs == ()


def test_nan_missing_reshaped_and_string_outputs() -> None:
    nan = float("nan")
    agreement = compare_outputs(
        {
            "both_nan": np.array([nan, 1.0]),
            "missing": np.array([1.0]),
            "reshaped": np.zeros((2, 2)),
            "words": np.array([b"a", b"b"], object),
        },
        {
            "both_nan": np.array([nan, 1.0]),
            "reshaped": np.zeros((4,)),
            "words": np.array([b"a", b"c"], object),
        },
    )
    assert agreement.max_abs_difference == 0.0
    assert agreement.differing_outputs == ("missing", "reshaped", "words")
    one_sided = compare_outputs({"x": np.array([nan])}, {"x": np.array([0.0])})
    assert one_sided.max_abs_difference == float("inf")
    assert (
        compare_outputs({"w": np.array(["a"])}, {"w": np.array(["a"])}).max_abs_difference is None
    )
