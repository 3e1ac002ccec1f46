"""The one error tree. Every error mem raises on purpose is a MemError whose str() is the one
line a person reads; the CLI prints it, MCP returns it, nothing else is shown. Catch a class, never
a message text: where a caller must tell cases apart, the error carries a field.

    MemError
    ├── InvalidInputError (ValueError)   the caller passed something mem refuses
    │   └── SecretFoundError             the text holds a credential; nothing was written
    ├── NotFoundError (ValueError)       no memory with that id (Mem0 raises ValueError too)
    ├── VaultError                       the vault cannot be used
    ├── ParseError                       a file cannot be read as a note
    ├── ConflictError                    a file changed between mem's read and its write
    ├── LockTimeoutError                 another writer held the lock too long
    ├── GitError                         git is missing or a git command failed
    ├── EmbeddingUnavailable             no embedding model: search runs BM25 only
    ├── LLMError                         the optional LLM gave no usable answer (add falls back to the rules)
    ├── IndexDamaged                     the stored index cannot be trusted (mem rebuilds it; never shown)
    └── IndexUnavailable                 the index under .mem/ cannot be used now (disk full, read-only,
                                         an I/O error, a folder in its place): the files are fine
"""

from __future__ import annotations


class MemError(Exception):
    """Base of every error `mem` raises on purpose; str(err) is the user-facing line."""


class InvalidInputError(MemError, ValueError):
    """The caller passed something `mem` refuses (empty text, a bad id, a bad option)."""


class NotFoundError(MemError, ValueError):
    """No memory has that id. ValueError too, as Mem0 raises ValueError here."""


class SecretFoundError(InvalidInputError):
    """The text holds something that looks like a credential; nothing was written."""


class VaultError(MemError):
    """The vault cannot be used (the path is a file, not writable, outside the vault...)."""


class ParseError(MemError):
    """A vault file cannot be read as a note: bad YAML, not UTF-8, too big."""


class ConflictError(MemError):
    """A file changed on disk between `mem` reading it and writing it back."""


class LockTimeoutError(MemError):
    """Another writer held the vault lock for too long."""


class GitError(MemError):
    """git is missing, or a git command failed in a way mem cannot settle."""


class EmbeddingUnavailable(MemError):
    """No embedding model can be loaded; search falls back to BM25."""


class LLMError(MemError):
    """The LLM could not give a usable answer; the message says why, in a few words."""


class IndexDamaged(MemError):
    """The stored index cannot be trusted; the caller deletes it and rebuilds."""


class IndexUnavailable(MemError):
    """The index under .mem/ cannot be read or written now (the disk is full, it is read-only, an
    I/O error, a folder where its file belongs). Not damage: it is kept, never deleted. Reads and
    a write's own indexing go on with an in-memory index; `mem index` reports it."""
