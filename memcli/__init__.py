"""mem: long-term memory for AI agents, kept as markdown files people can read and edit.

>>> from memcli import Memory
>>> m = Memory(vault="~/notes")
>>> m.add("prefers pnpm over npm", user_id="ray")
"""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from memcli.memory import Memory
    from memcli.memory.aio import AsyncMemory

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Memory is loaded on first use, not by `import memcli`: a `mem` call that a running
    # `mem watch` answers never loads the library (memcli.serve, memcli.cli.remote).
    if name == "Memory":
        from memcli.memory import Memory

        return Memory
    if name == "AsyncMemory":
        from memcli.memory.aio import AsyncMemory

        return AsyncMemory
    raise AttributeError(f"module 'memcli' has no attribute {name!r}")


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
