"""Validation of what callers pass in: one clear InvalidInputError per problem."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from memcli.errors import InvalidInputError

_MAX_SCOPE_LEN = 200
MAX_NESTING = 32  # levels of lists and maps in metadata (and in an import's JSON)
_MAX_TEXT_CHARS = 100_000
_CONFLICT_MARKER = re.compile(r"^(?:<{7}|>{7})(?: |$)", re.MULTILINE)
_MAX_NAME_LEN = 200
# Line breaks (\n \r, U+0085, U+2028/9), other controls (ESC...), zero-width and bidi-format
# characters (RLO...): none belongs in a name that becomes a file name and a [[link]].
_NOT_IN_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def check_text(text: object, what: str = "text") -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"the {what} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InvalidInputError(f"nothing to remember: the {what} is empty")
    if "\x00" in text:
        raise InvalidInputError(f"the {what} contains a NUL byte")
    if _CONFLICT_MARKER.search(text):
        raise InvalidInputError(
            f"the {what} has a line starting with <<<<<<< or >>>>>>> (a git conflict marker); "
            "mem would later skip the file as conflicted: reword or indent that line"
        )
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


def check_name(value: object, what: str) -> str:
    """An entity or relation name: it becomes a file name under entities/ and a [[link]], so one
    line of visible text (no line break, control or bidi character), at most 200 characters."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{what} must be a non-empty string")
    bad = _NOT_IN_NAME.search(value)
    if bad:
        raise InvalidInputError(
            f"{what} {value[:80]!r} holds U+{ord(bad.group(0)):04X} (a line break, control or bidi "
            "character); a name must be one line of visible text"
        )
    if len(value) > _MAX_NAME_LEN:
        raise InvalidInputError(f"{what} is {len(value):,} characters; the limit is {_MAX_NAME_LEN}")
    return value.strip()


def check_plain(value: Any, where: str, depth: int = 0) -> None:
    """Metadata must survive YAML and JSON unchanged: str/int/float/bool/None, lists, str-keyed
    maps, nested at most MAX_NESTING deep (deeper is refused, not a RecursionError)."""
    if depth > MAX_NESTING:
        raise InvalidInputError(f"{where} is nested more than {MAX_NESTING} levels deep")
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, list):
        for item in value:
            check_plain(item, where, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"{where} keys must be strings, got {key!r}")
            check_plain(item, where, depth + 1)
        return
    raise InvalidInputError(
        f"{where} values must be strings, numbers, booleans, lists or maps, got {type(value).__name__}"
    )


def check_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInputError(f"limit must be a positive whole number, got {limit!r}")
    return limit


def check_expiry(value: object) -> str | None:
    """Mem0's expiration_date as the `expires:` value: a date (kept through that day) or an ISO time."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip() if isinstance(value, str) else ""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"expiration_date must be a date like 2026-12-31 or an ISO time, got {value!r:.40}"
        ) from None
    return text if len(text) == 10 else (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()


SCOPE_ARGS = {"user_id": "user", "agent_id": "agent", "run_id": "run", "app_id": "app"}


def check_scopes(user_id: object, agent_id: object, run_id: object, app_id: object = None) -> dict[str, str]:
    """The scope keys a caller gave ({"user": "ray"}), each checked; unset ones left out."""
    given = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id, "app_id": app_id}
    checked = {SCOPE_ARGS[key]: check_scope(key, value) for key, value in given.items()}
    return {key: value for key, value in checked.items() if value is not None}


def check_messages(messages: object, infer: bool) -> list[tuple[str, str]]:
    """(role, text) of each message but system ones, checked. Inference reads assistant turns
    as context; without it every turn is stored as given."""
    if isinstance(messages, str):
        return [("user", check_text(messages))]
    if not isinstance(messages, list) or not messages:
        raise InvalidInputError('messages must be a string or a non-empty list of {"role", "content"} items')
    turns = []
    for number, message in enumerate(messages, 1):
        if not isinstance(message, dict) or "content" not in message:
            raise InvalidInputError(f'message {number} must be a mapping with "role" and "content"')
        role = str(message.get("role") or "user")
        if role == "system":
            continue  # assistant turns: context for extraction (infer) or stored as said (verbatim)
        turns.append((role, check_text(message["content"], f"content of message {number}")))
    if not any(role == "user" for role, _ in turns) and (infer or not turns):
        raise InvalidInputError("nothing to remember: the conversation has no user messages")
    return turns
