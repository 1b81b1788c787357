"""``split_deep_members`` accepts exactly what the standard library's parser accepts."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from protocol.deep_json import split_deep_members
from protocol.status import ServingError


def _document(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 5 or roll < 0.3:
        return rng.choice([1, -2.5, 'a"b\\c', True, None, "x\u00e9", 0, 1e5])
    if roll < 0.65:
        return [_document(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice("abcdef"): _document(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _accepted(body: bytes) -> bool:
    try:
        split_deep_members(body)
    except ServingError:
        return False
    return True


def _stdlib_accepts(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def test_agrees_with_the_standard_library_on_valid_and_mutated_documents() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        indent = rng.choice([None, 1])
        body = json.dumps(_document(rng), indent=indent).encode()
        if rng.random() < 0.5:
            at = rng.randrange(len(body))
            char = bytes([rng.choice(b'[]{},:"1 a\\')])
            body = rng.choice(
                [
                    body[:at] + char + body[at + 1 :],
                    body[:at] + body[at + 1 :],
                    body[:at] + char + body[at:],
                ]
            )
        assert _accepted(body) == _stdlib_accepts(body), body


def test_members_of_the_top_level_object_with_their_spans_and_depths() -> None:
    body = b'{"a": 1, "b" : [ [1,2], {"c": 3} ] , "e": {"f": {"g": 1}}}'
    members = split_deep_members(body)
    assert members is not None
    assert [(m.key, body[m.start : m.end], m.depth) for m in members] == [
        ("a", b'"a": 1', 0),
        ("b", b'"b" : [ [1,2], {"c": 3} ]', 2),
        ("e", b'"e": {"f": {"g": 1}}', 2),
    ]


def test_half_a_million_levels_need_no_recursion() -> None:
    levels = 500_000
    body = (
        b'{"x": '
        + b"[" * levels
        + b"]" * levels
        + b', "y": '
        + b'{"a":' * levels
        + b"1"
        + b"}" * levels
        + b"}"
    )
    members = split_deep_members(body)
    assert members is not None
    assert [(m.key, m.depth) for m in members] == [("x", levels), ("y", levels)]


def test_a_top_level_value_that_is_not_an_object_has_no_members() -> None:
    assert split_deep_members(b"[[1], 2]") is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 2000 + b"]" * 1999, "Invalid value."),
        (b'{"a": [1 2]}', "Missing a comma or ']' after an array element."),
        (b'{"a": 1} 2', "The document root must not be followed by other values."),
        (b'{"a" 1}', "Missing a colon after a name of object member."),
    ],
)
def test_errors_are_rapidjsons_words(body: bytes, reason: str) -> None:
    with pytest.raises(ServingError, match="JSON Parse error: " + reason.replace(".", r"\.")):
        split_deep_members(body)
