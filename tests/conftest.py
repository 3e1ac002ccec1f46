"""Every test gets its own home, default vault location and working folder."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from memcli import Memory
from memcli.text.normalize import tokenize


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


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    return tmp_path / "vault"


@pytest.fixture
def mem(vault: Path) -> Memory:
    return Memory(vault=vault)


class FakeEmbedder:
    """A deterministic stand-in for the model: hashed bag of stemmed words, L2-normalised.

    Texts sharing words are similar, so ranking logic can be tested without loading ONNX;
    `calls` counts the texts embedded as passages.
    """

    name = "fake-hash"
    sha256 = "0" * 64
    dim = 1024

    def __init__(self) -> None:
        self.calls: list[str] = []

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for token in tokenize(text):
            vector[zlib.crc32(token.encode()) % self.dim] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.calls.extend(texts)
        return np.array([self._vector(t) for t in texts], dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()
