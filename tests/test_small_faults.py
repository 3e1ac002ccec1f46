"""Small faults of the catalogue, each fixed: a test fails without its fix."""

from __future__ import annotations

import os
import time
from pathlib import Path

from memcli import Memory
from memcli.vault.files import temp_name


def test_the_temp_sweeper_leaves_a_users_file_that_only_looks_like_a_temp(vault: Path) -> None:
    mem = Memory(vault=vault)
    mem.add("something", infer=False)
    mine = vault / "memories" / ".notes.md.backup.tmp"  # a person's (or another tool's) file
    leftover = vault / "memories" / temp_name("notes.md")  # a killed mem writer's
    for path in (mine, leftover):
        path.write_text("text")
        old = time.time() - 3600
        os.utime(path, (old, old))
    assert Memory(vault=vault).doctor()["swept_temp_files"] == [f"memories/{leftover.name}"]
    assert mine.read_text() == "text" and not leftover.exists()
