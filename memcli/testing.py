"""Test doubles for code that uses mem: a deterministic embedder that loads no model.

>>> from memcli import Memory
>>> from memcli.testing import HashEmbedder
>>> m = Memory(vault=tmp_path, embedder=HashEmbedder())   # hybrid search, no ONNX, no download
"""

from __future__ import annotations

import zlib

import numpy as np

from memcli.text.normalize import tokenize


class HashEmbedder:
    """A stand-in for the model with the Embedder protocol: a hashed bag of stemmed words,
    L2-normalised. Texts sharing words are similar, so ranking logic can be tested without
    ONNX; `calls` records the texts embedded as passages."""

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
