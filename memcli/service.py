"""Kept so `from memcli.service import Memory` (the name before the memory/ package) still works."""

from memcli.memory import Memory, load_messages

__all__ = ["Memory", "load_messages"]
