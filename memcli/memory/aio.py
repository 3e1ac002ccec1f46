"""AsyncMemory: Memory for asyncio code, as Mem0's AsyncMemory. Each call runs the same method
in a worker thread (asyncio.to_thread); mem's locks and atomic writes make that safe."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from memcli.config import Settings
from memcli.memory import Memory


class AsyncMemory:
    """`await m.add(...)`, `await m.search(...)`: every method of Memory, awaited."""

    def __init__(self, vault: str | os.PathLike[str] | None = None, **options: Any) -> None:
        self.sync = Memory(vault, **options)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AsyncMemory:
        made = cls.__new__(cls)
        made.sync = Memory.from_config(config)
        return made

    @property
    def settings(self) -> Settings:
        return self.sync.settings

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.sync, name)
        if not callable(method) or name.startswith("_"):
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        call.__name__, call.__doc__ = name, method.__doc__
        return call

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"
