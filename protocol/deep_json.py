"""Request bodies nested deeper than orjson's limit, read without recursion.

TF Serving parses REST bodies with rapidjson's iterative parser: a body nested 500,000
levels deep under a key the server never reads is accepted (``json_tensor_test.cc``,
DeeplyNestedWellFormed), and the same nesting where a string is expected is "key must be a
string value". orjson stops at 1024 levels and the standard library recurses, so
``rest_codec.load_json_body`` calls ``split_deep_members`` only when orjson reported its
depth limit; an ordinary request never comes here and pays nothing.

Contract of ``split_deep_members(body)``:
- it validates the whole body as JSON in one pass over its tokens with an explicit stack
  (no recursion; memory is a few bytes per open bracket, so bounded by the body size,
  which the frontend limits), and raises INVALID_ARGUMENT "JSON Parse error: ..." with the
  byte offset on the first error;
- for a top-level object it returns each member's key, its byte span and its depth; the
  caller drops the over-deep members it ignores and parses the rest with orjson, which then
  holds no deep value. A top-level value that is not an object is returned as ``None``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Final, NoReturn

from protocol.status import invalid_argument

_STRING = rb'"[^"\\\x00-\x1f]*+(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*+)*+"'
_SCALAR = (
    rb"(?:" + _STRING + rb"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
    rb"|true|false|null|NaN|-?Infinity)"
)
_WS = rb"[ \t\r\n]*+"
# Runs make the cost per run, not per level: 500,000 "[" are one token, and so are
# '{"a": {"a": ...' chains, runs of closing brackets and runs of "v, v, ..." in a list.
_COMMON = (
    rb"(?P<ws>[ \t\r\n]+)"
    rb"|(?P<lists>\[[\[ \t\r\n]*+)"
    rb"|(?P<opens>(?:(?:\[|\{" + _WS + _STRING + _WS + rb":)" + _WS + rb")++)"
    rb"|(?P<closes>[\]}][\]} \t\r\n]*+)"
)
_SINGLE = (
    rb"|(?P<string>" + _STRING + rb")"
    rb"|(?P<scalar>" + _SCALAR + rb")"
    rb"|(?P<open>\{)"
    rb"|(?P<comma>,)"
    rb"|(?P<colon>:)"
    rb"|(?P<bad>.)"
)
# One tokenizer per context, because a run is only valid in its own: "v, v, " in a list,
# '"k": v, ' in an object below the top level (top-level keys are read one by one).
_IN_LIST: Final = re.compile(
    _COMMON + rb"|(?P<values>(?:" + _SCALAR + _WS + rb"," + _WS + rb")+)" + _SINGLE, re.DOTALL
)
_IN_OBJECT: Final = re.compile(
    _COMMON
    + rb"|(?P<members>(?:"
    + _STRING
    + _WS
    + rb":"
    + _WS
    + _SCALAR
    + _WS
    + rb","
    + _WS
    + rb")+)"
    + _SINGLE,
    re.DOTALL,
)
_AT_TOP: Final = re.compile(_COMMON + _SINGLE, re.DOTALL)
_STRINGS: Final = re.compile(_STRING)
_NOT_BRACKETS: Final = bytes(c for c in range(256) if c not in b"[]{}")

_VALUE, _VALUE_OR_CLOSE, _KEY, _KEY_OR_CLOSE, _COLON, _AFTER = range(6)
_CLOSE_OF: Final = bytes.maketrans(b"[{", b"]}")


@dataclasses.dataclass(frozen=True, slots=True)
class Member:
    """One member of the top-level object: ``body[start:end]`` is ``"key": value``."""

    key: str
    start: int
    end: int
    depth: int
    """Brackets open at once inside the value (0 for a scalar)."""


def split_deep_members(body: bytes) -> list[Member] | None:
    """Validate ``body`` without recursion; the top-level object's members, else None."""
    stripped = body.lstrip(b" \t\r\n")
    top_is_object = stripped.startswith(b"{")
    stack = bytearray()
    state = _VALUE
    position = 0
    if top_is_object:  # opened here, so that its keys are read one by one
        stack.append(ord("{"))
        state = _KEY_OR_CLOSE
        position = len(body) - len(stripped) + 1
    members: list[Member] = []
    key, key_start, depth = "", 0, 0
    size = len(body)
    while position < size:
        if len(stack) < 2:
            tokens = _AT_TOP if top_is_object or not stack else _IN_LIST
        else:
            tokens = _IN_LIST if stack[-1] == ord("[") else _IN_OBJECT
        match = tokens.match(body, position)
        assert match is not None  # "bad" matches any byte
        position = match.end()
        kind = match.lastgroup
        if kind == "ws":
            continue
        at = match.start()
        if kind == "bad":
            _fail("Invalid value.", at)
        if kind == "closes":
            if state not in (_AFTER, _VALUE_OR_CLOSE, _KEY_OR_CLOSE):
                _fail("Invalid value.", at)
            closes = match.group().translate(None, _NOT_BRACKETS)
            if state == _VALUE_OR_CLOSE and closes[0] != ord("]"):
                _fail("Invalid value.", at)
            if state == _KEY_OR_CLOSE and closes[0] != ord("}"):
                _fail("Missing a name for object member.", at)
            if (
                len(closes) > len(stack)
                or stack[: -len(closes) - 1 : -1].translate(_CLOSE_OF) != closes
            ):
                _fail(_missing_comma(stack), at)
            ends_member = top_is_object and len(stack) > 1 >= len(stack) - len(closes)
            if ends_member:
                members.append(
                    Member(
                        key=key, start=key_start, end=_end_of(match, len(stack) - 1), depth=depth
                    )
                )
            del stack[len(stack) - len(closes) :]
            state = _AFTER
            continue
        if state in (_VALUE, _VALUE_OR_CLOSE):
            if kind in ("lists", "opens"):
                opened = _STRINGS.sub(b"", match.group()).translate(None, _NOT_BRACKETS)
                stack += opened
                depth = max(depth, len(stack) - 1)
                state = _VALUE_OR_CLOSE if opened[-1] == ord("[") else _VALUE
                continue
            if kind == "open":
                stack.append(ord("{"))
                depth = max(depth, len(stack) - 1)
                state = _KEY_OR_CLOSE
                continue
            if kind == "values":
                state = _VALUE
                continue
            if kind not in ("string", "scalar"):
                _fail("Invalid value.", at)
            state = _AFTER
        elif state in (_KEY, _KEY_OR_CLOSE):
            if kind == "members":
                state = _KEY
                continue
            if kind != "string":
                _fail("Missing a name for object member.", at)
            if len(stack) == 1:
                key, key_start, depth = _key(match.group(), at), at, 0
            state = _COLON
            continue
        elif state == _COLON:
            if kind != "colon":
                _fail("Missing a colon after a name of object member.", at)
            state = _VALUE
            continue
        else:  # _AFTER a value
            if not stack:
                _fail("The document root must not be followed by other values.", at)
            if kind != "comma":
                _fail(_missing_comma(stack), at)
            state = _VALUE if stack[-1] == ord("[") else _KEY
            continue
        # A scalar just ended; one directly inside the top-level object completes a member.
        if top_is_object and len(stack) == 1:
            members.append(Member(key=key, start=key_start, end=match.end(), depth=0))
    if stack or state != _AFTER:
        _fail("Invalid value.", len(body))
    return members if top_is_object else None


def _end_of(match: re.Match[bytes], closes: int) -> int:
    """The offset just past the ``closes``-th bracket of a run of closing brackets."""
    run = match.group()
    if len(run) == run.count(b"]") + run.count(b"}"):  # no whitespace: one byte each
        return match.start() + closes
    seen = 0
    for index, char in enumerate(run):
        if char in b"]}":
            seen += 1
            if seen == closes:
                return match.start() + index + 1
    raise AssertionError("unreachable: the run holds enough closing brackets")


def _missing_comma(stack: bytearray) -> str:
    if stack and stack[-1] == ord("{"):
        return "Missing a comma or '}' after an object member."
    return "Missing a comma or ']' after an array element."


def _key(token: bytes, at: int) -> str:
    try:
        key = json.loads(token)
    except ValueError:
        _fail("Invalid escape character in string.", at)
    assert isinstance(key, str)
    return key


def _fail(reason: str, offset: int) -> NoReturn:
    raise invalid_argument(f"JSON Parse error: {reason} at offset: {offset}")
