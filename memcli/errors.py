"""Typed errors. Every message is written for the person who will read it on one line."""

from __future__ import annotations


class MemError(Exception):
    """Base of every error `mem` raises on purpose; str(err) is the user-facing line."""


class InvalidInputError(MemError, ValueError):
    """The caller passed something `mem` refuses (empty text, a bad id, a bad option)."""


class NotFoundError(MemError, ValueError):
    """No memory has that id. ValueError too, as Mem0 raises ValueError here."""


class VaultError(MemError):
    """The vault cannot be used (the path is a file, not writable, outside the vault...)."""


class ParseError(MemError):
    """A vault file cannot be read as a note: bad YAML, not UTF-8, too big."""


class ConflictError(MemError):
    """A file changed on disk between `mem` reading it and writing it back."""


class LockTimeoutError(MemError):
    """Another writer held the vault lock for too long."""
