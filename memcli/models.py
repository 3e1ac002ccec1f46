"""Plain data shapes shared by the modules. No I/O here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from memcli.errors import InvalidInputError
from memcli.guard.outputs import clean

# `status` values kept in a memory's frontmatter. Absent means current.
CURRENT = "current"
SUPERSEDED = "superseded"
DELETED = "deleted"

SCOPE_KEYS = ("user", "agent", "run", "app")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_id(memory_id: object) -> str:
    """Return the id if it is a well-formed memory id, else raise a clear error.

    Ids are letters, digits, '-' and '_' only, so one can never name a path
    (no '/', '..', NUL or absolute paths).
    """
    if not isinstance(memory_id, str) or not ID_PATTERN.fullmatch(memory_id):  # "m-1\n" is no id
        shown = repr(memory_id if not isinstance(memory_id, str) else memory_id[:60])
        raise InvalidInputError(
            f"invalid memory id {shown}: ids are letters, digits, '-' and '_' (like m-3f9a2b1c0d); "
            "see `mem list` for ids"
        )
    return memory_id


def timestamp(value: str | None) -> float:
    """An ISO 8601 time as a Unix time (UTC when no zone is given); 0.0 when absent or unreadable."""
    if not value:
        return 0.0
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def last_changed(updated: str | None, created: str | None) -> float:
    """When a memory last changed (updated, else created) as a Unix time; 0.0 when unknown."""
    return timestamp(updated) or timestamp(created)


def expiry(value: str | None) -> float:
    """When an `expires:` value ends a memory, as a Unix time (0.0: never). A bare date
    (Mem0's expiration_date, 2026-12-31) keeps the memory through that whole day."""
    moment = timestamp(value)
    if moment and value is not None and len(value.strip()) == 10:
        moment += 86_400
    return moment


@dataclass
class MemoryRecord:
    """One markdown file of the vault as `mem` sees it.

    `kind` is "memory" for files with an `id` in their frontmatter and "note" for
    hand-written files without one (their id is derived from their path).
    """

    id: str
    text: str
    path: str  # relative to the vault root, forward slashes
    kind: str = "memory"
    created: str | None = None
    updated: str | None = None
    user: str | None = None
    agent: str | None = None
    run: str | None = None
    app: str | None = None  # Mem0's app_id: the application a memory belongs to
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    status: str = CURRENT
    history: list[dict[str, Any]] = field(default_factory=list)
    title: str | None = None
    sha256: str = ""
    links: list[dict[str, str | None]] = field(default_factory=list)  # {"target", "relation"}
    aliases: list[str] = field(default_factory=list)  # an entity note's other names
    entity_type: str | None = None  # an entity note's `type:`
    supersedes: list[str] = field(default_factory=list)  # ids this memory replaced
    superseded_by: str | None = None
    invalid_at: str | None = None  # when it stopped being true (superseded or deleted)
    may_conflict: list[str] = field(default_factory=list)  # older memories this one may replace (unsure)
    not_conflicting: list[str] = field(default_factory=list)  # pairs a person reviewed and kept both
    expires: str | None = None  # Mem0's expiration_date: out of search, list and context after it

    @property
    def is_current(self) -> bool:
        return self.status == CURRENT

    @property
    def time(self) -> float:
        """When it last changed (updated, else created) as a Unix time; 0.0 when unknown."""
        return last_changed(self.updated, self.created)

    def valid_at(self, moment: float) -> bool:
        """Was this memory true at `moment` (Unix time)? Created by then and not yet invalid."""
        created = timestamp(self.created)
        if created and created > moment:
            return False
        ends = expiry(self.expires)
        if ends and ends <= moment:
            return False
        ended = timestamp(self.invalid_at)
        if ended:
            return ended > moment
        return self.is_current

    def expired(self, moment: float) -> bool:
        ends = expiry(self.expires)
        return bool(ends) and ends <= moment

    def scope(self) -> dict[str, str | None]:
        return {"user": self.user, "agent": self.agent, "run": self.run, "app": self.app}

    def to_result(self) -> dict[str, Any]:
        """The Mem0-shaped dict the library returns for this record (without a score)."""
        return {
            "id": self.id,
            "memory": clean(self.text),
            "metadata": dict(self.metadata),
            "created_at": self.created,
            "updated_at": self.updated,
            "user_id": self.user,
            "agent_id": self.agent,
            "run_id": self.run,
            "app_id": self.app,
            "path": self.path,
            **({"expiration_date": self.expires} if self.expires else {}),
        }


@dataclass
class FileProblem:
    """A vault file that could not be read, and why (shown by `mem doctor`)."""

    path: str
    reason: str
    duplicate_of: str | None = None  # the id, when the file repeats another file's id (a copy)


@dataclass
class Hit:
    """A search result before it becomes a dict: the record, its score and the signals behind it."""

    record: MemoryRecord
    score: float
    signals: dict[str, float] = field(default_factory=dict)
