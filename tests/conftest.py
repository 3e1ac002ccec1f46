"""Every test gets its own home, default vault location and working folder."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from memcli import Memory
from memcli.testing import HashEmbedder

if TYPE_CHECKING:
    from memcli.watch import Watcher


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    for name in (
        "MEM_VAULT",
        "MEM_MAX_FILE_BYTES",
        "MEM_DEBUG",
        "MEM_SEARCH_MODE",
        "MEM_EMBED_THREADS",
        "MEM_FRESHNESS_MS",
        "MEM_LLM_BASE_URL",
        "MEM_LLM_MODEL",
        "MEM_LLM_API_KEY",
        "MEM_LLM_TIMEOUT",
        "MEM_DAEMON",
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
    ):
        monkeypatch.delenv(name, raising=False)
    # Unit tests run without the real model (fast, deterministic); tests of the model opt in.
    monkeypatch.setenv("MEM_EMBED_MODEL", "none")
    # Tests edit files and search at once; the warm-process check interval is tested on its own.
    monkeypatch.setenv("MEM_FRESHNESS_MS", "0")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


@pytest.fixture(autouse=True)
def unknown_llm_servers() -> None:
    """What a process learned of LLM servers (formats, context, the breaker) does not leak between tests."""
    from memcli.infer import llm

    llm.forget_servers()


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    return tmp_path / "vault"


@pytest.fixture
def mem(vault: Path) -> Memory:
    return Memory(vault=vault)


FakeEmbedder = HashEmbedder  # the tests' old name for it


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@contextlib.contextmanager
def running_watch(vault: Path, draws: bool = True) -> Iterator[Watcher]:
    """A `mem watch` of `vault` serving CLI queries, in a thread of this process; `draws`: it draws
    results for the CLI's front door as `mem watch` does (else the front door draws them)."""
    from memcli.cli.render import shown
    from memcli.watch import Watcher

    Memory(vault=vault).init()
    started = threading.Event()
    watcher = Watcher(Memory(vault=vault), on_start=started.set, serve=True, show=shown if draws else None)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    assert started.wait(30) and watcher.server is not None, watcher.not_serving
    try:
        yield watcher
    finally:
        watcher.stop()
        thread.join(30)


@pytest.fixture
def serving(vault: Path) -> Iterator[Watcher]:
    with running_watch(vault) as watcher:
        yield watcher
