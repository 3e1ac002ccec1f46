"""mem: long-term memory for AI agents, kept as markdown files people can read and edit.

>>> from memcli import Memory
>>> m = Memory(vault="~/notes")
>>> m.add("prefers pnpm over npm", user_id="ray")
"""

from memcli.errors import (
    ConflictError,
    InvalidInputError,
    LockTimeoutError,
    MemError,
    NotFoundError,
    ParseError,
    VaultError,
)
from memcli.memory import Memory

__version__ = "0.1.0"

__all__ = [
    "ConflictError",
    "InvalidInputError",
    "LockTimeoutError",
    "MemError",
    "Memory",
    "NotFoundError",
    "ParseError",
    "VaultError",
    "__version__",
]
