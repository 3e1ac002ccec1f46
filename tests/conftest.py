"""Every test gets its own home, default vault location and working folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from memcli import Memory


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    for name in ("MEM_VAULT", "MEM_MAX_FILE_BYTES", "MEM_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    return tmp_path / "vault"


@pytest.fixture
def mem(vault: Path) -> Memory:
    return Memory(vault=vault)
