"""Strict JSON parsing: reject what stock Flask lets through (NaN, duplicate keys, lone
surrogates, integers beyond ±2^53, deep nesting) with a message that says what to fix."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32
MAX_SAFE_INTEGER = 2**53


class MalformedJSONError(ValueError):
    """The body is not JSON the ledger accepts; the message says why."""


def _reject_constant(name: str) -> Any:
    raise MalformedJSONError(f"{name} is not valid JSON; send numbers as finite values.")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedJSONError(f"The key '{key}' appears twice in one object.")
        result[key] = value
    return result


def _safe_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise MalformedJSONError(
            f"The integer {text[:30]} is beyond ±2^53; send large numbers as strings."
        )
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise MalformedJSONError(f"The number {text[:30]} is too large; send it as a string.")
    return value


def _check(value: Any, depth: int) -> None:
    """Walk the value; `depth` counts the arrays and objects enclosing it."""
    if isinstance(value, str):
        _check_text(value)
        return
    if not isinstance(value, dict | list):
        return
    if depth + 1 > MAX_DEPTH:
        raise MalformedJSONError(f"The JSON is nested deeper than {MAX_DEPTH} levels.")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check(item, depth + 1)
    else:
        for item in value:
            _check(item, depth + 1)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedJSONError("A string contains a lone surrogate (invalid Unicode).") from None


def loads_strict(body: bytes) -> Any:
    """Parse a request body as strict JSON, raising MalformedJSONError on anything doubtful."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJSONError("The body is not valid UTF-8.") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_object,
            parse_constant=_reject_constant,
            parse_int=_safe_int,
            parse_float=_finite_float,
        )
    except RecursionError:
        raise MalformedJSONError(f"The JSON is nested deeper than {MAX_DEPTH} levels.") from None
    except json.JSONDecodeError as error:
        raise MalformedJSONError(
            f"The body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}."
        ) from None
    _check(value, 0)
    return value
