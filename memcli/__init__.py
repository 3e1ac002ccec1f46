"""mem: long-term memory for AI agents, kept as markdown files people can read and edit.

>>> from memcli import Memory
>>> m = Memory(vault="~/notes")
>>> m.add("prefers pnpm over npm", user_id="ray")
"""

from memcli.errors import (
    ConflictError,
    EmbeddingUnavailable,
    GitError,
    IndexDamaged,
    IndexUnavailable,
    InvalidInputError,
    LLMError,
    LockTimeoutError,
    MemError,
    NotFoundError,
    ParseError,
    SecretFoundError,
    VaultError,
)
from memcli.memory import Memory
from memcli.memory.aio import AsyncMemory

__version__ = "0.1.0"

__all__ = [
    "AsyncMemory",
    "ConflictError",
    "EmbeddingUnavailable",
    "GitError",
    "IndexDamaged",
    "IndexUnavailable",
    "InvalidInputError",
    "LLMError",
    "LockTimeoutError",
    "MemError",
    "Memory",
    "NotFoundError",
    "ParseError",
    "SecretFoundError",
    "VaultError",
    "__version__",
]
