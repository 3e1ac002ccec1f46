"""Validation of what callers pass in: one clear InvalidInputError per problem."""

from __future__ import annotations

from typing import Any

from memcli.errors import InvalidInputError

_MAX_SCOPE_LEN = 200
_MAX_TEXT_CHARS = 100_000


def check_text(text: object, what: str = "text") -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"the {what} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InvalidInputError(f"nothing to remember: the {what} is empty")
    if "\x00" in text:
        raise InvalidInputError(f"the {what} contains a NUL byte")
    if len(text) > _MAX_TEXT_CHARS:
        raise InvalidInputError(f"the {what} is {len(text):,} characters; the limit is {_MAX_TEXT_CHARS:,}")
    return text.strip()


def check_scope(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{name} must be a non-empty string")
    if len(value) > _MAX_SCOPE_LEN or any(ch in value for ch in "\x00\r\n"):
        raise InvalidInputError(f"{name} must be one line of at most {_MAX_SCOPE_LEN} characters")
    return value.strip()


def check_plain(value: Any, where: str) -> None:
    """Metadata must survive YAML and JSON unchanged: str/int/float/bool/None, lists, str-keyed maps."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, list):
        for item in value:
            check_plain(item, where)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"{where} keys must be strings, got {key!r}")
            check_plain(item, where)
        return
    raise InvalidInputError(
        f"{where} values must be strings, numbers, booleans, lists or maps, got {type(value).__name__}"
    )


def check_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInputError(f"limit must be a positive whole number, got {limit!r}")
    return limit
